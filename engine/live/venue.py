"""The exchange as the engine's venue in a live session: the engine submits and cancels as it
does against the simulated venue, and sees its working orders the same way; the orders go to
the exchange through :class:`~engine.live.executor.CcxtExecutor`, and the exchange's answers
and fills come back as the engine's events.

Everything runs on one asyncio loop: market events, the executor's requests and the fills
it books interleave without threads, so the engine's state is never touched concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from engine.live.executor import CcxtExecutor
from engine.messages import (CancelOrder, OrderAccepted, OrderCanceled, OrderDenied,
                             OrderFilled, OrderRejected, SubmitOrder)
from engine.venue import Order


class ExchangeVenue:
    """The engine's venue interface (submit, cancel, the working books) in front of an
    exchange."""

    def __init__(self, executor: CcxtExecutor) -> None:
        self.executor = executor
        self.working: dict[str, list[Order]] = {}
        self.orders: dict[str, Order] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.errors: list[BaseException] = []
        # what the engine sets on a venue (a spot account's guards: the exchange keeps its own)
        self.cash_available: Callable[[], float] | None = None
        self.position: Callable[[str, str], float] | None = None
        self.mark: Callable[[str], float] | None = None
        self.on_event: Callable[[Any], None] = lambda event: None
        self.on_fill: Callable[[OrderFilled], None] = lambda event: None
        executor.emit = self._answer

    def add_symbol(self, symbol: str) -> None:
        self.working.setdefault(symbol, [])

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.errors.append(t.exception())   # type: ignore[arg-type]
        task.add_done_callback(done)

    def submit(self, cmd: SubmitOrder) -> Order | None:
        order = Order(cmd, "", cmd.ts_event)
        self.orders[cmd.client_order_id] = order
        self.working.setdefault(cmd.symbol, []).append(order)
        self._spawn(self.executor.submit(cmd))
        return order

    def cancel(self, strategy_id: str, client_order_id: str, ts_event: int) -> None:
        order = self.orders.get(client_order_id)
        if order is None or order.closed or order.cancel_ns is not None:
            return
        order.cancel_ns = ts_event
        self._spawn(self.executor.cancel(CancelOrder(strategy_id, order.command.venue,
                                                     order.symbol, client_order_id, ts_event,
                                                     ts_event)))

    def cancel_now(self, order: Order, ts_event: int, reason: str) -> None:
        self.cancel(order.strategy_id, order.client_order_id, ts_event)

    # the exchange matches: market events move nothing here
    def on_bar(self, *args: Any) -> None:
        pass

    def on_trade(self, *args: Any) -> None:
        pass

    def on_quote(self, *args: Any) -> None:
        pass

    def _close(self, order: Order) -> None:
        order.closed = True
        book = self.working.get(order.symbol, [])
        if order in book:
            book.remove(order)

    def _answer(self, event: Any) -> None:
        """An answer from the exchange, into the engine (and the working book)."""
        order = self.orders.get(event.client_order_id)
        cls = type(event)
        if cls is OrderFilled:
            if order is not None:
                order.filled_qty = event.cum_qty
                order.notional += event.last_qty * event.last_price
                if event.leaves_qty <= 1e-12:
                    self._close(order)
            self.on_fill(event)
            return
        if cls is OrderAccepted:
            if order is not None:
                order.venue_order_id = event.venue_order_id
        elif cls in (OrderCanceled, OrderRejected, OrderDenied) and order is not None:
            self._close(order)
        self.on_event(event)

    async def drain(self) -> None:
        """Wait for the requests in flight."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


__all__ = ["ExchangeVenue"]
