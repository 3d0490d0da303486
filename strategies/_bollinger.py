"""What ``bollinger_bands`` (breakout) and ``bollinger_reversion`` share: the parameters, the
per-event hooks and the numba batch path over the same bands, with the entry and exit rules
mirrored by one switch (``trend``). Each strategy's module documents its rules. The ``nbdev``
check serves ``macd_bollinger`` too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (BollingerBands, ConfigError, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, bbands_step, moments_init, param, percent_targets, step)


def check_nbdev(strategy: str, nbdev: float, period: int) -> None:
    """``ConfigError`` unless ``nbdev`` is below ``sqrt(period - 1)``: a price is part of its
    own window, so it cannot lie further than that from the window's mean."""
    limit = math.sqrt(period - 1)
    if nbdev >= limit:
        raise ConfigError(
            f"strategy {strategy!r}: nbdev ({nbdev}) must be below sqrt(period - 1) = "
            f"{limit:.4g} for period {period}: no price can lie further than that outside a "
            f"window it belongs to")


class BollingerParams(StrategyParams):
    period: int = param(20, low=2, high=2000, doc="band window, in events")
    nbdev: float = param(2.0, low=0.1, high=10.0,
                         doc="band half-width, in population standard deviations")
    allocation: float = allocation_param()
    allow_short: bool = param(False, doc="also sell short on the opposite band")

    def check(self) -> None:
        check_nbdev(type(self)._strategy_name, self.nbdev, self.period)


class BollingerStrategy(Strategy):
    """Trades closes outside the Bollinger Bands: with ``trend``, buys above the upper band
    and exits below the middle; otherwise buys below the lower band and exits at the middle
    (shorts mirrored)."""

    trend: bool = True
    Params = BollingerParams
    params: BollingerParams

    def on_start(self) -> None:
        p = self.params
        self.bands = BollingerBands(p.period, p.nbdev, p.nbdev)
        self.rule = (self.trend, p.allow_short, p.allocation)
        self.side = 0       # +1 long, -1 short, 0 flat (what this strategy last targeted)
        self._kernel = (*moments_init(p.period), self.side)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.params.nbdev, self.rule,
                                         *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        upper, middle, lower = self.bands.update(price)
        target, self.side = _bands(self.side, price, upper, middle, lower, self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _bands(side: int, x: float, upper: float, middle: float, lower: float,
           rule: Any) -> tuple[float, int]:
    """The target fraction when price ``x`` enters or exits (``trend``: the breakout rules,
    else the reversion rules), else NaN; and the new side. NaN bands (the warm-up) enter
    nothing."""
    trend, allow_short, allocation = rule
    if side == 0:
        if (x > upper) if trend else (x < lower):
            side = 1
        elif ((x < lower) if trend else (x > upper)) and allow_short:
            side = -1
        else:
            return math.nan, side
    elif (x < middle if side == 1 else x > middle) != trend:
        # trend: held while on the position's side of the middle; reversion: until there
        return math.nan, side
    else:
        side = 0
    return side * allocation, side


@njit(cache=True)
def _signals(price: Any, nbdev: float, rule: Any, bands_state: Any, window: Any,
             side: int) -> Any:  # pragma: no cover - compiled
    """The target fraction where it changes (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            (upper, middle, lower), bands_state = bbands_step(bands_state, window, x, nbdev,
                                                              nbdev)
            out[i], side = _bands(side, x, upper, middle, lower, rule)
    return out, (bands_state, window, side)
