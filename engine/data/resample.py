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
    return _aggregate(bars["ts"], bars["open"], bars["high"], bars["low"], bars["close"],
                      bars["volume"], to_ns)


def trades_to_bars(trades: pd.DataFrame, interval_ns: int) -> pd.DataFrame:
    """OHLCV bars of ``interval_ns`` built from trades; intervals without trades are absent."""
    price = trades["price"]
    return _aggregate(trades["ts"], price, price, price, price, trades["size"], interval_ns)


def _aggregate(ts: pd.Series, open_: pd.Series, high: pd.Series, low: pd.Series,
               close: pd.Series, volume: pd.Series, interval_ns: int) -> pd.DataFrame:
    """One bar per ``interval_ns`` bucket of rows sorted by ``ts``."""
    t = ts.to_numpy(dtype=np.int64)
    bucket = t - t % interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    out = pd.DataFrame({
        "ts": bucket[starts],
        "open": open_.to_numpy(dtype=np.float64)[starts],
        "high": np.maximum.reduceat(high.to_numpy(dtype=np.float64), starts),
        "low": np.minimum.reduceat(low.to_numpy(dtype=np.float64), starts),
        "close": close.to_numpy(dtype=np.float64)[ends],
        "volume": np.add.reduceat(volume.to_numpy(dtype=np.float64), starts),
    })
    return out.astype(BAR_COLUMNS)
