"""The simulated venue: order validation, matching against bars, trades or quotes, fees,
slippage and volume-capped partial fills.

Fill rules (all pinned by the scenario tests in ``tests/unit/test_venue_scenarios.py``):

- **No look-ahead.** An order decided on an event is *active* from ``ts_event + latency``.
  Bars: it can first fill at the open of the first bar whose open time is at or after that
  moment (latency 0: the next bar's open); an order arriving inside a bar waits for the next
  bar, since a bar does not say what traded after the arrival. Trades and quotes: the first
  event after the deciding one whose time is at or after the arrival.
- **Market** orders fill at the reference price on arrival (bar open, trade price, or the
  ask/bid of the quote), as taker, plus slippage.
- **Limit** orders are aggressive while the market is at or better than their limit: they
  fill as taker at the reference price plus slippage, never worse than the limit (this holds
  for a remainder the volume cap left too). Once the market is away from the limit they rest
  and fill as maker at the limit price only when the market trades *through* it (bar low
  below a buy limit, high above a sell limit; ``limit_fill="touch"`` also fills on an equal
  price), a gap through included. ``IOC`` limits never rest.
- **Stop** (stop-market) orders trigger when the market reaches the stop (bar high/low, trade
  price, ask for buys / bid for sells); a gap through the stop fills at the open, otherwise at
  the stop price, as taker plus slippage. A triggered stop's remainder works as a market order.
  A stop on the wrong side of the market when it is submitted (a buy stop at or below the
  symbol's last price, a sell stop at or above it; for an order placed from a fill, the price
  that fill met) is rejected, not filled at once.
- **Stop-limit** orders trigger like stops, then work as a limit at ``limit_price``. Triggered
  at the open (a gap through the stop) they follow the limit rules for the whole event;
  triggered inside a bar they take at the stop when it is within the limit, else they rest
  from the next event (a bar does not say whether the prices past its limit came after the
  trigger).
- **Trailing stops** are stop-market orders whose stop trails the best price since their
  first event: a sell's stop is the high-water price minus ``trail_offset`` (or times
  ``1 - trail_percent``), a buy's the low-water price plus it (times ``1 + trail_percent``).
  The trail starts at the open of the order's first event (the first trade or quote). Each
  event first checks the stop as it stood before the event (a gap through it fills at the
  open, a low through it at the stop), and only then ratchets it with the event's high (low):
  a bar does not say whether its high came before its low. ``Order.stop_price`` is the
  current stop.
- **Reduce-only** orders only reduce their strategy's position: rejected when their side
  would add to it (or there is none); each fill is capped at what is left of the position,
  and an order with nothing left to reduce is canceled (``reduce_only: position closed``).
- **Post-only** limits never take liquidity: one that is marketable on its first event is
  canceled (``post_only: would take liquidity``); otherwise it rests and fills as maker.
- **OCO.** Orders of one strategy sharing an ``oco_group`` cancel each other: the first fill
  of one (partial too) cancels every other working leg at that fill's time (``oco: <id>
  filled``). Within one bar, a leg filling at the open goes before a leg that would fill only
  inside the bar; otherwise legs go in time priority.
- **Costs.** Fees are ``maker_fee_bps`` / ``taker_fee_bps`` of the filled notional. Slippage
  applies to taker fills only, against the taker: ``fixed`` adds ``slippage_bps``; ``sqrt``
  adds ``impact_base_bps + impact_k_bps * sqrt(fill_qty / event_volume)``.
- **Volume cap.** The fills of one event never take more than ``max_volume_share`` of that
  event's volume (bar volume or trade size, one pool for buys and sells; for quotes the size
  on the side taken), shared by all orders in time priority; the rest keeps working (partial
  fills). An event with zero volume fills nothing.
- **Cancels** take effect at ``ts_event + latency`` of the cancel command: an order can still
  fill in a bar during which its cancel was in flight. A cancel that arrives after its order
  filled completely is answered with ``OrderRejected``.
- **Timestamps.** Fills at an open carry the open time; fills inside a bar (resting limits,
  stops triggered intrabar) carry the bar's close time, since a bar does not say when inside
  it they happened.
- ``IOC`` orders cancel whatever did not fill on their first eligible event.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeGuard

import numpy as np

from engine.errors import ConfigError
from engine.fill_log import FillRun
from engine.fills import market_fills
from engine.messages import (BUY, GTC, IOC, LIMIT, MAKER, MARKET, SELL, STOP, STOP_LIMIT, TAKER,
                             TRAILING_STOP, OrderAccepted, OrderCanceled, OrderFilled,
                             OrderRejected, SubmitOrder)
from engine.settings import coerce_floats

_new = tuple.__new__
_EPS = 1e-12
_NO_CASH = "insufficient_buying_power: the account's cash does not cover the rest"
_NO_POSITION = "insufficient_position: the strategy no longer holds what the rest would sell"


def affordable(cash: float, price: float, rate: float) -> float:
    """The quantity ``cash`` buys at ``price`` paying fee ``rate``, a hair under so the cost
    never exceeds it."""
    if cash <= 0.0 or price <= 0.0:
        return 0.0
    return cash / (price * (1.0 + rate)) * (1.0 - 1e-12)


# SubmitOrder's fields after ts_init for an order with none of the protective options
_PLAIN = (False, False, None, None, None)
_PLAIN_TYPES = frozenset((MARKET, LIMIT, STOP))
# Order.kind of an order that takes the slower path through _contingent_kind: a stop-limit, a
# trailing stop, or any order that is reduce-only, post-only or in an OCO group
_CONTINGENT = "CONTINGENT"


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_price(value: Any) -> TypeGuard[float]:
    return _is_number(value) and math.isfinite(value) and value > 0


@dataclasses.dataclass(frozen=True)
class VenueConfig:
    """Execution costs and fill rules of the simulated venue."""

    venue: str = "SIM"
    maker_fee_bps: float = 2.0
    taker_fee_bps: float = 5.0
    slippage_model: str = "fixed"        # "fixed" or "sqrt"
    slippage_bps: float = 1.0            # fixed model
    impact_base_bps: float = 0.5         # sqrt model: base + k * sqrt(qty / volume), in bps
    impact_k_bps: float = 10.0
    latency_ms: float = 0.0
    max_volume_share: float = 0.25       # share of an event's volume one event's fills may take
    limit_fill: str = "through"          # "through" or "touch"

    def __post_init__(self) -> None:
        coerce_floats(self, "venue ")
        for name in ("maker_fee_bps", "taker_fee_bps", "slippage_bps", "impact_base_bps",
                     "impact_k_bps", "latency_ms"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"venue {name} must be a finite number, got {value!r}")
            if name != "maker_fee_bps" and value < 0:   # maker rebates are negative fees
                raise ConfigError(f"venue {name} must be >= 0, got {value!r}")
        if self.slippage_model not in ("fixed", "sqrt"):
            raise ConfigError(f"venue slippage_model must be 'fixed' or 'sqrt', got "
                              f"{self.slippage_model!r}")
        if self.limit_fill not in ("through", "touch"):
            raise ConfigError(f"venue limit_fill must be 'through' or 'touch', got "
                              f"{self.limit_fill!r}")
        if not (0 < self.max_volume_share <= 1):
            raise ConfigError(f"venue max_volume_share must be in (0, 1], got "
                              f"{self.max_volume_share!r}")

    @property
    def latency_ns(self) -> int:
        return round(self.latency_ms * 1_000_000)


class Order:
    """A working order's state inside the venue.

    ``stop_price`` of a TRAILING_STOP is its current stop (None until its first event), and
    ``water`` the best price it has trailed (the high for a sell, the low for a buy).
    """

    __slots__ = ("active_ns", "cancel_ns", "client_order_id", "closed", "command", "filled_qty",
                 "kind", "last_fill_ns", "limit_price", "notional", "order_type", "quantity",
                 "resting", "side", "sign", "stop_price", "strategy_id", "symbol",
                 "time_in_force", "triggered", "venue_order_id", "water")

    def __init__(self, command: SubmitOrder, venue_order_id: str, active_ns: int) -> None:
        (self.strategy_id, _, self.symbol, self.client_order_id, side, order_type, quantity,
         self.limit_price, self.stop_price, self.time_in_force) = command[:10]
        self.order_type = order_type
        # the options live in the command (read on the slower path only); a command built with
        # tuple.__new__ from the first twelve fields has none
        options = command[12:]
        self.kind = order_type if ((not options or options == _PLAIN)
                                   and order_type in _PLAIN_TYPES) else _CONTINGENT
        self.water: float | None = None
        self.command = command
        self.venue_order_id = venue_order_id
        self.side = side
        self.sign = 1 if side == BUY else -1
        self.quantity = float(quantity)
        self.active_ns = active_ns
        self.filled_qty = 0.0
        self.notional = 0.0
        self.resting = False      # limit orders: in the book, no longer taking liquidity
        self.last_fill_ns = 0
        self.triggered = False    # stop orders: the stop was reached
        self.cancel_ns: int | None = None
        self.closed = False       # filled or canceled: no longer matched

    @property
    def leaves_qty(self) -> float:
        return self.quantity - self.filled_qty

    @property
    def reduce_only(self) -> bool:
        return self.kind is _CONTINGENT and bool((self.command[12:] or _PLAIN)[0])

    @property
    def post_only(self) -> bool:
        return self.kind is _CONTINGENT and bool((self.command[12:] or _PLAIN)[1])

    @property
    def trail_offset(self) -> float | None:
        return (self.command[12:] or _PLAIN)[2]

    @property
    def trail_percent(self) -> float | None:
        return (self.command[12:] or _PLAIN)[3]

    @property
    def oco_group(self) -> str | None:
        return (self.command[12:] or _PLAIN)[4]

    @property
    def avg_fill_price(self) -> float:
        return self.notional / self.filled_qty if self.filled_qty else math.nan

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id} {self.side} {self.order_type} "
                f"{self.filled_qty}/{self.quantity} limit={self.limit_price} "
                f"stop={self.stop_price})")


class SimulatedVenue:
    """Matches orders against market events of the symbols it lists.

    Events it produces (accepted, rejected, filled, canceled) go to ``emit`` in the order they
    happen; the backtest routes them to the portfolio and the strategy.
    """

    def __init__(self, config: VenueConfig, emit: Callable[[Any], None],
                 on_fill: Callable[[OrderFilled], None] | None = None) -> None:
        self.config = config
        self.emit = emit
        self.on_fill = on_fill or emit   # fills may take a direct route (the hot path)
        # Set by the engine: a strategy's signed position in a symbol (reduce-only orders need
        # it; without it they are rejected), and a symbol's current market price, NaN when
        # none is known yet (stops on the wrong side of it are rejected).
        self.position: Callable[[str, str], float] | None = None
        self.mark: Callable[[str], float] | None = None
        self._venue = config.venue
        self.working: dict[str, list[Order]] = {}
        self.orders: dict[str, Order] = {}
        self._oco: dict[tuple[str, str], list[Order]] = {}   # (strategy, group) -> its legs
        # (symbol, price met) while a fill is being reported: an order placed from on_fill (a
        # bracket's stop) is checked against the price that just traded, not the last mark
        self._filling: tuple[str, float] | None = None
        self._latency_ns = config.latency_ns
        self._maker_rate = config.maker_fee_bps * 1e-4
        self._taker_rate = config.taker_fee_bps * 1e-4
        self._touch = config.limit_fill == "touch"
        self._share = config.max_volume_share
        self._sqrt = config.slippage_model == "sqrt"
        self._slip_fixed = config.slippage_bps
        self._seq = 0
        self._fill_seq = 0
        # a spot account's cash, when set: a buy fill never costs more (the rest is canceled)
        self.cash_available: Callable[[], float] | None = None
        self._forecast_params = np.array([
            config.max_volume_share, self._sqrt, config.slippage_bps, config.impact_base_bps,
            config.impact_k_bps, self._taker_rate], dtype=np.float64)

    def add_symbol(self, symbol: str) -> None:
        """List a symbol for trading."""
        self.working.setdefault(symbol, [])

    # --- commands ------------------------------------------------------------------------

    def submit(self, cmd: SubmitOrder) -> Order | None:
        """Validate and accept an order; it becomes active ``latency`` after ``cmd.ts_event``."""
        reason = self._validate(cmd)
        if reason is not None:
            self.emit(_new(OrderRejected, (cmd.strategy_id, cmd.venue, cmd.symbol,
                                          cmd.client_order_id, reason, cmd.ts_event,
                                          cmd.ts_event)))
            return None
        self._seq += 1
        strategy_id, venue, symbol, coid = cmd[:4]
        ts = cmd.ts_event
        active = ts + self._latency_ns
        order = Order(cmd, f"V-{self._seq}", active)
        self.orders[coid] = order
        self.working[symbol].append(order)
        if order.kind is _CONTINGENT and order.oco_group is not None:
            self._oco.setdefault((strategy_id, order.oco_group), []).append(order)
        self.emit(_new(OrderAccepted, (strategy_id, venue, symbol, coid, order.venue_order_id,
                                      active, ts)))
        return order

    def _validate(self, cmd: SubmitOrder) -> str | None:
        _, _, symbol, coid, side, order_type, q, limit, stop, tif = cmd[:10]
        options = cmd[12:] or _PLAIN   # (none in a command built from the first twelve fields)
        if symbol not in self.working:
            return f"symbol {symbol!r} is not listed on venue {self.config.venue!r}"
        if coid in self.orders:
            return f"duplicate client_order_id {coid!r}"
        if side not in (BUY, SELL):
            return f"invalid side {side!r}"
        if not (_is_number(q) and math.isfinite(q) and q > 0):
            return f"quantity must be a positive finite number, got {q!r}"
        if tif not in (GTC, IOC):
            return f"invalid time_in_force {tif!r}"
        if order_type == MARKET:
            pass
        elif order_type == LIMIT:
            if not _is_price(limit):
                return f"limit order needs a positive limit_price, got {limit!r}"
        elif order_type == STOP:
            if not _is_price(stop):
                return f"stop order needs a positive stop_price, got {stop!r}"
            reason = self._stop_side(symbol, side, stop)
            if reason is not None:
                return reason
        elif order_type == STOP_LIMIT:
            if not _is_price(stop):
                return f"stop-limit order needs a positive stop_price, got {stop!r}"
            if not _is_price(limit):
                return f"stop-limit order needs a positive limit_price, got {limit!r}"
            reason = self._stop_side(symbol, side, stop)
            if reason is not None:
                return reason
        elif order_type != TRAILING_STOP:
            return f"invalid order_type {order_type!r}"
        if options == _PLAIN and order_type != TRAILING_STOP:
            return None
        return self._validate_options(cmd, options)

    def _validate_options(self, cmd: SubmitOrder, options: tuple[Any, ...]) -> str | None:
        """Check a trailing stop's trail and the reduce-only, post-only and OCO options."""
        reduce_only, post_only, offset, percent, oco_group = options
        strategy_id, _, symbol, _, side, order_type = cmd[:6]
        if order_type == TRAILING_STOP:
            if offset is None and percent is None:
                return ("trailing stop needs trail_offset (a price distance) or trail_percent "
                        "(a fraction, 0.02 = 2 %), got neither")
            if offset is not None and percent is not None:
                return (f"trailing stop takes trail_offset or trail_percent, not both (got "
                        f"trail_offset={offset!r}, trail_percent={percent!r})")
            if offset is not None and not _is_price(offset):
                return f"trail_offset must be a positive price distance, got {offset!r}"
            if percent is not None and not (_is_number(percent) and 0 < percent < 1):
                return (f"trail_percent must be a fraction in (0, 1) (0.02 = 2 %), got "
                        f"{percent!r}")
        elif offset is not None or percent is not None:
            return f"trail_offset and trail_percent are for TRAILING_STOP orders, not {order_type}"
        if type(post_only) is not bool:
            return f"post_only must be True or False, got {post_only!r}"
        if post_only:
            if order_type != LIMIT:
                return f"post_only: only a LIMIT order can be post-only, not {order_type}"
            if cmd.time_in_force == IOC:
                return "post_only: an IOC order never rests, so it cannot be post-only"
        if type(reduce_only) is not bool:
            return f"reduce_only must be True or False, got {reduce_only!r}"
        if reduce_only:
            if self.position is None:
                return "reduce_only: this venue has no position lookup"
            pos = self.position(strategy_id, symbol)
            if (pos <= _EPS) if side == SELL else (pos >= -_EPS):
                return (f"reduce_only: a {side} order would increase the position "
                        f"{pos:g} (nothing to reduce)" if abs(pos) > _EPS else
                        "reduce_only: no position to reduce")
        if oco_group is not None and type(oco_group) is not str:
            return f"oco_group must be a string, got {oco_group!r}"
        return None

    def _stop_side(self, symbol: str, side: str, stop: float) -> str | None:
        """Why a stop is on the wrong side of the market (it would trigger at once), or None."""
        filling = self._filling
        if filling is not None and filling[0] == symbol:
            market = filling[1]
        elif self.mark is None:
            return None
        else:
            market = self.mark(symbol)
        if market - market != 0.0:
            return None        # no price known yet (or a bad print): nothing to compare
        if side == BUY and stop <= market:
            return f"stop_price {stop:g} is at or below the market {market:g} for a BUY stop"
        if side == SELL and stop >= market:
            return f"stop_price {stop:g} is at or above the market {market:g} for a SELL stop"
        return None

    def cancel(self, strategy_id: str, client_order_id: str, ts_event: int) -> None:
        """Request a cancel; it takes effect ``latency`` after ``ts_event``."""
        order = self.orders.get(client_order_id)
        if order is None or order.strategy_id != strategy_id or order.closed:
            self.emit(_new(OrderRejected, (strategy_id, self.config.venue,
                                          order.symbol if order else "", client_order_id,
                                          "cancel rejected: no such working order", ts_event,
                                          ts_event)))
            return
        effective = ts_event + self._latency_ns
        if order.cancel_ns is None or effective < order.cancel_ns:
            order.cancel_ns = effective

    def cancel_now(self, order: Order, ts_event: int, reason: str) -> None:
        """Remove a working order immediately (used when its strategy faults)."""
        # leaves 0 but not yet closed: filled in the event being matched right now
        if order.closed or order.leaves_qty <= _EPS:
            return
        order.closed = True
        self.working[order.symbol].remove(order)
        self._emit_canceled(order, ts_event, reason)

    def _emit_canceled(self, order: Order, ts: int, reason: str) -> None:
        self.emit(_new(OrderCanceled, (order.strategy_id, self.config.venue, order.symbol,
                                      order.client_order_id, reason, ts, ts)))

    def _apply_cancels(self, book: list[Order], upto_ns: int) -> None:
        for order in book:  # runs twice per bar with working orders: usually nothing is due
            if order.cancel_ns is not None and order.cancel_ns <= upto_ns:
                break
        else:
            return
        for order in [o for o in book if o.cancel_ns is not None and o.cancel_ns <= upto_ns]:
            order.closed = True
            book.remove(order)
            self._emit_canceled(order, order.cancel_ns, "canceled")  # type: ignore[arg-type]

    # --- matching ---------------------------------------------------------------------------

    def on_bar(self, symbol: str, o: float, h: float, lo: float, c: float, v: float,
               ts_open: int, ts_close: int) -> None:
        """Match working orders of ``symbol`` against one bar."""
        book = self.working[symbol]
        self._apply_cancels(book, ts_open)
        if book:
            self._match(book, ts_open, ts_close, o, lo, h, o, lo, h, v, v, False)
        self._apply_cancels(book, ts_close)

    def on_trade(self, symbol: str, price: float, size: float, ts: int) -> None:
        """Match working orders of ``symbol`` against one public trade."""
        book = self.working[symbol]
        self._apply_cancels(book, ts)
        if book:
            self._match(book, ts, ts, price, price, price, price, price, price, size, size, False)

    def on_quote(self, symbol: str, bid: float, ask: float, bid_size: float, ask_size: float,
                 ts: int) -> None:
        """Match working orders of ``symbol`` against a top-of-book update (buys take the ask)."""
        book = self.working[symbol]
        self._apply_cancels(book, ts)
        if book:
            self._match(book, ts, ts, ask, ask, ask, bid, bid, bid, ask_size, bid_size, True)

    def _match(self, book: list[Order], ts_first: int, ts_last: int,
               b_open: float, b_low: float, b_high: float,
               s_open: float, s_low: float, s_high: float,
               b_volume: float, s_volume: float, per_side: bool) -> None:
        """One event: ``b_*`` are the prices a buyer meets, ``s_*`` those a seller meets.

        The volume cap is one pool shared by buys and sells for bars and trades (one traded
        volume), and one pool per side for quotes (a size on each side of the book).
        """
        if (b_open - b_open or b_low - b_low or b_high - b_high or s_open - s_open
                or s_low - s_low or s_high - s_high or not (b_volume >= 0.0)
                or not (s_volume >= 0.0)):
            return   # a NaN or infinite print (bad data) fills nothing; orders keep working
        # what is left to fill this event: [buys, sells]; one pool (both kept equal) unless
        # the sides have sizes of their own
        cap = [self._share * b_volume, self._share * s_volume]
        shared = not per_side
        touch = self._touch
        done: list[Order] = []
        for order in list(book):
            if order.closed or order.active_ns > ts_first:
                continue  # canceled during this event, or still in flight
            buy = order.sign == 1
            if buy:
                p_open, p_low, p_high = b_open, b_low, b_high
            else:
                p_open, p_low, p_high = s_open, s_low, s_high
            kind = order.kind
            special = kind is _CONTINGENT
            if special:   # the rule it matches by in this event ("" for none)
                kind = self._contingent_kind(order, buy, p_open, p_low, p_high, b_open, s_open,
                                             cap, shared, ts_first, ts_last,
                                             b_volume if buy else s_volume)
            if kind == MARKET:
                self._fill(order, p_open, cap, shared, TAKER, ts_first,
                           b_volume if buy else s_volume)
            elif kind == LIMIT:
                # Aggressive until the market moves away from it: while the open is at or
                # better than the limit it takes liquidity (a remainder left by the volume cap
                # too); once it is not, it rests in the book and fills as maker at the limit
                # only when the market trades through. IOC orders never rest.
                limit = order.limit_price
                assert limit is not None   # (validated on submission)
                if not order.resting and ((p_open <= limit) if buy else (p_open >= limit)):
                    self._fill(order, p_open, cap, shared, TAKER, ts_first,
                               b_volume if buy else s_volume, limit)
                elif order.time_in_force != IOC:
                    order.resting = True
                    if (p_low < limit or (touch and p_low <= limit)) if buy else \
                            (p_high > limit or (touch and p_high >= limit)):
                        self._fill(order, limit, cap, shared, MAKER, ts_last,
                                   b_volume if buy else s_volume)
            elif kind == STOP:
                if order.triggered:   # the remainder works as a market order
                    self._fill(order, p_open, cap, shared, TAKER, ts_first,
                               b_volume if buy else s_volume)
                else:
                    stop = order.stop_price
                    assert stop is not None   # (validated on submission)
                    if (p_open >= stop) if buy else (p_open <= stop):
                        order.triggered = True
                        self._fill(order, p_open, cap, shared, TAKER, ts_first,
                                   b_volume if buy else s_volume)
                    elif (p_high >= stop) if buy else (p_low <= stop):
                        order.triggered = True
                        self._fill(order, stop, cap, shared, TAKER, ts_last,
                                   b_volume if buy else s_volume)
            if special and not order.closed:
                self._after_contingent(order, buy, p_low, p_high, ts_last)
            if order.closed:
                continue  # its strategy faulted in on_fill and it was canceled
            if order.quantity - order.filled_qty <= _EPS:   # nothing left to fill
                order.closed = True
                done.append(order)
                if order.cancel_ns is not None:  # the cancel lost the race to the fill
                    self.emit(_new(OrderRejected, (
                        order.strategy_id, self.config.venue, order.symbol,
                        order.client_order_id, "cancel rejected: order already filled",
                        order.last_fill_ns, order.last_fill_ns)))
            elif order.time_in_force == IOC:
                order.closed = True
                done.append(order)
                self._emit_canceled(order, ts_last, "IOC remainder canceled")
        for order in done:
            if order in book:
                book.remove(order)

    # --- protective orders: the slower path, taken only by orders that need it ------------

    def _contingent_kind(self, order: Order, buy: bool, p_open: float, p_low: float,
                         p_high: float, b_open: float, s_open: float, cap: list[float],
                         shared: bool, ts_first: int, ts_last: int, volume: float) -> str:
        """The plain rule (MARKET, LIMIT or STOP) ``order`` matches by in this event, after its
        own rules ran: "" when it does not match in this event (waiting for its trigger,
        deferred to an OCO sibling, canceled, or already filled here)."""
        if order.reduce_only and self._reduce_room(order) <= _EPS:
            self.cancel_now(order, ts_first, "reduce_only: position closed")
            return ""
        if order.oco_group is not None and not self._fills_at_open(order, b_open, s_open):
            # A sibling that fills at the open came first: this leg could only have filled
            # later inside the event, and the sibling's fill cancels it.
            for other in self._oco.get((order.strategy_id, order.oco_group), ()):
                if (other is not order and not other.closed and other.active_ns <= ts_first
                        and self._fills_at_open(other, b_open, s_open)):
                    return ""
        kind = order.order_type
        if kind == TRAILING_STOP:
            if order.triggered:
                return MARKET
            if order.water is None:   # the trail starts at its first event's open
                order.water = p_open
                order.stop_price = self._trail_stop(order, p_open)
            return STOP   # checked against the stop as it stood before this event
        if kind == STOP_LIMIT:
            limit = order.limit_price
            assert limit is not None   # (validated on submission)
            if not order.triggered:
                stop = order.stop_price
                assert stop is not None
                if (p_open >= stop) if buy else (p_open <= stop):
                    order.triggered = True   # at the open: the whole event follows the trigger
                elif (p_high >= stop) if buy else (p_low <= stop):
                    # Triggered inside the event at the stop: it takes at the stop if that is
                    # within its limit; otherwise it rests from the next event on (a bar does
                    # not say whether the prices beyond its limit came after the trigger).
                    order.triggered = True
                    if (stop <= limit) if buy else (stop >= limit):
                        self._fill(order, stop, cap, shared, TAKER, ts_last, volume, limit)
                    else:
                        order.resting = True
                    return ""
                else:
                    return ""
            kind = LIMIT
        limit = order.limit_price
        if order.post_only and not order.resting and limit is not None and (
                (p_open <= limit) if buy else (p_open >= limit)):
            self.cancel_now(order, ts_first, "post_only: would take liquidity")
            return ""
        return kind

    def _after_contingent(self, order: Order, buy: bool, p_low: float, p_high: float,
                          ts_last: int) -> None:
        """After an event: a trailing stop ratchets with the event's best price (only now: a
        bar does not say whether its high came before its low); a reduce-only order with
        nothing left to reduce is canceled."""
        water = order.water
        if (order.order_type == TRAILING_STOP and not order.triggered and water is not None
                and ((p_low < water) if buy else (p_high > water))):
            order.water = water = p_low if buy else p_high
            order.stop_price = self._trail_stop(order, water)
        if (order.reduce_only and order.quantity - order.filled_qty > _EPS
                and self._reduce_room(order) <= _EPS):
            self.cancel_now(order, ts_last, "reduce_only: position closed")

    @staticmethod
    def _trail_stop(order: Order, water: float) -> float:
        if order.trail_offset is not None:
            return water + order.sign * order.trail_offset
        assert order.trail_percent is not None   # (validated on submission)
        return water * (1.0 + order.sign * order.trail_percent)

    @staticmethod
    def _fills_at_open(order: Order, b_open: float, s_open: float) -> bool:
        """Whether ``order`` would fill at the open of an event opening at these prices."""
        buy = order.sign == 1
        p = b_open if buy else s_open
        kind = order.order_type
        if kind == MARKET or (order.triggered and kind in (STOP, TRAILING_STOP)):
            return True
        if kind in (STOP, TRAILING_STOP, STOP_LIMIT) and not order.triggered:
            stop = order.stop_price
            if stop is None or not ((p >= stop) if buy else (p <= stop)):
                return False
            if kind != STOP_LIMIT:
                return True
        limit = order.limit_price
        assert limit is not None   # a limit or a triggered stop-limit
        return (p <= limit) if buy else (p >= limit)

    def _reduce_room(self, order: Order) -> float:
        """How much of the strategy's position a reduce-only order may still reduce."""
        assert self.position is not None   # (checked on submission)
        pos = self.position(order.strategy_id, order.symbol)
        return -pos if order.sign == 1 else pos

    def _cancel_oco(self, order: Order, ts: int) -> None:
        """``order`` filled: cancel the other working legs of its OCO group at once."""
        group = self._oco.pop((order.strategy_id, order.oco_group), None)  # type: ignore[arg-type]
        for other in group or ():
            if other is not order:
                self.cancel_now(other, ts, f"oco: {order.client_order_id} filled")

    def _fill(self, order: Order, price: float, cap: list[float], shared: bool,
              liquidity: str, ts: int, volume: float, worst: float | None = None) -> None:
        sign = order.sign
        side = 0 if sign == 1 else 1
        left = cap[side]
        leaves = order.quantity - order.filled_qty
        qty = left if left < leaves else leaves
        special = order.kind is _CONTINGENT
        if special and order.reduce_only:   # never past a flat position
            room = self._reduce_room(order)
            if qty > room:
                qty = room
        if qty <= _EPS:
            return
        if shared:
            cap[0] = cap[1] = left - qty
        else:
            cap[side] = left - qty
        order.last_fill_ns = ts
        met = price
        if liquidity == TAKER:
            slip_bps = (self.config.impact_base_bps + self.config.impact_k_bps
                        * math.sqrt(qty / volume)) if self._sqrt else self._slip_fixed
            price = price * (1.0 + sign * slip_bps * 1e-4)
            if worst is not None and (price - worst) * sign > 0:
                slip_bps = (worst / (price / (1.0 + sign * slip_bps * 1e-4)) - 1.0) * sign * 1e4
                price = worst
            rate = self._taker_rate
        else:
            slip_bps = 0.0
            rate = self._maker_rate
        fee = qty * price * rate
        cut: str | None = None
        if self.cash_available is not None:
            # a spot account: a buy never spends cash it lacks, a sell never sells what the
            # strategy does not hold (another of its sells may have got there first)
            room = self._spot_room(order, qty, price, rate)
            if qty > room:
                cut = _NO_CASH if sign == 1 else _NO_POSITION
                qty = room
                if qty <= _EPS:
                    self.cancel_now(order, ts, cut)
                    return
                fee = qty * price * rate
        filled = order.filled_qty + qty
        order.notional += qty * price
        leaves = order.quantity - filled
        if leaves <= _EPS:
            leaves = 0.0
            filled = order.quantity
        order.filled_qty = filled
        self._filling = (order.symbol, met)
        self._emit_fill(order, qty, price, filled, leaves, liquidity, fee, slip_bps, ts)
        self._filling = None
        if special and order.oco_group is not None:
            self._cancel_oco(order, ts)
        if cut is not None:
            self.cancel_now(order, ts, cut)

    def _spot_room(self, order: Order, qty: float, price: float, rate: float) -> float:
        """The most of ``qty`` a spot account's order may fill now: all of it when its cash
        pays for it at ``price`` (fee ``rate``), else what the cash buys; for a sell, the
        strategy's position."""
        if order.sign == 1:
            assert self.cash_available is not None
            cash = self.cash_available()
            if qty * price + qty * price * rate <= cash:
                return qty
            return affordable(cash, price, rate)
        assert self.position is not None   # (set with cash_available)
        return max(self.position(order.strategy_id, order.symbol), 0.0)

    def _emit_fill(self, order: Order, qty: float, price: float, filled: float, leaves: float,
                   liquidity: str, fee: float, slip_bps: float, ts: int) -> None:
        self._fill_seq += 1
        self.on_fill(_new(OrderFilled, (order.strategy_id, self._venue, order.symbol,
                                       order.client_order_id, order.venue_order_id,
                                       f"F-{self._fill_seq}", order.side, qty, price,
                                       filled, leaves, liquidity, fee, slip_bps, ts, ts, 0.0)))

    @property
    def taker_rate(self) -> float:
        """The taker fee as a fraction of notional."""
        return self._taker_rate

    def forecast_run_booked(self, order: Order, values: np.ndarray, ts: list[int]) -> FillRun:
        """The fills of forecast fills booked as a run (``engine.booking``; ``values`` per
        fill as ``market_fills`` gives them), with the order's state after the last: what
        :meth:`book_forecast_fill` does fill by fill when no cut applies."""
        run = FillRun((order.strategy_id, self._venue, order.symbol, order.client_order_id,
                       order.venue_order_id, order.side), self._fill_seq + 1, values.copy(), ts)
        self._fill_seq += len(ts)
        last = values[-1]
        order.filled_qty = float(last[4])
        order.notional = float(last[5])
        order.last_fill_ns = ts[-1]
        if last[6] == 0.0:
            order.closed = True
            self.working[order.symbol].remove(order)
        return run

    def liquidate(self, strategy_id: str, symbol: str, position: float, mark: float,
                  ts: int) -> None:
        """Close ``position`` of a strategy at once at ``mark`` (a liquidation): a taker fill
        with the configured slippage, booked as an order of its own (``LIQ-<n>``)."""
        self._seq += 1
        sign = -1 if position > 0 else 1
        qty = abs(position)
        cmd = _new(SubmitOrder, (strategy_id, self._venue, symbol, f"LIQ-{self._seq}",
                                 SELL if sign < 0 else BUY, MARKET, qty, None, None, IOC, ts,
                                 ts, True, False, None, None, None))
        order = Order(cmd, f"V-{self._seq}", ts)
        slip_bps = self._slip_fixed if not self._sqrt else self.config.impact_base_bps
        price = mark * (1.0 + sign * slip_bps * 1e-4)
        fee = qty * price * self._taker_rate
        order.filled_qty = qty
        order.notional = qty * price
        order.closed = True
        self._emit_fill(order, qty, price, qty, 0.0, TAKER, fee, slip_bps, ts)

    # --- compiled forecasts (engine.fills) ------------------------------------------------

    def forecast_market_fills(self, symbol: str, prices: np.ndarray, sizes: np.ndarray,
                              times: np.ndarray, start: int) -> tuple[list[Order], Any] | None:
        """The fills ``symbol``'s book will get from the trades at rows ``start`` on, when it
        holds only GTC market orders with no cancel in flight (None otherwise): the book's
        orders and ``engine.fills.market_fills``'s (rows, order indices, values). Nothing
        changes until :meth:`book_forecast_fill` books them."""
        book = self.working[symbol]
        if not book or not all(o.kind == MARKET and o.time_in_force == GTC
                               and o.cancel_ns is None and not o.closed for o in book):
            return None
        orders = list(book)
        return orders, market_fills(
            prices, sizes, times, start,
            np.array([(o.sign, o.quantity, o.filled_qty, o.notional) for o in orders]),
            np.array([o.active_ns for o in orders], dtype=np.int64), self._forecast_params)

    def book_forecast_fill(self, order: Order, values: list[float], ts: int) -> bool:
        """Book one forecast fill (``values`` as ``market_fills`` gives them) at time ``ts``,
        exactly as matching the trade would have. False when the account's cash cut it (the
        order's rest is canceled, so the rest of the forecast no longer holds)."""
        qty, price, fee, slip_bps, filled, notional, leaves = values
        if self.cash_available is not None:
            room = self._spot_room(order, qty, price, self._taker_rate)
            if qty > room:   # as ``_fill`` cuts it: same price, fewer units
                reason = _NO_CASH if order.sign == 1 else _NO_POSITION
                if room <= _EPS:
                    self.cancel_now(order, ts, reason)
                    return False
                qty = room
                fee = qty * price * self._taker_rate
                filled = order.filled_qty + qty
                notional = order.notional + qty * price
                leaves = order.quantity - filled
                if leaves <= _EPS:
                    leaves = 0.0
                    filled = order.quantity
                else:
                    order.filled_qty = filled
                    order.notional = notional
                    order.last_fill_ns = ts
                    self._emit_fill(order, qty, price, filled, leaves, TAKER, fee, slip_bps,
                                    ts)
                    self.cancel_now(order, ts, reason)
                    return False
        order.filled_qty = filled
        order.notional = notional
        order.last_fill_ns = ts
        self._emit_fill(order, qty, price, filled, leaves, TAKER, fee, slip_bps, ts)
        if leaves == 0.0:
            order.closed = True
            self.working[order.symbol].remove(order)
        return True
