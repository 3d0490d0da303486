"""Runs of fills booked compiled: the portfolio's and the risk engine's per-fill accounting
(``engine.portfolio.Portfolio.apply_fill``, ``engine.risk.RiskEngine.on_fill``) over a run of
one order's fills in one call, instead of one Python call chain per fill.

A market order under a volume cap fills over many trades (the standard workload books about
ten fills per order), and each fill only adds to a position or takes from it: the same dozen
floating-point operations on a few numbers. These kernels do exactly those operations, in
the same order, on the state handed in as small arrays, so the numbers are equal to the bit
to booking the fills one by one. They stop *before* any fill that needs more than arithmetic,
which the caller then books through the Python path:

- a fill that opens a round trip (the position is flat) or closes or flips one (the trade
  records, the loss breaker and the cooldowns learn of it there);
- for the pass, a fill a spot account's cash (a buy) or position (a sell) would cut.

State vectors (float64): the portfolio's ``P_*`` (cash, total fees, the position and its open
round trip) and the risk engine's ``R_*`` (its cash, the pair's quantity, average and round-trip
PnL, the symbol's quantity, the order's working entry, the reserved cash).
"""

from __future__ import annotations

from numba import njit

_EPS = 1e-12

(P_CASH, P_TOTAL_FEES, P_QTY, P_AVG, P_REALIZED, P_FEES, P_N_FILLS, P_ENTRY_QTY,
 P_ENTRY_NOTIONAL, P_N_ENTRIES, P_TRADE_FEES, P_PNL_GROSS, P_EXIT_QTY,
 P_EXIT_NOTIONAL) = range(14)

(R_CASH, R_QTY, R_AVG, R_TRADE_PNL, R_SYM_QTY, R_HAS_ENTRY, R_ENTRY_LEAVES, R_ENTRY_RESERVE,
 R_RESERVED) = range(9)


@njit(cache=True, nogil=True, inline="always")
def _after(old, signed):  # pragma: no cover - compiled
    """The position after adding ``signed`` (a remainder within 1e-12 of flat is flat), and
    whether that fill only adds to it or takes from it (no round trip opens or closes)."""
    new = old + signed
    if abs(new) <= _EPS * max(1.0, abs(old)):
        new = 0.0
    plain = not (old == 0.0 or new == 0.0 or (new > 0.0) != (old > 0.0))
    return new, plain


@njit(cache=True, nogil=True, inline="always")
def _risk_book(r, sign, qty, price, fee, leaves, new):  # pragma: no cover - compiled
    """``RiskEngine.on_fill`` for a fill that neither opens nor closes the pair's round trip."""
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
    if (old > 0) == (signed > 0):
        r[R_AVG] = (old * r[R_AVG] + signed * price) / new
        r[R_TRADE_PNL] -= fee
    else:
        closed = min(abs(signed), abs(old))
        part = fee * closed / qty if qty else fee
        r[R_TRADE_PNL] += closed * (price - r[R_AVG]) * (1.0 if old > 0 else -1.0) - part
    r[R_QTY] = new


@njit(cache=True, nogil=True, inline="always")
def _portfolio_book(p, sign, qty, price, fee, new):  # pragma: no cover - compiled
    """``Portfolio.apply_fill`` for a fill that neither opens nor closes the round trip."""
    signed = qty if sign > 0 else -qty
    p[P_CASH] -= signed * price + fee
    p[P_TOTAL_FEES] += fee
    p[P_FEES] += fee
    p[P_N_FILLS] += 1.0
    old = p[P_QTY]
    if (old > 0) == (signed > 0):
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
    p[P_QTY] = new


@njit(cache=True, nogil=True)
def book_run(table, p, r, others, params, out):  # pragma: no cover - compiled
    """Book the leading fills of one order's run into the portfolio state ``p`` and the risk
    state ``r``; returns how many it booked. ``table``: one row per fill as
    ``engine.fills.market_fills`` gives them (qty, price, fee, slippage_bps, filled_after,
    notional_after, leaves_after). ``params``: (sign: +1 a buy, -1 a sell; this position's
    index among the symbol's positions; 1.0 when the venue checks a spot account's cash and
    position first; the taker fee rate). ``others``: the quantities of the symbol's other
    positions in the portfolio's order (the symbol's net quantity is their sum in that order,
    this one included). Per booked fill, ``out`` gets the portfolio's cash and the symbol's
    net quantity after it. (Few arguments: each one costs the call a type check.)"""
    n = table.shape[0]
    sign = params[0]
    mine = int(params[1])
    spot = params[2] != 0.0
    taker_rate = params[3]
    n_pos = others.shape[0] + 1
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
        new, plain = _after(p[P_QTY], signed)
        if not plain:
            return k
        r_new, r_plain = _after(r[R_QTY], signed)
        if not r_plain:
            return k
        _risk_book(r, sign, q, px, table[k, 2], table[k, 6], r_new)
        _portfolio_book(p, sign, q, px, table[k, 2], new)
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
    return n


@njit(cache=True, nogil=True)
def risk_run(sign, qty, price, fee, leaves, r):  # pragma: no cover - compiled
    """:func:`book_run` for the risk state alone (the risk actor replaying audited fills);
    returns how many it booked."""
    n = qty.shape[0]
    for k in range(n):
        q = qty[k]
        new, plain = _after(r[R_QTY], q if sign > 0 else -q)
        if not plain:
            return k
        _risk_book(r, sign, q, price[k], fee[k], leaves[k], new)
    return n


__all__ = ["book_run", "risk_run"]
