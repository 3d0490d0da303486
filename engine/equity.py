"""The equity curve of a backtest, rebuilt after the run from the booked fills and the market
events' mark prices, so the event loop records nothing per event.

One point per distinct event time (the state after the last event of that time): cash, equity
(cash plus every position marked at its symbol's latest price) and gross exposure. A numba
kernel walks all feeds' events in event-time order (ties by feed order), the order the backtest
processed them in, so a fill booked at the k-th event shows from that event on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit


def equity_curve(times: list[np.ndarray], marks: list[np.ndarray], fill_seq: np.ndarray,
                 fill_feed: np.ndarray, fill_cash: np.ndarray, fill_net_qty: np.ndarray,
                 initial_cash: float) -> pd.DataFrame:
    """``times``/``marks``: each feed's event times and mark prices; the ``fill_*`` arrays: per
    fill in booking order, the event index it was booked at (in the merged order), its feed,
    and the portfolio's cash and the symbol's net quantity right after it."""
    offsets = np.zeros(len(times) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(t) for t in times])
    all_ts = np.concatenate(times).astype(np.int64, copy=False)
    all_marks = np.concatenate(marks).astype(np.float64, copy=False)
    traded = np.zeros(len(times), dtype=np.bool_)
    traded[np.asarray(fill_feed, dtype=np.int64)] = True
    ts, equity, cash, gross = _curve(all_ts, all_marks, offsets, traded,
                                     np.asarray(fill_seq, dtype=np.int64),
                                     np.asarray(fill_feed, dtype=np.int64),
                                     np.asarray(fill_cash, dtype=np.float64),
                                     np.asarray(fill_net_qty, dtype=np.float64),
                                     float(initial_cash))
    return pd.DataFrame({"ts": ts, "equity": equity, "cash": cash, "gross_exposure": gross})


@njit(cache=True)
def _curve(all_ts, all_marks, offsets, traded, fill_seq, fill_feed, fill_cash, fill_qty,
           initial_cash):  # pragma: no cover - compiled
    nf = offsets.shape[0] - 1
    n = all_ts.shape[0]
    cursor = offsets[:-1].copy()
    px = np.zeros(nf)
    qty = np.zeros(nf)
    cash = initial_cash
    out_ts = np.empty(n, np.int64)
    out_eq = np.empty(n)
    out_cash = np.empty(n)
    out_gross = np.empty(n)
    m = 0
    f = 0
    n_fills = fill_seq.shape[0]
    for k in range(n):
        best = -1
        best_ts = 0
        for j in range(nf):
            c = cursor[j]
            if c < offsets[j + 1]:
                t = all_ts[c]
                if best == -1 or t < best_ts:
                    best = j
                    best_ts = t
        c = cursor[best]
        px[best] = all_marks[c]
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
        if m > 0 and out_ts[m - 1] == best_ts:
            m -= 1      # keep the state after the last event of each time
        out_ts[m] = best_ts
        out_eq[m] = cash + value
        out_cash[m] = cash
        out_gross[m] = gross
        m += 1
    return out_ts[:m].copy(), out_eq[:m].copy(), out_cash[:m].copy(), out_gross[:m].copy()
