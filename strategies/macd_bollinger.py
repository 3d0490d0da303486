"""MACD + Bollinger confluence: buy a bullish MACD cross that happens low in the Bollinger
Bands; sell on a bearish cross or when the price touches the upper band. Long only.

Indicators, on the prices (bar closes, trade prices or quote mids), the newest included:
``MACD(fast, slow, signal)`` (TA-Lib conventions; a *bullish cross* is the histogram's sign
turning from negative to positive, a *bearish cross* the reverse; a zero histogram keeps the
last sign) and ``BollingerBands(period, nbdev, nbdev)``.

Entry (only while flat): a bullish cross on an event whose price is at or below
``lower + entry_percent_b * (upper - lower)``, i.e. whose %B is at most ``entry_percent_b``
(0.5: the middle band, 0: the lower band, negative: below it). It buys so the position is worth
``allocation`` of this strategy's share of equity (``allocation * equity * capital_share /
price``, through ``ctx.order_target_percent``).
Exit (while long): a bearish cross, or a price at or above the upper band; it sells the whole
position (target 0). After an exit only the next qualifying bullish cross enters again.

Market orders, filled at the next event (plus latency). Warm-up: ``max(slow + signal - 1,
period)`` prices, until both indicators are valid; the first histogram sign after that is no
cross. A NaN or infinite price is skipped (state unchanged). ``nbdev`` must be below
``sqrt(period - 1)``, or no price can touch the upper band it is part of.

The batch path (``on_batch``) runs the same MACD and bands (their step functions) and rules in
a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (MACD, BollingerBands, EventBatch, Intents, Strategy,
                        StrategyParams, allocation_param, bbands_step, macd_init, macd_step,
                        moments_init, param, percent_targets, step)
from strategies._bollinger import check_nbdev
from strategies.macd import histogram_cross


class MacdBollinger(Strategy):
    """Bullish MACD crosses taken only low in the Bollinger Bands."""

    name = "macd_bollinger"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="MACD fast EMA length, in events")
        slow: int = param(26, low=3, high=1000, doc="MACD slow EMA length, in events")
        signal: int = param(9, low=2, high=500, doc="MACD signal EMA length, in events")
        period: int = param(20, low=2, high=2000, doc="Bollinger window, in events")
        nbdev: float = param(2.0, low=0.1, high=10.0,
                             doc="band half-width, in population standard deviations")
        entry_percent_b: float = param(0.5, low=-0.5, high=1.0,
                                       doc="highest %B at which a bullish cross enters "
                                           "(0.5 middle band, 0 lower band)")
        allocation: float = allocation_param()

        def check(self) -> None:
            self.require_below("fast", "slow")
            check_nbdev("macd_bollinger", self.nbdev, self.period)

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.macd = MACD(p.fast, p.slow, p.signal)
        self.bands = BollingerBands(p.period, p.nbdev, p.nbdev)
        # the prices until both indicators are valid; the entry's %B; the position's size
        self.rule = (max(p.slow + p.signal - 1, p.period), p.entry_percent_b, p.allocation)
        self.state = (0, 0, False)    # prices seen, the histogram's last sign, long
        self._kernel = (*macd_init(p.fast, p.slow, p.signal), *moments_init(p.period),
                        self.state)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.params.nbdev, self.rule,
                                         *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        _, _, hist = self.macd.update(price)
        upper, _, lower = self.bands.update(price)
        target, self.state = _confluence(self.state, price, hist, upper, lower, self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _confluence(state: Any, x: float, hist: float, upper: float, lower: float,
                rule: Any) -> tuple[float, Any]:
    """The target fraction on an entry or exit, else NaN; and the new state. The histogram's
    sign is followed only once both indicators are valid (the ``warmup``-th price on)."""
    warmup, entry_percent_b, allocation = rule
    seen, side, long = state
    seen += 1
    if seen < warmup:
        return math.nan, (seen, side, long)
    cross, side = histogram_cross(side, hist)
    if long:
        if cross == -1 or x >= upper:
            return 0.0, (seen, side, False)
    elif cross == 1 and x <= lower + entry_percent_b * (upper - lower):
        return allocation, (seen, side, True)
    return math.nan, (seen, side, long)


@njit(cache=True)
def _signals(price: Any, nbdev: float, rule: Any, macd_state: Any, recent: Any,
             bands_state: Any, window: Any, state: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction on entries and exits (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            (_, _, hist), macd_state = macd_step(macd_state, recent, x)
            (upper, _, lower), bands_state = bbands_step(bands_state, window, x, nbdev, nbdev)
            out[i], state = _confluence(state, x, hist, upper, lower, rule)
    return out, (macd_state, recent, bands_state, window, state)
