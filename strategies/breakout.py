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

The batch path (``on_batch``) keeps the same channels (monotonic queues: exact maxima and
minima) and the same running-sum volume average as ``SMA`` in a numba kernel, and yields the
same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.data.schema import BAR, TRADE
from engine.indicators import SMA, Donchian
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Trade
from engine.strategy import Strategy, StrategyParams, param


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
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="also sell short a breakdown below the range")

    def on_start(self) -> None:
        p = self.params
        self.range = Donchian(p.period)
        self.trail = Donchian(p.exit_period)
        self.volume = SMA(p.volume_period)
        self.state = 0           # +1 long, -1 short, 0 flat (what this strategy last targeted)
        self.stop = 0.0          # the range's far side at entry
        # batch path state: monotonic queues of the range (rows 0 max, 1 min) and the trail
        # channel (rows 0 max, 1 min): values, event numbers, and [head, size] per queue; the
        # volume ring; [event count, volume ring position, volume count, state];
        # [volume sum, volume average, stop]
        self._rvals = np.zeros((2, p.period + 1))
        self._rstamps = np.zeros((2, p.period + 1), dtype=np.int64)
        self._tvals = np.zeros((2, p.exit_period + 1))
        self._tstamps = np.zeros((2, p.exit_period + 1), dtype=np.int64)
        self._queues = np.zeros((4, 2), dtype=np.int64)
        self._vbuf = np.zeros(p.volume_period)
        self._istate = np.zeros(4, dtype=np.int64)
        self._fstate = np.array([0.0, np.nan, 0.0])

    def on_bar(self, bar: Bar) -> None:
        self._on_bar(bar.high, bar.low, bar.close, bar.volume)

    def on_trade(self, trade: Trade) -> None:
        price = trade.price
        self._on_bar(price, price, price, trade.size)

    def _on_bar(self, high: float, low: float, close: float, volume: float) -> None:
        if high - high + low - low + close - close + volume - volume:
            return           # NaN or infinite field: skipped, state unchanged
        rng, trail, vol = self.range, self.trail, self.volume
        # the channels and the average of the bars before this one
        ready = rng.ready and trail.ready and vol.ready
        range_high, range_low = rng.upper, rng.lower
        trail_high, trail_low = trail.upper, trail.lower
        average = vol.value
        rng.update(high, low)
        trail.update(high, low)
        vol.update(volume)
        if not ready:
            return
        p = self.params
        state = self.state
        if state == 1:
            if close >= self.stop and close >= trail_low:
                return
            target = 0
        elif state == -1:
            if close <= self.stop and close <= trail_high:
                return
            target = 0
        else:
            if range_high - range_low > p.max_width * range_low:
                return        # not a consolidation
            if not volume > p.volume_factor * average:
                return        # no volume confirmation
            if close > range_high:
                target = 1
                self.stop = range_low
            elif close < range_low and p.allow_short:
                target = -1
                self.stop = range_high
            else:
                return
        self.state = target
        self.ctx.order_target_percent(target * p.allocation, close)

    def on_batch(self, batch: EventBatch) -> Intents | None:
        if batch.kind == BAR:
            high, low, close, volume = batch.high, batch.low, batch.close, batch.volume
        elif batch.kind == TRADE:
            high = low = close = batch.price
            volume = batch.size
        else:
            return None      # quotes: the hooks do nothing either
        p = self.params
        index, fraction = _signals(high, low, close, volume, p.max_width, p.volume_factor,
                                   p.allocation, p.allow_short, self._rvals, self._rstamps,
                                   self._tvals, self._tstamps, self._queues, self._vbuf,
                                   self._istate, self._fstate)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _push(vals, stamps, queues, q, row, x, t, period, keep_max):  # pragma: no cover - compiled
    """Push ``x`` (event number ``t``) into monotonic queue ``q`` (ring row ``row`` of ``vals``
    and ``stamps``); returns the window's maximum (``keep_max``) or minimum. Same rule as
    ``engine.ta_ranges``: pop the newest while it is not better than ``x``, then drop the
    oldest once it is ``period`` events old."""
    cap = vals.shape[1]
    head = queues[q, 0]
    size = queues[q, 1]
    while size > 0:
        last = head + size - 1
        if last >= cap:
            last -= cap
        v = vals[row, last]
        if (keep_max and v <= x) or (not keep_max and v >= x):
            size -= 1
        else:
            break
    tail = head + size
    if tail >= cap:
        tail -= cap
    vals[row, tail] = x
    stamps[row, tail] = t
    size += 1
    if stamps[row, head] <= t - period:
        head += 1
        if head == cap:
            head = 0
        size -= 1
    queues[q, 0] = head
    queues[q, 1] = size
    return vals[row, head]


