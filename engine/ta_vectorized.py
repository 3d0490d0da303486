"""Vectorized indicators: whole arrays in, arrays of the same length out, NaN before each
output's first valid index. Import them from ``engine.indicators``, next to their incremental
twins; the definitions, conventions and bad-input rule are in that module and in
``docs/indicators.md``.

Recursive indicators run in the numba kernels of ``engine.ta_kernels``; the rest is numpy.
Every function refuses an invalid period or mismatched array lengths with a ``ValueError``
naming the indicator and the parameter or arrays, and drops rows with a non-finite input
before computing (those rows come back NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine import ta_kernels as k
from engine.timeframes import NS_PER_DAY

Array = np.ndarray


# --- argument checks ------------------------------------------------------------------------

def check_period(indicator: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` naming the indicator and the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{indicator} {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{indicator} {name} must be >= {minimum}, got {value}")
    return int(value)


def check_factor(indicator: str, name: str, value: object) -> float:
    """``value`` as a finite float, or ``ValueError`` naming the indicator and the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{indicator} {name} must be a finite number, got {value!r}")
    return float(value)


def _series(indicator: str, **arrays: object) -> list[Array]:
    """The inputs as contiguous float64 vectors of one length."""
    out = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays.values()]
    for name, a in zip(arrays, out):
        if a.ndim != 1:
            raise ValueError(f"{indicator} {name} must be one-dimensional, got shape {a.shape}")
    if len({a.size for a in out}) > 1:
        sizes = ", ".join(f"{name}={a.size}" for name, a in zip(arrays, out))
        raise ValueError(f"{indicator} arrays {', '.join(arrays)} must have the same length, "
                         f"got {sizes}")
    return out


def _on_finite_rows(kernel: Callable, *arrays: Array):
    """``kernel`` over the rows where every array is finite; the other rows come back NaN."""
    ok = np.isfinite(arrays[0])
    for a in arrays[1:]:
        ok &= np.isfinite(a)
    if ok.all():
        return kernel(*arrays)
    result = kernel(*(np.ascontiguousarray(a[ok]) for a in arrays))
    if isinstance(result, tuple):
        return tuple(_scatter(r, ok) for r in result)
    return _scatter(result, ok)


def _scatter(values: Array, ok: Array) -> Array:
    out = np.full(ok.size, np.nan)
    out[ok] = values
    return out


# --- moving averages ------------------------------------------------------------------------

def sma(values: Array, period: int) -> Array:
    """Vectorized SMA with the incremental form's running-sum arithmetic (NaN before index
    period-1)."""
    period = check_period("SMA", "period", period)
    (x,) = _series("SMA", values=values)
    return _on_finite_rows(lambda v: _sma(v, period), x)


def _sma(x: Array, period: int) -> Array:
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    # Same operation order as SMA.update: sum += x[i] - x[i - period], sequentially.
    delta = x.copy()
    delta[period:] -= x[:-period]
    running = np.add.accumulate(delta)
    out[period - 1:] = running[period - 1:] / period
    return out


def ema(values: Array, period: int) -> Array:
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first ``period``
    values (TA-Lib EMA); first valid index period-1."""
    period = check_period("EMA", "period", period)
    (x,) = _series("EMA", values=values)
    return _on_finite_rows(lambda v: k.ema(v, period), x)


def wma(values: Array, period: int) -> Array:
    """Linearly weighted moving average, weights 1..period, newest heaviest (TA-Lib WMA);
    first valid index period-1."""
    period = check_period("WMA", "period", period)
    (x,) = _series("WMA", values=values)
    return _on_finite_rows(lambda v: k.wma(v, period), x)


# --- momentum -------------------------------------------------------------------------------

def roc(values: Array, period: int) -> Array:
    """Vectorized rate of change (NaN for the first ``period`` values)."""
    period = check_period("ROC", "period", period)
    (x,) = _series("ROC", values=values)
    return _on_finite_rows(lambda v: _roc(v, period), x)


def _roc(x: Array, period: int) -> Array:
    out = np.full(len(x), np.nan)
    if len(x) > period:
        prev = x[:-period]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out[period:] = np.where(prev != 0.0, x[period:] / prev - 1.0, np.nan)
    return out


def mom(values: Array, period: int) -> Array:
    """Momentum ``x - x[-period]`` (TA-Lib MOM); first valid index ``period``."""
    period = check_period("MOM", "period", period)
    (x,) = _series("MOM", values=values)
    return _on_finite_rows(lambda v: _mom(v, period), x)


def _mom(x: Array, period: int) -> Array:
    out = np.full(len(x), np.nan)
    if len(x) > period:
        out[period:] = x[period:] - x[:-period]
    return out


def rsi(values: Array, period: int = 14) -> Array:
    """Wilder's relative strength index, 0..100 (TA-Lib RSI); first valid index ``period``."""
    period = check_period("RSI", "period", period)
    (x,) = _series("RSI", values=values)
    return _on_finite_rows(lambda v: k.rsi(v, period), x)


