"""The ccxt venue's order path: places and cancels the engine's orders on one exchange through
ccxt's async client, and turns the exchange's trades into the engine's fills.

Nothing is placed twice:

- Every order goes out under the journal's next client order id for its (strategy, symbol)
  (``engine.live.ids``: derived from the run and a sequence committed before use), so a resend
  after a timeout carries the same id, a restart never reuses one, and the exchange refuses a
  duplicate.
- The command is written to the journal (under that id) before it is sent, and every answer
  before it is passed on; the engine keeps its own ids, the executor maps between them.
- A failure that may have left the order on the exchange (a timeout, a dropped connection, a
  rate limit) is never answered by sending again blindly: the executor first asks the exchange
  whether an order with that client id exists, and sends only if it does not.
- Fills are keyed by the exchange's trade id: a trade reported twice (a duplicate
  acknowledgement, a reconnect that replays, a poll after a websocket update) is booked once.

Errors map to the engine's events (``engine.live.orders.classify``): the account cannot afford
it, an ``OrderDenied``; the order is wrong, an ``OrderRejected``; credentials or permissions,
:class:`ExchangeRefused`, which stops the session (a retry would only be a storm of
refusals).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import ccxt

from engine.errors import RaytraderError
from engine.live.orders import (Outcome, RequestBudget, classify, fee_parts, prepare_order,
                                reason_of, retry_after)
from engine.messages import (BUY, MAKER, SELL, TAKER, CancelOrder, OrderAccepted, OrderCanceled,
                             OrderDenied, OrderFilled, OrderRejected, SubmitOrder)


T = TypeVar("T")


class Journal(Protocol):
    """What the executor needs of the journal (``engine.live.journal.Journal``): records
    written (and committed) in order, and the run's next client order id of a (strategy,
    symbol), committed before it is handed out so a restart never hands it out again."""

    def append(self, record: Any) -> int: ...

    def next_client_order_id(self, strategy_id: str, symbol: str) -> str: ...


class ExchangeRefused(RaytraderError, RuntimeError):
    """The exchange refuses this session itself (a wrong key or signature, no permission):
    no order can succeed, so the session stops, naming the exchange and the call."""


def keep_error_headers(exchange: Any) -> Any:
    """Make every error ``exchange`` (a ccxt client) raises for an HTTP answer carry that
    answer's headers (``exc.response_headers``). ccxt keeps only the last response's headers
    on the client, and with requests in flight together another answer can replace them
    before the error is raised: a 418's ``Retry-After`` would be lost and the ban guessed."""
    original = exchange.handle_errors

    def handle_errors(code: int, reason: str, url: str, method: str, headers: Any,
                      *rest: Any) -> Any:
        try:
            return original(code, reason, url, method, headers, *rest)
        except Exception as exc:
            exc.response_headers = dict(headers or {})   # type: ignore[attr-defined]
            raise

    exchange.handle_errors = handle_errors
    return exchange


def wait_after(exchange: Any, exc: BaseException, attempt: int) -> float:
    """How long to hold requests after ``exc`` (the ``attempt``-th failure in a row): what
    the exchange asked in its ``Retry-After`` header when it said (at least 0.1 s doubling
    per attempt), else ``retry_after``'s backoff. The header is the failed answer's own
    (:func:`keep_error_headers`), or else the client's last."""
    headers = getattr(exc, "response_headers", None)
    if headers is None:
        headers = getattr(exchange, "last_response_headers", None) or {}
    asked = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    try:
        if asked is not None:
            # at least a short backoff, doubling: a "Retry-After: 0" met again and again
            # must not become a storm
            return max(float(asked), min(0.1 * 2 ** attempt, 10.0))
    except (TypeError, ValueError):
        pass
    return retry_after(exc, attempt)


