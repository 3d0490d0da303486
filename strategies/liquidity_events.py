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

The batch path (``on_batch``) runs the same averages in a numba kernel, with the EMA's
arithmetic step for step, and yields the same orders.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.data.schema import QUOTE
from engine.errors import ConfigError
from engine.indicators import EMA
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


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
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="short a drain with a falling mid")

        def check(self) -> None:
            if self.recovery_rate <= -self.drain_rate:
                raise ConfigError(
                    f"strategy 'liquidity_events' parameter 'recovery_rate' = "
                    f"{self.recovery_rate!r} must be > -drain_rate "
                    f"({-self.drain_rate!r}): otherwise a drain is also a recovery")

    def on_start(self) -> None:
        p = self.params
        self.rate = EMA(p.span)
        self.accel = EMA(p.span)
        self.trend = EMA(p.trend_span)
        self.depth = math.nan        # the previous quote's depth (NaN before the first)
        self.prev_rate = math.nan    # the previous rate (NaN until the rate is ready)
        self.state = 0               # +1 long, -1 short, 0 flat
        # batch path state: [rate count, accel count, trend count, state] and
        # [rate sum, rate, accel sum, accel, trend sum, trend, previous depth, previous rate]
        self._istate = np.zeros(4, dtype=np.int64)
        self._fstate = np.array([0.0, math.nan, 0.0, math.nan, 0.0, math.nan,
                                 math.nan, math.nan])

    def on_bar(self, bar: Bar) -> None:
        raise _needs_quotes("bars")

    def on_trade(self, trade: Trade) -> None:
        raise _needs_quotes("trades")

    def on_quote(self, quote: Quote) -> None:
        bid, ask, bid_size, ask_size = quote.bid, quote.ask, quote.bid_size, quote.ask_size
        if bid - bid or ask - ask or bid_size - bid_size or ask_size - ask_size:
            return           # NaN or infinite field: skipped, state unchanged
        mid = (bid + ask) / 2
        depth = bid_size + ask_size
        trend = self.trend.update(mid)
        prev = self.depth
        self.depth = depth
        if prev != prev:
            return           # the first quote: no change yet
        total = depth + prev
        change = (depth - prev) / total if total != 0.0 else 0.0
        rate = self.rate.update(change)
        if not self.rate.ready:
            return
        prev_rate = self.prev_rate
        self.prev_rate = rate
        if prev_rate != prev_rate:
            return
        accel = self.accel.update(rate - prev_rate)
        if not (self.accel.ready and self.trend.ready):
            return
        p = self.params
        if self.state == 0:
            if rate < -p.drain_rate and accel < 0.0:
                direction = 1 if mid > trend else -1 if mid < trend else 0
                if direction == 1 or (direction == -1 and p.allow_short):
                    self.state = direction
                    self.ctx.order_target_percent(direction * p.allocation, mid)
        elif rate >= p.recovery_rate:
            self.state = 0
            self.ctx.order_target_percent(0.0, mid)

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind != QUOTE:
            raise _needs_quotes(batch.kind + "s")
        p = self.params
        index, target = _signals(
            np.ascontiguousarray(batch.bid, dtype=np.float64),
            np.ascontiguousarray(batch.ask, dtype=np.float64),
            np.ascontiguousarray(batch.bid_size, dtype=np.float64),
            np.ascontiguousarray(batch.ask_size, dtype=np.float64),
            self._istate, self._fstate, p.span, p.trend_span, p.drain_rate, p.recovery_rate,
            p.allocation, p.allow_short)
        return target_percent(batch, index, target)


def _needs_quotes(got: str) -> ConfigError:
    return ConfigError(f"strategy 'liquidity_events' needs a quote feed (top-of-book sizes); "
                       f"it got {got}")


@njit(cache=True)
def _ema(x, period, fstate, istate, slot):  # pragma: no cover - compiled
    """``engine.indicators.EMA.update`` on state ``fstate[2*slot: 2*slot+2]`` = [sum, value]
    and ``istate[slot]`` = count; returns the value (NaN until ready)."""
    count = istate[slot]
    if count >= period:
        prev = fstate[2 * slot + 1]
        value = (x - prev) * (2.0 / (period + 1)) + prev
        fstate[2 * slot + 1] = value
        return value
    total = fstate[2 * slot] + x
    fstate[2 * slot] = total
    count += 1
    istate[slot] = count
    if count == period:
        fstate[2 * slot + 1] = total / period
    return fstate[2 * slot + 1]


@njit(cache=True)
def _signals(bid, ask, bid_size, ask_size, istate, fstate, span, trend_span, drain_rate,
             recovery_rate, allocation, allow_short):  # pragma: no cover - compiled
    """Positions of orders and their target fractions. ``istate`` = [rate count, accel
    count, trend count, state], ``fstate`` = [rate sum, rate, accel sum, accel, trend sum,
    trend, previous depth, previous rate]; the arithmetic is the hook's, step for step."""
    out_i = np.empty(bid.shape[0], np.int64)
    out_t = np.empty(bid.shape[0], np.float64)
    n_out = 0
    for i in range(bid.shape[0]):
        b, a, bs, az = bid[i], ask[i], bid_size[i], ask_size[i]
        if (b - b != 0.0 or b != b or a - a != 0.0 or a != a or bs - bs != 0.0 or bs != bs
                or az - az != 0.0 or az != az):
            continue         # NaN or infinite field: skipped, as the hook does
        mid = (b + a) / 2
        depth = bs + az
        trend = _ema(mid, trend_span, fstate, istate, 2)
        prev = fstate[6]
        fstate[6] = depth
        if prev != prev:
            continue
        total = depth + prev
        change = (depth - prev) / total if total != 0.0 else 0.0
        rate = _ema(change, span, fstate, istate, 0)
        if istate[0] < span:
            continue
        prev_rate = fstate[7]
        fstate[7] = rate
        if prev_rate != prev_rate:
            continue
        accel = _ema(rate - prev_rate, span, fstate, istate, 1)
        if istate[1] < span or istate[2] < trend_span:
            continue
        if istate[3] == 0:
            if rate < -drain_rate and accel < 0.0:
                direction = 1 if mid > trend else -1 if mid < trend else 0
                if direction == 1 or (direction == -1 and allow_short):
                    istate[3] = direction
                    out_i[n_out] = i
                    out_t[n_out] = direction * allocation
                    n_out += 1
        elif rate >= recovery_rate:
            istate[3] = 0
            out_i[n_out] = i
            out_t[n_out] = 0.0
            n_out += 1
    return out_i[:n_out], out_t[:n_out]