@njit(cache=True)
def _signals(high, low, close, volume, max_width, volume_factor, allocation, allow_short,
             rvals, rstamps, tvals, tstamps, queues, vbuf, istate,
             fstate):  # pragma: no cover - compiled
    """Rows where the target changes and the new target fraction; state carried in place.

    ``istate`` = [event count, volume ring position, volume count, state], ``fstate`` =
    [volume sum, volume average, stop]. The volume average is ``SMA``'s running sum, step for
    step; the channels are exact maxima and minima.
    """
    period = rvals.shape[1] - 1
    exit_period = tvals.shape[1] - 1
    vp = vbuf.shape[0]
    t, vpos, vcount, state = istate[0], istate[1], istate[2], istate[3]
    vsum, average, stop = fstate[0], fstate[1], fstate[2]
    # the channels as of the previous event (valid once ``t`` events were seen)
    range_high = rvals[0, queues[0, 0]]
    range_low = rvals[1, queues[1, 0]]
    trail_high = tvals[0, queues[2, 0]]
    trail_low = tvals[1, queues[3, 0]]
    out_i = np.empty(close.shape[0], np.int64)
    out_v = np.empty(close.shape[0], np.float64)
    n_out = 0
    for r in range(close.shape[0]):
        h = high[r]
        lo = low[r]
        c = close[r]
        v = volume[r]
        check = h - h + lo - lo + c - c + v - v
        if check != 0.0 or check != check:
            continue         # NaN or infinite field: skipped, as the hook does
        ready = t >= period and t >= exit_period and vcount == vp
        before_high, before_low = range_high, range_low
        before_trail_high, before_trail_low = trail_high, trail_low
        before_average = average
        range_high = _push(rvals, rstamps, queues, 0, 0, h, t, period, True)
        range_low = _push(rvals, rstamps, queues, 1, 1, lo, t, period, False)
        trail_high = _push(tvals, tstamps, queues, 2, 0, h, t, exit_period, True)
        trail_low = _push(tvals, tstamps, queues, 3, 1, lo, t, exit_period, False)
        t += 1
        if vcount == vp:
            vsum = vsum + (v - vbuf[vpos])
            vbuf[vpos] = v
            vpos += 1
            if vpos == vp:
                vpos = 0
            average = vsum / vp
        else:
            vbuf[vcount] = v
            vsum += v
            vcount += 1
            if vcount == vp:
                average = vsum / vp
        if not ready:
            continue
        if state == 1:
            if c >= stop and c >= before_trail_low:
                continue
            target = 0
        elif state == -1:
            if c <= stop and c <= before_trail_high:
                continue
            target = 0
        else:
            if before_high - before_low > max_width * before_low:
                continue
            if not v > volume_factor * before_average:
                continue
            if c > before_high:
                target = 1
                stop = before_low
            elif c < before_low and allow_short:
                target = -1
                stop = before_high
            else:
                continue
        state = target
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1], istate[2], istate[3] = t, vpos, vcount, state
    fstate[0], fstate[1], fstate[2] = vsum, average, stop
    return out_i[:n_out], out_v[:n_out]