async def ask_patiently(exchange: Any, what: str, call: Callable[[], Awaitable[T]],
                        attempts: int = 8) -> T:
    """``call()`` (a question to the exchange, which never places anything) asked again
    after a rate limit or a network error, waiting what the exchange asked; a refusal of
    the credentials is :class:`ExchangeRefused`; other errors (an unknown order) are the
    caller's. After ``attempts`` failures, :class:`ExchangeRefused` naming the call."""
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:
            outcome = classify(exc)
            if outcome is Outcome.FATAL:
                raise ExchangeRefused(reason_of(exc, exchange.id, what)) from None
            if outcome is not Outcome.RETRY:
                raise
            await asyncio.sleep(wait_after(exchange, exc, attempt))
    raise ExchangeRefused(f"exchange_unavailable: {exchange.id} {what}: no answer after "
                          f"{attempts} attempts")


def _brief(exc: BaseException | None) -> str:
    """An error in one line, as an exchange's message may run long."""
    return "none" if exc is None else f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


class _Order:
    __slots__ = ("closing", "cmd", "exchange_id", "filled", "ours", "placed", "trades")

    def __init__(self, cmd: SubmitOrder, ours: str) -> None:
        self.cmd = cmd
        self.ours = ours                  # the client order id on the exchange
        self.exchange_id: str | None = None
        self.filled = 0.0
        self.trades: set[str] = set()
        # set once the submit has its answer (accepted, rejected, denied): a cancel waits
        # for it, or it could reach the exchange before the order and be told "unknown"
        self.placed = asyncio.Event()
        # (filled on the exchange, how it ended): an end waiting for its last fills
        self.closing: tuple[float, str] | None = None


