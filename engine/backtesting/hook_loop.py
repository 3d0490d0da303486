"""The per-event hook loop: every event of every feed, in event-time order, through the venue,
the marks and the strategies' hooks (``BacktestEngine.run``).

For each event, in this order:

1. the venue matches working orders of the event's symbol (orders decided on earlier events
   only: no look-ahead), fills are booked and ``on_fill`` runs;
2. the clock moves to the event's time and the symbol's mark price updates; a margin account
   holding the symbol is checked against its maintenance margin (``margin_check``); the first
   event at or after the config's ``kill_at`` pulls the kill switch (``kill_switch``);
3. the strategies of that symbol see the event (``on_bar`` / ``on_trade`` / ``on_quote``, then
   ``on_price`` with the event's price when it is finite) and may submit orders, which can
   fill no earlier than the next event plus latency.

Events of several feeds are merged by ``ts_event`` (a bar's close time), ties broken by the
feed order (symbols as configured), so a run is deterministic.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from engine.backtesting.feed import Feed, merged_events, row_readers
from engine.data.schema import BAR, QUOTE, TRADE

if TYPE_CHECKING:
    from engine.backtesting.context import BacktestContext
    from engine.backtesting.engine import BacktestEngine

Progress = Callable[[int, int], None]
# (context, bound hook, whether the hook takes the price rather than the event's message)
Handler = tuple["BacktestContext", Callable[[Any], None], bool]

KIND_HOOK = {BAR: "on_bar", TRADE: "on_trade", QUOTE: "on_quote"}
_PROGRESS_EVERY = 1 << 16   # events between progress calls
NEVER = (1 << 63) - 1       # a time after every event


def event_hooks(ctx: BacktestContext, kind: str) -> list[Handler]:
    """The hooks a strategy runs on each event of a ``kind`` feed, in call order: its
    ``on_bar`` / ``on_trade`` / ``on_quote``, then ``on_price``."""
    strategy = ctx.strategy
    out: list[Handler] = []
    hook = KIND_HOOK[kind]
    if strategy.overrides(hook):
        out.append((ctx, getattr(strategy, hook), False))
    if strategy.overrides("on_price"):
        out.append((ctx, strategy.on_price, True))
    return out


def takes_messages(handlers: list[Handler]) -> bool:
    """Whether some of ``handlers`` take the event's message (not only its price)."""
    return any(not by_price for _, _, by_price in handlers)


class _Stream:
    """What the loop reads of one feed at each of its events: its symbol's book of working
    orders, the hooks to call, and what a row means (the venue's match, the hook message)."""

    __slots__ = ("book", "columns", "handlers", "hook_name", "match", "message", "symbol")

    def __init__(self, engine: BacktestEngine, feed: Feed) -> None:
        self.symbol = feed.symbol
        self.book = engine.venue.working[feed.symbol]
        # in strategy order; a strategy that faulted in on_start runs no hook
        self.handlers = engine._handlers[feed.symbol] = [
            entry for ctx in engine.contexts
            if ctx.symbol == feed.symbol and ctx.strategy_id not in engine._faulted
            for entry in event_hooks(ctx, feed.kind)]
        self.hook_name = KIND_HOOK[feed.kind]
        self.columns = feed.row_columns(every_row=takes_messages(self.handlers))
        self.message, self.match = row_readers(feed, self.columns, engine.venue_config.venue,
                                               engine.venue)


def run_hooks(engine: BacktestEngine, progress: Progress | None) -> None:
    """Process every event of ``engine``'s feeds through the venue and the hooks."""
    feeds = engine.feeds
    streams = [_Stream(engine, feed) for feed in feeds]
    # per event, in event-time order: its feed's stream, its row, time and mark price
    per_event: Iterable[_Stream]
    rows: Sequence[int]
    if len(feeds) == 1:
        n = len(feeds[0].frame)
        per_event, rows = itertools.repeat(streams[0], n), range(n)
        times, prices = streams[0].columns["ts_event"], streams[0].columns["mark"]
    else:
        ids, row_array, ts, marks = merged_events(feeds)
        n = len(ids)
        per_event = list(map(streams.__getitem__, ids.tolist()))
        rows, times, prices = row_array.data, ts.data, marks.data   # items as Python numbers
    last = engine.portfolio.last_price
    net = engine.portfolio.net_qty
    # a margin account is checked against its maintenance margin whenever a held symbol's
    # mark moves
    margin = engine.limits.account == "margin"
    clock = engine.clock
    kill_ns = engine.kill_at_ns
    fault = engine._fault
    mask = _PROGRESS_EVERY - 1
    # The column lists hold millions of items; full garbage collections would traverse them
    # again and again. Freeze what exists now (the loop's inputs) out of collection for the
    # run; new objects are still collected.
    gc.freeze()
    try:
        # The hot path: each line here runs per event.
        for k, (stream, ts, price) in enumerate(zip(per_event, times, prices)):
            if stream.book:
                engine._event_seq = k   # fills happen only inside the venue's matching
                stream.match(rows[k])
            last[stream.symbol] = price
            clock.ts = ts   # in event-time order: never goes back
            if margin and net.get(stream.symbol) and price - price == 0.0:
                engine._event_seq = k
                engine.margin_check()
            if ts >= kill_ns:
                kill_ns = NEVER
                engine.kill_switch("kill_at reached")
            event = None
            for ctx, hook, by_price in stream.handlers:
                try:
                    if by_price:
                        if price - price == 0.0:    # NaN or infinite prices are not passed on
                            hook(price)
                    else:
                        if event is None:
                            event = stream.message(rows[k])
                        hook(event)
                except Exception as exc:
                    fault(ctx, "on_price" if by_price else stream.hook_name, exc)
            if progress is not None and not (k & mask):
                progress(k, n)
    finally:
        gc.unfreeze()
    engine.events_processed = n
    if progress is not None:
        progress(n, n)
