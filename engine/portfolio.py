"""Portfolio accounting: cash, positions per (symbol, strategy) with average entry price,
realized and unrealized PnL, fees, and closed round-trip trades.

Cash is in the quote currency and shared by the whole portfolio; positions and PnL are
attributed to the (symbol, strategy) that traded them. A buy pays ``qty * price + fee``; a
sell (or short sale) receives ``qty * price - fee``. Equity is cash plus the marked value of
every position. A round-trip trade opens when a position leaves zero and closes when it
returns to zero; a fill that flips the position closes one trade and opens the next.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.messages import OrderFilled

_EPS = 1e-12
_NO_TRIP = (0.0,) * 7   # run_state's round-trip numbers while no round trip is open


class Position:
    """One (symbol, strategy) position and its current round trip."""

    __slots__ = ("avg_price", "fees", "n_fills", "qty", "realized_pnl", "strategy_id", "symbol",
                 "trade")

    def __init__(self, symbol: str, strategy_id: str) -> None:
        self.symbol = symbol
        self.strategy_id = strategy_id
        self.qty = 0.0
        self.avg_price = 0.0
        self.realized_pnl = 0.0    # gross of fees, all round trips
        self.fees = 0.0
        self.n_fills = 0
        self.trade: dict[str, Any] | None = None

    def unrealized_pnl(self, price: float) -> float:
        return self.qty * (price - self.avg_price) if self.qty else 0.0


class Portfolio:
    """Cash, positions and closed trades of one backtest or trading session."""

    def __init__(self, initial_cash: float) -> None:
        if not (math.isfinite(initial_cash) and initial_cash > 0):
            raise ValueError(f"initial capital must be a positive number, got {initial_cash!r}")
        self.initial_cash = float(initial_cash)
        self.cash = float(initial_cash)
        self.positions: dict[tuple[str, str], Position] = {}
        self._by_symbol: dict[str, list[Position]] = {}
        # (symbol, strategy id) -> the symbol's position count, its other positions, its index
        self._others: dict[tuple[str, str], tuple[int, list[Position], int]] = {}
        self.net_qty: dict[str, float] = {}
        self.last_price: dict[str, float] = {}
        self.trades: list[dict[str, Any]] = []
        self.total_fees = 0.0

    def position(self, symbol: str, strategy_id: str) -> Position:
        """The (symbol, strategy) position, created flat on first use."""
        key = (symbol, strategy_id)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(symbol, strategy_id)
            self._by_symbol.setdefault(symbol, []).append(pos)
            self.net_qty.setdefault(symbol, 0.0)
        return pos

    def equity(self) -> float:
        """Cash plus every open position marked at its symbol's last price."""
        value = self.cash
        last = self.last_price
        for symbol, qty in self.net_qty.items():
            if qty:
                value += qty * last[symbol]
        return value

    def apply_fill(self, fill: OrderFilled) -> Position:
        """Book a fill: cash, fees, position, realized PnL and round trips."""
        # one unpack instead of a field lookup per use: this runs for every fill
        strategy_id, _, symbol, _, _, _, side, qty, price, _, _, _, fee, _, ts, _, fee_qty = fill
        pos = self.positions.get((symbol, strategy_id))
        if pos is None:
            pos = self.position(symbol, strategy_id)
        signed = qty if side == "BUY" else -qty
        self.cash -= signed * price + fee
        if fee_qty:
            # the venue kept part of the base asset: the position moves by that much less
            # (a buy) or more (a sell) than traded, and the part's value counts as a fee
            fee += fee_qty * price
            qty = qty - fee_qty if side == "BUY" else qty + fee_qty
            signed = qty if side == "BUY" else -qty
        self.total_fees += fee
        pos.fees += fee
        pos.n_fills += 1
        self.last_price.setdefault(symbol, price)

        old = pos.qty
        new = old + signed
        if abs(new) <= _EPS * max(1.0, abs(old)):
            new = 0.0
        if old == 0.0:
            pos.avg_price = price
            opened = pos.trade = _open_trade(pos, ts, price, signed)
            opened["fees"] += fee
            pos.qty = new
        else:
            trade = pos.trade
            assert trade is not None   # a position away from zero has its round trip open
            if (old > 0) == (signed > 0):
                # adding: weighted average entry
                pos.avg_price = (old * pos.avg_price + signed * price) / new
                trade["entry_qty"] += qty
                trade["entry_notional"] += qty * price
                trade["n_entries"] += 1
                trade["fees"] += fee
            else:
                closed = min(abs(signed), abs(old))
                pnl = closed * (price - pos.avg_price) * (1.0 if old > 0 else -1.0)
                pos.realized_pnl += pnl
                close_fee = fee * closed / qty
                trade["pnl_gross"] += pnl
                trade["fees"] += close_fee
                trade["exit_qty"] += closed
                trade["exit_notional"] += closed * price
                if new == 0.0 or (new > 0) != (old > 0):
                    trade["exit_ts"] = ts
                    self.trades.append(_close_trade(trade))
                    pos.trade = None
                    if new != 0.0:  # flipped: the rest opens a new round trip
                        pos.avg_price = price
                        opened = pos.trade = _open_trade(pos, ts, price, new)
                        opened["fees"] += fee - close_fee
                    else:
                        pos.avg_price = 0.0
            pos.qty = new
        # Recomputed from the positions, so it always equals their sum.
        mine = self._by_symbol[symbol]
        self.net_qty[symbol] = pos.qty if len(mine) == 1 else sum([p.qty for p in mine])
        return pos

    # --- runs of fills booked compiled (engine.booking) ------------------------------------

    def run_state(self, symbol: str, strategy_id: str) -> np.ndarray | None:
        """The state ``engine.booking.book_run`` books a position's fills into (``P_*``),
        None for a position that has never traded (its first fill creates it)."""
        pos = self.positions.get((symbol, strategy_id))
        if pos is None:
            return None
        t = pos.trade
        # flat (no round trip): the run's first fill may open one
        trip = _NO_TRIP if t is None else (t["entry_qty"], t["entry_notional"], t["n_entries"],
                                           t["fees"], t["pnl_gross"], t["exit_qty"],
                                           t["exit_notional"])
        return np.array([self.cash, self.total_fees, pos.qty, pos.avg_price, pos.realized_pnl,
                         pos.fees, pos.n_fills, *trip])

    def set_run_state(self, symbol: str, strategy_id: str, state: np.ndarray,
                      opened: tuple[int, float, float] | None = None,
                      closed_at: int | None = None) -> Position:
        """Take back what ``book_run`` booked into :meth:`run_state`'s state. ``opened``: the
        run's first fill opened the round trip (its time, price and signed quantity);
        ``closed_at``: its last fill closed it, at that time (the trip is recorded)."""
        pos = self.positions[(symbol, strategy_id)]
        if opened is not None:
            ts, price, signed = opened
            pos.trade = _open_trade(pos, ts, price, signed)
        t = pos.trade
        assert t is not None   # a round trip is open, or the run opened one
        (self.cash, self.total_fees, pos.qty, pos.avg_price, pos.realized_pnl, pos.fees,
         n_fills, t["entry_qty"], t["entry_notional"], n_entries, t["fees"], t["pnl_gross"],
         t["exit_qty"], t["exit_notional"]) = state.tolist()
        pos.n_fills = int(n_fills)
        t["n_entries"] = int(n_entries)
        if closed_at is not None:
            t["exit_ts"] = closed_at
            self.trades.append(_close_trade(t))
            pos.trade = None
        return pos

    def others_of(self, symbol: str, strategy_id: str) -> tuple[np.ndarray, int]:
        """The quantities of ``symbol``'s other positions in order, and this one's index
        among them all (the symbol's net quantity is their sum in that order)."""
        mine = self._by_symbol[symbol]
        known = self._others.get((symbol, strategy_id))
        if known is None or known[0] != len(mine):   # (a position opened since)
            index = next(i for i, p in enumerate(mine) if p.strategy_id == strategy_id)
            known = self._others[(symbol, strategy_id)] = (len(mine), mine[:index] +
                                                           mine[index + 1:], index)
        _, others, index = known
        return np.array([p.qty for p in others], dtype=np.float64), index

    def open_trades(self) -> list[dict[str, Any]]:
        """Round trips still open, with unrealized PnL at the last price."""
        out = []
        for pos in self.positions.values():
            if pos.trade is not None and pos.qty:
                trade = dict(pos.trade)
                trade["unrealized_pnl"] = pos.unrealized_pnl(self.last_price[pos.symbol])
                trade["qty"] = pos.qty
                out.append(trade)
        return out


