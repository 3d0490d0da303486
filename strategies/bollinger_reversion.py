"""Bollinger reversion: buy a close below the lower Bollinger Band, sell it back at the middle.

Bands: ``BollingerBands(period, nbdev, nbdev)`` of the prices (bar closes, trade prices or quote
mids), the newest price included: the middle band is the mean of the last ``period`` prices,
the lower and upper bands ``nbdev`` population standard deviations below and above it.

Entry (only while flat): a price strictly below the lower band buys, so the position is worth
``allocation`` of this strategy's share of equity (``allocation * equity * capital_share /
price``, through ``ctx.order_target_percent``). With ``allow_short``, a price strictly above
the upper band while flat sells short the same notional.
Exit: while long, the first price at or above the middle band sells the whole position (target
0); while short, the first price at or below the middle band buys it back. An exit never
enters the other side on the same event; the next events may.

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


class BollingerReversion(BollingerStrategy):
    """Mean reversion from outside the Bollinger Bands to their middle."""

    name = "bollinger_reversion"
    trend = False

    class Params(BollingerParams):
        allow_short: bool = param(False, doc="also sell short above the upper band")
