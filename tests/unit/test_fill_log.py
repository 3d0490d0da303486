"""The fill log: single fills and runs kept as columns read back as the same events and the
same fills table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.fill_log import FILL_COLUMNS, FillLog, FillRun
from engine.messages import MAKER, TAKER, OrderFilled


def single(k: int, symbol: str = "BTC/USDT") -> OrderFilled:
    return OrderFilled("s1", "SIM", symbol, f"c{k}", f"V-{k}", f"F-{k}", "BUY", 1.0 + k,
                       100.0 + k, 1.0 + k, 0.0, MAKER, 0.01 * k, 0.5, 1000 + k, 1000 + k)


def run(seq: int, m: int) -> FillRun:
    values = np.array([[0.5 + i, 200.0 + i, 0.02 * i, 1.5, 0.5 * (i + 1), 9.0 * i,
                        float(m - 1 - i)] for i in range(m)])
    return FillRun(("s2", "SIM", "ETH/USDT", "c9", "V-9", "SELL"), seq, values,
                   [2000 + i for i in range(m)])


def log_and_events() -> tuple[FillLog, list[OrderFilled]]:
    log = FillLog()
    log.append(single(1))
    log.append(single(2))
    log.add_run(run(3, 4))
    log.add_run(run(7, 0))   # an empty run adds nothing
    log.append(single(11, "SOL/USDT"))
    events = [single(1), single(2)]
    for i in range(4):
        events.append(OrderFilled("s2", "SIM", "ETH/USDT", "c9", "V-9", f"F-{3 + i}", "SELL",
                                  0.5 + i, 200.0 + i, 0.5 * (i + 1), float(3 - i), TAKER,
                                  0.02 * i, 1.5, 2000 + i, 2000 + i, 0.0))
    events.append(single(11, "SOL/USDT"))
    return log, events


def test_the_log_reads_back_every_fill_as_its_event_in_booking_order() -> None:
    log, events = log_and_events()
    assert len(log) == 7
    assert list(log) == events
    assert log == events and log == log_and_events()[0] and log != events[:-1]
    assert [log[i] for i in range(7)] == events
    assert log[-1] == events[-1] and log[2:5] == events[2:5]
    with pytest.raises(IndexError, match="fill 7 of 7"):
        log[7]


def test_the_columns_equal_the_table_built_from_the_events() -> None:
    log, events = log_and_events()
    columns = log.columns()
    assert list(columns) == FILL_COLUMNS
    source = {"ts": "ts_event", "qty": "last_qty", "price": "last_price"}
    expected = pd.DataFrame({c: [getattr(e, source.get(c, c)) for e in events]
                             for c in FILL_COLUMNS})
    pd.testing.assert_frame_equal(pd.DataFrame(columns), expected)
    assert columns["ts"].dtype == np.int64 and columns["symbol"].dtype == object
    assert log.symbols().tolist() == [e.symbol for e in events]


def test_an_empty_log_has_empty_columns() -> None:
    log = FillLog()
    assert len(log) == 0 and list(log) == []
    assert all(len(c) == 0 for c in log.columns().values())
