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

Indicators: ``engine.indicators.Correlation`` of the pairs (its window sums are kept as sums
of deviations from anchors, re-added once per ``period`` pairs and whenever cancellation would
cost more than 12 bits, so long runs do not drift and a flat window gives exactly no
correlation; clipped to ``[-1, 1]``); ``dp`` and the window's price change are ``MOM(1)`` and
``MOM(period)`` of the prices.

The batch path (``on_batch``) runs the same indicators (their step functions) and the same
rule in a numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (BAR, MOM, QUOTE, Bar, ConfigError, Correlation, EventBatch, Intents, Quote,
                        Strategy, StrategyParams, Trade, allocation_param, correlation_init,
                        correlation_step, lag_init, mom_step, param, percent_targets, step)


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
        allocation: float = allocation_param()

        def check(self) -> None:
            if self.exit_corr >= self.entry_corr:
                raise ConfigError(
                    f"strategy 'volume_price_correlation' parameter 'exit_corr' = "
                    f"{self.exit_corr!r} must be below entry_corr ({self.entry_corr!r})")

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.change = MOM(1)               # dp, the price change since the previous event
        self.rise = MOM(p.period)          # the window's price change
        self.correlation = Correlation(p.period)
        self.corr = math.nan               # the window's correlation after the last pair
        self.long = 0                      # 1 long, 0 flat
        self.rule = (p.entry_corr, p.exit_corr)
        self._kernel: tuple[Any, ...] = (lag_init(1), lag_init(p.period),
                                         correlation_init(p.period), 0)

    def on_bar(self, bar: Bar) -> None:
        self._on_event(bar.close, bar.volume)

    def on_trade(self, trade: Trade) -> None:
        self._on_event(trade.price, trade.size)

    def on_quote(self, quote: Quote) -> None:
        raise _needs_volume()

    def _on_event(self, price: float, volume: float) -> None:
        if price - price or volume - volume:
            return           # NaN or infinite price or volume: skipped, state unchanged
        dp = self.change.update(price)
        rise = self.rise.update(price)
        if dp != dp:
            return           # the first price: no pair yet
        self.corr = self.correlation.update(volume, dp)
        long = _long(self.long, self.corr, rise, *self.rule)
        if long != self.long:
            self.long = long
            self.ctx.order_target_percent(long * self.params.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents:
        if batch.kind == QUOTE:
            raise _needs_volume()
        volume = batch.volume if batch.kind == BAR else batch.size
        targets, self._kernel = _signals(batch.price, volume, self.params.allocation,
                                         *self.rule, *self._kernel)
        return percent_targets(batch, targets)


def _needs_volume() -> ConfigError:
    return ConfigError("strategy 'volume_price_correlation' needs bars or trades (traded "
                       "volume); it got quotes")


@step
def _long(long: int, corr: float, rise: float, entry_corr: float, exit_corr: float) -> int:
    """1 to hold after an accumulation, 0 after a distribution (NaN correlation: no change)."""
    if long == 0:
        return 1 if corr >= entry_corr and rise > 0.0 else 0
    return 0 if corr <= exit_corr and rise < 0.0 else 1


@njit(cache=True)
def _signals(price: Any, volume: Any, allocation: float, entry_corr: float, exit_corr: float,
             change: Any, rise: Any, correlation: Any,
             long: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each accumulation entry or distribution exit (NaN elsewhere)."""
    change, change_buf = change
    rise, rise_buf = rise
    correlation, xs, ys = correlation
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        p, v = price[i], volume[i]
        if p - p or v - v:
            continue         # NaN or infinite price or volume: skipped, as the hook does
        dp, change = mom_step(change, change_buf, p)
        up, rise = mom_step(rise, rise_buf, p)
        if dp != dp:
            continue
        corr, correlation = correlation_step(correlation, xs, ys, v, dp)
        now = _long(long, corr, up, entry_corr, exit_corr)
        if now != long:
            long = now
            out[i] = long * allocation
    return out, ((change, change_buf), (rise, rise_buf), (correlation, xs, ys), long)
