"""The equity curve of a backtest, rebuilt after the run from the booked fills and the market
events' mark prices, so the event loop records nothing per event.

One point per distinct event time (the state after the last event of that time): cash, equity
(cash plus every position marked at its symbol's latest price) and gross exposure. A numba
kernel walks all feeds' events in event-time order (ties by feed order), the order the backtest
processed them in, so a fill booked at the k-th event shows from that event on.

Tick-level runs have tens of millions of events, so the walk is cut at event times into
segments that run on all cores: each segment starts from the state (cash, quantities, marks)
the fills and prices before it imply, so the result is the same as one walk.
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
    offsets = np.zeros(nf + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in times])
    n = int(offsets[-1])
    all_ts = np.concatenate(times).astype(np.int64, copy=False)
    all_marks = np.concatenate(marks).astype(np.float64, copy=False)
    fill_seq = np.asarray(fill_seq, dtype=np.int64)
    fill_feed = np.asarray(fill_feed, dtype=np.int64)
    fill_cash = np.asarray(fill_cash, dtype=np.float64)
    fill_qty = np.asarray(fill_net_qty, dtype=np.float64)
    traded = np.zeros(nf, dtype=np.bool_)
    traded[fill_feed] = True

    if segments is None:
        segments = min(os.cpu_count() or 1, max(1, n // _MIN_SEGMENT))
    # cut at event times: all events of one time fall in one segment
    cuts = np.quantile(all_ts, np.linspace(0, 1, segments + 1)[1:-1]).astype(np.int64) \
        if segments > 1 and n else np.empty(0, np.int64)
    if interval_ns > 0:
        cuts = cuts - cuts % interval_ns       # an interval never straddles two segments
    cuts = [int(c) for c in np.unique(cuts)]
    starts = [np.array([int(np.searchsorted(t, c, side="left")) for t in times], np.int64)
              for c in cuts]
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
                      float(initial_cash), prepend, int(start_ts or 0), interval_ns)

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


@njit(cache=True, nogil=True)
def _curve(all_ts, all_marks, offsets, cursor, stop, n, k0, px, qty, cash, traded, fill_seq,
           fill_feed, fill_cash, fill_qty, f, initial_cash, prepend, start_ts,
           interval_ns):  # pragma: no cover - compiled
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
        if m > extra and (out_ts[m - 1] == best_ts or (
                interval_ns > 0 and out_ts[m - 1] // interval_ns == best_ts // interval_ns)):
            m -= 1      # keep the state after the last event of each time (or interval)
        out_ts[m] = best_ts
        out_eq[m] = cash + value
        out_cash[m] = cash
        out_gross[m] = gross
        m += 1
    return out_ts[:m], out_eq[:m], out_cash[:m], out_gross[:m]
