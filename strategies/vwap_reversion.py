"""VWAP reversion: buy when the price falls a set fraction below the session VWAP, sell when
it is back at the VWAP. Bars and trades only (quotes carry no traded volume).

Indicator: the session VWAP (``engine.indicators.VWAP``): sessions are ``[offset + j*session,
offset + (j+1)*session)`` (by default the UTC day) and the VWAP restarts with each. Bars are
weighted at their typical price ``(high + low + close) / 3`` times volume and belong to the
session they open in; trades are weighted at price times size. The price compared with the
VWAP is the bar's close or the trade's price, the VWAP including that event. While the
session has no volume yet the VWAP is undefined and nothing happens.

Entry (only while flat): a price strictly below ``vwap * (1 - entry_deviation)`` buys, so the
position is worth ``allocation`` of this strategy's share of equity (``allocation * equity *
capital_share / price``, through ``ctx.order_target_percent``). With ``allow_short``, a price
strictly above ``vwap * (1 + entry_deviation)`` while flat sells short the same notional.
Exit: while long, the first price at or above the VWAP sells the whole position (target 0);
while short, the first price at or below it buys it back. A position is kept across a session
boundary and then measured against the new session's VWAP. An exit never enters the other side
on the same event.

Market orders, filled at the next event (plus latency). No other warm-up than the first
volume of a session. An event with a NaN or infinite high, low, close or volume (price or
size for trades) is skipped, state unchanged. A quote feed gets no orders.

The batch path (``on_batch``) runs the same VWAP (its step function) and the same rule in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.api import (BAR, NS_PER_MINUTE, TRADE, VWAP, Bar, ConfigError, EventBatch, Intents,
                        Strategy, StrategyParams, Trade, allocation_param, param, percent_targets,
                        step, typical, typical_price, vwap_init, vwap_step)


class VwapReversion(Strategy):
    """Mean reversion of the price to its session VWAP."""

    name = "vwap_reversion"

    class Params(StrategyParams):
        entry_deviation: float = param(0.005, low=0.0001, high=0.5,
                                       doc="enter when the price is this fraction beyond "
                                           "the VWAP")
        session_minutes: int = param(1440, low=1, high=10080,
                                     doc="session length in minutes (VWAP restarts)")
        offset_minutes: int = param(0, low=0, high=10079,
                                    doc="session start, minutes after the epoch's midnight "
                                        "UTC")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="also sell short above the VWAP band")

        def check(self) -> None:
            if self.offset_minutes >= self.session_minutes:
                raise ConfigError(f"strategy 'vwap_reversion': offset_minutes "
                                  f"({self.offset_minutes}) must be shorter than "
                                  f"session_minutes ({self.session_minutes})")

    params: Params

    def on_start(self) -> None:
        p = self.params
        session = p.session_minutes * NS_PER_MINUTE
        offset = p.offset_minutes * NS_PER_MINUTE
        self.vwap = VWAP(session, offset)
        self.side = 0     # +1 long, -1 short, 0 flat (what this strategy last targeted)
        self.rule = (1.0 - p.entry_deviation, 1.0 + p.entry_deviation, p.allow_short)
        self._kernel = (vwap_init(session, offset), 0)

    def on_bar(self, bar: Bar) -> None:      # weighted at the typical price, timed at the open
        self._on_event(bar.ts_event - bar.interval_ns, typical(bar.high, bar.low, bar.close),
                       bar.close, bar.volume)

    def on_trade(self, trade: Trade) -> None:
        self._on_event(trade.ts_event, trade.price, trade.price, trade.size)

    def _on_event(self, ts: int, weighted: float, price: float, volume: float) -> None:
        # NaN or infinite field (a bar's typical price is finite exactly when its high, low
        # and close are and their sum does not overflow): skipped, state unchanged
        if weighted - weighted + price - price + volume - volume:
            return
        side = _side(self.side, price, self.vwap.update(ts, weighted, volume), *self.rule)
        if side != self.side:
            self.side = side
            self.ctx.order_target_percent(side * self.params.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents | None:
        if batch.kind == BAR:
            weighted, volume = typical_price(batch.high, batch.low, batch.close), batch.volume
        elif batch.kind == TRADE:
            weighted, volume = batch.price, batch.size
        else:
            return None      # quotes: the hooks do nothing either
        targets, self._kernel = _reversions(batch.columns["ts"], weighted, batch.price, volume,
                                            self.params.allocation, *self.rule, *self._kernel)
        return percent_targets(batch, targets)


@step
def _side(side: int, price: float, vwap: float, below: float, above: float,
          allow_short: bool) -> int:
    """The side to hold after a price and the VWAP including it (NaN VWAP: no change)."""
    if vwap != vwap:
        return side          # no volume in this session yet
    if side == 0:
        if price < vwap * below:
            return 1
        if price > vwap * above and allow_short:
            return -1
        return 0
    if (price >= vwap) if side == 1 else (price <= vwap):
        return 0
    return side


@njit(cache=True)
def _reversions(ts: Any, weighted: Any, price: Any, volume: Any, allocation: float,
                below: float, above: float, allow_short: bool, vwap: Any,
                side: int) -> Any:  # pragma: no cover - compiled
    """The target fraction at each change of side (NaN elsewhere)."""
    out = np.full(price.size, np.nan)
    for r in range(price.size):
        w, c, v = weighted[r], price[r], volume[r]
        if w - w + c - c + v - v:
            continue         # NaN or infinite field: skipped, as the hook does
        value, vwap = vwap_step(vwap, ts[r], w, v)
        now = _side(side, c, value, below, above, allow_short)
        if now != side:
            side = now
            out[r] = side * allocation
    return out, (vwap, side)
