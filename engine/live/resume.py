"""Resuming a live session from its journal: the engine's account rebuilt from what was
journaled, then reconciled with the exchange (``engine.live.reconcile``): fills and cancels
that happened while the session was down are journaled and booked, orders still working are
tracked again, and nothing is sent twice.

The order of things matters and is the same every time: rebuild from the journal; ask the
exchange about every order the journal has open or pending (by client order id, so "absent"
means the exchange said so) and for our trades on each symbol since the session began; build
the reconciliation; journal its events, then apply them; hand the working orders back to the
executor and the venue. Disagreements (a balance, an order the journal never saw) are kept for
the report, never fixed silently.
"""

from __future__ import annotations

import functools
from typing import Any

import ccxt

from engine.live.journal import Journal, JournalState
from engine.live.executor import ask_patiently
from engine.live.orders import fee_parts
from engine.live.reconcile import ExchangeFill, ExchangeOrder, ExchangeSnapshot, Reconciliation
from engine.messages import (BUY, MAKER, SELL, TAKER, OrderCanceled, OrderDenied, OrderFilled,
                             OrderRejected, SubmitOrder)
from engine.venue import Order

_MS = 1_000_000


async def exchange_snapshot(exchange: Any, state: JournalState, venue: str,
                            symbols: list[str], since_ms: int | None) -> ExchangeSnapshot:
    """What the exchange says now about the journal's open and pending orders, and our
    trades on ``symbols`` since ``since_ms``."""
    orders = []
    by_venue_id: dict[str, str] = {o.venue_order_id: c for c, o in state.orders.items()
                                   if o.venue_order_id}
    for coid, order in state.orders.items():
        if not order.is_open:
            continue
        try:
            found = await ask_patiently(exchange, "fetch_order", functools.partial(
                exchange.fetch_order, None, order.command.symbol, {"clientOrderId": coid}))
        except ccxt.OrderNotFound:
            continue
        by_venue_id[str(found["id"])] = coid
        orders.append(ExchangeOrder(coid, str(found["id"]), order.command.symbol,
                                    BUY if found["side"] == "buy" else SELL,
                                    str(found["status"]), float(found["amount"]),
                                    float(found.get("filled") or 0.0),
                                    int(found.get("timestamp") or 0) * _MS,
                                    int(found.get("lastUpdateTimestamp")
                                        or found.get("timestamp") or 0) * _MS))
    fills = []
    for symbol in symbols:
        for trade in await ask_patiently(exchange, "fetch_my_trades", functools.partial(
                exchange.fetch_my_trades, symbol, since_ms)):
            owner = by_venue_id.get(str(trade.get("order")))
            if owner is None:
                continue
            cost, fee_qty, _ = fee_parts(trade, exchange.markets.get(symbol) or {})
            fills.append(ExchangeFill(owner, str(trade.get("order")), str(trade["id"]), symbol,
                                      BUY if trade["side"] == "buy" else SELL,
                                      float(trade["amount"]), float(trade["price"]), cost,
                                      MAKER if trade.get("takerOrMaker") == "maker" else TAKER,
                                      int(trade["timestamp"]) * _MS, fee_qty))
    balance = await ask_patiently(exchange, "fetch_balance", exchange.fetch_balance)
    totals = {asset: float(v) for asset, v in (balance.get("total") or {}).items()
              if v is not None}
    return ExchangeSnapshot(venue, tuple(orders), tuple(fills), totals,
                            int(exchange.milliseconds()) * _MS)


def rebuild_engine(engine: Any, journal: Journal, state: JournalState) -> None:
    """The engine's account as the journal left it: the portfolio, the risk engine's view
    (every approved order and answer replayed in journal order, a fill journaled twice
    applied once) and each strategy's position."""
    engine.portfolio = state.portfolio
    risk = engine.risk
    seen: set[tuple[str, str]] = set()
    for entry in journal.records():
        record = entry.record
        cls = type(record)
        if cls is SubmitOrder:
            risk.on_approved(record)
        elif cls is OrderFilled:
            key = (record.client_order_id, record.trade_id)
            if key not in seen:
                seen.add(key)
                risk.on_event(record)
        elif cls in (OrderCanceled, OrderRejected, OrderDenied):
            risk.on_event(record)
    for ctx in engine.contexts:
        pos = engine.portfolio.positions.get((ctx.symbol, ctx.strategy_id))
        if pos is not None:
            ctx.position, ctx.avg_price = pos.qty, pos.avg_price


def apply_reconciliation(engine: Any, journal: Journal, executor: Any, venue: Any,
                         state: JournalState, rec: Reconciliation) -> None:
    """Journal and book what happened while the session was down, then track the orders
    still working (under their exchange ids, which the engine's strategies see as theirs)."""
    seen = {(o.client_order_id, t) for o in state.orders.values() for t in o.trade_ids}
    for event in rec.events:
        journal.append(event)
        cls = type(event)
        if cls is OrderFilled:
            if (event.client_order_id, event.trade_id) in seen:
                continue
            seen.add((event.client_order_id, event.trade_id))
            engine.risk.on_event(event)
            # the state's portfolio is the engine's (rebuild_engine): this books the fill
            state.apply(journal.last_seq(), event)
        elif cls in (OrderCanceled, OrderRejected, OrderDenied):
            engine.risk.on_event(event)
            state.apply(journal.last_seq(), event)
    for ctx in engine.contexts:
        pos = engine.portfolio.positions.get((ctx.symbol, ctx.strategy_id))
        if pos is not None:
            ctx.position, ctx.avg_price = pos.qty, pos.avg_price
    for coid, order in state.orders.items():
        if not order.is_open:
            continue
        executor.adopt(order.command, order.venue_order_id, order.filled_qty, order.trade_ids)
        working = Order(order.command, order.venue_order_id, order.command.ts_event)
        working.filled_qty = order.filled_qty
        venue.orders[coid] = working
        venue.working.setdefault(order.command.symbol, []).append(working)


__all__ = ["apply_reconciliation", "exchange_snapshot", "rebuild_engine"]
