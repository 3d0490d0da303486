"""The sparse batch pass (``BacktestEngine.run_batch``): strategies with a batch path hand in
their orders as intents computed over whole chunks of events (``engine.intents``); the pass
visits only the events where something can happen (rows with intents, rows of symbols with
working orders, every row of symbols whose strategies run hooks) in event-time order, and
places each intent through its strategy's context at its row, so sizing, risk and fills see
the portfolio exactly as the hook loop does.

Trade feeds whose book holds only plain market orders get their fills from a compiled
forecast (``engine.fills``) instead of a visit per trade.
"""

from __future__ import annotations

import bisect
import gc
import heapq
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.backtesting.feed import row_readers
from engine.backtesting.hook_loop import NEVER, Progress, event_hooks
from engine.data.schema import TRADE
from engine.equity import counts_before
from engine.intents import IntentSource, IntentUpdate, apply_intent, batch_intents
from engine.venue import Order

if TYPE_CHECKING:
    from engine.backtesting.context import BacktestContext
    from engine.backtesting.engine import BacktestEngine


def run_batch_pass(engine: BacktestEngine, source: IntentSource | None, chunk_rows: int,
                   progress: Progress | None) -> None:
    """Run the pass over ``engine``'s feeds with intents from ``source`` (by default computed
    here, ``chunk_rows`` events at a time)."""
    if source is None:
        source = LocalIntentSource(engine, chunk_rows)
    engine._batch_ids = source.strategy_ids
    batch = BatchPass(engine, source, progress)
    try:
        batch.run()
    finally:
        engine._event_key = None
    engine._fill_event_seq = global_indices(batch.times, engine._fill_keys)


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
                                     feed.arrays(), feed.interval_ns, self.chunk_rows))
        return out


class _Schedule:
    """The forecast fills of one symbol's book (``engine.fills.market_fills``) as lists, with
    how many are booked: per fill its row, time, order (index into ``orders``) and, in the
    array ``table``, its values (qty, price, fee, slippage_bps, filled_after, notional_after,
    leaves_after), which runs of fills are booked from."""

    __slots__ = ("n", "order", "orders", "pos", "rows", "table", "tried", "ts")

    def __init__(self, orders: list[Order], rows: list[int], ts: list[int], order: list[int],
                 table: np.ndarray) -> None:
        self.orders, self.rows, self.ts, self.order = orders, rows, ts, order
        self.table = table   # (a fill booked on its own reads its row as a list)
        self.n = len(rows)
        self.pos = 0
        self.tried = -1   # the position where a run last stopped at its first fill

    def run_end(self, fi: int, limit: tuple[int, int, int]) -> int:
        """Where the run of the order at :attr:`pos` ends: the first fill of another order or
        with an event key after ``limit``."""
        pos, ts, rows = self.pos, self.ts, self.rows
        lts = limit[0]
        k = bisect.bisect_left(ts, lts, pos)
        n = self.n
        while k < n and ts[k] == lts and (fi, rows[k]) <= limit[1:]:
            k += 1   # the fills at the limit's time, up to its key
        if len(self.orders) > 1:
            order = self.order
            first = order[pos]
            end = pos + 1
            while end < k and order[end] == first:
                end += 1
            k = end
        return k

    def next_key(self, fi: int) -> tuple[int, int, int]:
        if self.pos < self.n:
            return (self.ts[self.pos], fi, self.rows[self.pos])
        return _INF_KEY


_INF_KEY = (np.iinfo(np.int64).max, 1 << 30, 1 << 62)
_MIN_RUN = 3   # shorter runs of fills are booked one by one (a run has a fixed cost)
_FAULT = -1


