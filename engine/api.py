"""The public strategy API: everything a strategy module needs from the engine, in one place.

A strategy imports from here (plus numpy and numba for a batch kernel) and from nowhere else
in ``engine``::

    from engine.api import SMA, Strategy, StrategyParams, param

    class SmaCross(Strategy):
        class Params(StrategyParams):
            fast: int = param(10, low=2, high=500, doc="fast SMA length, in events")
            slow: int = param(30, low=3, high=2000, doc="slow SMA length, in events")

        def on_start(self) -> None:
            self.fast, self.slow = SMA(self.params.fast), SMA(self.params.slow)
            self.long = False

        def on_price(self, price: float) -> None:
            above = self.fast.update(price) > self.slow.update(price)
            if self.slow.ready and above != self.long:
                self.long = above      # hold 95% of this strategy's share of equity, or none
                self.ctx.order_target_percent(0.95 if above else 0.0, price)

What is here:

- the Strategy class, its parameter declarations and the context it trades through
  (``ctx.buy``, ``ctx.sell`` with their bracket keywords, ``ctx.submit_order`` and the order
  types, ``ctx.stop_loss`` / ``ctx.take_profit`` / ``ctx.trailing_stop``, ``ctx.order_target``,
  ``ctx.order_target_percent``, ``ctx.cancel``; ``ctx.position``, ``ctx.equity``,
  ``ctx.capital_share``, ``ctx.now_ns()``);
- the market data and order event messages the hooks receive;
- every indicator, in its incremental form (``SMA``), its vectorized form (``sma``) and its
  step function for batch kernels (``sma_init`` / ``sma_step``); and ``step``, the decorator
  that makes a strategy's own arithmetic one function for both its hooks and its kernel;
- the batch path: :class:`EventBatch` in, :class:`Intents` out, built with
  :func:`target_percent`, :func:`target_qty`, :func:`order_qty` or, from a kernel's dense
  per-event targets, :func:`percent_targets` / :func:`qty_targets`;
- the feed kinds, time units and :class:`ConfigError` for a parameter check.
"""

from __future__ import annotations

from engine.data.schema import BAR, QUOTE, TRADE
from engine.errors import ConfigError
from engine.indicators import *  # noqa: F403 - the whole indicator library is public API
from engine.indicators import __all__ as _indicators
from engine.indicators._base import step
from engine.intents import (ORDER_QTY, TARGET_PERCENT, TARGET_QTY, EventBatch, Intents, order_qty,
                            percent_targets, qty_targets, target_percent, target_qty)
from engine.messages import (BUY, GTC, IOC, LIMIT, MARKET, SELL, STOP, STOP_LIMIT, TRAILING_STOP,
                             Bar, OrderCanceled, OrderDenied, OrderFilled, OrderRejected, Quote,
                             Trade)
from engine.strategy import Strategy, StrategyContext, StrategyParams, allocation_param, param
from engine.timeframes import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, timeframe_to_ns

__all__ = [
    "BAR", "BUY", "GTC", "IOC", "LIMIT", "MARKET", "NS_PER_DAY", "NS_PER_HOUR", "NS_PER_MINUTE",
    "NS_PER_SECOND", "ORDER_QTY", "QUOTE", "SELL", "STOP", "STOP_LIMIT", "TARGET_PERCENT",
    "TARGET_QTY", "TRADE", "TRAILING_STOP",
    "Bar", "ConfigError", "EventBatch", "Intents", "OrderCanceled", "OrderDenied",
    "OrderFilled", "OrderRejected", "Quote", "Strategy", "StrategyContext", "StrategyParams",
    "Trade", "allocation_param", "order_qty", "param", "percent_targets", "qty_targets",
    "step", "target_percent", "target_qty", "timeframe_to_ns",
    *_indicators,
]
