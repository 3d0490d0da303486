"""Aggregate bars to a coarser timeframe, or trades to bars, on the UTC timeframe grid."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.schema import BAR_COLUMNS
from engine.errors import ConfigError


def resample_bars(bars: pd.DataFrame, from_ns: int, to_ns: int) -> pd.DataFrame:
    """Bars of ``from_ns`` aggregated into bars of ``to_ns`` (a whole multiple of it).

    A coarse bar holds the fine bars whose open time falls in its interval: open of the first,
    high/low extremes, close of the last, summed volume. Intervals without any bar are absent.
    """
    if to_ns == from_ns:
        return bars
    if to_ns < from_ns or to_ns % from_ns:
        raise ConfigError(f"cannot resample {from_ns // 1_000_000_000}s bars to "
                          f"{to_ns // 1_000_000_000}s: the target must be a whole multiple of "
                          f"the data's timeframe")
    ts = bars["ts"].to_numpy(dtype=np.int64)
    bucket = ts - ts % to_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    out = pd.DataFrame({
        "ts": bucket[starts],
        "open": bars["open"].to_numpy()[starts],
        "high": np.maximum.reduceat(bars["high"].to_numpy(), starts),
        "low": np.minimum.reduceat(bars["low"].to_numpy(), starts),
        "close": bars["close"].to_numpy()[ends],
        "volume": np.add.reduceat(bars["volume"].to_numpy(), starts),
    })
    return out.astype(BAR_COLUMNS)


def trades_to_bars(trades: pd.DataFrame, interval_ns: int) -> pd.DataFrame:
    """OHLCV bars of ``interval_ns`` built from trades; intervals without trades are absent."""
    ts = trades["ts"].to_numpy(dtype=np.int64)
    price = trades["price"].to_numpy(dtype=np.float64)
    size = trades["size"].to_numpy(dtype=np.float64)
    bucket = ts - ts % interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    out = pd.DataFrame({
        "ts": bucket[starts],
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[ends],
        "volume": np.add.reduceat(size, starts),
    })
    return out.astype(BAR_COLUMNS)
