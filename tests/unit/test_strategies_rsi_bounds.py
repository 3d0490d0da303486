"""rsi_bounds: buys on RSI up-crosses of the lower bound, sells on down-crosses of the upper;
the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.rsi_bounds import RsiBounds
from tests.kit.scripted import bar_table
from tests.kit.markets import logged_run, order_rows

# RSI(2): mean gain/loss of the first two changes, then Wilder-smoothed (avg = (avg + x) / 2)
CLOSES = [
    100, 101,  # 0-1 warm-up
    102,       # 2 first RSI: 100 (only gains); sets the previous value
    98,        # 3 gain .5, loss 2: RSI 20, down through 70: SELL short if allowed, else nothing
    97,        # 4 RSI 14.3
    99,        # 5 gain 1.125, loss .75: RSI 60, up through 30: BUY
    100,       # 6 RSI 73.9 (crossing 70 upwards means nothing)
    99,        # 7 RSI 43.6, down through 70: SELL (flat, or short if allowed)
    99,        # 8 RSI 43.6: nothing
]
PARAMS = {"period": 2, "lower": 30.0, "upper": 70.0}


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


def test_hand_written_bars_long_only() -> None:
    frame = _bars()
    engine, log = logged_run(RsiBounds, PARAMS, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (7, "SELL")]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 99)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    assert engine.contexts[0].position == pytest.approx(0.0, abs=1e-9)
    _, batch_log = logged_run(RsiBounds, PARAMS, frame, batch=True)
    assert batch_log.orders == log.orders


def test_hand_written_bars_with_shorts() -> None:
    frame = _bars()
    params = {**PARAMS, "allow_short": True}
    engine, log = logged_run(RsiBounds, params, frame)
    # row 3 goes short, row 5 covers and goes long, row 7 sells the long and goes short
    assert order_rows(log, frame) == [(3, "SELL"), (5, "BUY"), (7, "SELL")]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 98)
    assert log.orders[1].quantity > 1.9 * log.orders[0].quantity
    assert engine.contexts[0].position < 0
    _, batch_log = logged_run(RsiBounds, params, frame, batch=True)
    assert batch_log.orders == log.orders


@pytest.mark.parametrize("values,name,allowed", [
    ({"period": 1}, "period", "[2, 500]"),
    ({"lower": 0.5}, "lower", "[1.0, 99.0]"),
    ({"upper": 100}, "upper", "[1.0, 99.0]"),
    ({"allocation": "nan"}, "allocation", "[0.01, 1.0]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        RsiBounds.Params.create(values)
    text = str(info.value)
    assert "'rsi_bounds'" in text and repr(name) in text and allowed in text


def test_lower_must_be_below_upper() -> None:
    with pytest.raises(ConfigError, match=r"'rsi_bounds' parameter 'lower' \(70\.0\) must be "
                                          r"below 'upper' \(30\.0\)"):
        RsiBounds.Params(lower=70.0, upper=30.0)
