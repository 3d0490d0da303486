"""The equity curve of a backtest, rebuilt after the run from the booked fills and the market
events' mark prices, so the event loop records nothing per event.

One point per distinct event time (the state after the last event of that time): cash, equity
(cash plus every position marked at its symbol's latest price) and gross exposure. A numba
kernel walks all feeds' events in event-time order (ties by feed order), the order the backtest
processed them in, so a fill booked at the k-th event shows from that event on.

Tick-level runs have tens of millions of events, so the walk is cut at event times into
segments that run on all cores: each segment starts from the state (cash, quantities, marks)
the fills and prices before it imply, so the result is the same as one walk.

A sampled curve (one point per interval, the default for tick data) needs no walk at all: the
state at an interval's last event is found by binary searches in each feed's times and in the
fills, with the walk's arithmetic, so its points equal the walk's exactly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from numba import njit

_MIN_SEGMENT = 1_000_000   # events; shorter curves are walked in one piece


def equity_curve(times: list[np.ndarray], marks: list[np.ndarray], fill_seq: np.ndarray,
                 fill_feed: np.ndarray, fill_cash: np.ndarray, fill_net_qty: np.ndarray,
                 initial_cash: float, start_ts: int | None = None,
                 segments: int | None = None, interval_ns: int = 0) -> pd.DataFrame:
    """``times``/``marks``: each feed's event times and mark prices; the ``fill_*`` arrays: per
    fill in booking order, the event index it was booked at (in the merged order), its feed,
    and the portfolio's cash and the symbol's net quantity right after it. ``start_ts``, when
    earlier than every event, adds a first row there holding the initial capital.
    ``interval_ns`` > 0 keeps one point per interval (the state after its last event, at that
    event's time) instead of one per event time."""
    nf = len(times)
    fill_seq = np.asarray(fill_seq, dtype=np.int64)
    fill_feed = np.asarray(fill_feed, dtype=np.int64)
    fill_cash = np.asarray(fill_cash, dtype=np.float64)
    fill_qty = np.asarray(fill_net_qty, dtype=np.float64)
    traded = np.zeros(nf, dtype=np.bool_)
    traded[fill_feed] = True
    if interval_ns > 0 and any(len(t) for t in times):
        return _interval_curve(times, marks, fill_seq, fill_feed, fill_cash, fill_qty,
                               float(initial_cash), start_ts, interval_ns, traded)
    offsets = np.zeros(nf + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in times])
    n = int(offsets[-1])
    all_ts = np.concatenate(times).astype(np.int64, copy=False)
    all_marks = np.concatenate(marks).astype(np.float64, copy=False)

    if segments is None:
        segments = min(os.cpu_count() or 1, max(1, n // _MIN_SEGMENT))
    # cut at event times: all events of one time fall in one segment
    # (any cut points give the same curve; a sample of the times places them well enough)
    cuts = np.quantile(all_ts[::max(1, n // 100_000)],
                       np.linspace(0, 1, segments + 1)[1:-1]).astype(np.int64) \
        if segments > 1 and n else np.empty(0, np.int64)
    cut_times = [int(c) for c in np.unique(cuts)]
    starts = [np.array([int(np.searchsorted(t, c, side="left")) for t in times], np.int64)
              for c in cut_times]
    bounds = [np.zeros(nf, np.int64), *starts, np.array([len(t) for t in times], np.int64)]

    def walk(i: int) -> tuple[np.ndarray, ...]:
        lo, hi = bounds[i], bounds[i + 1]
        k0 = int(lo.sum())
        px = np.zeros(nf)
        qty = np.zeros(nf)
        for j in range(nf):
            if lo[j] > 0:
                px[j] = all_marks[offsets[j] + lo[j] - 1]
            mine = np.flatnonzero((fill_feed == j) & (fill_seq < k0))
            if len(mine):
                qty[j] = fill_qty[mine[-1]]
        f0 = int(np.searchsorted(fill_seq, k0, side="left"))
        cash = fill_cash[f0 - 1] if f0 > 0 else float(initial_cash)
        prepend = i == 0 and start_ts is not None and n > 0 and start_ts < all_ts.min()
        return _curve(all_ts, all_marks, offsets, lo.copy(), hi, int(hi.sum() - k0), k0, px,
                      qty, cash, traded, fill_seq, fill_feed, fill_cash, fill_qty, f0,
                      float(initial_cash), prepend, int(start_ts or 0))

    if len(bounds) > 2:
        with ThreadPoolExecutor(len(bounds) - 1) as pool:
            parts = list(pool.map(walk, range(len(bounds) - 1)))
    else:
        parts = [walk(0)]
    ts, equity, cash, gross = ((p[0] for p in parts), (p[1] for p in parts),
                               (p[2] for p in parts), (p[3] for p in parts))
    # copy=False: these columns can hold one row per event (tens of millions)
    return pd.DataFrame({"ts": np.concatenate(list(ts)), "equity": np.concatenate(list(equity)),
                         "cash": np.concatenate(list(cash)),
                         "gross_exposure": np.concatenate(list(gross))}, copy=False)


def _interval_curve(times: list[np.ndarray], marks: list[np.ndarray], fill_seq: np.ndarray,
                    fill_feed: np.ndarray, fill_cash: np.ndarray, fill_qty: np.ndarray,
                    initial_cash: float, start_ts: int | None, interval_ns: int,
                    traded: np.ndarray) -> pd.DataFrame:
    """The sampled curve without walking the events: the state after the last event of an
    interval is the state once every event before the interval's end is processed, so each
    feed's count of such events (a binary search) gives its mark, and the number of events
    they add up to gives the fills booked by then. The same arithmetic, in the same order, as
    the walk, so the points are identical to it."""
    times = [np.asarray(t, dtype=np.int64) for t in times]
    # the intervals holding at least one event, in time order (one pass over each feed)
    # (each feed's ids are sorted: a stable sort merges the runs instead of sorting afresh)
    ids = np.sort(np.concatenate([_interval_ids(t, interval_ns) for t in times]), kind="stable")
    if len(ids) > 1:
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    ends = (ids + 1) * interval_ns
    counts = [counts_before(t, ends) for t in times]
    booked = np.zeros(len(ends), dtype=np.int64)   # events processed by each interval's end
    out_ts = np.full(len(ends), np.iinfo(np.int64).min, dtype=np.int64)
    for t, c in zip(times, counts):
        booked += c
        seen = c > 0
        out_ts[seen] = np.maximum(out_ts[seen], t[c[seen] - 1])
    cash = _last_booked(fill_cash, np.searchsorted(fill_seq, booked, side="left"),
                        initial_cash)
    value = np.zeros(len(ends))
    gross = np.zeros(len(ends))
    for j in np.flatnonzero(traded):
        mine = np.flatnonzero(fill_feed == j)
        qty = _last_booked(fill_qty[mine], np.searchsorted(fill_seq[mine], booked, side="left"),
                           0.0)
        px = _last_booked(np.asarray(marks[j], dtype=np.float64), counts[j], 0.0)
        v = qty * px
        value += v
        gross += np.abs(v)
    equity = cash + value
    if start_ts is not None and start_ts < min(int(t[0]) for t in times if len(t)):
        out_ts = np.concatenate([[start_ts], out_ts])
        equity = np.concatenate([[initial_cash], equity])
        cash = np.concatenate([[initial_cash], cash])
        gross = np.concatenate([[0.0], gross])
    return pd.DataFrame({"ts": out_ts.astype(np.int64, copy=False), "equity": equity,
                         "cash": cash.astype(np.float64, copy=False), "gross_exposure": gross},
                        copy=False)


def _last_booked(values: np.ndarray, counts: np.ndarray, before_any: float) -> np.ndarray:
    """``values[count - 1]`` for each count, ``before_any`` where the count is 0."""
    if len(values) == 0:
        return np.full(len(counts), before_any, dtype=np.float64)
    return np.where(counts > 0, values[np.maximum(counts - 1, 0)], before_any)


@njit(cache=True, nogil=True)
def _interval_ids(t, interval_ns):  # pragma: no cover - compiled
    """The distinct ``ts // interval_ns`` of sorted times ``t``, in order."""
    out = np.empty(t.shape[0], np.int64)
    m = 0
    for i in range(t.shape[0]):
        q = t[i] // interval_ns
        if m == 0 or out[m - 1] != q:
            out[m] = q
            m += 1
    return out[:m].copy()


@njit(cache=True, nogil=True)
def counts_before(t, ends):  # pragma: no cover - compiled
    """For each of the ``ends`` (in order), how many of the sorted times ``t`` are before it
    (``searchsorted(t, ends, "left")``, by one walk of ``t``)."""
    out = np.empty(ends.shape[0], np.int64)
    k = 0
    n = t.shape[0]
    for i in range(ends.shape[0]):
        while k < n and t[k] < ends[i]:
            k += 1
        out[i] = k
    return out


@njit(cache=True, nogil=True)
def _curve(all_ts, all_marks, offsets, cursor, stop, n, k0, px, qty, cash, traded, fill_seq,
           fill_feed, fill_cash, fill_qty, f, initial_cash, prepend,
           start_ts):  # pragma: no cover - compiled
    """Walk ``n`` events from per-feed ``cursor`` (event index ``k0`` in the merged order)."""
    nf = offsets.shape[0] - 1
    extra = 1 if prepend else 0
    out_ts = np.empty(n + extra, np.int64)
    out_eq = np.empty(n + extra)
    out_cash = np.empty(n + extra)
    out_gross = np.empty(n + extra)
    m = 0
    if extra:
        out_ts[0] = start_ts
        out_eq[0] = initial_cash
        out_cash[0] = initial_cash
        out_gross[0] = 0.0
        m = 1
    n_fills = fill_seq.shape[0]
    for step in range(n):
        k = k0 + step
        best = -1
        best_ts = 0
        for j in range(nf):
            c = cursor[j]
            if c < stop[j]:
                t = all_ts[offsets[j] + c]
                if best == -1 or t < best_ts:
                    best = j
                    best_ts = t
        c = cursor[best]
        px[best] = all_marks[offsets[best] + c]
        cursor[best] = c + 1
        while f < n_fills and fill_seq[f] <= k:
            cash = fill_cash[f]
            qty[fill_feed[f]] = fill_qty[f]
            f += 1
        value = 0.0
        gross = 0.0
        for j in range(nf):
            if traded[j]:
                v = qty[j] * px[j]
                value += v
                gross += abs(v)
        if m > extra and out_ts[m - 1] == best_ts:
            m -= 1      # keep the state after the last event of each time
        out_ts[m] = best_ts
        out_eq[m] = cash + value
        out_cash[m] = cash
        out_gross[m] = gross
        m += 1
    return out_ts[:m], out_eq[:m], out_cash[:m], out_gross[:m]
