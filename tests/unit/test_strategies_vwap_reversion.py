"""vwap_reversion: entries a set fraction beyond the session VWAP, exits back at it, sessions
restart the VWAP; the batch path places the hooks' orders; bad params are named."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.vwap_reversion import VwapReversion
from tests.kit.harness import run_paths
from tests.kit.scripted import bar_table, trade_table
from tests.kit.markets import cash_after, logged_run, order_rows, two_symbol_quotes

# (close, volume in millions); flat bars (high = low = close), so the typical price is the
# close. Volumes are large so that the orders fill whole (the venue fills at most a quarter of
# a bar's volume).
BARS = [
    (100, 10),    # 0 VWAP 100
    (100, 10),    # 1 VWAP 100
    (98.5, 1),    # 2 VWAP 99.93; 98.5 < 99.93 * 0.99 = 98.93: BUY
    (99.5, 1),    # 3 VWAP 99.91; still below it: hold
    (100, 1),     # 4 VWAP 99.91; back at or above it: SELL (exit)
    (101.5, 1),   # 5 VWAP 99.98; 101.5 > 99.98 * 1.01 = 100.98: SELL short (allow_short)
    (100.5, 1),   # 6 VWAP 100.0; above it: hold
    (99.9, 1),    # 7 VWAP 99.996; at or below it: BUY (cover)
    (100, 1),     # 8
]
PARAMS = {"entry_deviation": 0.01, "allow_short": True}


def _bars():
    return bar_table([(c, c, c, c, v * 1e6) for c, v in BARS])


def test_hand_written_bars_enter_beyond_the_vwap_and_exit_at_it() -> None:
    frame = _bars()
    engine, log = logged_run(VwapReversion, PARAMS, frame)
    assert order_rows(log, frame) == [(2, "BUY"), (4, "SELL"), (5, "SELL"), (7, "BUY")]
    assert log.orders[0].quantity == pytest.approx(0.95 * 100_000 / 98.5)
    assert log.orders[1].quantity == pytest.approx(log.orders[0].quantity)
    assert log.orders[2].quantity == pytest.approx(0.95 * cash_after(engine, 2) / 101.5)
    assert log.orders[3].quantity == pytest.approx(log.orders[2].quantity)
    _, batch_log = logged_run(VwapReversion, PARAMS, frame, batch=True)
    assert batch_log.orders == log.orders
    _, long_only = logged_run(VwapReversion, {"entry_deviation": 0.01}, frame)
    assert order_rows(long_only, frame) == [(2, "BUY"), (4, "SELL")]


def test_bars_are_weighted_at_their_typical_price() -> None:
    frame = bar_table([
        (100, 100, 100, 100, 1e6),   # 0 VWAP 100
        (100, 112, 100, 100, 1e6),   # 1 typical price 104: VWAP 102; 100 < 100.98: BUY (a VWAP
                                     #   of closes, 100, would not have entered)
        (99, 99, 99, 99, 0.0),       # 2 zero volume adds nothing: VWAP 102; hold
        (100, 100, 100, 100, 1e6),   # 3 VWAP 101.33; hold
        (102, 102, 102, 102, 1e6),   # 4 VWAP 101.5; at or above it: SELL
        (102, 102, 102, 102, 1e6),   # 5
    ])
    _, log = logged_run(VwapReversion, {"entry_deviation": 0.01}, frame)
    assert order_rows(log, frame) == [(1, "BUY"), (4, "SELL")]


def test_a_new_session_restarts_the_vwap() -> None:
    trades = trade_table([
        (0, 100.0, 1e6),     # 0 VWAP 100
        (10, 100.0, 1e6),    # 1 VWAP 100
        (20, 98.5, 5e5),     # 2 VWAP 99.7; 98.5 < 98.70: BUY
        (60, 98.5, 0.0),     # 3 new one-minute session, no volume yet: no VWAP, nothing
        (65, 99.0, 1e6),     # 4 VWAP 99 (the old session's would be 99.5): at it: SELL
        (70, 99.0, 1e6),     # 5
    ])
    params = {"entry_deviation": 0.01, "session_minutes": 1}
    _, log = logged_run(VwapReversion, params, trades, kind="trade")
    assert order_rows(log, trades, "trade") == [(2, "BUY"), (4, "SELL")]
    _, batch_log = logged_run(VwapReversion, params, trades, kind="trade", batch=True)
    assert batch_log.orders == log.orders


def test_quotes_get_no_orders_on_either_path() -> None:
    hooks, batch = run_paths(VwapReversion, {}, two_symbol_quotes(), "quote", chunk_rows=97)
    assert hooks.order_events == batch.order_events == [] and hooks.fills == batch.fills == []


@pytest.mark.parametrize("values,name,allowed", [
    ({"entry_deviation": 0.0}, "entry_deviation", "[0.0001, 0.5]"),
    ({"session_minutes": 0}, "session_minutes", "[1, 10080]"),
    ({"offset_minutes": -1}, "offset_minutes", "[0, 10079]"),
    ({"allocation": 1.01}, "allocation", "[0.01, 1.0]"),
])
def test_bad_params_name_strategy_parameter_and_range(values: dict, name: str,
                                                      allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        VwapReversion.Params.create(values)
    text = str(info.value)
    assert "'vwap_reversion'" in text and repr(name) in text and allowed in text


def test_offset_must_be_inside_the_session() -> None:
    with pytest.raises(ConfigError, match=r"'vwap_reversion'.*offset_minutes \(60\).*"
                                          r"session_minutes \(60\)"):
        VwapReversion.Params(session_minutes=60, offset_minutes=60)
