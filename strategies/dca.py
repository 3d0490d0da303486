"""Dollar-cost averaging with dip buying and an optional take-profit exit.

Every event with a finite price ``p`` at event time ``t`` runs these steps, in order:

1. Take-profit (only when ``take_profit_pct`` > 0 and something was bought since the last
   exit): when ``p >= cost / quantity * (1 + take_profit_pct / 100)``, sell everything
   (``ctx.order_target(0)``), forget the bookkeeping, count this interval as served and
   restart the dip reference at ``p``; nothing else happens on this event.
2. Periodic buy: on the first event of each ``interval``-long slot of the UTC grid
   (``t // interval`` changes; ``"1d"`` buys on the first event of each UTC day), buy
   ``amount`` of quote currency: a market ``ctx.buy(amount / p)``. Slots without events are
   not made up for.
3. Dip buy: the reference high is the highest price of the last ``lookback`` events before
   this one, counting only events since the last dip buy (that event included). When
   ``p <= high * (1 - dip_pct / 100)``, buy ``dip_amount`` of quote currency
   (``ctx.buy(dip_amount / p)``) and restart the reference at ``p``, so a continuing fall
   buys again at each further ``dip_pct`` step down.

Take-profit is defined on signal prices, not fills: ``cost`` and ``quantity`` add up the
``amount`` (or ``dip_amount``) and the ``amount / p`` of each buy the strategy *decided*, at
the event price ``p``. The true average entry depends on fills (fees, slippage, partial or
refused orders), which a batch path cannot see; defining the exit on signal prices makes the
hooks and the batch path place exactly the same orders. The exit itself sells the real
position. Prices are bar closes, trade prices or quote mids; ``t`` is the event time (a bar's
close time). An event with a NaN or infinite price is skipped and does not count towards
``lookback``.

The batch path (``on_batch``) runs the same steps in a numba kernel (a monotonic queue for the
rolling high) and yields the same orders: ``ORDER_QTY`` buys and ``TARGET_QTY`` 0 exits.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from numba import njit

from engine.errors import ConfigError
from engine.intents import ORDER_QTY, TARGET_QTY, EventBatch, Intents
from engine.messages import Bar, Quote, Trade
from engine.strategy import Strategy, StrategyParams, param
from engine.timeframes import timeframe_to_ns

_NO_SLOT = -(1 << 63)   # before the first event: every slot is new


class Dca(Strategy):
    """Periodic buys of a fixed quote amount, extra buys on dips, optional take-profit."""

    name = "dca"

    class Params(StrategyParams):
        interval: str = param("1d", doc="time between periodic buys, e.g. 1h, 1d, 1w "
                                        "(slots of the UTC grid, event time)")
        amount: float = param(100.0, low=0.0, high=1e12,
                              doc="quote currency bought each interval; 0 for dip buys only")
        dip_amount: float = param(100.0, low=0.0, high=1e12,
                                  doc="quote currency bought on each dip; 0 disables dips")
        dip_pct: float = param(5.0, low=0.1, high=99.0,
                               doc="fall below the reference high that is a dip, percent")
        lookback: int = param(168, low=1, high=10_000_000,
                              doc="events the reference high looks back over")
        take_profit_pct: float = param(0.0, low=0.0, high=10_000.0,
                                       doc="sell everything this far above the average "
                                           "signal price, percent; 0 disables")

        def check(self) -> None:
            try:
                timeframe_to_ns(self.interval)
            except ConfigError:
                raise ConfigError(
                    f"strategy 'dca' parameter 'interval' = {self.interval!r} is not a time "
                    f"interval; allowed a positive count and a unit s, m, h, d or w, such as "
                    f"'1h', '1d', '1w'") from None
            if self.amount == 0.0 and self.dip_amount == 0.0:
                raise ConfigError("strategy 'dca' parameters 'amount' and 'dip_amount' are "
                                  "both 0: it would never buy; set at least one above 0")

    def on_start(self) -> None:
        p = self.params
        self.interval_ns = timeframe_to_ns(p.interval)
        self.dip_factor = 1.0 - p.dip_pct / 100.0
        self.tp_factor = 1.0 + p.take_profit_pct / 100.0
        self.seq = 0                  # finite events seen
        self.slot = _NO_SLOT
        self.cost = 0.0               # quote amounts decided since the last exit
        self.quantity = 0.0           # base quantities decided since the last exit
        self.window: deque[tuple[int, float]] = deque()   # (seq, price), prices decreasing
        # batch path state: the monotonic queue as a ring, [seq, slot, head, count],
        # [cost, quantity]
        self._qseq = np.zeros(p.lookback + 1, dtype=np.int64)
        self._qval = np.zeros(p.lookback + 1)
        self._istate = np.array([0, _NO_SLOT, 0, 0], dtype=np.int64)
        self._fstate = np.zeros(2)

    def on_bar(self, bar: Bar) -> None:
        self._on_price(bar.close, bar.ts_event)

    def on_trade(self, trade: Trade) -> None:
        self._on_price(trade.price, trade.ts_event)

    def on_quote(self, quote: Quote) -> None:
        self._on_price((quote.bid + quote.ask) / 2, quote.ts_event)

    def _on_price(self, price: float, ts: int) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        p = self.params
        seq = self.seq
        self.seq = seq + 1
        window = self.window
        slot = ts // self.interval_ns
        if (p.take_profit_pct > 0.0 and self.quantity > 0.0
                and price >= self.cost / self.quantity * self.tp_factor):
            self.ctx.order_target(0.0)
            self.cost = 0.0
            self.quantity = 0.0
            self.slot = slot
            window.clear()
            window.append((seq, price))
            return
        if slot != self.slot:
            self.slot = slot
            if p.amount > 0.0:
                qty = p.amount / price
                self.ctx.buy(qty)
                self.cost += p.amount
                self.quantity += qty
        while window and window[0][0] < seq - p.lookback:
            window.popleft()
        if window and p.dip_amount > 0.0 and price <= window[0][1] * self.dip_factor:
            qty = p.dip_amount / price
            self.ctx.buy(qty)
            self.cost += p.dip_amount
            self.quantity += qty
            window.clear()
        else:
            while window and window[-1][1] <= price:
                window.pop()
        window.append((seq, price))

    def on_batch(self, batch: EventBatch) -> Intents:
        p = self.params
        price = np.ascontiguousarray(batch.price, dtype=np.float64)
        ts = np.ascontiguousarray(batch.ts, dtype=np.int64)
        index, kind, value = _orders(price, ts, self._qseq, self._qval, self._istate,
                                     self._fstate, self.interval_ns, p.amount, p.dip_amount,
                                     self.dip_factor, p.take_profit_pct > 0.0,
                                     self.tp_factor, p.lookback)
        return Intents(index + batch.start, kind, value, price[index])


@njit(cache=True)
def _orders(price, ts, qseq, qval, istate, fstate, interval, amount, dip_amount, dip_factor,
            take_profit, tp_factor, lookback):  # pragma: no cover - compiled
    """Rows, kinds (``ORDER_QTY`` buys, ``TARGET_QTY`` exits) and values of the orders.

    ``qseq``/``qval`` hold the monotonic queue of (event number, price) as a ring;
    ``istate`` = [events seen, slot, queue head, queue length], ``fstate`` = [cost,
    quantity]; the arithmetic is the hook's, step for step.
    """
    cap = qseq.shape[0]
    seq, last_slot, head, count = istate[0], istate[1], istate[2], istate[3]
    cost, quantity = fstate[0], fstate[1]
    n = price.shape[0]
    out_i = np.empty(2 * n, np.int64)
    out_k = np.empty(2 * n, np.int8)
    out_v = np.empty(2 * n, np.float64)
    n_out = 0
    for i in range(n):
        x = price[i]
        if x - x != 0.0 or x != x:
            continue         # NaN or infinite price: skipped, as the hook does
        s = seq
        seq += 1
        slot = ts[i] // interval
        if take_profit and quantity > 0.0 and x >= cost / quantity * tp_factor:
            out_i[n_out] = i
            out_k[n_out] = TARGET_QTY
            out_v[n_out] = 0.0
            n_out += 1
            cost = 0.0
            quantity = 0.0
            last_slot = slot
            head = 0
            qseq[0] = s
            qval[0] = x
            count = 1
            continue
        if slot != last_slot:
            last_slot = slot
            if amount > 0.0:
                qty = amount / x
                out_i[n_out] = i
                out_k[n_out] = ORDER_QTY
                out_v[n_out] = qty
                n_out += 1
                cost += amount
                quantity += qty
        while count > 0 and qseq[head] < s - lookback:
            head += 1
            if head == cap:
                head = 0
            count -= 1
        if count > 0 and dip_amount > 0.0 and x <= qval[head] * dip_factor:
            qty = dip_amount / x
            out_i[n_out] = i
            out_k[n_out] = ORDER_QTY
            out_v[n_out] = qty
            n_out += 1
            cost += dip_amount
            quantity += qty
            count = 0
        else:
            while count > 0:
                back = head + count - 1
                if back >= cap:
                    back -= cap
                if qval[back] <= x:
                    count -= 1
                else:
                    break
        back = head + count
        if back >= cap:
            back -= cap
        qseq[back] = s
        qval[back] = x
        count += 1
    istate[0], istate[1], istate[2], istate[3] = seq, last_slot, head, count
    fstate[0], fstate[1] = cost, quantity
    return out_i[:n_out], out_k[:n_out], out_v[:n_out]
