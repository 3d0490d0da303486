"""EMA trend: long while the fast exponential moving average is above the slow one.

Averages: ``EMA(fast)`` and ``EMA(slow)`` of the prices (bar closes, trade prices or quote
mids), each seeded with the mean of its first values (TA-Lib EMA). The trend is *up* when
``fast_ema > slow_ema * (1 + band)`` and *down* when ``fast_ema < slow_ema * (1 - band)``; in
between (and when the two are equal) the last trend stands.

Entry: when the trend turns up, buy so the position is worth ``allocation`` of this strategy's
share of equity (``allocation * equity * capital_share / price``, through
``ctx.order_target_percent``). Exit: when the trend turns down, sell the whole position
(target 0); with ``allow_short`` go short the same notional instead. The first trend after the
warm-up only sets the side: an order needs a change of trend (a cross), as in ``sma_cross``.

Market orders, filled at the next event (plus latency). Warm-up: ``slow`` prices. A NaN or
infinite price is skipped (state unchanged).

The batch path (``on_batch``) runs the same averages (the EMA step function) and the same rule
in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (EMA, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, ema_init, ema_step, param, percent_targets, step)


class EmaTrend(Strategy):
    """Fast/slow exponential moving average crossover with an optional dead band."""

    name = "ema_trend"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="fast EMA length, in events")
        slow: int = param(26, low=3, high=2000, doc="slow EMA length, in events")
        band: float = param(0.0, low=0.0, high=0.1,
                            doc="dead band: the fast EMA must clear the slow one by this "
                                "fraction to change the trend")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short when the trend turns down")

        def check(self) -> None:
            self.require_below("fast", "slow")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.fast = EMA(p.fast)
        self.slow = EMA(p.slow)
        self.trend = 0    # +1 up, -1 down, 0 not yet known
        self.rule = (1.0 + p.band, 1.0 - p.band, p.allocation,
                     -p.allocation if p.allow_short else 0.0)
        self._kernel = (ema_init(p.fast), ema_init(p.slow), 0)

    def on_price(self, price: float) -> None:
        fast = self.fast.update(price)
        slow = self.slow.update(price)
        if self.slow.ready:
            target, self.trend = _turn(self.trend, fast, slow, *self.rule)
            if target == target:
                self.ctx.order_target_percent(target, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _turns(batch.price, *self.rule, *self._kernel)
        return percent_targets(batch, targets)


@step
def _turn(trend: int, fast: float, slow: float, up: float, down: float, long: float,
          short: float) -> tuple[float, int]:
    """The target fraction when the trend changes (NaN otherwise; the first trend only sets
    the side) and the trend after this event."""
    if fast > slow * up:
        now = 1
    elif fast < slow * down:
        now = -1
    else:
        return math.nan, trend
    if now == trend or trend == 0:
        return math.nan, now
    return (long if now == 1 else short), now


@njit(cache=True)
def _turns(price: Any, up: float, down: float, long: float, short: float, fast: Any,
           slow: Any, trend: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each change of trend (NaN elsewhere)."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if not math.isfinite(x):
            continue
        f, fast = ema_step(fast, x)
        s, slow = ema_step(slow, x)
        if s == s:
            out[i], trend = _turn(trend, f, s, up, down, long, short)
    return out, (fast, slow, trend)
