"""The single-process backtest: market events in event-time order through the simulated
venue, the portfolio and the strategies' hooks.

For each event, in this order:

1. the venue matches working orders of the event's symbol (orders decided on earlier events
   only: no look-ahead), fills are booked and ``on_fill`` runs;
2. the clock moves to the event's time and the symbol's mark price updates;
3. the strategies of that symbol see the event (``on_bar`` / ``on_trade`` / ``on_quote``, then
   ``on_price`` with the event's price when it is finite) and may submit orders, which can
   fill no earlier than the next event plus latency.

Events of several feeds are merged by ``ts_event`` (a bar's close time), ties broken by the
feed order (symbols as configured), so a run is deterministic. The equity curve is computed
after the run from the booked fills and the events' mark prices: one point per event time.
"""

from __future__ import annotations

import dataclasses
import gc
import heapq
import numbers
import traceback
from typing import Any, Callable

import numpy as np
import pandas as pd

from engine.clock import SimulatedClock, perf_seconds
from engine.data.schema import BAR, QUOTE, TRADE
from engine.equity import equity_curve
from engine.errors import ConfigError, NoDataError
from engine.intents import IntentSource, IntentUpdate, apply_intent, batch_intents
from engine.messages import (
    BUY, GTC, LIMIT, MARKET, SELL, STOP, Bar, OrderCanceled, OrderDenied, OrderFilled,
    OrderRejected, Quote, SubmitOrder, Trade,
)
from engine.portfolio import Portfolio
from engine.risk import RiskEngine, RiskLimits
from engine.strategy import Strategy
from engine.venue import Order, SimulatedVenue, VenueConfig

_new = tuple.__new__


def _ignore(event: Any) -> None:
    """Stands in for a faulted strategy's hook."""


def _as_float(value: Any) -> Any:
    """Plain float for any real number (numpy scalars included); other values pass through
    unchanged for the venue to reject with a reason."""
    if type(value) is float:
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


@dataclasses.dataclass
class Feed:
    """One instrument's market data of one kind, as columns (see ``engine.data.schema``)."""

    symbol: str
    kind: str
    frame: pd.DataFrame
    interval_ns: int = 0
    venue: str = "SIM"

    def __post_init__(self) -> None:
        if self.kind not in (BAR, TRADE, QUOTE):
            raise ConfigError(f"feed kind must be bar, trade or quote, got {self.kind!r}")
        if self.kind == BAR and self.interval_ns <= 0:
            raise ConfigError(f"bar feed {self.symbol!r} needs a positive interval_ns")
        if len(self.frame) == 0:
            raise NoDataError(f"feed {self.symbol!r} ({self.kind}) has no rows")

    def event_times(self) -> np.ndarray:
        """When each row becomes known: bar close time, or the trade/quote time."""
        ts = self.frame["ts"].to_numpy(dtype=np.int64)
        return ts + self.interval_ns if self.kind == BAR else ts

    def mark_prices(self) -> np.ndarray:
        """The price positions are marked at after each row: close, trade price, or mid."""
        f = self.frame
        if self.kind == BAR:
            return f["close"].to_numpy(dtype=np.float64)
        if self.kind == TRADE:
            return f["price"].to_numpy(dtype=np.float64)
        return (f["bid"].to_numpy(dtype=np.float64) + f["ask"].to_numpy(dtype=np.float64)) / 2


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

    __slots__ = ("strategy_id", "venue", "symbol", "position", "avg_price", "capital_share",
                 "_engine", "_next_id", "strategy")

    def __init__(self, engine: "BacktestEngine", strategy: Strategy, strategy_id: str,
                 symbol: str, venue: str) -> None:
        self._engine = engine
        self.strategy = strategy
        self.strategy_id = strategy_id
        self.symbol = symbol
        self.venue = venue
        self.position = 0.0
        self.avg_price = 0.0
        self.capital_share: float | None = None   # run() sets 1/N unless configured
        self._next_id = 0

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
                     time_in_force: str = GTC) -> str:
        """Submit an order; returns its client order id (deterministic: ``<strategy>-<n>``)."""
        self._next_id += 1
        coid = f"{self.strategy_id}-{self._next_id}"
        ts = self._engine.clock.ts
        # numpy scalars are fine to pass; messages carry plain floats
        quantity = _as_float(quantity)
        limit_price = _as_float(limit_price)
        stop_price = _as_float(stop_price)
        cmd = _new(SubmitOrder, (self.strategy_id, self.venue, self.symbol, coid, side,
                                 order_type, quantity, limit_price, stop_price, time_in_force,
                                 ts, ts))
        self._engine.submit(cmd)
        return coid

    def buy(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
            time_in_force: str = GTC) -> str:
        """Buy ``quantity``: a market order, or limit / stop when a price is given."""
        kind = LIMIT if limit is not None else STOP if stop is not None else MARKET
        return self.submit_order(BUY, quantity, kind, limit_price=limit, stop_price=stop,
                                 time_in_force=time_in_force)

    def sell(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
             time_in_force: str = GTC) -> str:
        """Sell (or sell short) ``quantity``: market, or limit / stop when a price is given."""
        kind = LIMIT if limit is not None else STOP if stop is not None else MARKET
        return self.submit_order(SELL, quantity, kind, limit_price=limit, stop_price=stop,
                                 time_in_force=time_in_force)

    def order_target(self, quantity: float) -> str | None:
        """Market order bringing position plus working orders to ``quantity`` (signed).

        Working orders on the side opposite to the change needed (all of them when the
        position is already at the target) are canceled first: a target that flips while an
        order is still filling must not leave both sides working. Same-side working orders
        count towards the target; orders with a cancel in flight do not. Returns the client order id, or
        None when no new order is needed.
        """
        want = quantity - self.position
        orders = self.open_orders()
        pending = 0.0
        for order in orders:
            if order.cancel_ns is not None:
                continue
            if abs(want) <= 1e-12 or (order.sign > 0) != (want > 0):
                self.cancel(order.client_order_id)   # opposite side, or nothing wanted
            else:
                pending += order.sign * order.leaves_qty
        delta = want - pending
        if delta > 1e-12:
            return self.buy(delta)
        if delta < -1e-12:
            return self.sell(-delta)
        return None

    def order_target_percent(self, fraction: float, price: float) -> str | None:
        """Target a position worth ``fraction`` of this strategy's share of equity at ``price``
        (``fraction * equity * capital_share / price``; negative for short)."""
        return self.order_target(fraction * self._engine.portfolio.equity()
                                 * self.capital_share / price)

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


