"""Volume indicators: on-balance volume and session VWAP (step functions, incremental
classes, vectorized forms)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import (NAN, Indicator, check_session, on_finite_rows, scatter, series,
                                     stamps, step, vectorized)
from engine.timeframes import NS_PER_DAY

# --- OBV ------------------------------------------------------------------------------------


def obv_init() -> tuple[int, float, float, float]:
    """An empty OBV: ``(started, previous close, total, Neumaier carry)``."""
    return (0, 0.0, 0.0, 0.0)


@step
def obv_step(state: Any, close: float, volume: float) -> tuple[float, Any]:
    """Add a bar; on-balance volume (TA-Lib OBV): starts at the first volume, then adds the
    volume when the close rises and subtracts it when it falls, summed with Neumaier
    compensation (it equals the exactly rounded sum)."""
    started, prev, total, carry = state
    if not started:
        return volume, (1, close, volume, 0.0)
    if close > prev:
        change = volume
    elif close < prev:
        change = -volume
    else:
        return total + carry, (1, close, total, carry)
    t = total + change
    if abs(total) >= abs(change):
        carry += (total - t) + change
    else:
        carry += (change - t) + total
    return t + carry, (1, close, t, carry)


class OBV(Indicator):
    """On-balance volume (TA-Lib OBV); ready from the first bar."""

    __slots__ = ()

    def __init__(self) -> None:
        self._begin(obv_init())

    def update(self, close: float, volume: float) -> float:
        """Add one bar; returns the OBV."""
        if close - close + volume - volume:
            return NAN
        value, self._state = obv_step(self._state, close, volume)
        self.value = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[0] == 1


@njit(cache=True)
def _obv(close: Any, volume: Any, state: Any, out: Any) -> None:  # pragma: no cover
    for i in range(close.size):
        out[0, i], state = obv_step(state, close[i], volume[i])


def obv(close: Any, volume: Any) -> np.ndarray:
    """On-balance volume, starting at the first volume (TA-Lib OBV); valid from index 0."""
    return vectorized("OBV", _obv, (obv_init(),),
                      close=close, volume=volume)


# --- VWAP -----------------------------------------------------------------------------------


def vwap_init(session: int = NS_PER_DAY, offset: int = 0) -> tuple[int, int, int, int, float,
                                                                    float]:
    """An empty VWAP: ``(session length, offset, started, session id, sum of price x size,
    sum of size)``."""
    return (session, offset, 0, 0, 0.0, 0.0)


@step
def typical(high: float, low: float, close: float) -> float:
    """A bar's typical price ``(high + low + close) / 3`` (TA-Lib TYPPRICE)."""
    return (high + low + close) / 3.0


@step
def vwap_step(state: Any, ts: int, price: float, size: float) -> tuple[float, Any]:
    """Add a trade at ``ts`` (int ns); the VWAP of the session ``ts`` falls in: cumulative
    ``price * size`` over cumulative ``size`` (NaN while the session has no positive size).
    Sessions are ``[offset + j*session, offset + (j+1)*session)``; an event of another
    session than the previous one starts afresh."""
    session, offset, started, current, pv, volume = state
    sid = (ts - offset) // session
    if not started or sid != current:
        started = 1
        current = sid
        pv = 0.0
        volume = 0.0
    pv += price * size
    volume += size
    value = pv / volume if volume > 0.0 else NAN
    return value, (session, offset, started, current, pv, volume)


