"""What ``bollinger_bands`` (breakout) and ``bollinger_reversion`` share: the parameters, the
per-event hooks and the numba batch path over the same bands, with the entry and exit rules
mirrored by one switch (``trend``). Each strategy's module documents its rules.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import BollingerBands
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param
from engine.indicators import CANCELLATION


class BollingerParams(StrategyParams):
    period: int = param(20, low=2, high=2000, doc="band window, in events")
    nbdev: float = param(2.0, low=0.1, high=10.0,
                         doc="band half-width, in population standard deviations")
    allocation: float = param(0.95, low=0.01, high=1.0,
                              doc="share of equity to hold when in a position")
    allow_short: bool = param(False, doc="also sell short on the opposite band")

    def check(self) -> None:
        limit = math.sqrt(self.period - 1)
        if self.nbdev >= limit:
            raise ConfigError(
                f"strategy {type(self)._strategy_name!r}: nbdev ({self.nbdev}) must be below "
                f"sqrt(period - 1) = {limit:.4g} for period {self.period}: no price can "
                f"lie further than that outside a window it belongs to")


class BollingerStrategy(Strategy):
    """Trades closes outside the Bollinger Bands: with ``trend``, buys above the upper band
    and exits below the middle; otherwise buys below the lower band and exits at the middle
    (shorts mirrored)."""

    trend: bool = True
    Params = BollingerParams

    def on_start(self) -> None:
        p = self.params
        self.bands = BollingerBands(p.period, p.nbdev, p.nbdev)
        self._update = self.bands.update
        self.state = 0          # +1 long, -1 short, 0 flat (what this strategy last targeted)
        # batch path state: the window ring; [ring position, count, ready, state];
        # [anchor, s1, s2, peak] of the rolling moments
        self._buf = np.zeros(p.period)
        self._istate = np.zeros(4, dtype=np.int64)
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
        upper, middle, lower = self._update(price)
        if not self.bands.ready:
            return
        state = self.state
        trend = self.trend
        if state == 0:
            if (price > upper) if trend else (price < lower):
                target = 1
            elif ((price < lower) if trend else (price > upper)) and self.params.allow_short:
                target = -1
            else:
                return
        elif state == 1:
            if (price < middle) != trend:
                return          # trend: hold at or above the middle; reversion: below it
            target = 0
        else:
            if (price > middle) != trend:
                return
            target = 0
        self.state = target
        self.ctx.order_target_percent(target * self.params.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, fraction = _signals(batch.price, self._buf, self._istate, self._fstate, p.nbdev,
                                   p.allocation, p.allow_short, self.trend, CANCELLATION)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _resum(buf, i, newest, fstate):  # pragma: no cover - compiled
    """Re-sum the window (oldest first, from ring position ``i``) anchored at ``newest``."""
    n = buf.shape[0]
    s1 = 0.0
    s2 = 0.0
    for j in range(n):
        k = i + j
        if k >= n:
            k -= n
        d = buf[k] - newest
        s1 += d
        s2 += d * d
    fstate[0] = newest
    fstate[1] = s1
    fstate[2] = s2
    fstate[3] = s2


@njit(cache=True)
def _signals(price, buf, istate, fstate, nbdev, allocation, allow_short, trend,
             cancellation):  # pragma: no cover - compiled
    """Rows where the strategy changes its target and the new target fraction (``trend``:
    the breakout rules, else the reversion rules; see :class:`BollingerStrategy`).

    ``istate`` = [ring position, count, ready, state], ``fstate`` = [anchor, s1, s2, peak]:
    ``engine.ta_dispersion._WindowMoments`` and ``BollingerBands``, operation for operation.
    """
    n = buf.shape[0]
    i, count, ready, state = istate[0], istate[1], istate[2], istate[3]
    out_i = np.empty(price.shape[0], np.int64)
    out_v = np.empty(price.shape[0], np.float64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        old = buf[i]
        buf[i] = x
        i += 1
        if i == n:
            i = 0
        if ready == 0:
            count += 1
            if count < n:
                continue
            ready = 1
            _resum(buf, i, x, fstate)
        elif i == 0:
            _resum(buf, i, x, fstate)
        else:
            anchor = fstate[0]
            dn = x - anchor
            do = old - anchor
            s1 = fstate[1] + (dn - do)
            s2 = fstate[2] + (dn * dn - do * do)
            fstate[1] = s1
            fstate[2] = s2
            if s2 > fstate[3]:
                fstate[3] = s2
            if (s2 - s1 * s1 / n) * cancellation < fstate[3]:
                _resum(buf, i, x, fstate)
        s1 = fstate[1]
        centred = fstate[2] - s1 * s1 / n
        var = centred / n if centred > 0.0 else 0.0
        std = math.sqrt(var)
        middle = fstate[0] + s1 / n
        upper = middle + nbdev * std
        lower = middle - nbdev * std
        if state == 0:
            if (x > upper) if trend else (x < lower):
                target = 1
            elif ((x < lower) if trend else (x > upper)) and allow_short:
                target = -1
            else:
                continue
        elif state == 1:
            if (x < middle) != trend:
                continue
            target = 0
        else:
            if (x > middle) != trend:
                continue
            target = 0
        state = target
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1], istate[2], istate[3] = i, count, ready, state
    return out_i[:n_out], out_v[:n_out]
