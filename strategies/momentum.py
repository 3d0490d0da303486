"""Momentum: long while the rate of change over ``lookback`` events exceeds ``threshold``.

Entry: when the price's rate of change over ``lookback`` events (``price / price[-lookback] -
1``) rises above ``threshold``, buy so the position is worth ``allocation`` of this
strategy's share of equity (``ctx.capital_share``). Exit: when it falls below
``-threshold``, sell the position (or, with ``allow_short``, go short the same notional).
Between the two bands the position is kept. Market orders, filled at the next event. Nothing
happens until ``lookback + 1`` events have been seen. Prices are bar closes, trade prices or
quote mids.

The batch path (``on_batch``) computes the same rate of change in a numba kernel and yields
the same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.indicators import ROC
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param


class Momentum(Strategy):
    """Time-series momentum on the rate of change."""

    name = "momentum"

    class Params(StrategyParams):
        lookback: int = param(20, low=1, high=2000, doc="rate-of-change window, in events")
        threshold: float = param(0.01, low=0.0, high=1.0,
                                 doc="entry band: enter above +threshold, exit below -threshold")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short below -threshold instead of flat")

    def on_start(self) -> None:
        self.roc = ROC(self.params.lookback)
        self.state = 0  # +1 long, -1 short or flat-after-exit, 0 not yet decided
        # batch path state: the ring of the last ``lookback`` prices, [position, count, state]
        self._buf = np.zeros(self.params.lookback)
        self._istate = np.zeros(3, dtype=np.int64)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2)

    def _on_price(self, price: float) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        change = self.roc.update(price)
        if not self.roc.ready:
            return
        threshold = self.params.threshold
        if change > threshold:
            signal = 1
        elif change < -threshold:
            signal = -1
        else:
            return
        if signal == self.state:
            return
        self.state = signal
        self.ctx.order_target_percent(self._fraction(signal), price)

    def _fraction(self, signal: int) -> float:
        p = self.params
        if signal == 1:
            return p.allocation
        return -p.allocation if p.allow_short else 0.0

    def on_batch(self, batch: EventBatch) -> Intents:
        index, signal = _signals(batch.price, self._buf, self._istate, self.params.threshold)
        return target_percent(batch, index,
                              np.where(signal == 1, self._fraction(1), self._fraction(-1)))


@njit(cache=True)
def _signals(price, buf, istate, threshold):  # pragma: no cover - compiled
    """Positions where the band signal changes, and the new signal (+1 / -1).

    ``istate`` = [ring position, count, current signal]; the arithmetic is
    ``engine.indicators.ROC``'s.
    """
    period = buf.shape[0]
    pos, count, state = istate[0], istate[1], istate[2]
    out_i = np.empty(price.shape[0], np.int64)
    out_s = np.empty(price.shape[0], np.int64)
    n_out = 0
    for i in range(price.shape[0]):
        x = price[i]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        old = buf[pos]
        buf[pos] = x
        pos += 1
        if pos == period:
            pos = 0
        if count <= period:
            count += 1
            if count <= period:
                continue
        if old == 0.0:
            continue          # the rate of change is NaN: inside neither band
        change = x / old - 1.0
        if change > threshold:
            signal = 1
        elif change < -threshold:
            signal = -1
        else:
            continue
        if signal == state:
            continue
        state = signal
        out_i[n_out] = i
        out_s[n_out] = signal
        n_out += 1
    istate[0], istate[1], istate[2] = pos, count, state
    return out_i[:n_out], out_s[:n_out]
