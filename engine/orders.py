"""Contingent orders: brackets (an entry with an attached stop and target) and the protective
legs placed for a position a strategy already holds.

A bracket's children are one reduce-only stop (STOP at ``stop_loss``, or a TRAILING_STOP) and
one reduce-only LIMIT at ``take_profit``, sharing one OCO group (the entry's client order id),
so the first of them to fill cancels the other. They are placed when the entry *closes*: when
it has filled completely, or when it is canceled (or an IOC remainder expires) after a partial
fill, for the quantity that filled. An entry that never fills (rejected, denied, canceled
before any fill) sends no children. The stop leg is placed first, so when one bar reaches both
the stop and the target the stop fills (a bar does not say which came first; the venue lets a
leg that fills at the open go first).

Relative prices (``stop_loss_pct``, ``take_profit_pct``) are fractions of the entry's average
fill price. A child priced on the wrong side of that price (a long's stop at or above it, its
target at or below it) is answered with ``OrderRejected`` and never sent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.messages import (BUY, GTC, LIMIT, SELL, STOP, TRAILING_STOP, OrderFilled,
                             SubmitOrder)

if TYPE_CHECKING:
    from engine.backtesting.context import BacktestContext

_new = tuple.__new__
_EPS = 1e-12


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


@dataclasses.dataclass(frozen=True)
class Bracket:
    """What protects a position: a stop (absolute, relative, or trailing) and a target.

    ``trail_percent`` is a fraction (0.02 trails 2 % behind the best price), ``trail_offset``
    a price distance (e.g. ``3 * atr``).
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trail_percent: float | None = None
    trail_offset: float | None = None

    def problem(self) -> str | None:
        """Why these settings contradict each other, or None."""
        stops = [name for name in ("stop_loss", "stop_loss_pct", "trail_percent",
                                   "trail_offset") if getattr(self, name) is not None]
        if len(stops) > 1:
            return f"bracket: give one stop, got {', '.join(stops)}"
        if self.take_profit is not None and self.take_profit_pct is not None:
            return "bracket: give take_profit or take_profit_pct, not both"
        for name in ("stop_loss_pct", "take_profit_pct"):
            value = getattr(self, name)
            if value is not None and not (_number(value) and 0 < value < 1):
                return f"bracket: {name} must be a fraction in (0, 1) (0.02 = 2 %), got {value!r}"
        return None

    @property
    def empty(self) -> bool:
        return all(v is None for v in dataclasses.astuple(self))


class _Entry:
    """An entry order waiting to close, and what it has filled so far."""

    __slots__ = ("bracket", "client_order_id", "ctx", "filled", "notional", "side")

    def __init__(self, ctx: BacktestContext, client_order_id: str, side: str,
                 bracket: Bracket) -> None:
        self.ctx = ctx
        self.client_order_id = client_order_id
        self.side = side
        self.bracket = bracket
        self.filled = 0.0
        self.notional = 0.0


class ContingentOrders:
    """Places the children of bracket entries as the engine reports their fills and closes.

    ``submit`` is the engine's order route (risk checks apply); ``reject`` answers a command
    with ``OrderRejected`` without sending it.
    """

    def __init__(self, submit: Callable[[SubmitOrder], None],
                 reject: Callable[[SubmitOrder, str], None]) -> None:
        self.submit = submit
        self.reject = reject
        self.entries: dict[str, _Entry] = {}   # client order id -> waiting entry

    def attach(self, ctx: BacktestContext, entry: SubmitOrder, bracket: Bracket) -> None:
        """Remember ``bracket`` for ``entry``, before it is submitted."""
        self.entries[entry.client_order_id] = _Entry(ctx, entry.client_order_id, entry.side,
                                                     bracket)

    def on_fill(self, fill: OrderFilled) -> None:
        """A fill of some order: an entry's children go out when it has filled completely."""
        entry = self.entries.get(fill.client_order_id)
        if entry is None:
            return
        entry.filled += fill.last_qty
        entry.notional += fill.last_qty * fill.last_price
        if fill.leaves_qty <= _EPS:
            del self.entries[fill.client_order_id]
            self._place(entry, fill.ts_event)

    def on_closed(self, client_order_id: str, ts: int) -> None:
        """An order was canceled, rejected or denied: an entry that filled in part gets its
        children for that part; one that never filled gets none."""
        entry = self.entries.pop(client_order_id, None)
        if entry is not None and entry.filled > _EPS:
            self._place(entry, ts)

    def _place(self, entry: _Entry, ts: int) -> None:
        ctx = entry.ctx
        close_side = SELL if entry.side == BUY else BUY
        price = entry.notional / entry.filled
        group = None
        b = entry.bracket
        if (b.stop_loss is not None or b.stop_loss_pct is not None or b.trail_percent is not None
                or b.trail_offset is not None) and (b.take_profit is not None
                                                    or b.take_profit_pct is not None):
            group = entry.client_order_id
        for cmd, reason in protective_orders(ctx, close_side, entry.filled, price, b, ts, group):
            if reason is None:
                self.submit(cmd)
            else:
                self.reject(cmd, reason)


def protective_orders(ctx: BacktestContext, side: str, quantity: float, entry_price: float,
                      bracket: Bracket, ts: int, oco_group: str | None, *,
                      against_entry: bool = True) -> list[tuple[SubmitOrder, str | None]]:
    """The reduce-only legs closing ``quantity`` on ``side`` (SELL closes a long) that
    ``bracket`` asks for, stop first, each with why it must not be sent (or None).

    ``entry_price`` is what relative prices refer to and, when ``against_entry``, which side
    of it each leg must be on.
    """
    long = side == SELL
    sign = 1.0 if long else -1.0      # +1: protecting a long
    what = "long" if long else "short"
    out: list[tuple[SubmitOrder, str | None]] = []
    b = bracket

    def leg(order_type: str, limit: float | None, stop: float | None,
            offset: float | None = None, percent: float | None = None) -> SubmitOrder:
        return _new(SubmitOrder, (ctx.strategy_id, ctx.venue, ctx.symbol,
                                  f"{ctx.strategy_id}-{ctx.next_order_number()}", side,
                                  order_type, quantity, limit, stop, GTC, ts, ts, True, False,
                                  offset, percent, oco_group))

    if b.trail_percent is not None or b.trail_offset is not None:
        out.append((leg(TRAILING_STOP, None, None, b.trail_offset, b.trail_percent), None))
    elif b.stop_loss is not None or b.stop_loss_pct is not None:
        stop = (b.stop_loss if b.stop_loss is not None
                else entry_price * (1.0 - sign * b.stop_loss_pct))  # type: ignore[operator]
        reason = None
        if against_entry and _number(stop) and (stop - entry_price) * sign >= 0:
            reason = (f"stop_loss {stop:g} is at or {'above' if long else 'below'} the entry "
                      f"price {entry_price:g} of a {what} position")
        out.append((leg(STOP, None, stop), reason))
    if b.take_profit is not None or b.take_profit_pct is not None:
        target = (b.take_profit if b.take_profit is not None
                  else entry_price * (1.0 + sign * b.take_profit_pct))  # type: ignore[operator]
        reason = None
        if against_entry and _number(target) and (target - entry_price) * sign <= 0:
            reason = (f"take_profit {target:g} is at or {'below' if long else 'above'} the entry "
                      f"price {entry_price:g} of a {what} position")
        out.append((leg(LIMIT, target, None), reason))
    return out


__all__ = ["Bracket", "ContingentOrders", "protective_orders"]
