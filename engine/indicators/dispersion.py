"""Dispersion: rolling moments (mean, variance), standard deviation, z-score, Bollinger Bands
and the rolling correlation of two series (step functions, incremental classes, vectorized
forms).

The rolling sums are kept as sums of deviations from an anchor (the newest value at the last
re-summation), updated in O(1); the window is re-added once per ``period`` values and as soon
as cancellation would cost more than 12 bits, so long series do not drift and a flat window
gives a variance of exactly 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import (NAN, NAN3, Indicator, Series, check_factor, check_period,
                                     ring_push, step, vectorized, vectorized_series)

CANCELLATION = 4096.0
"""Rolling moments re-sum their window when the centred sum of squares falls below
1/CANCELLATION of the largest anchored sum of squares since the last re-summation, so at most
12 bits are ever lost to cancellation."""


# --- rolling moments ------------------------------------------------------------------------


def moments_init(period: int) -> tuple[tuple[int, int, float, float, float, float], np.ndarray]:
    """An empty window: state ``(pos, count, anchor, s1, s2, peak)`` and the window ring."""
    return (0, 0, 0.0, 0.0, 0.0, 0.0), np.zeros(period)


@step
def deviation_sums(buf: Any, oldest: int, anchor: float) -> tuple[float, float]:
    """Sums of ``v - anchor`` and of its square over a ring buffer, oldest first."""
    n = len(buf)
    s1 = 0.0
    s2 = 0.0
    for j in range(n):
        k = oldest + j
        if k >= n:
            k -= n
        d = buf[k] - anchor
        s1 += d
        s2 += d * d
    return s1, s2


@step
def moments_step(state: Any, buf: Any, x: float) -> tuple[tuple[float, float, float], Any]:
    """Add ``x``; ``(mean, population variance, x - mean)`` of the last ``len(buf)`` values
    (NaNs until the window is full)."""
    pos, count, anchor, s1, s2, peak = state
    n = len(buf)
    old, pos = ring_push(buf, pos, x)
    if count < n:
        count += 1
        if count < n:
            return NAN3, (pos, count, anchor, s1, s2, peak)
        resum = True
    elif pos == 0:
        resum = True
    else:
        dn = x - anchor
        do = old - anchor
        s1 += dn - do
        s2 += dn * dn - do * do
        if s2 > peak:
            peak = s2
        resum = (s2 - s1 * s1 / n) * CANCELLATION < peak
    if resum:
        anchor = x
        s1, s2 = deviation_sums(buf, pos, x)
        peak = s2
    centred = s2 - s1 * s1 / n
    var = centred / n if centred > 0.0 else 0.0
    return (anchor + s1 / n, var, (x - anchor) - s1 / n), (pos, count, anchor, s1, s2, peak)


@step
def stddev_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; the population standard deviation of the window."""
    (_, var, _), state = moments_step(state, buf, x)
    return math.sqrt(var), state


@step
def zscore_step(state: Any, buf: Any, x: float) -> tuple[float, Any]:
    """Add ``x``; ``(x - mean) / std`` in the window (NaN when the window is flat)."""
    (_, var, dev), state = moments_step(state, buf, x)
    std = math.sqrt(var)
    return (dev / std if std > 0.0 else NAN), state


@step
def bbands_step(state: Any, buf: Any, x: float, nbdev_up: float,
                nbdev_dn: float) -> tuple[tuple[float, float, float], Any]:
    """Add ``x``; ``(upper, middle, lower)``: the window mean plus/minus ``nbdev``
    population standard deviations."""
    (mean, var, _), state = moments_step(state, buf, x)
    std = math.sqrt(var)
    return (mean + nbdev_up * std, mean, mean - nbdev_dn * std), state


class StdDev(Series):
    """Rolling population standard deviation (TA-Lib STDDEV, nbdev=1); ready after
    ``period`` values."""

    __slots__ = ()
    _name, _minimum, _count = "STDDEV", 2, 1
    _step, _init = staticmethod(stddev_step), staticmethod(moments_init)


