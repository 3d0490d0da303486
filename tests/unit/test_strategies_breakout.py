"""breakout: entries on volume-confirmed closes beyond a tight range, exits below the range or
the trailing channel; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.breakout import Breakout
from tests.kit.harness import run_paths
from tests.kit.scripted import bar_table, trade_table
from tests.kit.markets import cash_after, logged_run, order_rows, two_symbol_quotes

M = 1e6
PARAMS = {"period": 4, "max_width": 0.025, "volume_period": 3, "volume_factor": 1.5,
          "exit_period": 2, "allow_short": True}
# (open, high, low, close, volume); "range" is the previous 4 bars, "average" the mean volume
# of the previous 3, "trail" the previous 2 bars' lowest low (highest high when short)
BARS = [
    (100.0, 101.0, 99.5, 100.2, 1 * M),    # 0-3: warm-up, a range 99.5 - 101.0
    (100.2, 100.9, 99.6, 100.5, 1 * M),
    (100.5, 101.0, 99.8, 100.0, 1 * M),
    (100.0, 100.8, 99.5, 100.4, 1 * M),
    (100.4, 101.6, 100.3, 101.5, 1.2 * M),  # 4 close above 101.0 in a 1.5-wide range, but
                                            #   volume 1.2 M is not above 1.5 * 1 M: nothing
    (101.5, 102.1, 101.2, 102.0, 2 * M),    # 5 range 99.5-101.6 (2.1 <= 2.49), volume 2 M >
                                            #   1.5 * 1.07 M, close above 101.6: BUY, stop 99.5
    (102.0, 102.3, 100.8, 101.0, 1 * M),    # 6 trail low 100.3: hold
    (101.0, 102.8, 101.5, 102.5, 1 * M),    # 7 trail low 100.8: hold
    (102.5, 101.6, 100.4, 100.5, 1 * M),    # 8 trail low 100.8, close 100.5 below: SELL
    (100.5, 100.5, 99.9, 100.0, 3 * M),     # 9 range 100.4-102.8 (2.4 <= 2.51), volume 3 M,
                                            #   close below 100.4: SELL short, stop 102.8
    (100.0, 100.4, 99.8, 100.2, 1 * M),     # 10 trail high 101.6: hold
    (100.2, 100.7, 100.1, 100.6, 1 * M),    # 11 trail high 100.5, close 100.6 above: BUY
    (100.6, 100.7, 100.5, 100.6, 1 * M),    # 12
]


def test_hand_written_bars_enter_and_exit_where_the_docstring_says() -> None:
    frame = bar_table(BARS)
    engine, log = logged_run(Breakout, PARAMS, frame)
    assert order_rows(log, frame) == [(5, "BUY"), (8, "SELL"), (9, "SELL"), (11, "BUY")]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 102.0)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    assert log.orders[2].quantity == pytest.approx(0.95 * cash_after(engine, 2) / 100.0)
    assert log.orders[3].quantity == pytest.approx(log.orders[2].quantity)
    _, batch_log = logged_run(Breakout, PARAMS, frame, batch=True)
    assert batch_log.orders == log.orders
    _, long_only = logged_run(Breakout, {**PARAMS, "allow_short": False}, frame)
    assert order_rows(long_only, frame) == [(5, "BUY"), (8, "SELL")]


def test_a_close_below_the_range_low_exits_even_above_the_trail() -> None:
    params = {"period": 4, "max_width": 0.025, "volume_period": 3, "volume_factor": 1.5,
              "exit_period": 6}
    frame = bar_table([
        (99.0, 99.2, 98.0, 99.0, M),         # 0-1 lows of 98: in the 6-bar trail window at 7,
        (99.0, 99.6, 98.0, 99.5, M),         #     not in the 4-bar range
        (100.0, 101.0, 99.5, 100.2, M),      # 2-5 the range: 99.5 - 101.0
        (100.2, 100.9, 99.6, 100.5, M),
        (100.5, 101.0, 99.8, 100.0, M),
        (100.0, 100.8, 99.5, 100.4, M),
        (100.4, 101.8, 100.3, 101.7, 2 * M),  # 6 close above 101.0 on 2 M > 1.5 M: BUY, stop 99.5
        (101.7, 101.7, 99.2, 99.3, M),        # 7 trail low 98.0, but 99.3 < stop 99.5: SELL
        (99.3, 99.5, 99.1, 99.4, M),          # 8
    ])
    _, log = logged_run(Breakout, params, frame)
    assert order_rows(log, frame) == [(6, "BUY"), (7, "SELL")]
    _, batch_log = logged_run(Breakout, params, frame, batch=True)
    assert batch_log.orders == log.orders


def test_trades_are_bars_of_one_price_and_their_size() -> None:
    params = {"period": 3, "max_width": 0.01, "volume_period": 2, "volume_factor": 2.0,
              "exit_period": 1}
    trades = trade_table([
        (0, 100.0, 1e6), (1, 100.5, 1e6), (2, 100.2, 1e6),   # 0-2 range 100.0 - 100.5
        (3, 100.8, 1.5e6),   # 3 above the range, size 1.5 M not above 2 * 1 M: nothing
        (4, 101.0, 3e6),     # 4 range 100.2-100.8, size 3 M > 2 * 1.25 M, above: BUY
        (5, 101.2, 1e6),     # 5 trail (the previous trade) 101.0: hold
        (6, 101.1, 1e6),     # 6 below the previous trade's 101.2: SELL
        (7, 101.1, 1e6),     # 7
    ])
    _, log = logged_run(Breakout, params, trades, kind="trade")
    assert order_rows(log, trades, "trade") == [(4, "BUY"), (6, "SELL")]
    _, batch_log = logged_run(Breakout, params, trades, kind="trade", batch=True)
    assert batch_log.orders == log.orders


def test_quotes_get_no_orders_on_either_path() -> None:
    hooks, batch = run_paths(Breakout, {}, two_symbol_quotes(), "quote", chunk_rows=97)
    assert hooks.order_events == batch.order_events == [] and hooks.fills == batch.fills == []


@pytest.mark.parametrize("values,name,allowed", [
    ({"period": 1}, "period", "[2, 1000]"),
    ({"max_width": 0.0}, "max_width", "[0.0001, 1.0]"),
    ({"volume_period": 0}, "volume_period", "[1, 1000]"),
    ({"volume_factor": -1}, "volume_factor", "[0.0, 100.0]"),
    ({"exit_period": "ten"}, "exit_period", "[1, 1000]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        Breakout.Params.create(values)
    text = str(info.value)
    assert "'breakout'" in text and repr(name) in text and allowed in text
