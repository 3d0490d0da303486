"""The liquidity-events strategy: entries on a top-of-book depth drain in the mid's direction
and exits on recovery, pinned on a hand-written quote table; quotes-only data; the batch path
placing the hooks' orders (synthetic and real quotes); bad parameters refused with their
range."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.data.importers import load_file
from engine.errors import ConfigError
from engine.messages import BUY, SELL
from engine.synthetic import synthetic_trades
from strategies.liquidity_events import LiquidityEvents
from tests.kit.harness import assert_same_orders, run_paths
from tests.kit.orders import faults, placed_orders
from tests.kit.scripted import quote_table

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
PARAMS = {"span": 2, "trend_span": 2, "drain_rate": 0.1, "recovery_rate": 0.0}

# EMA(2) everywhere (k = 2/3). Depth d = bid_size + ask_size; change c = (d - d')/(d + d').
BOOK = [(99.5, 100.5, 5.0, 5.0),     # 0  depth 10, mid 100
        (99.5, 100.5, 5.0, 5.0),     # 1  c = 0
        (99.5, 100.5, 5.0, 5.0),     # 2  rate ready: 0
        (99.5, 100.5, 5.0, 5.0),     # 3
        (99.5, 100.5, 5.0, 5.0),     # 4  acceleration ready: 0
        (100.5, 101.5, 4.0, 4.0),    # 5  depth 8: rate -0.074 (not below -0.1 yet)
        (101.5, 102.5, 3.0, 3.0),    # 6  depth 6: rate -0.120 < -0.1, acceleration -0.047 < 0,
                                     #    mid 102 above its EMA 101.6 -> buy
        (101.5, 102.5, 3.0, 3.0),    # 7  rate -0.040: still draining, hold
        (101.5, 102.5, 4.5, 4.5),    # 8  depth 9: rate +0.120 >= 0, recovered -> sell
        (101.5, 102.5, 4.5, 4.5),    # 9
        (100.5, 101.5, 3.5, 3.5),    # 10 rate -0.070
        (99.5, 100.5, 2.5, 2.5),     # 11 rate -0.134, acceleration -0.069, mid 100 below its
                                     #    EMA 100.4: a drain downward -> short (if allowed)
        (99.5, 100.5, 2.5, 2.5),     # 12 rate -0.045: hold
        (99.5, 100.5, 5.0, 5.0),     # 13 depth 10: rate +0.207 -> recovered, buy back
        (99.5, 100.5, 5.0, 5.0)]     # 14


def book() -> pd.DataFrame:
    return quote_table([(i, *row) for i, row in enumerate(BOOK)])


def test_drain_with_rising_mid_buys_and_recovery_sells() -> None:
    # without allow_short, the downward drain at row 11 leaves the strategy flat
    orders = placed_orders(LiquidityEvents, PARAMS, book(), "quote", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(6, BUY), (8, SELL)]
    assert orders[1][2] == orders[0][2]


def test_drain_with_falling_mid_shorts_when_allowed() -> None:
    orders = placed_orders(LiquidityEvents, {**PARAMS, "allow_short": True}, book(), "quote",
                           capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(6, BUY), (8, SELL), (11, SELL),
                                                        (13, BUY)]
    assert orders[3][2] == orders[2][2]


def test_bars_and_trades_are_refused_with_a_clear_error() -> None:
    trades = synthetic_trades(n_trades=5, seed=1)
    hook_faults, batch_faults = faults(LiquidityEvents, PARAMS, trades, "trade")
    for fault in (*hook_faults, *batch_faults):
        assert "'liquidity_events' needs a quote feed" in fault.error
        assert "got trades" in fault.error
    assert [f.hook for f in hook_faults] == ["on_trade"]
    assert [f.hook for f in batch_faults] == ["on_batch"]


@pytest.mark.real_data
def test_batch_path_places_the_hooks_orders_on_real_quotes() -> None:
    path = REAL / "trades" / "nautilus_btcusdt-quotes.csv"
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    quotes = load_file(path).frame            # 451 Binance BTCUSDT best bid/ask updates
    hooks, batch = run_paths(LiquidityEvents, {"allow_short": True}, {"BTCUSDT": quotes},
                             "quote", chunk_rows=64, capital=1_000.0)
    assert_same_orders(hooks, batch, min_fills=20)


@pytest.mark.parametrize("values,name,allowed", [
    ({"span": 1}, "span", "[2, 100000]"),
    ({"drain_rate": 1.5}, "drain_rate", "[0.0, 1.0]"),
    ({"recovery_rate": -2.0}, "recovery_rate", "[-1.0, 1.0]"),
], ids=repr)
def test_out_of_range_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                                   allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        LiquidityEvents.Params.create(values)
    text = str(info.value)
    assert "'liquidity_events'" in text and repr(name) in text and allowed in text


def test_recovery_level_inside_the_drain_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'liquidity_events' parameter 'recovery_rate'"):
        LiquidityEvents.Params(drain_rate=0.1, recovery_rate=-0.2)