class BacktestEngine:
    """Runs strategies over feeds in one process. Add feeds and strategies, then ``run()``."""

    def __init__(self, *, capital: float, venue_config: VenueConfig | None = None,
                 risk_limits: RiskLimits | None = None, risk: Any = None) -> None:
        self.clock = SimulatedClock()
        # ``risk`` may be any object with RiskEngine's check / on_approved / on_event (the
        # actor graph passes a client of the risk actor); by default a local RiskEngine.
        limits = risk_limits or RiskLimits()
        self.risk = risk if risk is not None else (RiskEngine(limits) if limits.active else None)
        self.portfolio = Portfolio(capital)
        self.venue_config = venue_config or VenueConfig()
        self.venue = SimulatedVenue(self.venue_config, self._on_venue_event, self._on_fill)
        self.feeds: list[Feed] = []
        self.contexts: list[BacktestContext] = []
        self._by_id: dict[str, BacktestContext] = {}
        self.faults: list[StrategyFault] = []
        self._faulted: set[str] = set()
        self._batch_ids: frozenset[str] = frozenset()   # their hooks do not run (run_batch)
        # per symbol, in strategy order: (context, hook, whether it takes the price)
        self._handlers: dict[str, list[tuple[BacktestContext, Callable[[Any], None], bool]]] = {}
        self.fills: list[OrderFilled] = []
        self.order_events: list[Any] = []
        self._fill_event_seq: list[int] = []
        self._fill_cash: list[float] = []
        self._fill_net_qty: list[float] = []
        self._event_seq = -1
        self._event_key: tuple[int, int, int] | None = None   # batch mode: (ts, feed, row)
        self._fill_keys: list[tuple[int, int, int]] = []      # batch mode: each fill's event
        self._times: list[np.ndarray] = []
        self.events_processed = 0
        self.elapsed_seconds = 0.0

    # --- set-up ---------------------------------------------------------------------------

    def add_feed(self, feed: Feed) -> None:
        if any(f.symbol == feed.symbol for f in self.feeds):
            raise ConfigError(f"symbol {feed.symbol!r} already has a feed")
        self.feeds.append(feed)
        self.venue.add_symbol(feed.symbol)

    def add_strategy(self, strategy: Strategy, symbol: str, strategy_id: str | None = None,
                     capital_share: float | None = None) -> BacktestContext:
        """Run ``strategy`` on ``symbol``; its id defaults to ``<name>:<symbol>``.

        ``capital_share`` is the share of portfolio equity the strategy sizes against
        (``ctx.capital_share``); by default the pairs split it evenly.
        """
        if symbol not in self.venue.working:
            raise NoDataError(f"strategy {strategy.name!r} is set on symbol {symbol!r}, which "
                              f"has no data; symbols with data: "
                              f"{', '.join(f.symbol for f in self.feeds) or '(none)'}")
        sid = strategy_id or f"{strategy.name}:{symbol}"
        if sid in self._by_id:
            raise ConfigError(f"strategy id {sid!r} is used twice")
        ctx = BacktestContext(self, strategy, sid, symbol, self.venue_config.venue)
        if capital_share is not None:
            if not (0 < capital_share <= 1):
                raise ConfigError(f"capital_share of {sid!r} must be in (0, 1], got "
                                  f"{capital_share!r}")
            ctx.capital_share = float(capital_share)
        strategy.ctx = ctx
        self.contexts.append(ctx)
        self._by_id[sid] = ctx
        return ctx

    # --- order flow -----------------------------------------------------------------------

    def submit(self, cmd: SubmitOrder) -> None:
        """Route a strategy's order through the risk checks to the venue."""
        if cmd.strategy_id in self._faulted:
            return
        risk = self.risk
        if risk is not None:
            portfolio = self.portfolio
            reason = risk.check(cmd, portfolio.equity(), portfolio.last_price)
            if reason is not None:
                event = _new(OrderDenied, (cmd.strategy_id, cmd.venue, cmd.symbol,
                                           cmd.client_order_id, reason, cmd.ts_event,
                                           cmd.ts_event))
                self.order_events.append(event)
                self._call(self._by_id[cmd.strategy_id], "on_order_denied", event)
                return
            risk.on_approved(cmd)
        self.venue.submit(cmd)

    def _on_fill(self, event: OrderFilled) -> None:
        """Book a fill (the venue's direct route for fills: this runs once per fill)."""
        ctx = self._by_id[event.strategy_id]
        if self.risk is not None:
            self.risk.on_event(event)
        portfolio = self.portfolio
        pos = portfolio.apply_fill(event)
        ctx.position = pos.qty
        ctx.avg_price = pos.avg_price
        self.fills.append(event)
        if self._event_key is None:
            self._fill_event_seq.append(self._event_seq)
        else:   # batch mode: the fill's event is placed in the merged order after the run
            self._fill_keys.append(self._event_key)
        self._fill_cash.append(portfolio.cash)
        self._fill_net_qty.append(portfolio.net_qty[event.symbol])
        self._call(ctx, "on_fill", event)

    def _on_venue_event(self, event: Any) -> None:
        cls = type(event)
        if cls is OrderFilled:
            self._on_fill(event)
            return
        ctx = self._by_id[event.strategy_id]
        if self.risk is not None:
            self.risk.on_event(event)
        self.order_events.append(event)
        if cls is OrderRejected:
            self._call(ctx, "on_order_rejected", event)
        elif cls is OrderCanceled:
            self._call(ctx, "on_order_canceled", event)

    def _call(self, ctx: BacktestContext, hook: str, *args: Any) -> None:
        sid = ctx.strategy_id
        if sid in self._faulted or sid in self._batch_ids or not ctx.strategy.overrides(hook):
            return
        try:
            getattr(ctx.strategy, hook)(*args)
        except Exception as exc:  # the guard around user code
            self._fault(ctx, hook, exc)

    def _fault(self, ctx: BacktestContext, hook: str, exc: BaseException) -> None:
        self.fault_with(ctx, hook, f"{type(exc).__name__}: {exc}",
                        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))

    def fault_with(self, ctx: BacktestContext, hook: str, error: str, tb: str) -> None:
        """Fault a strategy: record why, stop its hooks and cancel its working orders."""
        if ctx.strategy_id in self._faulted:
            return
        self._faulted.add(ctx.strategy_id)
        self.faults.append(StrategyFault(
            strategy_id=ctx.strategy_id, symbol=ctx.symbol, hook=hook, error=error,
            traceback=tb, ts_event=self.clock.ts))
        # Swap the hook for a no-op in place: the list may be mid-iteration in the event loop.
        handlers = self._handlers.get(ctx.symbol, [])
        for i, (owner, _, by_price) in enumerate(handlers):
            if owner is ctx:
                handlers[i] = (owner, _ignore, by_price)
        for order in ctx.open_orders():
            self.venue.cancel_now(order, self.clock.ts, "strategy faulted")

    # --- the run --------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Process every event. ``progress(done, total)`` is called every ~64k events."""
        if not self.feeds:
            raise NoDataError("backtest has no data feeds")
        if not self.contexts:
            raise ConfigError("backtest has no strategies")
        for feed in self.feeds:
            self._handlers[feed.symbol] = [
                entry for ctx in self.contexts if ctx.symbol == feed.symbol
                for entry in event_hooks(ctx, feed.kind)]
        even = 1.0 / len(self.contexts)
        for ctx in self.contexts:
            if ctx.capital_share is None:
                ctx.capital_share = even
        started = perf_seconds()
        first_ts = min(int(f.frame["ts"].iloc[0]) for f in self.feeds)
        self.clock.set(first_ts)
        for ctx in self.contexts:
            self._call(ctx, "on_start")
        try:
            if len(self.feeds) == 1 and self.feeds[0].kind == BAR:
                self._run_single_bar_feed(self.feeds[0], progress)
            else:
                self._run_merged(progress)
        finally:
            gc.unfreeze()
        for ctx in self.contexts:
            self._call(ctx, "on_stop")
        self.elapsed_seconds = perf_seconds() - started

    def _run_single_bar_feed(self, feed: Feed,
                             progress: Callable[[int, int], None] | None) -> None:
        # The hot path: one bar feed. Kept flat on purpose; each line here runs per event.
        f = feed.frame
        ts_l = f["ts"].to_numpy(dtype=np.int64).tolist()
        o_l = f["open"].to_numpy(dtype=np.float64).tolist()
        h_l = f["high"].to_numpy(dtype=np.float64).tolist()
        l_l = f["low"].to_numpy(dtype=np.float64).tolist()
        c_l = f["close"].to_numpy(dtype=np.float64).tolist()
        v_l = f["volume"].to_numpy(dtype=np.float64).tolist()
        n = len(ts_l)
        symbol, venue_name, interval = feed.symbol, self.venue_config.venue, feed.interval_ns
        book = self.venue.working[symbol]
        on_bar = self.venue.on_bar
        handlers = self._handlers[symbol]
        last = self.portfolio.last_price
        clock = self.clock
        fault = self._fault
        # The column lists hold millions of items; full garbage collections would traverse
        # them again and again. Freeze what exists now (the loops' inputs) out of collection
        # for the run; new objects are still collected.
        gc.freeze()
        mask = (1 << 16) - 1
        i = -1
        for ts_open, o, h, lo, c, v in zip(ts_l, o_l, h_l, l_l, c_l, v_l):
            i += 1
            ts_close = ts_open + interval
            if book:
                self._event_seq = i   # fills happen only inside the venue call
                on_bar(symbol, o, h, lo, c, v, ts_open, ts_close)
            last[symbol] = c
            clock.ts = ts_close
            bar = None
            for ctx, hook, by_price in handlers:
                try:
                    if by_price:
                        if c - c == 0.0:    # NaN or infinite prices are not passed on
                            hook(c)
                    else:
                        if bar is None:
                            bar = _new(Bar, (venue_name, symbol, interval, o, h, lo, c, v,
                                             ts_close, ts_close))
                        hook(bar)
                except Exception as exc:
                    fault(ctx, "on_price" if by_price else "on_bar", exc)
            if progress is not None and not (i & mask):
                progress(i, n)
        self.events_processed = n
        if progress is not None:
            progress(n, n)

    def _run_merged(self, progress: Callable[[int, int], None] | None) -> None:
        feed_ids, rows = merged_order(self.feeds)
        columns = []
        for feed in self.feeds:
            f = feed.frame
            cols = {name: f[name].to_numpy().tolist() for name in f.columns}
            columns.append(cols)
        venue_name = self.venue_config.venue
        last = self.portfolio.last_price
        clock = self.clock
        fault = self._fault
        venue = self.venue
        kinds = [feed.kind for feed in self.feeds]
        symbols = [feed.symbol for feed in self.feeds]
        intervals = [feed.interval_ns for feed in self.feeds]
        books = [venue.working[s] for s in symbols]
        handlers = [self._handlers[s] for s in symbols]
        hook_names = ["on_" + kind for kind in kinds]
        n = len(rows)
        step = 1 << 16
        gc.freeze()  # as in the single-feed loop: keep the inputs out of collections
        for k, (fi, r) in enumerate(zip(feed_ids.tolist(), rows.tolist())):
            self._event_seq = k
            cols = columns[fi]
            symbol = symbols[fi]
            kind = kinds[fi]
            if kind == BAR:
                interval = intervals[fi]
                ts_open = cols["ts"][r]
                ts = ts_open + interval
                o, h, lo, c, v = (cols["open"][r], cols["high"][r], cols["low"][r],
                                  cols["close"][r], cols["volume"][r])
                if books[fi]:
                    venue.on_bar(symbol, o, h, lo, c, v, ts_open, ts)
                last[symbol] = c
                event = _new(Bar, (venue_name, symbol, interval, o, h, lo, c, v, ts, ts))
            elif kind == TRADE:
                ts = cols["ts"][r]
                price, size = cols["price"][r], cols["size"][r]
                if books[fi]:
                    venue.on_trade(symbol, price, size, ts)
                last[symbol] = price
                event = _new(Trade, (venue_name, symbol, price, size, cols["side"][r],
                                     str(cols["trade_id"][r]), ts, ts))
            else:
                ts = cols["ts"][r]
                bid, ask = cols["bid"][r], cols["ask"][r]
                bs, az = cols["bid_size"][r], cols["ask_size"][r]
                if books[fi]:
                    venue.on_quote(symbol, bid, ask, bs, az, ts)
                last[symbol] = (bid + ask) / 2
                event = _new(Quote, (venue_name, symbol, bid, ask, bs, az, ts, ts))
            clock.ts = ts   # merged by event time: never goes back
            price = last[symbol]
            for ctx, hook, by_price in handlers[fi]:
                try:
                    if by_price:
                        if price - price == 0.0:    # NaN or infinite prices are not passed on
                            hook(price)
                    else:
                        hook(event)
                except Exception as exc:
                    fault(ctx, "on_price" if by_price else hook_names[fi], exc)
            if progress is not None and not (k & (step - 1)):
                progress(k, n)
        self.events_processed = n
        if progress is not None:
            progress(n, n)

    # --- batch mode -----------------------------------------------------------------------

    def run_batch(self, progress: Callable[[int, int], None] | None = None,
                  source: IntentSource | None = None, chunk_rows: int = 65_536) -> None:
        """Process every event, taking the orders of strategies with a batch path from their
        ``on_batch`` intents instead of their per-event hooks.

        Only the events where something can happen are visited: rows with intents, rows of
        symbols with working orders, and every row of symbols whose strategies run hooks.
        Results equal :meth:`run` exactly when each batch path yields its hooks' orders.
        ``source`` supplies intents as they are computed (the actor graph streams them from
        its workers); by default they are computed here, ``chunk_rows`` events at a time.
        """
        if not self.feeds:
            raise NoDataError("backtest has no data feeds")
        if not self.contexts:
            raise ConfigError("backtest has no strategies")
        even = 1.0 / len(self.contexts)
        for ctx in self.contexts:
            if ctx.capital_share is None:
                ctx.capital_share = even
        started = perf_seconds()
        first_ts = min(int(f.frame["ts"].iloc[0]) for f in self.feeds)
        self.clock.set(first_ts)
        for ctx in self.contexts:
            if source is None or ctx.strategy_id not in source.strategy_ids:
                self._call(ctx, "on_start")
        if source is None:
            source = LocalIntentSource(self, chunk_rows)
        self._batch_ids = source.strategy_ids
        try:
            _BatchLoop(self, source, progress).run()
        finally:
            self._event_key = None
        self._fill_event_seq = self._global_indices(self._fill_keys)
        for ctx in self.contexts:
            if ctx.strategy_id not in source.strategy_ids:
                self._call(ctx, "on_stop")
        self.elapsed_seconds = perf_seconds() - started

    def _global_indices(self, keys: list[tuple[int, int, int]]) -> list[int]:
        """:meth:`_global_index` of many keys at once."""
        if not keys:
            return []
        ts, fi, rows = (np.array(c, dtype=np.int64) for c in zip(*keys))
        k = rows.copy()
        for j, times in enumerate(self._times):
            right = np.searchsorted(times, ts, side="right")
            left = np.searchsorted(times, ts, side="left")
            k += np.where(fi == j, 0, np.where(j < fi, right, left))
        return k.tolist()

    def _global_index(self, ts: int, fi: int, row: int) -> int:
        """Position of (ts, feed, row) in :func:`merged_order` of all feeds' events."""
        k = row
        for j, times in enumerate(self._times):
            if j != fi:
                k += int(np.searchsorted(times, ts, side="right" if j < fi else "left"))
        return k

    # --- outputs --------------------------------------------------------------------------

    def equity_curve(self, start_ts: int | None = None, interval_ns: int = 0) -> pd.DataFrame:
        """Equity, cash and gross exposure after each event time (one row per timestamp).

        Built from the fills booked during the run and the events' mark prices, so the hot
        loop records nothing per event. ``start_ts``, when earlier than the first event, adds
        a first row there with the initial capital; ``interval_ns`` > 0 keeps the last point
        of each interval only.
        """
        index = {f.symbol: i for i, f in enumerate(self.feeds)}
        return equity_curve([f.event_times() for f in self.feeds],
                            [f.mark_prices() for f in self.feeds],
                            np.asarray(self._fill_event_seq, dtype=np.int64),
                            np.array([index[f.symbol] for f in self.fills], dtype=np.int64),
                            np.asarray(self._fill_cash, dtype=np.float64),
                            np.asarray(self._fill_net_qty, dtype=np.float64),
                            self.portfolio.initial_cash, start_ts, interval_ns=interval_ns)

    def equity_curve_reference(self) -> pd.DataFrame:
        """The same curve computed with plain numpy (kept as the kernel's test oracle)."""
        feed_ids, rows = merged_order(self.feeds)
        n = len(rows)
        ts = np.empty(n, dtype=np.int64)
        mark = np.empty(n, dtype=np.float64)
        for fi, feed in enumerate(self.feeds):
            sel = feed_ids == fi
            ts[sel] = feed.event_times()[rows[sel]]
            mark[sel] = feed.mark_prices()[rows[sel]]
        fill_seq = np.asarray(self._fill_event_seq, dtype=np.int64)
        events = np.arange(n)
        cash = _as_of(fill_seq, np.asarray(self._fill_cash, dtype=np.float64), events,
                      self.portfolio.initial_cash)
        value = np.zeros(n)
        gross = np.zeros(n)
        fill_symbols = np.array([f.symbol for f in self.fills], dtype=object)
        net_after = np.asarray(self._fill_net_qty, dtype=np.float64)
        for fi, feed in enumerate(self.feeds):
            mine = np.flatnonzero(fill_symbols == feed.symbol)
            if len(mine) == 0:
                continue
            qty = _as_of(fill_seq[mine], net_after[mine], events, 0.0)
            # this symbol's latest mark price at each event
            idx = np.where(feed_ids == fi, events, -1)
            idx = np.maximum.accumulate(idx)
            px = np.where(idx >= 0, mark[np.maximum(idx, 0)], 0.0)
            value += qty * px
            gross += np.abs(qty * px)
        equity = cash + value
        # keep the state after the last event of each timestamp
        keep = np.ones(n, dtype=bool)
        keep[:-1] = ts[1:] != ts[:-1]
        return pd.DataFrame({"ts": ts[keep], "equity": equity[keep], "cash": cash[keep],
                             "gross_exposure": gross[keep]})


