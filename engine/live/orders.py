"""What stands between an order and an exchange through ccxt: the market's precision and limits
checked before anything is sent, the exchange's errors sorted into what they mean for the
order, and a request budget shared by everything that talks to one exchange.

- :func:`prepare_order` rounds an order's amount and price to the market's precision (as
  ccxt's ``amount_to_precision`` / ``price_to_precision`` do, the exchange's own rules) and
  checks the market's limits (amount, price, notional), naming the field and the limit that
  refused it: an order the exchange would reject is never sent.
- :func:`classify` sorts a ccxt exception into an :class:`Outcome`: a denial (the account
  cannot afford it: ``insufficient_buying_power``), a rejection (the order itself is wrong),
  a retry (the network, the exchange's load, its rate limit: safe to try again only after
  asking whether the order exists), or fatal (keys, permissions: retrying would only be a
  storm of refusals).
- :class:`RequestBudget` spaces requests to one exchange so that every caller together keeps
  within its rate limit, and backs off for the time the exchange asks after a 429 or 418.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import math
import re
import time
from typing import Any

import ccxt

from engine.messages import BUY, LIMIT, MARKET, STOP, STOP_LIMIT, SubmitOrder


class Outcome(enum.Enum):
    """What an exchange's error means for the order that met it."""

    DENIED = "denied"        # the account cannot: OrderDenied, not resent
    REJECTED = "rejected"    # the order is wrong: OrderRejected, not resent
    RETRY = "retry"          # transient: ask whether it exists, then resend the same order
    FATAL = "fatal"          # credentials or permissions: stop, no retry storm


# most specific first: ccxt's classes derive from each other (OrderNotFound is an
# InvalidOrder, RateLimitExceeded a NetworkError, PermissionDenied an AuthenticationError)
_OUTCOMES: tuple[tuple[type[BaseException], Outcome], ...] = (
    (ccxt.InsufficientFunds, Outcome.DENIED),
    (ccxt.AccountSuspended, Outcome.FATAL),
    (ccxt.PermissionDenied, Outcome.FATAL),
    (ccxt.AuthenticationError, Outcome.FATAL),
    (ccxt.InvalidNonce, Outcome.RETRY),      # a clock skew the next request may not have
    (ccxt.RequestTimeout, Outcome.RETRY),
    (ccxt.RateLimitExceeded, Outcome.RETRY),
    (ccxt.DDoSProtection, Outcome.RETRY),
    (ccxt.OnMaintenance, Outcome.RETRY),
    (ccxt.ExchangeNotAvailable, Outcome.RETRY),
    (ccxt.NetworkError, Outcome.RETRY),
    (ccxt.BadSymbol, Outcome.REJECTED),
    (ccxt.InvalidOrder, Outcome.REJECTED),
    (ccxt.OperationRejected, Outcome.REJECTED),
    (ccxt.BadRequest, Outcome.REJECTED),
    (ccxt.NotSupported, Outcome.REJECTED),
    (ccxt.ExchangeError, Outcome.REJECTED),
)


def classify(exc: BaseException) -> Outcome:
    """What ``exc`` (raised by a ccxt call placing or canceling an order) means. Anything
    ccxt does not know (a bug, a protocol surprise) is fatal: guessing could place an order
    twice."""
    for cls, outcome in _OUTCOMES:
        if isinstance(exc, cls):
            return outcome
    return Outcome.FATAL


def reason_of(exc: BaseException, exchange_id: str, call: str) -> str:
    """A one-line reason for an event: the code the outcome stands for, the exchange, the
    call and the exchange's own message (never the request, which carries the signature)."""
    outcome = classify(exc)
    code = {Outcome.DENIED: "insufficient_buying_power", Outcome.REJECTED: "exchange_rejected",
            Outcome.RETRY: "exchange_unavailable", Outcome.FATAL: "exchange_refused"}[outcome]
    message = " ".join(str(exc).split())[:300]
    return f"{code}: {exchange_id} {call}: {type(exc).__name__}: {message}"


@dataclasses.dataclass(frozen=True)
class Prepared:
    """An order as the exchange will take it: ccxt's type and side, the amount and price
    rounded to the market's precision, and ccxt's params (the client order id, the stop)."""

    symbol: str
    type: str
    side: str
    amount: float
    price: float | None
    params: dict[str, Any]


