"""EMA trend: long while the fast exponential moving average is above the slow one.

Averages: ``EMA(fast)`` and ``EMA(slow)`` of the prices (bar closes, trade prices or quote
mids), each seeded with the mean of its first values (TA-Lib EMA). The trend is *up* when
``fast_ema > slow_ema * (1 + band)`` and *down* when ``fast_ema < slow_ema * (1 - band)``; in
between (and when the two are equal) the last trend stands.

Entry: when the trend turns up, buy so the position is worth ``allocation`` of this strategy's
share of equity (``allocation * equity * capital_share / price``, through
``ctx.order_target_percent``). Exit: when the trend turns down, sell the whole position
(target 0); with ``allow_short`` go short the same notional instead. The first trend after the
warm-up only sets the side: an order needs a change of trend (a cross), as in ``sma_cross``.

Market orders, filled at the next event (plus latency). Warm-up: ``slow`` prices. A NaN or
infinite price is skipped (state unchanged).

The batch path (``on_batch``) runs the same EMA arithmetic in a numba kernel and yields the
same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import EMA
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


class EmaTrend(Strategy):
    """Fast/slow exponential moving average crossover with an optional dead band."""

    name = "ema_trend"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="fast EMA length, in events")
        slow: int = param(26, low=3, high=2000, doc="slow EMA length, in events")
        band: float = param(0.0, low=0.0, high=0.1,
                            doc="dead band: the fast EMA must clear the slow one by this "
                                "fraction to change the trend")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short when the trend turns down")

        def check(self) -> None:
            if self.fast >= self.slow:
                raise ConfigError(f"strategy 'ema_trend': fast ({self.fast}) must be shorter "
                                  f"than slow ({self.slow})")

    def on_start(self) -> None:
        p = self.params
        self.fast = EMA(p.fast)
        self.slow = EMA(p.slow)
        self._update_fast = self.fast.update
        self._update_slow = self.slow.update
        self._up = 1.0 + p.band
        self._down = 1.0 - p.band
        self.trend = 0    # +1 up, -1 down, 0 not yet known
        # batch path state: [fast count, fast ready, slow count, slow ready, trend];
        # [fast sum, fast value, slow sum, slow value]
        self._istate = np.zeros(5, dtype=np.int64)
        self._fstate = np.zeros(4)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        fast = self._update_fast(price)
        slow = self._update_slow(price)
        if not self.slow.ready:
            return
        if fast > slow * self._up:
            trend = 1
        elif fast < slow * self._down:
            trend = -1
        else:
            return
        if trend == self.trend:
            return
        first = self.trend == 0
        self.trend = trend
        if first:
            return   # the averages just became available: no cross yet
        self.ctx.order_target_percent(self._fraction(trend), price)

    def _fraction(self, trend: int) -> float:
        p = self.params
        if trend == 1:
            return p.allocation
        return -p.allocation if p.allow_short else 0.0

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, trend = _crosses(batch.price, p.fast, p.slow, self._up, self._down,
                                self._istate, self._fstate)
        return target_percent(batch, index,
                              np.where(trend == 1, self._fraction(1), self._fraction(-1)))


@njit(cache=True)
def _crosses(price, fast_period, slow_period, up, down, istate,
             fstate):  # pragma: no cover - compiled
    """Rows where the trend changes and the new trend (+1 / -1); state carried in place.

    ``istate`` = [fast count, fast ready, slow count, slow ready, trend], ``fstate`` = [fast
    sum, fast EMA, slow sum, slow EMA]; the arithmetic is ``engine.indicators.EMA``'s.
    """
    kf = 2.0 / (fast_period + 1)
    ks = 2.0 / (slow_period + 1)
    fcount, fready, scount, sready, trend = (istate[0], istate[1], istate[2], istate[3],
                                             istate[4])
    fsum, fval, ssum, sval = fstate[0], fstate[1], fstate[2], fstate[3]
    out_i = np.empty(price.shape[0], np.int64)
    out_t = np.empty(price.shape[0], np.int64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        if fready:
            fval = (x - fval) * kf + fval
        else:
            fsum += x
            fcount += 1
            if fcount == fast_period:
                fready = 1
                fval = fsum / fast_period
        if sready:
            sval = (x - sval) * ks + sval
        else:
            ssum += x
            scount += 1
            if scount == slow_period:
                sready = 1
                sval = ssum / slow_period
            else:
                continue
        if fval > sval * up:
            now = 1
        elif fval < sval * down:
            now = -1
        else:
            continue
        if now == trend:
            continue
        first = trend == 0
        trend = now
        if first:
            continue
        out_i[n_out] = r
        out_t[n_out] = now
        n_out += 1
    istate[0], istate[1], istate[2], istate[3], istate[4] = fcount, fready, scount, sready, trend
    fstate[0], fstate[1], fstate[2], fstate[3] = fsum, fval, ssum, sval
    return out_i[:n_out], out_t[:n_out]
