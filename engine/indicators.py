"""Indicators, each in two forms that agree: an incremental one (O(1) per event, for the
per-event hooks and live trading) and a vectorized one (numpy, for batch paths and research).

Conventions follow TA-Lib: an indicator of length ``n`` has its first valid value at index
``n - 1`` (earlier values are NaN in the vectorized form, and ``ready`` is False in the
incremental form).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class SMA:
    """Simple moving average of the last ``period`` values."""

    __slots__ = ("period", "value", "ready", "_buf", "_sum")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be >= 1, got {period}")
        self.period = period
        self.value = math.nan
        self.ready = False
        self._buf: deque[float] = deque(maxlen=period)
        self._sum = 0.0

    def update(self, x: float) -> float:
        """Add one value; returns the average (NaN until ``period`` values were seen)."""
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


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorized SMA with the incremental form's running-sum arithmetic (NaN before index period-1)."""
    if period < 1:
        raise ValueError(f"SMA period must be >= 1, got {period}")
    x = np.asarray(values, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    # Same operation order as SMA.update: sum += x[i] - x[i - period], sequentially.
    delta = x.copy()
    delta[period:] -= x[:-period]
    running = np.add.accumulate(delta)
    out[period - 1:] = running[period - 1:] / period
    return out


class ROC:
    """Rate of change over ``period`` values: ``x / x[-period] - 1`` (a fraction, not percent)."""

    __slots__ = ("period", "value", "ready", "_buf", "_i", "_count")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"ROC period must be >= 1, got {period}")
        self.period = period
        self.value = math.nan
        self.ready = False
        self._buf = [0.0] * period
        self._i = 0
        self._count = 0

    def update(self, x: float) -> float:
        """Add one value; returns the rate of change (NaN until ``period + 1`` values were seen)."""
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


def roc(values: np.ndarray, period: int) -> np.ndarray:
    """Vectorized rate of change (NaN for the first ``period`` values)."""
    if period < 1:
        raise ValueError(f"ROC period must be >= 1, got {period}")
    x = np.asarray(values, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) > period:
        prev = x[:-period]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[period:] = np.where(prev != 0.0, x[period:] / prev - 1.0, np.nan)
    return out
