"""The engine one event at a time, as events arrive: what paper and live sessions run.

A backtest walks arrays (``engine.backtesting.hook_loop``); a session receives ``Bar``,
``Trade`` and ``Quote`` messages from a live feed. :class:`LiveLoop` gives each the very steps
the hook loop gives a row, in the same order: the venue matches the symbol's working orders,
the clock and the mark move, a margin account is checked, the kill switch's time is watched,
then the strategies' hooks run (``on_bar`` / ``on_trade`` / ``on_quote``, then ``on_price``
for a finite price). The venue is the simulated one for paper trading (the backtest's fill,
fee and slippage models on live data); a live session puts the exchange behind the same
order flow.

**Event time never goes back.** Exchanges' clocks disagree and messages of different symbols
arrive interleaved: an event stamped earlier than (or as early as) the previous one is given
the previous time plus 1 ns. The recording keeps these times, so a backtest over it visits the
events in exactly the order the session did (a backtest breaks ties by feed order), and
places exactly the session's orders.

Every event is recorded; :meth:`LiveLoop.feeds` gives the session's data as backtest feeds
(the equity curve and the result are built from them, and they can be written to the catalog
for a replay).
"""

from __future__ import annotations

import gc
from typing import Any

import pandas as pd

from engine.backtesting import BacktestEngine, Feed
from engine.backtesting.hook_loop import KIND_HOOK, event_hooks
from engine.clock import perf_seconds
from engine.data.schema import BAR, QUOTE, TRADE
from engine.errors import ConfigError
from engine.live.stats import LiveMarketStats
from engine.messages import Bar, Quote, Trade

_NEVER = 1 << 62


