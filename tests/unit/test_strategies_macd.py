"""macd: orders on MACD/signal crosses, with the zero-line filter and shorts; the batch path
places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.macd import MacdStrategy
from tests.kit.scripted import bar_table
from tests.kit.markets import logged_run, order_rows

# MACD(2, 3, 2): (line, hist) after each close
CLOSES = [
    100, 100, 100,  # 0-2 warm-up
    99,             # 3 line -0.17, hist -0.08: the first sign (negative), no cross
    98,             # 4 hist -0.07
    101,            # 5 line +0.27, hist +0.17: bullish cross above zero: BUY
    104,            # 6 hist +0.22
    103,            # 7 line +0.44, hist -0.04: bearish cross: SELL (short only without filter)
    100, 97, 96,    # 8-10 hist negative
    99,             # 11 line -0.02, hist +0.23: bullish cross below zero: BUY unless filtered
    103, 103,       # 12-13 hist positive
]
PARAMS = {"fast": 2, "slow": 3, "signal": 2}


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


@pytest.mark.parametrize("extra,expected", [
    ({}, [(5, "BUY"), (7, "SELL"), (11, "BUY")]),
    # the zero line filter refuses the cross at 11 (line below zero)
    ({"zero_filter": True}, [(5, "BUY"), (7, "SELL")]),
    # shorts: 7 reverses to short, 11 reverses to long
    ({"allow_short": True}, [(5, "BUY"), (7, "SELL"), (11, "BUY")]),
    # filtered shorts: the bearish cross at 7 is above zero, so flat, not short; 11 then asks
    # for flat again: nothing
    ({"allow_short": True, "zero_filter": True}, [(5, "BUY"), (7, "SELL")]),
], ids=["plain", "zero_filter", "short", "short_filtered"])
def test_hand_written_bars(extra: dict, expected: list) -> None:
    frame = _bars()
    params = {**PARAMS, **extra}
    _, log = logged_run(MacdStrategy, params, frame)
    assert order_rows(log, frame) == expected
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 101)
    if extra.get("allow_short") and not extra.get("zero_filter"):
        assert log.orders[1].quantity > 1.9 * log.orders[0].quantity   # long to short
    else:
        assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)   # to flat
    _, batch_log = logged_run(MacdStrategy, params, frame, batch=True)
    assert batch_log.orders == log.orders


@pytest.mark.parametrize("values,name,allowed", [
    ({"fast": 1}, "fast", "[2, 500]"),
    ({"slow": 5000}, "slow", "[3, 1000]"),
    ({"signal": 1}, "signal", "[2, 500]"),
    ({"signal": 2.5}, "signal", "[2, 500]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        MacdStrategy.Params.create(values)
    text = str(info.value)
    assert "'macd'" in text and repr(name) in text and allowed in text


def test_fast_must_be_shorter_than_slow() -> None:
    with pytest.raises(ConfigError, match=r"'macd' parameter 'fast' \(30\) must be shorter "
                                          r"than 'slow' \(26\)"):
        MacdStrategy.Params(fast=30)
