"""MACD crossover: long after the MACD line crosses above its signal line, out (or short) after
it crosses below.

Indicator: ``MACD(fast, slow, signal)`` of the prices (bar closes, trade prices or quote mids),
TA-Lib conventions (``engine.indicators.MACD``): ``line = EMA(fast) - EMA(slow)``, ``signal`` =
EMA of the line, ``hist = line - signal``. The histogram's sign is the side of the line
against its signal; a zero histogram keeps the last sign. A *bullish cross* is the sign turning
from negative to positive, a *bearish cross* from positive to negative; the first sign after the
warm-up is no cross.

Entry: on a bullish cross, target a long position worth ``allocation`` of this strategy's share
of equity (``allocation * equity * capital_share / price``, through
``ctx.order_target_percent``). With ``zero_filter`` the cross must also happen with the MACD
line above zero, or the target is flat instead (a short is still covered).
Exit: on a bearish cross, target flat; with ``allow_short`` target a short of the same notional
instead (with ``zero_filter``, only when the MACD line is below zero; flat otherwise). A cross
asking for the position already targeted does nothing.

Market orders, filled at the next event (plus latency). Warm-up: ``slow + signal - 1`` prices
(the first valid histogram). A NaN or infinite price is skipped (state unchanged).

The batch path (``on_batch``) runs the same MACD arithmetic in a numba kernel and yields the
same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import MACD
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


class MacdStrategy(Strategy):
    """MACD line / signal line crossover, with an optional zero-line filter."""

    name = "macd"

    class Params(StrategyParams):
        fast: int = param(12, low=2, high=500, doc="fast EMA length, in events")
        slow: int = param(26, low=3, high=1000, doc="slow EMA length, in events")
        signal: int = param(9, low=2, high=500, doc="signal EMA length, in events")
        zero_filter: bool = param(False, doc="enter long only above the zero line (and short "
                                             "only below it)")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short on a bearish cross instead of flat")

        def check(self) -> None:
            if self.fast >= self.slow:
                raise ConfigError(f"strategy 'macd': fast ({self.fast}) must be shorter than "
                                  f"slow ({self.slow})")

    def on_start(self) -> None:
        p = self.params
        self.macd = MACD(p.fast, p.slow, p.signal)
        self._update = self.macd.update
        self.side = 0     # sign of the histogram: +1, -1, 0 not yet known
        self.state = 0    # +1 long, -1 short, 0 flat (what this strategy last targeted)
        # batch path state: the ring of the last ``fast`` prices (for the fast EMA's seed);
        # [count, ring position, signal count, ready, side, state];
        # [sum, fast EMA, slow EMA, signal sum, signal]
        self._recent = np.zeros(p.fast)
        self._istate = np.zeros(6, dtype=np.int64)
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
        line, _, hist = self._update(price)
        if not self.macd.ready:
            return
        if hist > 0.0:
            side = 1
        elif hist < 0.0:
            side = -1
        else:
            return
        before = self.side
        if side == before:
            return
        self.side = side
        if before == 0:
            return            # the first sign after the warm-up: no cross yet
        p = self.params
        if side == 1:
            target = 1 if not p.zero_filter or line > 0.0 else 0
        else:
            target = -1 if p.allow_short and (not p.zero_filter or line < 0.0) else 0
        if target == self.state:
            return
        self.state = target
        self.ctx.order_target_percent(target * p.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        index, fraction = _signals(batch.price, p.slow, p.signal, p.zero_filter, p.allocation,
                                   p.allow_short, self._recent, self._istate, self._fstate)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _signals(price, slow, signal, zero_filter, allocation, allow_short, recent, istate,
             fstate):  # pragma: no cover - compiled
    """Rows where the target changes and the new target fraction; state carried in place.

    ``istate`` = [count, ring position, signal count, ready, side, state], ``fstate`` = [sum,
    fast EMA, slow EMA, signal sum, signal]; the arithmetic is ``engine.indicators.MACD``'s,
    step for step.
    """
    fast = recent.shape[0]
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    count, pos, sig_count, ready, side, state = (istate[0], istate[1], istate[2], istate[3],
                                                 istate[4], istate[5])
    total, fast_ema, slow_ema, sig_sum, sig = fstate[0], fstate[1], fstate[2], fstate[3], \
        fstate[4]
    out_i = np.empty(price.shape[0], np.int64)
    out_v = np.empty(price.shape[0], np.float64)
    n_out = 0
    for r in range(price.shape[0]):
        x = price[r]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        if count < slow:
            count += 1
            total += x
            recent[pos] = x
            pos += 1
            if pos == fast:
                pos = 0
            if count < slow:
                continue
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
        line = fast_ema - slow_ema
        if ready:
            sig = (line - sig) * kg + sig
        else:
            sig_sum += line
            sig_count += 1
            if sig_count < signal:
                continue
            sig = sig_sum / signal
            ready = 1
        hist = line - sig
        if hist > 0.0:
            now = 1
        elif hist < 0.0:
            now = -1
        else:
            continue
        before = side
        if now == before:
            continue
        side = now
        if before == 0:
            continue
        if now == 1:
            target = 1 if not zero_filter or line > 0.0 else 0
        else:
            target = -1 if allow_short and (not zero_filter or line < 0.0) else 0
        if target == state:
            continue
        state = target
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1], istate[2], istate[3], istate[4], istate[5] = (count, pos, sig_count,
                                                                        ready, side, state)
    fstate[0], fstate[1], fstate[2], fstate[3], fstate[4] = total, fast_ema, slow_ema, \
        sig_sum, sig
    return out_i[:n_out], out_v[:n_out]
