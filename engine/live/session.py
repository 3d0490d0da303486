"""A paper session: the config's strategies on live market data from an exchange through
ccxt.pro, filled by the simulated venue (the backtest's fill, fee and slippage models) on the
wall clock, with the backtest's risk engine in front of every order.

The session builds the same engine a backtest builds (``engine.run.build_engine``, without
data), feeds it each symbol's live trades (or closed bars with ``timeframe``) through
:class:`~engine.live.loop.LiveLoop`, and, when it stops (``duration`` elapsed, or ``stop()``),
assembles the same result a backtest gives from what it recorded. A backtest over that
recording places the session's orders exactly.

Before anything runs, the exchange id, its markets and every symbol are checked: an unknown
exchange or symbol is refused naming it and what there is.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from engine.config import BacktestConfig
from engine.datasource import LoadedData
from engine.errors import ConfigError, RaytraderError
from engine.live.feed import BarFeed, QuoteFeed, TradeFeed
from engine.live.loop import LiveLoop
from engine.obs.session import SessionWatch
from engine.result import BacktestResult
from engine.risk import PORTFOLIO, STATES
from engine.run import (add_strategies, assemble_result, build_engine, complete_params,
                        plan_pairs)
from engine.timeframes import timeframe_to_ns


FEEDS = ("trades", "quotes")


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """A running session's pulse: events and fills so far, orders working, equity at the
    last prices, non-zero positions by symbol, how long since the last market message
    (None before the first) and the risk engine's trading state."""

    beat: int
    events: int
    fills: int
    working: int
    equity: float
    positions: dict[str, float]
    seconds_since_data: float | None
    state: str
    reconnects: int = 0       # market-data sockets reopened, all feeds
    rest_retries: int = 0     # REST backfills asked again


    def line(self) -> str:
        held = ", ".join(f"{s} {q:g}" for s, q in sorted(self.positions.items())) or "flat"
        quiet = "no data yet" if self.seconds_since_data is None else \
            f"last data {self.seconds_since_data:.1f}s ago"
        return (f"heartbeat {self.beat}: {self.events:,} events, {self.fills:,} fills, "
                f"{self.working} working, equity {self.equity:,.2f}, {held}, {quiet}, "
                f"{self.reconnects} reconnects, {self.rest_retries} backfill retries, "
                f"{self.state}")


@dataclasses.dataclass
class ExchangeSpec:
    """Which exchange, and how to build its ccxt client: constructor keys (``options``,
    ``enableRateLimit``, ...), and ``rest_url`` / ``ws_url`` replacing the scheme and host of
    every REST and websocket URL (a testnet, a proxy, a local test exchange)."""

    exchange_id: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    sandbox: bool = False

    def client(self, credentials: dict[str, str] | None = None) -> Any:
        """A ccxt.pro client (async REST and websockets)."""
        import ccxt.pro

        from engine.live.executor import keep_error_headers
        from engine.obs.exchange import instrument

        if self.exchange_id not in ccxt.pro.exchanges:
            raise ConfigError(f"unknown exchange {self.exchange_id!r}: ccxt.pro knows "
                              f"{', '.join(ccxt.pro.exchanges)}")
        settings = dict(self.settings)
        rest_url = settings.pop("rest_url", None)
        ws_url = settings.pop("ws_url", None)
        exchange = getattr(ccxt.pro, self.exchange_id)({**settings, **(credentials or {})})
        keep_error_headers(exchange)
        instrument(exchange)   # requests, errors and order latency for the metrics
        if self.sandbox:
            exchange.set_sandbox_mode(True)
        if rest_url or ws_url:
            from engine.live.urls import apply_to

            apply_to(exchange, rest_url, ws_url)
        return exchange


async def check_symbols(exchange: Any, symbols: list[str]) -> None:
    """Load the exchange's markets; a symbol it does not list is refused, naming it."""
    from engine.live.executor import ask_patiently

    await ask_patiently(exchange, "load_markets", exchange.load_markets)
    unknown = [s for s in symbols if s not in exchange.markets]
    if unknown:
        some = ", ".join(sorted(exchange.markets)[:20])
        raise ConfigError(f"{exchange.id} has no market {', '.join(map(repr, unknown))}; it "
                          f"lists {len(exchange.markets)} markets, e.g. {some}")


