"""SMA crossover: long while the fast simple moving average is above the slow one.

Entry: when the fast SMA of closes crosses above the slow SMA, buy so the position is worth
``allocation`` of this strategy's share of portfolio equity (``ctx.capital_share``) at the
bar's close. Exit: when the fast SMA crosses below
the slow SMA, sell the whole position; with ``allow_short`` it also goes short the same
notional. Orders are market orders, so they fill at the next bar's open (plus latency).
Nothing happens until ``slow`` bars have been seen.
"""

from __future__ import annotations

from engine.errors import ConfigError
from engine.indicators import SMA
from engine.messages import Bar
from engine.strategy import Strategy, StrategyParams, param


class SmaCross(Strategy):
    """Fast/slow simple moving average crossover."""

    name = "sma_cross"

    class Params(StrategyParams):
        fast: int = param(10, low=2, high=500, doc="fast SMA length, in bars")
        slow: int = param(30, low=3, high=2000, doc="slow SMA length, in bars")
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
        # bound once: on_bar runs for every bar, so it avoids repeated attribute lookups
        self._update_fast = self.fast.update
        self._update_slow = self.slow.update
        self.above: bool | None = None

    def on_bar(self, bar: Bar) -> None:
        close = bar.close
        fast = self._update_fast(close)
        slow = self._update_slow(close)
        above = fast > slow          # False while the slow SMA is NaN (not ready)
        if above is self.above:
            return
        if not self.slow.ready:
            return
        first = self.above is None
        self.above = above
        if first:
            return  # no cross yet: the averages just became available
        ctx = self.ctx
        notional = self.params.allocation * ctx.equity * ctx.capital_share
        if above:
            ctx.order_target(notional / close)
        elif self.params.allow_short:
            ctx.order_target(-notional / close)
        else:
            ctx.order_target(0.0)
