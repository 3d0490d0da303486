"""Reconciliation after a restart: what the journal says against what the exchange says.

:func:`reconcile` is pure: it reads a rebuilt :class:`JournalState` and an
:class:`ExchangeSnapshot` (what the restarted actor fetched) and returns the venue events that
happened while the actor was down, the orders to send again, and every disagreement it cannot
explain. It never changes the state: the caller journals the events (then passes them on, like
any venue event) and shows the disagreements to a human.

What the venue adapter must put in the snapshot: every order the journal holds open (pending-new,
working, partly filled), looked up by client order id whether or not it is still open (absent
means the exchange does not know it), plus the account's open orders; the fills of those orders
since the journal's cursor, with trade ids; and total balances (free + used) per asset.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

from engine.live.ids import is_ours
from engine.live.journal import PENDING_NEW, JournalState, OrderState
from engine.messages import (CancelOrder, OrderAccepted, OrderCanceled, OrderFilled,
                             OrderRejected, SubmitOrder)

# exchange order statuses, as ccxt unifies them
OPEN, CLOSED, CANCELED_AT_VENUE, EXPIRED, REJECTED_AT_VENUE = (
    "open", "closed", "canceled", "expired", "rejected")

RESEND, REJECT = "resend", "reject"
_QTY_EPS = 1e-9


class ExchangeOrder(NamedTuple):
    """An order as the exchange reports it. ``ts_event``: its creation time, ``ts_update``: its
    last change (ns)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: str
    status: str
    quantity: float
    filled_qty: float
    ts_event: int
    ts_update: int


class ExchangeFill(NamedTuple):
    """One of our fills as the exchange reports it."""

    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    liquidity: str
    ts_event: int
    fee_qty: float = 0.0    # the part of qty kept as the fee, in the base asset


class ExchangeSnapshot(NamedTuple):
    """What a restarted actor fetched from one venue at ``ts`` (ns)."""

    venue: str
    orders: tuple[ExchangeOrder, ...]
    fills: tuple[ExchangeFill, ...]
    balances: Mapping[str, float]
    ts: int


class Disagreement(NamedTuple):
    """Something journal and exchange disagree on that reconciliation will not decide.
    ``kind``: ``balance``, ``unknown_order``, ``unknown_fill``, ``missing_fills``,
    ``order_missing`` or ``status``; ``subject`` is a client order id or an asset."""

    kind: str
    subject: str
    detail: str
    journal: float | str | None = None
    exchange: float | str | None = None


class Reconciliation(NamedTuple):
    """What to do after a restart: journal and pass on ``events`` in order, send ``resend``
    again (same client order ids), cancel ``recancel`` again, show ``disagreements``."""

    events: tuple[Any, ...]
    resend: tuple[SubmitOrder, ...]
    recancel: tuple[CancelOrder, ...]
    disagreements: tuple[Disagreement, ...]


