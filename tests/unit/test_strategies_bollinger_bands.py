"""bollinger_bands: entries on closes above the upper band (below the lower with allow_short),
exits through the middle band; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.bollinger_bands import BollingerBandsStrategy
from tests.kit.scripted import bar_table
from tests.kit.markets import cash_after, logged_run, order_rows

PARAMS = {"period": 5, "nbdev": 1.5, "allow_short": True}
CLOSES = [
    100, 100, 100, 100,  # 0-3 warm-up: the window is not full
    100,                 # 4 bands ready, flat window: upper = middle = lower = 100
    105,                 # 5 window 100,100,100,100,105: mean 101, sd 2, upper 104; 105 > 104: BUY
    104,                 # 6 mean 101.8: above the middle, hold
    101,                 # 7 window 100,100,105,104,101: mean 102; 101 < middle: SELL (exit)
    94,                  # 8 mean 100.8, sd 3.87, lower 95.0; 94 below: SELL short
    100,                 # 9 window 105,104,101,94,100: mean 100.8; 100 <= middle: hold
    102,                 # 10 window 104,101,94,100,102: mean 100.2; 102 > middle: BUY (cover)
    102,                 # 11 flat, upper 104.3: nothing
]


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


def test_hand_written_bars_enter_and_exit_where_the_docstring_says() -> None:
    frame = _bars()
    engine, log = logged_run(BollingerBandsStrategy, PARAMS, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (7, "SELL"), (8, "SELL"), (10, "BUY")]
    # entry: 0.95 of 100,000 of equity at the decision price 105; the exit sells all of it
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 105)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    # the short is 0.95 of the equity at row 8 (all cash after the round trip) at 94
    assert log.orders[2].quantity == pytest.approx(0.95 * cash_after(engine, 2) / 94)
    assert log.orders[3].quantity == pytest.approx(log.orders[2].quantity)
    assert engine.contexts[0].position == pytest.approx(0.0, abs=1e-9)
    _, batch_log = logged_run(BollingerBandsStrategy, PARAMS, frame, batch=True)
    assert batch_log.orders == log.orders


def test_long_only_ignores_the_lower_band() -> None:
    frame = _bars()
    _, log = logged_run(BollingerBandsStrategy, {**PARAMS, "allow_short": False}, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (7, "SELL")]


@pytest.mark.parametrize("values,name,allowed", [
    ({"period": 1}, "period", "[2, 2000]"),
    ({"nbdev": 11}, "nbdev", "[0.1, 10.0]"),
    ({"allocation": 0.0}, "allocation", "[0.01, 1.0]"),
    ({"allow_short": "maybe"}, "allow_short", "any"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        BollingerBandsStrategy.Params.create(values)
    text = str(info.value)
    assert "'bollinger_bands'" in text and repr(name) in text and allowed in text


def test_nbdev_must_leave_room_outside_the_band() -> None:
    with pytest.raises(ConfigError, match=r"'bollinger_bands'.*nbdev \(3\.0\).*sqrt"):
        BollingerBandsStrategy.Params(period=9, nbdev=3.0)
