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

The batch path (``on_batch``) runs the same RSI arithmetic and exact channel extremes in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import RSI, Donchian
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


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
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short on a bearish divergence instead of flat")

        def check(self) -> None:
            if self.min_gap > self.lookback:
                raise ConfigError(f"strategy 'rsi_divergence': min_gap ({self.min_gap}) must "
                                  f"not exceed lookback ({self.lookback}): the earlier low "
                                  f"must lie inside the lookback window")

    def on_start(self) -> None:
        p = self.params
        self.rsi = RSI(p.rsi_period)
        self.window = Donchian(p.lookback)
        self._update_rsi = self.rsi.update
        self._update_window = self.window.update
        self._short_exit = 100.0 - p.exit_rsi
        self.t = 0                      # valid events seen
        self.low_t = -1                 # event number and RSI of the last recorded new low
        self.low_rsi = 0.0
        self.high_t = -1                # ... and new high
        self.high_rsi = 0.0
        self.state = 0                  # +1 long, -1 short, 0 flat (the last target)
        self.held = 0                   # events since the entry
        # batch path state: monotonic queues of the window (rows 0 max, 1 min): values, event
        # numbers, [head, size] per queue; [RSI count, t, state, held, low_t, high_t];
        # [previous price, gain, loss, low RSI, high RSI]
        self._qvals = np.zeros((2, p.lookback + 1))
        self._qstamps = np.zeros((2, p.lookback + 1), dtype=np.int64)
        self._queues = np.zeros((2, 2), dtype=np.int64)
        self._istate = np.array([0, 0, 0, 0, -1, -1], dtype=np.int64)
        self._fstate = np.zeros(5)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        rsi = self._update_rsi(price)
        window = self.window
        ready = window.ready and self.rsi.ready
        highest, lowest = window.upper, window.lower     # of the previous ``lookback``
        self._update_window(price, price)
        t = self.t
        self.t = t + 1
        if not ready:
            return
        p = self.params
        signal = 0
        if price < lowest:
            gap = t - self.low_t
            if self.low_t >= 0 and p.min_gap <= gap <= p.lookback and rsi > self.low_rsi:
                signal = 1
            self.low_t = t
            self.low_rsi = rsi
        elif price > highest:
            gap = t - self.high_t
            if self.high_t >= 0 and p.min_gap <= gap <= p.lookback and rsi < self.high_rsi:
                signal = -1
            self.high_t = t
            self.high_rsi = rsi
        state = self.state
        target = state
        if state != 0:
            self.held += 1
            timed_out = p.max_hold and self.held >= p.max_hold
            recovered = rsi >= p.exit_rsi if state == 1 else rsi <= self._short_exit
            if timed_out or recovered:
                target = 0
        if signal == 1:
            target = 1
        elif signal == -1:
            target = -1 if p.allow_short else 0
        if target == state:
            return
        self.state = target
        self.held = 0
        self.ctx.order_target_percent(target * p.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, fraction = _signals(batch.price, p.rsi_period, p.min_gap, p.exit_rsi,
                                   self._short_exit, p.max_hold, p.allocation, p.allow_short,
                                   self._qvals, self._qstamps, self._queues, self._istate,
                                   self._fstate)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _push(vals, stamps, queues, q, x, t, period, keep_max):  # pragma: no cover - compiled
    """Push ``x`` (event number ``t``) into monotonic queue ``q`` (ring row ``q``); returns
    the window's maximum (``keep_max``) or minimum, as ``engine.ta_ranges.Donchian``."""
    cap = vals.shape[1]
    head = queues[q, 0]
    size = queues[q, 1]
    while size > 0:
        last = head + size - 1
        if last >= cap:
            last -= cap
        v = vals[q, last]
        if (keep_max and v <= x) or (not keep_max and v >= x):
            size -= 1
        else:
            break
    tail = head + size
    if tail >= cap:
        tail -= cap
    vals[q, tail] = x
    stamps[q, tail] = t
    size += 1
    if stamps[q, head] <= t - period:
        head += 1
        if head == cap:
            head = 0
        size -= 1
    queues[q, 0] = head
    queues[q, 1] = size
    return vals[q, head]


@njit(cache=True)
def _signals(price, rsi_period, min_gap, exit_rsi, short_exit, max_hold, allocation,
             allow_short, qvals, qstamps, queues, istate,
             fstate):  # pragma: no cover - compiled
    """Rows where the target changes and the new target fraction; state carried in place.

    ``istate`` = [RSI count, t, state, held, low_t, high_t], ``fstate`` = [previous price,
    gain, loss, low RSI, high RSI]; the RSI steps are ``engine.indicators.RSI``'s.
    """
    n = rsi_period
    lookback = qvals.shape[1] - 1
    count, t, state, held, low_t, high_t = (istate[0], istate[1], istate[2], istate[3],
                                            istate[4], istate[5])
    last, gain, loss, low_rsi, high_rsi = fstate[0], fstate[1], fstate[2], fstate[3], \
        fstate[4]
    highest = qvals[0, queues[0, 0]]
    lowest = qvals[1, queues[1, 0]]
    out_i = np.empty(price.shape[0], np.int64)
    out_v = np.empty(price.shape[0], np.float64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        # --- RSI
        rsi = np.nan
        if count == 0:
            last = x
            count = 1
        else:
            change = x - last
            last = x
            if count > n:
                gain *= n - 1
                loss *= n - 1
            if change < 0.0:
                loss -= change
            else:
                gain += change
            if count < n:
                count += 1
            else:
                if count == n:
                    count = n + 1
                gain /= n
                loss /= n
                total = gain + loss
                rsi = 100.0 * (gain / total) if total != 0.0 else 0.0
        # --- the window of the previous ``lookback`` prices
        ready = t >= lookback and count > n
        before_high, before_low = highest, lowest
        highest = _push(qvals, qstamps, queues, 0, x, t, lookback, True)
        lowest = _push(qvals, qstamps, queues, 1, x, t, lookback, False)
        now = t
        t += 1
        if not ready:
            continue
        signal = 0
        if x < before_low:
            gap = now - low_t
            if low_t >= 0 and min_gap <= gap <= lookback and rsi > low_rsi:
                signal = 1
            low_t = now
            low_rsi = rsi
        elif x > before_high:
            gap = now - high_t
            if high_t >= 0 and min_gap <= gap <= lookback and rsi < high_rsi:
                signal = -1
            high_t = now
            high_rsi = rsi
        target = state
        if state != 0:
            held += 1
            timed_out = max_hold != 0 and held >= max_hold
            recovered = rsi >= exit_rsi if state == 1 else rsi <= short_exit
            if timed_out or recovered:
                target = 0
        if signal == 1:
            target = 1
        elif signal == -1:
            target = -1 if allow_short else 0
        if target == state:
            continue
        state = target
        held = 0
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1], istate[2], istate[3], istate[4], istate[5] = (count, t, state, held,
                                                                        low_t, high_t)
    fstate[0], fstate[1], fstate[2], fstate[3], fstate[4] = last, gain, loss, low_rsi, \
        high_rsi
    return out_i[:n_out], out_v[:n_out]
