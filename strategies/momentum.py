"""Momentum: long while the rate of change over ``lookback`` bars exceeds ``threshold``.

Entry: when the close's rate of change over ``lookback`` bars (``close / close[-lookback] -
1``) rises above ``threshold``, buy so the position is worth ``allocation`` of this
strategy's share of equity (``ctx.capital_share``). Exit: when it falls below ``-threshold``, sell the position (or, with ``allow_short``, go
short the same notional). Between the two bands the position is kept. Market orders, filled
at the next bar's open. Nothing happens until ``lookback + 1`` bars have been seen.
"""

from __future__ import annotations

from engine.indicators import ROC
from engine.messages import Bar
from engine.strategy import Strategy, StrategyParams, param


class Momentum(Strategy):
    """Time-series momentum on the rate of change."""

    name = "momentum"

    class Params(StrategyParams):
        lookback: int = param(20, low=1, high=2000, doc="rate-of-change window, in bars")
        threshold: float = param(0.01, low=0.0, high=1.0,
                                 doc="entry band: enter above +threshold, exit below -threshold")
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="go short below -threshold instead of flat")

    def on_start(self) -> None:
        self.roc = ROC(self.params.lookback)
        self.state = 0  # +1 long, -1 short or flat-after-exit, 0 not yet decided

    def on_bar(self, bar: Bar) -> None:
        change = self.roc.update(bar.close)
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
        ctx = self.ctx
        notional = self.params.allocation * ctx.equity * ctx.capital_share
        if signal == 1:
            ctx.order_target(notional / bar.close)
        elif self.params.allow_short:
            ctx.order_target(-notional / bar.close)
        else:
            ctx.order_target(0.0)
