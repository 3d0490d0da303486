"""Grid, DCA, order-flow imbalance, liquidity events, volume-price correlation and signal
aggregation skip an event with a NaN or infinite input in both paths alike: with bad prints
sprinkled through the data, and chunks of 7 rows, the batch path still places exactly the
hooks' orders."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.strategy import Strategy
from engine.synthetic import SyntheticMarket, synthetic_bars, synthetic_trades
from strategies.dca import Dca
from strategies.grid import Grid
from strategies.liquidity_events import LiquidityEvents
from strategies.order_flow_imbalance import OrderFlowImbalance
from strategies.signal_aggregation import SignalAggregation
from strategies.volume_price_correlation import VolumePriceCorrelation
from tests.strategy_harness import assert_same_orders, run_paths
from tests.unit.scripted import SYMBOL


def with_bad_prints(frame: pd.DataFrame, column: str, seed: int) -> pd.DataFrame:
    """``frame`` with 40 rows of ``column`` set to NaN, +inf or -inf."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    rows = rng.choice(np.arange(5, len(frame) - 5), 40, replace=False)
    out.loc[rows, column] = np.array([np.nan, np.inf, -np.inf])[rng.integers(0, 3, 40)]
    return out


def bars() -> pd.DataFrame:
    return synthetic_bars(n_bars=2000, seed=3)


def trades() -> pd.DataFrame:
    return synthetic_trades(n_trades=2000, seed=4, trades_per_minute=120)


def quotes() -> pd.DataFrame:
    return SyntheticMarket(SYMBOL, seed=5, start="2024-01-01", end="2024-01-01T01:30").quotes()


CASES: list[tuple[type[Strategy], dict[str, Any], Any, str, str]] = [
    (Grid, {"levels": 20, "spacing_pct": 0.03, "level_size": 0.002, "anchor": 25000.0},
     bars, "bar", "close"),
    (Dca, {"interval": "1h", "amount": 10.0, "dip_amount": 5.0, "dip_pct": 0.2,
           "lookback": 30, "take_profit_pct": 0.3}, bars, "bar", "close"),
    (OrderFlowImbalance, {"window_s": 10.0, "half_life_s": 3.0, "min_trades": 3,
                          "allow_short": True}, trades, "trade", "size"),
    (LiquidityEvents, {"span": 5, "trend_span": 10, "allow_short": True}, quotes, "quote",
     "bid_size"),
    (VolumePriceCorrelation, {"period": 10, "entry_corr": 0.2, "exit_corr": -0.2}, trades,
     "trade", "size"),
    (SignalAggregation, {"sma_fast": 5, "sma_slow": 15, "roc_period": 5,
                         "roc_threshold": 0.001, "half_life": 5.0, "min_agree": 1,
                         "min_confidence": 0.2, "allow_short": True}, bars, "bar", "close"),
]


@pytest.mark.parametrize("cls,params,market,kind,column", CASES,
                         ids=[case[0].name for case in CASES])
def test_bad_prints_are_skipped_alike_in_both_paths(cls: type[Strategy], params: dict,
                                                    market: Any, kind: str,
                                                    column: str) -> None:
    frame = with_bad_prints(market(), column, seed=len(cls.name))
    hooks, batch = run_paths(cls, params, {SYMBOL: frame}, kind, chunk_rows=7,
                             capital=1_000.0)
    assert_same_orders(hooks, batch, min_fills=10)
