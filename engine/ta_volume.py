"""Incremental volume indicators: on-balance volume and session VWAP. Import them from
``engine.indicators`` (conventions there)."""

from __future__ import annotations

import math

from engine.ta_vectorized import check_session
from engine.timeframes import NS_PER_DAY

_NAN = math.nan


class OBV:
    """On-balance volume (TA-Lib OBV): starts at the first volume, then adds the volume when the
    close rises and subtracts it when it falls. Summed with Neumaier compensation."""

    __slots__ = ("value", "ready", "_prev", "_total", "_carry")

    def __init__(self) -> None:
        self.value = math.nan
        self.ready = False
        self._prev = 0.0
        self._total = 0.0
        self._carry = 0.0

    def update(self, close: float, volume: float) -> float:
        """Add one bar; returns the OBV."""
        if close - close + volume - volume:
            return _NAN
        prev = self._prev
        self._prev = close
        if not self.ready:
            self.ready = True
            self._total = volume
            self.value = volume
            return volume
        if close > prev:
            step = volume
        elif close < prev:
            step = -volume
        else:
            return self.value
        total = self._total
        t = total + step
        if abs(total) >= abs(step):
            self._carry += (total - t) + step
        else:
            self._carry += (step - t) + total
        self._total = t
        value = self.value = t + self._carry
        return value


class VWAP:
    """Session volume-weighted average price: cumulative ``price * size`` over cumulative
    ``size`` since the session began, NaN (and ``ready`` False) while the session has no
    positive volume.

    Sessions are ``[offset + j*session, offset + (j+1)*session)`` in int nanoseconds, by
    default the UTC day; an event whose session differs from the previous one starts afresh.
    ``update`` takes trades (price, size); ``update_bar`` takes bars, weighted at their typical
    price ``(high + low + close) / 3``, with ``ts`` the bar's open time.
    """

    __slots__ = ("session", "offset", "value", "ready", "_session_id", "_pv", "_volume")

    def __init__(self, session: int = NS_PER_DAY, offset: int = 0) -> None:
        self.session, self.offset = check_session("VWAP", session, offset)
        self.value = math.nan
        self.ready = False
        self._session_id: int | None = None
        self._pv = 0.0
        self._volume = 0.0

    def update(self, ts: int, price: float, size: float) -> float:
        """Add one trade at ``ts`` (int ns); returns the session VWAP."""
        if price - price + size - size:
            return _NAN
        session_id = (ts - self.offset) // self.session
        if session_id != self._session_id:
            self._session_id = session_id
            self._pv = 0.0
            self._volume = 0.0
        pv = self._pv = self._pv + price * size
        volume = self._volume = self._volume + size
        if volume > 0.0:
            self.ready = True
            value = self.value = pv / volume
        else:
            self.ready = False
            value = self.value = _NAN
        return value

    def update_bar(self, ts: int, high: float, low: float, close: float, volume: float) -> float:
        """Add one bar opening at ``ts`` (int ns); returns the session VWAP."""
        if high - high + low - low + close - close:
            return _NAN
        return self.update(ts, (high + low + close) / 3.0, volume)
