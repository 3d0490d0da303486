"""ema_trend: orders on changes of the EMA trend (with its dead band), none on the first trend
after the warm-up; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.ema_trend import EmaTrend
from tests.kit.scripted import bar_table
from tests.kit.markets import cash_after, logged_run, order_rows

# fast EMA(2): k = 2/3; slow EMA(3): k = 1/2
CLOSES = [
    100, 100,  # 0-1 warm-up (the fast EMA is seeded at 1 with 100)
    100,       # 2 slow seeded at 100: fast == slow, no trend yet
    97,        # 3 fast 98 < slow 98.5: trend down, the first trend: no order
    100,       # 4 fast 99.33 > slow 99.25: trend up: BUY
    100,       # 5 fast 99.78 > slow 99.63: still up
    96,        # 6 fast 97.26 < slow 97.81: trend down: SELL (flat; short with allow_short)
    95,        # 7 fast 95.75 < slow 96.41: still down
    99,        # 8 fast 97.92 > slow 97.70: trend up: BUY
    99,        # 9 still up (the BUY of row 8 fills here)
]


def _bars(closes):
    return bar_table([(c, c, c, c, 1e6) for c in closes])


def test_hand_written_bars_trade_on_trend_changes() -> None:
    frame = _bars(CLOSES)
    engine, log = logged_run(EmaTrend, {"fast": 2, "slow": 3}, frame)
    assert order_rows(log, frame) == [(4, "BUY"), (6, "SELL"), (8, "BUY")]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 100)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)   # to flat
    assert log.orders[2].quantity == pytest.approx(0.95 * cash_after(engine, 2) / 99)
    _, batch_log = logged_run(EmaTrend, {"fast": 2, "slow": 3}, frame, batch=True)
    assert batch_log.orders == log.orders


def test_allow_short_reverses_on_the_down_turn() -> None:
    frame = _bars(CLOSES)
    engine, log = logged_run(EmaTrend, {"fast": 2, "slow": 3, "allow_short": True}, frame)
    assert order_rows(log, frame) == [(4, "BUY"), (6, "SELL"), (8, "BUY")]
    # row 6 sells the long and as much again short (equity at row 6 marked at 96)
    long_qty = engine.fills[0].last_qty
    equity = cash_after(engine, 1) + long_qty * 96
    assert log.orders[1].quantity == pytest.approx(long_qty + 0.95 * equity / 96)
    assert engine.contexts[0].position > 0   # long again after row 8


def test_dead_band_needs_a_clear_cross() -> None:
    closes = [100, 100, 100,
              90,    # 3 fast 93.33 < slow 95: down (first trend)
              101,   # 4 fast 98.44 > slow 98, but not by 1%: no change with band 0.01
              110]   # 5 fast 106.15 > slow 104 * 1.01: up: BUY
    frame = _bars(closes)
    _, log = logged_run(EmaTrend, {"fast": 2, "slow": 3, "band": 0.01}, frame)
    assert order_rows(log, frame) == [(5, "BUY")]
    _, log = logged_run(EmaTrend, {"fast": 2, "slow": 3}, frame)
    assert order_rows(log, frame) == [(4, "BUY")]


@pytest.mark.parametrize("values,name,allowed", [
    ({"fast": 1}, "fast", "[2, 500]"),
    ({"slow": 2001}, "slow", "[3, 2000]"),
    ({"band": 0.5}, "band", "[0.0, 0.1]"),
    ({"allocation": "lots"}, "allocation", "[0.01, 1.0]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        EmaTrend.Params.create(values)
    text = str(info.value)
    assert "'ema_trend'" in text and repr(name) in text and allowed in text


def test_fast_must_be_shorter_than_slow() -> None:
    with pytest.raises(ConfigError, match=r"'ema_trend' parameter 'fast' \(26\) must be "
                                          r"shorter than 'slow' \(26\)"):
        EmaTrend.Params(fast=26, slow=26)
