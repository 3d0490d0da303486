"""MACD + Bollinger confluence: buy a bullish MACD cross that happens low in the Bollinger
Bands; sell on a bearish cross or when the price touches the upper band. Long only.

Indicators, on the prices (bar closes, trade prices or quote mids), the newest included:
``MACD(fast, slow, signal)`` (TA-Lib conventions; a *bullish cross* is the histogram's sign
turning from negative to positive, a *bearish cross* the reverse; a zero histogram keeps the
last sign) and ``BollingerBands(period, nbdev, nbdev)``.

Entry (only while flat): a bullish cross on an event whose price is at or below
``lower + entry_percent_b * (upper - lower)``, i.e. whose %B is at most ``entry_percent_b``
(0.5: the middle band, 0: the lower band, negative: below it). It buys so the position is worth
``allocation`` of this strategy's share of equity (``allocation * equity * capital_share /
price``, through ``ctx.order_target_percent``).
Exit (while long): a bearish cross, or a price at or above the upper band; it sells the whole
position (target 0). After an exit only the next qualifying bullish cross enters again.

Market orders, filled at the next event (plus latency). Warm-up: ``max(slow + signal - 1,
period)`` prices, until both indicators are valid; the first histogram sign after that is no
cross. A NaN or infinite price is skipped (state unchanged). ``nbdev`` must be below
``sqrt(period - 1)``, or no price can touch the upper band it is part of.

The batch path (``on_batch``) runs the same MACD and band arithmetic in a numba kernel and
yields the same orders.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import MACD, BollingerBands
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param
from engine.indicators import CANCELLATION


class MacdBollinger(Strategy):
    """Bullish MACD crosses taken only low in the Bollinger Bands."""

    name = "macd_bollinger"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="MACD fast EMA length, in events")
        slow: int = param(26, low=3, high=1000, doc="MACD slow EMA length, in events")
        signal: int = param(9, low=2, high=500, doc="MACD signal EMA length, in events")
        period: int = param(20, low=2, high=2000, doc="Bollinger window, in events")
        nbdev: float = param(2.0, low=0.1, high=10.0,
                             doc="band half-width, in population standard deviations")
        entry_percent_b: float = param(0.5, low=-0.5, high=1.0,
                                       doc="highest %B at which a bullish cross enters "
                                           "(0.5 middle band, 0 lower band)")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")

        def check(self) -> None:
            if self.fast >= self.slow:
                raise ConfigError(f"strategy 'macd_bollinger': fast ({self.fast}) must be "
                                  f"shorter than slow ({self.slow})")
            limit = math.sqrt(self.period - 1)
            if self.nbdev >= limit:
                raise ConfigError(
                    f"strategy 'macd_bollinger': nbdev ({self.nbdev}) must be below "
                    f"sqrt(period - 1) = {limit:.4g} for period {self.period}: no price can "
                    f"lie further than that outside a window it belongs to")

    def on_start(self) -> None:
        p = self.params
        self.macd = MACD(p.fast, p.slow, p.signal)
        self.bands = BollingerBands(p.period, p.nbdev, p.nbdev)
        self._update_macd = self.macd.update
        self._update_bands = self.bands.update
        self.side = 0     # sign of the MACD histogram: +1, -1, 0 not yet known
        self.long = False
        # batch path state: the ring of the last ``fast`` prices (the fast EMA's seed) and the
        # band window; [count, ring position, signal count, ready, side, long, band ring
        # position, band count, bands ready]; [sum, fast EMA, slow EMA, signal sum, signal,
        # anchor, s1, s2, peak]
        self._recent = np.zeros(p.fast)
        self._window = np.zeros(p.period)
        self._istate = np.zeros(9, dtype=np.int64)
        self._fstate = np.zeros(9)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        _, _, hist = self._update_macd(price)
        upper, _, lower = self._update_bands(price)
        if not (self.macd.ready and self.bands.ready):
            return
        before = self.side
        if hist > 0.0:
            self.side = 1
        elif hist < 0.0:
            self.side = -1
        if before == 0:
            return            # the first sign after the warm-up: no cross yet
        if self.long:
            if (before == 1 and self.side == -1) or price >= upper:
                self.long = False
                self.ctx.order_target_percent(0.0, price)
        elif (before == -1 and self.side == 1
              and price <= lower + self.params.entry_percent_b * (upper - lower)):
            self.long = True
            self.ctx.order_target_percent(self.params.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, fraction = _signals(batch.price, p.slow, p.signal, p.nbdev, p.entry_percent_b,
                                   p.allocation, self._recent, self._window, self._istate,
                                   self._fstate, CANCELLATION)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _resum(buf, i, newest, fstate):  # pragma: no cover - compiled
    """Re-sum the band window (oldest first, from ring position ``i``) anchored at ``newest``
    into ``fstate[5:9]``."""
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
    fstate[5] = newest
    fstate[6] = s1
    fstate[7] = s2
    fstate[8] = s2


@njit(cache=True)
def _signals(price, slow, signal, nbdev, entry_percent_b, allocation, recent, window, istate,
             fstate, cancellation):  # pragma: no cover - compiled
    """Rows of entries and exits and the target fraction; state carried in place.

    The MACD steps are ``engine.indicators.MACD``'s and the band steps
    ``engine.ta_dispersion.BollingerBands``', operation for operation.
    """
    fast = recent.shape[0]
    n = window.shape[0]
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    count, pos, sig_count, ready, side, long = (istate[0], istate[1], istate[2], istate[3],
                                                istate[4], istate[5])
    bpos, bcount, bready = istate[6], istate[7], istate[8]
    total, fast_ema, slow_ema, sig_sum, sig = fstate[0], fstate[1], fstate[2], fstate[3], \
        fstate[4]
    out_i = np.empty(price.shape[0], np.int64)
    out_v = np.empty(price.shape[0], np.float64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        # --- MACD
        hist = np.nan
        macd_ok = True
        if count < slow:
            count += 1
            total += x
            recent[pos] = x
            pos += 1
            if pos == fast:
                pos = 0
            if count < slow:
                macd_ok = False
            else:
                slow_ema = total / slow
                seed = 0.0
                for j in range(fast):      # the last ``fast`` prices, oldest first
                    k = pos + j
                    if k >= fast:
                        k -= fast
                    seed += recent[k]
                fast_ema = seed / fast
        else:
            fast_ema = (x - fast_ema) * kf + fast_ema
            slow_ema = (x - slow_ema) * ks + slow_ema
        if macd_ok:
            line = fast_ema - slow_ema
            if ready:
                sig = (line - sig) * kg + sig
                hist = line - sig
            else:
                sig_sum += line
                sig_count += 1
                if sig_count >= signal:
                    sig = sig_sum / signal
                    ready = 1
                    hist = line - sig
        # --- Bollinger Bands
        old = window[bpos]
        window[bpos] = x
        bpos += 1
        if bpos == n:
            bpos = 0
        bands_ok = True
        if bready == 0:
            bcount += 1
            if bcount < n:
                bands_ok = False
            else:
                bready = 1
                _resum(window, bpos, x, fstate)
        elif bpos == 0:
            _resum(window, bpos, x, fstate)
        else:
            anchor = fstate[5]
            dn = x - anchor
            do = old - anchor
            s1 = fstate[6] + (dn - do)
            s2 = fstate[7] + (dn * dn - do * do)
            fstate[6] = s1
            fstate[7] = s2
            if s2 > fstate[8]:
                fstate[8] = s2
            if (s2 - s1 * s1 / n) * cancellation < fstate[8]:
                _resum(window, bpos, x, fstate)
        if not (ready == 1 and bands_ok):
            continue
        s1 = fstate[6]
        centred = fstate[7] - s1 * s1 / n
        var = centred / n if centred > 0.0 else 0.0
        std = math.sqrt(var)
        middle = fstate[5] + s1 / n
        upper = middle + nbdev * std
        lower = middle - nbdev * std
        # --- signals
        before = side
        if hist > 0.0:
            side = 1
        elif hist < 0.0:
            side = -1
        if before == 0:
            continue
        if long:
            if (before == 1 and side == -1) or x >= upper:
                long = 0
                out_i[n_out] = r
                out_v[n_out] = 0.0
                n_out += 1
        elif before == -1 and side == 1 and x <= lower + entry_percent_b * (upper - lower):
            long = 1
            out_i[n_out] = r
            out_v[n_out] = allocation
            n_out += 1
    istate[0], istate[1], istate[2], istate[3], istate[4], istate[5] = (count, pos, sig_count,
                                                                        ready, side, long)
    istate[6], istate[7], istate[8] = bpos, bcount, bready
    fstate[0], fstate[1], fstate[2], fstate[3], fstate[4] = total, fast_ema, slow_ema, \
        sig_sum, sig
    return out_i[:n_out], out_v[:n_out]
