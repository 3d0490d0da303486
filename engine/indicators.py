"""Indicators, each in two forms that agree: an incremental one (O(1) per event, for the
per-event hooks and live trading) and a vectorized one (numpy/numba, for batch paths and
research). Both are importable from here: the price-series classes live in this module, the
others in ``ta_dispersion``, ``ta_ranges`` and ``ta_volume``, the vectorized forms in
``ta_vectorized`` (numba kernels in ``ta_kernels``). ``docs/indicators.md`` has each
definition.

Conventions follow TA-Lib (seeding, Wilder smoothing, population standard deviation, first
valid index): before its first valid index an output is NaN in the vectorized form, and the
incremental form returns NaN with ``ready`` False. Multi-output indicators return tuples and
also keep each output as an attribute.

Bad input: an event with a NaN or infinite value in any field the indicator reads is skipped.
``update`` returns NaN (a tuple of NaNs) and leaves every piece of state, ``value`` and
``ready`` included, as it was; the vectorized form returns NaN on that row and computes the
others as if the row were absent, so ``f(x)[ok] == f(x[ok])``. Invalid parameters raise
``ValueError`` naming the indicator and the parameter.

The incremental forms repeat the kernels' arithmetic operation for operation, so both forms
give identical floats. ``x - x`` is 0.0 exactly for a finite ``x`` and NaN for NaN or +-inf:
``if x - x:`` is the cheapest bad-input test in pure Python.
"""

from __future__ import annotations

import math
from collections import deque

from engine.ta_dispersion import BollingerBands, StdDev, ZScore
from engine.ta_ranges import ADX, ATR, Donchian, Stochastic
from engine.ta_vectorized import (adx, atr, bbands, check_macd_periods, check_period, donchian,
                                  ema, macd, mom, obv, roc, rsi, sma, stddev, stoch,
                                  typical_price, vwap, vwap_bars, wma, zscore)
from engine.ta_volume import OBV, VWAP

_NAN = math.nan
_NAN3 = (_NAN, _NAN, _NAN)


# --- moving averages ------------------------------------------------------------------------

class SMA:
    """Simple moving average of the last ``period`` values."""

    __slots__ = ("period", "value", "ready", "_buf", "_sum")

    def __init__(self, period: int) -> None:
        self.period = check_period("SMA", "period", period)
        self.value = math.nan
        self.ready = False
        self._buf: deque[float] = deque(maxlen=self.period)
        self._sum = 0.0

    def update(self, x: float) -> float:
        """Add one value; returns the average (NaN until ``period`` values were seen)."""
        if x - x:
            return _NAN
        buf = self._buf
        if self.ready:
            # running sum: add the new value, drop the oldest (the deque evicts it)
            total = self._sum + (x - buf[0])
            buf.append(x)
            self._sum = total
            value = self.value = total / self.period
            return value
        buf.append(x)
        self._sum += x
        if len(buf) == self.period:
            self.ready = True
            self.value = self._sum / self.period
        return self.value


