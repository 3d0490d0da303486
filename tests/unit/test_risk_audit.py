"""The risk audit: the execution side decides every order with its embedded risk engine and
streams the inputs (valuations, orders, approvals, fills as columnar runs, cancels) over
ZeroMQ; the risk core re-decides each one independently. Agreement over a long, mixed flow,
detection of a wrong decision, and a malformed fill run refused with a clear error."""

from __future__ import annotations

import pytest
import zmq

from actors.risk.core import AuditedRisk, AuditReport, RiskCore
from engine import bus
from engine.codec import encode_many
from engine.errors import InvalidMessageError
from engine.messages import BUY, SELL, FillBatch, OrderCanceled, OrderFilled, SubmitOrder
from engine.risk import RiskLimits

LIMITS = RiskLimits(max_open_positions=2, max_gross_exposure=1.5)
SYMBOLS = ("A/USDT", "B/USDT", "C/USDT")


def order(sid: str, symbol: str, n: int, side: str, qty: float, ts: int) -> SubmitOrder:
    return SubmitOrder(sid, "SIM", symbol, f"{sid}-{n}", side, "MARKET", qty, None, None,
                       "GTC", ts, ts)


def fill(cmd: SubmitOrder, qty: float, leaves: float, k: int) -> OrderFilled:
    return OrderFilled(cmd.strategy_id, "SIM", cmd.symbol, cmd.client_order_id, "V", f"F-{k}",
                       cmd.side, qty, 100.0, cmd.quantity - leaves, leaves, "TAKER", 0.01, 1.0,
                       cmd.ts_event + 1, cmd.ts_event + 1)


def flow(audited: AuditedRisk) -> tuple[int, int]:
    """A mixed order flow: orders on three symbols, each filled in many small pieces (runs of
    fills), some canceled part-way, enough of them to hit both limits. Returns (checks,
    denied)."""
    marks = {s: 100.0 for s in SYMBOLS}
    checks = denied = k = 0
    for n in range(60):
        symbol = SYMBOLS[n % 3]
        sid = f"s{n % 4}"
        side = BUY if (n // 3) % 2 == 0 else SELL
        cmd = order(sid, symbol, n, side, 1.0 + (n % 5) * 0.5, ts=n * 100)
        checks += 1
        if audited.check(cmd, 1_000.0, marks) is not None:
            denied += 1
            continue
        audited.on_approved(cmd)
        left = cmd.quantity
        for piece in range(7):
            if n % 6 == 5 and piece == 3:
                audited.on_event(OrderCanceled(sid, "SIM", symbol, cmd.client_order_id,
                                               "canceled", n * 100 + 5, n * 100 + 5))
                break
            qty = min(cmd.quantity / 7 * 1.0001, left)
            left -= qty
            k += 1
            audited.on_event(fill(cmd, qty, max(left, 0.0) if piece < 6 else 0.0, k))
    return checks, denied


@pytest.mark.parametrize("batch", [1, 5, 4096])
def test_the_auditor_agrees_with_every_decision(batch: int) -> None:
    core = RiskCore(LIMITS)
    try:
        audited = AuditedRisk(LIMITS, core.endpoint, batch=batch)
        checks, denied = flow(audited)
        audited.finish()
        report = core.serve()
    finally:
        core.close()
    assert denied > 0 and checks > denied          # both limits are exercised
    assert report == AuditReport(checks=checks, denied=denied, mismatches=0,
                                 first_mismatch=None)


def test_a_wrong_decision_is_reported() -> None:
    # the execution side's view drifts (a position it never booked); the auditor, replaying
    # the real flow, decides differently and says which order
    core = RiskCore(RiskLimits(max_open_positions=1))
    try:
        audited = AuditedRisk(RiskLimits(max_open_positions=1), core.endpoint)
        audited.engine.qty[("B/USDT", "ghost")] = 5.0
        cmd = order("s1", "A/USDT", 1, BUY, 1.0, ts=10)
        assert audited.check(cmd, 1_000.0, {"A/USDT": 100.0}) is not None
        audited.finish()
        report = core.serve()
    finally:
        core.close()
    assert report.mismatches == 1
    assert report.first_mismatch is not None
    assert "'s1-1'" in report.first_mismatch and "max_open_positions" in report.first_mismatch


def test_a_fill_run_with_uneven_columns_is_refused() -> None:
    core = RiskCore(LIMITS)
    push = bus.connect(zmq.PUSH, core.endpoint)
    try:
        bad = FillBatch(("s1", "s1"), ("A/USDT",), ("s1-1", "s1-1"), (BUY, BUY), (1.0, 1.0),
                        (1.0, 0.0))
        push.send(encode_many([bad]))
        with pytest.raises(InvalidMessageError, match="FillBatch columns differ in length "
                                                      r"\(strategy_ids 2, symbols 1"):
            core.serve()
    finally:
        push.close(0)
        core.close()
