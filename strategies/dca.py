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

The batch path (``on_batch``) runs the same steps (the hooks' own functions, with a monotonic
queue for the rolling high) in a numba kernel and yields the same orders: ``ORDER_QTY`` buys
and ``TARGET_QTY`` 0 exits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (ORDER_QTY, TARGET_QTY, Bar, ConfigError, EventBatch, Intents, Quote,
                        Strategy, StrategyParams, Trade, param, queue_init, queue_push, step,
                        timeframe_to_ns)

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

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.rule: tuple[Any, ...] = (timeframe_to_ns(p.interval), p.amount, p.dip_amount,
                                      1.0 - p.dip_pct / 100.0, p.take_profit_pct > 0.0,
                                      1.0 + p.take_profit_pct / 100.0)
        self.book = (_NO_SLOT, 0.0, 0.0)    # slot, cost and quantity since the last exit
        # the reference high: events seen, its monotonic queue's head and size, the high
        (head, size), values, stamps = queue_init(p.lookback)
        self.reference = (0, head, size, math.nan)
        self.queue = (values.tolist(), stamps.tolist())
        self._kernel: tuple[Any, ...] = (self.book, self.reference, values, stamps)

    def on_bar(self, bar: Bar) -> None:
        self._on_event(bar.close, bar.ts_event)

    def on_trade(self, trade: Trade) -> None:
        self._on_event(trade.price, trade.ts_event)

    def on_quote(self, quote: Quote) -> None:
        self._on_event((quote.bid + quote.ask) / 2, quote.ts_event)

    def _on_event(self, price: float, ts: int) -> None:
        if price - price:
            return           # NaN or infinite price: skipped, state unchanged
        (exit_, buy, dip), restart, self.book = _dca(self.book, self.reference[3], price, ts,
                                                     *self.rule)
        self.reference = _reference(self.reference, *self.queue, price, restart)
        if exit_ == exit_:
            self.ctx.order_target(exit_)
        if buy == buy:
            self.ctx.buy(buy)
        if dip == dip:
            self.ctx.buy(dip)

    def on_batch(self, batch: EventBatch) -> Intents:
        (rows, kinds, values), self._kernel = _orders(batch.price, batch.ts, *self.rule,
                                                      *self._kernel)
        return Intents(rows + batch.start, np.where(kinds == 0, TARGET_QTY, ORDER_QTY), values,
                       batch.price[rows])


@step
def _dca(book: Any, high: float, price: float, ts: int, interval: int, amount: float,
         dip_amount: float, dip_factor: float, take_profit: bool,
         tp_factor: float) -> tuple[tuple[float, float, float], bool, Any]:
    """One event's steps, given the bookkeeping and the reference high: ``(exit, buy, dip)``,
    the target of a take-profit exit (0) and the quantities of the periodic and the dip buy,
    each NaN when not placed; whether the reference restarts at this price; the bookkeeping."""
    slot, cost, quantity = book
    now = ts // interval
    if take_profit and quantity > 0.0 and price >= cost / quantity * tp_factor:
        return (0.0, math.nan, math.nan), True, (now, 0.0, 0.0)
    buy = math.nan
    if now != slot:
        slot = now
        if amount > 0.0:
            buy = amount / price
            cost += amount
            quantity += buy
    dip = math.nan
    restart = dip_amount > 0.0 and price <= high * dip_factor
    if restart:
        dip = dip_amount / price
        cost += dip_amount
        quantity += dip
    return (math.nan, buy, dip), restart, (slot, cost, quantity)


@step
def _reference(reference: Any, values: Any, stamps: Any, price: float,
               restart: bool) -> tuple[int, int, int, float]:
    """The reference after this event: the highest of the last ``lookback`` prices, counting
    only those since a restart (``restart``: from this price on)."""
    seq, head, size, _ = reference
    high, (head, size) = queue_push((head, 0 if restart else size), values, stamps, price, seq,
                                    True)
    return seq + 1, head, size, high


@njit(cache=True)
def _orders(price: Any, ts: Any, interval: int, amount: float, dip_amount: float,
            dip_factor: float, take_profit: bool, tp_factor: float, book: Any, reference: Any,
            values: Any, stamps: Any) -> Any:  # pragma: no cover - compiled
    """The orders in the hook's order: their rows, kinds (0 the exit, 1 the periodic buy, 2
    the dip buy) and values (target or quantity)."""
    rows = np.empty(3 * price.size, np.int64)
    kinds = np.empty(3 * price.size, np.int8)
    out = np.empty(3 * price.size)
    n = 0
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            orders, restart, book = _dca(book, reference[3], x, ts[i], interval, amount,
                                         dip_amount, dip_factor, take_profit, tp_factor)
            reference = _reference(reference, values, stamps, x, restart)
            for kind in range(3):
                if orders[kind] == orders[kind]:
                    rows[n], kinds[n], out[n] = i, kind, orders[kind]
                    n += 1
    return (rows[:n], kinds[:n], out[:n]), (book, reference, values, stamps)