class ZScore(Series):
    """``(x - SMA) / STDDEV`` over the last ``period`` values (population); NaN when the
    window is flat."""

    __slots__ = ()
    _name, _minimum, _count = "ZSCORE", 2, 1
    _step, _init = staticmethod(zscore_step), staticmethod(moments_init)


class BollingerBands(Series):
    """Bollinger Bands (TA-Lib BBANDS with an SMA): ``middle`` is the mean of the last
    ``period`` values, ``upper``/``lower`` are ``nbdev_up``/``nbdev_dn`` population standard
    deviations away. ``update`` returns ``(upper, middle, lower)``, also kept as attributes."""

    __slots__ = ("lower", "middle", "nbdev_dn", "nbdev_up", "upper")
    _name, _minimum, _count = "BBANDS", 2, 1
    _init = staticmethod(moments_init)

    def __init__(self, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0) -> None:
        super().__init__(period)
        self.nbdev_up = check_factor("BBANDS", "nbdev_up", nbdev_up)
        self.nbdev_dn = check_factor("BBANDS", "nbdev_dn", nbdev_dn)
        self.value = NAN3
        self.upper = self.middle = self.lower = NAN

    def update(self, x: float) -> tuple[float, float, float]:  # type: ignore[override]
        """Add one value; returns ``(upper, middle, lower)``."""
        if x - x:
            return NAN3
        value, self._state = bbands_step(self._state, self._buf, x, self.nbdev_up,
                                         self.nbdev_dn)
        self.value = value
        self.upper, self.middle, self.lower = value
        return value


