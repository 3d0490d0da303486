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

The batch path (``on_batch``) runs the same VWAP arithmetic in a numba kernel and yields the
same orders.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.data.schema import BAR, TRADE
from engine.errors import ConfigError
from engine.indicators import VWAP
from engine.intents import EventBatch, Intents, target_percent
from engine.messages import Bar, Trade
from engine.strategy import Strategy, StrategyParams, param

NS_PER_MINUTE = 60_000_000_000


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
        allocation: float = param(0.95, low=0.01, high=1.0,
                                  doc="share of equity to hold when in a position")
        allow_short: bool = param(False, doc="also sell short above the VWAP band")

        def check(self) -> None:
            if self.offset_minutes >= self.session_minutes:
                raise ConfigError(f"strategy 'vwap_reversion': offset_minutes "
                                  f"({self.offset_minutes}) must be shorter than "
                                  f"session_minutes ({self.session_minutes})")

    def on_start(self) -> None:
        p = self.params
        self._session = p.session_minutes * NS_PER_MINUTE
        self._offset = p.offset_minutes * NS_PER_MINUTE
        self.vwap = VWAP(self._session, self._offset)
        self._update = self.vwap.update
        self._update_bar = self.vwap.update_bar
        self._below = 1.0 - p.entry_deviation
        self._above = 1.0 + p.entry_deviation
        self.state = 0    # +1 long, -1 short, 0 flat (what this strategy last targeted)
        # batch path state: [has a session, session id, state]; [sum of price*volume, volume]
        self._istate = np.zeros(3, dtype=np.int64)
        self._fstate = np.zeros(2)

    def on_bar(self, bar: Bar) -> None:
        high, low, close, volume = bar.high, bar.low, bar.close, bar.volume
        if high - high + low - low + close - close + volume - volume:
            return           # NaN or infinite field: skipped, state unchanged
        vwap = self._update_bar(bar.ts_event - bar.interval_ns, high, low, close, volume)
        self._decide(close, vwap)

    def on_trade(self, trade: Trade) -> None:
        price, size = trade.price, trade.size
        if price - price + size - size:
            return           # NaN or infinite field: skipped, state unchanged
        self._decide(price, self._update(trade.ts_event, price, size))

    def _decide(self, price: float, vwap: float) -> None:
        if vwap != vwap:
            return           # no volume in this session yet
        state = self.state
        if state == 0:
            if price < vwap * self._below:
                target = 1
            elif price > vwap * self._above and self.params.allow_short:
                target = -1
            else:
                return
        elif state == 1:
            if price < vwap:
                return
            target = 0
        else:
            if price > vwap:
                return
            target = 0
        self.state = target
        self.ctx.order_target_percent(target * self.params.allocation, price)

    def on_batch(self, batch: EventBatch) -> Intents | None:
        if batch.kind == BAR:
            high, low, close, volume = batch.high, batch.low, batch.close, batch.volume
        elif batch.kind == TRADE:
            high = low = close = batch.price
            volume = batch.size
        else:
            return None      # quotes: the hooks do nothing either
        p = self.params
        index, fraction = _signals(batch.columns["ts"], high, low, close, volume,
                                   batch.kind == BAR, self._session, self._offset, self._below,
                                   self._above, p.allocation, p.allow_short, self._istate,
                                   self._fstate)
        return target_percent(batch, index, fraction)


@njit(cache=True)
def _signals(ts, high, low, close, volume, is_bar, session, offset, below, above, allocation,
             allow_short, istate, fstate):  # pragma: no cover - compiled
    """Rows where the target changes and the new target fraction; state carried in place.

    ``ts`` is a bar's open time or a trade's time. ``istate`` = [has a session, session id,
    state], ``fstate`` = [sum of price*volume, sum of volume]; the arithmetic is
    ``engine.indicators.VWAP``'s (``update_bar`` for bars, ``update`` for trades).
    """
    started, current, state = istate[0], istate[1], istate[2]
    pv, vol = fstate[0], fstate[1]
    out_i = np.empty(close.shape[0], np.int64)
    out_v = np.empty(close.shape[0], np.float64)
    n_out = 0
    for r in range(close.shape[0]):
        h = high[r]
        lo = low[r]
        c = close[r]
        v = volume[r]
        check = h - h + lo - lo + c - c + v - v
        if check != 0.0 or check != check:
            continue         # NaN or infinite field: skipped, as the hook does
        if is_bar:
            w = (h + lo + c) / 3.0
            if w - w != 0.0 or w != w:
                continue     # the typical price overflowed: VWAP skips it
        else:
            w = c
        sid = (ts[r] - offset) // session
        if started == 0 or sid != current:
            started = 1
            current = sid
            pv = 0.0
            vol = 0.0
        pv = pv + w * v
        vol = vol + v
        if not vol > 0.0:
            continue         # no volume in this session yet
        vwap = pv / vol
        if vwap != vwap:
            continue         # as the hook: an undefined VWAP decides nothing
        if state == 0:
            if c < vwap * below:
                target = 1
            elif c > vwap * above and allow_short:
                target = -1
            else:
                continue
        elif state == 1:
            if c < vwap:
                continue
            target = 0
        else:
            if c > vwap:
                continue
            target = 0
        state = target
        out_i[n_out] = r
        out_v[n_out] = target * allocation
        n_out += 1
    istate[0], istate[1], istate[2] = started, current, state
    fstate[0], fstate[1] = pv, vol
    return out_i[:n_out], out_v[:n_out]
