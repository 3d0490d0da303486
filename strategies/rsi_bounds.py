"""RSI bounds: buy when the RSI climbs back through its lower bound, sell when it falls back
through its upper bound.

Indicator: Wilder's ``RSI(period)`` of the prices (bar closes, trade prices or quote mids),
TA-Lib conventions (``engine.indicators.RSI``). A cross compares the RSI of this event with the
RSI of the previous (valid) event.

Entry: when the RSI crosses up through ``lower`` (previous RSI < ``lower`` <= this RSI), target
a long position worth ``allocation`` of this strategy's share of equity (``allocation * equity
* capital_share / price``, through ``ctx.order_target_percent``); a short is covered and
reversed.
Exit: when the RSI crosses down through ``upper`` (previous RSI > ``upper`` >= this RSI),
target flat; with ``allow_short``, target a short of the same notional instead. A cross that
asks for the position already targeted does nothing (so without ``allow_short`` a down-cross
while flat is ignored).

Market orders, filled at the next event (plus latency). Warm-up: the RSI is valid from the
``period + 1``-th price; the first valid RSI only sets the previous value, so the first
possible order is on the ``period + 2``-th price. A NaN or infinite price is skipped (state
unchanged).

The batch path (``on_batch``) runs the same RSI arithmetic in a numba kernel and yields the
same orders.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import RSI
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


class RsiBounds(Strategy):
    """RSI mean reversion on crosses back through fixed bounds."""

    name = "rsi_bounds"

    class Params(StrategyParams):
        period: int = param(14, low=2, high=500, doc="RSI length, in events")
        lower: float = param(30.0, low=1.0, high=99.0,
                             doc="buy when the RSI crosses up through this level")
        upper: float = param(70.0, low=1.0, high=99.0,
                             doc="sell when the RSI crosses down through this level")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short on the down-cross instead of flat")

        def check(self) -> None:
            if self.lower >= self.upper:
                raise ConfigError(f"strategy 'rsi_bounds': lower ({self.lower}) must be below "
                                  f"upper ({self.upper})")

    def on_start(self) -> None:
        self.rsi = RSI(self.params.period)
        self._update = self.rsi.update
        self.prev = math.nan      # the RSI of the previous valid event
        self.state = 0            # +1 long, -1 short, 0 flat (what this strategy last targeted)
        # batch path state: [count, state]; [previous price, gain, loss, previous RSI]
        self._istate = np.zeros(2, dtype=np.int64)
        self._fstate = np.array([0.0, 0.0, 0.0, math.nan])

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        rsi = self._update(price)
        if not self.rsi.ready:
            return
        prev = self.prev
        self.prev = rsi
        p = self.params
        if prev < p.lower <= rsi:
            target = 1
        elif prev > p.upper >= rsi:
            target = -1 if p.allow_short else 0
        else:
            return            # no cross (or no previous RSI yet: comparisons with NaN fail)
        if target == self.state:
            return
        self.state = target
        self.ctx.order_target_percent(target * p.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, fraction = _signals(batch.price, p.period, p.lower, p.upper, p.allocation,
                                   p.allow_short, self._istate, self._fstate)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _signals(price, period, lower, upper, allocation, allow_short, istate,
             fstate):  # pragma: no cover - compiled
    """Rows where the target changes and the new target fraction; state carried in place.

    ``istate`` = [count, state], ``fstate`` = [previous price, gain, loss, previous RSI]; the
    arithmetic is ``engine.indicators.RSI``'s, step for step.
    """
    n = period
    count, state = istate[0], istate[1]
    last, gain, loss, prev = fstate[0], fstate[1], fstate[2], fstate[3]
    out_i = np.empty(price.shape[0], np.int64)
    out_v = np.empty(price.shape[0], np.float64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        if count == 0:
            last = x
            count = 1
            continue
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
            continue
        if count == n:
            count = n + 1
        gain /= n
        loss /= n
        total = gain + loss
        rsi = 100.0 * (gain / total) if total != 0.0 else 0.0
        before = prev
        prev = rsi
        if before < lower <= rsi:
            target = 1
        elif before > upper >= rsi:
            target = -1 if allow_short else 0
        else:
            continue
        if target == state:
            continue
        state = target
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1] = count, state
    fstate[0], fstate[1], fstate[2], fstate[3] = last, gain, loss, prev
    return out_i[:n_out], out_v[:n_out]
