"""Runs of fills booked compiled: the portfolio's and the risk engine's per-fill accounting
(``engine.portfolio.Portfolio.apply_fill``, ``engine.risk.RiskEngine.on_fill``) over a run of
one order's fills in one call, instead of one Python call chain per fill.

A market order under a volume cap fills over many trades (the standard workload books about
ten fills per order), and each fill opens a round trip, adds to it, takes from it or closes
it: the same dozen floating-point operations on a few numbers. These kernels do exactly those
operations, in the same order, on the state handed in as small arrays, so the numbers are
equal to the bit to booking the fills one by one. The caller keeps the records (the round
trip's entry and exit, the trade list, the loss breaker and cooldowns that learn of a closed
trip). A run ends after a fill that closes the round trip, and stops *before* any fill that
needs the Python path:

- a fill that flips the position (closes one round trip and opens the next);
- for the pass, a fill a spot account's cash (a buy) or position (a sell) would cut;
- a fill the portfolio and the risk engine would book in different branches.

State vectors (float64): the portfolio's ``P_*`` (cash, total fees, the position and its
round trip) and the risk engine's ``R_*`` (its cash, the pair's quantity, average and
round-trip PnL, the symbol's quantity, the order's working entry, the reserved cash).
"""

from __future__ import annotations

from numba import njit

_EPS = 1e-12

(P_CASH, P_TOTAL_FEES, P_QTY, P_AVG, P_REALIZED, P_FEES, P_N_FILLS, P_ENTRY_QTY,
 P_ENTRY_NOTIONAL, P_N_ENTRIES, P_TRADE_FEES, P_PNL_GROSS, P_EXIT_QTY,
 P_EXIT_NOTIONAL) = range(14)

(R_CASH, R_QTY, R_AVG, R_TRADE_PNL, R_SYM_QTY, R_HAS_ENTRY, R_ENTRY_LEAVES, R_ENTRY_RESERVE,
 R_RESERVED) = range(9)


# what a fill does to a position (the branches of Portfolio.apply_fill and RiskEngine.on_fill)
ADD, REDUCE, OPEN, CLOSE, FLIP = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True, inline="always")
def _step(old, signed):  # pragma: no cover - compiled
    """The position after adding ``signed`` (a remainder within 1e-12 of flat is flat), and
    what that fill does: opens a round trip, adds to it, takes from it, closes it, or flips it
    (closes one and opens the next)."""
    new = old + signed
    if abs(new) <= _EPS * max(1.0, abs(old)):
        new = 0.0
    if old == 0.0:
        return new, OPEN
    if (old > 0) == (signed > 0):
        return new, ADD
    if new == 0.0:
        return new, CLOSE
    if (new > 0) != (old > 0):
        return new, FLIP
    return new, REDUCE


@njit(cache=True, nogil=True, inline="always")
def _risk_book(r, sign, qty, price, fee, leaves, new, kind):  # pragma: no cover - compiled
    """``RiskEngine.on_fill`` for a fill that does not flip the pair; returns the round trip's
    PnL when the fill closes it (what ``_trade_closed`` learns), else 0."""
    signed = qty if sign > 0 else -qty
    r[R_CASH] -= signed * price + fee
    if r[R_HAS_ENTRY] != 0.0:
        if leaves > _EPS:
            lv = leaves if sign > 0 else -leaves
            if r[R_ENTRY_RESERVE] != 0.0:
                r[R_RESERVED] -= (r[R_ENTRY_LEAVES] - lv) * r[R_ENTRY_RESERVE]
            r[R_ENTRY_LEAVES] = lv
        else:   # the order is done: its entry is released
            if r[R_ENTRY_RESERVE] != 0.0:
                r[R_RESERVED] -= r[R_ENTRY_LEAVES] * r[R_ENTRY_RESERVE]
                if r[R_RESERVED] < 1e-9:
                    r[R_RESERVED] = 0.0
            r[R_HAS_ENTRY] = 0.0
    r[R_SYM_QTY] = r[R_SYM_QTY] + signed
    old = r[R_QTY]
    closed_pnl = 0.0
    if kind == OPEN:
        r[R_AVG] = price
        r[R_TRADE_PNL] = -fee
    elif kind == ADD:
        r[R_AVG] = (old * r[R_AVG] + signed * price) / new
        r[R_TRADE_PNL] -= fee
    else:
        closed = min(abs(signed), abs(old))
        part = fee * closed / qty if qty else fee
        r[R_TRADE_PNL] += closed * (price - r[R_AVG]) * (1.0 if old > 0 else -1.0) - part
        if kind == CLOSE:
            closed_pnl = r[R_TRADE_PNL]
            r[R_TRADE_PNL] = -(fee - part)
            r[R_AVG] = 0.0
    r[R_QTY] = new
    return closed_pnl