def reconcile(state: JournalState, exchange: ExchangeSnapshot, *,
              missing_pending: str = RESEND, quote_asset: str = "USDT",
              baseline: Mapping[str, float] | None = None,
              tolerance: float = 1e-6) -> Reconciliation:
    """Compare a rebuilt journal with an exchange snapshot.

    A pending-new order the exchange does not have is sent again with its client order id
    (``missing_pending="resend"``) or rejected (``"reject"``). Balances are compared after the
    events are applied: the quote asset against cash, each base asset against the net position,
    both plus ``baseline`` (what the account holds that the run does not own), within
    ``tolerance`` (absolute, plus the same relative).
    """
    if missing_pending not in (RESEND, REJECT):
        raise ValueError(f"missing_pending must be {RESEND!r} or {REJECT!r}, "
                         f"got {missing_pending!r}")
    venue = exchange.venue
    by_coid = {o.client_order_id: o for o in exchange.orders}
    fills_by_coid: dict[str, list[ExchangeFill]] = {}
    for f in sorted(exchange.fills, key=lambda f: (f.ts_event, f.trade_id)):
        fills_by_coid.setdefault(f.client_order_id, []).append(f)

    keyed: list[tuple[tuple[int, int, str, str], Any]] = []   # (ts, rank, trade id, coid)
    resend: list[SubmitOrder] = []
    recancel: list[CancelOrder] = []
    disagreements: list[Disagreement] = []

    for coid, order in state.orders.items():
        cmd = order.command
        if cmd.venue != venue:
            continue
        ex = by_coid.get(coid)
        new_fills = _new_fills(order, fills_by_coid.get(coid, ()))
        if not order.is_open:
            if ex is not None and ex.status == OPEN:
                disagreements.append(Disagreement(
                    "status", coid, "journal has it closed, exchange has it open",
                    order.status, ex.status))
            if new_fills:
                disagreements.append(Disagreement(
                    "unknown_fill", coid, f"fills {[f.trade_id for f in new_fills]} for an "
                    f"order the journal has {order.status.lower()}"))
            continue
        if ex is None and not new_fills:
            if order.status == PENDING_NEW:
                if missing_pending == RESEND:
                    resend.append(cmd)
                else:
                    keyed.append(((exchange.ts, 3, "", coid), OrderRejected(
                        cmd.strategy_id, venue, cmd.symbol, coid,
                        "not_at_venue: never reached the exchange before the restart",
                        exchange.ts, exchange.ts)))
            else:
                disagreements.append(Disagreement(
                    "order_missing", coid, "journal has it working, exchange does not know it",
                    order.status, None))
            continue

        venue_order_id = ex.venue_order_id if ex else new_fills[0].venue_order_id
        first_ts = min(([ex.ts_event] if ex else []) + [f.ts_event for f in new_fills[:1]])
        if order.status == PENDING_NEW and not (ex and ex.status == REJECTED_AT_VENUE):
            keyed.append(((first_ts, 0, "", coid), OrderAccepted(
                cmd.strategy_id, venue, cmd.symbol, coid, venue_order_id, first_ts,
                exchange.ts)))
        cum = order.filled_qty
        for f in new_fills:
            cum += f.qty
            keyed.append(((f.ts_event, 1, f.trade_id, coid), OrderFilled(
                cmd.strategy_id, venue, cmd.symbol, coid, f.venue_order_id, f.trade_id,
                cmd.side, f.qty, f.price, cum, max(cmd.quantity - cum, 0.0), f.liquidity, f.fee,
                0.0, f.ts_event, exchange.ts, f.fee_qty)))
        last_ts = max(([ex.ts_update] if ex else []) + [f.ts_event for f in new_fills])
        if ex is None:
            continue
        fills_missing = ex.filled_qty > cum + _QTY_EPS
        if fills_missing:
            disagreements.append(Disagreement(
                "missing_fills", coid, "exchange reports more filled than the fills known "
                "(fetch older trades)", cum, ex.filled_qty))
        elif ex.filled_qty < cum - _QTY_EPS:
            disagreements.append(Disagreement(
                "status", coid, "journal has more filled than the exchange reports", cum,
                ex.filled_qty))
        if ex.status in (CANCELED_AT_VENUE, EXPIRED) and cmd.quantity - cum > _QTY_EPS:
            keyed.append(((last_ts, 2, "", coid), OrderCanceled(
                cmd.strategy_id, venue, cmd.symbol, coid,
                f"{ex.status}_at_venue: while the actor was down", last_ts, exchange.ts)))
        elif ex.status == REJECTED_AT_VENUE and order.status == PENDING_NEW:
            keyed.append(((last_ts, 3, "", coid), OrderRejected(
                cmd.strategy_id, venue, cmd.symbol, coid, "rejected_at_venue", last_ts,
                exchange.ts)))
        elif ex.status == OPEN and order.cancel_requested:
            recancel.append(CancelOrder(cmd.strategy_id, venue, cmd.symbol, coid,
                                        exchange.ts, exchange.ts))
        elif ex.status == CLOSED and cmd.quantity - cum > _QTY_EPS and not fills_missing:
            disagreements.append(Disagreement(
                "missing_fills", coid, "exchange has it closed, not all fills are known",
                cum, cmd.quantity))

    known = state.orders
    for ex in exchange.orders:
        if ex.client_order_id not in known and is_ours(ex.client_order_id, state.run_id):
            disagreements.append(Disagreement(
                "unknown_order", ex.client_order_id, f"exchange has an order of this run "
                f"({ex.status}, {ex.side} {ex.quantity} {ex.symbol}) the journal never saw"))
    for f in exchange.fills:
        if f.client_order_id not in known and is_ours(f.client_order_id, state.run_id):
            disagreements.append(Disagreement(
                "unknown_fill", f.client_order_id, f"fill {f.trade_id} of an order of this run "
                f"the journal never saw"))

    events = tuple(event for _, event in sorted(keyed, key=lambda k: k[0]))
    disagreements += _balances(state, events, exchange, quote_asset, baseline or {}, tolerance)
    return Reconciliation(events, tuple(resend), tuple(recancel), tuple(disagreements))


def _new_fills(order: OrderState, fills: Any) -> list[ExchangeFill]:
    """The exchange's fills of ``order`` the journal does not have, each once."""
    seen = set(order.trade_ids)
    out = []
    for f in fills:
        if f.trade_id not in seen:
            seen.add(f.trade_id)
            out.append(f)
    return out


def _balances(state: JournalState, events: tuple[Any, ...], exchange: ExchangeSnapshot,
              quote_asset: str, baseline: Mapping[str, float],
              tolerance: float) -> list[Disagreement]:
    portfolio = copy.deepcopy(state.portfolio)   # the state is the caller's: never changed
    for event in events:
        if type(event) is OrderFilled:
            portfolio.apply_fill(event)
    expected = {quote_asset: portfolio.cash}
    for symbol, qty in portfolio.net_qty.items():
        base = symbol.split("/")[0]
        expected[base] = expected.get(base, 0.0) + qty
    out = []
    for asset in sorted(expected.keys() | baseline.keys()):
        want = expected.get(asset, 0.0) + baseline.get(asset, 0.0)
        have = float(exchange.balances.get(asset, 0.0))
        if abs(have - want) > tolerance * (1.0 + abs(want)):
            out.append(Disagreement("balance", asset, "exchange balance differs from the "
                                    "journal's after reconciliation", want, have))
    return out