class CcxtExecutor:
    """Places, cancels and tracks one exchange's orders for the engine."""

    def __init__(self, exchange: Any, run_id: str, journal: Journal,
                 emit: Callable[[Any], None], *, budget: RequestBudget | None = None,
                 max_attempts: int = 8, venue: str | None = None,
                 mark: Callable[[str], float | None] | None = None) -> None:
        self.exchange = exchange
        self.run_id = run_id
        self.journal = journal
        self.emit = emit
        self.budget = budget if budget is not None else RequestBudget.of(exchange)
        self.max_attempts = max_attempts
        self.venue = venue or exchange.id
        self.mark = mark or (lambda symbol: None)
        self.orders: dict[str, _Order] = {}          # engine client order id -> order
        self._by_exchange_id: dict[str, _Order] = {}
        self._by_ours: dict[str, _Order] = {}
        self.resends = 0          # orders sent again after asking the exchange
        # fees paid in a third coin (BNB on Binance): not in the quote books, reported
        self.foreign_fees: list[tuple[str, str, float]] = []
        self.retries = 0

    # --- events: journaled, then passed on ------------------------------------------------

    def _event(self, event: Any) -> None:
        """Journal ``event`` under the exchange's client order id, then pass it on under the
        engine's."""
        order = self.orders.get(event.client_order_id)
        if order is not None:
            self.journal.append(event._replace(client_order_id=order.ours))
        else:
            self.journal.append(event)
        self.emit(event)

    def _wait(self, exc: BaseException, attempt: int) -> float:
        return wait_after(self.exchange, exc, attempt)

    def _now(self) -> int:
        return int(self.exchange.milliseconds()) * 1_000_000

    def adopt(self, cmd: SubmitOrder, exchange_id: str, filled: float,
              trade_ids: set[str]) -> None:
        """Track an order a previous run of this session placed (resumed from the journal):
        under its exchange client id, which is also its id for the engine now."""
        order = _Order(cmd, cmd.client_order_id)
        order.placed.set()
        order.exchange_id = exchange_id or None
        order.filled = filled
        order.trades = set(trade_ids)
        self.orders[cmd.client_order_id] = order
        self._by_ours[cmd.client_order_id] = order
        if exchange_id:
            self._by_exchange_id[exchange_id] = order

    # --- placing ----------------------------------------------------------------------------

    async def submit(self, cmd: SubmitOrder) -> None:
        """Place ``cmd`` (approved by the risk engine): rejected before sending if the market
        would refuse it; otherwise sent, and resent after a transient failure only when the
        exchange has no order under its id."""
        ours = self.journal.next_client_order_id(cmd.strategy_id, cmd.symbol)
        order = _Order(cmd, ours)
        self.orders[cmd.client_order_id] = order
        self._by_ours[ours] = order
        try:
            await self._place(order)
        finally:
            order.placed.set()

    async def resend(self, client_order_id: str) -> None:
        """Send again, under its own client id, an adopted order a previous run journaled but
        the exchange never received (it said so when asked): the same id, so should the
        first attempt surface after all, the exchange refuses the second."""
        order = self.orders[client_order_id]
        order.placed.clear()
        try:
            await self._place(order, journaled=True)
        finally:
            order.placed.set()

    async def _place(self, order: _Order, journaled: bool = False) -> None:
        cmd, ours = order.cmd, order.ours
        if not journaled:
            # the command, under the id it carries on the exchange, before anything leaves
            self.journal.append(cmd._replace(client_order_id=ours))
        prepared = prepare_order(self.exchange, cmd, ours, self.mark(cmd.symbol))
        if isinstance(prepared, str):
            self._reject(cmd, prepared)
            return
        for attempt in range(self.max_attempts):
            await self.budget.take()
            try:
                placed = await self.exchange.create_order(
                    prepared.symbol, prepared.type, prepared.side, prepared.amount,
                    prepared.price, dict(prepared.params))
            except Exception as exc:   # ccxt's errors, sorted below; anything else is fatal
                outcome = classify(exc)
                if outcome is Outcome.FATAL:
                    raise ExchangeRefused(reason_of(exc, self.exchange.id, "create_order")) \
                        from None
                if outcome is Outcome.DENIED:
                    self._event(OrderDenied(cmd.strategy_id, self.venue, cmd.symbol,
                                            cmd.client_order_id,
                                            reason_of(exc, self.exchange.id, "create_order"),
                                            self._now(), self._now()))
                    return
                if outcome is Outcome.REJECTED:
                    if "duplicate order" in str(exc).lower():
                        # an earlier attempt under this id got through after all: track it
                        found = await self._find(order)
                        if found is not None:
                            self._accepted(order, found)
                            return
                    self._reject(cmd, reason_of(exc, self.exchange.id, "create_order"))
                    return
                self.retries += 1
                self.budget.back_off(self._wait(exc, attempt))
                found = await self._find(order)
                if found is not None:   # it went through: never send it again
                    self._accepted(order, found)
                    return
                self.resends += 1
                continue
            self._accepted(order, placed)
            return
        self._reject(cmd, f"exchange_unavailable: {self.exchange.id} create_order: no answer "
                          f"after {self.max_attempts} attempts")

    async def _find(self, order: _Order) -> dict[str, Any] | None:
        """The exchange's order under our client id, or None when it has none. Asked until
        the exchange answers (a question never places anything)."""
        last: BaseException | None = None
        for attempt in range(self.max_attempts):
            await self.budget.take()
            try:
                found: dict[str, Any] = await self.exchange.fetch_order(
                    None, order.cmd.symbol, {"clientOrderId": order.ours})
                return found
            except ccxt.OrderNotFound:
                return None
            except Exception as exc:
                outcome = classify(exc)
                if outcome is Outcome.FATAL:
                    raise ExchangeRefused(reason_of(exc, self.exchange.id, "fetch_order")) \
                        from None
                if outcome is not Outcome.RETRY:
                    return None
                last = exc
                self.budget.back_off(self._wait(exc, attempt))
        raise ExchangeRefused(f"exchange_unavailable: {self.exchange.id} fetch_order: no "
                              f"answer about {order.ours} after {self.max_attempts} attempts "
                              f"(the last: {_brief(last)}); not sending it again unasked")

    def _accepted(self, order: _Order, placed: dict[str, Any]) -> None:
        exchange_id = str(placed.get("id"))
        order.exchange_id = exchange_id
        self._by_exchange_id[exchange_id] = order
        cmd = order.cmd
        self._event(OrderAccepted(cmd.strategy_id, self.venue, cmd.symbol, cmd.client_order_id,
                                  exchange_id, self._now(), self._now()))
        for trade in placed.get("trades") or ():
            self.on_trade(trade)

    def _reject(self, cmd: SubmitOrder, reason: str) -> None:
        self._event(OrderRejected(cmd.strategy_id, self.venue, cmd.symbol, cmd.client_order_id,
                                  reason, self._now(), self._now()))

    # --- canceling --------------------------------------------------------------------------

    async def cancel(self, cmd: CancelOrder) -> None:
        """Cancel an order; an order the exchange no longer has open is answered from what
        the exchange says of it (filled: its fills arrive as trades; canceled: canceled)."""
        order = self.orders.get(cmd.client_order_id)
        if order is None:
            self._event(OrderRejected(cmd.strategy_id, self.venue, cmd.symbol,
                                      cmd.client_order_id, "cancel rejected: unknown order",
                                      self._now(), self._now()))
            return
        self.journal.append(cmd._replace(client_order_id=order.ours))
        await order.placed.wait()
        if order.exchange_id is None:   # the exchange never took it: nothing to cancel
            self._event(OrderRejected(cmd.strategy_id, self.venue, cmd.symbol,
                                      cmd.client_order_id, "cancel rejected: order not working",
                                      self._now(), self._now()))
            return
        for attempt in range(self.max_attempts):
            await self.budget.take()
            try:
                answer = await self.exchange.cancel_order(order.exchange_id, cmd.symbol,
                                                          {"clientOrderId": order.ours})
            except ccxt.OrderNotFound:
                state = await self._find(order)
                if state is None:
                    self._canceled(order, "canceled")
                else:
                    how = "canceled" if state.get("status") in ("canceled", "expired",
                                                                "rejected") else "filled"
                    await self._close_when_booked(order, state, how)
                return
            except Exception as exc:
                outcome = classify(exc)
                if outcome is Outcome.FATAL:
                    raise ExchangeRefused(reason_of(exc, self.exchange.id, "cancel_order")) \
                        from None
                if outcome is not Outcome.RETRY:
                    self._event(OrderRejected(cmd.strategy_id, self.venue, cmd.symbol,
                                              cmd.client_order_id,
                                              reason_of(exc, self.exchange.id, "cancel_order"),
                                              self._now(), self._now()))
                    return
                self.retries += 1
                self.budget.back_off(self._wait(exc, attempt))
                continue
            await self._close_when_booked(order, answer, "canceled")
            return
        raise ExchangeRefused(f"exchange_unavailable: {self.exchange.id} cancel_order: no "
                              f"answer after {self.max_attempts} attempts")

    async def _close_when_booked(self, order: _Order, state: dict[str, Any] | None,
                                 how: str) -> None:
        """End ``order`` (``how``: "canceled", or "filled" when a cancel came too late) once
        every trade the exchange's ``state`` of it counts is booked, so its fills always go
        before its end: asked for now when some are missing, and, if they are not listed
        yet, the end waits in ``order.closing`` for the fill that completes them."""
        filled = float((state or {}).get("filled") or 0.0)
        if filled > order.filled + 1e-12:
            await self.poll_fills(symbols=[order.cmd.symbol])
        if filled > order.filled + 1e-12:
            order.closing = (filled, how)
            return
        self._end(order, how)

    def _end(self, order: _Order, how: str) -> None:
        cmd = order.cmd
        if how == "canceled":
            self._canceled(order, "canceled")
        elif order.filled < cmd.quantity - 1e-12:   # filled, but not all booked yet
            order.closing = (cmd.quantity, how)
        else:   # filled (and booked): the cancel came too late, as on the simulator
            self._event(OrderRejected(cmd.strategy_id, self.venue, cmd.symbol,
                                      cmd.client_order_id,
                                      "cancel rejected: order already filled",
                                      self._now(), self._now()))

    def _canceled(self, order: _Order, reason: str) -> None:
        cmd = order.cmd
        self._event(OrderCanceled(cmd.strategy_id, self.venue, cmd.symbol, cmd.client_order_id,
                                  reason, self._now(), self._now()))

    # --- fills ------------------------------------------------------------------------------

    def on_trade(self, trade: dict[str, Any]) -> OrderFilled | None:
        """Book one of our trades (ccxt's unified trade, from ``watch_my_trades``,
        ``fetch_my_trades`` or an order's own trades) as an ``OrderFilled``; a trade already
        booked, or not of an order of this session, is ignored (None)."""
        order = self._by_exchange_id.get(str(trade.get("order")))
        if order is None:
            ours = (trade.get("info") or {}).get("clientOrderId") or trade.get("clientOrderId")
            order = self._by_ours.get(str(ours)) if ours else None
        if order is None:
            return None
        trade_id = str(trade.get("id"))
        if trade_id in order.trades:
            return None
        order.trades.add(trade_id)
        cmd = order.cmd
        qty = float(trade["amount"])
        price = float(trade["price"])
        order.filled = min(cmd.quantity, order.filled + qty)
        leaves = max(cmd.quantity - order.filled, 0.0)
        if leaves <= 1e-12:
            leaves = 0.0
        fee_cost, fee_qty, foreign = fee_parts(trade, self.exchange.markets.get(cmd.symbol)
                                               or {})
        if foreign is not None:
            self.foreign_fees.append((trade_id, foreign,
                                      float((trade.get("fee") or {}).get("cost") or 0.0)))
        ts = int(trade.get("timestamp") or self.exchange.milliseconds()) * 1_000_000
        event = OrderFilled(cmd.strategy_id, self.venue, cmd.symbol, cmd.client_order_id,
                            order.exchange_id or "", trade_id, BUY if trade["side"] == "buy"
                            else SELL, qty, price, order.filled, leaves,
                            MAKER if trade.get("takerOrMaker") == "maker" else TAKER,
                            fee_cost, 0.0, ts, ts, fee_qty)
        self._event(event)
        if order.closing is not None and order.filled >= order.closing[0] - 1e-12:
            how = order.closing[1]
            order.closing = None
            self._end(order, how)
        return event

    async def poll_fills(self, since_ms: int | None = None, *, insist: bool = False,
                         symbols: list[str] | None = None) -> int:
        """Fetch our recent trades on every symbol with orders (the fallback to the websocket,
        and what a reconnect or a restart reads); returns how many were new. A transient
        failure (rate limit, network) skips the symbol until the next poll, or, with
        ``insist``, is retried up to ``max_attempts`` times before giving up loudly."""
        if symbols is None:
            symbols = sorted({o.cmd.symbol for o in self.orders.values()})
        booked = 0
        for symbol in symbols:
            trades = await self._my_trades(symbol, since_ms, insist)
            if trades is None:
                continue
            for trade in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t["id"]))):
                if self.on_trade(trade) is not None:
                    booked += 1
        return booked

    async def _my_trades(self, symbol: str, since_ms: int | None,
                         insist: bool) -> list[dict[str, Any]] | None:
        for attempt in range(self.max_attempts if insist else 1):
            await self.budget.take()
            try:
                trades: list[dict[str, Any]] = await self.exchange.fetch_my_trades(symbol,
                                                                                  since_ms)
                return trades
            except Exception as exc:
                outcome = classify(exc)
                if outcome is Outcome.FATAL:
                    raise ExchangeRefused(reason_of(exc, self.exchange.id,
                                                    "fetch_my_trades")) from None
                if outcome is not Outcome.RETRY:
                    raise
                self.retries += 1
                self.budget.back_off(self._wait(exc, attempt))
        if insist:
            raise ExchangeRefused(f"exchange_unavailable: {self.exchange.id} fetch_my_trades: "
                                  f"no answer for {symbol} after {self.max_attempts} attempts")
        return None

    async def watch_fills(self, stop: asyncio.Event) -> None:
        """Book our trades as the exchange pushes them (ccxt.pro ``watch_my_trades``) until
        ``stop`` is set; after a dropped socket, polls what it missed, then watches again."""
        while not stop.is_set():
            try:
                trades = await self.exchange.watch_my_trades()
            except ccxt.NetworkError:
                await self.poll_fills()
                continue
            for trade in trades:
                self.on_trade(trade)


__all__ = ["CcxtExecutor", "ExchangeRefused", "Journal", "ask_patiently", "keep_error_headers",
           "wait_after"]
