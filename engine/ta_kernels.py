"""Numba kernels behind the vectorized indicators in ``engine.indicators``.

Each kernel repeats, operation for operation, the arithmetic of the matching incremental class,
so the two forms agree bit for bit: sums run sequentially in window order (oldest first), and
numba emits no FMA contraction without ``fastmath``. Kernels see only finite inputs (the caller
drops bad rows) and return NaN before their first valid index; empty or short inputs give
all-NaN outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CANCELLATION = 4096.0
"""Rolling moments re-sum their window when the centred sum of squares falls below
1/CANCELLATION of the largest anchored sum of squares since the last re-summation, so at most
12 bits are ever lost to cancellation."""


@njit(cache=True)
def ema(x: np.ndarray, period: int) -> np.ndarray:
    """EMA seeded with the SMA of the first ``period`` values."""
    out = np.full(x.size, np.nan)
    if x.size < period:
        return out
    k = 2.0 / (period + 1)
    total = 0.0
    for i in range(period):
        total += x[i]
    prev = total / period
    out[period - 1] = prev
    for i in range(period, x.size):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
    return out


@njit(cache=True)
def wma(x: np.ndarray, period: int) -> np.ndarray:
    """WMA from running weighted and plain sums, re-summed once per ``period`` values."""
    out = np.full(x.size, np.nan)
    divisor = period * (period + 1) / 2
    weighted = 0.0
    plain = 0.0
    for i in range(period - 1, x.size):
        if (i + 1) % period == 0:
            # re-sum once per window (the incremental ring buffer wraps here)
            weighted = 0.0
            plain = 0.0
            for j in range(period):
                v = x[i - period + 1 + j]
                weighted += v * (j + 1)
                plain += v
        else:
            v = x[i]
            weighted = weighted - plain + v * period
            plain = plain - x[i - period] + v
        out[i] = weighted / divisor
    return out


@njit(cache=True)
def rsi(x: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI: mean gain/loss of the first ``period`` changes, then Wilder-smoothed."""
    out = np.full(x.size, np.nan)
    if x.size <= period:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, x.size):
        change = x[i] - x[i - 1]
        if i > period:
            gain *= period - 1
            loss *= period - 1
        if change < 0.0:
            loss -= change
        else:
            gain += change
        if i < period:
            continue
        gain /= period
        loss /= period
        total = gain + loss
        out[i] = 100.0 * (gain / total) if total != 0.0 else 0.0
    return out


@njit(cache=True)
def macd(x: np.ndarray, fast: int, slow: int, signal: int):
    """MACD line, signal and histogram, NaN until the signal is seeded."""
    line = np.full(x.size, np.nan)
    trigger = np.full(x.size, np.nan)
    hist = np.full(x.size, np.nan)
    if x.size < slow + signal - 1:
        return line, trigger, hist
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    total = 0.0
    for i in range(slow):
        total += x[i]
    slow_ema = total / slow
    # TA-Lib seeds the fast EMA with the mean of the `fast` values ending where the slow one starts
    total = 0.0
    for i in range(slow - fast, slow):
        total += x[i]
    fast_ema = total / fast
    sig_total = 0.0
    sig = 0.0
    for i in range(slow - 1, x.size):
        if i >= slow:
            v = x[i]
            fast_ema = (v - fast_ema) * kf + fast_ema
            slow_ema = (v - slow_ema) * ks + slow_ema
        m = fast_ema - slow_ema
        seen = i - slow + 2
        if seen < signal:
            sig_total += m
            continue
        if seen == signal:
            sig_total += m
            sig = sig_total / signal
        else:
            sig = (m - sig) * kg + sig
        line[i] = m
        trigger[i] = sig
        hist[i] = m - sig
    return line, trigger, hist


@njit(cache=True)
def _window_sums(x: np.ndarray, end: int, period: int):
    """Shifted sums of the window ending at ``end``, anchored at its newest value."""
    anchor = x[end]
    s1 = 0.0
    s2 = 0.0
    for j in range(end - period + 1, end + 1):
        d = x[j] - anchor
        s1 += d
        s2 += d * d
    return anchor, s1, s2


@njit(cache=True)
def moments(x: np.ndarray, period: int):
    """Rolling mean, population variance and ``x - mean`` over ``period`` values.

    Sums of deviations from an anchor (the newest value at the last re-summation) are updated
    in O(1); the window is re-summed once per ``period`` updates and whenever cancellation
    would cost more than 12 bits, so long series do not drift and a flat window gives 0.
    """
    mean = np.full(x.size, np.nan)
    var = np.full(x.size, np.nan)
    dev = np.full(x.size, np.nan)
    anchor = 0.0
    s1 = 0.0
    s2 = 0.0
    peak = 0.0
    for i in range(period - 1, x.size):
        v = x[i]
        if (i + 1) % period == 0:
            anchor, s1, s2 = _window_sums(x, i, period)
            peak = s2
        else:
            dn = v - anchor
            do = x[i - period] - anchor
            s1 += dn - do
            s2 += dn * dn - do * do
            if s2 > peak:
                peak = s2
            if (s2 - s1 * s1 / period) * CANCELLATION < peak:
                anchor, s1, s2 = _window_sums(x, i, period)
                peak = s2
        centred = s2 - s1 * s1 / period
        var[i] = centred / period if centred > 0.0 else 0.0
        mean[i] = anchor + s1 / period
        dev[i] = (v - anchor) - s1 / period
    return mean, var, dev


