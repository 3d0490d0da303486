"""Indicators of bar ranges: rolling extremes (monotonic queues), ATR, Donchian channel,
stochastic and ADX/DI (step functions, incremental classes, vectorized forms)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from engine.indicators._base import (NAN, NAN2, NAN3, Indicator, check_period, ring_push,
                                     ring_sum, step, vectorized)

# --- rolling extremes -----------------------------------------------------------------------


def queue_init(period: int) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """An empty monotonic queue over ``period`` events: state ``(head, size)``, and the rings of
    its values and their event numbers (``period + 1`` slots)."""
    return (0, 0), np.zeros(period + 1), np.zeros(period + 1, dtype=np.int64)


@step
def queue_push(queue: Any, vals: Any, stamps: Any, x: float, t: int,
               keep_max: bool) -> tuple[float, Any]:
    """Push ``x`` (event number ``t``); returns the highest (``keep_max``) or lowest value of
    the last ``len(vals) - 1`` events, O(1) amortized: values that can never be the extreme
    again leave from the newest end, expired ones from the oldest."""
    head, size = queue
    cap = len(vals)
    while size > 0:
        last = head + size - 1
        if last >= cap:
            last -= cap
        v = vals[last]
        if (v <= x) if keep_max else (v >= x):
            size -= 1
        else:
            break
    tail = head + size
    if tail >= cap:
        tail -= cap
    vals[tail] = x
    stamps[tail] = t
    size += 1
    if stamps[head] <= t - (cap - 1):
        head += 1
        if head == cap:
            head = 0
        size -= 1
    return vals[head], (head, size)


# --- ATR ------------------------------------------------------------------------------------


@step
def true_range(high: float, low: float, prev_close: float) -> float:
    """``max(high - low, |prev_close - high|, |prev_close - low|)``, compared as TA-Lib does."""
    greatest = high - low
    up = abs(prev_close - high)
    if up > greatest:
        greatest = up
    down = abs(prev_close - low)
    if down > greatest:
        greatest = down
    return greatest


def atr_init(period: int) -> tuple[int, int, float, float, float]:
    """An empty ATR: ``(period, count, previous close, seed sum, value)``."""
    return (period, 0, 0.0, 0.0, NAN)


@step
def atr_step(state: Any, high: float, low: float, close: float) -> tuple[float, Any]:
    """Add a bar; Wilder's ATR: the mean of the first ``period`` true ranges, then
    ``(atr * (period-1) + tr) / period``."""
    n, count, prev, total, value = state
    if count == 0:
        return NAN, (n, 1, close, total, value)
    tr = true_range(high, low, prev)
    if count < n:
        return NAN, (n, count + 1, close, total + tr, value)
    if count == n:
        value = (total + tr) / n
    else:
        value *= n - 1
        value += tr
        value /= n
    return value, (n, n + 1, close, total, value)


class ATR(Indicator):
    """Wilder's average true range (TA-Lib ATR); ready after ``period + 1`` bars."""

    __slots__ = ("period",)

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("ATR", "period", period)
        self._begin(atr_init(self.period))

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar; returns the ATR."""
        if high - high + low - low + close - close:
            return NAN
        value, self._state = atr_step(self._state, high, low, close)
        if value == value:
            self.value = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[1] > self.period


@njit(cache=True)
def _atr(high: Any, low: Any, close: Any, state: Any, out: Any) -> None:  # pragma: no cover
    for i in range(close.size):
        out[0, i], state = atr_step(state, high[i], low[i], close[i])


def atr(high: Any, low: Any, close: Any, period: int = 14) -> np.ndarray:
    """Wilder's average true range (TA-Lib ATR); first valid index ``period``."""
    period = check_period("ATR", "period", period)
    return vectorized("ATR", _atr, (atr_init(period),),
                      high=high, low=low, close=close)


# --- Donchian -------------------------------------------------------------------------------


def donchian_init(period: int) -> tuple[Any, ...]:
    """An empty channel: state ``(t, highs' queue, lows' queue)`` and the queues' rings
    (values and event numbers of the highs, then of the lows)."""
    high_queue, hv, ht = queue_init(period)
    low_queue, lv, lt = queue_init(period)
    return (0, high_queue, low_queue), hv, ht, lv, lt


@step
def donchian_step(state: Any, hv: Any, ht: Any, lv: Any, lt: Any, high: float,
                  low: float) -> tuple[tuple[float, float, float], Any]:
    """Add a bar; ``(upper, middle, lower)``: the highest high and lowest low of the last
    ``period`` bars and their midpoint (NaNs until ``period`` bars were seen)."""
    t, high_queue, low_queue = state
    upper, high_queue = queue_push(high_queue, hv, ht, high, t, True)
    lower, low_queue = queue_push(low_queue, lv, lt, low, t, False)
    state = (t + 1, high_queue, low_queue)
    if t < len(hv) - 2:
        return NAN3, state
    return (upper, (upper + lower) / 2.0, lower), state