class BatchPass:
    """The sparse event-time pass of one run."""

    def __init__(self, engine: BacktestEngine, source: IntentSource,
                 progress: Progress | None) -> None:
        self.engine = engine
        self.source = source
        self.progress = progress
        feeds = engine.feeds
        self.times = [f.event_times() for f in feeds]
        self.marks = [f.mark_prices() for f in feeds]
        self.cols = [f.arrays() for f in feeds]
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
        # per feed, what a row means: the message a hook takes, the venue's match (lists where
        # hooks take every row's message, else views that read only the rows visited)
        self.readers = [
            row_readers(f, f.row_columns(every_row=any(
                not is_batch and not by_price for _, is_batch, _, by_price in self.entries[i])),
                engine.venue_config.venue, engine.venue)
            for i, f in enumerate(feeds)]
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
        # per feed: row -> the other symbols' marks as of that row (rows with intents): a
        # batch's table of (symbol, marks, seen) per other symbol, and the row's place in it
        self.marks_ahead: list[dict[int, tuple[list[tuple[str, list[float], list[bool]]], int]]] \
            = [{} for _ in feeds]
        self.next_fill = _INF_KEY      # the earliest fill some schedule has not booked yet
        self.margin = engine.limits.account == "margin"
        # the config's kill switch: the first event at or after it is visited (and pulls it)
        self.kill_ns = engine.kill_at_ns
        self.kill_rows = [int(t.searchsorted(self.kill_ns, side="left")) for t in self.times]
        self.rescan = False

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
        # a margin account visits every event of a held symbol (its maintenance check)
        margin = engine.limits.account == "margin"
        net = engine.portfolio.net_qty
        symbols = [f.symbol for f in feeds]
        lengths = [len(t) for t in times]
        kill_rows = self.kill_rows
        last_vis = [-1] * nf
        batch_sids = [[ctx.strategy_id for ctx, is_batch, _, _ in entries[fi] if is_batch]
                      for fi in range(nf)]

        def candidate(fi: int) -> tuple[int, int, int]:
            """The next row of feed ``fi`` where something happens, as an event-time key."""
            row = last_vis[fi] + 1
            if row >= lengths[fi]:
                return _INF_KEY
            cand = row if (dense[fi] or (books[fi] and sched[fi] is None)
                           or (margin and net.get(symbols[fi]))) else -1
            if self.kill_ns != NEVER and (cand < 0 or kill_rows[fi] < cand) and \
                    kill_rows[fi] >= row:
                cand = kill_rows[fi] if kill_rows[fi] < lengths[fi] else cand
            for sid in batch_sids[fi]:
                q, h = queue[sid], head[sid]
                if h < len(q):
                    r = q[h][0]
                    if cand < 0 or r < cand:
                        cand = r
            return (int(times[fi][cand]), fi, cand) if cand >= 0 else _INF_KEY

        # What exists now (the feeds' columns and readers) is left out of the cyclic
        # collector's passes for the run, and handed back to it after, so nothing a run
        # made outlives it (a process running many backtests keeps none of them).
        gc.freeze()
        try:
            self._take(self.source.poll(block=False))
            cands = [candidate(fi) for fi in range(nf)]
            safe = min(self.wm.values(), default=_INF_KEY)
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
                if self.rescan:   # the kill switch changed every feed's book
                    self.rescan = False
                    cands = [candidate(j) for j in range(nf)]
                else:
                    cands[fi] = candidate(fi)   # only this feed's books and queues changed
                visits += 1
                if self.progress is not None and not (visits & 4095):
                    self.progress(global_index(times, *best), self.total)
            self._book(_INF_KEY)
        finally:
            gc.unfreeze()
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
        symbol = engine.feeds[fi].symbol
        message, match = self.readers[fi]
        engine._event_key = (ts, fi, row)
        if books[fi] and self.sched[fi] is None:
            match(row)
        engine.portfolio.last_price[symbol] = float(self.marks[fi][row])
        engine.clock.ts = ts
        if self.margin and engine.portfolio.net_qty.get(symbol) and \
                engine.portfolio.last_price[symbol] - engine.portfolio.last_price[symbol] == 0.0:
            self._refresh_marks(ts, fi)
            engine.margin_check()
        if ts >= self.kill_ns:
            self.kill_ns = NEVER
            # every book is matched by visiting from here on: the kill cancels orders and
            # places reduce-only ones that no forecast holds (the loop re-reads every feed)
            self.sched[:] = [None] * len(self.sched)
            self.next_fill = _INF_KEY
            self.rescan = True
            engine.kill_switch("kill_at reached")
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
                        hook(message(row))
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
                                       which.tolist(), values)
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
            assert s is not None   # the heap holds scheduled feeds only
            if s.n - s.pos >= _MIN_RUN and s.tried != s.pos:
                # a run of one order's fills, up to the next fill of another feed, compiled
                limit = upto if len(heap) == 1 else min(upto, heap[1][0] if len(heap) == 2
                                                        else min(heap[1][0], heap[2][0]))
                pos = s.pos
                end = s.run_end(fi, limit)
                if end - pos >= _MIN_RUN:
                    booked = engine.book_run(s.orders[s.order[pos]], s.table[pos:end],
                                             s.ts[pos:end], fi, s.rows[pos:end])
                    if booked < end - pos:
                        s.tried = pos + booked   # the fill it stopped at goes the Python way
                    if booked:
                        s.pos = pos + booked
                        if s.pos < s.n:
                            heapq.heapreplace(heap, (s.next_key(fi), fi))
                        else:
                            heapq.heappop(heap)
                        continue
            row = best[2]
            engine._event_key = best
            ts = best[0]
            k = s.pos
            held = True
            while k < s.n and s.rows[k] == row:
                order = s.orders[s.order[k]]
                if not order.closed:
                    held = book_fill(order, s.table[k].tolist(), ts) and held
                k += 1
            s.pos = k
            if not held:
                # the account's cash cut a fill and canceled its order: the other orders'
                # fills are forecast afresh from the next trade
                self._schedule(fi, row + 1)
                heap = [(key, j) for key, j in heap if j != fi]
                new = scheds[fi]
                if new is not None and new.pos < new.n:
                    heap.append((new.next_key(fi), fi))
                heapq.heapify(heap)
                continue
            if k < s.n:
                heapq.heapreplace(heap, (s.next_key(fi), fi))
            else:
                heapq.heappop(heap)
        self.next_fill = heap[0][0] if heap else _INF_KEY

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
                ahead[row] = (others, k)

    def _marks_at(self, ts: int, fi: int, row: int) -> None:
        """Mark every other symbol as of this visit (prepared by :meth:`_mark_ahead` when the
        row has intents)."""
        ahead = self.marks_ahead[fi].pop(row, None)
        if ahead is None:
            self._refresh_marks(ts, fi)
            return
        others, k = ahead
        last = self.engine.portfolio.last_price
        for symbol, marks, seen in others:
            if seen[k]:
                last[symbol] = marks[k]

    def _refresh_marks(self, ts: int, fi: int) -> None:
        """Mark every other symbol at its last event before (ts, fi) in event-time order."""
        last = self.engine.portfolio.last_price
        for j, times in enumerate(self.times):
            if j != fi:
                c = int(times.searchsorted(ts, side="right" if j < fi else "left"))
                if c:
                    last[self.engine.feeds[j].symbol] = float(self.marks[j][c - 1])


