"""Moving averages: SMA, EMA, WMA (step functions, incremental classes, vectorized forms)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import NAN, Series, ring_push, ring_sum, step, vectorized_series

# --- SMA ------------------------------------------------------------------------------------


def sma_init(period: int) -> tuple[tuple[float, int, int, int], np.ndarray]:
    """An empty SMA: state ``(total, pos, count, run)`` and the window ring (NaN-filled)."""
    return (0.0, 0, 0, 0), np.full(period, np.nan)


@step
def sma_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the mean of the last ``len(buf)`` values (NaN until the window is full).

    The running sum is re-added from the window once per ``period`` values, so it cannot
    drift over a long series; and a window of equal values (``run`` counts them) gives that
    value exactly, so equal windows of any two lengths compare equal.
    """
    total, pos, count, run = state
    n = len(buf)
    run = run + 1 if x == buf[pos - 1] else 1     # buf[-1] is NaN before the first value
    # the ring write inline (not ring_push), and the full window's branch first: the SMA is
    # the per-event hooks' hottest indicator
    old = buf[pos]
    buf[pos] = x
    pos += 1
    if count == n:
        if pos < n:
            total += x - old
        else:                        # the ring has just wrapped: position 0 is the oldest
            pos = 0
            total = ring_sum(buf, 0)
    else:
        if pos == n:
            pos = 0
        count += 1
        total += x
        if count < n:
            return NAN, (total, pos, count, run)
    return (x if run >= n else total / n), (total, pos, count, run)


class SMA(Series):
    """Simple moving average of the last ``period`` values; ready after ``period`` values.
    Drift-free: equal windows give equal means (a flat window gives its value exactly)."""

    __slots__ = ()
    _name, _count = "SMA", 2
    _step, _init = staticmethod(sma_step), staticmethod(sma_init)


@njit(cache=True)
def _sma(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = sma_step(state, buf, x[i])


def sma(values: Any, period: int) -> np.ndarray:
    """Vectorized SMA (NaN before index period-1)."""
    return vectorized_series("SMA", _sma, sma_init, values, period)


# --- EMA ------------------------------------------------------------------------------------


def ema_init(period: int) -> tuple[float, int, int, float, float]:
    """An empty EMA: ``(k, period, count, seed sum, value)``."""
    return (2.0 / (period + 1), period, 0, 0.0, NAN)


@step
def ema_next(prev: float, x: float, k: float) -> float:
    """One exponential smoothing step: ``(x - prev) * k + prev``."""
    return (x - prev) * k + prev


@step
def ema_step(state: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the EMA, seeded with the mean of the first ``period`` values (TA-Lib)."""
    k, n, count, total, value = state
    if count < n:
        count += 1
        total += x
        if count < n:
            return NAN, (k, n, count, total, value)
        value = total / n
    else:
        value = ema_next(value, x, k)
    return value, (k, n, count, total, value)


class EMA(Series):
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first
    ``period`` values (TA-Lib EMA); ready after ``period`` values."""

    __slots__ = ()
    _name, _count = "EMA", 2
    _step, _init = staticmethod(ema_step), staticmethod(ema_init)


@njit(cache=True)
def _ema(x: Any, state: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = ema_step(state, x[i])


def ema(values: Any, period: int) -> np.ndarray:
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first
    ``period`` values (TA-Lib EMA); first valid index period-1."""
    return vectorized_series("EMA", _ema, ema_init, values, period)


# --- WMA ------------------------------------------------------------------------------------


def wma_init(period: int) -> tuple[tuple[int, int, float, float], np.ndarray]:
    """An empty WMA: state ``(pos, count, weighted sum, plain sum)`` and the window ring."""
    return (0, 0, 0.0, 0.0), np.zeros(period)


@step
def wma_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the weighted mean, weights 1..n with the newest heaviest (TA-Lib). The
    running weighted and plain sums are re-added from the window once per ``n`` values."""
    pos, count, weighted, plain = state
    n = len(buf)
    old, pos = ring_push(buf, pos, x)
    if count < n:
        count += 1
        if count < n:
            return NAN, (pos, count, weighted, plain)
    if pos == 0:
        weighted = 0.0
        plain = 0.0
        for j in range(n):
            v = buf[j]
            weighted += v * (j + 1)
            plain += v
    else:
        weighted = weighted - plain + x * n
        plain = plain - old + x
    return weighted / (n * (n + 1) / 2), (pos, count, weighted, plain)


class WMA(Series):
    """Linearly weighted moving average, weights 1..period with the newest heaviest
    (TA-Lib WMA); ready after ``period`` values."""

    __slots__ = ()
    _name, _count = "WMA", 1
    _step, _init = staticmethod(wma_step), staticmethod(wma_init)


@njit(cache=True)
def _wma(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = wma_step(state, buf, x[i])


def wma(values: Any, period: int) -> np.ndarray:
    """Linearly weighted moving average, weights 1..period, newest heaviest (TA-Lib WMA);
    first valid index period-1."""
    return vectorized_series("WMA", _wma, wma_init, values, period)
