"""Volume-price correlation: long while volume comes in on up moves (accumulation).

Data: bars (volume ``v`` = the bar's volume, price = its close) or trades (``v`` = the trade
size, price = the trade price). Quotes carry no traded volume, so they are refused: the first
quote (or quote batch) raises ``ConfigError`` and the engine faults the strategy.

On each event from the second on, the pair ``(v, dp)`` is formed with ``dp`` the change of
price since the previous event. ``corr`` is the Pearson correlation of ``v`` and ``dp`` over
the last ``period`` pairs (undefined while fewer pairs were seen, or when either series is flat
over the window), and the window's price change is ``price - price[-period]``.

- Accumulation, ``corr >= entry_corr`` with the window's price change > 0 (volume comes with
  the up moves and the price rose): when flat, buy so the position is worth ``allocation`` of
  this strategy's share of equity (``ctx.order_target_percent``).
- Distribution, ``corr <= exit_corr`` with the window's price change < 0 (volume comes with
  the down moves and the price fell): when long, sell the whole position.

Market orders, filled at the next event. An event with a NaN or infinite price or volume is
skipped (it forms no pair and the next pair spans it).

Arithmetic: the window sums are kept as sums of deviations from anchors (the window means at
the last re-summation) updated in O(1); the window is re-summed exactly once per ``period``
pairs, and whenever cancellation in either centred sum of squares would cost more than 12
bits, so long runs do not drift and a flat window gives exactly no correlation. The
correlation is clipped to ``[-1, 1]``.

The batch path (``on_batch``) runs the same sums in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine.data.schema import BAR, QUOTE
from engine.errors import ConfigError
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param
from engine.indicators import CANCELLATION

# fstate layout of the batch kernel (the hook keeps the same values as attributes)
_AX, _AY, _SX, _SY, _SXX, _SYY, _SXY, _PXX, _PYY, _PREV = range(10)
# istate layout: [ring position, pairs seen (capped at period), any price seen, state]
_POS, _PAIRS, _PRICES, _STATE = range(4)


class VolumePriceCorrelation(Strategy):
    """Rolling correlation of volume and price change: accumulation in, distribution out."""

    name = "volume_price_correlation"

    class Params(StrategyParams):
        period: int = param(30, low=3, high=100_000,
                            doc="pairs (events) in the correlation window")
        entry_corr: float = param(0.3, low=-1.0, high=1.0,
                                  doc="accumulation: correlation at or above this, price up")
        exit_corr: float = param(-0.3, low=-1.0, high=1.0,
                                 doc="distribution: correlation at or below this, price down")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")

        def check(self) -> None:
            if self.exit_corr >= self.entry_corr:
                raise ConfigError(
                    f"strategy 'volume_price_correlation' parameter 'exit_corr' = "
                    f"{self.exit_corr!r} must be below entry_corr ({self.entry_corr!r})")

    def on_start(self) -> None:
        n = self.params.period
        self.xs = [0.0] * n          # volumes of the window, a ring
        self.ys = [0.0] * n          # price changes
        self.ps = [0.0] * n          # prices, a ring of the last ``period``
        self.pos = 0
        self.pairs = 0
        self.prices = 0
        self.prev = 0.0
        self.ax = self.ay = 0.0
        self.sx = self.sy = self.sxx = self.syy = self.sxy = 0.0
        self.pxx = self.pyy = 0.0
        self.state = 0               # 1 long, 0 flat
        self.corr = math.nan         # the window's correlation after the last pair
        # batch path state (layouts above)
        self._xs = np.zeros(n)
        self._ys = np.zeros(n)
        self._ps = np.zeros(n)
        self._fstate = np.zeros(10)
        self._istate = np.zeros(4, dtype=np.int64)

    def on_bar(self, bar: Bar) -> None:
        self._on_event(bar.close, bar.volume)

    def on_trade(self, trade: Trade) -> None:
        self._on_event(trade.price, trade.size)

    def on_quote(self, quote: Quote) -> None:
        raise _needs_volume()

    def _on_event(self, price: float, volume: float) -> None:
        if price - price or volume - volume:
            return           # NaN or infinite price or volume: skipped, state unchanged
        if self.prices == 0:
            self.prices = 1
            self.prev = price
            self.ps[-1] = price      # read back ``period`` pairs later, as price[-period]
            return
        dy = price - self.prev
        self.prev = price
        pos = self.pos
        old_price = self.ps[pos]     # price[-period], once ``period`` pairs were seen
        self.ps[pos] = price
        corr = self.corr = self._push(volume, dy, pos)
        if corr != corr:
            return
        p = self.params
        if self.state == 0:
            if corr >= p.entry_corr and price > old_price:
                self.state = 1
                self.ctx.order_target_percent(p.allocation, price)
        elif corr <= p.exit_corr and price < old_price:
            self.state = 0
            self.ctx.order_target_percent(0.0, price)

    def _push(self, x: float, y: float, pos: int) -> float:
        """Add a pair at ring position ``pos``; the window's correlation (NaN if undefined)."""
        n = self.params.period
        xs, ys = self.xs, self.ys
        ox = xs[pos]
        oy = ys[pos]
        xs[pos] = x
        ys[pos] = y
        pos += 1
        if pos == n:
            pos = 0
        self.pos = pos
        if self.pairs < n:
            self.pairs += 1
            if self.pairs < n:
                return math.nan
            self._resum()
        elif pos == 0:
            self._resum()
        else:
            ax, ay = self.ax, self.ay
            dx = x - ax
            dy = y - ay
            ex = ox - ax
            ey = oy - ay
            sx = self.sx = self.sx + (dx - ex)
            sy = self.sy = self.sy + (dy - ey)
            sxx = self.sxx = self.sxx + (dx * dx - ex * ex)
            syy = self.syy = self.syy + (dy * dy - ey * ey)
            self.sxy = self.sxy + (dx * dy - ex * ey)
            if sxx > self.pxx:
                self.pxx = sxx
            if syy > self.pyy:
                self.pyy = syy
            if ((sxx - sx * sx / n) * CANCELLATION < self.pxx
                    or (syy - sy * sy / n) * CANCELLATION < self.pyy):
                self._resum()
        sx, sy = self.sx, self.sy
        cxx = self.sxx - sx * sx / n
        cyy = self.syy - sy * sy / n
        if cxx <= 0.0 or cyy <= 0.0:
            return math.nan
        corr = (self.sxy - sx * sy / n) / math.sqrt(cxx * cyy)
        return min(max(corr, -1.0), 1.0)

    def _resum(self) -> None:
        """Re-add the window exactly, oldest first, around its means."""
        n = self.params.period
        xs, ys, pos = self.xs, self.ys, self.pos
        tx = 0.0
        ty = 0.0
        for j in range(n):
            k = pos + j
            if k >= n:
                k -= n
            tx += xs[k]
            ty += ys[k]
        ax = tx / n
        ay = ty / n
        sx = sy = sxx = syy = sxy = 0.0
        for j in range(n):
            k = pos + j
            if k >= n:
                k -= n
            dx = xs[k] - ax
            dy = ys[k] - ay
            sx += dx
            sy += dy
            sxx += dx * dx
            syy += dy * dy
            sxy += dx * dy
        self.ax, self.ay = ax, ay
        self.sx, self.sy, self.sxx, self.syy, self.sxy = sx, sy, sxx, syy, sxy
        self.pxx, self.pyy = sxx, syy

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind == QUOTE:
            raise _needs_volume()
        volume = batch.volume if batch.kind == BAR else batch.size
        index, target = _signals(
            np.ascontiguousarray(batch.price, dtype=np.float64),
            np.ascontiguousarray(volume, dtype=np.float64), self._xs, self._ys, self._ps,
            self._fstate, self._istate, self.params.entry_corr, self.params.exit_corr,
            self.params.allocation)
        return target_percent(batch, index, target)


