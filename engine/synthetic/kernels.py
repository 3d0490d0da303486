"""Numba kernels of the synthetic market: one pass per block of simulated time.

Bit-for-bit reproducibility across machines rests on three rules kept here:
- random numbers come from numpy's ``Generator`` (drawn by the caller), never numba's;
- only IEEE-exact operations are used (+ - * / sqrt floor ceil; numba emits no FMA
  contraction without ``fastmath``), sums run sequentially;
- ``exp`` is our own polynomial (``dexp``) rather than libm or numpy's SIMD kernels, whose
  last bit differs between CPUs and library versions.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from numba import njit

from engine.timeframes import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE

# exp(x) = 2**e * 2**(j/64) * exp(r) with k = 64 e + j = round(x * 64 / ln 2), |r| <= ln(2)/128.
_K_PER_LN2 = 64.0 / 0.6931471805599453
_LN2_64_HI = 6.93147180369123816490e-01 / 64   # 21 low bits zero: k * hi exact for |k| < 2**21
_LN2_64_LO = 1.90821492927058770002e-10 / 64


def _two_to_sixty_fourths() -> np.ndarray:
    # Decimal arithmetic is exact integer work, identical everywhere, unlike libm's pow.
    with localcontext() as ctx:
        ctx.prec = 50
        return np.array([float(Decimal(2) ** (Decimal(j) / Decimal(64))) for j in range(64)])


_TABLE = _two_to_sixty_fourths()
_POW2 = np.array([math.ldexp(1.0, e) for e in range(-1075, 1024)])   # exact powers of two


@njit(cache=True, inline="always")
def dexp(x: float) -> float:
    """exp(x) to ~1 ulp from IEEE-exact operations only, so every machine agrees."""
    if x != x:
        return x
    if x > 709.78:
        return math.inf
    if x < -744.0:
        return 0.0
    k = int(math.floor(x * _K_PER_LN2 + 0.5))
    j = k & 63
    r = (x - k * _LN2_64_HI) - k * _LN2_64_LO
    # Taylor to r**5: the next term is < 4e-17 relative.
    p = r + r * r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0))))
    return (_TABLE[j] + _TABLE[j] * p) * _POW2[((k - j) >> 6) + 1075]


@njit(cache=True)
def dexp_scalar(x: float) -> float:
    """``dexp`` callable from Python."""
    return dexp(x)


@njit(cache=True)
def sequential_sum(values: np.ndarray) -> float:
    """Left-to-right sum (numpy's pairwise/SIMD order may differ between builds)."""
    total = 0.0
    for v in values:
        total += v
    return total


@njit(cache=True)
def regime_path(u: np.ndarray, start_regime: int, leave_probability: np.ndarray,
                next_cumulative: np.ndarray) -> np.ndarray:
    """Regime code of each minute of a block: a discrete-time Markov chain.

    A minute leaves regime r when ``u < leave_probability[r]``; ``u / leave_probability[r]``
    (uniform again) then picks the next regime from the cumulative row ``next_cumulative[r]``.
    """
    out = np.empty(u.shape[0], dtype=np.int8)
    r = start_regime
    last = next_cumulative.shape[1] - 1
    for m in range(u.shape[0]):
        p = leave_probability[r]
        if u[m] < p:
            v = u[m] / p
            j = 0
            while j < last and v >= next_cumulative[r, j]:
                j += 1
            r = j
        out[m] = r
    return out


@njit(cache=True)
def activity_profile(block_start: int, n_minutes: int, hourly: np.ndarray,
                     weekday_factor: float, weekend_factor: float) -> np.ndarray:
    """Seasonal activity of each minute (mean 1 over a week): the hourly table, interpolated
    linearly within the hour, times the weekday or weekend factor (days are UTC)."""
    out = np.empty(n_minutes)
    for m in range(n_minutes):
        t = block_start + m * NS_PER_MINUTE
        day = t // NS_PER_DAY
        hours = (t - day * NS_PER_DAY) / NS_PER_HOUR
        h = int(hours)
        f = hours - h
        a = hourly[h] + (hourly[(h + 1) % 24] - hourly[h]) * f
        weekday = (day + 3) % 7        # 1970-01-01 was a Thursday; Monday = 0
        out[m] = a * (weekend_factor if weekday >= 5 else weekday_factor)
    return out


@njit(cache=True)
def variance_path(z: np.ndarray, state: np.ndarray, persistence: np.ndarray,
                  innovation: np.ndarray, variance_bias: float, rate_elasticity: float,
                  rate_bias: float) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic volatility of each minute of a block: a sum of AR(1) log-volatility factors.

    ``state`` holds the factors (fast to slow; updated in place); each minute
    ``h_i <- persistence[i] * h_i + innovation[i] * z[i, m]`` and ``h = sum h_i``. Returns the
    variance multiplier ``exp(2 h + variance_bias)`` (mean 1 with ``variance_bias = -2 Var h``)
    and the trade-rate multiplier ``exp(2 rate_elasticity h + rate_bias)`` (mean 1 likewise).
    """
    n = z.shape[1]
    k = state.shape[0]
    variance = np.empty(n)
    rate = np.empty(n)
    for m in range(n):
        h = 0.0
        for i in range(k):
            state[i] = persistence[i] * state[i] + innovation[i] * z[i, m]
            h += state[i]
        variance[m] = dexp(2.0 * h + variance_bias)
        rate[m] = dexp(2.0 * rate_elasticity * h + rate_bias)
    return variance, rate


@njit(cache=True)
def cumulative(rates: np.ndarray) -> np.ndarray:
    """``[0, r0, r0 + r1, ...]``, summed left to right."""
    out = np.empty(rates.shape[0] + 1)
    total = 0.0
    out[0] = 0.0
    for i in range(rates.shape[0]):
        total += rates[i]
        out[i + 1] = total
    return out


@njit(cache=True)
def arrival_times(cum_rate: np.ndarray, exps: np.ndarray, block_start: int, prev_ts: int,
                  min_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrival times in a block whose rate is constant within each minute.

    Partial sums of the unit exponentials ``exps`` are arrival times in operational time;
    the piecewise-linear inverse of ``cum_rate`` (events per minute, cumulated) maps them to
    ns. Each time is pushed to at least ``min_gap`` ns after the previous one, so times stay
    strictly increasing across blocks. Returns (ts, minute index within the block).
    """
    n_minutes = cum_rate.shape[0] - 1
    total = cum_rate[n_minutes]
    ts = np.empty(exps.shape[0], dtype=np.int64)
    minute = np.empty(exps.shape[0], dtype=np.int64)
    s = 0.0
    i = 0
    count = 0
    for k in range(exps.shape[0]):
        s += exps[k]
        if s >= total:
            break
        while cum_rate[i + 1] <= s:
            i += 1
        frac = (s - cum_rate[i]) / (cum_rate[i + 1] - cum_rate[i])
        offset = int(frac * NS_PER_MINUTE)
        if offset >= NS_PER_MINUTE:
            offset = NS_PER_MINUTE - 1
        t = block_start + i * NS_PER_MINUTE + offset
        if t < prev_ts + min_gap:
            t = prev_ts + min_gap
        ts[count] = t
        minute[count] = i
        prev_ts = t
        count += 1
    return ts[:count], minute[:count]


@njit(cache=True)
def jump_sizes(z: np.ndarray, regime: np.ndarray, jump_mean: np.ndarray,
               jump_scale: np.ndarray, clip: float, asymmetry: float,
               mean_abs: float) -> np.ndarray:
    """Log jumps ``mean + scale * S``: T Student-t(3) built from four normals per row of ``z``
    (T = z0 / sqrt((z1^2 + z2^2 + z3^2) / 3)), clipped to +-``clip``; a fall is ``1 +
    asymmetry`` and a rise ``1 - asymmetry`` times T, and ``S`` adds back ``asymmetry *
    mean_abs`` (``mean_abs`` = E|T|), so jumps keep mean ``mean`` but skew to the downside."""
    out = np.empty(z.shape[0])
    up = 1.0 - asymmetry
    down = 1.0 + asymmetry
    offset = asymmetry * mean_abs
    for k in range(z.shape[0]):
        chi2 = (z[k, 1] * z[k, 1] + z[k, 2] * z[k, 2] + z[k, 3] * z[k, 3]) / 3.0
        t = z[k, 0] / math.sqrt(chi2) if chi2 > 0.0 else 0.0
        t = min(max(t, -clip), clip)
        t = t * (up if t > 0.0 else down) + offset
        r = regime[k]
        out[k] = jump_mean[r] + jump_scale[r] * t
    return out


@njit(cache=True)
def simulate_trades(ts: np.ndarray, minute: np.ndarray, regime: np.ndarray,
                    activity: np.ndarray, z: np.ndarray, u_side: np.ndarray,
                    jump_ts: np.ndarray, jump_size: np.ndarray,
                    drift: np.ndarray, vol: np.ndarray, reversion: np.ndarray,
                    buy_probability: np.ndarray, trade_notional: np.ndarray,
                    half_spread: np.ndarray, spread_move: float, anchor_rate: float,
                    overshoot: float, overshoot_rate: float, p0: float, size_sd: float,
                    tick_mul: float, tick_div: float, lot_mul: float, lot_div: float,
                    state: np.ndarray, last_ts: int, with_book: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                               np.ndarray]:
    """Evaluate the latent mid at each trade time, quote around it and fill the trade.

    The log mid ``y`` (relative to ``p0``) moves between consecutive trades by drift, an
    Ornstein-Uhlenbeck pull toward ``anchor`` (an EMA of ``y``), diffusion whose variance
    scales with seasonal ``activity``, and the jumps that fell in between. The quoted mid is
    ``y + u``: the transient ``u`` takes ``overshoot`` times each diffusion move and decays at
    ``overshoot_rate`` per minute, so prices overshoot and give part of a move back within
    the hour (the short-term reversal of real hourly returns). Per-regime arrays
    are in per-minute units; ``half_spread`` is a fraction of the mid, scaled by
    ``1 + spread_move * |z|`` for a diffusion shock z (spreads widen when the price runs);
    ``trade_notional`` is the mean lognormal trade notional. ``state`` = [y, anchor, u] is
    updated in place; ``last_ts`` is the previous trade's time. z rows: diffusion, size.
    Returns price, size, side, bid, ask, mid; the last three are empty unless ``with_book``.
    """
    n = ts.shape[0]
    price = np.empty(n)
    size = np.empty(n)
    side = np.empty(n, dtype=np.int8)
    n_book = n if with_book else 0
    bid = np.empty(n_book)
    ask = np.empty(n_book)
    mid_out = np.empty(n_book)
    y = state[0]
    anchor = state[1]
    u = state[2]
    size_bias = -0.5 * size_sd * size_sd
    ticks_per_unit = tick_div / tick_mul
    lots_per_unit = lot_div / lot_mul
    minutes_per_ns = 1.0 / NS_PER_MINUTE
    j = 0
    n_jumps = jump_ts.shape[0]
    t_prev = last_ts
    for k in range(n):
        t = ts[k]
        dt = (t - t_prev) * minutes_per_ns
        t_prev = t
        m = minute[k]
        r = regime[m]
        while j < n_jumps and jump_ts[j] <= t:
            y += jump_size[j]
            j += 1
        pull = min(reversion[r] * dt, 1.0)
        shock = z[0, k]
        move = vol[r] * math.sqrt(activity[m] * dt) * shock
        y += drift[r] * dt + pull * (anchor - y) + move
        anchor += min(anchor_rate * dt, 1.0) * (y - anchor)
        u += overshoot * move - min(overshoot_rate * dt, 1.0) * u
        mid = p0 * dexp(y + u)
        half = mid * half_spread[r] * (1.0 + spread_move * abs(shock))
        bid_ticks = max(math.floor((mid - half) * ticks_per_unit), 1.0)
        ask_ticks = max(math.ceil((mid + half) * ticks_per_unit), bid_ticks + 1.0)
        # Division (not a multiply by the tick) so a price is the double nearest its decimal.
        b = bid_ticks * tick_mul / tick_div
        a = ask_ticks * tick_mul / tick_div
        if with_book:
            bid[k] = b
            ask[k] = a
            mid_out[k] = mid
        # Branch-free: the aggressor side is a coin flip the CPU cannot predict.
        buy = u_side[k] < buy_probability[r]
        side[k] = 1 if buy else -1
        price[k] = a if buy else b
        notional = trade_notional[r] * dexp(size_sd * z[1, k] + size_bias)
        lots = max(math.floor(notional / p0 * lots_per_unit + 0.5), 1.0)
        size[k] = lots * lot_mul / lot_div
    while j < n_jumps:      # jumps after the block's last trade carry into the next block
        y += jump_size[j]
        j += 1
    state[0] = y
    state[1] = anchor
    state[2] = u
    return price, size, side, bid, ask, mid_out


@njit(cache=True)
def quote_sizes(side: np.ndarray, size: np.ndarray, mid: np.ndarray, z: np.ndarray,
                depth_notional: float, depth_sd: float, lot_mul: float, lot_div: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Resting size at the bid and ask before each trade; the side the trade hits always
    shows at least the traded size (so the fill at the touch is consistent)."""
    n = side.shape[0]
    bid_size = np.empty(n)
    ask_size = np.empty(n)
    bias = -0.5 * depth_sd * depth_sd
    for k in range(n):
        scale = depth_notional / mid[k] * lot_div / lot_mul
        bid_lots = max(1.0, math.floor(scale * dexp(depth_sd * z[0, k] + bias) + 0.5))
        ask_lots = max(1.0, math.floor(scale * dexp(depth_sd * z[1, k] + bias) + 0.5))
        b = bid_lots * lot_mul / lot_div
        a = ask_lots * lot_mul / lot_div
        if side[k] > 0:
            a += size[k]
        else:
            b += size[k]
        bid_size[k] = b
        ask_size[k] = a
    return bid_size, ask_size


@njit(cache=True)
def aggregate_bars(ts: np.ndarray, price: np.ndarray, size: np.ndarray, origin: int,
                   interval: int, bars: np.ndarray, count: np.ndarray) -> None:
    """Fold time-sorted trades into ``bars`` (rows: open, high, low, close, volume) in place.

    Called once per block: a bar split across blocks resumes from its stored state, so the
    result (volume summed left to right included) equals one pass over all trades.
    ``count`` holds the number of trades seen per bar.
    """
    n_bars = count.shape[0]
    b = -1
    bar_start = 0
    bar_end = 0
    o = h = lo = c = v = 0.0
    n = 0
    for k in range(ts.shape[0]):
        t = ts[k]
        if t >= bar_end or t < bar_start:   # integer division only when the bar changes
            if 0 <= b < n_bars:
                _store_bar(bars, count, b, o, h, lo, c, v, n)
            b = (t - origin) // interval
            bar_start = origin + b * interval
            bar_end = bar_start + interval
            if 0 <= b < n_bars:
                n = count[b]
                o, h, lo, c, v = bars[0, b], bars[1, b], bars[2, b], bars[3, b], bars[4, b]
        if b < 0 or b >= n_bars:
            continue
        p = price[k]
        if n == 0:
            o = h = lo = c = p
            v = size[k]
        else:
            if p > h:
                h = p
            if p < lo:
                lo = p
            c = p
            v += size[k]
        n += 1
    if 0 <= b < n_bars:
        _store_bar(bars, count, b, o, h, lo, c, v, n)


@njit(cache=True, inline="always")
def _store_bar(bars: np.ndarray, count: np.ndarray, b: int, o: float, h: float, lo: float,
               c: float, v: float, n: int) -> None:
    bars[0, b] = o
    bars[1, b] = h
    bars[2, b] = lo
    bars[3, b] = c
    bars[4, b] = v
    count[b] = n


@njit(cache=True)
def fill_empty_bars(bars: np.ndarray, count: np.ndarray, first_close: float) -> None:
    """Give bars without trades a flat OHLC at the previous close and zero volume."""
    close = first_close
    for b in range(count.shape[0]):
        if count[b] == 0:
            bars[0, b] = close
            bars[1, b] = close
            bars[2, b] = close
            bars[3, b] = close
            bars[4, b] = 0.0
        else:
            close = bars[3, b]
