"""The backtest engine: its set-up (feeds, strategies, venue, portfolio, risk), the order
flow between strategies, risk and venue, strategy faults, and its outputs (fills, order events,
the equity curve). Its two passes over the events live beside it: ``hook_loop`` (every event
through the hooks) and ``batch_pass`` (strategies' batch paths, visiting only the events where
something can happen)."""

from __future__ import annotations

import math
import traceback
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting.batch_pass import FillKeys, run_batch_pass
from engine.backtesting.context import BacktestContext, StrategyFault
from engine.backtesting.feed import Feed, merged_events
from engine.backtesting.hook_loop import NEVER, Handler, Progress, run_hooks
from engine.booking import P_QTY, book_run
from engine.clock import SimulatedClock, perf_seconds
from engine.equity import equity_curve
from engine.fill_log import FillLog
from engine.errors import ConfigError, NoDataError
from engine.intents import IntentSource
from engine.market_stats import MarketStats
from engine.messages import (BUY, SELL, OrderCanceled, OrderDenied, OrderFilled, OrderRejected,
                             RiskEvent, SubmitOrder)
from engine.orders import Bracket, ContingentOrders
from engine.portfolio import Portfolio
from engine.risk import PORTFOLIO, MarketView, RiskEngine, RiskLimits
from engine.strategy import Strategy
from engine.venue import Order, SimulatedVenue, VenueConfig

_new = tuple.__new__


class LazyMarketView:
    """A :class:`MarketView` whose fields are looked up in the engine's market statistics on
    first read (regime, cost and group each cost a search in the statistics' arrays)."""

    __slots__ = ("_cmd", "_cost", "_engine", "_group", "_regime")

    def __init__(self, engine: BacktestEngine) -> None:
        self._engine = engine
        self._cmd: Any = None
        self._regime: int | None = None
        self._cost: float | None = None
        self._group: tuple[str, ...] | None = None

    def reset(self, cmd: SubmitOrder) -> None:
        """Look at ``cmd`` now (one view serves every order in turn)."""
        self._cmd = cmd
        self._regime = self._cost = self._group = None

    def view(self) -> MarketView:
        """The fields read so far (the defaults for the others): what the audit carries."""
        return MarketView(1 if self._regime is None else self._regime,
                          0.0 if self._cost is None else self._cost,
                          () if self._group is None else self._group)

    @property
    def regime(self) -> int:
        if self._regime is None:
            cmd = self._cmd
            self._regime = self._engine.market.regime(cmd.symbol, cmd.ts_event)
        return self._regime

    @property
    def cost_bps(self) -> float:
        if self._cost is None:
            cmd = self._cmd
            engine = self._engine
            price = (engine.portfolio.last_price.get(cmd.symbol) or cmd.limit_price
                     or cmd.stop_price or 0.0)
            qty = cmd.quantity   # a finite number > 0: the check looks at no other order
            if type(price) is float and 0.0 < price < math.inf:
                market = engine.market
                self._cost = market.order_cost_bps(market.index(cmd.symbol), cmd.ts_event,
                                                   qty if cmd.side == BUY else -qty, price)
            else:
                self._cost = math.inf   # no price to weigh the cost against
        return self._cost

    @property
    def group(self) -> tuple[str, ...]:
        if self._group is None:
            cmd = self._cmd
            self._group = self._engine.market.correlated(
                cmd.symbol, cmd.ts_event, self._engine.limits.correlation_threshold)
        return self._group


def _ignore(event: Any) -> None:
    """Stands in for a faulted strategy's hook."""