def _open_trade(pos: Position, ts: int, price: float, signed: float) -> dict[str, Any]:
    """A round trip opening with ``signed`` quantity at ``price``."""
    q = abs(signed)
    return {
        "symbol": pos.symbol,
        "strategy_id": pos.strategy_id,
        "direction": "LONG" if signed > 0 else "SHORT",
        "entry_ts": ts,
        "exit_ts": None,
        "entry_qty": q,
        "entry_notional": q * price,
        "exit_qty": 0.0,
        "exit_notional": 0.0,
        "pnl_gross": 0.0,
        "fees": 0.0,
        "n_entries": 1,
    }


def _close_trade(trade: dict[str, Any]) -> dict[str, Any]:
    entry_price = trade["entry_notional"] / trade["entry_qty"]
    exit_price = trade["exit_notional"] / trade["exit_qty"]
    pnl = trade["pnl_gross"] - trade["fees"]
    return {
        "symbol": trade["symbol"],
        "strategy_id": trade["strategy_id"],
        "direction": trade["direction"],
        "entry_ts": trade["entry_ts"],
        "exit_ts": trade["exit_ts"],
        "duration_ns": trade["exit_ts"] - trade["entry_ts"],
        "qty": trade["entry_qty"],
        "entry_price": entry_price,
        "exit_price": exit_price,
        "pnl_gross": trade["pnl_gross"],
        "fees": trade["fees"],
        "pnl": pnl,
        "return_pct": 100.0 * pnl / trade["entry_notional"],   # percent of the entry notional
        "n_entries": trade["n_entries"],
    }