def _as_of(fill_seq: np.ndarray, after_fill: np.ndarray, events: np.ndarray,
           before_any: float) -> np.ndarray:
    """The value booked by the last fill at or before each event (``before_any`` until then)."""
    out = np.full(len(events), before_any, dtype=np.float64)
    last = np.searchsorted(fill_seq, events, side="right") - 1
    booked = last >= 0
    out[booked] = after_fill[last[booked]]
    return out


_KIND_HOOK = {BAR: "on_bar", TRADE: "on_trade", QUOTE: "on_quote"}


def event_hooks(ctx: BacktestContext, kind: str) -> list[tuple[BacktestContext, Any, bool]]:
    """The hooks a strategy runs on each event of a ``kind`` feed, in call order: its
    ``on_bar`` / ``on_trade`` / ``on_quote``, then ``on_price``; as (context, bound hook,
    whether the hook takes the price)."""
    strategy = ctx.strategy
    out = []
    hook = _KIND_HOOK[kind]
    if strategy.overrides(hook):
        out.append((ctx, getattr(strategy, hook), False))
    if strategy.overrides("on_price"):
        out.append((ctx, strategy.on_price, True))
    return out


def merged_order(feeds: list[Feed]) -> tuple[np.ndarray, np.ndarray]:
    """Event-time order of all feeds' rows: (feed index, row) sorted by (ts_event, feed index)."""
    times = [f.event_times() for f in feeds]
    feed_ids = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(times)])
    rows = np.concatenate([np.arange(len(t), dtype=np.int64) for t in times])
    ts = np.concatenate(times)
    order = np.lexsort((rows, feed_ids, ts))
    return feed_ids[order], rows[order]


