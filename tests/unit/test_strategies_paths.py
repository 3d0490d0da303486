"""Every built-in strategy's batch path places exactly its hooks' orders: on bars, trades and
quotes (each kind it trades), at several chunk sizes, and with bad prints (NaN, +inf, -inf)
sprinkled through the data, which both paths must skip alike.

One table, one row per (strategy, market): a new built-in is not accepted until it has a row
for each kind it supports (the last test). The strategies' own test modules keep their
hand-written market tables, which pin when each one enters and exits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.strategy import BUILTIN_STRATEGIES, load_strategy
from engine.synthetic import SyntheticMarket, synthetic_bars, synthetic_trades
from tests.kit.harness import assert_same_orders, run_paths
from tests.kit.scripted import SYMBOL
from tests.kit.markets import (SMALL_CAPITAL, two_symbol_bars, two_symbol_quotes,
                                         two_symbol_trades)

Market = Callable[[], Mapping[str, pd.DataFrame]]


def bars(n: int, seed: int) -> Market:
    return lambda: {SYMBOL: synthetic_bars(n_bars=n, seed=seed)}


def trades(n: int, seed: int, per_minute: int = 120) -> Market:
    return lambda: {SYMBOL: synthetic_trades(n_trades=n, seed=seed, trades_per_minute=per_minute)}


def quotes(seed: int, end: str) -> Market:
    return lambda: {SYMBOL: SyntheticMarket(SYMBOL, seed=seed, start="2024-01-01",
                                            end=end).quotes()}


@dataclass(frozen=True)
class Case:
    strategy: str
    kind: str
    params: dict[str, Any]
    market: Market
    min_fills: int
    capital: float = SMALL_CAPITAL
    chunks: tuple[int, ...] = (97,)

    @property
    def id(self) -> str:
        return f"{self.strategy}-{self.kind}"


MACD_BB = {"fast": 3, "slow": 7, "signal": 3, "period": 10, "nbdev": 1.0, "entry_percent_b": 0.6}
GRID = {"levels": 20, "spacing_pct": 0.2, "level_size": 0.01, "max_inventory": 0.15,
        "anchor": 26000.0}
DCA = {"amount": 20.0, "dip_amount": 10.0, "lookback": 30}
AGGREGATION = {"sma_fast": 5, "sma_slow": 15, "roc_period": 5, "roc_threshold": 0.001,
               "rsi_period": 7, "macd_fast": 5, "macd_slow": 13, "macd_signal": 4,
               "bb_period": 10, "bb_nbdev": 1.5, "half_life": 5.0, "min_agree": 1,
               "min_confidence": 0.2, "allow_short": True}
BREAKOUT = {"period": 5, "max_width": 0.01, "volume_period": 5, "volume_factor": 0.8,
            "exit_period": 3, "allow_short": True}
RSI_DIVERGENCE = {"rsi_period": 5, "lookback": 10, "min_gap": 2, "allow_short": True}

BARS, TRADES, QUOTES = (lambda: two_symbol_bars()), two_symbol_trades, two_symbol_quotes
BOTH_CHUNKS = (997, 64)

CASES = [
    Case("sma_cross", "bar", {"fast": 3, "slow": 8, "allow_short": True}, BARS, 100,
         chunks=BOTH_CHUNKS),
    Case("sma_cross", "trade", {"fast": 5, "slow": 20}, TRADES, 50),
    Case("sma_cross", "quote", {"fast": 5, "slow": 20, "allow_short": True}, QUOTES, 50),
    Case("momentum", "bar", {"lookback": 5, "threshold": 0.001, "allow_short": True}, BARS,
         100, chunks=BOTH_CHUNKS),
    Case("momentum", "trade", {"lookback": 10, "threshold": 0.0005}, TRADES, 50),
    Case("momentum", "quote", {"lookback": 10, "threshold": 0.0005}, QUOTES, 50),
    Case("ema_trend", "bar", {"fast": 3, "slow": 8, "allow_short": True}, BARS, 100,
         chunks=BOTH_CHUNKS),
    Case("ema_trend", "trade", {"fast": 5, "slow": 20, "band": 0.0001}, TRADES, 50),
    Case("ema_trend", "quote", {"fast": 5, "slow": 20, "band": 0.0001}, QUOTES, 50),
    Case("bollinger_bands", "bar", {"period": 12, "nbdev": 1.2, "allow_short": True}, BARS,
         100, chunks=BOTH_CHUNKS),
    Case("bollinger_bands", "trade", {"period": 30, "nbdev": 1.5, "allow_short": True},
         TRADES, 50),
    Case("bollinger_bands", "quote", {"period": 30, "nbdev": 1.5, "allow_short": True},
         QUOTES, 50),
    Case("bollinger_reversion", "bar", {"period": 12, "nbdev": 1.2, "allow_short": True},
         BARS, 100, chunks=BOTH_CHUNKS),
    Case("bollinger_reversion", "trade", {"period": 30, "nbdev": 1.5}, TRADES, 50),
    Case("bollinger_reversion", "quote", {"period": 30, "nbdev": 1.5}, QUOTES, 50),
    Case("rsi_bounds", "bar", {"period": 5, "lower": 35.0, "upper": 65.0, "allow_short": True},
         BARS, 100, chunks=BOTH_CHUNKS),
    Case("rsi_bounds", "trade", {"period": 6, "lower": 35.0, "upper": 65.0}, TRADES, 50),
    Case("rsi_bounds", "quote", {"period": 6, "lower": 35.0, "upper": 65.0}, QUOTES, 50),
    Case("rsi_divergence", "bar", {**RSI_DIVERGENCE, "max_hold": 30}, BARS, 100,
         chunks=BOTH_CHUNKS),
    Case("rsi_divergence", "trade", {**RSI_DIVERGENCE, "exit_rsi": 55.0}, TRADES, 50),
    Case("rsi_divergence", "quote", {**RSI_DIVERGENCE, "exit_rsi": 55.0}, QUOTES, 50),
    Case("macd", "bar", {"fast": 3, "slow": 7, "signal": 3, "allow_short": True}, BARS, 100,
         chunks=BOTH_CHUNKS),
    Case("macd", "trade", {"fast": 4, "slow": 9, "signal": 3, "zero_filter": True,
                           "allow_short": True}, TRADES, 50),
    Case("macd", "quote", {"fast": 4, "slow": 9, "signal": 3, "zero_filter": True,
                           "allow_short": True}, QUOTES, 50),
    Case("macd_bollinger", "bar", MACD_BB, BARS, 100, chunks=BOTH_CHUNKS),
    Case("macd_bollinger", "trade", MACD_BB, TRADES, 50),
    Case("macd_bollinger", "quote", MACD_BB, QUOTES, 50),
    Case("breakout", "bar", BREAKOUT, BARS, 100, chunks=BOTH_CHUNKS),
    Case("breakout", "trade", {**BREAKOUT, "period": 8, "volume_period": 4,
                               "volume_factor": 1.0, "exit_period": 4}, TRADES, 50),
    Case("vwap_reversion", "bar", {"entry_deviation": 0.001, "session_minutes": 120,
                                   "offset_minutes": 7, "allow_short": True}, BARS, 100,
         chunks=BOTH_CHUNKS),
    Case("vwap_reversion", "trade", {"entry_deviation": 0.0005, "session_minutes": 30,
                                     "allow_short": True}, TRADES, 50),
    # the fixed anchor sits where the seed-3 bars trade (about 25,500 over these four days)
    Case("grid", "bar", {**GRID, "anchor": 25500.0}, bars(6000, 3), 100, capital=10_000.0,
         chunks=BOTH_CHUNKS),
    Case("grid", "trade", {**GRID, "anchor": 0.0, "spacing_pct": 0.02},
         trades(4000, 3, per_minute=60), 20, capital=10_000.0, chunks=(64,)),
    Case("grid", "quote", {**GRID, "anchor": 0.0, "spacing_pct": 0.02},
         quotes(3, "2024-01-01T06:00"), 20, capital=10_000.0, chunks=(64,)),
    Case("dca", "bar", {**DCA, "interval": "1h", "dip_pct": 0.2, "take_profit_pct": 0.3},
         bars(6000, 3), 150, capital=100_000.0, chunks=BOTH_CHUNKS),
    Case("dca", "bar", {**DCA, "interval": "1h", "dip_pct": 0.2, "take_profit_pct": 0.0},
         bars(6000, 3), 150, capital=100_000.0, chunks=BOTH_CHUNKS),
    Case("dca", "trade", {**DCA, "interval": "5m", "dip_pct": 0.1, "lookback": 50,
                          "take_profit_pct": 0.1}, trades(6000, 4, per_minute=60), 40,
         capital=100_000.0, chunks=(64,)),
    Case("dca", "quote", {**DCA, "interval": "5m", "dip_pct": 0.1, "take_profit_pct": 0.1},
         quotes(5, "2024-01-01T03:00"), 20, capital=100_000.0, chunks=(64,)),
    Case("order_flow_imbalance", "trade", {"window_s": 10.0, "half_life_s": 3.0,
                                           "min_trades": 3, "allow_short": True},
         trades(6000, 4), 300, capital=1_000.0, chunks=(997, 64, 7)),
    Case("liquidity_events", "quote", {"span": 5, "trend_span": 10, "allow_short": True},
         quotes(5, "2024-01-01T04:00"), 500, capital=1_000.0, chunks=(997, 64, 7)),
    Case("volume_price_correlation", "bar", {"period": 10, "entry_corr": 0.2,
                                             "exit_corr": -0.2},
         bars(6000, 3), 150, capital=1_000.0, chunks=BOTH_CHUNKS),
    Case("volume_price_correlation", "trade", {"period": 10, "entry_corr": 0.2,
                                               "exit_corr": -0.2},
         trades(6000, 4), 150, capital=1_000.0, chunks=(64,)),
    Case("signal_aggregation", "bar", AGGREGATION, bars(3000, 3), 250, capital=1_000.0,
         chunks=BOTH_CHUNKS),
    Case("signal_aggregation", "bar", {}, bars(6000, 5), 20, capital=1_000.0, chunks=(64,)),
    Case("signal_aggregation", "trade", AGGREGATION, trades(2000, 4), 100, capital=1_000.0,
         chunks=(64,)),
    Case("signal_aggregation", "quote", AGGREGATION, quotes(5, "2024-01-01T01:30"), 100,
         capital=1_000.0, chunks=(64,)),
]

RUNS = [pytest.param(case, chunk, id=f"{case.id}-{i}-chunk{chunk}")
        for i, case in enumerate(CASES) for chunk in case.chunks]


@pytest.mark.parametrize("case,chunk_rows", RUNS)
def test_the_batch_path_places_the_hooks_orders(case: Case, chunk_rows: int) -> None:
    hooks, batch = run_paths(load_strategy(case.strategy), case.params, case.market(),
                             case.kind, chunk_rows=chunk_rows, capital=case.capital)
    assert_same_orders(hooks, batch, min_fills=case.min_fills)


# --- bad prints -------------------------------------------------------------------------------

# the columns each kind's strategies read; every one gets NaN, +inf and -inf somewhere
BAD_COLUMNS = {"bar": ("close", "high", "low", "volume"), "trade": ("price", "size"),
               "quote": ("bid", "ask", "bid_size", "ask_size")}


def with_bad_prints(frames: Mapping[str, pd.DataFrame], kind: str,
                    seed: int) -> dict[str, pd.DataFrame]:
    """``frames`` with 40 cells of each read column set to NaN, +inf or -inf."""
    rng = np.random.default_rng(seed)
    out = {}
    for symbol, frame in frames.items():
        frame = frame.copy()
        for column in BAD_COLUMNS[kind]:
            rows = rng.choice(np.arange(5, len(frame) - 5), 40, replace=False)
            frame.loc[rows, column] = np.array([np.nan, np.inf, -np.inf])[
                rng.integers(0, 3, 40)]
        out[symbol] = frame
    return out


BAD = [pytest.param(case, id=case.id) for case in
       {(c.strategy, c.kind): c for c in reversed(CASES)}.values()]


@pytest.mark.parametrize("case", BAD)
def test_bad_prints_are_skipped_alike_in_both_paths(case: Case) -> None:
    frames = with_bad_prints(case.market(), case.kind, seed=len(case.strategy))
    hooks, batch = run_paths(load_strategy(case.strategy), case.params, frames, case.kind,
                             chunk_rows=7, capital=case.capital)
    assert_same_orders(hooks, batch, min_fills=max(5, case.min_fills // 10))


# --- coverage of the table --------------------------------------------------------------------

QUOTE_FREE = {"breakout", "vwap_reversion", "volume_price_correlation"}   # need traded volume
ONE_KIND = {"order_flow_imbalance": "trade", "liquidity_events": "quote"}


def test_every_builtin_has_a_row_for_each_kind_it_trades() -> None:
    covered = {(c.strategy, c.kind) for c in CASES}
    for name in BUILTIN_STRATEGIES:
        if name in ONE_KIND:
            kinds = {ONE_KIND[name]}
        else:
            kinds = {"bar", "trade"} | (set() if name in QUOTE_FREE else {"quote"})
        missing = {(name, k) for k in kinds} - covered
        assert not missing, f"no batch-vs-hooks row for {sorted(missing)}"
