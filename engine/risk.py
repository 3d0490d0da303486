"""Portfolio-level pre-trade risk: the checks every order passes before it reaches a venue.

The risk engine keeps its own view of the portfolio from the order flow it is told about
(orders it approved, fills, cancels, rejections): each (symbol, strategy) pair's position and
its working orders. The caller supplies what moves with the market: equity and mark prices
as of the order's event time. A refusal is an ``OrderDenied`` event with a reason, never an
exception.

Limits (``None`` switches a limit off):

- ``max_open_positions``: at most this many (symbol, strategy) pairs may be *open* at once;
  a pair is open while its position is non-zero or it has working orders. An order from a
  pair that is not open is denied when the limit is reached; orders of open pairs (adding,
  reducing, closing) pass this rule.
- ``max_gross_exposure``: the sum over pairs of ``|position + working orders| * mark``,
  divided by equity, with the order counted in, may not exceed this multiple. Only orders
  that increase their pair's exposure are checked; reducing is always allowed. With equity at
  or below zero every increasing order is denied.

The same core runs inside the single-process backtest and behind the risk actor, so both
decide alike given the same inputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import ConfigError
from engine.messages import BUY, OrderCanceled, OrderFilled, OrderRejected, SubmitOrder

_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class RiskLimits:
    """Portfolio limits; None means no limit."""

    max_open_positions: int | None = None
    max_gross_exposure: float | None = None

    def __post_init__(self) -> None:
        m = self.max_open_positions
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ConfigError(f"max_open_positions must be a positive integer, got {m!r}")
        g = self.max_gross_exposure   # kept as given (2 stays 2): config hashes record it so
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float))
                              or not (math.isfinite(g) and g > 0)):
            raise ConfigError(f"max_gross_exposure must be a positive number, got {g!r}")

    @property
    def active(self) -> bool:
        return self.max_open_positions is not None or self.max_gross_exposure is not None


class RiskEngine:
    """Pre-trade checks against the limits, with the portfolio view they need."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.qty: dict[tuple[str, str], float] = {}                 # (symbol, strategy) -> qty
        self.working: dict[str, tuple[tuple[str, str], float]] = {}  # coid -> (pair, signed leaves)
        self.n_denied = 0

    # --- the portfolio view -------------------------------------------------------------

    def on_approved(self, cmd: SubmitOrder) -> None:
        """An approved order goes to the venue: it counts as working from now on."""
        signed = cmd.quantity if cmd.side == BUY else -cmd.quantity
        self.working[cmd.client_order_id] = ((cmd.symbol, cmd.strategy_id), signed)

    def on_event(self, event: Any) -> None:
        """Apply a venue event (fills, cancels, rejections; others are ignored)."""
        cls = type(event)
        if cls is OrderFilled:
            self.on_fill(event.strategy_id, event.symbol, event.client_order_id, event.side,
                         event.last_qty, event.leaves_qty)
        elif cls is OrderCanceled or cls is OrderRejected:
            self.working.pop(event.client_order_id, None)

    def on_fill(self, strategy_id: str, symbol: str, client_order_id: str, side: str,
                last_qty: float, leaves_qty: float) -> None:
        """Apply one fill (the fields of ``OrderFilled`` the view uses)."""
        pair = (symbol, strategy_id)
        signed = last_qty if side == BUY else -last_qty
        self.qty[pair] = self.qty.get(pair, 0.0) + signed
        if leaves_qty > _EPS:
            self.working[client_order_id] = (pair, leaves_qty if side == BUY else -leaves_qty)
        else:
            self.working.pop(client_order_id, None)

    def _exposure_qty(self) -> dict[tuple[str, str], float]:
        out = dict(self.qty)
        for pair, signed in self.working.values():
            out[pair] = out.get(pair, 0.0) + signed
        return out

    def _is_open(self, pair: tuple[str, str]) -> bool:
        if abs(self.qty.get(pair, 0.0)) > _EPS:
            return True
        return any(p == pair for p, _ in self.working.values())

    # --- the check ------------------------------------------------------------------------

    def check(self, cmd: SubmitOrder, equity: float, marks: Mapping[str, float]) -> str | None:
        """None when ``cmd`` may go to the venue, else the reason it is denied.

        ``equity`` and ``marks`` (symbol -> price) are the portfolio's as of ``cmd.ts_event``.
        """
        limits = self.limits
        pair = (cmd.symbol, cmd.strategy_id)
        if limits.max_open_positions is not None and not self._is_open(pair):
            n_open = len({p for p, q in self.qty.items() if abs(q) > _EPS}
                         | {p for p, _ in self.working.values()})
            if n_open >= limits.max_open_positions:
                self.n_denied += 1
                return (f"max_open_positions: {n_open} of {limits.max_open_positions} "
                        f"positions already open")
        if limits.max_gross_exposure is not None:
            exposure = self._exposure_qty()
            before = exposure.get(pair, 0.0)
            after = before + (cmd.quantity if cmd.side == BUY else -cmd.quantity)
            if abs(after) > abs(before) + _EPS:
                exposure[pair] = after
                gross = 0.0
                for (symbol, _), q in sorted(exposure.items()):
                    if q:
                        # a symbol not marked yet is valued at the order's limit or stop
                        gross += abs(q) * marks.get(symbol, cmd.limit_price or cmd.stop_price
                                                    or 0.0)
                limit = limits.max_gross_exposure
                if equity <= 0 or gross > limit * equity:
                    self.n_denied += 1
                    ratio = gross / equity if equity > 0 else math.inf
                    return (f"max_gross_exposure: gross exposure would be {ratio:.4g}x equity, "
                            f"limit {limit:g}x")
        return None