class FillKeys:
    """Each fill's event in batch mode, as the (time, feed, row) key of the event it was
    booked at, in booking order: three columns, a run's appended as slices (no tuple a fill)."""

    __slots__ = ("feed", "row", "ts")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.feed: list[int] = []
        self.row: list[int] = []

    def __len__(self) -> int:
        return len(self.ts)

    def append(self, key: tuple[int, int, int]) -> None:
        ts, fi, row = key
        self.ts.append(ts)
        self.feed.append(fi)
        self.row.append(row)

    def extend_run(self, ts: list[int], fi: int, rows: list[int]) -> None:
        """A run's fills: all of feed ``fi``, at times ``ts`` and rows ``rows``."""
        self.ts.extend(ts)
        self.feed.extend([fi] * len(ts))
        self.row.extend(rows)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The times, feeds and rows as int64 arrays (fresh, so the caller may change them)."""
        return (np.array(self.ts, dtype=np.int64), np.array(self.feed, dtype=np.int64),
                np.array(self.row, dtype=np.int64))


def global_index(times: list[np.ndarray], ts: int, fi: int, row: int) -> int:
    """Position of event (ts, feed, row) in the merged order of all feeds' events
    (``feed.merged_order``), given each feed's event times."""
    k = row
    for j, t in enumerate(times):
        if j != fi:
            k += int(np.searchsorted(t, ts, side="right" if j < fi else "left"))
    return k


def global_indices(times: list[np.ndarray], keys: FillKeys) -> list[int]:
    """:func:`global_index` of many keys at once (the fills' events, in booking order: event
    time order, so each feed is walked once instead of searched per key)."""
    if not len(keys):
        return []
    ts, fi, k = keys.arrays()
    # in event-time order (as booked), each feed is walked once; otherwise searched
    count = counts_before if bool(np.all(ts[1:] >= ts[:-1])) else np.searchsorted
    for j, t in enumerate(times):
        # events of feed j before each key: at earlier times, and at the same time when j is
        # an earlier feed (times are integers: "at or before ts" is "before ts + 1")
        left, right = count(t, ts), count(t, ts + 1)
        k += np.where(fi == j, 0, np.where(j < fi, right, left))
    return k.tolist()