class BacktestEngine:
    """Runs strategies over feeds in one process. Add feeds and strategies, then ``run()``."""

    def __init__(self, *, capital: float, venue_config: VenueConfig | None = None,
                 risk_limits: RiskLimits | None = None) -> None:
        self.clock = SimulatedClock()
        self.portfolio = Portfolio(capital)
        self.venue_config = venue_config or VenueConfig()
        # The account and the pre-trade rules (engine.risk). It may be swapped for any object
        # with RiskEngine's check / on_approved / on_event / apply (the execution actor puts
        # one that also streams every decision to the risk actor for audit).
        self.limits = risk_limits or RiskLimits()
        self.risk: Any = RiskEngine(self.limits, capital, self.venue_config.taker_fee_bps)
        # the kill switch set in the config: pulled at the first event at or after it (the
        # passes check it per event, so it cancels and flattens even when no order follows)
        kill_ns = self.limits.kill_at_ns()
        self.kill_at_ns = kill_ns if kill_ns is not None else NEVER
        # the market statistics behind the regime, correlation and cost rules (built on start)
        self.market: Any = None
        # prices from before the data for the market rules' regime and correlation (what a
        # live session fetched before its first event: engine.live.stats); None for none
        self.market_history: dict[str, tuple[Any, Any]] | None = None
        self._margin_called = False
        self._view: LazyMarketView | None = None
        self.venue = SimulatedVenue(self.venue_config, self._on_venue_event, self._on_fill)
        if self.limits.account == "spot":
            # a spot buy never spends more cash than the account holds
            self.venue.cash_available = self._cash_available
        self.venue.position = self._position_of
        self.venue.mark = self._mark_of
        # bracket entries waiting to place their stop and target
        self.contingent = ContingentOrders(self.submit, self.reject)
        self.feeds: list[Feed] = []
        self.contexts: list[BacktestContext] = []
        self._by_id: dict[str, BacktestContext] = {}
        self.faults: list[StrategyFault] = []
        self._faulted: set[str] = set()
        self._batch_ids: frozenset[str] = frozenset()   # their hooks do not run (run_batch)
        # per symbol, in strategy order: the hooks the hook loop calls on its events
        self._handlers: dict[str, list[Handler]] = {}
        self.fills = FillLog()   # every fill in booking order (runs kept as columns)
        self.order_events: list[Any] = []
        self._fill_event_seq: list[int] = []
        self._fill_cash: list[float] = []
        self._fill_net_qty: list[float] = []
        self._event_seq = -1
        self._event_key: tuple[int, int, int] | None = None   # batch mode: (ts, feed, row)
        self._fill_keys = FillKeys()   # batch mode: each fill's event
        self.events_processed = 0
        self.run_fills = 0    # fills booked compiled, in runs (book_run)
        self.elapsed_seconds = 0.0

    # --- set-up ---------------------------------------------------------------------------

    def add_feed(self, feed: Feed) -> None:
        if any(f.symbol == feed.symbol for f in self.feeds):
            raise ConfigError(f"symbol {feed.symbol!r} already has a feed")
        self.feeds.append(feed)
        self.venue.add_symbol(feed.symbol)

    def feed_of(self, symbol: str) -> Feed:
        """The feed of ``symbol``."""
        for feed in self.feeds:
            if feed.symbol == symbol:
                return feed
        raise NoDataError(f"no feed for symbol {symbol!r}")

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
        """Route a strategy's order through the risk engine to the venue: denied (an
        ``OrderDenied`` event), reduced to fit (a ``RiskEvent``), or sent as it is."""
        if cmd.strategy_id in self._faulted:
            return
        risk = self.risk
        qty, reason = risk.check(cmd, self.portfolio.last_price, self._market_view(cmd))
        if risk.events:
            self._risk_events()
        if reason is not None and qty == 0.0:
            event = _new(OrderDenied, (cmd.strategy_id, cmd.venue, cmd.symbol,
                                       cmd.client_order_id, reason, cmd.ts_event,
                                       cmd.ts_event))
            self.order_events.append(event)
            if self.contingent.entries:
                self.contingent.on_closed(cmd.client_order_id, cmd.ts_event)
            self._call(self._by_id[cmd.strategy_id], "on_order_denied", event)
            return
        if qty != cmd.quantity:   # reduced to fit
            cmd = _new(SubmitOrder, (*cmd[:6], qty, *cmd[7:]))
        risk.on_approved(cmd)
        stop = risk.limits_of(cmd.strategy_id).stop_loss
        if stop is not None and risk.last_increases and \
                cmd.client_order_id not in self.contingent.entries:
            # stop-loss enforcement: every entry gets its protective stop when it fills
            self.contingent.attach(self._by_id[cmd.strategy_id], cmd,
                                   Bracket(stop_loss_pct=stop))
        self.venue.submit(cmd)

    def _market_view(self, cmd: SubmitOrder) -> MarketView | LazyMarketView | None:
        """What the market rules read about the order's symbol, when one of them is on:
        looked up only when the checks ask (entries; an exit reads none of it)."""
        view = self._view
        if view is None:
            if self.market is None:
                return None
            view = self._view = LazyMarketView(self)
        view.reset(cmd)
        return view

    def _risk_events(self) -> None:
        """Move the risk engine's new events into the run's order events."""
        self.order_events.extend(self.risk.events)
        self.risk.events.clear()

    def margin_check(self) -> None:
        """Margin account, after a mark moved: below the maintenance margin every position is
        liquidated at its mark (taker fee and slippage paid) and working orders canceled; a
        deficit left is written off so equity never goes below zero, and the account halts.
        Equity below the initial margin (gross exposure / max leverage) is a margin call."""
        portfolio = self.portfolio
        last = portfolio.last_price
        gross = 0.0
        for symbol, qty in portfolio.net_qty.items():
            if qty:
                gross += abs(qty) * last[symbol]
        if not gross:
            self._margin_called = False
            return
        equity = portfolio.equity()
        if not (equity - equity == 0.0 and gross - gross == 0.0):
            return   # a mark is not a price (bad data): nothing to weigh
        limits = self.limits
        ts = self.clock.ts
        if equity >= limits.maintenance_margin * gross:
            if equity < gross / limits.max_leverage:
                if not self._margin_called:
                    self._margin_called = True
                    self.risk.note(RiskEvent("margin_call", PORTFOLIO, "", "", "",
                                             f"margin_call: equity {equity:.2f} below the "
                                             f"initial margin {gross / limits.max_leverage:.2f}",
                                             equity, ts, ts))
            else:
                self._margin_called = False
            return
        self.risk.note(RiskEvent("liquidation", PORTFOLIO, "", "", "",
                                 f"liquidation: equity {equity:.2f} below the maintenance "
                                 f"margin {limits.maintenance_margin * gross:.2f}", equity,
                                 ts, ts))
        for book in self.venue.working.values():
            for order in list(book):
                self.venue.cancel_now(order, ts, "liquidation")
        for ctx in self.contexts:
            pos = portfolio.positions.get((ctx.symbol, ctx.strategy_id))
            if pos is not None and pos.qty:
                self.venue.liquidate(ctx.strategy_id, ctx.symbol, pos.qty, last[ctx.symbol], ts)
        equity = portfolio.equity()
        if equity <= 0.0:
            deficit = -equity
            portfolio.cash += deficit
            self.risk.note(RiskEvent("bankrupt", PORTFOLIO, "", "", "HALTED",
                                     f"bankrupt: a deficit of {deficit:.2f} written off",
                                     deficit, ts, ts))
            if self._fill_cash:
                self._fill_cash[-1] = portfolio.cash
        self._risk_events()

    def _cash_available(self) -> float:
        return self.portfolio.cash

    def kill_switch(self, reason: str = "kill switch") -> None:
        """Halt the portfolio: cancel every working order and close every position with
        reduce-only market orders (the only orders a HALTED portfolio sends)."""
        ts = self.clock.ts
        self.risk.kill(ts, reason)
        self._risk_events()
        for book in self.venue.working.values():
            for order in list(book):
                self.venue.cancel_now(order, ts, f"kill_switch: {reason}")
        for ctx in self.contexts:
            pos = self.portfolio.positions.get((ctx.symbol, ctx.strategy_id))
            if pos is not None and pos.qty:
                ctx.submit_order(SELL if pos.qty > 0 else BUY, abs(pos.qty), reduce_only=True)

    def reject(self, cmd: SubmitOrder, reason: str) -> None:
        """Answer a strategy's order with ``OrderRejected`` without sending it (a bracket
        whose settings contradict each other, a child on the wrong side of its entry)."""
        if cmd.strategy_id in self._faulted:
            return
        self._on_venue_event(_new(OrderRejected, (cmd.strategy_id, cmd.venue, cmd.symbol,
                                                  cmd.client_order_id, reason, cmd.ts_event,
                                                  cmd.ts_event)))

    def _position_of(self, strategy_id: str, symbol: str) -> float:
        """The venue's view of a strategy's signed position (for reduce-only orders)."""
        pos = self.portfolio.positions.get((symbol, strategy_id))
        return pos.qty if pos is not None else 0.0

    def _mark_of(self, symbol: str) -> float:
        """The venue's view of the market: the symbol's last price, NaN before any."""
        return self.portfolio.last_price.get(symbol, math.nan)

    def _on_fill(self, event: OrderFilled) -> None:
        """Book a fill (the venue's direct route for fills: this runs once per fill)."""
        ctx = self._by_id[event.strategy_id]
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
        if self.risk.events:
            self._risk_events()
        if self.contingent.entries:   # a bracket entry's children go out before on_fill
            self.contingent.on_fill(event)
        self._call(ctx, "on_fill", event)

    def book_run(self, order: Order, values: np.ndarray, ts: list[int], feed: int,
                 rows: list[int]) -> int:
        """Book the leading fills of one order's forecast run (``values`` per fill as
        ``engine.fills.market_fills`` gives them, at times ``ts``: rows ``rows`` of feed
        ``feed``)
        compiled (``engine.booking.book_run``), equal to the bit to booking them one by one
        through the venue; returns how many. A run may open the round trip at its first
        fill, and ends with a fill that closes it (the trip is recorded, the risk engine
        learns of it). It stops before a fill that needs the Python path: one that flips the
        position or that a spot account's cash or position would cut; and it books none for
        a position's very first fill, or when booking runs code of its own (a strategy's
        ``on_fill`` hook, a bracket waiting on the fill, a risk engine of another kind)."""
        sid, symbol = order.strategy_id, order.symbol
        if order.closed or self.contingent.entries or not self._runs_ok:
            return 0
        ctx = self._by_id[sid]
        if not (sid in self._batch_ids or sid in self._faulted) and \
                ctx.strategy.overrides("on_fill"):
            return 0
        p = self.portfolio.run_state(symbol, sid)
        if p is None:
            return 0
        r = self.risk.run_state(symbol, sid, order.client_order_id)
        if r is None:
            return 0
        others, mine = self.portfolio.others_of(symbol, sid)
        flat = p[P_QTY] == 0.0
        after = np.empty((len(ts), 2))   # the cash and the symbol's net quantity, per fill
        info = np.empty(2)               # whether the last fill closed the round trip
        m = book_run(values, p, r, others,
                     np.array([order.sign, mine, self.venue.cash_available is not None,
                               self.venue.taker_rate]), after, info)
        if not m:
            return 0
        closed = bool(info[0])
        first = values[0]
        pos = self.portfolio.set_run_state(
            symbol, sid, p, (ts[0], float(first[1]), float(first[0]) * order.sign)
            if flat else None, ts[m - 1] if closed else None)
        self.risk.set_run_state(symbol, sid, order.client_order_id, r,
                                (float(info[1]), ts[m - 1]) if closed else None)
        cash_after, net_after = after[:m, 0].tolist(), after[:m, 1].tolist()
        self.portfolio.net_qty[symbol] = net_after[-1]
        ctx.position = pos.qty
        ctx.avg_price = pos.avg_price
        run = self.venue.forecast_run_booked(order, values[:m], ts[:m])
        self.fills.add_run(run)
        self.run_fills += m
        self._fill_keys.extend_run(ts[:m], feed, rows[:m])
        self._fill_cash.extend(cash_after)
        self._fill_net_qty.extend(net_after)
        self.risk.run_booked(run)
        if self.risk.events:   # a closed round trip tripped a breaker or a cooldown
            self._risk_events()
        return m

    @property
    def _runs_ok(self) -> bool:
        """Whether fills may be booked as runs at all: the stock risk engine, and the venue
        asking this engine's portfolio for cash and positions (or nothing)."""
        venue = self.venue
        return isinstance(self.risk, RiskEngine) and \
            venue.cash_available in (None, self._cash_available) and \
            venue.position == self._position_of

    def _on_venue_event(self, event: Any) -> None:
        cls = type(event)
        if cls is OrderFilled:
            self._on_fill(event)
            return
        self.risk.on_event(event)
        self.order_events.append(event)
        if (cls is OrderRejected or cls is OrderCanceled) and self.contingent.entries:
            self.contingent.on_closed(event.client_order_id, event.ts_event)
        if cls is OrderRejected:
            self._call(self._by_id[event.strategy_id], "on_order_rejected", event)
        elif cls is OrderCanceled:
            self._call(self._by_id[event.strategy_id], "on_order_canceled", event)

    def _call(self, ctx: BacktestContext, hook: str, *args: Any) -> None:
        sid = ctx.strategy_id
        if sid in self._faulted or sid in self._batch_ids:
            return
        implemented = ctx.overrides.get(hook)
        if implemented is None:
            implemented = ctx.overrides[hook] = ctx.strategy.overrides(hook)
        if not implemented:
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

    # --- the runs -------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> None:
        """Process every event through the strategies' hooks (``hook_loop``).
        ``progress(done, total)`` is called every ~64k events."""
        started = self._start()
        run_hooks(self, progress)
        self._stop(started)

    def run_batch(self, progress: Progress | None = None, source: IntentSource | None = None,
                  chunk_rows: int = 65_536) -> None:
        """Process every event, taking the orders of strategies with a batch path from their
        ``on_batch`` intents instead of their per-event hooks (``batch_pass``).

        Only the events where something can happen are visited: rows with intents, rows of
        symbols with working orders, and every row of symbols whose strategies run hooks.
        Results equal :meth:`run` exactly when each batch path yields its hooks' orders.
        ``source`` supplies intents as they are computed (the actor graph streams them from
        its workers); by default they are computed here, ``chunk_rows`` events at a time.
        """
        if source is not None:   # those strategies run elsewhere: none of their hooks here
            self._batch_ids = source.strategy_ids
        started = self._start()
        run_batch_pass(self, source, chunk_rows, progress)
        self._stop(started)

    def _start(self) -> float:
        """Check the set-up, split the capital, set the clock to the first event's open and
        start the strategies; returns the start time."""
        if not self.feeds:
            raise NoDataError("backtest has no data feeds")
        if not self.contexts:
            raise ConfigError("backtest has no strategies")
        even = 1.0 / len(self.contexts)
        for ctx in self.contexts:
            if math.isnan(ctx.capital_share):   # not configured
                ctx.capital_share = even
        started = perf_seconds()
        if self.limits.market_rules and self.market is None:
            self.market = MarketStats.from_feeds(self.feeds, self.limits.stats_config(),
                                                 self.market_history)
        self.clock.set(min(int(f.frame["ts"].iloc[0]) for f in self.feeds))
        for ctx in self.contexts:
            self._call(ctx, "on_start")
        return started

    def _stop(self, started: float) -> None:
        for ctx in self.contexts:
            self._call(ctx, "on_stop")
        self.elapsed_seconds = perf_seconds() - started

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
                            _codes(self.fills.symbols(), index),
                            np.asarray(self._fill_cash, dtype=np.float64),
                            np.asarray(self._fill_net_qty, dtype=np.float64),
                            self.portfolio.initial_cash, start_ts, interval_ns=interval_ns)

    def equity_curve_reference(self) -> pd.DataFrame:
        """The same curve computed with plain numpy (kept as the kernel's test oracle)."""
        feed_ids, _, ts, mark = merged_events(self.feeds)
        n = len(ts)
        fill_seq = np.asarray(self._fill_event_seq, dtype=np.int64)
        events = np.arange(n)
        cash = _as_of(fill_seq, np.asarray(self._fill_cash, dtype=np.float64), events,
                      self.portfolio.initial_cash)
        value = np.zeros(n)
        gross = np.zeros(n)
        fill_symbols = self.fills.symbols()
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


def _codes(symbols: np.ndarray, index: dict[str, int]) -> np.ndarray:
    """Each fill's feed index, from its symbol."""
    out = np.full(len(symbols), -1, dtype=np.int64)
    for symbol, i in index.items():
        out[symbols == symbol] = i
    return out


def _as_of(fill_seq: np.ndarray, after_fill: np.ndarray, events: np.ndarray,
           before_any: float) -> np.ndarray:
    """The value booked by the last fill at or before each event (``before_any`` until then)."""
    out = np.full(len(events), before_any, dtype=np.float64)
    last = np.searchsorted(fill_seq, events, side="right") - 1
    booked = last >= 0
    out[booked] = after_fill[last[booked]]
    return out
