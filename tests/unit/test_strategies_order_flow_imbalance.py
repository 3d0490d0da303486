"""The order-flow imbalance strategy: entries and exits from time-decayed aggressive volume on
a hand-written tape, trades-only data, the batch path placing the hooks' orders (synthetic
and real trades), and bad parameters refused with their range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.importers import load_file
from engine.errors import ConfigError
from engine.messages import BUY, SELL
from engine.synthetic import synthetic_bars
from strategies.order_flow_imbalance import OrderFlowImbalance
from tests.kit.harness import assert_same_orders, run_paths
from tests.kit.orders import faults, placed_orders
from tests.kit.scripted import trade_table

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
PARAMS = {"window_s": 10.0, "half_life_s": 5.0, "threshold": 0.3, "min_trades": 3}


def tape(rows: list[tuple[float, float, float, int]]) -> pd.DataFrame:
    """Trades from (seconds, price, size, aggressor side) rows."""
    frame = trade_table([r[:3] for r in rows])
    frame["side"] = np.array([r[3] for r in rows], dtype=np.int8)
    return frame


# Weights relative to t = 0 are 2 ** (t / 5): 1, 1.149, 1.320, 1.516, 1.741, 2 for t = 0..5.
TAPE = [(0, 100.0, 1.0, 1),     # 0  one trade: fewer than min_trades (3)
        (1, 100.0, 1.0, 1),     # 1
        (2, 100.0, 1.0, -1),    # 2  buy 2.149 vs sell 1.320: imbalance +0.24, inside the band
        (3, 101.0, 1.0, 1),     # 3  buy 3.664 vs 1.320: +0.47 > 0.3 -> enter long
        (4, 100.0, 3.0, -1),    # 4  sell 1.320 + 5.223: -0.28, inside the band -> hold
        (5, 99.0, 1.0, -1),     # 5  sell 8.543: -0.40 < -0.3 -> exit. Undecayed it would be
                                #    3 buys vs 5 sells, -0.25: the recent selling decides
        (16, 99.0, 1.0, 1),     # 6  trades up to t = 6 left the 10 s window: 1 trade, no signal
        (17, 99.0, 50.0, 0),    # 7  unknown aggressor: ignored, not counted
        (18, 100.0, 1.0, 1),    # 8  2 trades
        (19, 100.0, 1.0, 1),    # 9  3 buys: +1 -> enter long
        (20, 100.0, 1.0, 1)]    # 10 the buy fills


def test_decayed_imbalance_enters_and_exits() -> None:
    # capital 10: every order fits in the next trade's volume cap, so each fills at once
    orders = placed_orders(OrderFlowImbalance, PARAMS, tape(TAPE), "trade", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(3, BUY), (5, SELL), (9, BUY)]
    bought = orders[0][2]
    assert bought == pytest.approx(0.95 * 10.0 / 101.0, rel=1e-3)
    assert orders[1][2] == bought        # the exit sells exactly what was bought


def test_allow_short_turns_the_exit_into_a_short() -> None:
    orders = placed_orders(OrderFlowImbalance, {**PARAMS, "allow_short": True}, tape(TAPE),
                           "trade", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(3, BUY), (5, SELL), (9, BUY)]
    # at row 5: sell the long and about as much again short (equity is a little below 10
    # after the losing trade and its fees)
    assert orders[1][2] == pytest.approx(orders[0][2] + 0.95 * 10.0 / 99.0, rel=1e-2)


def test_bars_are_refused_with_a_clear_error() -> None:
    bars = synthetic_bars(n_bars=5, seed=1)
    hook_faults, batch_faults = faults(OrderFlowImbalance, PARAMS, bars, "bar")
    for fault in (*hook_faults, *batch_faults):
        assert "'order_flow_imbalance' needs a trade feed" in fault.error
        assert "bars" in fault.error
    assert [f.hook for f in hook_faults] == ["on_bar"]
    assert [f.hook for f in batch_faults] == ["on_batch"]


@pytest.mark.real_data
def test_batch_path_places_the_hooks_orders_on_real_trades() -> None:
    path = REAL / "trades" / "nautilus_btcusdt-trades.csv"
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    trades = load_file(path).frame            # 2001 Binance BTCUSDT trades over 46 s
    params = {"window_s": 10.0, "half_life_s": 2.0, "threshold": 0.5, "allow_short": True}
    hooks, batch = run_paths(OrderFlowImbalance, params, {"BTCUSDT": trades}, "trade",
                             chunk_rows=64, capital=1_000.0)
    assert_same_orders(hooks, batch, min_fills=10)


@pytest.mark.parametrize("values,name,allowed", [
    ({"window_s": 5.0}, "window_s", "[10.0, 30.0]"),
    ({"half_life_s": 0.0}, "half_life_s", "[0.1, 30.0]"),
    ({"threshold": 1.0}, "threshold", "[0.0, 0.99]"),
    ({"min_trades": 0}, "min_trades", "[1, 1000000]"),
], ids=repr)
def test_out_of_range_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                                   allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        OrderFlowImbalance.Params.create(values)
    text = str(info.value)
    assert "'order_flow_imbalance'" in text and repr(name) in text and allowed in text


def test_half_life_longer_than_the_window_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'order_flow_imbalance' parameter 'half_life_s'"):
        OrderFlowImbalance.Params(window_s=10.0, half_life_s=20.0)
