"""RSI bounds: buy when the RSI climbs back through its lower bound, sell when it falls back
through its upper bound.

Indicator: Wilder's ``RSI(period)`` of the prices (bar closes, trade prices or quote mids),
TA-Lib conventions (``engine.indicators.RSI``). A cross compares the RSI of this event with the
RSI of the previous (valid) event.

Entry: when the RSI crosses up through ``lower`` (previous RSI < ``lower`` <= this RSI), target
a long position worth ``allocation`` of this strategy's share of equity (``allocation * equity
* capital_share / price``, through ``ctx.order_target_percent``); a short is covered and
reversed.
Exit: when the RSI crosses down through ``upper`` (previous RSI > ``upper`` >= this RSI),
target flat; with ``allow_short``, target a short of the same notional instead. A cross that
asks for the position already targeted does nothing (so without ``allow_short`` a down-cross
while flat is ignored).

Market orders, filled at the next event (plus latency). Warm-up: the RSI is valid from the
``period + 1``-th price; the first valid RSI only sets the previous value, so the first
possible order is on the ``period + 2``-th price. A NaN or infinite price is skipped (state
unchanged).

The batch path (``on_batch``) runs the same RSI (the RSI step function) and cross rule in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (RSI, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, param, percent_targets, rsi_init, rsi_step, step)


class RsiBounds(Strategy):
    """RSI mean reversion on crosses back through fixed bounds."""

    name = "rsi_bounds"

    class Params(StrategyParams):
        period: int = param(14, low=2, high=500, doc="RSI length, in events")
        lower: float = param(30.0, low=1.0, high=99.0,
                             doc="buy when the RSI crosses up through this level")
        upper: float = param(70.0, low=1.0, high=99.0,
                             doc="sell when the RSI crosses down through this level")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short on the down-cross instead of flat")

        def check(self) -> None:
            self.require_below("lower", "upper", "below")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.rsi = RSI(p.period)
        # the rule's levels and targets; its state: the previous RSI, the last target
        self.rule = (p.lower, p.upper, p.allocation, -p.allocation if p.allow_short else 0.0)
        self.state = (math.nan, 0.0)
        self._kernel = (rsi_init(p.period), self.state)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.rule, *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        target, self.state = _crosses(self.state, self.rsi.update(price), self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _crosses(state: Any, rsi: float, rule: Any) -> tuple[float, Any]:
    """The target fraction on a cross that changes it (``up`` crossing up through ``lower``,
    ``down`` crossing down through ``upper``), else NaN; and the new state. A NaN RSI (the
    warm-up) crosses nothing and leaves no previous value to cross from."""
    lower, upper, up, down = rule
    prev, held = state
    if prev < lower <= rsi:
        target = up
    elif prev > upper >= rsi:
        target = down
    else:
        target = held
    return (target if target != held else math.nan), (rsi, target)


@njit(cache=True)
def _signals(price: Any, rule: Any, rsi_state: Any,
             state: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction where it changes (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            rsi, rsi_state = rsi_step(rsi_state, x)
            out[i], state = _crosses(state, rsi, rule)
    return out, (rsi_state, state)