class LocalIntentSource(IntentSource):
    """Runs each batch-path strategy of an engine over its whole feed, in this process."""

    def __init__(self, engine: BacktestEngine, chunk_rows: int) -> None:
        self.engine = engine
        self.chunk_rows = chunk_rows
        self.strategy_ids = frozenset(ctx.strategy_id for ctx in engine.contexts
                                      if ctx.strategy.has_batch_path()
                                      and ctx.strategy_id not in engine._faulted)
        self._sent = False

    def poll(self, block: bool) -> list[IntentUpdate]:
        if self._sent:
            return []
        self._sent = True
        feeds = {f.symbol: f for f in self.engine.feeds}
        out = []
        for ctx in self.engine.contexts:
            if ctx.strategy_id not in self.strategy_ids:
                continue
            feed = feeds[ctx.symbol]
            out.append(batch_intents(ctx.strategy, ctx.strategy_id, feed.kind, feed.symbol,
                                     {k: feed.frame[k].to_numpy() for k in feed.frame.columns},
                                     feed.interval_ns, self.chunk_rows))
        return out


class _Schedule:
    """The forecast fills of one symbol's book (``engine.fills.market_fills``) as lists, with
    how many are booked: per fill its row, time, order (index into ``orders``) and values
    (qty, price, fee, slippage_bps, filled_after, notional_after, leaves_after)."""

    __slots__ = ("orders", "rows", "ts", "order", "values", "n", "pos")

    def __init__(self, orders: list[Order], rows: list[int], ts: list[int], order: list[int],
                 values: list[list[float]]) -> None:
        self.orders, self.rows, self.ts, self.order, self.values = orders, rows, ts, order, values
        self.n = len(rows)
        self.pos = 0

    def next_key(self, fi: int) -> tuple[int, int, int]:
        if self.pos < self.n:
            return (self.ts[self.pos], fi, self.rows[self.pos])
        return _INF_KEY


