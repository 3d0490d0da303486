"""Market orders against a trade stream, compiled: the fills a book of working market orders
gets from the trades that follow, computed in one call instead of one Python visit per trade.

The sparse event-time pass (``BacktestEngine.run_batch``) uses it for a symbol whose book holds
only active-or-pending GTC market orders with no cancel in flight, the common case of a batch
strategy's order filling over many trades under the volume cap. The rules are the venue's
(``engine.venue``), with the same floating-point operations in the same order, so the fills
are identical to matching each trade in turn: per trade, a NaN or infinite print or a negative
size fills nothing; the trade's volume cap is one pool shared by the orders in time priority;
an order fills from the first trade at or after its arrival; a taker fill pays fixed or
square-root slippage and the taker fee; a remainder within 1e-12 closes the order.

The schedule is a forecast: the pass books its fills in event-time order among every other
symbol's events, and drops what is left of it when the symbol's book changes (a new order, a
cancel, a fault), computing a new one from there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = 1e-12


@njit(cache=True, nogil=True)
def market_fills(prices, sizes, times, start, signs, quantity, filled, notional, active_ns,
                 share, sqrt_model, slip_fixed, impact_base, impact_k,
                 taker_rate):  # pragma: no cover - compiled
    """Fills of the orders (book order = time priority) from row ``start`` until every order
    has filled or the rows run out. ``filled`` and ``notional`` are updated in place.

    Returns (row, order, qty, price, fee, slippage_bps, filled_after, notional_after,
    leaves_after) per fill, in the order they happen.
    """
    n_orders = signs.shape[0]
    size = 64
    o_row = np.empty(size, np.int64)
    o_ord = np.empty(size, np.int64)
    o_qty = np.empty(size)
    o_px = np.empty(size)
    o_fee = np.empty(size)
    o_slip = np.empty(size)
    o_filled = np.empty(size)
    o_notional = np.empty(size)
    o_leaves = np.empty(size)
    m = 0
    open_orders = 0
    closed = np.zeros(n_orders, np.bool_)
    for i in range(n_orders):
        if quantity[i] - filled[i] <= _EPS:
            closed[i] = True
        else:
            open_orders += 1
    n = prices.shape[0]
    r = start
    while r < n and open_orders > 0:
        p = prices[r]
        v = sizes[r]
        ts = times[r]
        r += 1
        if p - p != 0.0 or not (v >= 0.0):
            continue        # a NaN or infinite print fills nothing
        left = share * v
        for i in range(n_orders):
            if closed[i] or active_ns[i] > ts:
                continue
            leaves = quantity[i] - filled[i]
            qty = left if left < leaves else leaves
            if qty <= _EPS:
                continue
            left = left - qty
            sign = signs[i]
            if sqrt_model:
                slip = impact_base + impact_k * math.sqrt(qty / v)
            else:
                slip = slip_fixed
            price = p * (1.0 + sign * slip * 1e-4)
            fee = qty * price * taker_rate
            done = filled[i] + qty
            notional[i] += qty * price
            leaves = quantity[i] - done
            if leaves <= _EPS:
                leaves = 0.0
                done = quantity[i]
                closed[i] = True
                open_orders -= 1
            filled[i] = done
            if m == size:
                size *= 2
                o_row = _grow_i(o_row, size)
                o_ord = _grow_i(o_ord, size)
                o_qty = _grow_f(o_qty, size)
                o_px = _grow_f(o_px, size)
                o_fee = _grow_f(o_fee, size)
                o_slip = _grow_f(o_slip, size)
                o_filled = _grow_f(o_filled, size)
                o_notional = _grow_f(o_notional, size)
                o_leaves = _grow_f(o_leaves, size)
            o_row[m] = r - 1
            o_ord[m] = i
            o_qty[m] = qty
            o_px[m] = price
            o_fee[m] = fee
            o_slip[m] = slip
            o_filled[m] = done
            o_notional[m] = notional[i]
            o_leaves[m] = leaves
            m += 1
    return (o_row[:m], o_ord[:m], o_qty[:m], o_px[:m], o_fee[:m], o_slip[:m], o_filled[:m],
            o_notional[:m], o_leaves[:m])


@njit(cache=True, nogil=True)
def _grow_i(a, size):  # pragma: no cover - compiled
    out = np.empty(size, np.int64)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def _grow_f(a, size):  # pragma: no cover - compiled
    out = np.empty(size)
    out[:a.shape[0]] = a
    return out


__all__ = ["market_fills"]
