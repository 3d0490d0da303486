"""Incremental indicators of bar ranges: ATR, Donchian channel, stochastic and ADX/DI. Import
them from ``engine.indicators`` (conventions there)."""

from __future__ import annotations

import math
from collections import deque

from engine.ta_vectorized import check_period

_NAN = math.nan
_NAN2 = (_NAN, _NAN)
_NAN3 = (_NAN, _NAN, _NAN)


class ATR:
    """Wilder's average true range (TA-Lib ATR): the mean of the first ``period`` true ranges,
    then ``(atr * (period-1) + tr) / period``; ready after ``period + 1`` bars."""

    __slots__ = ("period", "value", "ready", "_prev_close", "_count", "_sum")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("ATR", "period", period)
        self.value = math.nan
        self.ready = False
        self._prev_close = 0.0
        self._count = 0
        self._sum = 0.0

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar; returns the ATR."""
        if high - high + low - low + close - close:
            return _NAN
        count = self._count
        prev = self._prev_close
        self._prev_close = close
        if count == 0:
            self._count = 1
            return _NAN
        tr = high - low
        up = abs(prev - high)
        if up > tr:
            tr = up
        down = abs(prev - low)
        if down > tr:
            tr = down
        n = self.period
        if count < n:
            self._sum += tr
            self._count = count + 1
            return _NAN
        if count == n:
            value = (self._sum + tr) / n
            self._count = n + 1
            self.ready = True
        else:
            value = self.value * (n - 1)
            value += tr
            value /= n
        self.value = value
        return value


class Donchian:
    """Donchian channel: ``upper`` is the highest high and ``lower`` the lowest low of the last
    ``period`` bars, ``middle`` their midpoint. ``update`` returns ``(upper, middle, lower)``."""

    __slots__ = ("period", "value", "ready", "upper", "middle", "lower", "_t", "_hv", "_ht",
                 "_lv", "_lt")

    def __init__(self, period: int) -> None:
        self.period = check_period("DONCHIAN", "period", period)
        self.value = _NAN3
        self.ready = False
        self.upper = self.middle = self.lower = math.nan
        self._t = 0
        # monotonic queues: values and their event numbers, best first
        self._hv: deque[float] = deque()
        self._ht: deque[int] = deque()
        self._lv: deque[float] = deque()
        self._lt: deque[int] = deque()

    def update(self, high: float, low: float) -> tuple[float, float, float]:
        """Add one bar; returns ``(upper, middle, lower)``."""
        if high - high + low - low:
            return _NAN3
        t = self._t
        self._t = t + 1
        upper = _push_max(self._hv, self._ht, high, t, self.period)
        lower = _push_min(self._lv, self._lt, low, t, self.period)
        if not self.ready:
            if t < self.period - 1:
                return _NAN3
            self.ready = True
        middle = (upper + lower) / 2.0
        self.upper = upper
        self.middle = middle
        self.lower = lower
        value = self.value = (upper, middle, lower)
        return value


def _push_max(values: deque, stamps: deque, x: float, t: int, period: int) -> float:
    while values and values[-1] <= x:
        values.pop()
        stamps.pop()
    values.append(x)
    stamps.append(t)
    if stamps[0] <= t - period:
        values.popleft()
        stamps.popleft()
    return values[0]


def _push_min(values: deque, stamps: deque, x: float, t: int, period: int) -> float:
    while values and values[-1] >= x:
        values.pop()
        stamps.pop()
    values.append(x)
    stamps.append(t)
    if stamps[0] <= t - period:
        values.popleft()
        stamps.popleft()
    return values[0]


class Stochastic:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): fast %K = 100 * (close - lowest low)
    / (highest high - lowest low) over ``fastk`` bars (0 when that range is 0), ``k`` = its
    ``slowk`` mean, ``d`` = the ``slowd`` mean of ``k``. ``update`` returns ``(k, d)``, NaN
    until ``fastk + slowk + slowd - 2`` bars were seen."""

    __slots__ = ("fastk", "slowk", "slowd", "value", "ready", "k", "d", "_t", "_hv", "_ht",
                 "_lv", "_lt", "_fast", "_slow")

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        self.fastk = check_period("STOCH", "fastk", fastk)
        self.slowk = check_period("STOCH", "slowk", slowk)
        self.slowd = check_period("STOCH", "slowd", slowd)
        self.value = _NAN2
        self.ready = False
        self.k = self.d = math.nan
        self._t = 0
        self._hv: deque[float] = deque()
        self._ht: deque[int] = deque()
        self._lv: deque[float] = deque()
        self._lt: deque[int] = deque()
        self._fast: deque[float] = deque(maxlen=self.slowk)
        self._slow: deque[float] = deque(maxlen=self.slowd)

    def update(self, high: float, low: float, close: float) -> tuple[float, float]:
        """Add one bar; returns ``(k, d)``."""
        if high - high + low - low + close - close:
            return _NAN2
        t = self._t
        self._t = t + 1
        highest = _push_max(self._hv, self._ht, high, t, self.fastk)
        lowest = _push_min(self._lv, self._lt, low, t, self.fastk)
        if t < self.fastk - 1:
            return _NAN2
        span = highest - lowest
        fast = self._fast
        fast.append(100.0 * ((close - lowest) / span) if span != 0.0 else 0.0)
        if len(fast) < self.slowk:
            return _NAN2
        # each window summed afresh: short windows, and no running-sum residue around 0
        total = 0.0
        for v in fast:
            total += v
        k = total / self.slowk
        slow = self._slow
        slow.append(k)
        if len(slow) < self.slowd:
            return _NAN2
        total = 0.0
        for v in slow:
            total += v
        d = total / self.slowd
        self.ready = True
        self.k = k
        self.d = d
        value = self.value = (k, d)
        return value