class EMA:
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first
    ``period`` values (TA-Lib EMA); ready after ``period`` values."""

    __slots__ = ("period", "value", "ready", "_k", "_count", "_sum")

    def __init__(self, period: int) -> None:
        self.period = check_period("EMA", "period", period)
        self._k = 2.0 / (self.period + 1)
        self.value = math.nan
        self.ready = False
        self._count = 0
        self._sum = 0.0

    def update(self, x: float) -> float:
        """Add one value; returns the average."""
        if x - x:
            return _NAN
        if self.ready:
            prev = self.value
            value = self.value = (x - prev) * self._k + prev
            return value
        self._sum += x
        self._count += 1
        if self._count == self.period:
            self.ready = True
            self.value = self._sum / self.period
        return self.value


class WMA:
    """Linearly weighted moving average, weights 1..period with the newest heaviest
    (TA-Lib WMA). Running sums, re-summed once per ``period`` updates so they cannot drift."""

    __slots__ = ("period", "value", "ready", "_buf", "_i", "_count", "_weighted", "_plain",
                 "_divisor")

    def __init__(self, period: int) -> None:
        self.period = check_period("WMA", "period", period)
        self.value = math.nan
        self.ready = False
        self._buf = [0.0] * self.period
        self._i = 0
        self._count = 0
        self._weighted = 0.0
        self._plain = 0.0
        self._divisor = self.period * (self.period + 1) / 2

    def update(self, x: float) -> float:
        """Add one value; returns the average."""
        if x - x:
            return _NAN
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
        if i == 0:
            weighted = 0.0
            plain = 0.0
            for j in range(n):
                v = buf[j]
                weighted += v * (j + 1)
                plain += v
        else:
            weighted = self._weighted - self._plain + x * n
            plain = self._plain - old + x
        self._weighted = weighted
        self._plain = plain
        value = self.value = weighted / self._divisor
        return value


# --- momentum -------------------------------------------------------------------------------

class ROC:
    """Rate of change over ``period`` values: ``x / x[-period] - 1`` (a fraction, not percent)."""

    __slots__ = ("period", "value", "ready", "_buf", "_i", "_count")

    def __init__(self, period: int) -> None:
        self.period = check_period("ROC", "period", period)
        self.value = math.nan
        self.ready = False
        self._buf = [0.0] * self.period
        self._i = 0
        self._count = 0

    def update(self, x: float) -> float:
        """Add one value; returns the rate of change (NaN until ``period + 1`` values were seen)."""
        if x - x:
            return _NAN
        i = self._i
        old = self._buf[i]
        self._buf[i] = x
        i += 1
        self._i = 0 if i == self.period else i
        if self.ready:
            self.value = x / old - 1.0 if old != 0.0 else math.nan
        else:
            self._count += 1
            if self._count > self.period:
                self.ready = True
                self.value = x / old - 1.0 if old != 0.0 else math.nan
        return self.value

    # ``_count`` reaches period + 1 only after a full buffer; the first value computed uses the
    # value ``period`` steps back, like TA-Lib's ROCR - 1.


class MOM:
    """Momentum ``x - x[-period]`` (TA-Lib MOM); ready after ``period + 1`` values."""

    __slots__ = ("period", "value", "ready", "_buf", "_i", "_count")

    def __init__(self, period: int) -> None:
        self.period = check_period("MOM", "period", period)
        self.value = math.nan
        self.ready = False
        self._buf = [0.0] * self.period
        self._i = 0
        self._count = 0

    def update(self, x: float) -> float:
        """Add one value; returns the momentum."""
        if x - x:
            return _NAN
        i = self._i
        old = self._buf[i]
        self._buf[i] = x
        i += 1
        self._i = 0 if i == self.period else i
        if not self.ready:
            self._count += 1
            if self._count <= self.period:
                return _NAN
            self.ready = True
        value = self.value = x - old
        return value


class RSI:
    """Wilder's relative strength index, 0..100 (TA-Lib RSI): average gain and loss seeded with
    the mean of the first ``period`` changes, then Wilder-smoothed; ready after ``period + 1``
    values. 0 when neither moved (TA-Lib's convention)."""

    __slots__ = ("period", "value", "ready", "_prev", "_count", "_gain", "_loss")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("RSI", "period", period)
        self.value = math.nan
        self.ready = False
        self._prev = 0.0
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0

    def update(self, x: float) -> float:
        """Add one value; returns the RSI."""
        if x - x:
            return _NAN
        count = self._count
        if count == 0:
            self._prev = x
            self._count = 1
            return _NAN
        change = x - self._prev
        self._prev = x
        n = self.period
        gain = self._gain
        loss = self._loss
        if count > n:
            gain *= n - 1
            loss *= n - 1
        if change < 0.0:
            loss -= change
        else:
            gain += change
        if count < n:
            self._gain = gain
            self._loss = loss
            self._count = count + 1
            return _NAN
        if count == n:
            self._count = n + 1
            self.ready = True
        gain /= n
        loss /= n
        self._gain = gain
        self._loss = loss
        total = gain + loss
        value = self.value = 100.0 * (gain / total) if total != 0.0 else 0.0
        return value


class MACD:
    """Moving average convergence/divergence as TA-Lib MACD: ``macd = EMA(fast) - EMA(slow)``,
    ``signal = EMA(signal)`` of it, ``hist = macd - signal``. Both EMAs start at index
    slow-1, the fast one seeded with the mean of the ``fast`` values ending there. ``update``
    returns ``(macd, signal, hist)``, all NaN until ``slow + signal - 1`` values were seen."""

    __slots__ = ("fast_period", "slow_period", "signal_period", "value", "ready", "macd",
                 "signal", "hist", "_kf", "_ks", "_kg", "_count", "_sum", "_recent", "_fast",
                 "_slow", "_signal_sum", "_signal_count")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast_period, self.slow_period, self.signal_period = check_macd_periods(fast, slow,
                                                                                    signal)
        self._kf = 2.0 / (self.fast_period + 1)
        self._ks = 2.0 / (self.slow_period + 1)
        self._kg = 2.0 / (self.signal_period + 1)
        self.value = _NAN3
        self.ready = False
        self.macd = self.signal = self.hist = math.nan
        self._count = 0
        self._sum = 0.0
        self._recent: deque[float] = deque(maxlen=self.fast_period)
        self._fast = self._slow = 0.0
        self._signal_sum = 0.0
        self._signal_count = 0

    def update(self, x: float) -> tuple[float, float, float]:
        """Add one value; returns ``(macd, signal, hist)``."""
        if x - x:
            return _NAN3
        slow = self.slow_period
        if self._count < slow:
            self._count += 1
            self._sum += x
            self._recent.append(x)
            if self._count < slow:
                return _NAN3
            self._slow = self._sum / slow
            total = 0.0
            for v in self._recent:
                total += v
            self._fast = total / self.fast_period
        else:
            self._fast = (x - self._fast) * self._kf + self._fast
            self._slow = (x - self._slow) * self._ks + self._slow
        line = self._fast - self._slow
        if self.ready:
            signal = (line - self.signal) * self._kg + self.signal
        else:
            self._signal_sum += line
            self._signal_count += 1
            if self._signal_count < self.signal_period:
                return _NAN3
            signal = self._signal_sum / self.signal_period
            self.ready = True
        hist = line - signal
        self.macd = line
        self.signal = signal
        self.hist = hist
        value = self.value = (line, signal, hist)
        return value


__all__ = ["ADX", "ATR", "EMA", "MACD", "MOM", "OBV", "ROC", "RSI", "SMA", "VWAP", "WMA",
           "BollingerBands", "Donchian", "StdDev", "Stochastic", "ZScore",
           "adx", "atr", "bbands", "donchian", "ema", "macd", "mom", "obv", "roc", "rsi", "sma",
           "stddev", "stoch", "typical_price", "vwap", "vwap_bars", "wma", "zscore"]
