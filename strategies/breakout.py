"""Breakout: buy a close above a tight consolidation range on rising volume; exit on a close
back below the range or below a trailing Donchian low. Bars and trades (quotes carry no volume).

On each bar, from the bars *before* it:

- the range: the highest high ``range_high`` and lowest low ``range_low`` of the previous
  ``period`` bars (a Donchian channel, ``engine.indicators.Donchian``); it is a consolidation
  when ``range_high - range_low <= max_width * range_low``;
- the volume average: the mean volume of the previous ``volume_period`` bars
  (``engine.indicators.SMA``);
- the trailing exit channel: the lowest low ``trail_low`` and highest high ``trail_high`` of the
  previous ``exit_period`` bars.

Entry (only while flat): a consolidation, a volume above ``volume_factor`` times the volume
average, and a close above ``range_high`` buy, so the position is worth ``allocation`` of this
strategy's share of equity (``allocation * equity * capital_share / close``, through
``ctx.order_target_percent``); ``range_low`` at that bar is kept as the stop. With
``allow_short``, the mirror (a close below ``range_low``) sells short, keeping ``range_high``.
Exit: while long, a close below the stop or below ``trail_low`` sells the whole position
(target 0); while short, a close above the stop or above ``trail_high`` buys it back. An exit
never enters on the same bar.

A trade counts as a bar whose high, low and close are its price and whose volume is its size
(so the range is that of the previous ``period`` trade prices). Market orders, filled at the
next event (plus latency). Warm-up: ``max(period, volume_period, exit_period)`` events before
the first decision. An event with a NaN or infinite high, low, close or volume (price or size
for trades) is skipped, state unchanged. A quote feed gets no orders.

The batch path (``on_batch``) keeps the same channels and volume average (the Donchian and SMA
step functions) and the same rule in a numba kernel, and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (BAR, SMA, TRADE, Bar, Donchian, EventBatch, Intents, Strategy,
                        StrategyParams, Trade, allocation_param, donchian_init, donchian_step,
                        param, percent_targets, sma_init, sma_step, step)


class Breakout(Strategy):
    """Volume-confirmed breakout from a consolidation range, with a trailing Donchian exit."""

    name = "breakout"

    class Params(StrategyParams):
        period: int = param(20, low=2, high=1000, doc="consolidation range length, in bars")
        max_width: float = param(0.02, low=0.0001, high=1.0,
                                 doc="widest range, as a fraction of its low, that counts as a "
                                     "consolidation")
        volume_period: int = param(20, low=1, high=1000, doc="volume average length, in bars")
        volume_factor: float = param(1.5, low=0.0, high=100.0,
                                     doc="the breakout bar's volume must exceed this multiple "
                                         "of the average")
        exit_period: int = param(10, low=1, high=1000,
                                 doc="trailing exit channel length, in bars")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="also sell short a breakdown below the range")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.range = Donchian(p.period)
        self.trail = Donchian(p.exit_period)
        self.volume = SMA(p.volume_period)
        self.side = 0            # +1 long, -1 short, 0 flat (what this strategy last targeted)
        self.stop = 0.0          # the range's far side at entry
        self.rule = (p.max_width, p.volume_factor, p.allow_short)
        # the kernel's state: the indicators' steps, bars seen, side, stop, and the channels
        # and the average as of the previous bar
        self._kernel: tuple[Any, ...] = (
            donchian_init(p.period), donchian_init(p.exit_period), sma_init(p.volume_period),
            0, 0, 0.0, (math.nan,) * 5)

    def on_bar(self, bar: Bar) -> None:
        self._on_bar(bar.high, bar.low, bar.close, bar.volume)

    def on_trade(self, trade: Trade) -> None:
        price = trade.price
        self._on_bar(price, price, price, trade.size)

    def _on_bar(self, high: float, low: float, close: float, volume: float) -> None:
        if high - high + low - low + close - close + volume - volume:
            return           # NaN or infinite field: skipped, state unchanged
        rng, trail, vol = self.range, self.trail, self.volume
        ready = rng.ready and trail.ready and vol.ready
        # the channels and the average of the bars before this one
        before = (rng.upper, rng.lower, trail.upper, trail.lower, vol.value)
        rng.update(high, low)
        trail.update(high, low)
        vol.update(volume)
        if ready:
            side, self.stop = _side(self.side, self.stop, close, volume, *before, *self.rule)
            if side != self.side:
                self.side = side
                self.ctx.order_target_percent(side * self.params.allocation, close)

    def on_batch(self, batch: EventBatch) -> Intents | None:
        if batch.kind == BAR:
            bars = batch.high, batch.low, batch.close, batch.volume
        elif batch.kind == TRADE:
            bars = batch.price, batch.price, batch.price, batch.size
        else:
            return None      # quotes: the hooks do nothing either
        p = self.params
        warmup = max(p.period, p.exit_period, p.volume_period)
        targets, self._kernel = _breakouts(*bars, warmup, p.allocation, *self.rule,
                                           *self._kernel)
        return percent_targets(batch, targets)


@step
def _side(side: int, stop: float, close: float, volume: float, range_high: float,
          range_low: float, trail_high: float, trail_low: float, average: float,
          max_width: float, volume_factor: float, allow_short: bool) -> tuple[int, float]:
    """The side to hold after a bar and the stop, given the channels and the average of the
    bars before it."""
    if side != 0:            # exit on a close beyond the stop or the trailing channel
        if side == 1:
            held = close >= stop and close >= trail_low
        else:
            held = close <= stop and close <= trail_high
        return (side if held else 0), stop
    if range_high - range_low > max_width * range_low or not volume > volume_factor * average:
        return 0, stop       # not a consolidation, or no volume confirmation
    if close > range_high:
        return 1, range_low
    if close < range_low and allow_short:
        return -1, range_high
    return 0, stop


@njit(cache=True)
def _breakouts(high: Any, low: Any, close: Any, volume: Any, warmup: int, allocation: float,
               max_width: float, volume_factor: float, allow_short: bool, range_: Any,
               trail_: Any, volume_: Any, seen: int, side: int, stop: float,
               before: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction at each change of side (NaN elsewhere)."""
    rng, rhv, rht, rlv, rlt = range_
    trail, thv, tht, tlv, tlt = trail_
    vol, vbuf = volume_
    range_high, range_low, trail_high, trail_low, average = before
    out = np.full(close.size, np.nan)
    for r in range(close.size):
        h, lo, c, v = high[r], low[r], close[r], volume[r]
        if h - h + lo - lo + c - c + v - v:
            continue         # NaN or infinite field: skipped, as the hook does
        if seen >= warmup:
            now, stop = _side(side, stop, c, v, range_high, range_low, trail_high, trail_low,
                              average, max_width, volume_factor, allow_short)
            if now != side:
                side = now
                out[r] = side * allocation
        seen += 1
        (range_high, _, range_low), rng = donchian_step(rng, rhv, rht, rlv, rlt, h, lo)
        (trail_high, _, trail_low), trail = donchian_step(trail, thv, tht, tlv, tlt, h, lo)
        average, vol = sma_step(vol, vbuf, v)
    return out, ((rng, rhv, rht, rlv, rlt), (trail, thv, tht, tlv, tlt), (vol, vbuf), seen,
                 side, stop, (range_high, range_low, trail_high, trail_low, average))
