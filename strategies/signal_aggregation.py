"""Signal aggregation: weighted, time-decayed voting of five classic signals.

Five algorithms run on the price (bar closes, trade prices or quote mids) with
``engine.indicators``; each casts a vote of +1 (buy) or -1 (sell) on the event its signal
fires:

=============  ====================================================================
``sma``        +1 when SMA(``sma_fast``) crosses above SMA(``sma_slow``), -1 below
``momentum``   +1 when ROC(``roc_period``) enters ``> roc_threshold``, -1 ``< -roc_threshold``
               (the rate of change is a fraction: 0.01 is 1%)
``rsi``        +1 when RSI(``rsi_period``) enters ``< rsi_lower`` (oversold), -1 ``> rsi_upper``
``macd``       +1 when the MACD line crosses above its signal line (histogram turns > 0),
               -1 when it crosses below
``bollinger``  +1 when the price enters below the lower band (``bb_period``, ``bb_nbdev``
               standard deviations), -1 above the upper band
=============  ====================================================================

A cross needs one earlier comparison once the indicator is ready (the first only sets the
side); a zone (momentum, rsi, bollinger) votes when it is entered from outside. Each vote
starts at strength 1 and decays: on every later event its strength is multiplied by
``2 ** (-1 / half_life)`` (``half_life`` in events); a vote whose strength falls below 1/16
(after about four half-lives) expires. A new signal of an algorithm replaces its vote.

On every event (after decaying old votes and casting new ones)::

    net        = sum(weight_i * sign_i * strength_i)        over live votes
    confidence = |net| / sum(weight_i)                       in [0, 1]
    direction  = sign(net)
    agreeing   = live votes with weight > 0 and the sign of ``direction``

Target: ``allocation * direction`` of this strategy's share of equity when ``direction != 0``,
``confidence >= min_confidence`` and ``agreeing >= min_agree``; otherwise flat. A short target
becomes flat unless ``allow_short``. An order (``ctx.order_target_percent``, a market order
filled at the next event) is placed whenever the target changes: entry when the votes line up,
exit when they decay, expire or turn. An event with a NaN or infinite price is skipped: no
indicator update, no decay.

The batch path (``on_batch``) runs the same indicators in a numba kernel, repeating
``engine.indicators``' arithmetic step for step, and yields the same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import MACD, ROC, RSI, SMA, BollingerBands
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param
from engine.indicators import CANCELLATION

SIGNALS = ("sma", "momentum", "rsi", "macd", "bollinger")
VOTE_EXPIRY = 1.0 / 16.0
"""A vote whose decayed strength falls below this is dropped."""

# istate slots of the batch kernel
(_SF_POS, _SF_CNT, _SS_POS, _SS_CNT, _SMA_SIDE, _ROC_POS, _ROC_CNT, _MOM_BAND, _RSI_CNT,
 _RSI_ZONE, _M_CNT, _M_RPOS, _M_SIGCNT, _M_READY, _M_SIDE, _BB_POS, _BB_CNT, _BB_ZONE,
 _STATE, _SIGN) = range(20)            # _SIGN .. _SIGN + 4: each algorithm's vote sign
_N_ISTATE = _SIGN + 5
# fstate slots
(_SF_SUM, _SS_SUM, _RSI_PREV, _RSI_GAIN, _RSI_LOSS, _M_SUM, _M_FAST, _M_SLOW, _M_SIGSUM,
 _M_SIGNAL, _BB_ANCHOR, _BB_S1, _BB_S2, _BB_PEAK, _STRENGTH) = range(15)
_N_FSTATE = _STRENGTH + 5


class SignalAggregation(Strategy):
    """Weighted time-decayed vote of SMA cross, momentum, RSI, MACD and Bollinger signals."""

    name = "signal_aggregation"

    class Params(StrategyParams):
        sma_fast: int = param(10, low=2, high=500, doc="fast SMA length, events")
        sma_slow: int = param(30, low=3, high=2000, doc="slow SMA length, events")
        roc_period: int = param(10, low=1, high=2000, doc="rate-of-change window, events")
        roc_threshold: float = param(0.01, low=0.0, high=1.0,
                                     doc="momentum votes beyond +-this rate of change")
        rsi_period: int = param(14, low=2, high=500, doc="RSI length, events")
        rsi_lower: float = param(30.0, low=0.0, high=100.0, doc="RSI oversold level (buy vote)")
        rsi_upper: float = param(70.0, low=0.0, high=100.0,
                                 doc="RSI overbought level (sell vote)")
        macd_fast: int = param(12, low=2, high=500, doc="MACD fast EMA, events")
        macd_slow: int = param(26, low=3, high=1000, doc="MACD slow EMA, events")
        macd_signal: int = param(9, low=1, high=500, doc="MACD signal EMA, events")
        bb_period: int = param(20, low=2, high=1000, doc="Bollinger window, events")
        bb_nbdev: float = param(2.0, low=0.1, high=10.0,
                                doc="Bollinger band width, standard deviations")
        w_sma: float = param(1.0, low=0.0, high=10.0, doc="weight of the SMA cross vote")
        w_momentum: float = param(1.0, low=0.0, high=10.0, doc="weight of the momentum vote")
        w_rsi: float = param(1.0, low=0.0, high=10.0, doc="weight of the RSI vote")
        w_macd: float = param(1.0, low=0.0, high=10.0, doc="weight of the MACD vote")
        w_bollinger: float = param(1.0, low=0.0, high=10.0,
                                   doc="weight of the Bollinger vote")
        half_life: float = param(10.0, low=0.5, high=1e6,
                                 doc="events after which a vote's strength halves")
        min_agree: int = param(2, low=1, high=5,
                               doc="live votes that must agree with the net direction")
        min_confidence: float = param(0.4, low=0.0, high=1.0,
                                      doc="weighted agreement |net| / total weight needed")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short on a confident sell vote")

        def check(self) -> None:
            name = "strategy 'signal_aggregation'"
            if self.sma_fast >= self.sma_slow:
                raise ConfigError(f"{name} parameter 'sma_fast' ({self.sma_fast}) must be "
                                  f"shorter than sma_slow ({self.sma_slow})")
            if self.macd_fast >= self.macd_slow:
                raise ConfigError(f"{name} parameter 'macd_fast' ({self.macd_fast}) must be "
                                  f"shorter than macd_slow ({self.macd_slow})")
            if self.rsi_lower >= self.rsi_upper:
                raise ConfigError(f"{name} parameter 'rsi_lower' ({self.rsi_lower!r}) must be "
                                  f"below rsi_upper ({self.rsi_upper!r})")
            voting = sum(w > 0.0 for w in self.weights())
            if voting == 0:
                raise ConfigError(f"{name} parameters 'w_sma', 'w_momentum', 'w_rsi', "
                                  f"'w_macd', 'w_bollinger' are all 0: give one a weight > 0")
            if self.min_agree > voting:
                raise ConfigError(f"{name} parameter 'min_agree' = {self.min_agree} exceeds "
                                  f"the {voting} signals with a weight > 0")

        def weights(self) -> tuple[float, ...]:
            """The weights in ``SIGNALS`` order."""
            return (self.w_sma, self.w_momentum, self.w_rsi, self.w_macd, self.w_bollinger)

    def on_start(self) -> None:
        p = self.params
        self.sma_fast = SMA(p.sma_fast)
        self.sma_slow = SMA(p.sma_slow)
        self.roc = ROC(p.roc_period)
        self.rsi = RSI(p.rsi_period)
        self.macd = MACD(p.macd_fast, p.macd_slow, p.macd_signal)
        self.bb = BollingerBands(p.bb_period, p.bb_nbdev, p.bb_nbdev)
        self.weights = p.weights()
        self.total_weight = sum(self.weights)
        self.decay = 0.5 ** (1.0 / p.half_life)
        self.sign = [0] * 5               # each algorithm's live vote, in SIGNALS order
        self.strength = [0.0] * 5
        self.sma_side = -1                # -1 unknown, 0 fast below slow, 1 above
        self.mom_band = 0                 # +1 above +roc_threshold, -1 below -it, 0 between
        self.rsi_zone = 0                 # +1 oversold, -1 overbought, 0 between
        self.macd_side = -1               # -1 unknown, 0 histogram <= 0, 1 > 0
        self.bb_zone = 0                  # +1 below the lower band, -1 above the upper
        self.state = 0                    # the current target direction
        # batch path state: ring buffers and the slots listed above
        self._sf = np.zeros(p.sma_fast)
        self._ss = np.zeros(p.sma_slow)
        self._roc = np.zeros(p.roc_period)
        self._recent = np.zeros(p.macd_fast)
        self._bb = np.zeros(p.bb_period)
        self._istate = np.zeros(_N_ISTATE, dtype=np.int64)
        self._istate[_SMA_SIDE] = -1
        self._istate[_M_SIDE] = -1
        self._fstate = np.zeros(_N_FSTATE)
        self._weights = np.array(self.weights, dtype=np.float64)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        sign, strength = self.sign, self.strength
        decay = self.decay
        for i in range(5):
            if sign[i] != 0:
                s = strength[i] * decay
                if s < VOTE_EXPIRY:
                    sign[i] = 0
                    s = 0.0
                strength[i] = s
        p = self.params
        # sma: a cross of the fast average over the slow one
        fast = self.sma_fast.update(price)
        slow = self.sma_slow.update(price)
        if self.sma_slow.ready:
            above = 1 if fast > slow else 0
            if self.sma_side == -1:
                self.sma_side = above
            elif above != self.sma_side:
                self.sma_side = above
                self._vote(0, 1 if above else -1)
        # momentum: entering the band beyond +-roc_threshold
        change = self.roc.update(price)
        if self.roc.ready:
            band = 1 if change > p.roc_threshold else -1 if change < -p.roc_threshold else 0
            if band != self.mom_band:
                self.mom_band = band
                if band != 0:
                    self._vote(1, band)
        # rsi: entering the oversold or overbought zone
        value = self.rsi.update(price)
        if self.rsi.ready:
            zone = 1 if value < p.rsi_lower else -1 if value > p.rsi_upper else 0
            if zone != self.rsi_zone:
                self.rsi_zone = zone
                if zone != 0:
                    self._vote(2, zone)
        # macd: the histogram changing sign
        hist = self.macd.update(price)[2]
        if self.macd.ready:
            above = 1 if hist > 0.0 else 0
            if self.macd_side == -1:
                self.macd_side = above
            elif above != self.macd_side:
                self.macd_side = above
                self._vote(3, 1 if above else -1)
        # bollinger: the price leaving the bands
        upper, _, lower = self.bb.update(price)
        if self.bb.ready:
            zone = 1 if price < lower else -1 if price > upper else 0
            if zone != self.bb_zone:
                self.bb_zone = zone
                if zone != 0:
                    self._vote(4, zone)
        # the vote
        weights = self.weights
        net = 0.0
        for i in range(5):
            if sign[i] != 0:
                net += sign[i] * (weights[i] * strength[i])
        direction = 1 if net > 0.0 else -1 if net < 0.0 else 0
        desired = 0
        if direction != 0 and abs(net) / self.total_weight >= p.min_confidence:
            agreeing = 0
            for i in range(5):
                if sign[i] == direction and weights[i] > 0.0:
                    agreeing += 1
            if agreeing >= p.min_agree and (direction == 1 or p.allow_short):
                desired = direction
        if desired != self.state:
            self.state = desired
            self.ctx.order_target_percent(desired * p.allocation, price)

    def _vote(self, i: int, sign: int) -> None:
        self.sign[i] = sign
        self.strength[i] = 1.0

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, target = _signals(
            np.ascontiguousarray(batch.price, dtype=np.float64), self._sf, self._ss,
            self._roc, self._recent, self._bb, self._istate, self._fstate, self._weights,
            self.total_weight, self.decay, p.roc_threshold, p.rsi_period, p.rsi_lower,
            p.rsi_upper, p.macd_slow, p.macd_signal, p.bb_nbdev, p.min_confidence,
            p.min_agree, p.allow_short, p.allocation)
        return target_percent(batch, index, target)


# --- the kernels: engine.indicators' arithmetic, operation for operation -------------------


@njit(cache=True)
def _sma(x, buf, s, f, pos_slot, cnt_slot, sum_slot):  # pragma: no cover - compiled
    """``SMA.update``; returns the average (NaN until ready)."""
    period = buf.shape[0]
    pos = s[pos_slot]
    count = s[cnt_slot]
    if count == period:
        total = f[sum_slot] + (x - buf[pos])
        buf[pos] = x
        pos += 1
        if pos == period:
            pos = 0
        s[pos_slot] = pos
        f[sum_slot] = total
        return total / period
    buf[count] = x
    f[sum_slot] += x
    count += 1
    s[cnt_slot] = count
    return f[sum_slot] / period if count == period else np.nan


@njit(cache=True)
def _roc(x, buf, s):  # pragma: no cover - compiled
    """``ROC.update``; returns the rate of change (NaN until ready, or when undefined)."""
    period = buf.shape[0]
    pos = s[_ROC_POS]
    old = buf[pos]
    buf[pos] = x
    pos += 1
    s[_ROC_POS] = 0 if pos == period else pos
    if s[_ROC_CNT] <= period:
        s[_ROC_CNT] += 1
        if s[_ROC_CNT] <= period:
            return np.nan
    return x / old - 1.0 if old != 0.0 else np.nan


@njit(cache=True)
def _rsi(x, n, s, f):  # pragma: no cover - compiled
    """``RSI.update``; returns the RSI (NaN until ready)."""
    count = s[_RSI_CNT]
    if count == 0:
        f[_RSI_PREV] = x
        s[_RSI_CNT] = 1
        return np.nan
    change = x - f[_RSI_PREV]
    f[_RSI_PREV] = x
    gain = f[_RSI_GAIN]
    loss = f[_RSI_LOSS]
    if count > n:
        gain *= n - 1
        loss *= n - 1
    if change < 0.0:
        loss -= change
    else:
        gain += change
    if count < n:
        f[_RSI_GAIN] = gain
        f[_RSI_LOSS] = loss
        s[_RSI_CNT] = count + 1
        return np.nan
    if count == n:
        s[_RSI_CNT] = n + 1
    gain /= n
    loss /= n
    f[_RSI_GAIN] = gain
    f[_RSI_LOSS] = loss
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@njit(cache=True)
def _macd_hist(x, recent, slow, signal, s, f):  # pragma: no cover - compiled
    """``MACD.update``; returns the histogram (NaN until ready)."""
    fast = recent.shape[0]
    if s[_M_CNT] < slow:
        s[_M_CNT] += 1
        f[_M_SUM] += x
        pos = s[_M_RPOS]
        recent[pos] = x
        pos += 1
        if pos == fast:
            pos = 0
        s[_M_RPOS] = pos
        if s[_M_CNT] < slow:
            return np.nan
        f[_M_SLOW] = f[_M_SUM] / slow
        total = 0.0
        for j in range(fast):       # oldest first, as the deque iterates
            k = pos + j
            if k >= fast:
                k -= fast
            total += recent[k]
        f[_M_FAST] = total / fast
    else:
        f[_M_FAST] = (x - f[_M_FAST]) * (2.0 / (fast + 1)) + f[_M_FAST]
        f[_M_SLOW] = (x - f[_M_SLOW]) * (2.0 / (slow + 1)) + f[_M_SLOW]
    line = f[_M_FAST] - f[_M_SLOW]
    if s[_M_READY] == 1:
        sig = (line - f[_M_SIGNAL]) * (2.0 / (signal + 1)) + f[_M_SIGNAL]
    else:
        f[_M_SIGSUM] += line
        s[_M_SIGCNT] += 1
        if s[_M_SIGCNT] < signal:
            return np.nan
        sig = f[_M_SIGSUM] / signal
        s[_M_READY] = 1
    f[_M_SIGNAL] = sig
    return line - sig


@njit(cache=True)
def _bb_resum(buf, pos, newest, f):  # pragma: no cover - compiled
    n = buf.shape[0]
    s1 = 0.0
    s2 = 0.0
    for j in range(n):              # oldest first: buf[pos:] + buf[:pos]
        k = pos + j
        if k >= n:
            k -= n
        d = buf[k] - newest
        s1 += d
        s2 += d * d
    f[_BB_ANCHOR] = newest
    f[_BB_S1] = s1
    f[_BB_S2] = s2
    f[_BB_PEAK] = s2


@njit(cache=True)
def _bb_variance(x, buf, s, f):  # pragma: no cover - compiled
    """``_WindowMoments._push`` of ``BollingerBands``; returns the variance (NaN until
    ready)."""
    n = buf.shape[0]
    pos = s[_BB_POS]
    old = buf[pos]
    buf[pos] = x
    pos += 1
    if pos == n:
        pos = 0
    s[_BB_POS] = pos
    if s[_BB_CNT] < n:
        s[_BB_CNT] += 1
        if s[_BB_CNT] < n:
            return np.nan
        _bb_resum(buf, pos, x, f)
    elif pos == 0:
        _bb_resum(buf, pos, x, f)
    else:
        anchor = f[_BB_ANCHOR]
        dn = x - anchor
        do = old - anchor
        s1 = f[_BB_S1] + (dn - do)
        s2 = f[_BB_S2] + (dn * dn - do * do)
        f[_BB_S1] = s1
        f[_BB_S2] = s2
        if s2 > f[_BB_PEAK]:
            f[_BB_PEAK] = s2
        if (s2 - s1 * s1 / n) * CANCELLATION < f[_BB_PEAK]:
            _bb_resum(buf, pos, x, f)
    s1 = f[_BB_S1]
    centred = f[_BB_S2] - s1 * s1 / n
    return centred / n if centred > 0.0 else 0.0


@njit(cache=True)
def _signals(price, sf, ss, rocbuf, recent, bbbuf, s, f, weights, total_weight, decay,
             roc_threshold, rsi_period, rsi_lower, rsi_upper, macd_slow, macd_signal,
             bb_nbdev, min_confidence, min_agree, allow_short,
             allocation):  # pragma: no cover - compiled
    """Positions where the target changes, and the new target fraction."""
    out_i = np.empty(price.shape[0], np.int64)
    out_t = np.empty(price.shape[0], np.float64)
    n_out = 0
    slow_period = ss.shape[0]
    bb_n = bbbuf.shape[0]
    for i in range(price.shape[0]):
        x = price[i]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        for j in range(5):
            if s[_SIGN + j] != 0:
                st = f[_STRENGTH + j] * decay
                if st < VOTE_EXPIRY:
                    s[_SIGN + j] = 0
                    st = 0.0
                f[_STRENGTH + j] = st
        # sma
        fast = _sma(x, sf, s, f, _SF_POS, _SF_CNT, _SF_SUM)
        slow = _sma(x, ss, s, f, _SS_POS, _SS_CNT, _SS_SUM)
        if s[_SS_CNT] == slow_period:
            above = 1 if fast > slow else 0
            if s[_SMA_SIDE] == -1:
                s[_SMA_SIDE] = above
            elif above != s[_SMA_SIDE]:
                s[_SMA_SIDE] = above
                s[_SIGN + 0] = 1 if above == 1 else -1
                f[_STRENGTH + 0] = 1.0
        # momentum
        change = _roc(x, rocbuf, s)
        if s[_ROC_CNT] > rocbuf.shape[0]:
            band = 1 if change > roc_threshold else -1 if change < -roc_threshold else 0
            if band != s[_MOM_BAND]:
                s[_MOM_BAND] = band
                if band != 0:
                    s[_SIGN + 1] = band
                    f[_STRENGTH + 1] = 1.0
        # rsi
        value = _rsi(x, rsi_period, s, f)
        if s[_RSI_CNT] > rsi_period:
            zone = 1 if value < rsi_lower else -1 if value > rsi_upper else 0
            if zone != s[_RSI_ZONE]:
                s[_RSI_ZONE] = zone
                if zone != 0:
                    s[_SIGN + 2] = zone
                    f[_STRENGTH + 2] = 1.0
        # macd
        hist = _macd_hist(x, recent, macd_slow, macd_signal, s, f)
        if s[_M_READY] == 1:
            above = 1 if hist > 0.0 else 0
            if s[_M_SIDE] == -1:
                s[_M_SIDE] = above
            elif above != s[_M_SIDE]:
                s[_M_SIDE] = above
                s[_SIGN + 3] = 1 if above == 1 else -1
                f[_STRENGTH + 3] = 1.0
        # bollinger
        var = _bb_variance(x, bbbuf, s, f)
        if s[_BB_CNT] == bb_n:
            std = np.sqrt(var)
            middle = f[_BB_ANCHOR] + f[_BB_S1] / bb_n
            upper = middle + bb_nbdev * std
            lower = middle - bb_nbdev * std
            zone = 1 if x < lower else -1 if x > upper else 0
            if zone != s[_BB_ZONE]:
                s[_BB_ZONE] = zone
                if zone != 0:
                    s[_SIGN + 4] = zone
                    f[_STRENGTH + 4] = 1.0
        # the vote
        net = 0.0
        for j in range(5):
            if s[_SIGN + j] != 0:
                net += s[_SIGN + j] * (weights[j] * f[_STRENGTH + j])
        direction = 1 if net > 0.0 else -1 if net < 0.0 else 0
        desired = 0
        if direction != 0 and abs(net) / total_weight >= min_confidence:
            agreeing = 0
            for j in range(5):
                if s[_SIGN + j] == direction and weights[j] > 0.0:
                    agreeing += 1
            if agreeing >= min_agree and (direction == 1 or allow_short):
                desired = direction
        if desired != s[_STATE]:
            s[_STATE] = desired
            out_i[n_out] = i
            out_t[n_out] = desired * allocation
            n_out += 1
    return out_i[:n_out], out_t[:n_out]