class Donchian(Indicator):
    """Donchian channel: ``upper`` is the highest high and ``lower`` the lowest low of the last
    ``period`` bars, ``middle`` their midpoint. ``update`` returns ``(upper, middle, lower)``;
    the attributes keep the last valid channel."""

    __slots__ = ("_queues", "lower", "middle", "period", "upper")

    def __init__(self, period: int) -> None:
        self.period = check_period("DONCHIAN", "period", period)
        state, *queues = donchian_init(self.period)
        self._begin(state, None, NAN3)
        self._queues: list[list[Any]] = [q.tolist() for q in queues]
        self.upper = self.middle = self.lower = NAN

    def update(self, high: float, low: float) -> tuple[float, float, float]:
        """Add one bar; returns ``(upper, middle, lower)``."""
        if high - high + low - low:
            return NAN3
        hv, ht, lv, lt = self._queues
        value, self._state = donchian_step(self._state, hv, ht, lv, lt, high, low)
        if value[0] == value[0]:
            self.value = value
            self.upper, self.middle, self.lower = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[0] >= self.period


@njit(cache=True)
def _donchian(high: Any, low: Any, state: Any, hv: Any, ht: Any, lv: Any, lt: Any,
              out: Any) -> None:  # pragma: no cover - compiled
    for i in range(high.size):
        value, state = donchian_step(state, hv, ht, lv, lt, high[i], low[i])
        out[0, i], out[1, i], out[2, i] = value


