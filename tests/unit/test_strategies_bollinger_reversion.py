"""bollinger_reversion: entries below the lower band (above the upper with allow_short), exits
at the middle band; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.bollinger_reversion import BollingerReversion
from tests.kit.scripted import bar_table
from tests.kit.markets import cash_after, logged_run, order_rows

PARAMS = {"period": 5, "nbdev": 1.5, "allow_short": True}
CLOSES = [
    100, 100, 100, 100,  # 0-3 warm-up: the window is not full
    100,                 # 4 bands ready, flat window: upper = middle = lower = 100
    95,                  # 5 window 100,100,100,100,95: mean 99, sd 2, lower 96; 95 < 96: BUY
    97,                  # 6 mean 98.4: still below the middle, hold
    99,                  # 7 window 100,100,95,97,99: mean 98.2; 99 >= middle: SELL (exit)
    106,                 # 8 mean 99.4, sd 3.72, upper 104.98; 106 above: SELL short
    100,                 # 9 window 95,97,99,106,100: mean 99.4; 100 > middle: hold
    98,                  # 10 window 97,99,106,100,98: mean 100; 98 <= middle: BUY (cover)
    98,                  # 11 flat, inside the bands: nothing
]


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


def test_hand_written_bars_enter_and_exit_where_the_docstring_says() -> None:
    frame = _bars()
    engine, log = logged_run(BollingerReversion, PARAMS, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (7, "SELL"), (8, "SELL"), (10, "BUY")]
    # entry: 0.95 of 100,000 of equity at the decision price 95
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 95)
    # exit: the whole position, nothing more
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    # the short is 0.95 of the equity at row 8 (all cash after the round trip) at 106
    assert log.orders[2].quantity == pytest.approx(0.95 * cash_after(engine, 2) / 106)
    assert log.orders[3].quantity == pytest.approx(log.orders[2].quantity)
    assert engine.contexts[0].position == pytest.approx(0.0, abs=1e-9)
    _, batch_log = logged_run(BollingerReversion, PARAMS, frame, batch=True)
    assert batch_log.orders == log.orders


def test_long_only_ignores_the_upper_band() -> None:
    frame = _bars()
    _, log = logged_run(BollingerReversion, {**PARAMS, "allow_short": False}, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (7, "SELL")]


@pytest.mark.parametrize("values,name,allowed", [
    ({"period": 1}, "period", "[2, 2000]"),
    ({"nbdev": 0.0}, "nbdev", "[0.1, 10.0]"),
    ({"allocation": 2.0}, "allocation", "[0.01, 1.0]"),
    ({"period": "x"}, "period", "[2, 2000]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        BollingerReversion.Params.create(values)
    text = str(info.value)
    assert "'bollinger_reversion'" in text and repr(name) in text and allowed in text


def test_nbdev_must_leave_room_outside_the_band() -> None:
    with pytest.raises(ConfigError, match=r"'bollinger_reversion'.*nbdev \(2\.0\).*sqrt"):
        BollingerReversion.Params(period=5, nbdev=2.0)
