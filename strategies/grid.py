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

The batch path (``on_batch``) runs the same depth rule in a numba kernel, with the same level
arithmetic, and yields the same ``order_target`` calls (``TARGET_QTY`` intents).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.intents import EventBatch, Intents, target_qty
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


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

    def on_start(self) -> None:
        p = self.params
        self.step = p.spacing_pct / 100.0
        self.anchor = p.anchor          # 0.0 until the first price when no anchor is given
        self.depth = 0
        self.target = 0.0               # the target last ordered; the position starts flat
        # batch path state: [anchor, last target], [depth]
        self._fstate = np.array([p.anchor, 0.0])
        self._istate = np.zeros(1, dtype=np.int64)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        if self.anchor == 0.0:
            self.anchor = price
        p = self.params
        anchor, step, k = self.anchor, self.step, self.depth
        while k < p.levels and price <= anchor * (1.0 - (k + 1) * step):
            k += 1
        while k > 0 and price >= anchor * (1.0 - (k - 1) * step):
            k -= 1
        self.depth = k
        target = min(max(k * p.level_size, p.min_inventory), p.max_inventory)
        if target != self.target:
            self.target = target
            self.ctx.order_target(target)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        price = np.ascontiguousarray(batch.price, dtype=np.float64)
        index, target = _targets(price, self._fstate, self._istate, p.levels, self.step,
                                 p.level_size, p.min_inventory, p.max_inventory)
        return target_qty(batch, index, target)


@njit(cache=True)
def _targets(price, fstate, istate, levels, step, level_size, min_inv,
             max_inv):  # pragma: no cover - compiled
    """Positions where the clipped target inventory changes, and the new target.

    ``fstate`` = [anchor (0 until set), last target], ``istate`` = [depth]; the arithmetic is
    the hook's, step for step.
    """
    anchor, last = fstate[0], fstate[1]
    k = istate[0]
    out_i = np.empty(price.shape[0], np.int64)
    out_t = np.empty(price.shape[0], np.float64)
    n_out = 0
    for i in range(price.shape[0]):
        x = price[i]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        if anchor == 0.0:
            anchor = x
        while k < levels and x <= anchor * (1.0 - (k + 1) * step):
            k += 1
        while k > 0 and x >= anchor * (1.0 - (k - 1) * step):
            k -= 1
        target = min(max(k * level_size, min_inv), max_inv)
        if target != last:
            last = target
            out_i[n_out] = i
            out_t[n_out] = target
            n_out += 1
    fstate[0], fstate[1] = anchor, last
    istate[0] = k
    return out_i[:n_out], out_t[:n_out]
