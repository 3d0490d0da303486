"""Incremental dispersion indicators: rolling standard deviation, z-score and Bollinger Bands,
all on one rolling-moments core. Import them from ``engine.indicators`` (conventions there)."""

from __future__ import annotations

import math

from engine.ta_kernels import CANCELLATION
from engine.ta_vectorized import check_factor, check_period

_NAN = math.nan
_NAN3 = (_NAN, _NAN, _NAN)


class _WindowMoments:
    """Rolling mean and population variance of the last ``period`` values.

    Sums of deviations from an anchor (the newest value at the last re-summation) update in
    O(1); the window is re-summed once per ``period`` updates, and as soon as cancellation
    would cost more than 12 bits, so long series do not drift and a flat window gives exactly
    0. Same arithmetic as ``ta_kernels.moments``.
    """

    __slots__ = ("period", "ready", "_buf", "_i", "_count", "_anchor", "_s1", "_s2", "_peak")

    def __init__(self, indicator: str, period: int) -> None:
        self.period = check_period(indicator, "period", period, minimum=2)
        self.ready = False
        self._buf = [0.0] * self.period
        self._i = 0
        self._count = 0
        self._anchor = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._peak = 0.0

    def _push(self, x: float) -> float:
        """Add a finite value; returns the variance (NaN until the window is full)."""
        n = self.period
        buf = self._buf
        i = self._i
        old = buf[i]
        buf[i] = x
        i += 1
        if i == n:
            i = 0
        self._i = i
        if not self.ready:
            self._count += 1
            if self._count < n:
                return _NAN
            self.ready = True
            self._resum(x)
        elif i == 0:
            self._resum(x)
        else:
            anchor = self._anchor
            dn = x - anchor
            do = old - anchor
            s1 = self._s1 + (dn - do)
            s2 = self._s2 + (dn * dn - do * do)
            self._s1 = s1
            self._s2 = s2
            if s2 > self._peak:
                self._peak = s2
            if (s2 - s1 * s1 / n) * CANCELLATION < self._peak:
                self._resum(x)
        s1 = self._s1
        centred = self._s2 - s1 * s1 / n
        return centred / n if centred > 0.0 else 0.0

    def _resum(self, newest: float) -> None:
        buf = self._buf
        i = self._i
        s1 = 0.0
        s2 = 0.0
        for v in buf[i:] + buf[:i]:
            d = v - newest
            s1 += d
            s2 += d * d
        self._anchor = newest
        self._s1 = s1
        self._s2 = s2
        self._peak = s2


class StdDev(_WindowMoments):
    """Rolling population standard deviation (TA-Lib STDDEV, nbdev=1); ready after
    ``period`` values."""

    __slots__ = ("value",)

    def __init__(self, period: int) -> None:
        super().__init__("STDDEV", period)
        self.value = math.nan

    def update(self, x: float) -> float:
        """Add one value; returns the standard deviation."""
        if x - x:
            return _NAN
        var = self._push(x)
        if var != var:
            return _NAN
        value = self.value = math.sqrt(var)
        return value


class ZScore(_WindowMoments):
    """``(x - SMA) / STDDEV`` over the last ``period`` values (population); NaN when the window
    is flat."""

    __slots__ = ("value",)

    def __init__(self, period: int) -> None:
        super().__init__("ZSCORE", period)
        self.value = math.nan

    def update(self, x: float) -> float:
        """Add one value; returns its z-score within the window."""
        if x - x:
            return _NAN
        var = self._push(x)
        if var != var:
            return _NAN
        std = math.sqrt(var)
        value = self.value = ((x - self._anchor) - self._s1 / self.period) / std \
            if std > 0.0 else _NAN
        return value


class BollingerBands(_WindowMoments):
    """Bollinger Bands (TA-Lib BBANDS with an SMA): ``middle`` is the mean of the last
    ``period`` values, ``upper``/``lower`` are ``nbdev_up``/``nbdev_dn`` population standard
    deviations away. ``update`` returns ``(upper, middle, lower)``."""

    __slots__ = ("nbdev_up", "nbdev_dn", "value", "upper", "middle", "lower")

    def __init__(self, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0) -> None:
        super().__init__("BBANDS", period)
        self.nbdev_up = check_factor("BBANDS", "nbdev_up", nbdev_up)
        self.nbdev_dn = check_factor("BBANDS", "nbdev_dn", nbdev_dn)
        self.value = _NAN3
        self.upper = self.middle = self.lower = math.nan

    def update(self, x: float) -> tuple[float, float, float]:
        """Add one value; returns ``(upper, middle, lower)``."""
        if x - x:
            return _NAN3
        var = self._push(x)
        if var != var:
            return _NAN3
        std = math.sqrt(var)
        middle = self._anchor + self._s1 / self.period
        upper = self.upper = middle + self.nbdev_up * std
        lower = self.lower = middle - self.nbdev_dn * std
        self.middle = middle
        value = self.value = (upper, middle, lower)
        return value
