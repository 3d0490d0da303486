"""RSI divergence: buy a new price low that the RSI does not confirm; exit when the RSI has
recovered or after a holding limit.

Prices are bar closes, trade prices or quote mids; ``RSI(rsi_period)`` is Wilder's
(``engine.indicators.RSI``). Events are counted from 0, NaN or infinite prices not included.

- A *new low* is a price strictly below every one of the previous ``lookback`` prices (a
  Donchian channel of the prices, ``engine.indicators.Donchian``, read before this price); a
  *new high* is a price strictly above all of them. New lows and highs are recorded, with the
  RSI of their event, once both the RSI and the channel are valid.
- A *bullish divergence* is a new low whose RSI is strictly higher than the RSI at the
  previous recorded new low, that one being at least ``min_gap`` and at most ``lookback``
  events earlier (so this low is a lower low than it). A *bearish divergence* mirrors it: a new
  high with a strictly lower RSI than at the previous new high.

Entry: a bullish divergence targets a long position worth ``allocation`` of this strategy's
share of equity (``allocation * equity * capital_share / price``, through
``ctx.order_target_percent``), reversing a short. A bearish divergence targets a short of the
same notional with ``allow_short``, otherwise flat (it closes a long).
Exit: a long is closed (target 0) on the first later event whose RSI is at or above
``exit_rsi``, or on its ``max_hold``-th event after the entry (0: no limit); a short on an RSI
at or below ``100 - exit_rsi``, or the same holding limit. A divergence on the same event
overrides the exit. A target equal to the current one places nothing.

Market orders, filled at the next event (plus latency). Warm-up: ``max(rsi_period, lookback)
+ 1`` prices before the first new low or high can be recorded; a divergence needs two.

The batch path (``on_batch``) runs the same RSI and channel (their step functions) and rules
in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (RSI, ConfigError, Donchian, EventBatch, Intents, Strategy, StrategyParams,
                        allocation_param, donchian_init, donchian_step, param, percent_targets,
                        rsi_init, rsi_step, step)


class RsiDivergence(Strategy):
    """Trades lower lows (higher highs) that the RSI does not confirm."""

    name = "rsi_divergence"

    class Params(StrategyParams):
        rsi_period: int = param(14, low=2, high=500, doc="RSI length, in events")
        lookback: int = param(20, low=2, high=1000,
                              doc="a new low is below the previous this many prices")
        min_gap: int = param(5, low=1, high=1000,
                             doc="fewest events between the two lows (highs) of a divergence")
        exit_rsi: float = param(50.0, low=1.0, high=99.0,
                                doc="a long exits at an RSI at or above this (a short at or "
                                    "below 100 minus it)")
        max_hold: int = param(0, low=0, high=1_000_000,
                              doc="exit after this many events in a position (0: no limit)")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short on a bearish divergence instead of flat")

        def check(self) -> None:
            if self.min_gap > self.lookback:
                raise ConfigError(f"strategy 'rsi_divergence': min_gap ({self.min_gap}) must "
                                  f"not exceed lookback ({self.lookback}): the earlier low "
                                  f"must lie inside the lookback window")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.rsi = RSI(p.rsi_period)
        self.window = Donchian(p.lookback)
        self.rule = (max(p.rsi_period, p.lookback), p.lookback, p.min_gap, p.exit_rsi,
                     100.0 - p.exit_rsi, p.max_hold, p.allow_short, p.allocation)
        # events seen; event number and RSI of the last recorded new low, and new high; the
        # last target (+1 long, -1 short, 0 flat) and the events since it was entered
        self.state = (0, -1, 0.0, -1, 0.0, 0, 0)
        self._kernel = (rsi_init(p.rsi_period), *donchian_init(p.lookback), math.nan,
                        math.nan, self.state)

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.rule, *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        rsi = self.rsi.update(price)
        highest, lowest = self.window.upper, self.window.lower   # of the previous ``lookback``
        self.window.update(price, price)
        target, self.state = _divergence(self.state, price, rsi, highest, lowest, self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _divergence(state: Any, x: float, rsi: float, highest: float, lowest: float,
                rule: Any) -> tuple[float, Any]:
    """The target fraction when it changes, else NaN; and the new state. ``highest`` and
    ``lowest`` are the channel of the ``lookback`` prices before ``x``; nothing is recorded
    before the ``warmup``-th event (counted from 0), when both it and the RSI are valid."""
    warmup, lookback, min_gap, exit_rsi, short_exit, max_hold, allow_short, allocation = rule
    t, low_t, low_rsi, high_t, high_rsi, side, held = state
    if t < warmup:
        return math.nan, (t + 1, low_t, low_rsi, high_t, high_rsi, side, held)
    signal = 0
    if x < lowest:
        if low_t >= 0 and min_gap <= t - low_t <= lookback and rsi > low_rsi:
            signal = 1
        low_t = t
        low_rsi = rsi
    elif x > highest:
        if high_t >= 0 and min_gap <= t - high_t <= lookback and rsi < high_rsi:
            signal = -1
        high_t = t
        high_rsi = rsi
    target = side
    if side != 0:
        held += 1
        timed_out = max_hold != 0 and held >= max_hold
        if timed_out or (rsi >= exit_rsi if side == 1 else rsi <= short_exit):
            target = 0
    if signal == 1:
        target = 1
    elif signal == -1:
        target = -1 if allow_short else 0
    if target == side:
        return math.nan, (t + 1, low_t, low_rsi, high_t, high_rsi, side, held)
    return target * allocation, (t + 1, low_t, low_rsi, high_t, high_rsi, target, 0)


@njit(cache=True)
def _signals(price: Any, rule: Any, rsi_state: Any, channel: Any, hv: Any, ht: Any, lv: Any,
             lt: Any, highest: float, lowest: float,
             state: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction where it changes (NaN elsewhere), and the state; ``highest`` and
    ``lowest`` are the channel as of the previous price."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            rsi, rsi_state = rsi_step(rsi_state, x)
            out[i], state = _divergence(state, x, rsi, highest, lowest, rule)
            (highest, _, lowest), channel = donchian_step(channel, hv, ht, lv, lt, x, x)
    return out, (rsi_state, channel, hv, ht, lv, lt, highest, lowest, state)