class VWAP(Indicator):
    """Session volume-weighted average price: cumulative ``price * size`` over cumulative
    ``size`` since the session began, NaN (and ``ready`` False) while the session has no
    positive volume.

    Sessions are ``[offset + j*session, offset + (j+1)*session)`` in int nanoseconds, by
    default the UTC day. ``update`` takes trades (price, size); ``update_bar`` takes bars,
    weighted at their typical price ``(high + low + close) / 3``, with ``ts`` the bar's open
    time.
    """

    __slots__ = ("offset", "session")

    def __init__(self, session: int = NS_PER_DAY, offset: int = 0) -> None:
        self.session, self.offset = check_session("VWAP", session, offset)
        self._begin(vwap_init(self.session, self.offset))

    def update(self, ts: int, price: float, size: float) -> float:
        """Add one trade at ``ts`` (int ns); returns the session VWAP."""
        if price - price + size - size:
            return NAN
        value, self._state = vwap_step(self._state, ts, price, size)
        self.value = value
        return value

    def update_bar(self, ts: int, high: float, low: float, close: float, volume: float) -> float:
        """Add one bar opening at ``ts`` (int ns); returns the session VWAP."""
        if high - high + low - low + close - close:
            return NAN
        return self.update(ts, typical(high, low, close), volume)

    @property
    def ready(self) -> bool:
        return self._state[5] > 0.0


@njit(cache=True)
def _vwap(ts: Any, price: Any, size: Any, state: Any, out: Any) -> None:  # pragma: no cover
    for i in range(ts.size):
        out[i], state = vwap_step(state, ts[i], price[i], size[i])


@njit(cache=True)
def _typical(high: Any, low: Any, close: Any, out: Any) -> None:  # pragma: no cover
    for i in range(close.size):
        out[0, i] = typical(high[i], low[i], close[i])


def typical_price(high: Any, low: Any, close: Any) -> np.ndarray:
    """``(high + low + close) / 3`` (TA-Lib TYPPRICE)."""
    h, lo, c = series("TYPPRICE", high=high, low=low, close=close)
    out = np.full((1, c.size), np.nan)
    _typical(h, lo, c, out)
    return out[0]


def vwap(ts: Any, price: Any, size: Any, *, session: int = NS_PER_DAY,
         offset: int = 0) -> np.ndarray:
    """Session VWAP of trades: cumulative ``price*size`` over cumulative ``size`` since the
    session began; NaN until the session has positive volume.

    ``ts`` is int nanoseconds (or datetime64); a session is ``[offset + j*session,
    offset + (j+1)*session)``, by default the UTC day.
    """
    session, offset = check_session("VWAP", session, offset)
    times = stamps("VWAP", ts)
    p, s = series("VWAP", price=price, size=size)
    if times.size != p.size:
        raise ValueError(f"VWAP arrays ts, price, size must have the same length, got "
                         f"ts={times.size}, price={p.size}, size={s.size}")
    return _session_vwap(times, p, s, session, offset)


def vwap_bars(ts: Any, high: Any, low: Any, close: Any, volume: Any, *,
              session: int = NS_PER_DAY, offset: int = 0) -> np.ndarray:
    """Session VWAP of bars, each weighted at its typical price ``(h+l+c)/3``; ``ts`` is the
    bar's open time (a bar belongs to the session it opens in)."""
    session, offset = check_session("VWAP", session, offset)
    times = stamps("VWAP", ts)
    h, lo, c, v = series("VWAP", high=high, low=low, close=close, volume=volume)
    if times.size != c.size:
        raise ValueError(f"VWAP arrays ts, high, low, close, volume must have the same length, "
                         f"got ts={times.size}, close={c.size}")
    price = on_finite_rows(lambda *hlc: typical_price(*hlc), h, lo, c)
    return _session_vwap(times, price, v, session, offset)


def _session_vwap(ts: np.ndarray, price: np.ndarray, size: np.ndarray, session: int,
                  offset: int) -> np.ndarray:
    ok = np.isfinite(price) & np.isfinite(size)
    if not ok.all():
        return scatter(_session_vwap(ts[ok], price[ok], size[ok], session, offset), ok)
    out = np.full(ts.size, np.nan)
    _vwap(np.ascontiguousarray(ts), price, np.ascontiguousarray(size),
          vwap_init(session, offset), out)
    return out