def _needs_volume() -> ConfigError:
    return ConfigError("strategy 'volume_price_correlation' needs bars or trades (traded "
                       "volume); it got quotes")


@njit(cache=True)
def _resum(xs, ys, pos, f):  # pragma: no cover - compiled
    """The hook's ``_resum`` on the fstate layout."""
    n = xs.shape[0]
    tx = 0.0
    ty = 0.0
    for j in range(n):
        k = pos + j
        if k >= n:
            k -= n
        tx += xs[k]
        ty += ys[k]
    ax = tx / n
    ay = ty / n
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    for j in range(n):
        k = pos + j
        if k >= n:
            k -= n
        dx = xs[k] - ax
        dy = ys[k] - ay
        sx += dx
        sy += dy
        sxx += dx * dx
        syy += dy * dy
        sxy += dx * dy
    f[_AX] = ax
    f[_AY] = ay
    f[_SX] = sx
    f[_SY] = sy
    f[_SXX] = sxx
    f[_SYY] = syy
    f[_SXY] = sxy
    f[_PXX] = sxx
    f[_PYY] = syy


@njit(cache=True)
def _signals(price, volume, xs, ys, ps, f, s, entry_corr, exit_corr,
             allocation):  # pragma: no cover - compiled
    """Positions of orders and their target fractions; the hook's arithmetic step for step."""
    n = xs.shape[0]
    out_i = np.empty(price.shape[0], np.int64)
    out_t = np.empty(price.shape[0], np.float64)
    n_out = 0
    for i in range(price.shape[0]):
        p = price[i]
        x = volume[i]
        if p - p != 0.0 or p != p or x - x != 0.0 or x != x:
            continue         # NaN or infinite price or volume: skipped, as the hook does
        if s[_PRICES] == 0:
            s[_PRICES] = 1
            f[_PREV] = p
            ps[n - 1] = p
            continue
        y = p - f[_PREV]
        f[_PREV] = p
        pos = s[_POS]
        old_price = ps[pos]
        ps[pos] = p
        ox = xs[pos]
        oy = ys[pos]
        xs[pos] = x
        ys[pos] = y
        pos += 1
        if pos == n:
            pos = 0
        s[_POS] = pos
        if s[_PAIRS] < n:
            s[_PAIRS] += 1
            if s[_PAIRS] < n:
                continue
            _resum(xs, ys, pos, f)
        elif pos == 0:
            _resum(xs, ys, pos, f)
        else:
            ax = f[_AX]
            ay = f[_AY]
            dx = x - ax
            dy = y - ay
            ex = ox - ax
            ey = oy - ay
            sx = f[_SX] + (dx - ex)
            sy = f[_SY] + (dy - ey)
            sxx = f[_SXX] + (dx * dx - ex * ex)
            syy = f[_SYY] + (dy * dy - ey * ey)
            f[_SX] = sx
            f[_SY] = sy
            f[_SXX] = sxx
            f[_SYY] = syy
            f[_SXY] = f[_SXY] + (dx * dy - ex * ey)
            if sxx > f[_PXX]:
                f[_PXX] = sxx
            if syy > f[_PYY]:
                f[_PYY] = syy
            if ((sxx - sx * sx / n) * CANCELLATION < f[_PXX]
                    or (syy - sy * sy / n) * CANCELLATION < f[_PYY]):
                _resum(xs, ys, pos, f)
        sx = f[_SX]
        sy = f[_SY]
        cxx = f[_SXX] - sx * sx / n
        cyy = f[_SYY] - sy * sy / n
        if cxx <= 0.0 or cyy <= 0.0:
            continue
        corr = (f[_SXY] - sx * sy / n) / math.sqrt(cxx * cyy)
        corr = min(max(corr, -1.0), 1.0)
        if s[_STATE] == 0:
            if corr >= entry_corr and p > old_price:
                s[_STATE] = 1
                out_i[n_out] = i
                out_t[n_out] = allocation
                n_out += 1
        elif corr <= exit_corr and p < old_price:
            s[_STATE] = 0
            out_i[n_out] = i
            out_t[n_out] = 0.0
            n_out += 1
    return out_i[:n_out], out_t[:n_out]