def prepare_order(exchange: Any, cmd: SubmitOrder, client_order_id: str,
                  mark: float | None = None) -> Prepared | str:
    """``cmd`` ready for ``exchange.create_order`` (markets loaded), or why the exchange
    would refuse it: the field, the value and the market's limit. ``mark`` prices a market
    order for the notional check (the last price seen)."""
    symbol = cmd.symbol
    if symbol not in exchange.markets:
        return f"exchange_rejected: {exchange.id} has no market {symbol!r}"
    market = exchange.market(symbol)
    kind = cmd.order_type
    if kind not in (MARKET, LIMIT, STOP, STOP_LIMIT):
        return f"exchange_rejected: {kind} orders are not sent to {exchange.id}; the engine " \
               f"keeps them itself"
    params: dict[str, Any] = {"clientOrderId": client_order_id}
    try:
        amount = float(exchange.amount_to_precision(symbol, cmd.quantity))
    except (ccxt.BaseError, TypeError, ValueError) as exc:   # e.g. below the precision step
        return f"exchange_rejected: amount {cmd.quantity!r} for {symbol}: {exc}"
    price: float | None = None
    if cmd.limit_price is not None:
        price = float(exchange.price_to_precision(symbol, cmd.limit_price))
    if cmd.stop_price is not None:
        params["triggerPrice"] = float(exchange.price_to_precision(symbol, cmd.stop_price))
    if cmd.post_only:
        params["postOnly"] = True
    if cmd.reduce_only and market.get("contract"):
        params["reduceOnly"] = True
    limits = market.get("limits") or {}
    problem = _within(limits.get("amount"), amount, "amount", symbol)
    if problem is None and price is not None:
        problem = _within(limits.get("price"), price, "price", symbol)
    reference = price if price is not None else (cmd.stop_price or mark)
    if problem is None and reference is not None and math.isfinite(reference):
        problem = _within(limits.get("cost"), amount * reference, "notional", symbol)
    if problem is not None:
        return problem
    ccxt_type = {MARKET: "market", LIMIT: "limit", STOP: "market", STOP_LIMIT: "limit"}[kind]
    return Prepared(symbol, ccxt_type, "buy" if cmd.side == BUY else "sell", amount, price,
                    params)


def _within(limit: dict[str, Any] | None, value: float, what: str, symbol: str) -> str | None:
    if not limit:
        return None
    low, high = limit.get("min"), limit.get("max")
    if low is not None and value < low:
        return (f"exchange_rejected: {what} {value:.10g} is below {symbol}'s minimum "
                f"{low:.10g}")
    if high is not None and value > high:
        return (f"exchange_rejected: {what} {value:.10g} is above {symbol}'s maximum "
                f"{high:.10g}")
    if value <= 0.0:
        return f"exchange_rejected: {what} {value:.10g} rounds to nothing on {symbol}"
    return None


class RequestBudget:
    """Requests to one exchange, spaced ``interval`` seconds apart (ccxt's ``rateLimit``, in
    ms, divided by 1000) across every caller sharing the budget, and held back entirely for
    as long as the exchange asked after a 429 (rate limit) or 418 (an IP ban for ignoring
    429s). Async: ``await budget.take()`` before each request."""

    def __init__(self, interval: float, clock: Any = time.monotonic) -> None:
        if not (interval >= 0.0 and math.isfinite(interval)):
            raise ValueError(f"request interval must be a finite number >= 0, got {interval!r}")
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()
        self.waited = 0.0          # seconds spent waiting, for the report

    @classmethod
    def of(cls, exchange: Any) -> RequestBudget:
        """The budget ccxt states for ``exchange`` (``rateLimit`` ms between requests)."""
        return cls(float(getattr(exchange, "rateLimit", 0) or 0) / 1000.0)

    async def take(self) -> None:
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            if wait > 0:
                self.waited += wait
                await asyncio.sleep(wait)
                now = self._clock()
            self._next = max(now, self._next) + self.interval

    def back_off(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (the exchange's Retry-After)."""
        self._next = max(self._next, self._clock() + max(seconds, 0.0))


def retry_after(exc: BaseException, attempt: int, base: float = 0.5, cap: float = 60.0) -> float:
    """How long to wait before the next attempt: what the exchange asked for when it said
    (a ``Retry-After`` in the message), else exponential backoff from ``base`` seconds,
    doubling per attempt, at most ``cap``; a 418 (an IP ban) waits the cap at least."""
    text = str(exc)
    asked = None
    marker = "Retry-After"
    if marker in text:
        tail = text.split(marker, 1)[1].lstrip(":= \"'")
        digits = ""
        for ch in tail:
            if ch.isdigit() or ch == ".":
                digits += ch
            else:
                break
        if digits:
            try:
                asked = float(digits)
            except ValueError:
                asked = None
    wait = asked if asked is not None else min(cap, base * (2 ** max(attempt, 0)))
    if is_ban(exc):
        wait = max(wait, cap)
    return wait


_BAN = re.compile(r"(?:^|\s)418(?:\s|$)")


def is_ban(exc: BaseException) -> bool:
    """Whether ``exc`` is an HTTP 418 (Binance's IP ban): ccxt's DDoSProtection whose
    message carries 418 as the status word ("binance 418 I'm a Teapot ..."), not as digits
    inside a URL, a timestamp or a signature."""
    return isinstance(exc, ccxt.DDoSProtection) and _BAN.search(str(exc)) is not None


def fee_parts(trade: dict[str, Any], market: dict[str, Any]) -> tuple[float, float, str | None]:
    """A ccxt trade's fee as the books keep it: (paid in the quote currency, kept out of the
    base asset, the coin of a fee paid in neither). Binance takes a buy's commission in the
    coin bought, so the position holds less than was traded; a fee in a third coin (BNB)
    stays outside the books and is named so it can be reported."""
    fee = trade.get("fee") or {}
    cost = float(fee.get("cost") or 0.0)
    currency = fee.get("currency")
    if not currency or currency == market.get("quote", currency):
        return cost, 0.0, None
    if currency == market.get("base"):
        return 0.0, cost, None
    return 0.0, 0.0, str(currency)


__all__ = ["Outcome", "Prepared", "RequestBudget", "classify", "fee_parts", "is_ban",
           "prepare_order", "reason_of", "retry_after"]