@njit(cache=True)
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


@njit(cache=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ATR: mean of the first ``period`` true ranges, then Wilder-smoothed."""
    out = np.full(close.size, np.nan)
    total = 0.0
    value = 0.0
    for i in range(1, close.size):
        tr = true_range(high[i], low[i], close[i - 1])
        if i < period:
            total += tr
        elif i == period:
            total += tr
            value = total / period
            out[i] = value
        else:
            value *= period - 1
            value += tr
            value /= period
            out[i] = value
    return out


@njit(cache=True)
def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int):
    """ADX, +DI and -DI in one pass, as TA-Lib's ADX/PLUS_DI/MINUS_DI."""
    size = close.size
    adx_out = np.full(size, np.nan)
    plus_out = np.full(size, np.nan)
    minus_out = np.full(size, np.nan)
    plus_dm = 0.0
    minus_dm = 0.0
    tr_sum = 0.0
    dx_sum = 0.0
    value = 0.0
    for i in range(1, size):
        up = high[i] - high[i - 1]
        down = low[i - 1] - low[i]
        tr = true_range(high[i], low[i], close[i - 1])
        if i >= period:
            minus_dm -= minus_dm / period
            plus_dm -= plus_dm / period
        if down > 0.0 and up < down:
            minus_dm += down
        elif up > 0.0 and up > down:
            plus_dm += up
        if i < period:
            tr_sum += tr
            continue
        tr_sum = tr_sum - tr_sum / period + tr
        dx = -1.0
        if tr_sum == 0.0:
            plus_out[i] = 0.0
            minus_out[i] = 0.0
        else:
            minus_di = 100.0 * (minus_dm / tr_sum)
            plus_di = 100.0 * (plus_dm / tr_sum)
            plus_out[i] = plus_di
            minus_out[i] = minus_di
            di_sum = minus_di + plus_di
            if di_sum != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / di_sum)
        if i < 2 * period - 1:
            if dx >= 0.0:
                dx_sum += dx
        elif i == 2 * period - 1:
            if dx >= 0.0:
                dx_sum += dx
            value = dx_sum / period
            adx_out[i] = value
        else:
            if dx >= 0.0:
                value = (value * (period - 1) + dx) / period
            adx_out[i] = value
    return adx_out, plus_out, minus_out


@njit(cache=True)
def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, summed with Neumaier compensation (starts at the first volume)."""
    out = np.full(close.size, np.nan)
    if close.size == 0:
        return out
    total = volume[0]
    carry = 0.0
    out[0] = total
    for i in range(1, close.size):
        if close[i] > close[i - 1]:
            step = volume[i]
        elif close[i] < close[i - 1]:
            step = -volume[i]
        else:
            out[i] = total + carry
            continue
        t = total + step
        if abs(total) >= abs(step):
            carry += (total - t) + step
        else:
            carry += (step - t) + total
        total = t
        out[i] = total + carry
    return out


@njit(cache=True)
def vwap(ts: np.ndarray, pv: np.ndarray, volume: np.ndarray, session: int,
         offset: int) -> np.ndarray:
    """Cumulative sum(price*volume)/sum(volume), restarted when the session id changes."""
    out = np.full(ts.size, np.nan)
    current = 0
    pv_total = 0.0
    vol_total = 0.0
    for i in range(ts.size):
        sid = (ts[i] - offset) // session
        if i == 0 or sid != current:
            current = sid
            pv_total = 0.0
            vol_total = 0.0
        pv_total += pv[i]
        vol_total += volume[i]
        if vol_total > 0.0:
            out[i] = pv_total / vol_total
    return out


@njit(cache=True)
def rolling_max(x: np.ndarray, period: int) -> np.ndarray:
    """Highest value of the last ``period`` (monotonic queue of indices, O(1) amortized)."""
    out = np.full(x.size, np.nan)
    queue = np.empty(x.size, np.int64)
    head = 0
    tail = 0
    for i in range(x.size):
        while tail > head and x[queue[tail - 1]] <= x[i]:
            tail -= 1
        queue[tail] = i
        tail += 1
        if queue[head] <= i - period:
            head += 1
        if i >= period - 1:
            out[i] = x[queue[head]]
    return out


@njit(cache=True)
def rolling_min(x: np.ndarray, period: int) -> np.ndarray:
    """Lowest value of the last ``period`` (monotonic queue of indices, O(1) amortized)."""
    out = np.full(x.size, np.nan)
    queue = np.empty(x.size, np.int64)
    head = 0
    tail = 0
    for i in range(x.size):
        while tail > head and x[queue[tail - 1]] >= x[i]:
            tail -= 1
        queue[tail] = i
        tail += 1
        if queue[head] <= i - period:
            head += 1
        if i >= period - 1:
            out[i] = x[queue[head]]
    return out


@njit(cache=True)
def window_mean(x: np.ndarray, start: int, period: int) -> np.ndarray:
    """Mean of the last ``period`` values from index ``start + period - 1`` on, each window
    summed afresh in order (exact for short windows, no running-sum residue)."""
    out = np.full(x.size, np.nan)
    for i in range(start + period - 1, x.size):
        total = 0.0
        for j in range(i - period + 1, i + 1):
            total += x[j]
        out[i] = total / period
    return out

