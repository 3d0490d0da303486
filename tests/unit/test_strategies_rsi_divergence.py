"""rsi_divergence: a lower low with a higher RSI buys (a higher high with a lower RSI sells
short), exits on RSI recovery or a holding limit; the batch path places the hooks' orders; bad
params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.rsi_divergence import RsiDivergence
from tests.kit.scripted import bar_table
from tests.kit.markets import logged_run, order_rows

# RSI(3); a new low / high is beyond all of the previous 6 closes; divergences need the earlier
# extreme 2 to 6 events back
CLOSES = [
    100, 101, 102, 101, 100, 99,  # 0-5 warm-up (the window needs 6 earlier closes)
    98,      # 6 new low, RSI 19.8: recorded (no earlier low)
    97,      # 7 new low, RSI 13.2: only 1 event after the last, recorded
    98, 99,  # 8-9 bounce
    96.5,    # 10 new low 3 events after 7, RSI 27.3 > 13.2: bullish divergence: BUY
    98,      # 11 RSI 51.5 >= 50: SELL (exit)
    100,     # 12 new high, RSI 70.9: recorded
    101,     # 13 new high, RSI 77.6: 1 event after the last, recorded
    100, 99.5,
    101.5,   # 16 new high 3 events after 13, RSI 73.8 < 77.6: bearish divergence: SELL short
             #    (with allow_short; flat otherwise, so nothing)
    100,     # 17 RSI 47.5 <= 50: BUY (cover)
    98,      # 18 new low 8 events after 10: beyond the lookback, no divergence
    97, 97,  # 19-20
]
PARAMS = {"rsi_period": 3, "lookback": 6, "min_gap": 2, "exit_rsi": 50.0}


def _bars():
    return bar_table([(c, c, c, c, 1e6) for c in CLOSES])


@pytest.mark.parametrize("extra,expected", [
    ({}, [(10, "BUY"), (11, "SELL")]),
    ({"allow_short": True}, [(10, "BUY"), (11, "SELL"), (16, "SELL"), (17, "BUY")]),
    # the RSI exit out of reach: the holding limit closes each position on its 2nd event
    ({"allow_short": True, "exit_rsi": 99.0, "max_hold": 2},
     [(10, "BUY"), (12, "SELL"), (16, "SELL"), (18, "BUY")]),
    # a wider minimum gap finds no divergence at all
    ({"min_gap": 4, "allow_short": True}, []),
], ids=["long", "short", "max_hold", "min_gap"])
def test_hand_written_bars(extra: dict, expected: list) -> None:
    frame = _bars()
    params = {**PARAMS, **extra}
    engine, log = logged_run(RsiDivergence, params, frame)
    assert order_rows(log, frame) == expected
    if expected:
        assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 96.5)
        assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    assert engine.contexts[0].position == pytest.approx(0.0, abs=1e-9)
    _, batch_log = logged_run(RsiDivergence, params, frame, batch=True)
    assert batch_log.orders == log.orders


@pytest.mark.parametrize("values,name,allowed", [
    ({"rsi_period": 1}, "rsi_period", "[2, 500]"),
    ({"lookback": 1001}, "lookback", "[2, 1000]"),
    ({"min_gap": 0}, "min_gap", "[1, 1000]"),
    ({"exit_rsi": 100.0}, "exit_rsi", "[1.0, 99.0]"),
    ({"max_hold": -1}, "max_hold", "[0, 1000000]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        RsiDivergence.Params.create(values)
    text = str(info.value)
    assert "'rsi_divergence'" in text and repr(name) in text and allowed in text


def test_min_gap_must_fit_in_the_lookback() -> None:
    with pytest.raises(ConfigError, match=r"'rsi_divergence'.*min_gap \(30\).*lookback \(20\)"):
        RsiDivergence.Params(min_gap=30)
