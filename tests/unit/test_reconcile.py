"""Reconciliation after a restart, scenario by scenario: each journal is built by hand, each
exchange snapshot says what happened while the actor was down, and the expected events and
disagreements are spelled out."""

from __future__ import annotations

from typing import Any

import pytest

from engine.live.ids import client_order_id
from engine.live.journal import Entry, JournalState, replay
from engine.live.reconcile import (ExchangeFill, ExchangeOrder, ExchangeSnapshot,
                                   reconcile)
from engine.messages import (CancelOrder, OrderAccepted, OrderCanceled, OrderFilled,
                             OrderRejected, SubmitOrder)

RUN, V, SYM, S = "run-1", "binance", "BTC/USDT", "grid"
CASH = 10_000.0
NOW = 1_000


def coid(n: int) -> str:
    return client_order_id(RUN, S, SYM, n)


def submit(n: int, qty: float = 1.0, side: str = "BUY") -> SubmitOrder:
    return SubmitOrder(S, V, SYM, coid(n), side, "LIMIT", qty, 100.0, None, "GTC", n, n)


def accepted(n: int) -> OrderAccepted:
    return OrderAccepted(S, V, SYM, coid(n), f"v{n}", n, n)


def journal_fill(n: int, trade: str, qty: float, cum: float, total: float = 1.0) -> OrderFilled:
    return OrderFilled(S, V, SYM, coid(n), f"v{n}", trade, "BUY", qty, 100.0, cum, total - cum,
                       "MAKER", 0.0, 0.0, 10, 10)


def state_of(*records: Any) -> JournalState:
    return replay(RUN, CASH, (Entry(i + 1, 0, r) for i, r in enumerate(records)))


def ex_order(n: int, status: str, filled: float, qty: float = 1.0, ts: int = 5,
             updated: int = 50) -> ExchangeOrder:
    return ExchangeOrder(coid(n), f"v{n}", SYM, "BUY", status, qty, filled, ts, updated)


def ex_fill(n: int, trade: str, qty: float, ts: int, price: float = 100.0,
            fee: float = 0.0) -> ExchangeFill:
    return ExchangeFill(coid(n), f"v{n}", trade, SYM, "BUY", qty, price, fee, "TAKER", ts)


def snapshot(orders: tuple = (), fills: tuple = (),
             balances: dict[str, float] | None = None) -> ExchangeSnapshot:
    return ExchangeSnapshot(V, orders, fills, balances if balances is not None else
                            {"USDT": CASH}, NOW)


def test_nothing_happened_nothing_to_do() -> None:
    state = state_of(submit(1), accepted(1))
    out = reconcile(state, snapshot((ex_order(1, "open", 0.0),)))
    assert out.events == () and out.resend == () and out.disagreements == ()


def test_fills_while_down_come_out_in_exchange_time_order_with_cum_and_leaves() -> None:
    # order 1 (qty 1) working, order 2 (qty 2) partly filled 0.5 before the crash (t0)
    state = state_of(submit(1), accepted(1), submit(2, qty=2.0), accepted(2),
                     journal_fill(2, "t0", 0.5, 0.5, total=2.0))
    fills = (ex_fill(1, "t3", 0.4, ts=30), ex_fill(2, "t2", 1.5, ts=20),
             ex_fill(1, "t4", 0.6, ts=30), ex_fill(2, "t0", 0.5, ts=9))   # t0 already known
    out = reconcile(state, snapshot((ex_order(1, "closed", 1.0), ex_order(2, "closed", 2.0,
                                                                           qty=2.0)), fills,
                                    {"USDT": CASH - 50 - 150 - 100, "BTC": 3.0}))
    got = [(e.trade_id, e.last_qty, e.cum_qty, e.leaves_qty, e.ts_event) for e in out.events]
    assert got == [("t2", 1.5, 2.0, 0.0, 20), ("t3", 0.4, 0.4, 0.6, 30),
                   ("t4", 0.6, 1.0, 0.0, 30)]
    assert all(type(e) is OrderFilled and e.ts_init == NOW for e in out.events)
    assert out.disagreements == ()


def test_a_partial_fill_then_a_cancel_while_down() -> None:
    state = state_of(submit(1), accepted(1))
    out = reconcile(state, snapshot((ex_order(1, "canceled", 0.3, updated=40),),
                                    (ex_fill(1, "t1", 0.3, ts=20),),
                                    {"USDT": CASH - 30, "BTC": 0.3}))
    fill, cancel = out.events
    assert type(fill) is OrderFilled and (fill.cum_qty, fill.leaves_qty) == (0.3, 0.7)
    assert cancel == OrderCanceled(S, V, SYM, coid(1), "canceled_at_venue: while the actor was "
                                                       "down", 40, NOW)
    assert out.disagreements == ()


def test_a_working_order_closed_without_fills_is_canceled() -> None:
    out = reconcile(state_of(submit(1), accepted(1)),
                    snapshot((ex_order(1, "expired", 0.0, updated=60),)))
    (cancel,) = out.events
    assert type(cancel) is OrderCanceled and cancel.reason.startswith("expired_at_venue")


