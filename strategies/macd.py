"""MACD crossover: long after the MACD line crosses above its signal line, out (or short) after
it crosses below.

Indicator: ``MACD(fast, slow, signal)`` of the prices (bar closes, trade prices or quote mids),
TA-Lib conventions (``engine.indicators.MACD``): ``line = EMA(fast) - EMA(slow)``, ``signal`` =
EMA of the line, ``hist = line - signal``. The histogram's sign is the side of the line
against its signal; a zero histogram keeps the last sign. A *bullish cross* is the sign turning
from negative to positive, a *bearish cross* from positive to negative; the first sign after the
warm-up is no cross.

Entry: on a bullish cross, target a long position worth ``allocation`` of this strategy's share
of equity (``allocation * equity * capital_share / price``, through
``ctx.order_target_percent``). With ``zero_filter`` the cross must also happen with the MACD
line above zero, or the target is flat instead (a short is still covered).
Exit: on a bearish cross, target flat; with ``allow_short`` target a short of the same notional
instead (with ``zero_filter``, only when the MACD line is below zero; flat otherwise). A cross
asking for the position already targeted does nothing.

Market orders, filled at the next event (plus latency). Warm-up: ``slow + signal - 1`` prices
(the first valid histogram). A NaN or infinite price is skipped (state unchanged).

The batch path (``on_batch``) runs the same MACD (the MACD step function) and cross rule in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (MACD, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, macd_init, macd_step, param, percent_targets, step)


class MacdStrategy(Strategy):
    """MACD line / signal line crossover, with an optional zero-line filter."""

    name = "macd"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="fast EMA length, in events")
        slow: int = param(26, low=3, high=1000, doc="slow EMA length, in events")
        signal: int = param(9, low=2, high=500, doc="signal EMA length, in events")
        zero_filter: bool = param(False, doc="enter long only above the zero line (and short "
                                             "only below it)")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short on a bearish cross instead of flat")

        def check(self) -> None:
            self.require_below("fast", "slow")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.macd = MACD(p.fast, p.slow, p.signal)
        self.rule = (p.zero_filter, p.allocation, -p.allocation if p.allow_short else 0.0)
        self.state = (0, 0.0)     # the histogram's last sign (0: none yet), the last target
        self._kernel = (*macd_init(p.fast, p.slow, p.signal), self.state)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.rule, *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        line, _, hist = self.macd.update(price)
        target, self.state = _crosses(self.state, line, hist, self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def histogram_cross(side: int, hist: float) -> tuple[int, int]:
    """``(cross, side)``: +1 when the MACD histogram's sign turns from negative to positive
    (bullish), -1 from positive to negative (bearish), else 0; ``side`` is its last sign (0
    until the first), kept by a zero or NaN histogram."""
    if hist > 0.0:
        now = 1
    elif hist < 0.0:
        now = -1
    else:
        return 0, side
    return (now if side != 0 and now != side else 0), now


@step
def _crosses(state: Any, line: float, hist: float, rule: Any) -> tuple[float, Any]:
    """The target fraction on a cross that changes it (``up`` on a bullish cross, ``down`` on
    a bearish one, flat where the zero filter refuses), else NaN; and the new state."""
    zero_filter, up, down = rule
    side, held = state
    cross, side = histogram_cross(side, hist)
    target = held
    if cross == 1:
        target = up if not zero_filter or line > 0.0 else 0.0
    elif cross == -1:
        target = down if not zero_filter or line < 0.0 else 0.0
    return (target if target != held else math.nan), (side, target)


@njit(cache=True)
def _signals(price: Any, rule: Any, macd_state: Any, recent: Any,
             state: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction where it changes (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            (line, _, hist), macd_state = macd_step(macd_state, recent, x)
            out[i], state = _crosses(state, line, hist, rule)
    return out, (macd_state, recent, state)