def macd(values: Array, fast: int = 12, slow: int = 26,
         signal: int = 9) -> tuple[Array, Array, Array]:
    """``(macd, signal, hist)`` as TA-Lib MACD; all three valid from index slow+signal-2."""
    fast, slow, signal = check_macd_periods(fast, slow, signal)
    (x,) = _series("MACD", values=values)
    return _on_finite_rows(lambda v: k.macd(v, fast, slow, signal), x)


def check_macd_periods(fast: object, slow: object, signal: object) -> tuple[int, int, int]:
    """MACD's periods as ints, or ``ValueError``; ``fast`` must be shorter than ``slow``."""
    fast = check_period("MACD", "fast", fast)
    slow = check_period("MACD", "slow", slow)
    signal = check_period("MACD", "signal", signal)
    if fast >= slow:
        raise ValueError(f"MACD fast must be < slow, got fast={fast}, slow={slow}")
    return fast, slow, signal


# --- dispersion -----------------------------------------------------------------------------

def stddev(values: Array, period: int) -> Array:
    """Rolling population standard deviation (TA-Lib STDDEV, nbdev=1); first valid index
    period-1."""
    period = check_period("STDDEV", "period", period, minimum=2)
    (x,) = _series("STDDEV", values=values)
    return _on_finite_rows(lambda v: np.sqrt(k.moments(v, period)[1]), x)


def zscore(values: Array, period: int) -> Array:
    """``(x - SMA) / STDDEV`` over ``period`` values; NaN where the window is flat."""
    period = check_period("ZSCORE", "period", period, minimum=2)
    (x,) = _series("ZSCORE", values=values)
    return _on_finite_rows(lambda v: _zscore(v, period), x)


def _zscore(x: Array, period: int) -> Array:
    _, var, dev = k.moments(x, period)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0.0, dev / std, np.nan)


def bbands(values: Array, period: int = 20, nbdev_up: float = 2.0,
           nbdev_dn: float = 2.0) -> tuple[Array, Array, Array]:
    """Bollinger Bands ``(upper, middle, lower)``: the window mean plus/minus ``nbdev`` population
    standard deviations (TA-Lib BBANDS with an SMA); first valid index period-1."""
    period = check_period("BBANDS", "period", period, minimum=2)
    up = check_factor("BBANDS", "nbdev_up", nbdev_up)
    dn = check_factor("BBANDS", "nbdev_dn", nbdev_dn)
    (x,) = _series("BBANDS", values=values)
    return _on_finite_rows(lambda v: _bbands(v, period, up, dn), x)


def _bbands(x: Array, period: int, up: float, dn: float) -> tuple[Array, Array, Array]:
    mean, var, _ = k.moments(x, period)
    std = np.sqrt(var)
    return mean + up * std, mean, mean - dn * std


# --- ranges ---------------------------------------------------------------------------------

def atr(high: Array, low: Array, close: Array, period: int = 14) -> Array:
    """Wilder's average true range (TA-Lib ATR); first valid index ``period``."""
    period = check_period("ATR", "period", period)
    arrays = _series("ATR", high=high, low=low, close=close)
    return _on_finite_rows(lambda h, lo, c: k.atr(h, lo, c, period), *arrays)


def donchian(high: Array, low: Array, period: int) -> tuple[Array, Array, Array]:
    """Donchian channel ``(upper, middle, lower)``: highest high and lowest low of the last
    ``period`` bars (TA-Lib MAX/MIN) and their midpoint; first valid index period-1."""
    period = check_period("DONCHIAN", "period", period)
    arrays = _series("DONCHIAN", high=high, low=low)
    return _on_finite_rows(lambda h, lo: _donchian(h, lo, period), *arrays)


def _donchian(high: Array, low: Array, period: int) -> tuple[Array, Array, Array]:
    upper = k.rolling_max(high, period)
    lower = k.rolling_min(low, period)
    return upper, (upper + lower) / 2.0, lower


def stoch(high: Array, low: Array, close: Array, fastk: int = 5, slowk: int = 3,
          slowd: int = 3) -> tuple[Array, Array]:
    """Slow stochastic ``(k, d)`` with SMA smoothing (TA-Lib STOCH); first valid index
    fastk+slowk+slowd-3 for both."""
    fastk, slowk, slowd = (check_period("STOCH", name, value) for name, value in
                           (("fastk", fastk), ("slowk", slowk), ("slowd", slowd)))
    arrays = _series("STOCH", high=high, low=low, close=close)
    return _on_finite_rows(lambda h, lo, c: _stoch(h, lo, c, fastk, slowk, slowd), *arrays)


