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

The window's arithmetic is written once, as steps shared by both paths, on a ring buffer
grown as needed (by the hook when it is full, by the batch path before each chunk); the batch
path (``on_batch``) runs them in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (NS_PER_SECOND, TRADE, Bar, ConfigError, EventBatch, Intents, Quote,
                        Strategy, StrategyParams, Trade, allocation_param, param, percent_targets,
                        step)


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
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short below -threshold instead of flat")

        def check(self) -> None:
            if self.half_life_s > self.window_s:
                raise ConfigError(
                    f"strategy 'order_flow_imbalance' parameter 'half_life_s' = "
                    f"{self.half_life_s!r} must be <= window_s ({self.window_s!r}): a longer "
                    f"half-life leaves every trade in the window at over half weight")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.window = (round(p.window_s * NS_PER_SECOND),
                       math.log(2.0) / (p.half_life_s * NS_PER_SECOND),   # decay per ns
                       p.min_trades)
        self.rule = (p.threshold, p.allocation, -p.allocation if p.allow_short else 0.0)
        # the window: anchor, ring head, trades in it, buys, sells, started, anchored buy and
        # sell weights; and its ring of (time, weight, side)
        self.flow = (0, 0, 0, 0, 0, 0, 0.0, 0.0)
        ring = (np.zeros(64, dtype=np.int64), np.zeros(64), np.zeros(64, dtype=np.int64))
        self.ring = _lists(ring)
        self.signal = 0               # +1 long, -1 after an exit signal, 0 not yet decided
        self._kernel = (self.flow, ring, 0)

    def on_bar(self, bar: Bar) -> None:
        raise _needs_trades("bars")

    def on_quote(self, quote: Quote) -> None:
        raise _needs_trades("quotes")

    def on_trade(self, trade: Trade) -> None:
        price, size = trade.price, trade.size
        if price - price or size - size:
            return           # NaN or infinite price or size: skipped, state unchanged
        if self.flow[2] == len(self.ring[0]):
            ring, self.flow = _grown(self.ring, self.flow, self.flow[2] + 1)
            self.ring = _lists(ring)
        (window, rate, min_trades), (stamps, weights, sides) = self.window, self.ring
        t = trade.ts_event
        flow = _expire(self.flow, stamps, weights, sides, t - window)
        if _due(flow, t, window):
            flow = _reanchor(flow, weights, sides, t, rate)
        self.flow = _append(flow, stamps, weights, sides, t, size, trade.aggressor, rate)
        imbalance = _imbalance(self.flow, min_trades)
        threshold, long, short = self.rule
        signal = 1 if imbalance > threshold else -1 if imbalance < -threshold else self.signal
        if signal != self.signal:
            self.signal = signal
            self.ctx.order_target_percent(long if signal == 1 else short, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind != TRADE:
            raise _needs_trades(batch.kind + "s")
        flow, ring, signal = self._kernel
        if flow[2] + len(batch) > len(ring[0]):
            ring, flow = _grown(ring, flow, flow[2] + len(batch))
        targets, self._kernel = _imbalances(batch.ts, batch.price, batch.size, batch.side,
                                            *self.window, *self.rule, flow, ring, signal)
        return percent_targets(batch, targets)


def _needs_trades(got: str) -> ConfigError:
    return ConfigError(f"strategy 'order_flow_imbalance' needs a trade feed with aggressor "
                       f"sides; it got {got} (use trade data, e.g. --data synthetic:trades)")


def _grown(ring: Any, flow: Any, need: int) -> tuple[Any, Any]:
    """The ring enlarged to hold ``need`` trades and turned so that its oldest trade is at
    position 0, and the window's state with its head there."""
    extra = max(need, 2 * len(ring[0])) - len(ring[0])
    grown = tuple(np.pad(np.roll(np.asarray(buf), -flow[1]), (0, extra)) for buf in ring)
    return grown, (flow[0], 0, *flow[2:])


def _lists(ring: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """The ring as lists, for the hook (plain floats and ints run faster in Python)."""
    stamps, weights, sides = ring
    return stamps.tolist(), weights.tolist(), sides.tolist()


# The window's steps, run in this order on each trade by the hook and the kernel. They are
# small on purpose: a small step is inlined into the kernel, while a large one taking arrays
# stays a call that increments and decrements each array's reference count on every trade
# (1.7x slower here); _reanchor, the large one, runs once per window.

@step
def _expire(flow: Any, stamps: Any, weights: Any, sides: Any, horizon: int) -> Any:
    """The window without its trades at or before ``horizon``; an empty side weighs 0."""
    anchor, head, count, n_buy, n_sell, started, buy, sell = flow
    cap = len(stamps)
    while count > 0 and stamps[head] <= horizon:
        if sides[head] > 0:
            buy -= weights[head]
            n_buy -= 1
        else:
            sell -= weights[head]
            n_sell -= 1
        head += 1
        if head == cap:
            head = 0
        count -= 1
    if n_buy == 0:
        buy = 0.0
    if n_sell == 0:
        sell = 0.0
    return anchor, head, count, n_buy, n_sell, started, buy, sell


@step
def _due(flow: Any, t: int, window: int) -> bool:
    """Whether the window re-anchors at ``t``: at the first trade, then once per ``window``
    of event time."""
    return not flow[5] or t - flow[0] >= window


@step
def _reanchor(flow: Any, weights: Any, sides: Any, t: int, rate: float) -> Any:
    """The window anchored at ``t``: its weights rescaled and their sums re-added."""
    anchor, head, count, n_buy, n_sell, _, buy, sell = flow
    shift = math.exp((anchor - t) * rate)
    buy = 0.0
    sell = 0.0
    j = head
    for _ in range(count):
        w = weights[j] * shift
        weights[j] = w
        if sides[j] > 0:
            buy += w
        else:
            sell += w
        j += 1
        if j == len(weights):
            j = 0
    return t, head, count, n_buy, n_sell, 1, buy, sell


@step
def _append(flow: Any, stamps: Any, weights: Any, sides: Any, t: int, size: float, side: int,
            rate: float) -> Any:
    """The window with a trade added (the ring has room for it; unknown sides are not)."""
    anchor, head, count, n_buy, n_sell, started, buy, sell = flow
    if side == 0:
        return flow
    w = size * math.exp((t - anchor) * rate)
    back = head + count
    if back >= len(stamps):
        back -= len(stamps)
    stamps[back] = t
    weights[back] = w
    sides[back] = side
    if side > 0:
        return anchor, head, count + 1, n_buy + 1, n_sell, started, buy + w, sell
    return anchor, head, count + 1, n_buy, n_sell + 1, started, buy, sell + w


@step
def _imbalance(flow: Any, min_trades: int) -> float:
    """The window's imbalance, NaN while it has fewer than ``min_trades`` sided trades or no
    weight."""
    n_buy, n_sell, buy, sell = flow[3], flow[4], flow[6], flow[7]
    total = buy + sell
    if n_buy + n_sell < min_trades or total <= 0.0:
        return math.nan
    return (buy - sell) / total


@njit(cache=True)
def _imbalances(ts: Any, price: Any, size: Any, side: Any, window: int, rate: float,
                min_trades: int, threshold: float, long: float, short: float, flow: Any,
                ring: Any, signal: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each change of signal (NaN elsewhere)."""
    stamps, weights, sides = ring
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x, v, t = price[i], size[i], ts[i]
        if x - x or v - v:
            continue         # NaN or infinite price or size: skipped, as the hook does
        flow = _expire(flow, stamps, weights, sides, t - window)
        if _due(flow, t, window):
            flow = _reanchor(flow, weights, sides, t, rate)
        flow = _append(flow, stamps, weights, sides, t, v, side[i], rate)
        imbalance = _imbalance(flow, min_trades)
        now = 1 if imbalance > threshold else -1 if imbalance < -threshold else signal
        if now != signal:
            signal = now
            out[i] = long if now == 1 else short
    return out, (flow, ring, signal)
