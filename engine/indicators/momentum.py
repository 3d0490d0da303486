"""Momentum indicators: ROC, MOM, RSI, MACD (step functions, incremental classes, vectorized
forms)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import (
    NAN,
    NAN3,
    Indicator,
    Recursive,
    Windowed,
    check_period,
    ring_sum,
    step,
    vectorized,
)
from engine.indicators.averages import ema_next

# --- ROC and MOM: against the value ``period`` steps back -----------------------------------


def lag_init(period: int) -> tuple[tuple[int, int], np.ndarray]:
    """An empty lag window: state ``(pos, count)`` and the ring of the last ``period`` values."""
    return (0, 0), np.zeros(period)


@step
def lag_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; returns the value ``len(buf)`` steps back (NaN until there is one)."""
    pos, count = state
    n = len(buf)
    old = buf[pos]
    buf[pos] = x
    pos += 1
    if pos == n:
        pos = 0
    if count <= n:
        count += 1
        if count <= n:
            return NAN, (pos, count)
    return old, (pos, count)


@step
def roc_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the rate of change ``x / x[-period] - 1`` (NaN where ``x[-period]`` is 0)."""
    old, state = lag_step(state, buf, x)
    return (x / old - 1.0 if old != 0.0 else NAN), state


@step
def mom_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the momentum ``x - x[-period]``."""
    old, state = lag_step(state, buf, x)
    return x - old, state


class _Lagged(Windowed):
    """An indicator of the value ``period`` steps back; ready after ``period + 1`` values."""

    __slots__ = ("period",)
    _name = ""

    def __init__(self, period: int) -> None:
        self.period = check_period(self._name, "period", period)
        self._begin(*lag_init(self.period))

    @property
    def ready(self) -> bool:
        return self._state[1] > self.period


class ROC(_Lagged):
    """Rate of change over ``period`` values: ``x / x[-period] - 1`` (a fraction, not percent);
    ready after ``period + 1`` values, NaN where ``x[-period]`` is 0."""

    __slots__ = ()
    _name = "ROC"
    _step = staticmethod(roc_step)


class MOM(_Lagged):
    """Momentum ``x - x[-period]`` (TA-Lib MOM); ready after ``period + 1`` values."""

    __slots__ = ()
    _name = "MOM"
    _step = staticmethod(mom_step)


