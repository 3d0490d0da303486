"""Momentum: long while the rate of change over ``lookback`` events exceeds ``threshold``.

Entry: when the price's rate of change over ``lookback`` events (``price / price[-lookback] -
1``) rises above ``threshold``, buy so the position is worth ``allocation`` of this
strategy's share of equity (``ctx.capital_share``). Exit: when it falls below
``-threshold``, sell the position (or, with ``allow_short``, go short the same notional).
Between the two bands the position is kept. Market orders, filled at the next event. Nothing
happens until ``lookback + 1`` events have been seen. Prices are bar closes, trade prices or
quote mids.

The batch path (``on_batch``) runs the same rate of change (the ROC step function) and band
rule in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (ROC, EventBatch, Intents, Strategy, StrategyParams, allocation_param,
                        lag_init, param, percent_targets, roc_step, step)


class Momentum(Strategy):
    """Time-series momentum on the rate of change."""

    name = "momentum"

    class Params(StrategyParams):
        lookback: int = param(20, low=1, high=2000, doc="rate-of-change window, in events")
        threshold: float = param(0.01, low=0.0, high=1.0,
                                 doc="entry band: enter above +threshold, exit below -threshold")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short below -threshold instead of flat")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.roc = ROC(p.lookback)
        self.band = 0      # +1 above the band, -1 below it (long / out), 0 not yet decided
        self.rule = (p.threshold, p.allocation, -p.allocation if p.allow_short else 0.0)
        self._kernel = (*lag_init(p.lookback), self.band)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.rule, *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        target, self.band = _band(self.band, self.roc.update(price), self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _band(band: int, change: float, rule: Any) -> tuple[float, int]:
    """The target fraction when the rate of change leaves the band for the other side than
    last time (``up`` above ``+threshold``, ``down`` below ``-threshold``), else NaN; and the
    new side. A NaN rate of change (warm-up, or a zero price ``lookback`` events back) is
    inside neither band."""
    threshold, up, down = rule
    if change > threshold:
        now = 1
    elif change < -threshold:
        now = -1
    else:
        return math.nan, band
    if now == band:
        return math.nan, band
    return (up if now == 1 else down), now


@njit(cache=True)
def _signals(price: Any, rule: Any, roc_state: Any, roc_buf: Any,
             band: int) -> Any:  # pragma: no cover - compiled
    """The target fraction where the band side changes (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            change, roc_state = roc_step(roc_state, roc_buf, x)
            out[i], band = _band(band, change, rule)
    return out, (roc_state, roc_buf, band)
