"""The DCA strategy: periodic buys per UTC slot, dip buys against the rolling high, the
take-profit exit on signal prices; the batch path places the hooks' orders; bad parameters
are refused with their range."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.messages import BUY, SELL
from strategies.dca import Dca
from tests.kit.orders import placed_orders
from tests.kit.scripted import trade_table


def test_periodic_dip_and_take_profit_orders() -> None:
    params = {"interval": "1m", "amount": 100.0, "dip_amount": 50.0, "dip_pct": 10.0,
              "lookback": 3, "take_profit_pct": 20.0}
    rows = [(0, 100.0),    # 0  first event of minute 0: buy 100/100
            (10, 95.0),    # 1  high 100, a dip needs <= 90
            (20, 90.0),    # 2  <= 90: dip buy 50/90; the reference restarts at 90
            (30, 85.0),    # 3  high 90, a dip needs <= 81
            (61, 80.0),    # 4  minute 1: buy 100/80; and 80 <= 81: dip buy 50/80
            (70, 90.0),    # 5
            (80, 95.0),    # 6  signal average 300 / 3.4306 = 87.45; take profit at 104.94
            (100, 105.0),  # 7  >= 104.94: sell everything; minute 1 counts as served
            (125, 104.0),  # 8  minute 2: buy 100/104
            (130, 100.0),  # 9  high of the last 3 events 105: a dip needs <= 94.5
            (135, 99.0),   # 10
            (140, 98.0),   # 11 105 (event 7) left the 3-event window: high 104
            (145, 93.0),   # 12 high 100 (events 9-11): no dip (with 105 it would be one)
            (150, 93.5)]   # 13
    frame = trade_table([(t, p, 1000.0) for t, p in rows])
    orders = placed_orders(Dca, params, frame, "trade")
    held = 1.0 + 50.0 / 90.0 + 100.0 / 80.0 + 50.0 / 80.0
    assert orders[:4] == [(0, BUY, 1.0), (2, BUY, 50.0 / 90.0), (4, BUY, 100.0 / 80.0),
                          (4, BUY, 50.0 / 80.0)]
    assert orders[4][:2] == (7, SELL) and orders[4][2] == pytest.approx(held, rel=1e-12)
    assert orders[5:] == [(8, BUY, 100.0 / 104.0)]


def test_only_the_first_event_of_a_slot_buys_and_empty_slots_are_not_made_up() -> None:
    params = {"interval": "1h", "amount": 10.0, "dip_amount": 0.0}
    hour = 3600
    rows = [(0, 10.0), (1800, 10.0),          # hour 0: one buy
            (3 * hour + 5, 20.0),             # hours 1 and 2 had no events: one buy only
            (3 * hour + 6, 20.0),
            (4 * hour, 25.0)]                 # the first event of hour 4
    frame = trade_table([(t, p, 1000.0) for t, p in rows])
    assert placed_orders(Dca, params, frame, "trade") == [
        (0, BUY, 1.0), (2, BUY, 0.5), (4, BUY, 0.4)]


@pytest.mark.parametrize("values,name,allowed", [
    ({"dip_pct": 0.0}, "dip_pct", "[0.1, 99.0]"),
    ({"amount": -1.0}, "amount", "[0.0, 1000000000000.0]"),
    ({"lookback": 0}, "lookback", "[1, 10000000]"),
    ({"interval": "1x"}, "interval", "'1h', '1d', '1w'"),
    ({"interval": "0d"}, "interval", "'1h', '1d', '1w'"),
], ids=repr)
def test_bad_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                          allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        Dca.Params.create(values)
    text = str(info.value)
    assert "'dca'" in text and repr(name) in text and allowed in text


def test_a_dca_that_never_buys_is_refused() -> None:
    with pytest.raises(ConfigError, match="'dca' parameters 'amount' and 'dip_amount'"):
        Dca.Params(amount=0.0, dip_amount=0.0)
