"""The risk audit: the execution side decides every order with its embedded risk engine and
streams the inputs (valuations, orders, approvals, fills as columnar runs, cancels) over
ZeroMQ; the risk core re-decides each one independently. Agreement over a long, mixed flow,
detection of a wrong decision, and a malformed fill run refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import zmq

from actors.risk.core import AuditedRisk, AuditReport, RiskCore, RiskSetup
from engine import bus
from engine.codec import encode_many
from engine.errors import InvalidMessageError
from engine.fill_log import FillRun as BookedRun
from engine.messages import (BUY, SELL, FillBatch, FillRun, OrderCanceled, OrderFilled,
                             SubmitOrder)
from engine.risk import MarketView, RiskLimits

LIMITS = RiskLimits(max_open_positions=2, max_gross_exposure=1.5)
# every rule on, on a margin account (shorts, leverage) and on a spot account (cash, no
# naked shorts, reductions)
EVERY_RULE = dict(max_open_positions=10, max_gross_exposure=3.0, max_net_exposure=2.0,
                  max_position_share=0.8, max_order_notional=400.0, max_drawdown=0.5,
                  max_daily_loss=0.4, max_consecutive_losses=3, loss_pause="1s",
                  cooldown="1s", max_group_exposure=1.0, block_regime="HIGHLY_VOLATILE",
                  volatile_scale=0.5, max_cost_bps=40.0, max_orders_per_minute=30)
SETUPS = {
    "limits": RiskSetup(LIMITS, 1_000.0, 5.0),
    "margin": RiskSetup(RiskLimits(account="margin", **EVERY_RULE), 1_000.0, 5.0),
    "spot": RiskSetup(RiskLimits(**EVERY_RULE), 1_000.0, 5.0),
}
SYMBOLS = ("A/USDT", "B/USDT", "C/USDT")


def order(sid: str, symbol: str, n: int, side: str, qty: float, ts: int) -> SubmitOrder:
    return SubmitOrder(sid, "SIM", symbol, f"{sid}-{n}", side, "MARKET", qty, None, None,
                       "GTC", ts, ts)


def fill(cmd: SubmitOrder, qty: float, leaves: float, k: int, price: float = 100.0) -> OrderFilled:
    return OrderFilled(cmd.strategy_id, "SIM", cmd.symbol, cmd.client_order_id, "V", f"F-{k}",
                       cmd.side, qty, price, cmd.quantity - leaves, leaves, "TAKER", 0.01, 1.0,
                       cmd.ts_event + 1, cmd.ts_event + 1)


def flow(audited: AuditedRisk, runs: bool = False) -> tuple[int, int]:
    """A mixed order flow: orders on three symbols, each filled in many small pieces (runs of
    fills), some canceled part-way, enough of them to hit both limits. Returns (checks,
    denied). With ``runs``, every other order's pieces are booked as a backtest books a run
    of forecast fills: compiled (``on_fill_run``, streamed as a ``FillRun``) as far as the
    kernel goes, the rest one by one."""
    checks = denied = k = 0
    for n in range(240):
        symbol = SYMBOLS[n % 3]
        sid = f"s{n % 4}"
        side = BUY if (n // 3) % 2 == 0 else SELL
        price = 100.0 * (1.0 + 0.3 * ((n * 7) % 11 - 5) / 5)    # moves: wins and losses
        marks = {s: price if s == symbol else 100.0 for s in SYMBOLS}
        others = tuple(s for s in SYMBOLS if s != symbol)
        market = MarketView(n % 4 if n % 8 else 3, float(n % 50), others[:n % 3])
        cmd = order(sid, symbol, n, side, 1.0 + (n % 5) * 0.5, ts=n * 400_000_000)
        checks += 1
        qty, reason = audited.check(cmd, marks, market)
        if reason is not None and qty == 0.0:
            denied += 1
            continue
        cmd = cmd._replace(quantity=qty)
        audited.on_approved(cmd)
        left = cmd.quantity
        pieces = []
        for piece in range(7):
            if n % 6 == 5 and piece == 3:
                break
            qty = min(cmd.quantity / 7 * 1.0001, left)
            left -= qty
            k += 1
            pieces.append(fill(cmd, qty, max(left, 0.0) if piece < 6 else 0.0, k, price))
        while runs and n % 2 == 0 and pieces:
            qty_, leaves_, price_, fee_ = (np.array([getattr(f, name) for f in pieces])
                                           for name in ("last_qty", "leaves_qty", "last_price",
                                                        "fee"))
            ts_ = [f.ts_event for f in pieces]
            booked = audited.on_fill_run(sid, symbol, cmd.client_order_id, side, qty_,
                                         leaves_, price_, fee_, ts_)
            if booked:
                # the kernel's rows: qty, price, fee, slippage, filled, notional, leaves
                rows = np.column_stack([qty_, price_, fee_, np.zeros(len(qty_)),
                                        np.zeros(len(qty_)), np.zeros(len(qty_)), leaves_])
                audited.run_booked(BookedRun((sid, "SIM", symbol, cmd.client_order_id, "V-1",
                                              side), k, rows[:booked], ts_[:booked]))
            else:   # the fill the kernel leaves to the Python path
                audited.on_event(pieces[0])
                booked = 1
            pieces = pieces[booked:]
        for event in pieces:
            audited.on_event(event)
        if n % 6 == 5:
            audited.on_event(OrderCanceled(sid, "SIM", symbol, cmd.client_order_id,
                                           "canceled", cmd.ts_event + 5, cmd.ts_event + 5))
    return checks, denied


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("batch,runs", [(1, False), (5, False), (4096, False), (5, True),
                                        (4096, True)])
def test_the_auditor_agrees_with_every_decision(batch: int, runs: bool, setup: str) -> None:
    core = RiskCore(SETUPS[setup])
    try:
        audited = AuditedRisk(SETUPS[setup], core.endpoint, batch=batch)
        checks, denied = flow(audited, runs)
        audited.finish()
        report = core.serve()
    finally:
        core.close()
    assert denied > 0 and checks > denied
    assert len(audited.denials) >= 2               # several rules decide in the flow
    assert report == AuditReport(checks=checks, denied=denied, mismatches=0,
                                 first_mismatch=None)
    # the auditor's account, replayed from the stream, is the execution side's to the bit
    mine = core.engine
    assert (mine.cash, mine.reserved, mine.sym_qty, mine.working, mine.losses) == \
        (audited.cash, audited.reserved, audited.sym_qty, audited.working, audited.losses)
    assert {k: (p.qty, p.avg, p.trade_pnl) for k, p in mine.pairs.items()} == \
        {k: (p.qty, p.avg, p.trade_pnl) for k, p in audited.pairs.items()}


def test_runs_of_fills_book_what_fills_one_by_one_book() -> None:
    """The compiled run (``on_fill_run``) leaves the risk engine's account exactly where
    ``on_fill`` fill by fill does: a run that opens the round trip, one that closes it (the
    loss breaker learns of the trip), and a run that stops before a fill flipping the pair."""
    one, run = SETUPS["margin"].engine(), SETUPS["margin"].engine()
    orders = [order("s1", "A/USDT", 1, BUY, 3.0, ts=10), order("s1", "A/USDT", 2, SELL, 3.0, ts=20),
              order("s1", "A/USDT", 3, BUY, 2.0, ts=30), order("s1", "A/USDT", 4, SELL, 3.0, ts=40)]
    runs = []
    for i, cmd in enumerate(orders):
        for engine in (one, run):
            engine.check(cmd, {"A/USDT": 100.0})
            engine.on_approved(cmd)
        left = cmd.quantity
        fills = []
        for piece in range(6):
            qty = left if piece == 5 else 0.4 + 0.01 * piece
            left -= qty
            # the second round trip loses (the sell is below the buy): a loss to learn of
            fills.append(fill(cmd, qty, left, piece, 100.0 + (0.7 if i < 2 else -0.9) * piece
                              - (5.0 if i == 3 else 0.0)))
        runs.append(fills)
    booked = []
    for fills in runs:
        for f in fills:
            one.on_event(f)
        left = fills
        while left:
            cols = [np.array([getattr(f, n) for f in left])
                    for n in ("last_qty", "leaves_qty", "last_price", "fee")]
            k = run.on_fill_run("s1", "A/USDT", left[0].client_order_id, left[0].side, *cols,
                                [f.ts_event for f in left])
            booked.append(k)
            if k == 0:
                run.on_event(left[0])
                k = 1
            left = left[k:]
    # the pair's very first fill creates it (Python), then whole orders run, opening and
    # closing included; the last sell (3 against a 2 long) flips the pair at its fifth fill,
    # which takes the Python path, and its last fill adds to the short in a run again
    assert booked == [0, 5, 6, 6, 4, 0, 1]
    assert (run.cash, run.reserved, run.sym_qty, run.working, run.losses, run.states) == \
        (one.cash, one.reserved, one.sym_qty, one.working, one.losses, one.states)
    assert run.losses["s1"] >= 1          # losing round trips were closed in runs
    assert {k: (p.qty, p.avg, p.trade_pnl) for k, p in run.pairs.items()} == \
        {k: (p.qty, p.avg, p.trade_pnl) for k, p in one.pairs.items()}


def test_a_fill_run_with_a_torn_column_is_refused() -> None:
    core = RiskCore(SETUPS["limits"])
    push = bus.connect(zmq.PUSH, core.endpoint)
    try:
        two = np.array([1.0, 1.0]).tobytes()
        bad = FillRun("s1", "A/USDT", "s1-1", BUY, two, two, two[:12], two,
                      np.array([1, 2], "<i8").tobytes())
        push.send(encode_many([bad]))
        with pytest.raises(InvalidMessageError, match=r"FillRun.last_prices of 's1-1' holds "
                                                      r"12 bytes, not a multiple of 8"):
            core.serve()
    finally:
        push.close(0)
        core.close()


def test_a_wrong_decision_is_reported() -> None:
    # the execution side's view drifts (a position it never booked); the auditor, replaying
    # the real flow, decides differently and says which order
    setup = RiskSetup(RiskLimits(max_open_positions=1), 1_000.0, 5.0)
    core = RiskCore(setup)
    try:
        audited = AuditedRisk(setup, core.endpoint)
        audited.working["ghost-1"] = (("B/USDT", "ghost"), 5.0, 0.0)
        cmd = order("s1", "A/USDT", 1, BUY, 1.0, ts=10)
        assert audited.check(cmd, {"A/USDT": 100.0})[0] == 0.0
        audited.finish()
        report = core.serve()
    finally:
        core.close()
    assert report.mismatches == 1
    assert report.first_mismatch is not None
    assert "'s1-1'" in report.first_mismatch and "max_open_positions" in report.first_mismatch


def test_a_fill_run_with_uneven_columns_is_refused() -> None:
    core = RiskCore(SETUPS["limits"])
    push = bus.connect(zmq.PUSH, core.endpoint)
    try:
        bad = FillBatch(("s1", "s1"), ("A/USDT",), ("s1-1", "s1-1"), (BUY, BUY), (1.0, 1.0),
                        (1.0, 0.0), (100.0, 100.0), (0.1, 0.1), (1, 2))
        push.send(encode_many([bad]))
        with pytest.raises(InvalidMessageError, match="FillBatch columns differ in length "
                                                      r"\(strategy_ids 2, symbols 1"):
            core.serve()
    finally:
        push.close(0)
        core.close()
