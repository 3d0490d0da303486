"""Bars to coarser bars and trades to bars, on the UTC timeframe grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.resample import resample_bars, trades_to_bars
from engine.errors import ConfigError

M = 60_000_000_000


def test_hourly_from_minutes_with_a_missing_minute() -> None:
    bars = pd.DataFrame({
        "ts": np.array([0, 1, 2, 60, 61], dtype=np.int64) * M,   # minute 3..59 absent
        "open": [10.0, 11.0, 12.0, 20.0, 21.0],
        "high": [11.5, 12.5, 13.0, 21.5, 22.0],
        "low": [9.5, 10.5, 11.0, 19.0, 20.5],
        "close": [11.0, 12.0, 12.5, 21.0, 21.5],
        "volume": [1.0, 2.0, 3.0, 4.0, 5.0],
    })
    out = resample_bars(bars, M, 60 * M)
    assert out["ts"].tolist() == [0, 60 * M]
    assert out[["open", "high", "low", "close", "volume"]].values.tolist() == [
        [10.0, 13.0, 9.5, 12.5, 6.0],     # first open, max high, min low, last close, sum
        [20.0, 22.0, 19.0, 21.5, 9.0],
    ]
    assert out.dtypes["ts"] == np.int64


def test_resampling_to_a_finer_or_uneven_timeframe_is_refused() -> None:
    bars = pd.DataFrame({"ts": [0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0],
                         "volume": [1.0]})
    with pytest.raises(ConfigError, match="whole multiple"):
        resample_bars(bars, 60 * M, M)
    with pytest.raises(ConfigError, match="whole multiple"):
        resample_bars(bars, 2 * M, 3 * M)


def test_trades_to_bars() -> None:
    trades = pd.DataFrame({
        "ts": np.array([5, 30_000, 59_999, 60_000, 130_000], dtype=np.int64) * 1_000_000,
        "price": [100.0, 101.0, 99.0, 102.0, 98.0],
        "size": [1.0, 0.5, 0.25, 2.0, 1.0],
        "side": np.array([1, -1, 1, 1, -1], dtype=np.int8),
        "trade_id": np.arange(5, dtype=np.int64),
    })
    out = trades_to_bars(trades, M)
    assert out["ts"].tolist() == [0, M, 2 * M]
    assert out[["open", "high", "low", "close", "volume"]].values.tolist() == [
        [100.0, 101.0, 99.0, 99.0, 1.75],
        [102.0, 102.0, 102.0, 102.0, 2.0],
        [98.0, 98.0, 98.0, 98.0, 1.0],
    ]
