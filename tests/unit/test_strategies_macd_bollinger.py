"""macd_bollinger: bullish MACD crosses enter only low in the bands; bearish crosses and upper
band touches exit; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.macd_bollinger import MacdBollinger
from tests.kit.scripted import bar_table
from tests.kit.markets import logged_run, order_rows

# MACD(2, 3, 2) histogram sign and Bollinger(5, 1.5) %B after each close
CLOSES = [
    100, 101, 100,   # 0-2 warm-up
    101,             # 3 MACD valid (hist 0), bands not yet
    100,             # 4 both valid: hist -, the first sign: no cross
    99, 97, 96,      # 5-7 hist -
    97.5,            # 8 hist +: bullish cross at %B 0.41 (<= 0.5): BUY
    100,             # 9 %B 0.99: below the upper band, hold
    102,             # 10 %B 1.03: touches the upper band: SELL
    104,             # 11
    103,             # 12 bearish cross while flat: nothing
    100, 97,         # 13-14
    98,              # 15 bullish cross at %B 0.21: BUY
    99, 98,          # 16-17 hist +
    97,              # 18 bearish cross: SELL
    99,              # 19 bullish cross at %B 0.86: too high for 0.5, nothing
    101,             # 20 %B 1.05 (an upper touch: exits a long)
    101,             # 21
]
PARAMS = {"fast": 2, "slow": 3, "signal": 2, "period": 5, "nbdev": 1.5}


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


@pytest.mark.parametrize("zone,expected", [
    (0.5, [(8, "BUY"), (10, "SELL"), (15, "BUY"), (18, "SELL")]),
    # a higher entry zone also takes the cross at 19, and the upper touch at 20 exits it
    (0.9, [(8, "BUY"), (10, "SELL"), (15, "BUY"), (18, "SELL"), (19, "BUY"), (20, "SELL")]),
    # a lower one refuses the cross at 8 (%B 0.41)
    (0.3, [(15, "BUY"), (18, "SELL")]),
])
def test_hand_written_bars(zone: float, expected: list) -> None:
    frame = _bars()
    params = {**PARAMS, "entry_percent_b": zone}
    _, log = logged_run(MacdBollinger, params, frame)
    assert order_rows(log, frame) == expected
    entry = CLOSES[expected[0][0]]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / entry)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)   # to flat
    _, batch_log = logged_run(MacdBollinger, params, frame, batch=True)
    assert batch_log.orders == log.orders


@pytest.mark.parametrize("values,name,allowed", [
    ({"fast": 600}, "fast", "[2, 500]"),
    ({"period": 1}, "period", "[2, 2000]"),
    ({"entry_percent_b": 1.5}, "entry_percent_b", "[-0.5, 1.0]"),
    ({"nbdev": "wide"}, "nbdev", "[0.1, 10.0]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        MacdBollinger.Params.create(values)
    text = str(info.value)
    assert "'macd_bollinger'" in text and repr(name) in text and allowed in text


def test_cross_parameter_rules() -> None:
    with pytest.raises(ConfigError,
                       match=r"'macd_bollinger' parameter 'fast' \(26\).*'slow' \(26\)"):
        MacdBollinger.Params(fast=26)
    with pytest.raises(ConfigError, match=r"'macd_bollinger'.*nbdev \(2\.5\).*sqrt"):
        MacdBollinger.Params(period=5, nbdev=2.5)
