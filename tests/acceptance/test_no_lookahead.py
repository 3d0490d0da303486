"""No look-ahead: what a backtest did before time T must not depend on data after T.

Each test runs a strategy on a market, then on the same market with every bar after T
replaced by a different path, and checks fills, trades and equity up to T are identical.
A strategy or venue that peeked at a later bar (fill at the deciding bar's close, an
indicator that includes the current bar's future, a stop triggered by a later high) would
make the two runs differ before T.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import engine

MINUTE = 60_000_000_000


def random_bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.002, n))
    return pd.DataFrame({
        "ts": np.arange(n, dtype=np.int64) * MINUTE + 1_600_000_000 * 1_000_000_000,
        "open": open_,
        "high": np.maximum(open_, close) * (1 + wick),
        "low": np.minimum(open_, close) * (1 - wick),
        "close": close,
        # deep enough that the volume cap never binds: fills depend only on prices here
        "volume": rng.uniform(1e6, 2e6, n),
    })


def with_new_future(bars: pd.DataFrame, cut: int, seed: int) -> pd.DataFrame:
    future = random_bars(len(bars) - cut, seed)
    scale = bars["close"].iloc[cut - 1] / future["open"].iloc[0]
    out = bars.copy()
    for col in ("open", "high", "low", "close"):
        out.loc[cut:, col] = future[col].to_numpy() * scale
    out.loc[cut:, "volume"] = future["volume"].to_numpy()
    return out


@pytest.mark.parametrize("strategy,params", [
    ("sma_cross", {"fast": 3, "slow": 8, "allow_short": True}),
    ("momentum", {"lookback": 5, "threshold": 0.001, "allow_short": True}),
])
@pytest.mark.parametrize("latency_ms", [0.0, 90_000.0])
def test_future_data_does_not_change_the_past(strategy: str, params: dict,
                                              latency_ms: float) -> None:
    bars = random_bars(1200, seed=1)
    settings = dict(capital=10_000.0, fee_bps=5.0, slippage_bps=2.0, latency_ms=latency_ms)
    base = engine.backtest(strategy, params, data=bars, **settings)
    assert len(base.fills) > 50, "the scenario should trade often"
    differed_after = 0
    for k, cut in enumerate(range(300, 1100, 20)):
        altered = with_new_future(bars, cut, seed=100 + k)
        other = engine.backtest(strategy, params, data=altered, **settings)
        # Bar `cut` opens at ts[cut] at the previous close, the same in both markets. Orders
        # decided up to the close of bar cut-1 fill at that open at the earliest, so every
        # fill up to and including ts[cut], and the equity before it, must agree. A one-bar
        # peek at the future would change the fill at ts[cut] for some cut.
        t_cut = int(bars["ts"].iloc[cut])
        pd.testing.assert_frame_equal(
            base.fills[base.fills["ts"] <= t_cut].reset_index(drop=True),
            other.fills[other.fills["ts"] <= t_cut].reset_index(drop=True))
        pd.testing.assert_frame_equal(
            base.equity[base.equity["ts"] < t_cut].reset_index(drop=True),
            other.equity[other.equity["ts"] < t_cut].reset_index(drop=True))
        differed_after += base.equity["equity"].iloc[-1] != other.equity["equity"].iloc[-1]
    assert differed_after > 30, "the altered futures should change the outcome afterwards"


def test_fills_never_precede_the_next_bar() -> None:
    bars = random_bars(2000, seed=3)
    result = engine.backtest("sma_cross", {"fast": 3, "slow": 8}, data=bars, capital=10_000.0)
    ts = bars["ts"].to_numpy()
    # every fill happens at some bar's open (market orders) strictly after the deciding bar's
    # close; market fills land exactly on a bar open time
    assert len(result.fills) > 20
    assert set(result.fills["ts"]).issubset(set(ts.tolist()))
    assert (result.fills["ts"] > ts[0]).all()
