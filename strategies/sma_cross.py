"""SMA crossover: long while the fast simple moving average is above the slow one.

Entry: when the fast SMA of prices (bar closes, trade prices or quote mids) crosses above the
slow SMA, buy so the position is worth ``allocation`` of this strategy's share of portfolio
equity (``ctx.capital_share``) at that price. Exit: when the fast SMA crosses below the slow
SMA, sell the whole position; with ``allow_short`` it also goes short the same notional.
Orders are market orders, so they fill at the next event (plus latency). Nothing happens until
``slow`` events have been seen, and the first comparison after that only sets the side: an
order needs a cross.

The batch path (``on_batch``) runs the same averages and crosses in a numba kernel, with the
same running-sum arithmetic, and yields the same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.indicators import SMA
from engine.intents import EventBatch, Intents, target_percent
from engine.strategy import Strategy, StrategyParams, param


class SmaCross(Strategy):
    """Fast/slow simple moving average crossover."""

    name = "sma_cross"

    class Params(StrategyParams):
        fast: int = param(10, low=2, high=500, doc="fast SMA length, in events")
        slow: int = param(30, low=3, high=2000, doc="slow SMA length, in events")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short on a downward cross instead of flat")

        def check(self) -> None:
            if self.fast >= self.slow:
                raise ConfigError(f"strategy 'sma_cross': fast ({self.fast}) must be shorter "
                                  f"than slow ({self.slow})")

    def on_start(self) -> None:
        self.fast = SMA(self.params.fast)
        self.slow = SMA(self.params.slow)
        # bound once: the hook runs for every event, so it avoids repeated attribute lookups
        self._update_fast = self.fast.update
        self._update_slow = self.slow.update
        self.above: bool | None = None
        # batch path state: ring buffers, positions, counts, running sums, side
        self._fbuf = np.zeros(self.params.fast)
        self._sbuf = np.zeros(self.params.slow)
        self._istate = np.array([0, 0, 0, 0, -1], dtype=np.int64)
        self._fstate = np.zeros(2)

    def on_price(self, price: float) -> None:
        fast = self._update_fast(price)
        slow = self._update_slow(price)
        above = fast > slow          # False while the slow SMA is NaN (not ready)
        if above is self.above:
            return
        if not self.slow.ready:
            return
        first = self.above is None
        self.above = above
        if first:
            return  # no cross yet: the averages just became available
        self.ctx.order_target_percent(self._fraction(above), price)

    def _fraction(self, above: bool) -> float:
        p = self.params
        return p.allocation if above else (-p.allocation if p.allow_short else 0.0)

    def on_batch(self, batch: EventBatch) -> Intents:
        index, up = _crosses(batch.price, self._fbuf, self._sbuf, self._istate, self._fstate)
        p = self.params
        down = -p.allocation if p.allow_short else 0.0
        return target_percent(batch, index, np.where(up, p.allocation, down))


@njit(cache=True)
def _crosses(price, fbuf, sbuf, istate, fstate):  # pragma: no cover - compiled
    """Positions of crosses in ``price`` and whether each is upward; state carried in place.

    ``istate`` = [fast ring position, fast count, slow ring position, slow count, side
    (-1 unknown, 0 below, 1 above)], ``fstate`` = [fast running sum, slow running sum]; the
    arithmetic is ``engine.indicators.SMA``'s, step for step.
    """
    fp = fbuf.shape[0]
    sp = sbuf.shape[0]
    fpos, fcount, spos, scount, side = istate[0], istate[1], istate[2], istate[3], istate[4]
    fsum, ssum = fstate[0], fstate[1]
    out_i = np.empty(price.shape[0], np.int64)
    out_up = np.empty(price.shape[0], np.bool_)
    n_out = 0
    for i in range(price.shape[0]):
        x = price[i]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        if fcount == fp:
            fsum = fsum + (x - fbuf[fpos])
            fbuf[fpos] = x
            fpos += 1
            if fpos == fp:
                fpos = 0
            fval = fsum / fp
        else:
            fbuf[fcount] = x
            fsum += x
            fcount += 1
            fval = fsum / fp if fcount == fp else np.nan
        if scount == sp:
            ssum = ssum + (x - sbuf[spos])
            sbuf[spos] = x
            spos += 1
            if spos == sp:
                spos = 0
            sval = ssum / sp
        else:
            sbuf[scount] = x
            ssum += x
            scount += 1
            sval = ssum / sp if scount == sp else np.nan
        above = 1 if fval > sval else 0
        if above == side or scount < sp:
            continue
        first = side == -1
        side = above
        if first:
            continue
        out_i[n_out] = i
        out_up[n_out] = above == 1
        n_out += 1
    istate[0], istate[1], istate[2], istate[3], istate[4] = fpos, fcount, spos, scount, side
    fstate[0], fstate[1] = fsum, ssum
    return out_i[:n_out], out_up[:n_out]
