"""Bollinger Bands breakout (trend following): buy a close above the upper band, hold while
the price stays above the middle band.

Bands: ``BollingerBands(period, nbdev, nbdev)`` of the prices (bar closes, trade prices or quote
mids), the newest price included: the middle band is the mean of the last ``period`` prices,
the upper and lower bands ``nbdev`` population standard deviations above and below it.

Entry (only while flat): a price strictly above the upper band buys, so the position is worth
``allocation`` of this strategy's share of equity (``allocation * equity * capital_share /
price``, through ``ctx.order_target_percent``). With ``allow_short``, a price strictly below
the lower band while flat sells short the same notional.
Exit: while long, the first price strictly below the middle band sells the whole position
(target 0); while short, the first price strictly above the middle band buys it back. An exit
never enters the other side on the same event; the next events may.

This is the trend twin of ``bollinger_reversion``, which buys below the lower band instead.
Market orders, filled at the next event (plus latency). Warm-up: nothing happens before
``period`` prices have been seen. A NaN or infinite price is skipped (state unchanged). Since
a price is part of its own window it can lie at most ``sqrt(period - 1)`` standard deviations
from the mean, so ``nbdev`` must be below that.

The batch path (``on_batch``) runs the same bands (the Bollinger step function) and rules in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

from engine.api import param
from strategies._bollinger import BollingerParams, BollingerStrategy


class BollingerBandsStrategy(BollingerStrategy):
    """Trend following on closes outside the Bollinger Bands."""

    name = "bollinger_bands"
    trend = True

    class Params(BollingerParams):
        allow_short: bool = param(False, doc="also sell short below the lower band")