_INF_KEY = (np.iinfo(np.int64).max, 1 << 30, 1 << 62)
_FAULT = -1


class _BatchLoop:
    """The sparse event-time pass of :meth:`BacktestEngine.run_batch`."""

    def __init__(self, engine: BacktestEngine, source: IntentSource,
                 progress: Callable[[int, int], None] | None) -> None:
        self.engine = engine
        self.source = source
        self.progress = progress
        feeds = engine.feeds
        engine._times = self.times = [f.event_times() for f in feeds]
        self.marks = [f.mark_prices() for f in feeds]
        self.cols = [{k: f.frame[k].to_numpy() for k in f.frame.columns} for f in feeds]
        self.symbol_index = {f.symbol: i for i, f in enumerate(feeds)}
        batch_ids = source.strategy_ids
        # per feed, in strategy order: (ctx, is_batch, hook or None, whether it takes the price)
        self.entries: list[list[tuple[BacktestContext, bool, Any, bool]]] = [[] for _ in feeds]
        self.dense = [False] * len(feeds)
        for ctx in engine.contexts:
            fi = self.symbol_index[ctx.symbol]
            if ctx.strategy_id in batch_ids:
                self.entries[fi].append((ctx, True, None, False))
            elif ctx.strategy_id not in engine._faulted:
                for _, hook, by_price in event_hooks(ctx, feeds[fi].kind):
                    self.entries[fi].append((ctx, False, hook, by_price))
                    self.dense[fi] = True
        # per batch strategy: queued intents as lists, head position, watermark key
        self.queue: dict[str, list[tuple[int, int, float, float]]] = {s: [] for s in batch_ids}
        self.head: dict[str, int] = {s: 0 for s in batch_ids}
        self.wm: dict[str, tuple[int, int, int]] = {s: (-1, -1, -1) for s in batch_ids}
        self.faults: dict[str, tuple[str, str]] = {}
        self.ctx_fi = {ctx.strategy_id: self.symbol_index[ctx.symbol]
                       for ctx in engine.contexts}
        self.total = sum(len(t) for t in self.times)
        # Trade feeds without hooks: a book of plain market orders gets its fills from a
        # compiled schedule (engine.fills) instead of a visit per trade.
        self.schedulable = [f.kind == TRADE and not self.dense[i] for i, f in enumerate(feeds)]
        self.sched: list[_Schedule | None] = [None] * len(feeds)
        # per feed: row -> the other symbols' marks as of that row (rows with intents)
        self.marks_ahead: list[dict[int, list[tuple[str, float]]]] = [{} for _ in feeds]
        self.next_fill = _INF_KEY      # the earliest fill some schedule has not booked yet

    def _take(self, updates: list[IntentUpdate]) -> None:
        for u in updates:
            sid = u.strategy_id
            q = self.queue[sid]
            it = u.intents
            q.extend(zip(it.row.tolist(), it.kind.tolist(), it.value.tolist(),
                         it.price.tolist()))
            if len(it):
                self._mark_ahead(self.ctx_fi[sid], it.row)
            if u.fault is not None:
                row, error, tb = u.fault
                q.append((row, _FAULT, 0.0, 0.0))
                self.faults[sid] = (error, tb)
            if u.done:
                self.wm[sid] = _INF_KEY
            elif u.upto_row >= 0:
                fi = self.ctx_fi[sid]
                self.wm[sid] = (int(self.times[fi][u.upto_row]), fi, u.upto_row)

    def run(self) -> None:
        engine = self.engine
        venue = engine.venue
        feeds = engine.feeds
        nf = len(feeds)
        times, entries, dense, queue, head = (self.times, self.entries, self.dense,
                                              self.queue, self.head)
        sched = self.sched
        books = [venue.working[f.symbol] for f in feeds]
        lengths = [len(t) for t in times]
        last_vis = [-1] * nf
        batch_sids = [[ctx.strategy_id for ctx, is_batch, _, _ in entries[fi] if is_batch]
                      for fi in range(nf)]

        def candidate(fi: int) -> tuple[int, int, int]:
            """The next row of feed ``fi`` where something happens, as an event-time key."""
            row = last_vis[fi] + 1
            if row >= lengths[fi]:
                return _INF_KEY
            cand = row if (dense[fi] or (books[fi] and sched[fi] is None)) else -1
            for sid in batch_sids[fi]:
                q, h = queue[sid], head[sid]
                if h < len(q):
                    r = q[h][0]
                    if cand < 0 or r < cand:
                        cand = r
            return (int(times[fi][cand]), fi, cand) if cand >= 0 else _INF_KEY

        self._take(self.source.poll(block=False))
        cands = [candidate(fi) for fi in range(nf)]
        safe = min(self.wm.values(), default=_INF_KEY)
        gc.freeze()
        visits = 0
        while True:
            best = min(cands)
            if best > safe or best == _INF_KEY:
                if safe == _INF_KEY:
                    break          # every intent is in and nothing is left to do
                self._take(self.source.poll(block=True))
                safe = min(self.wm.values(), default=_INF_KEY)
                cands = [candidate(fi) for fi in range(nf)]
                continue
            fi = best[1]
            if self.next_fill <= best:
                self._book(best)
            self._visit(best[0], fi, best[2], books)
            last_vis[fi] = best[2]
            cands[fi] = candidate(fi)   # only this feed's books and queues changed
            visits += 1
            if self.progress is not None and not (visits & 4095):
                self.progress(engine._global_index(*best), self.total)
        self._book(_INF_KEY)
        # the portfolio ends marked at every symbol's last price
        last = engine.portfolio.last_price
        for fi, feed in enumerate(feeds):
            last[feed.symbol] = float(self.marks[fi][-1])
        engine.clock.ts = max(int(t[-1]) for t in times)
        engine.events_processed = self.total
        if self.progress is not None:
            self.progress(self.total, self.total)

    def _visit(self, ts: int, fi: int, row: int, books: list[list[Order]]) -> None:
        engine = self.engine
        feed = engine.feeds[fi]
        symbol = feed.symbol
        c = self.cols[fi]
        engine._event_key = (ts, fi, row)
        kind = feed.kind
        if books[fi] and self.sched[fi] is None:
            if kind == BAR:
                engine.venue.on_bar(symbol, float(c["open"][row]), float(c["high"][row]),
                                    float(c["low"][row]), float(c["close"][row]),
                                    float(c["volume"][row]), ts - feed.interval_ns, ts)
            elif kind == TRADE:
                engine.venue.on_trade(symbol, float(c["price"][row]), float(c["size"][row]), ts)
            else:
                engine.venue.on_quote(symbol, float(c["bid"][row]), float(c["ask"][row]),
                                      float(c["bid_size"][row]), float(c["ask_size"][row]), ts)
        engine.portfolio.last_price[symbol] = float(self.marks[fi][row])
        engine.clock.ts = ts
        book = books[fi]
        # the book as the schedule (if any) forecast it: orders and their cancel requests
        before = [(o, o.cancel_ns) for o in book] if self.sched[fi] is not None else None
        refreshed = False
        for ctx, is_batch, hook, by_price in self.entries[fi]:
            sid = ctx.strategy_id
            if is_batch:
                q, h = self.queue[sid], self.head[sid]
                while h < len(q) and q[h][0] == row:
                    _, ikind, value, price = q[h]
                    h += 1
                    if sid in engine._faulted:
                        continue
                    if not refreshed:
                        self._marks_at(ts, fi, row)
                        refreshed = True
                    if ikind == _FAULT:
                        error, tb = self.faults[sid]
                        engine.fault_with(ctx, "on_batch", error, tb)
                    else:
                        apply_intent(ctx, ikind, value, price)
                self.head[sid] = h
            elif sid not in engine._faulted:
                if not refreshed:
                    self._refresh_marks(ts, fi)
                    refreshed = True
                try:
                    if by_price:
                        price = engine.portfolio.last_price[symbol]
                        if price - price == 0.0:   # NaN or infinite prices are not passed on
                            hook(price)
                    else:
                        hook(self._event(fi, row, ts))
                except Exception as exc:
                    engine._fault(ctx, hook.__name__, exc)
        if self.schedulable[fi] and before != [(o, o.cancel_ns) for o in book]:
            self._schedule(fi, row + 1)   # the book changed: forecast afresh

    # --- compiled fills of market-order books ---------------------------------------------

    def _schedule(self, fi: int, start: int) -> None:
        """Forecast the fills of feed ``fi``'s book from ``start`` on, when the venue can
        (a book of plain market orders); otherwise its trades are visited."""
        c = self.cols[fi]
        forecast = self.engine.venue.forecast_market_fills(
            self.engine.feeds[fi].symbol, c["price"], c["size"], self.times[fi], start)
        if forecast is None:
            self.sched[fi] = None
        else:   # (an empty schedule too: those orders get no fill before the data ends)
            orders, (rows, which, values) = forecast
            self.sched[fi] = _Schedule(orders, rows.tolist(), self.times[fi][rows].tolist(),
                                       which.tolist(), values.tolist())
        self.next_fill = min([s.next_key(j) for j, s in enumerate(self.sched) if s is not None],
                             default=_INF_KEY)

    def _book(self, upto: tuple[int, int, int]) -> None:
        """Book every scheduled fill at or before event key ``upto``, in event-time order
        across symbols (as visiting each trade would), through the engine's fill route."""
        engine = self.engine
        book_fill = engine.venue.book_forecast_fill
        scheds = self.sched
        heap = [(s.next_key(j), j) for j, s in enumerate(scheds)
                if s is not None and s.pos < s.n]
        heapq.heapify(heap)
        while heap and heap[0][0] <= upto:
            best, fi = heap[0]
            s = scheds[fi]
            row = best[2]
            engine._event_key = best
            ts = best[0]
            k = s.pos
            while k < s.n and s.rows[k] == row:
                book_fill(s.orders[s.order[k]], s.values[k], ts)
                k += 1
            s.pos = k
            if k < s.n:
                heapq.heapreplace(heap, (s.next_key(fi), fi))
            else:
                heapq.heappop(heap)
        self.next_fill = heap[0][0] if heap else _INF_KEY

    def _event(self, fi: int, row: int, ts: int) -> Any:
        """The message a hook receives for one row of a feed."""
        feed = self.engine.feeds[fi]
        c = self.cols[fi]
        venue = self.engine.venue_config.venue
        if feed.kind == BAR:
            return _new(Bar, (venue, feed.symbol, feed.interval_ns, float(c["open"][row]),
                              float(c["high"][row]), float(c["low"][row]),
                              float(c["close"][row]), float(c["volume"][row]), ts, ts))
        if feed.kind == TRADE:
            return _new(Trade, (venue, feed.symbol, float(c["price"][row]),
                                float(c["size"][row]), int(c["side"][row]),
                                str(c["trade_id"][row].item()), ts, ts))
        return _new(Quote, (venue, feed.symbol, float(c["bid"][row]), float(c["ask"][row]),
                            float(c["bid_size"][row]), float(c["ask_size"][row]), ts, ts))

    def _mark_ahead(self, fi: int, rows: np.ndarray) -> None:
        """What :meth:`_refresh_marks` will find at these rows of feed ``fi``, looked up for a
        whole batch of intents at once (one vectorized search per feed, not one per visit)."""
        ts = self.times[fi][rows]
        others = []
        for j, times in enumerate(self.times):
            if j != fi:
                c = times.searchsorted(ts, side="right" if j < fi else "left")
                others.append((self.engine.feeds[j].symbol,
                               self.marks[j][np.maximum(c - 1, 0)].tolist(), (c > 0).tolist()))
        ahead = self.marks_ahead[fi]
        for k, row in enumerate(rows.tolist()):
            if row not in ahead:
                ahead[row] = [(symbol, marks[k]) for symbol, marks, seen in others if seen[k]]

    def _marks_at(self, ts: int, fi: int, row: int) -> None:
        """Mark every other symbol as of this visit (prepared by :meth:`_mark_ahead` when the
        row has intents)."""
        ahead = self.marks_ahead[fi].pop(row, None)
        if ahead is None:
            self._refresh_marks(ts, fi)
            return
        last = self.engine.portfolio.last_price
        for symbol, mark in ahead:
            last[symbol] = mark

    def _refresh_marks(self, ts: int, fi: int) -> None:
        """Mark every other symbol at its last event before (ts, fi) in event-time order."""
        last = self.engine.portfolio.last_price
        for j, times in enumerate(self.times):
            if j != fi:
                c = int(times.searchsorted(ts, side="right" if j < fi else "left"))
                if c:
                    last[self.engine.feeds[j].symbol] = float(self.marks[j][c - 1])