def test_a_pending_new_order_the_exchange_has_is_accepted_then_filled() -> None:
    out = reconcile(state_of(submit(1)),
                    snapshot((ex_order(1, "closed", 1.0, ts=7),), (ex_fill(1, "t1", 1.0, 8),),
                             {"USDT": CASH - 100, "BTC": 1.0}))
    acc, fill = out.events
    assert acc == OrderAccepted(S, V, SYM, coid(1), "v1", 7, NOW)
    assert type(fill) is OrderFilled and fill.leaves_qty == 0.0
    assert out.resend == () and out.disagreements == ()


def test_a_pending_new_order_the_exchange_lacks_is_resent_with_the_same_id() -> None:
    out = reconcile(state_of(submit(1)), snapshot())
    assert out.resend == (submit(1),) and out.events == ()


def test_or_rejected_when_the_policy_says_so() -> None:
    out = reconcile(state_of(submit(1)), snapshot(), missing_pending="reject")
    (rej,) = out.events
    assert type(rej) is OrderRejected and rej.client_order_id == coid(1)
    assert rej.reason.startswith("not_at_venue") and out.resend == ()
    with pytest.raises(ValueError, match="missing_pending"):
        reconcile(state_of(), snapshot(), missing_pending="guess")


def test_a_duplicate_fill_in_the_snapshot_is_emitted_once() -> None:
    f = ex_fill(1, "t1", 1.0, 20)
    out = reconcile(state_of(submit(1), accepted(1)),
                    snapshot((ex_order(1, "closed", 1.0),), (f, f),
                             {"USDT": CASH - 100, "BTC": 1.0}))
    assert [e.trade_id for e in out.events] == ["t1"] and out.disagreements == ()


def test_a_balance_that_differs_is_reported_not_fixed() -> None:
    state = state_of(submit(1), accepted(1), journal_fill(1, "t1", 1.0, 1.0))
    cash_before = state.portfolio.cash
    out = reconcile(state, snapshot((ex_order(1, "closed", 1.0),), (),
                                    {"USDT": CASH - 100 - 5.0, "BTC": 1.0}))
    (d,) = out.disagreements
    assert (d.kind, d.subject, d.journal, d.exchange) == ("balance", "USDT", CASH - 100,
                                                          CASH - 105)
    assert state.portfolio.cash == cash_before   # the caller's state is untouched
    # what the account holds that the run does not own is declared, not guessed
    out = reconcile(state, snapshot((ex_order(1, "closed", 1.0),), (),
                                    {"USDT": CASH - 100, "BTC": 1.5}), baseline={"BTC": 0.5})
    assert out.disagreements == ()


def test_an_order_of_this_run_the_journal_never_saw_is_a_disagreement() -> None:
    stranger = ExchangeOrder("manual-1", "v9", SYM, "BUY", "open", 1.0, 0.0, 1, 1)
    out = reconcile(state_of(), snapshot((ex_order(7, "open", 0.0), stranger)))
    assert [(d.kind, d.subject) for d in out.disagreements] == [("unknown_order", coid(7))]


def test_a_working_order_the_exchange_does_not_know_is_a_disagreement() -> None:
    out = reconcile(state_of(submit(1), accepted(1)), snapshot())
    assert [(d.kind, d.subject) for d in out.disagreements] == [("order_missing", coid(1))]
    assert out.events == () and out.resend == ()


def test_fills_the_exchange_reports_but_did_not_send_are_a_disagreement() -> None:
    out = reconcile(state_of(submit(1), accepted(1)),
                    snapshot((ex_order(1, "closed", 1.0),), (ex_fill(1, "t1", 0.4, 20),),
                             {"USDT": CASH - 40, "BTC": 0.4}))
    assert [(d.kind, d.journal, d.exchange) for d in out.disagreements] == [
        ("missing_fills", 0.4, 1.0)]


def test_a_cancel_commanded_before_the_crash_is_sent_again_if_still_open() -> None:
    state = state_of(submit(1), accepted(1), CancelOrder(S, V, SYM, coid(1), 3, 3))
    out = reconcile(state, snapshot((ex_order(1, "open", 0.0),)))
    assert [c.client_order_id for c in out.recancel] == [coid(1)]


def test_the_output_is_deterministic() -> None:
    state = state_of(submit(1), accepted(1), submit(2), accepted(2))
    fills = [ex_fill(1, "a", 0.5, 10), ex_fill(2, "b", 0.5, 10), ex_fill(1, "c", 0.5, 5)]
    orders = (ex_order(1, "closed", 1.0), ex_order(2, "open", 0.5))
    one = reconcile(state, snapshot(orders, tuple(fills), {"USDT": CASH - 150, "BTC": 1.5}))
    two = reconcile(state, snapshot(orders[::-1], tuple(fills[::-1]),
                                    {"USDT": CASH - 150, "BTC": 1.5}))
    assert one == two
    assert [e.trade_id for e in one.events] == ["c", "a", "b"]