class ADX:
    """Wilder's average directional index with +DI and -DI (TA-Lib ADX, PLUS_DI, MINUS_DI).
    ``update`` returns ``(adx, plus_di, minus_di)``: the DIs from the ``period + 1``-th bar on,
    the ADX (and ``ready``) from the ``2 * period``-th."""

    __slots__ = ("period", "value", "ready", "adx", "plus_di", "minus_di", "_count", "_high",
                 "_low", "_close", "_plus_dm", "_minus_dm", "_tr", "_dx_sum")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("ADX", "period", period)
        self.value = _NAN3
        self.ready = False
        self.adx = self.plus_di = self.minus_di = math.nan
        self._count = 0
        self._high = self._low = self._close = 0.0
        self._plus_dm = self._minus_dm = self._tr = self._dx_sum = 0.0

    def update(self, high: float, low: float, close: float) -> tuple[float, float, float]:
        """Add one bar; returns ``(adx, plus_di, minus_di)``."""
        if high - high + low - low + close - close:
            return _NAN3
        i = self._count
        prev_close = self._close
        up = high - self._high
        down = self._low - low
        self._high = high
        self._low = low
        self._close = close
        if i == 0:
            self._count = 1
            return _NAN3
        tr = high - low
        d = abs(prev_close - high)
        if d > tr:
            tr = d
        d = abs(prev_close - low)
        if d > tr:
            tr = d
        n = self.period
        plus_dm = self._plus_dm
        minus_dm = self._minus_dm
        if i >= n:
            minus_dm -= minus_dm / n
            plus_dm -= plus_dm / n
        if down > 0.0 and up < down:
            minus_dm += down
        elif up > 0.0 and up > down:
            plus_dm += up
        self._plus_dm = plus_dm
        self._minus_dm = minus_dm
        if i < n:
            self._tr += tr
            self._count = i + 1
            return _NAN3
        tr_sum = self._tr = self._tr - self._tr / n + tr
        dx = -1.0
        if tr_sum == 0.0:
            plus_di = minus_di = 0.0
        else:
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            di_sum = minus_di + plus_di
            if di_sum != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        self.plus_di = plus_di
        self.minus_di = minus_di
        if self.ready:
            value = self.adx
            if dx >= 0.0:
                value = (value * (n - 1) + dx) / n
        else:
            if dx >= 0.0:
                self._dx_sum += dx
            if i < 2 * n - 1:
                self._count = i + 1
                self.value = (_NAN, plus_di, minus_di)
                return self.value
            value = self._dx_sum / n
            self.ready = True
        self.adx = value
        result = self.value = (value, plus_di, minus_di)
        return result