def donchian(high: Any, low: Any, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Donchian channel ``(upper, middle, lower)``: highest high and lowest low of the last
    ``period`` bars (TA-Lib MAX/MIN) and their midpoint; first valid index period-1."""
    period = check_period("DONCHIAN", "period", period)
    return vectorized("DONCHIAN", _donchian, donchian_init(period), 3,
                      high=high, low=low)


# --- stochastic -----------------------------------------------------------------------------


def stoch_init(fastk: int, slowk: int, slowd: int) -> tuple[Any, ...]:
    """An empty stochastic: state ``(t, highs' queue, lows' queue, fast %K ring position and
    count, %K ring position and count)``, the queues' rings, the ring of the last ``slowk``
    fast %K values and of the last ``slowd`` %K values."""
    high_queue, hv, ht = queue_init(fastk)
    low_queue, lv, lt = queue_init(fastk)
    return ((0, high_queue, low_queue, 0, 0, 0, 0), hv, ht, lv, lt, np.zeros(slowk),
            np.zeros(slowd))


@step
def _push_mean(buf: Any, pos: int, count: int, x: float) -> tuple[float, int, int]:
    """Write ``x`` into a ring; the ring's mean oldest first once full (else NaN), and the
    new position and count. Each window is summed afresh: no running-sum residue."""
    n = len(buf)
    _, pos = ring_push(buf, pos, x)
    if count < n:
        count += 1
        if count < n:
            return NAN, pos, count
    return ring_sum(buf, pos) / n, pos, count


@step
def stoch_step(state: Any, hv: Any, ht: Any, lv: Any, lt: Any, fast: Any, slow: Any,
               high: float, low: float, close: float) -> tuple[tuple[float, float], Any]:
    """Add a bar; ``(k, d)`` of the slow stochastic with SMA smoothing (TA-Lib STOCH): fast
    %K = 100 * (close - lowest low) / (highest high - lowest low) over ``fastk`` bars (0 when
    that range is 0), ``k`` its ``slowk`` mean, ``d`` the ``slowd`` mean of ``k``."""
    t, high_queue, low_queue, fpos, fcount, spos, scount = state
    highest, high_queue = queue_push(high_queue, hv, ht, high, t, True)
    lowest, low_queue = queue_push(low_queue, lv, lt, low, t, False)
    k = d = NAN
    if t >= len(hv) - 2:
        span = highest - lowest
        fast_k = 100.0 * ((close - lowest) / span) if span != 0.0 else 0.0
        k, fpos, fcount = _push_mean(fast, fpos, fcount, fast_k)
        if k == k:
            d, spos, scount = _push_mean(slow, spos, scount, k)
    state = (t + 1, high_queue, low_queue, fpos, fcount, spos, scount)
    if d != d:
        return NAN2, state
    return (k, d), state


class Stochastic(Indicator):
    """Slow stochastic (TA-Lib STOCH with SMA smoothing). ``update`` returns ``(k, d)``, NaN
    until ``fastk + slowk + slowd - 2`` bars were seen; the attributes keep the last valid
    values."""

    __slots__ = ("_rings", "d", "fastk", "k", "slowd", "slowk")

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        self.fastk = check_period("STOCH", "fastk", fastk)
        self.slowk = check_period("STOCH", "slowk", slowk)
        self.slowd = check_period("STOCH", "slowd", slowd)
        state, *rings = stoch_init(self.fastk, self.slowk, self.slowd)
        self._begin(state, None, NAN2)
        self._rings: list[list[Any]] = [r.tolist() for r in rings]
        self.k = self.d = NAN

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        """Add one bar; returns ``(k, d)``."""
        if high - high + low - low + close - close:
            return NAN2
        hv, ht, lv, lt, fast, slow = self._rings
        value, self._state = stoch_step(self._state, hv, ht, lv, lt, fast, slow, high, low,
                                        close)
        if value[0] == value[0]:
            self.value = value
            self.k, self.d = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[6] == self.slowd


@njit(cache=True)
def _stoch(high: Any, low: Any, close: Any, state: Any, hv: Any, ht: Any, lv: Any, lt: Any,
           fast: Any, slow: Any, out: Any) -> None:  # pragma: no cover - compiled
    for i in range(close.size):
        value, state = stoch_step(state, hv, ht, lv, lt, fast, slow, high[i], low[i],
                                  close[i])
        out[0, i], out[1, i] = value


def stoch(high: Any, low: Any, close: Any, fastk: int = 5, slowk: int = 3,
          slowd: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic ``(k, d)`` with SMA smoothing (TA-Lib STOCH); first valid index
    fastk+slowk+slowd-3 for both."""
    fastk, slowk, slowd = (check_period("STOCH", name, value) for name, value in
                           (("fastk", fastk), ("slowk", slowk), ("slowd", slowd)))
    return vectorized("STOCH", _stoch, stoch_init(fastk, slowk, slowd), 2,
                      high=high, low=low, close=close)


# --- ADX ------------------------------------------------------------------------------------


def adx_init(period: int) -> tuple[int, int, float, float, float, float, float, float, float,
                                   float]:
    """An empty ADX: ``(period, count, previous high, low and close, +DM, -DM, TR sum, DX sum,
    ADX)``."""
    return (period, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, NAN)


@step
def adx_step(state: Any, high: float, low: float,
             close: float) -> tuple[tuple[float, float, float], Any]:
    """Add a bar; ``(adx, plus_di, minus_di)``, Wilder's directional movement as TA-Lib's
    ADX, PLUS_DI and MINUS_DI: the DIs from the ``period + 1``-th bar on, the ADX from the
    ``2 * period``-th (NaN before)."""
    n, count, prev_high, prev_low, prev_close, plus_dm, minus_dm, tr_sum, dx_sum, value = state
    if count == 0:
        return NAN3, (n, 1, high, low, close, plus_dm, minus_dm, tr_sum, dx_sum, value)
    up = high - prev_high
    down = prev_low - low
    tr = true_range(high, low, prev_close)
    if count >= n:
        minus_dm -= minus_dm / n
        plus_dm -= plus_dm / n
    if down > 0.0 and up < down:
        minus_dm += down
    elif up > 0.0 and up > down:
        plus_dm += up
    if count < n:
        return NAN3, (n, count + 1, high, low, close, plus_dm, minus_dm, tr_sum + tr, dx_sum,
                      value)
    tr_sum = tr_sum - tr_sum / n + tr
    dx = -1.0
    if tr_sum == 0.0:
        plus_di = minus_di = 0.0
    else:
        minus_di = 100.0 * (minus_dm / tr_sum)
        plus_di = 100.0 * (plus_dm / tr_sum)
        di_sum = minus_di + plus_di
        if di_sum != 0.0:
            dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
    if count == 2 * n:
        if dx >= 0.0:
            value = (value * (n - 1) + dx) / n
    else:
        if dx >= 0.0:
            dx_sum += dx
        if count == 2 * n - 1:
            value = dx_sum / n
        count += 1
    return (value, plus_di, minus_di), (n, count, high, low, close, plus_dm, minus_dm, tr_sum,
                                        dx_sum, value)


class ADX(Indicator):
    """Wilder's average directional index with +DI and -DI (TA-Lib ADX, PLUS_DI, MINUS_DI).
    ``update`` returns ``(adx, plus_di, minus_di)``: the DIs from the ``period + 1``-th bar
    on, the ADX (and ``ready``) from the ``2 * period``-th; also kept as attributes."""

    __slots__ = ("adx", "minus_di", "period", "plus_di")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("ADX", "period", period)
        self._begin(adx_init(self.period), None, NAN3)
        self.adx = self.plus_di = self.minus_di = NAN

    def update(self, high: float, low: float, close: float) -> tuple[float, float, float]:
        """Add one bar; returns ``(adx, plus_di, minus_di)``."""
        if high - high + low - low + close - close:
            return NAN3
        value, self._state = adx_step(self._state, high, low, close)
        if value[1] == value[1]:
            self.value = value
            self.adx, self.plus_di, self.minus_di = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[1] == 2 * self.period


@njit(cache=True)
def _adx(high: Any, low: Any, close: Any, state: Any, out: Any) -> None:  # pragma: no cover
    for i in range(close.size):
        value, state = adx_step(state, high[i], low[i], close[i])
        out[0, i], out[1, i], out[2, i] = value


def adx(high: Any, low: Any, close: Any,
        period: int = 14) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(adx, plus_di, minus_di)``, Wilder's directional movement (TA-Lib ADX, PLUS_DI,
    MINUS_DI); the DIs are valid from index ``period``, the ADX from 2*period-1."""
    period = check_period("ADX", "period", period)
    return vectorized("ADX", _adx, (adx_init(period),), 3,
                      high=high, low=low, close=close)
