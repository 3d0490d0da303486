"""Liquidity events: trade in the mid-price's direction when visible book depth drains fast.

Data: quotes. The depth is the visible top-of-book size, ``bid_size + ask_size``; a full-depth
book feed would plug in the same way, with the depth summed over its levels. Bars and trades
carry no depth, so they are refused: the first bar or trade (or bar/trade batch) raises
``ConfigError`` and the engine faults the strategy with that message.

On each quote (a quote with a NaN or infinite bid, ask or size is skipped):

- depth change ``c = (d - d_prev) / (d + d_prev)`` (the symmetric relative change, in
  ``[-1, 1]``; 0 when both depths are 0), from the second quote on;
- rate ``r = EMA(span)`` of ``c`` and acceleration ``a = EMA(span)`` of the change of ``r``
  between consecutive quotes (``engine.indicators.EMA``: seeded with the mean of its first
  ``span`` values);
- direction: +1 when the mid is above ``EMA(trend_span)`` of mids, -1 below, 0 on it.

Entry, from flat, once ``r``, ``a`` and the trend EMA are ready: a liquidity drain, ``r <
-drain_rate`` and ``a < 0`` (depth shrinking, and shrinking faster), with a direction: buy so
the position is worth ``allocation`` of this strategy's share of equity when the direction is
+1; when it is -1, short the same notional if ``allow_short`` (otherwise stay flat). Exit,
when in a position: the depth recovers, ``r >= recovery_rate``: go flat. Rates are per quote
update, not per second (quote times may repeat). Market orders via
``ctx.order_target_percent``, filled at the next event.

The batch path (``on_batch``) runs the same averages (the EMA step function), depth change
and rule in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (EMA, QUOTE, Bar, ConfigError, EventBatch, Intents, Quote, Strategy,
                        StrategyParams, Trade, allocation_param, ema_init, ema_step, param,
                        percent_targets, step)


class LiquidityEvents(Strategy):
    """Top-of-book depth drain (rate and acceleration) with the mid-price trend."""

    name = "liquidity_events"

    class Params(StrategyParams):
        span: int = param(20, low=2, high=100_000,
                          doc="EMA span of the depth rate and acceleration, quote updates")
        trend_span: int = param(50, low=2, high=100_000,
                                doc="EMA span of the mid price giving the direction")
        drain_rate: float = param(0.05, low=0.0, high=1.0,
                                  doc="enter when the smoothed depth change is below "
                                      "-drain_rate (and accelerating down)")
        recovery_rate: float = param(0.0, low=-1.0, high=1.0,
                                     doc="exit when the smoothed depth change is at or "
                                         "above this")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="short a drain with a falling mid")

        def check(self) -> None:
            if self.recovery_rate <= -self.drain_rate:
                raise ConfigError(
                    f"strategy 'liquidity_events' parameter 'recovery_rate' = "
                    f"{self.recovery_rate!r} must be > -drain_rate "
                    f"({-self.drain_rate!r}): otherwise a drain is also a recovery")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.trend = EMA(p.trend_span)
        # the depth's rate and acceleration: their EMAs, the previous depth and rate
        self.drain = (ema_init(p.span), ema_init(p.span), math.nan, math.nan)
        self.side = 0                # +1 long, -1 short, 0 flat
        self.rule = (p.drain_rate, p.recovery_rate, p.allow_short)
        self._kernel = (ema_init(p.trend_span), self.drain, 0)

    def on_bar(self, bar: Bar) -> None:
        raise _needs_quotes("bars")

    def on_trade(self, trade: Trade) -> None:
        raise _needs_quotes("trades")

    def on_quote(self, quote: Quote) -> None:
        bid, ask, bid_size, ask_size = quote.bid, quote.ask, quote.bid_size, quote.ask_size
        if bid - bid or ask - ask or bid_size - bid_size or ask_size - ask_size:
            return           # NaN or infinite field: skipped, state unchanged
        mid = (bid + ask) / 2
        trend = self.trend.update(mid)
        (rate, accel), self.drain = _drain(self.drain, bid_size + ask_size)
        if accel == accel and self.trend.ready:
            side = _side(self.side, rate, accel, mid, trend, *self.rule)
            if side != self.side:
                self.side = side
                self.ctx.order_target_percent(side * self.params.allocation, mid)

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind != QUOTE:
            raise _needs_quotes(batch.kind + "s")
        targets, self._kernel = _events(batch.bid, batch.ask, batch.bid_size, batch.ask_size,
                                        self.params.allocation, *self.rule, *self._kernel)
        return percent_targets(batch, targets)


def _needs_quotes(got: str) -> ConfigError:
    return ConfigError(f"strategy 'liquidity_events' needs a quote feed (top-of-book sizes); "
                       f"it got {got}")


@step
def _drain(drain: Any, depth: float) -> tuple[tuple[float, float], Any]:
    """Add a quote's depth; the rate ``r`` and the acceleration ``a`` of its change (each NaN
    until it is ready)."""
    rate_ema, accel_ema, prev_depth, prev_rate = drain
    if prev_depth != prev_depth:     # the first quote: no change yet
        return (math.nan, math.nan), (rate_ema, accel_ema, depth, prev_rate)
    total = depth + prev_depth
    change = (depth - prev_depth) / total if total != 0.0 else 0.0
    rate, rate_ema = ema_step(rate_ema, change)
    accel = math.nan
    if rate == rate and prev_rate == prev_rate:
        accel, accel_ema = ema_step(accel_ema, rate - prev_rate)
    return (rate, accel), (rate_ema, accel_ema, depth, rate)


@step
def _side(side: int, rate: float, accel: float, mid: float, trend: float, drain_rate: float,
          recovery_rate: float, allow_short: bool) -> int:
    """The side to hold after a quote: a drain enters in the trend's direction, a recovery
    exits."""
    if side == 0:
        if rate < -drain_rate and accel < 0.0:
            direction = 1 if mid > trend else -1 if mid < trend else 0
            if direction == 1 or (direction == -1 and allow_short):
                return direction
        return 0
    return 0 if rate >= recovery_rate else side


@njit(cache=True)
def _events(bid: Any, ask: Any, bid_size: Any, ask_size: Any, allocation: float,
            drain_rate: float, recovery_rate: float, allow_short: bool, trend_ema: Any,
            drain: Any, side: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each change of side (NaN elsewhere)."""
    out = np.full(bid.size, np.nan)
    for i in range(bid.size):
        b, a, bs, az = bid[i], ask[i], bid_size[i], ask_size[i]
        if b - b or a - a or bs - bs or az - az:
            continue         # NaN or infinite field: skipped, as the hook does
        mid = (b + a) / 2
        trend, trend_ema = ema_step(trend_ema, mid)
        (rate, accel), drain = _drain(drain, bs + az)
        if accel == accel and trend == trend:
            now = _side(side, rate, accel, mid, trend, drain_rate, recovery_rate, allow_short)
            if now != side:
                side = now
                out[i] = side * allocation
    return out, (trend_ema, drain, side)
