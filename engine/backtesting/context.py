"""What a strategy sees in a backtest: its context (position, cash, equity, order methods)
and, when it raises, the fault that stopped it."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import TYPE_CHECKING, Any

from engine.messages import BUY, GTC, LIMIT, MARKET, SELL, STOP, STOP_LIMIT, SubmitOrder
from engine.orders import Bracket, protective_orders
from engine.sizing import (SizingInputs, SizingPolicy, periods_per_year,
                           periods_per_year_from_times, size)
from engine.strategy import Strategy
from engine.venue import Order

if TYPE_CHECKING:
    from engine.backtesting.engine import BacktestEngine

_new = tuple.__new__


def _as_float(value: Any) -> Any:
    """Plain float for any real number (numpy scalars included); other values pass through
    unchanged for the venue to reject with a reason."""
    if value is None or type(value) is float:   # the usual cases, without an ABC check
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _as_flag(value: Any) -> Any:
    """Plain bool for numpy booleans; other values pass through for the venue to reject."""
    if type(value) is bool or not hasattr(value, "dtype") or value.dtype.kind != "b":
        return value
    return bool(value)


@dataclasses.dataclass
class StrategyFault:
    """A strategy that raised: it stopped receiving events; its orders were canceled."""

    strategy_id: str
    symbol: str
    hook: str
    error: str
    traceback: str
    ts_event: int


class BacktestContext:
    """The ``StrategyContext`` a strategy gets in a backtest."""

    __slots__ = ("_engine", "_next_id", "_returns", "_seen", "avg_price", "capital_share",
                 "overrides", "position", "sizing", "strategy", "strategy_id", "symbol", "venue")

    def __init__(self, engine: BacktestEngine, strategy: Strategy, strategy_id: str,
                 symbol: str, venue: str) -> None:
        self._engine = engine
        self.strategy = strategy
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.venue = venue
        self.position = 0.0
        self.avg_price = 0.0
        self.capital_share = math.nan   # unless configured, the run sets 1/N
        self._next_id = 0
        # hook name -> whether the strategy implements it (asked per fill: worth remembering)
        self.overrides: dict[str, bool] = {}
        # how entries are sized (engine.sizing); None: the strategy's own targets
        self.sizing: SizingPolicy | None = None
        self._returns: list[float] = []   # this pair's closed trades' returns (fractions)
        self._seen = 0                    # portfolio trades already scanned for them

    def now_ns(self) -> int:
        """Event time: the time of the event being processed."""
        return self._engine.clock.ts

    @property
    def cash(self) -> float:
        return self._engine.portfolio.cash

    @property
    def equity(self) -> float:
        return self._engine.portfolio.equity()

    @property
    def last_price(self) -> float:
        return self._engine.portfolio.last_price.get(self.symbol, float("nan"))

    def submit_order(self, side: str, quantity: float, order_type: str = MARKET, *,
                     limit_price: float | None = None, stop_price: float | None = None,
                     time_in_force: str = GTC, reduce_only: bool = False,
                     post_only: bool = False, trail_offset: float | None = None,
                     trail_percent: float | None = None, oco_group: str | None = None) -> str:
        """Submit an order; returns its client order id (deterministic: ``<strategy>-<n>``).

        ``order_type`` is MARKET, LIMIT, STOP, STOP_LIMIT or TRAILING_STOP (the rules:
        ``docs/orders.md``). ``reduce_only`` orders only reduce the position; ``post_only``
        limits never take liquidity; ``oco_group`` links orders that cancel each other when
        one fills.
        """
        # (built here rather than through _command: this is the route of every market order)
        self._next_id += 1
        coid = f"{self.strategy_id}-{self._next_id}"
        ts = self._engine.clock.ts
        # numpy scalars are fine to pass; messages carry plain floats
        self._engine.submit(_new(SubmitOrder, (
            self.strategy_id, self.venue, self.symbol, coid, side, order_type,
            _as_float(quantity), _as_float(limit_price), _as_float(stop_price), time_in_force,
            ts, ts, _as_flag(reduce_only), _as_flag(post_only), _as_float(trail_offset),
            _as_float(trail_percent), oco_group)))
        return coid

    def _command(self, side: str, quantity: float, order_type: str, limit_price: Any,
                 stop_price: Any, time_in_force: str, reduce_only: Any = False,
                 post_only: Any = False, trail_offset: Any = None, trail_percent: Any = None,
                 oco_group: str | None = None) -> SubmitOrder:
        coid = f"{self.strategy_id}-{self.next_order_number()}"
        ts = self._engine.clock.ts
        # numpy scalars are fine to pass; messages carry plain floats
        return _new(SubmitOrder, (self.strategy_id, self.venue, self.symbol, coid, side,
                                  order_type, _as_float(quantity), _as_float(limit_price),
                                  _as_float(stop_price), time_in_force, ts, ts,
                                  _as_flag(reduce_only), _as_flag(post_only),
                                  _as_float(trail_offset), _as_float(trail_percent), oco_group))

    def next_order_number(self) -> int:
        """The next ``n`` of this strategy's client order ids ``<strategy>-<n>``."""
        self._next_id += 1
        return self._next_id

    def buy(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
            time_in_force: str = GTC, reduce_only: bool = False, post_only: bool = False,
            stop_loss: float | None = None, take_profit: float | None = None,
            trailing: float | None = None, trailing_offset: float | None = None,
            stop_loss_pct: float | None = None, take_profit_pct: float | None = None) -> str:
        """Buy ``quantity``: a market order; a limit, stop, or stop-limit (both prices) when
        prices are given.

        The bracket keywords attach reduce-only children placed when this entry closes (see
        ``engine.orders``): a stop at ``stop_loss`` (or ``stop_loss_pct`` below the average
        fill price), or a trailing stop (``trailing``: a fraction, 0.02 = 2 %;
        ``trailing_offset``: a price distance), and a limit at ``take_profit`` (or
        ``take_profit_pct`` above the average fill price); stop and target cancel each other.
        """
        return self._entry(BUY, quantity, limit, stop, time_in_force, reduce_only, post_only,
                           Bracket(stop_loss, take_profit, stop_loss_pct, take_profit_pct,
                                   trailing, trailing_offset))

    def sell(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
             time_in_force: str = GTC, reduce_only: bool = False, post_only: bool = False,
             stop_loss: float | None = None, take_profit: float | None = None,
             trailing: float | None = None, trailing_offset: float | None = None,
             stop_loss_pct: float | None = None, take_profit_pct: float | None = None) -> str:
        """Sell (or sell short) ``quantity``: market, limit, stop or stop-limit, with the same
        bracket keywords as :meth:`buy` (mirrored: the stop above, the target below)."""
        return self._entry(SELL, quantity, limit, stop, time_in_force, reduce_only, post_only,
                           Bracket(stop_loss, take_profit, stop_loss_pct, take_profit_pct,
                                   trailing, trailing_offset))

    def _entry(self, side: str, quantity: float, limit: Any, stop: Any, time_in_force: str,
               reduce_only: bool, post_only: bool, bracket: Bracket) -> str:
        if limit is not None:
            kind = STOP_LIMIT if stop is not None else LIMIT
        else:
            kind = STOP if stop is not None else MARKET
        cmd = self._command(side, quantity, kind, limit, stop, time_in_force, reduce_only,
                            post_only)
        engine = self._engine
        if not bracket.empty:
            problem = bracket.problem()
            if problem is not None:
                engine.reject(cmd, problem)
                return cmd.client_order_id
            engine.contingent.attach(self, cmd, bracket)
        engine.submit(cmd)
        return cmd.client_order_id

    # --- protecting a position already held --------------------------------------------

    def stop_loss(self, price: float, quantity: float | None = None, *,
                  oco_group: str | None = None) -> str | None:
        """A reduce-only stop closing the position (or ``quantity`` of it) at ``price``;
        None when there is no position."""
        return self._protect(Bracket(stop_loss=price), quantity, oco_group)

    def take_profit(self, price: float, quantity: float | None = None, *,
                    oco_group: str | None = None) -> str | None:
        """A reduce-only limit closing the position (or ``quantity`` of it) at ``price``;
        None when there is no position."""
        return self._protect(Bracket(take_profit=price), quantity, oco_group)

    def trailing_stop(self, percent: float | None = None, *, offset: float | None = None,
                      quantity: float | None = None, oco_group: str | None = None) -> str | None:
        """A reduce-only trailing stop closing the position: ``percent`` (a fraction, 0.02 =
        2 %) or ``offset`` (a price distance, e.g. ``3 * atr``) behind the best price since
        it started. None when there is no position."""
        return self._protect(Bracket(trail_percent=percent, trail_offset=offset), quantity,
                             oco_group)

    def _protect(self, bracket: Bracket, quantity: float | None,
                 oco_group: str | None) -> str | None:
        pos = self.position
        if abs(pos) <= 1e-12:
            return None
        qty = abs(pos) if quantity is None else _as_float(quantity)
        ts = self._engine.clock.ts
        # (a stop moved past the entry price, to lock in a gain, is fine: the venue checks it
        # against the market)
        (cmd, reason), = protective_orders(self, SELL if pos > 0 else BUY, qty,
                                           self.avg_price, bracket, ts, oco_group,
                                           against_entry=False)
        if reason is not None:
            self._engine.reject(cmd, reason)
        else:
            self._engine.submit(cmd)
        return cmd.client_order_id

    def order_target(self, quantity: float) -> str | None:
        """Bring position plus working orders to ``quantity`` (signed) with one market order.

        Working orders net against the target: when they already make up the change needed
        nothing is sent; when they fall short on the same side the difference is added;
        otherwise (the opposite side, or more than needed) they are canceled and replaced by
        one order for the whole change, so a target that flips while an order is still
        working never leaves buys and sells working together. Orders with a cancel in flight
        do not count. A long-only strategy's target is never below zero. Returns the client
        order id, or None when no new order is needed.
        """
        if quantity < 0.0 and self.strategy.long_only:
            quantity = 0.0
        want = quantity - self.position
        # protective legs (reduce-only stops and targets) are not part of the target
        orders = [o for o in self.open_orders() if o.cancel_ns is None and not o.reduce_only]
        pending = 0.0
        for order in orders:
            pending += order.sign * order.leaves_qty
        delta = want - pending
        if abs(delta) <= 1e-12:
            return None
        if orders and (abs(want) <= 1e-12 or (pending > 0) != (want > 0)
                       or abs(pending) > abs(want)):
            for order in orders:   # opposite side or overshooting: replace them all
                self.cancel(order.client_order_id)
            delta = want
            if abs(delta) <= 1e-12:
                return None
        if delta > 0:
            return self.submit_order(BUY, delta)   # a market order, as buy(delta) places
        return self.submit_order(SELL, -delta)

    def order_target_percent(self, fraction: float, price: float) -> str | None:
        """Target a position worth ``fraction`` of this strategy's share of equity at ``price``
        (``fraction * equity * capital_share / price``; negative for short). With no equity
        left the target is flat."""
        equity = self._engine.portfolio.equity()
        if not equity > 0.0:
            return self.order_target(0.0)
        if self.sizing is not None and fraction != 0.0:
            # the signal says the side; the sizing policy says how much
            side = 1 if fraction > 0 else -1
            return self.order_target(side * size(self.sizing, self.sizing_inputs(
                equity, price, side)))
        return self.order_target(fraction * equity * self.capital_share / price)

    def enter_long(self, price: float | None = None) -> str | None:
        """Go long, sized by the pair's sizing policy (without one: all of its share)."""
        return self.order_target_percent(1.0, price or self.last_price)

    def enter_short(self, price: float | None = None) -> str | None:
        """Go short (margin accounts), sized by the pair's sizing policy."""
        return self.order_target_percent(-1.0, price or self.last_price)

    def exit_position(self) -> str | None:
        """Close the position (and cancel what is working)."""
        return self.order_target(0.0)

    def sizing_inputs(self, equity: float, price: float, side: int) -> SizingInputs:
        """What the sizing policy weighs for an entry now: equity, share, price, the stop the
        risk engine will attach, this pair's closed trades and the recent prices (events up
        to and including the current one only)."""
        engine = self._engine
        trades = engine.portfolio.trades
        for trade in trades[self._seen:]:
            if trade["strategy_id"] == self.strategy_id:
                self._returns.append(trade["return_pct"] / 100.0)
        self._seen = len(trades)
        stop = engine.risk.limits_of(self.strategy_id).stop_loss
        stop_price = price * (1.0 - side * stop) if stop is not None else None
        closes = highs = lows = None
        ppy = 365.0
        policy = self.sizing
        if policy is not None and policy.policy == "volatility_target":
            feed = engine.feed_of(self.symbol)
            times = feed.event_times()
            row = int(times.searchsorted(engine.clock.ts, side="right"))
            lo = max(0, row - policy.vol_window - 1)
            closes = feed.mark_prices()[lo:row]
            if feed.kind == "bar":
                cols = feed.arrays()
                highs, lows = cols["high"][lo:row], cols["low"][lo:row]
                ppy = periods_per_year(feed.interval_ns)
            elif row - lo >= 2 and times[lo] < times[row - 1]:
                ppy = periods_per_year_from_times(times[lo:row])
        return SizingInputs(equity=equity, capital_share=self.capital_share, price=price,
                            stop_price=stop_price, closed_returns=self._returns, closes=closes,
                            highs=highs, lows=lows, periods_per_year=ppy, side=side)

    def cancel(self, client_order_id: str) -> None:
        """Cancel a working order (takes effect after the venue latency)."""
        self._engine.venue.cancel(self.strategy_id, client_order_id, self._engine.clock.ts)

    def cancel_all(self) -> None:
        """Cancel every working order of this strategy."""
        for order in self.open_orders():
            if order.cancel_ns is None:
                self.cancel(order.client_order_id)

    def open_orders(self) -> list[Order]:
        """This strategy's working orders, oldest first."""
        return [o for o in self._engine.venue.working.get(self.symbol, ())
                if o.strategy_id == self.strategy_id]

    @property
    def pending_quantity(self) -> float:
        """Signed quantity still to fill on this strategy's working orders."""
        return sum(o.sign * o.leaves_qty for o in self.open_orders())