@njit(cache=True)
def _stddev(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = stddev_step(state, buf, x[i])


@njit(cache=True)
def _zscore(x: Any, state: Any, buf: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = zscore_step(state, buf, x[i])


@njit(cache=True)
def _bbands(x: Any, state: Any, buf: Any, up: float, dn: float,
            out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        value, state = bbands_step(state, buf, x[i], up, dn)
        out[0, i], out[1, i], out[2, i] = value


def stddev(values: Any, period: int) -> np.ndarray:
    """Rolling population standard deviation (TA-Lib STDDEV, nbdev=1); first valid index
    period-1."""
    return vectorized_series("STDDEV", _stddev, moments_init, values, period, minimum=2)


def zscore(values: Any, period: int) -> np.ndarray:
    """``(x - SMA) / STDDEV`` over ``period`` values; NaN where the window is flat."""
    return vectorized_series("ZSCORE", _zscore, moments_init, values, period, minimum=2)


def bbands(values: Any, period: int = 20, nbdev_up: float = 2.0,
           nbdev_dn: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger Bands ``(upper, middle, lower)``: the window mean plus/minus ``nbdev``
    population standard deviations (TA-Lib BBANDS with an SMA); first valid index period-1."""
    period = check_period("BBANDS", "period", period, minimum=2)
    up = check_factor("BBANDS", "nbdev_up", nbdev_up)
    dn = check_factor("BBANDS", "nbdev_dn", nbdev_dn)
    return vectorized("BBANDS", _bbands,
                      (*moments_init(period), up, dn), 3, values=values)


# --- rolling correlation --------------------------------------------------------------------


def correlation_init(period: int) -> tuple[tuple[Any, ...], np.ndarray, np.ndarray]:
    """An empty correlation window: state ``(pos, count, ax, ay, sx, sy, sxx, syy, sxy, pxx,
    pyy)`` (anchors, sums of deviations from them, peaks of the sums of squares) and the rings
    of ``x`` and ``y``."""
    return (0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0), np.zeros(period), \
        np.zeros(period)


@step
def _pair_sums(xs: Any, ys: Any, oldest: int) -> tuple[float, ...]:
    """Anchors (the window means) and the sums of deviations from them, oldest first."""
    n = len(xs)
    tx = 0.0
    ty = 0.0
    for j in range(n):
        k = oldest + j
        if k >= n:
            k -= n
        tx += xs[k]
        ty += ys[k]
    ax = tx / n
    ay = ty / n
    sx = sy = sxx = syy = sxy = 0.0
    for j in range(n):
        k = oldest + j
        if k >= n:
            k -= n
        dx = xs[k] - ax
        dy = ys[k] - ay
        sx += dx
        sy += dy
        sxx += dx * dx
        syy += dy * dy
        sxy += dx * dy
    return ax, ay, sx, sy, sxx, syy, sxy


@step
def correlation_step(state: Any, xs: Any, ys: Any, x: float, y: float) -> tuple[float, Any]:
    """Add the pair ``(x, y)``; the Pearson correlation of the last ``len(xs)`` pairs, clipped
    to [-1, 1] (NaN until the window is full, or when either series is flat in it)."""
    pos, count, ax, ay, sx, sy, sxx, syy, sxy, pxx, pyy = state
    n = len(xs)
    ox, _ = ring_push(xs, pos, x)
    oy, pos = ring_push(ys, pos, y)
    if count < n:
        count += 1
        if count < n:
            return NAN, (pos, count, ax, ay, sx, sy, sxx, syy, sxy, pxx, pyy)
        resum = True
    elif pos == 0:
        resum = True
    else:
        dx = x - ax
        dy = y - ay
        ex = ox - ax
        ey = oy - ay
        sx += dx - ex
        sy += dy - ey
        sxx += dx * dx - ex * ex
        syy += dy * dy - ey * ey
        sxy += dx * dy - ex * ey
        if sxx > pxx:
            pxx = sxx
        if syy > pyy:
            pyy = syy
        resum = ((sxx - sx * sx / n) * CANCELLATION < pxx
                 or (syy - sy * sy / n) * CANCELLATION < pyy)
    if resum:
        ax, ay, sx, sy, sxx, syy, sxy = _pair_sums(xs, ys, pos)
        pxx = sxx
        pyy = syy
    state = (pos, count, ax, ay, sx, sy, sxx, syy, sxy, pxx, pyy)
    cxx = sxx - sx * sx / n
    cyy = syy - sy * sy / n
    if cxx <= 0.0 or cyy <= 0.0:
        return NAN, state
    corr = (sxy - sx * sy / n) / math.sqrt(cxx * cyy)
    return min(max(corr, -1.0), 1.0), state


class Correlation(Indicator):
    """Rolling Pearson correlation of two series over the last ``period`` pairs, in [-1, 1];
    NaN while the window is not full or either series is flat in it. ``update(x, y)``."""

    __slots__ = ("_ys", "period")

    def __init__(self, period: int) -> None:
        self.period = check_period("CORREL", "period", period, minimum=2)
        state, xs, ys = correlation_init(self.period)
        self._begin(state, xs)
        self._ys = ys.tolist()

    def update(self, x: float, y: float) -> float:
        """Add one pair; returns the window's correlation."""
        if x - x or y - y:
            return NAN
        value, self._state = correlation_step(self._state, self._buf, self._ys, x, y)
        self.value = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[1] == self.period


@njit(cache=True)
def _correl(x: Any, y: Any, state: Any, xs: Any, ys: Any,
            out: Any) -> None:  # pragma: no cover - compiled
    for i in range(x.size):
        out[0, i], state = correlation_step(state, xs, ys, x[i], y[i])


def correl(x: Any, y: Any, period: int) -> np.ndarray:
    """Rolling Pearson correlation of ``x`` and ``y`` over ``period`` pairs (TA-Lib CORREL),
    clipped to [-1, 1]; NaN where either series is flat in the window; first valid index
    period-1."""
    period = check_period("CORREL", "period", period, minimum=2)
    return vectorized("CORREL", _correl, correlation_init(period),
                      x=x, y=y)