def _stoch(high: Array, low: Array, close: Array, fastk: int, slowk: int,
           slowd: int) -> tuple[Array, Array]:
    highest = k.rolling_max(high, fastk)
    lowest = k.rolling_min(low, fastk)
    span = highest - lowest
    with np.errstate(divide="ignore", invalid="ignore"):
        fast = np.where(span != 0.0, 100.0 * ((close - lowest) / span), 0.0)
    fast[:fastk - 1] = np.nan
    slow_k = k.window_mean(fast, fastk - 1, slowk)
    slow_d = k.window_mean(slow_k, fastk + slowk - 2, slowd)
    slow_k[:fastk + slowk + slowd - 3] = np.nan
    return slow_k, slow_d


def adx(high: Array, low: Array, close: Array,
        period: int = 14) -> tuple[Array, Array, Array]:
    """``(adx, plus_di, minus_di)``, Wilder's directional movement (TA-Lib ADX, PLUS_DI,
    MINUS_DI); the DIs are valid from index ``period``, the ADX from 2*period-1."""
    period = check_period("ADX", "period", period)
    arrays = _series("ADX", high=high, low=low, close=close)
    return _on_finite_rows(lambda h, lo, c: k.adx(h, lo, c, period), *arrays)


# --- volume ---------------------------------------------------------------------------------

def obv(close: Array, volume: Array) -> Array:
    """On-balance volume, starting at the first volume (TA-Lib OBV); valid from index 0."""
    arrays = _series("OBV", close=close, volume=volume)
    return _on_finite_rows(k.obv, *arrays)


def typical_price(high: Array, low: Array, close: Array) -> Array:
    """``(high + low + close) / 3`` (TA-Lib TYPPRICE)."""
    h, lo, c = _series("TYPPRICE", high=high, low=low, close=close)
    return (h + lo + c) / 3.0


def vwap(ts: Array, price: Array, size: Array, *, session: int = NS_PER_DAY,
         offset: int = 0) -> Array:
    """Session VWAP of trades: cumulative ``price*size`` over cumulative ``size`` since the
    session began; NaN until the session has positive volume.

    ``ts`` is int nanoseconds (or datetime64); a session is ``[offset + j*session,
    offset + (j+1)*session)``, by default the UTC day.
    """
    session, offset = check_session("VWAP", session, offset)
    stamps = _stamps("VWAP", ts)
    p, s = _series("VWAP", price=price, size=size)
    if stamps.size != p.size:
        raise ValueError(f"VWAP arrays ts, price, size must have the same length, got "
                         f"ts={stamps.size}, price={p.size}, size={s.size}")
    return _session_vwap(stamps, p, s, session, offset)


def vwap_bars(ts: Array, high: Array, low: Array, close: Array, volume: Array, *,
              session: int = NS_PER_DAY, offset: int = 0) -> Array:
    """Session VWAP of bars, each weighted at its typical price ``(h+l+c)/3``; ``ts`` is the
    bar's open time (a bar belongs to the session it opens in)."""
    session, offset = check_session("VWAP", session, offset)
    stamps = _stamps("VWAP", ts)
    h, lo, c, v = _series("VWAP", high=high, low=low, close=close, volume=volume)
    if stamps.size != c.size:
        raise ValueError(f"VWAP arrays ts, high, low, close, volume must have the same length, "
                         f"got ts={stamps.size}, close={c.size}")
    with np.errstate(invalid="ignore", over="ignore"):
        price = (h + lo + c) / 3.0
    price[~(np.isfinite(h) & np.isfinite(lo) & np.isfinite(c))] = np.nan
    return _session_vwap(stamps, price, v, session, offset)


def _session_vwap(ts: Array, price: Array, size: Array, session: int, offset: int) -> Array:
    ok = np.isfinite(price) & np.isfinite(size)
    if not ok.all():
        return _scatter(_session_vwap(ts[ok], price[ok], size[ok], session, offset), ok)
    with np.errstate(over="ignore", invalid="ignore"):
        pv = price * size
    return k.vwap(np.ascontiguousarray(ts), pv, np.ascontiguousarray(size), session, offset)


def check_session(indicator: str, session: object, offset: object) -> tuple[int, int]:
    """A session length (ns, >= 1) and offset (int ns), or ``ValueError``."""
    session = check_period(indicator, "session", session)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise ValueError(f"{indicator} offset must be an int (ns), got {offset!r}")
    return session, int(offset)


def _stamps(indicator: str, ts: object) -> Array:
    stamps = np.asarray(ts)
    if np.issubdtype(stamps.dtype, np.datetime64):
        stamps = stamps.astype("datetime64[ns]").astype(np.int64)
    elif not np.issubdtype(stamps.dtype, np.integer):
        raise ValueError(f"{indicator} ts must be int nanoseconds or datetime64, "
                         f"got dtype {stamps.dtype}")
    if stamps.ndim != 1:
        raise ValueError(f"{indicator} ts must be one-dimensional, got shape {stamps.shape}")
    return stamps.astype(np.int64, copy=False)


__all__ = ["adx", "atr", "bbands", "donchian", "ema", "macd", "mom", "obv", "roc", "rsi", "sma",
           "stddev", "stoch", "typical_price", "vwap", "vwap_bars", "wma", "zscore"]
