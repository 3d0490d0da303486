"""Grid: buy a fixed quantity at each grid level below an anchor price, sell it one level higher.

The grid is a target inventory. The anchor is ``anchor`` (or, when that is 0, the first price
seen); level ``j`` (``j = 1 .. levels``) sits at ``anchor * (1 - j * spacing_pct / 100)``. The
strategy keeps a depth ``k``, the number of levels crossed downward and not yet recovered:

- when the price falls to or below level ``k + 1``, ``k`` grows by one (repeatedly, so a gap
  through several levels buys several lots at once);
- when the price rises to or above level ``k - 1`` (the level above the last one bought;
  level 0 is the anchor), ``k`` shrinks by one (again repeatedly).

The target inventory is ``k * level_size`` base units, clipped to ``[min_inventory,
max_inventory]``; whenever that target changes the strategy calls ``ctx.order_target(target)``
(so a non-zero ``min_inventory`` is bought on the first event). Each lot is therefore bought
on a down-cross of its level and sold on the up-cross of the level above: one ``spacing_pct``
of profit per round trip, before fees. Above the anchor the target is ``min_inventory``; the
grid never moves. Prices are bar closes, trade prices or quote mids; an event with a NaN or
infinite price is skipped.

Fills are market orders at the next event after the level cross (plus latency), not resting
limit orders at the level prices. That is deliberate: the batch path (``engine.intents``) can
only express market orders, and a market order placed on the crossing event is filled the
same way by the backtest, by the batch path and live, so the three agree exactly; resting
limits would make the result depend on queue position and on how each venue model fills a
touch. The cost is slippage past the level in fast moves.

The batch path (``on_batch``) runs the same depth rule (one function for both paths) in a
numba kernel and yields the same ``order_target`` calls (``TARGET_QTY`` intents).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (ConfigError, EventBatch, Intents, Strategy, StrategyParams, param,
                        qty_targets, step)


class Grid(Strategy):
    """Target-inventory grid below an anchor price."""

    name = "grid"

    class Params(StrategyParams):
        levels: int = param(10, low=1, high=1000, doc="number of grid levels below the anchor")
        spacing_pct: float = param(1.0, low=0.01, high=50.0,
                                   doc="distance between levels, percent of the anchor")
        level_size: float = param(0.01, low=1e-12, high=1e12,
                                  doc="inventory added per level crossed down, base units")
        min_inventory: float = param(0.0, low=0.0, high=1e12,
                                     doc="lowest target inventory, base units")
        max_inventory: float = param(1e12, low=0.0, high=1e12,
                                     doc="highest target inventory, base units")
        anchor: float = param(0.0, low=0.0, high=1e15,
                              doc="price of level 0; 0 means the first price seen")

        def check(self) -> None:
            if self.levels * self.spacing_pct >= 100.0:
                raise ConfigError(
                    f"strategy 'grid' parameter 'spacing_pct' = {self.spacing_pct!r} with "
                    f"levels = {self.levels}: the lowest level must stay above zero, so "
                    f"levels * spacing_pct must be < 100, got "
                    f"{self.levels * self.spacing_pct!r}")
            if self.min_inventory > self.max_inventory:
                raise ConfigError(
                    f"strategy 'grid' parameter 'min_inventory' = {self.min_inventory!r} must "
                    f"be <= max_inventory ({self.max_inventory!r})")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.anchor = p.anchor          # 0.0 until the first price when no anchor is given
        self.depth = 0
        self.target = 0.0               # the target last ordered; the position starts flat
        self.rule = (p.levels, p.spacing_pct / 100.0, p.level_size, p.min_inventory,
                     p.max_inventory)
        self._kernel = (p.anchor, 0, 0.0)

    def on_price(self, price: float) -> None:
        self.anchor, self.depth, target = _grid(self.anchor, self.depth, price, *self.rule)
        if target != self.target:
            self.target = target
            self.ctx.order_target(target)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _targets(batch.price, *self.rule, *self._kernel)
        return qty_targets(batch, targets)


@step
def _grid(anchor: float, depth: int, price: float, levels: int, spacing: float,
          level_size: float, min_inventory: float,
          max_inventory: float) -> tuple[float, int, float]:
    """The anchor, the depth and the clipped target inventory after ``price``."""
    if anchor == 0.0:
        anchor = price
    while depth < levels and price <= anchor * (1.0 - (depth + 1) * spacing):
        depth += 1
    while depth > 0 and price >= anchor * (1.0 - (depth - 1) * spacing):
        depth -= 1
    return anchor, depth, min(max(depth * level_size, min_inventory), max_inventory)


@njit(cache=True)
def _targets(price: Any, levels: int, spacing: float, level_size: float, min_inventory: float,
             max_inventory: float, anchor: float, depth: int,
             last: float) -> Any:  # pragma: no cover - compiled
    """The target inventory wherever it changes (NaN elsewhere)."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if not math.isfinite(x):
            continue
        anchor, depth, target = _grid(anchor, depth, x, levels, spacing, level_size,
                                      min_inventory, max_inventory)
        if target != last:
            out[i] = last = target
    return out, (anchor, depth, last)