class LiveLoop:
    """Feeds live messages through a :class:`BacktestEngine` built with no data (symbols are
    declared with their kind, and bar interval for bars)."""

    def __init__(self, engine: BacktestEngine, kinds: dict[str, tuple[str, int]]) -> None:
        self.engine = engine
        self.kinds = dict(kinds)
        for symbol, (kind, interval) in self.kinds.items():
            if kind not in KIND_HOOK:
                raise ConfigError(f"{symbol}: unknown event kind {kind!r}")
            if kind == BAR and interval <= 0:
                raise ConfigError(f"{symbol}: bars need a positive interval")
            if symbol not in engine.venue.working:
                engine.venue.add_symbol(symbol)
        # the market rules read statistics kept as events arrive (engine.live.stats); a
        # session adds the history it fetched before the first event
        self.stats: LiveMarketStats | None = None
        if engine.limits.market_rules:
            self.stats = engine.market = LiveMarketStats(
                {s: kind for s, (kind, _) in self.kinds.items()}, engine.limits.stats_config())
        self.rows: dict[str, list[tuple[Any, ...]]] = {s: [] for s in self.kinds}
        self.last_ts = -1
        self.k = -1            # the global index of the event being processed
        self.handlers: dict[str, list[Any]] = {}
        self.started = 0.0
        self.kill_ns = _NEVER

    def start(self, ts: int) -> None:
        """Split the capital, set the clock to ``ts`` and start the strategies."""
        engine = self.engine
        if not engine.contexts:
            raise ConfigError("the session has no strategies")
        even = 1.0 / len(engine.contexts)
        for ctx in engine.contexts:
            if ctx.capital_share != ctx.capital_share:   # not configured
                ctx.capital_share = even
        self.started = perf_seconds()
        engine.clock.set(ts)
        for ctx in engine.contexts:
            engine._call(ctx, "on_start")
        for symbol, (kind, _) in self.kinds.items():
            self.handlers[symbol] = engine._handlers[symbol] = [
                h for ctx in engine.contexts if ctx.symbol == symbol
                and ctx.strategy_id not in engine._faulted for h in event_hooks(ctx, kind)]
        self.kill_ns = engine.kill_at_ns
        # Everything built so far (the libraries, the engine, the strategies) lives as long
        # as the session: kept out of the collector's full passes, which would otherwise walk
        # it all and hold a tick for 50-130 ms (measured in benchmarks/live_latency.py)
        gc.collect()
        gc.freeze()

    def _time(self, ts: int) -> int:
        if ts <= self.last_ts:
            ts = self.last_ts + 1
        self.last_ts = ts
        return ts

    def on_message(self, msg: Bar | Trade | Quote) -> None:
        """Process one market event (its hook message is ``msg``, re-stamped when its time
        would go back)."""
        engine = self.engine
        symbol = msg.symbol
        ts = self._time(msg.ts_event)
        venue = engine.venue
        book = venue.working[symbol]
        self.k += 1
        stats = self.stats
        if isinstance(msg, Bar):
            interval = self.kinds[symbol][1]
            o, h, lo, c, v = msg.open, msg.high, msg.low, msg.close, msg.volume
            self.rows[symbol].append((ts - interval, o, h, lo, c, v))
            if stats is not None:
                stats.on_event(symbol, ts, c, v)
            if book:
                engine._event_seq = self.k
                venue.on_bar(symbol, o, h, lo, c, v, ts - interval, ts)
            price = c
            if ts != msg.ts_event:
                msg = msg._replace(ts_event=ts, ts_init=ts)
        elif isinstance(msg, Trade):
            self.rows[symbol].append((ts, msg.price, msg.size, msg.aggressor,
                                      int(msg.trade_id) if msg.trade_id.isdigit() else self.k))
            if stats is not None:
                stats.on_event(symbol, ts, msg.price, msg.size)
            if book:
                engine._event_seq = self.k
                venue.on_trade(symbol, msg.price, msg.size, ts)
            price = msg.price
            if ts != msg.ts_event:
                msg = msg._replace(ts_event=ts, ts_init=ts)
        else:
            self.rows[symbol].append((ts, msg.bid, msg.ask, msg.bid_size, msg.ask_size))
            if stats is not None:
                stats.on_event(symbol, ts, (msg.bid + msg.ask) / 2, bid=msg.bid, ask=msg.ask,
                               bid_size=msg.bid_size, ask_size=msg.ask_size)
            if book:
                engine._event_seq = self.k
                venue.on_quote(symbol, msg.bid, msg.ask, msg.bid_size, msg.ask_size, ts)
            price = (msg.bid + msg.ask) / 2
            if ts != msg.ts_event:
                msg = msg._replace(ts_event=ts, ts_init=ts)
        engine.portfolio.last_price[symbol] = price
        engine.clock.ts = ts
        if engine.limits.account == "margin" and engine.portfolio.net_qty.get(symbol) and \
                price - price == 0.0:
            engine._event_seq = self.k
            engine.margin_check()
        if ts >= self.kill_ns:
            self.kill_ns = _NEVER
            engine.kill_switch("kill_at reached")
        for ctx, hook, by_price in self.handlers[symbol]:
            try:
                if by_price:
                    if price - price == 0.0:   # NaN or infinite prices are not passed on
                        hook(price)
                else:
                    hook(msg)
            except Exception as exc:   # the guard around user code
                engine._fault(ctx, "on_price" if by_price else KIND_HOOK[self.kinds[symbol][0]],
                              exc)

    def stop(self) -> None:
        """Stop the strategies and hand the engine the session's data as its feeds."""
        gc.unfreeze()   # what start() kept from the collector is collectable again
        engine = self.engine
        for ctx in engine.contexts:
            engine._call(ctx, "on_stop")
        engine.elapsed_seconds = perf_seconds() - self.started
        engine.events_processed = self.k + 1
        engine.feeds = self.feeds()

    def feeds(self) -> list[Feed]:
        """What the session saw, symbol by symbol, as backtest feeds (symbols without an
        event are left out)."""
        out = []
        for symbol, (kind, interval) in self.kinds.items():
            rows = self.rows[symbol]
            if not rows:
                continue
            if kind == BAR:
                frame = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close",
                                                    "volume"])
            elif kind == TRADE:
                frame = pd.DataFrame(rows, columns=["ts", "price", "size", "side", "trade_id"])
                frame["side"] = frame["side"].astype("int8")
            else:
                assert kind == QUOTE
                frame = pd.DataFrame(rows, columns=["ts", "bid", "ask", "bid_size", "ask_size"])
            frame["ts"] = frame["ts"].astype("int64")
            out.append(Feed(symbol, kind, frame, interval if kind == BAR else 0))
        return out


__all__ = ["LiveLoop"]