class PaperSession:
    """One paper session of a config on one exchange.

    ``heartbeat`` (seconds) hands ``on_heartbeat`` a :class:`Heartbeat` that often while the
    session runs: proof the session is alive and what it is doing. ``feed``: the market the
    strategies see, "trades" (closed bars instead with the config's timeframe) or "quotes"
    (the best bid and ask, Binance's bookTicker)."""

    def __init__(self, config: BacktestConfig, spec: ExchangeSpec,
                 duration: float | None = None, *, heartbeat: float | None = None,
                 on_heartbeat: Callable[[Heartbeat], None] | None = None,
                 feed: str = "trades") -> None:
        if not config.symbols:
            raise ConfigError("a paper session needs symbols (--symbols BTC/USDT,...)")
        if heartbeat is not None and not heartbeat > 0:
            raise ConfigError(f"heartbeat must be a positive number of seconds, got "
                              f"{heartbeat!r}")
        if feed not in FEEDS:
            raise ConfigError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
        if feed == "quotes" and config.timeframe:
            raise ConfigError("--feed quotes trades on the best bid and ask; bars come with "
                              "--timeframe and the trades feed, not both")
        self.feed = feed
        self.config = complete_params(config)
        self.spec = spec
        self.duration = duration
        self.symbols = list(config.symbols)
        self.stop_event = asyncio.Event()
        self.loop: LiveLoop | None = None
        self.feeds: list[TradeFeed | BarFeed | QuoteFeed] = []
        self.heartbeat = heartbeat
        self.on_heartbeat = on_heartbeat
        self.beats = 0
        self._last_message = 0.0
        self.queue: asyncio.Queue[Any] | None = None   # market messages waiting (metrics)
        self.exchange_stats: Any = None   # the exchange client's request counts (metrics)
        self.executor: Any = None
        self.history_bars: dict[str, int] = {}   # market rules: bars fetched per symbol

    def stop(self) -> None:
        """End the session as its duration would: what follows a normal end (for a live
        session, canceling working orders) still happens."""
        self.stop_event.set()

    def stop_on_signals(self) -> Callable[[], None]:
        """SIGINT (Ctrl-C) and SIGTERM stop the session gracefully (``stop()``); a second
        SIGINT interrupts at once. Call from inside the session's event loop; returns the
        function that puts the default handlers back."""
        import signal

        running = asyncio.get_running_loop()

        def first(signum: int) -> None:
            self.stop()
            running.remove_signal_handler(signal.SIGINT)   # the next Ctrl-C is a hard stop

        for signum in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(signum, first, signum)

        def restore() -> None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                running.remove_signal_handler(signum)
        return restore

    def _beat(self, loop: LiveLoop) -> Heartbeat:
        engine = loop.engine
        portfolio = engine.portfolio
        now = time.monotonic()
        return Heartbeat(
            beat=self.beats, events=loop.k + 1, fills=len(engine.fills),
            working=sum(len(book) for book in engine.venue.working.values()),
            equity=portfolio.equity() if loop.k >= 0 else portfolio.cash,
            positions={s: q for s, q in portfolio.net_qty.items() if q},
            seconds_since_data=(now - self._last_message) if self._last_message else None,
            state=STATES[engine.risk.state(PORTFOLIO)],
            reconnects=sum(f.stats.reconnects for f in self.feeds),
            rest_retries=sum(f.stats.rest_retries for f in self.feeds))

    async def _heartbeats(self, loop: LiveLoop) -> None:
        assert self.heartbeat is not None
        while not self.stop_event.is_set():
            await asyncio.sleep(self.heartbeat)
            self.beats += 1
            if self.on_heartbeat is not None:
                self.on_heartbeat(self._beat(loop))

    def record(self, catalog: str) -> list[str]:
        """Write what the session saw to the Parquet catalog at ``catalog`` (under the
        config's venue name), so ``raytrader backtest --data catalog:DIR`` replays it; returns
        the series written."""
        from engine.data.catalog import ParquetCatalog

        if self.loop is None:
            return []
        store = ParquetCatalog(catalog)
        written = []
        for feed in self.loop.feeds():
            timeframe = self.config.timeframe if feed.kind == "bar" else None
            store.write(feed.frame, venue=self.config.execution.venue, symbol=feed.symbol,
                        kind=feed.kind, timeframe=timeframe, mode="replace")
            written.append(f"{feed.kind} {feed.symbol}: {len(feed.frame):,} rows")
        stats = self.loop.stats
        for symbol, (ts, price) in (stats.history if stats is not None else {}).items():
            # what the market rules were seeded with: the replay starts from it too
            store.write_history(self.config.execution.venue, symbol, ts, price)
            written.append(f"market-rule history {symbol}: {len(ts):,} prices")
        return written

    def _kind(self, interval: int) -> str:
        return "bar" if interval else "quote" if self.feed == "quotes" else "trade"

    def _feed(self, exchange: Any, symbol: str, interval: int) -> TradeFeed | BarFeed | QuoteFeed:
        if interval:
            return BarFeed(exchange, symbol, self.config.timeframe or "1m")
        return QuoteFeed(exchange, symbol) if self.feed == "quotes" else \
            TradeFeed(exchange, symbol)

    async def _market(self, exchange: Any, loop: LiveLoop, interval: int,
                      on_first: Callable[[], None] | None = None,
                      after: Callable[[], None] | None = None,
                      extra: Sequence[Coroutine[Any, Any, None]] = ()) -> bool:
        """Run the market until the duration is up or ``stop()``: every symbol's feed pumps
        into one queue, each message goes through ``loop`` (``on_first`` once, before the
        first; ``after`` after each), ``extra`` coroutines run beside. A feed or an extra
        that fails ends the session with its error. Messages already received when the
        session ends are processed too, so every message a feed passed on is an event.
        Returns whether any message came."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self.queue = queue
        self.feeds = [self._feed(exchange, s, interval) for s in self.symbols]

        async def pump(feed: TradeFeed | BarFeed | QuoteFeed) -> None:
            async for msg in feed.messages(self.stop_event):
                queue.put_nowait(msg)

        async def guarded(work: Coroutine[Any, Any, None]) -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except BaseException as exc:   # handed to the market loop, which raises it
                queue.put_nowait(exc)

        tasks = [asyncio.create_task(guarded(pump(f))) for f in self.feeds]
        tasks += [asyncio.create_task(guarded(work)) for work in extra]
        if self.heartbeat:
            tasks.append(asyncio.create_task(guarded(self._heartbeats(loop))))
        started = False

        def take(msg: Any) -> None:
            nonlocal started
            if isinstance(msg, BaseException):
                raise msg
            if not started:
                loop.start(msg.ts_event)
                if on_first is not None:
                    on_first()
                started = True
            self._last_message = time.monotonic()
            loop.on_message(msg)
            if after is not None:
                after()

        deadline = (time.monotonic() + self.duration) if self.duration else None
        try:
            while not self.stop_event.is_set():
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                try:
                    msg = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    break
                take(msg)
        finally:
            self.stop_event.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        while not queue.empty():
            take(queue.get_nowait())
        return started

    async def _history(self, exchange: Any, loop: LiveLoop) -> None:
        """With the market rules on: each symbol's closed bars before now, through REST, so
        the regime and correlation know the market from the first event, and their kernels
        compiled before the market starts (``engine.live.stats``)."""
        if loop.stats is None:
            return
        from engine.live.stats import fetch_history

        self.history_bars = await fetch_history(exchange, loop.stats, int(time.time() * 1000))
        loop.stats.warm()

    async def run(self) -> BacktestResult:
        config = self.config
        exchange = self.spec.client()
        self.exchange_stats = exchange.raytrader_stats
        watch = SessionWatch(self, "paper", uuid.uuid4().hex[:8])
        error: BaseException | None = None
        try:
            await check_symbols(exchange, self.symbols)
            interval = timeframe_to_ns(config.timeframe) if config.timeframe else 0
            kind = self._kind(interval)
            engine = build_engine(config, [], [])
            loop = self.loop = LiveLoop(engine, {s: (kind, interval) for s in self.symbols})
            add_strategies(engine, plan_pairs(config, self.symbols))
            await self._history(exchange, loop)
            started = await self._market(exchange, loop, interval)
            if not started:
                raise ConfigError(f"no market data from {exchange.id} for "
                                  f"{', '.join(self.symbols)} before the session ended")
            loop.stop()
            loaded = LoadedData(engine.feeds, f"paper:{exchange.id}", {})
            result = assemble_result(config, engine, loaded)
            result.timing["feeds"] = {f.symbol: dataclasses.asdict(f.stats) for f in self.feeds}
            if loop.stats is not None:
                result.timing["market_history_bars"] = dict(self.history_bars)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            watch.close(error)
            await exchange.close()


class LiveSession(PaperSession):
    """One live session: the same engine and loop as paper, with the exchange as the venue
    (``engine.live.venue.ExchangeVenue``), every command and answer journaled, fills taken
    from the exchange's user-data websocket as they happen (``stream_fills``) and polled
    every ``poll_seconds`` besides (a fill both report is booked once). On its end
    (duration, ``stop()``, Ctrl-C), working orders are canceled; positions are left as they
    are unless ``flatten``, which closes each strategy's position with a market order."""

    def __init__(self, config: BacktestConfig, spec: ExchangeSpec, credentials: Any,
                 journal_path: str, duration: float | None = None,
                 poll_seconds: float = 1.0, *, flatten: bool = False,
                 stream_fills: bool = True,
                 heartbeat: float | None = None,
                 on_heartbeat: Callable[[Heartbeat], None] | None = None,
                 feed: str = "trades") -> None:
        super().__init__(config, spec, duration, heartbeat=heartbeat,
                         on_heartbeat=on_heartbeat, feed=feed)
        self.flatten = flatten
        self.stream_fills = stream_fills
        self.credentials = credentials
        self.journal_path = journal_path
        self.poll_seconds = poll_seconds
        self.venue: Any = None
        self.reconciliation: Any = None   # what a resumed session found

    @staticmethod
    def _save_states(engine: Any, journal: Any) -> None:
        """Journal each strategy's state (``Strategy.save_state``) when it has one."""
        for ctx in engine.contexts:
            if ctx.strategy.overrides("save_state") and ctx.strategy_id not in engine._faulted:
                state = ctx.strategy.save_state()
                if state is not None:
                    journal.save_state(ctx.strategy_id, state)

    @staticmethod
    def _load_states(engine: Any, journal: Any) -> None:
        """Hand each strategy what a previous run of the session kept for it."""
        for ctx in engine.contexts:
            if ctx.strategy.overrides("load_state"):
                state = journal.load_state(ctx.strategy_id)
                if state is not None:
                    ctx.strategy.load_state(state)

    async def _flatten(self, engine: Any, venue: Any, executor: Any) -> None:
        """Close every strategy's position with a market order (through the risk engine,
        which lets exits pass) and book the fills; a position still open after three rounds
        is left and named in an error."""
        for _ in range(3):
            open_ = [ctx for ctx in engine.contexts if abs(ctx.position) > 1e-12
                     and ctx.strategy_id not in engine._faulted]
            if not open_:
                return
            for ctx in open_:
                ctx.exit_position()
            await venue.drain()
            await executor.poll_fills(insist=True)
        left = [f"{ctx.strategy_id} {ctx.position:g}" for ctx in engine.contexts
                if abs(ctx.position) > 1e-12]
        if left:
            raise ExchangeSessionError(f"flatten: positions still open after three market "
                                       f"orders each: {', '.join(left)}")

    async def _resume(self, engine: Any, journal: Any, executor: Any, venue: Any,
                      exchange: Any) -> None:
        """Rebuild the account from the journal, reconcile it with the exchange, book what
        happened while the session was down and track the orders still working."""
        from engine.live.reconcile import reconcile
        from engine.live.resume import apply_reconciliation, exchange_snapshot, rebuild_engine

        state = journal.rebuild()
        rebuild_engine(engine, journal, state)
        snapshot = await exchange_snapshot(exchange, state, self.config.execution.venue,
                                           self.symbols, None)
        rec = self.reconciliation = reconcile(state, snapshot)
        apply_reconciliation(engine, journal, executor, venue, state, rec)
        for cmd in rec.resend:   # never acknowledged and unknown to the exchange
            await executor.resend(cmd.client_order_id)

    async def run(self) -> BacktestResult:
        from engine.live.executor import CcxtExecutor
        from engine.live.journal import Journal
        from engine.live.venue import ExchangeVenue

        config = self.config
        exchange = self.spec.client(self.credentials.ccxt())
        journal = Journal(self.journal_path, initial_cash=config.capital,
                          config=config.to_dict())
        self.exchange_stats = exchange.raytrader_stats
        watch = SessionWatch(self, "live", journal.run_id)
        error: BaseException | None = None
        try:
            await check_symbols(exchange, self.symbols)
            interval = timeframe_to_ns(config.timeframe) if config.timeframe else 0
            kind = self._kind(interval)
            engine = build_engine(config, [], [])
            executor = self.executor = CcxtExecutor(
                exchange, journal.run_id, journal, lambda event: None,
                mark=lambda s: engine.portfolio.last_price.get(s))
            venue = self.venue = ExchangeVenue(executor)
            venue.on_event = engine._on_venue_event
            venue.on_fill = engine._on_fill
            engine.venue = venue   # type: ignore[assignment]
            loop = self.loop = LiveLoop(engine, {s: (kind, interval) for s in self.symbols})
            add_strategies(engine, plan_pairs(config, self.symbols))
            await self._history(exchange, loop)
            if journal.last_seq() > 0:
                # a second run on this journal: resume where the last one stopped
                await self._resume(engine, journal, executor, venue, exchange)
            async def poll() -> None:   # fills the user stream might miss
                while not self.stop_event.is_set():
                    await asyncio.sleep(self.poll_seconds)
                    await executor.poll_fills()
                    if loop.k >= 0:   # the strategies have started
                        self._save_states(engine, journal)

            def check() -> None:
                if venue.errors:
                    raise venue.errors[0]

            extra = [poll()]
            if self.stream_fills:   # the user-data websocket: fills as they happen
                extra.append(executor.watch_fills(self.stop_event))
            started = await self._market(exchange, loop, interval,
                                         on_first=lambda: self._load_states(engine, journal),
                                         after=check, extra=extra)
            # the end: cancel what is working, wait for the answers, book the last fills
            for book in venue.working.values():
                for order in list(book):
                    venue.cancel(order.strategy_id, order.client_order_id, engine.clock.ts)
            await venue.drain()
            await executor.poll_fills(insist=True)
            if self.flatten and started:
                await self._flatten(engine, venue, executor)
            if venue.errors:
                raise venue.errors[0]
            if not started:
                raise ConfigError(f"no market data from {exchange.id} for "
                                  f"{', '.join(self.symbols)} before the session ended")
            loop.stop()
            self._save_states(engine, journal)
            loaded = LoadedData(engine.feeds, f"live:{exchange.id}", {})
            result = assemble_result(config, engine, loaded)
            result.timing["feeds"] = {f.symbol: dataclasses.asdict(f.stats) for f in self.feeds}
            if loop.stats is not None:
                result.timing["market_history_bars"] = dict(self.history_bars)
            if self.reconciliation is not None:
                rec = self.reconciliation
                result.timing["resumed"] = {
                    "events": len(rec.events), "resent": len(rec.resend),
                    "disagreements": [d._asdict() for d in rec.disagreements]}
            result.timing["executor"] = {"retries": executor.retries,
                                         "resends": executor.resends,
                                         "budget_waited": executor.budget.waited}
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            watch.close(error)
            journal.close()
            await exchange.close()


class ExchangeSessionError(RaytraderError, RuntimeError):
    """A live session could not finish what its end asked (flatten)."""


def run_paper(config: BacktestConfig, spec: ExchangeSpec,
              duration: float | None = None) -> BacktestResult:
    """Run a paper session to its end (``duration`` seconds, or until interrupted)."""
    return asyncio.run(PaperSession(config, spec, duration).run())


__all__ = ["ExchangeSessionError", "ExchangeSpec", "Heartbeat", "LiveSession", "PaperSession",
           "check_symbols", "run_paper"]
