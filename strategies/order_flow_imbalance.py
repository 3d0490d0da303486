"""Order-flow imbalance: long while aggressive buying outweighs aggressive selling.

Data: trades with an aggressor side (+1 buyer-initiated, -1 seller-initiated). Trades of
unknown side (0) are ignored. Bars and quotes carry no aggressor, so they are refused: the
first bar or quote (or bar/quote batch) raises ``ConfigError`` and the engine faults the
strategy with that message. (``on_start`` cannot tell which feed it will get.)

Imbalance at a trade at event time ``t``: over the trades of the last ``window_s`` seconds,
``(t - window_s, t]``, each weighed by its size and by ``2 ** (-(t - t_i) / half_life_s)``
(exponential decay with half-life ``half_life_s``, in event time, never wall-clock time)::

    imbalance = (buy_volume - sell_volume) / (buy_volume + sell_volume)

in ``[-1, 1]``. It is undefined (no signal) while fewer than ``min_trades`` sided trades are
in the window. Entry: when it rises above ``+threshold``, buy so the position is worth
``allocation`` of this strategy's share of equity (``ctx.order_target_percent``). Exit: when it
falls below ``-threshold``, go flat (or, with ``allow_short``, short the same notional). In
between the position is kept; an order is placed only when the side changes. Market orders,
filled at the next event. A trade with a NaN or infinite price or size is skipped.

Arithmetic: each trade's weight is kept relative to an anchor time ``a`` as ``size *
exp(ln2 / half_life * (t_i - a))``; the decay to ``t`` multiplies both volumes by the same
factor, which cancels in the ratio. Expired trades are subtracted; the anchor moves to the
current trade and both sums are re-added from the window once per ``window_s`` of event time,
so rounding cannot accumulate, and an empty side is exactly 0.

The batch path (``on_batch``) runs the same window in a numba kernel (a ring buffer grown
between chunks as needed) and yields the same orders.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numba import njit

from engine.data.schema import TRADE
from engine.errors import ConfigError
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param

NS_PER_SECOND = 1_000_000_000


class OrderFlowImbalance(Strategy):
    """Time-decayed aggressive buy/sell volume imbalance over a short trade window."""

    name = "order_flow_imbalance"

    class Params(StrategyParams):
        window_s: float = param(20.0, low=10.0, high=30.0,
                                doc="trades of the last this many seconds count, event time")
        half_life_s: float = param(5.0, low=0.1, high=30.0,
                                   doc="a trade's weight halves every this many seconds")
        threshold: float = param(0.3, low=0.0, high=0.99,
                                 doc="enter above +threshold, exit below -threshold")
        min_trades: int = param(5, low=1, high=1_000_000,
                                doc="sided trades the window needs before it signals")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short below -threshold instead of flat")

        def check(self) -> None:
            if self.half_life_s > self.window_s:
                raise ConfigError(
                    f"strategy 'order_flow_imbalance' parameter 'half_life_s' = "
                    f"{self.half_life_s!r} must be <= window_s ({self.window_s!r}): a longer "
                    f"half-life leaves every trade in the window at over half weight")

    def on_start(self) -> None:
        p = self.params
        self.window_ns = round(p.window_s * NS_PER_SECOND)
        self.rate = math.log(2.0) / (p.half_life_s * NS_PER_SECOND)   # per ns of event time
        self.trades: deque[tuple[int, float, int]] = deque()  # (ts, weight, side)
        self.anchor = 0
        self.buy = 0.0                # anchored weights of buy / sell trades in the window
        self.sell = 0.0
        self.n_buy = 0
        self.n_sell = 0
        self.started = False
        self.state = 0                # +1 long, -1 after an exit signal, 0 not yet decided
        # batch path state: the window as a ring of (ts, weight, side), grown between chunks;
        # [anchor, head, length, buys, sells, started, state], [buy, sell]
        self._ts = np.zeros(64, dtype=np.int64)
        self._w = np.zeros(64)
        self._side = np.zeros(64, dtype=np.int64)
        self._istate = np.zeros(7, dtype=np.int64)
        self._fstate = np.zeros(2)

    def on_bar(self, bar: Bar) -> None:
        raise _needs_trades("bars")

    def on_quote(self, quote: Quote) -> None:
        raise _needs_trades("quotes")

    def on_trade(self, trade: Trade) -> None:
        price, size = trade.price, trade.size
        if price - price or size - size:
            return           # NaN or infinite price or size: skipped, state unchanged
        side = trade.aggressor
        t = trade.ts_event
        trades = self.trades
        horizon = t - self.window_ns
        while trades and trades[0][0] <= horizon:
            _, w, s = trades.popleft()
            if s > 0:
                self.buy -= w
                self.n_buy -= 1
            else:
                self.sell -= w
                self.n_sell -= 1
        if self.n_buy == 0:
            self.buy = 0.0
        if self.n_sell == 0:
            self.sell = 0.0
        if not self.started or t - self.anchor >= self.window_ns:
            self._reanchor(t)
        if side != 0:
            w = size * math.exp((t - self.anchor) * self.rate)
            trades.append((t, w, side))
            if side > 0:
                self.buy += w
                self.n_buy += 1
            else:
                self.sell += w
                self.n_sell += 1
        if self.n_buy + self.n_sell < self.params.min_trades:
            return
        total = self.buy + self.sell
        if total <= 0.0:
            return
        imbalance = (self.buy - self.sell) / total
        threshold = self.params.threshold
        if imbalance > threshold:
            signal = 1
        elif imbalance < -threshold:
            signal = -1
        else:
            return
        if signal == self.state:
            return
        self.state = signal
        self.ctx.order_target_percent(self._fraction(signal), price)

    def _reanchor(self, t: int) -> None:
        """Move the anchor to ``t`` and re-add the window's weights from their trades."""
        self.started = True
        shift = math.exp((self.anchor - t) * self.rate)
        buy = 0.0
        sell = 0.0
        trades = self.trades
        for j in range(len(trades)):
            ts, w, s = trades[j]
            w = w * shift
            trades[j] = (ts, w, s)
            if s > 0:
                buy += w
            else:
                sell += w
        self.anchor = t
        self.buy = buy
        self.sell = sell

    def _fraction(self, signal: int) -> float:
        p = self.params
        if signal == 1:
            return p.allocation
        return -p.allocation if p.allow_short else 0.0

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind != TRADE:
            raise _needs_trades(batch.kind + "s")
        n = len(batch)
        if self._istate[2] + n > len(self._ts):
            self._grow(self._istate[2] + n)
        price = np.ascontiguousarray(batch.price, dtype=np.float64)
        index, signal = _signals(
            np.ascontiguousarray(batch.ts, dtype=np.int64), price,
            np.ascontiguousarray(batch.size, dtype=np.float64),
            np.ascontiguousarray(batch.side, dtype=np.int64), self._ts, self._w, self._side,
            self._istate, self._fstate, self.window_ns, self.rate, self.params.min_trades,
            self.params.threshold)
        return target_percent(batch, index,
                              np.where(signal == 1, self._fraction(1), self._fraction(-1)))

    def _grow(self, need: int) -> None:
        """Enlarge the ring to hold ``need`` trades, oldest first from position 0."""
        size = max(need, 2 * len(self._ts))
        head, count = int(self._istate[1]), int(self._istate[2])
        order = (head + np.arange(count)) % len(self._ts)
        for name in ("_ts", "_w", "_side"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[:count] = old[order]
            setattr(self, name, new)
        self._istate[1] = 0


def _needs_trades(got: str) -> ConfigError:
    return ConfigError(f"strategy 'order_flow_imbalance' needs a trade feed with aggressor "
                       f"sides; it got {got} (use trade data, e.g. --data synthetic:trades)")


@njit(cache=True)
def _signals(ts, price, size, side, rts, rw, rside, istate, fstate, window, rate, min_trades,
             threshold):  # pragma: no cover - compiled
    """Positions where the band signal changes, and the new signal (+1 / -1).

    ``rts``/``rw``/``rside`` are the window's ring (room for every trade of this chunk);
    ``istate`` = [anchor, head, length, buys, sells, started, state], ``fstate`` = [buy,
    sell]; the arithmetic is the hook's, step for step.
    """
    cap = rts.shape[0]
    anchor, head, count = istate[0], istate[1], istate[2]
    n_buy, n_sell, started, state = istate[3], istate[4], istate[5], istate[6]
    buy, sell = fstate[0], fstate[1]
    out_i = np.empty(price.shape[0], np.int64)
    out_s = np.empty(price.shape[0], np.int64)
    n_out = 0
    for i in range(price.shape[0]):
        x = price[i]
        v = size[i]
        if x - x != 0.0 or x != x or v - v != 0.0 or v != v:
            continue         # NaN or infinite price or size: skipped, as the hook does
        t = ts[i]
        horizon = t - window
        while count > 0 and rts[head] <= horizon:
            if rside[head] > 0:
                buy -= rw[head]
                n_buy -= 1
            else:
                sell -= rw[head]
                n_sell -= 1
            head += 1
            if head == cap:
                head = 0
            count -= 1
        if n_buy == 0:
            buy = 0.0
        if n_sell == 0:
            sell = 0.0
        if started == 0 or t - anchor >= window:
            started = 1
            shift = math.exp((anchor - t) * rate)
            buy = 0.0
            sell = 0.0
            j = head
            for _ in range(count):
                w = rw[j] * shift
                rw[j] = w
                if rside[j] > 0:
                    buy += w
                else:
                    sell += w
                j += 1
                if j == cap:
                    j = 0
            anchor = t
        s = side[i]
        if s != 0:
            w = v * math.exp((t - anchor) * rate)
            back = head + count
            if back >= cap:
                back -= cap
            rts[back] = t
            rw[back] = w
            rside[back] = s
            count += 1
            if s > 0:
                buy += w
                n_buy += 1
            else:
                sell += w
                n_sell += 1
        if n_buy + n_sell < min_trades:
            continue
        total = buy + sell
        if total <= 0.0:
            continue
        imbalance = (buy - sell) / total
        if imbalance > threshold:
            signal = 1
        elif imbalance < -threshold:
            signal = -1
        else:
            continue
        if signal == state:
            continue
        state = signal
        out_i[n_out] = i
        out_s[n_out] = signal
        n_out += 1
    istate[0], istate[1], istate[2] = anchor, head, count
    istate[3], istate[4], istate[5], istate[6] = n_buy, n_sell, started, state
    fstate[0], fstate[1] = buy, sell
    return out_i[:n_out], out_s[:n_out]