@njit(cache=True)
def _roc(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = roc_step(state, buf, x[i])


@njit(cache=True)
def _mom(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = mom_step(state, buf, x[i])


def roc(values: Any, period: int) -> np.ndarray:
    """Vectorized rate of change (NaN for the first ``period`` values)."""
    period = check_period("ROC", "period", period)
    return vectorized("ROC", _roc, lag_init(period), values=values)


def mom(values: Any, period: int) -> np.ndarray:
    """Momentum ``x - x[-period]`` (TA-Lib MOM); first valid index ``period``."""
    period = check_period("MOM", "period", period)
    return vectorized("MOM", _mom, lag_init(period), values=values)


# --- RSI ------------------------------------------------------------------------------------


def rsi_init(period: int) -> tuple[int, int, float, float, float]:
    """An empty RSI: ``(period, count, previous value, average gain, average loss)``."""
    return (period, 0, 0.0, 0.0, 0.0)


@step
def rsi_step(state: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; Wilder's RSI (TA-Lib): average gain and loss seeded with the mean of the
    first ``period`` changes, then Wilder-smoothed; 0 when neither moved."""
    n, count, prev, gain, loss = state
    if count == 0:
        return NAN, (n, 1, x, gain, loss)
    change = x - prev
    if count > n:
        gain *= n - 1
        loss *= n - 1
    if change < 0.0:
        loss -= change
    else:
        gain += change
    if count < n:
        return NAN, (n, count + 1, x, gain, loss)
    gain /= n
    loss /= n
    total = gain + loss
    value = 100.0 * (gain / total) if total != 0.0 else 0.0
    return value, (n, n + 1, x, gain, loss)


class RSI(Recursive):
    """Wilder's relative strength index, 0..100 (TA-Lib RSI); ready after ``period + 1``
    values. 0 when neither gain nor loss moved (TA-Lib's convention)."""

    __slots__ = ("period",)
    _step = staticmethod(rsi_step)

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("RSI", "period", period)
        self._begin(rsi_init(self.period))

    @property
    def ready(self) -> bool:
        return self._state[1] > self.period


@njit(cache=True)
def _rsi(x: Any, state: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = rsi_step(state, x[i])


def rsi(values: Any, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index, 0..100 (TA-Lib RSI); first valid index ``period``."""
    period = check_period("RSI", "period", period)
    return vectorized("RSI", _rsi, (rsi_init(period),), values=values)


# --- MACD -----------------------------------------------------------------------------------


def check_macd_periods(fast: object, slow: object, signal: object) -> tuple[int, int, int]:
    """MACD's periods as ints, or ``ValueError``; ``fast`` must be shorter than ``slow``."""
    fast = check_period("MACD", "fast", fast)
    slow = check_period("MACD", "slow", slow)
    signal = check_period("MACD", "signal", signal)
    if fast >= slow:
        raise ValueError(f"MACD fast must be < slow, got fast={fast}, slow={slow}")
    return fast, slow, signal


def macd_init(fast: int, slow: int, signal: int) -> tuple[tuple[Any, ...], np.ndarray]:
    """An empty MACD: state ``(slow, signal, kf, ks, kg, count, sum, fast EMA, slow EMA,
    signal count, signal sum, signal EMA)`` and the ring of the last ``fast`` values (the
    fast EMA's seed)."""
    return ((slow, signal, 2.0 / (fast + 1), 2.0 / (slow + 1), 2.0 / (signal + 1),
             0, 0.0, 0.0, 0.0, 0, 0.0, 0.0), np.zeros(fast))


@step
def macd_step(state: Any, recent: Any, x: float) -> tuple[tuple[float, float, float], Any]:
    """Add ``x``; ``(macd, signal, hist)`` as TA-Lib MACD: both EMAs start at the ``slow``-th
    value, the slow one seeded with the mean of the first ``slow`` values, the fast one with
    the mean of the ``fast`` values ending there; the signal EMA is seeded with the mean of
    the first ``signal`` MACD values; all three NaN until then."""
    slow_n, signal_n, kf, ks, kg, count, total, fast, slow, sig_count, sig_total, sig = state
    if count < slow_n:
        fast_n = len(recent)
        recent[count % fast_n] = x
        count += 1
        total += x
        if count < slow_n:
            return NAN3, (slow_n, signal_n, kf, ks, kg, count, total, fast, slow, sig_count,
                          sig_total, sig)
        slow = total / slow_n
        fast = ring_sum(recent, count % fast_n) / fast_n
    else:
        fast = ema_next(fast, x, kf)
        slow = ema_next(slow, x, ks)
    line = fast - slow
    if sig_count == signal_n:
        sig = ema_next(sig, line, kg)
    else:
        sig_count += 1
        sig_total += line
        if sig_count < signal_n:
            return NAN3, (slow_n, signal_n, kf, ks, kg, count, total, fast, slow, sig_count,
                          sig_total, sig)
        sig = sig_total / signal_n
    return (line, sig, line - sig), (slow_n, signal_n, kf, ks, kg, count, total, fast, slow,
                                     sig_count, sig_total, sig)


class MACD(Indicator):
    """Moving average convergence/divergence as TA-Lib MACD: ``macd = EMA(fast) - EMA(slow)``,
    ``signal = EMA(signal)`` of it, ``hist = macd - signal``. ``update`` returns
    ``(macd, signal, hist)``, all NaN until ``slow + signal - 1`` values were seen; each
    output is also kept as an attribute."""

    __slots__ = ("fast_period", "hist", "macd", "signal", "signal_period", "slow_period")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast_period, self.slow_period, self.signal_period = check_macd_periods(
            fast, slow, signal)
        self._begin(*macd_init(self.fast_period, self.slow_period, self.signal_period), NAN3)
        self.macd = self.signal = self.hist = NAN

    def update(self, x: float) -> tuple[float, float, float]:
        """Add one value; returns ``(macd, signal, hist)``."""
        if x - x:
            return NAN3
        value, self._state = macd_step(self._state, self._buf, x)
        if self.ready:
            self.value = value
            self.macd, self.signal, self.hist = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[9] == self.signal_period


@njit(cache=True)
def _macd(x: Any, state: Any, recent: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        value, state = macd_step(state, recent, x[i])
        out[0, i], out[1, i], out[2, i] = value


def macd(values: Any, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(macd, signal, hist)`` as TA-Lib MACD; all three valid from index slow+signal-2."""
    fast, slow, signal = check_macd_periods(fast, slow, signal)
    return vectorized("MACD", _macd, macd_init(fast, slow, signal), 3,
                      values=values)