@njit(cache=True, nogil=True, inline="always")
def _portfolio_book(p, sign, qty, price, fee, new, kind):  # pragma: no cover - compiled
    """``Portfolio.apply_fill`` for a fill that does not flip the position (a round trip it
    opens starts its numbers here; the caller keeps its record)."""
    signed = qty if sign > 0 else -qty
    p[P_CASH] -= signed * price + fee
    p[P_TOTAL_FEES] += fee
    p[P_FEES] += fee
    p[P_N_FILLS] += 1.0
    old = p[P_QTY]
    if kind == OPEN:
        p[P_AVG] = price
        q = abs(signed)
        p[P_ENTRY_QTY] = q
        p[P_ENTRY_NOTIONAL] = q * price
        p[P_N_ENTRIES] = 1.0
        p[P_TRADE_FEES] = 0.0 + fee
        p[P_PNL_GROSS] = 0.0
        p[P_EXIT_QTY] = 0.0
        p[P_EXIT_NOTIONAL] = 0.0
    elif kind == ADD:
        p[P_AVG] = (old * p[P_AVG] + signed * price) / new
        p[P_ENTRY_QTY] += qty
        p[P_ENTRY_NOTIONAL] += qty * price
        p[P_N_ENTRIES] += 1.0
        p[P_TRADE_FEES] += fee
    else:
        closed = min(abs(signed), abs(old))
        pnl = closed * (price - p[P_AVG]) * (1.0 if old > 0 else -1.0)
        p[P_REALIZED] += pnl
        p[P_PNL_GROSS] += pnl
        p[P_TRADE_FEES] += fee * closed / qty
        p[P_EXIT_QTY] += closed
        p[P_EXIT_NOTIONAL] += closed * price
        if kind == CLOSE:
            p[P_AVG] = 0.0
    p[P_QTY] = new


@njit(cache=True, nogil=True)
def book_run(table, p, r, others, params, out, info):  # pragma: no cover - compiled
    """Book the leading fills of one order's run into the portfolio state ``p`` and the risk
    state ``r``; returns how many it booked. ``table``: one row per fill as
    ``engine.fills.market_fills`` gives them (qty, price, fee, slippage_bps, filled_after,
    notional_after, leaves_after). ``params``: (sign: +1 a buy, -1 a sell; this position's
    index among the symbol's positions; 1.0 when the venue checks a spot account's cash and
    position first; the taker fee rate). ``others``: the quantities of the symbol's other
    positions in the portfolio's order (the symbol's net quantity is their sum in that order,
    this one included). Per booked fill, ``out`` gets the portfolio's cash and the symbol's
    net quantity after it.

    The first fill may open the round trip; a fill that closes it is booked and ends the run
    (``info`` = (1.0, the risk engine's round-trip PnL)); it stops before a fill that flips
    the position, before one the spot account's cash or position would cut, and wherever the
    portfolio and the risk engine would not take the same branch. (Few arguments: each one
    costs the call a type check.)"""
    n = table.shape[0]
    sign = params[0]
    mine = int(params[1])
    spot = params[2] != 0.0
    taker_rate = params[3]
    n_pos = others.shape[0] + 1
    info[0] = 0.0
    info[1] = 0.0
    for k in range(n):
        q = table[k, 0]
        px = table[k, 1]
        if spot:
            if sign > 0:
                if not (q * px + q * px * taker_rate <= p[P_CASH]):
                    return k
            else:
                held = p[P_QTY]
                if q > (0.0 if held < 0.0 else held):   # max(position, 0.0)
                    return k
        signed = q if sign > 0 else -q
        new, kind = _step(p[P_QTY], signed)
        r_new, r_kind = _step(r[R_QTY], signed)
        if kind != r_kind or kind == FLIP or (kind == OPEN and k > 0):
            return k
        closed_pnl = _risk_book(r, sign, q, px, table[k, 2], table[k, 6], r_new, r_kind)
        _portfolio_book(p, sign, q, px, table[k, 2], new, kind)
        out[k, 0] = p[P_CASH]
        if n_pos == 1:
            out[k, 1] = new
        else:
            total = 0.0
            j = 0
            for i in range(n_pos):
                if i == mine:
                    total += new
                else:
                    total += others[j]
                    j += 1
            out[k, 1] = total
        if kind == CLOSE:
            info[0] = 1.0
            info[1] = closed_pnl
            return k + 1
    return n


@njit(cache=True, nogil=True)
def risk_run(sign, qty, price, fee, leaves, r, info):  # pragma: no cover - compiled
    """:func:`book_run` for the risk state alone (the risk actor replaying audited fills);
    returns how many it booked, with ``info`` as there."""
    n = qty.shape[0]
    info[0] = 0.0
    info[1] = 0.0
    for k in range(n):
        q = qty[k]
        new, kind = _step(r[R_QTY], q if sign > 0 else -q)
        if kind == FLIP or (kind == OPEN and k > 0):
            return k
        closed_pnl = _risk_book(r, sign, q, price[k], fee[k], leaves[k], new, kind)
        if kind == CLOSE:
            info[0] = 1.0
            info[1] = closed_pnl
            return k + 1
    return n


__all__ = ["book_run", "risk_run"]
