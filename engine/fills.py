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
def market_fills(prices, sizes, times, start, orders, active_ns,
                 params):  # pragma: no cover - compiled
    """Fills of the orders (book order = time priority) from row ``start`` until every order
    has filled or the rows run out.

    ``orders``: one row per order, (sign, quantity, filled, notional); ``active_ns`` when each
    becomes active; ``params``: (volume share, sqrt model 0/1, fixed slippage bps, impact base
    bps, impact k bps, taker fee rate). Returns the row, the order and (qty, price, fee,
    slippage_bps, filled_after, notional_after, leaves_after) of each fill, in the order they
    happen.
    """
    share, sqrt_model, slip_fixed, impact_base, impact_k, taker_rate = (
        params[0], params[1] != 0.0, params[2], params[3], params[4], params[5])
    n_orders = orders.shape[0]
    filled = orders[:, 2].copy()
    notional = orders[:, 3].copy()
    size = 64
    o_row = np.empty(size, np.int64)
    o_ord = np.empty(size, np.int64)
    o_val = np.empty((size, 7))
    m = 0
    open_orders = 0
    closed = np.zeros(n_orders, np.bool_)
    for i in range(n_orders):
        if orders[i, 1] - filled[i] <= _EPS:
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
            quantity = orders[i, 1]
            leaves = quantity - filled[i]
            qty = left if left < leaves else leaves
            if qty <= _EPS:
                continue
            left = left - qty
            if sqrt_model:
                slip = impact_base + impact_k * math.sqrt(qty / v)
            else:
                slip = slip_fixed
            price = p * (1.0 + orders[i, 0] * slip * 1e-4)
            fee = qty * price * taker_rate
            done = filled[i] + qty
            notional[i] += qty * price
            leaves = quantity - done
            if leaves <= _EPS:
                leaves = 0.0
                done = quantity
                closed[i] = True
                open_orders -= 1
            filled[i] = done
            if m == size:
                size *= 2
                grown_row = np.empty(size, np.int64)
                grown_row[:m] = o_row
                o_row = grown_row
                grown_ord = np.empty(size, np.int64)
                grown_ord[:m] = o_ord
                o_ord = grown_ord
                grown_val = np.empty((size, 7))
                grown_val[:m] = o_val
                o_val = grown_val
            o_row[m] = r - 1
            o_ord[m] = i
            o_val[m, 0] = qty
            o_val[m, 1] = price
            o_val[m, 2] = fee
            o_val[m, 3] = slip
            o_val[m, 4] = done
            o_val[m, 5] = notional[i]
            o_val[m, 6] = leaves
            m += 1
    return o_row[:m], o_ord[:m], o_val[:m]


__all__ = ["market_fills"]
