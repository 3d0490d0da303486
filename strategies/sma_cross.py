"""SMA crossover: long while the fast simple moving average is above the slow one.

Entry: when the fast SMA of prices (bar closes, trade prices or quote mids) crosses above the
slow SMA, buy so the position is worth ``allocation`` of this strategy's share of portfolio
equity (``ctx.capital_share``) at that price. Exit: when the fast SMA crosses below the slow
SMA, sell the whole position; with ``allow_short`` it also goes short the same notional.
Orders are market orders, so they fill at the next event (plus latency). Nothing happens until
``slow`` events have been seen, and the first comparison after that only sets the side: an
order needs a cross. Equal averages (a flat stretch longer than ``slow``) are not a cross.

The batch path (``on_batch``) runs the same averages (the SMA step function) and crosses in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (SMA, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, param, percent_targets, sma_init, sma_step)


class SmaCross(Strategy):
    """Fast/slow simple moving average crossover."""

    name = "sma_cross"

    class Params(StrategyParams):
        fast: int = param(10, low=2, high=500, doc="fast SMA length, in events")
        slow: int = param(30, low=3, high=2000, doc="slow SMA length, in events")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short on a downward cross instead of flat")

        def check(self) -> None:
            self.require_below("fast", "slow")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.fast = SMA(p.fast)
        self.slow = SMA(p.slow)
        self.above: bool | None = None     # None until both averages are ready
        self.up = p.allocation
        self.down = -p.allocation if p.allow_short else 0.0
        self._kernel = (*sma_init(p.fast), *sma_init(p.slow), -1)

    def on_price(self, price: float) -> None:
        above = self.fast.update(price) > self.slow.update(price)
        if above is self.above or not self.slow.ready:
            return
        first = self.above is None
        self.above = above
        if not first:
            self.ctx.order_target_percent(self.up if above else self.down, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _crosses(batch.price, self.up, self.down, *self._kernel)
        return percent_targets(batch, targets)


@njit(cache=True)
def _crosses(price: Any, up: float, down: float, fast_state: Any, fast_buf: Any,
             slow_state: Any, slow_buf: Any, side: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each cross (NaN elsewhere); ``side`` is -1 until both averages
    are ready, then 1 above and 0 below."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if not math.isfinite(x):
            continue
        fast, fast_state = sma_step(fast_state, fast_buf, x)
        slow, slow_state = sma_step(slow_state, slow_buf, x)
        if slow != slow:
            continue
        above = 1 if fast > slow else 0
        if above != side:
            if side >= 0:
                out[i] = up if above else down
            side = above
    return out, (fast_state, fast_buf, slow_state, slow_buf, side)
