"""Momentum indicators: ROC, MOM, RSI, MACD (step functions, incremental classes, vectorized
forms)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import (NAN, NAN3, Indicator, Series, check_period, ring_push,
                                     ring_sum, step, vectorized, vectorized_series)
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
    old, pos = ring_push(buf, pos, x)
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


class ROC(Series):
    """Rate of change over ``period`` values: ``x / x[-period] - 1`` (a fraction, not percent);
    ready after ``period + 1`` values, NaN where ``x[-period]`` is 0."""

    __slots__ = ()
    _name, _count, _lag = "ROC", 1, 1
    _step, _init = staticmethod(roc_step), staticmethod(lag_init)


class MOM(Series):
    """Momentum ``x - x[-period]`` (TA-Lib MOM); ready after ``period + 1`` values."""

    __slots__ = ()
    _name, _count, _lag = "MOM", 1, 1
    _step, _init = staticmethod(mom_step), staticmethod(lag_init)


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
    return vectorized_series("ROC", _roc, lag_init, values, period)


def mom(values: Any, period: int) -> np.ndarray:
    """Momentum ``x - x[-period]`` (TA-Lib MOM); first valid index ``period``."""
    return vectorized_series("MOM", _mom, lag_init, values, period)


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


class RSI(Series):
    """Wilder's relative strength index, 0..100 (TA-Lib RSI); ready after ``period + 1``
    values. 0 when neither gain nor loss moved (TA-Lib's convention)."""

    __slots__ = ()
    _name, _count, _lag = "RSI", 1, 1
    _step, _init = staticmethod(rsi_step), staticmethod(rsi_init)

    def __init__(self, period: int = 14) -> None:
        super().__init__(period)


@njit(cache=True)
def _rsi(x: Any, state: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = rsi_step(state, x[i])


def rsi(values: Any, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index, 0..100 (TA-Lib RSI); first valid index ``period``."""
    return vectorized_series("RSI", _rsi, rsi_init, values, period)


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
