"""Indicators by hand on small tables, their rules for bad input (NaN, infinities, zero volume,
invalid periods, mismatched arrays), and their accuracy against exact arithmetic on long series
and on real bars (../shared/data/real)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine.indicators as ind
from engine.data.importers import load_file
from engine.timeframes import NS_PER_DAY, NS_PER_HOUR, parse_time

NAN = math.nan
DAY = parse_time("2024-03-01")
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
FILES = {
    "btc_1h": REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv",
    "btc_1m": REAL / "binance_spot_1m" / "BTCUSDT_1m.csv",
}


def same(a: object, b: object) -> bool:
    """Equal floats or tuples of floats, NaN equal to NaN."""
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


# --- by hand ----------------------------------------------------------------------------------

def test_ema_is_seeded_with_the_sma() -> None:
    # period 3, k = 0.5: seed (1+2+3)/3 = 2, then (4-2)*0.5+2 = 3, (8-3)*0.5+3 = 5.5
    np.testing.assert_array_equal(ind.ema([1.0, 2.0, 3.0, 4.0, 8.0], 3), [NAN, NAN, 2.0, 3.0, 5.5])


def test_wma_weights_the_newest_most() -> None:
    # period 3: (1*1 + 2*2 + 3*4)/6 = 17/6, (1*2 + 2*4 + 3*8)/6 = 34/6
    np.testing.assert_allclose(ind.wma([1.0, 2.0, 4.0, 8.0], 3), [NAN, NAN, 17 / 6, 34 / 6],
                               rtol=1e-15)


def test_mom_and_donchian_by_hand() -> None:
    np.testing.assert_array_equal(ind.mom([5.0, 7.0, 4.0, 10.0], 2), [NAN, NAN, -1.0, 3.0])
    upper, middle, lower = ind.donchian([3.0, 5.0, 4.0, 2.0], [1.0, 2.0, 0.5, 1.5], 2)
    np.testing.assert_array_equal(upper, [NAN, 5.0, 5.0, 4.0])
    np.testing.assert_array_equal(lower, [NAN, 1.0, 0.5, 0.5])
    np.testing.assert_array_equal(middle, [NAN, 3.0, 2.75, 2.25])


def test_rsi_by_hand_and_flat() -> None:
    # period 2: changes +2, -1 -> gain 1, loss 0.5 -> 100*1/1.5; then +3: gain (1+3)/2 = 2,
    # loss 0.5/2 = 0.25 -> 100*2/2.25
    np.testing.assert_allclose(ind.rsi([10.0, 12.0, 11.0, 14.0], 2),
                               [NAN, NAN, 100 / 1.5, 100 * 2 / 2.25], rtol=1e-15)
    # no movement at all: 0, TA-Lib's convention
    assert ind.rsi(np.full(10, 7.0), 3)[-1] == 0.0


def test_macd_seeds_both_averages_where_the_slow_one_starts() -> None:
    x = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    line, signal, hist = ind.macd(x, fast=2, slow=3, signal=2)
    # at index 2: slow = (1+2+4)/3, fast = (2+4)/2 (the last 2 values, not the first 2)
    m2 = 3.0 - 7 / 3
    fast3, slow3 = (8 - 3) * (2 / 3) + 3, (8 - 7 / 3) * 0.5 + 7 / 3
    m3 = fast3 - slow3
    assert math.isnan(line[2]) and line[3] == pytest.approx(m3, rel=1e-15)
    assert signal[3] == pytest.approx((m2 + m3) / 2, rel=1e-15)
    assert hist[3] == pytest.approx(m3 - (m2 + m3) / 2, rel=1e-12)


def test_stochastic_of_a_flat_range_is_zero() -> None:
    flat = np.full(12, 100.0)
    k, d = ind.stoch(flat, flat, flat)
    assert (k[8:] == 0.0).all() and (d[8:] == 0.0).all()


def test_obv_starts_at_the_first_volume() -> None:
    # TA-Lib: OBV[0] = volume[0]; then +v up, -v down, unchanged when flat
    np.testing.assert_array_equal(ind.obv([10.0, 11.0, 11.0, 9.0, 12.0], [5.0, 2.0, 7.0, 3.0, 1.0]),
                                  [5.0, 7.0, 7.0, 4.0, 5.0])


# --- VWAP ---------------------------------------------------------------------------------------

def test_vwap_restarts_at_utc_midnight() -> None:
    ts = np.array([DAY - 2 * NS_PER_HOUR, DAY - NS_PER_HOUR, DAY, DAY + NS_PER_HOUR])
    out = ind.vwap(ts, [100.0, 110.0, 200.0, 210.0], [1.0, 3.0, 2.0, 2.0])
    np.testing.assert_allclose(out, [100.0, (100 + 330) / 4, 200.0, 205.0], rtol=1e-15)


def test_vwap_session_length_and_offset() -> None:
    # 8h sessions starting at 02:00 UTC: 01:00 belongs to the previous session
    ts = DAY + NS_PER_HOUR * np.array([0, 1, 2, 9, 10])
    out = ind.vwap(ts, [10.0, 20.0, 30.0, 40.0, 50.0], [1.0, 1.0, 1.0, 1.0, 1.0],
                   session=8 * NS_PER_HOUR, offset=2 * NS_PER_HOUR)
    np.testing.assert_array_equal(out, [10.0, 15.0, 30.0, 35.0, 50.0])


def test_vwap_is_nan_until_the_session_has_volume() -> None:
    ts = DAY + NS_PER_HOUR * np.array([0, 1, 2, 24, 25])
    out = ind.vwap(ts, [10.0, 20.0, 30.0, 40.0, 50.0], [0.0, 0.0, 2.0, 0.0, 1.0])
    np.testing.assert_array_equal(out, [NAN, NAN, 30.0, NAN, 50.0])
    vwap = ind.VWAP()
    readiness = []
    for t, p, s in zip(ts.tolist(), [10.0, 20.0, 30.0, 40.0, 50.0], [0.0, 0.0, 2.0, 0.0, 1.0]):
        vwap.update(t, p, s)
        readiness.append(vwap.ready)
    assert readiness == [False, False, True, False, True]


def test_vwap_of_bars_uses_the_typical_price() -> None:
    ts = DAY + NS_PER_HOUR * np.arange(2)
    out = ind.vwap_bars(ts, [12.0, 22.0], [9.0, 18.0], [9.0, 20.0], [1.0, 3.0])
    np.testing.assert_allclose(out, [10.0, (10.0 + 60.0) / 4], rtol=1e-15)
    vwap = ind.VWAP()
    assert vwap.update_bar(int(ts[0]), 12.0, 9.0, 9.0, 1.0) == 10.0
    np.testing.assert_allclose(ind.typical_price([12.0], [9.0], [9.0]), [10.0])


def test_vwap_accepts_datetime64_stamps() -> None:
    ts = np.array(["2024-03-01T23:00", "2024-03-02T00:00"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(ind.vwap(ts, [1.0, 2.0], [1.0, 1.0]), [1.0, 2.0])


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [NAN, math.inf, -math.inf])
def test_a_bad_value_is_skipped_by_the_incremental_form(bad: float) -> None:
    values = [101.0, 103.0, 102.0, 105.0, 104.0, 108.0, 107.0, 110.0]
    for make in (lambda: ind.SMA(3), lambda: ind.EMA(3), lambda: ind.WMA(3), lambda: ind.RSI(3),
                 lambda: ind.MACD(2, 3, 2), lambda: ind.StdDev(3), lambda: ind.ZScore(3),
                 lambda: ind.BollingerBands(3), lambda: ind.MOM(2), lambda: ind.ROC(2)):
        clean, dirty = make(), make()
        for i, x in enumerate(values):
            if i == 4:
                before = (dirty.value, dirty.ready)
                assert np.isnan(dirty.update(bad)).all()
                assert same(before[0], dirty.value) and before[1] == dirty.ready
            assert same(clean.update(x), dirty.update(x))


@pytest.mark.parametrize("make, fields", [
    (lambda: ind.ATR(2), lambda h, lo, c, v: (h, lo, c)),
    (lambda: ind.ADX(2), lambda h, lo, c, v: (h, lo, c)),
    (lambda: ind.Stochastic(2, 2, 1), lambda h, lo, c, v: (h, lo, c)),
    (lambda: ind.Donchian(2), lambda h, lo, c, v: (h, lo)),
    (lambda: ind.OBV(), lambda h, lo, c, v: (c, v)),
], ids=["ATR", "ADX", "STOCH", "DONCHIAN", "OBV"])
def test_a_bad_field_skips_the_whole_bar(make, fields) -> None:
    bars = [(10.0, 8.0, 9.0, 1.0), (11.0, 9.0, 10.0, 2.0), (12.0, 9.5, 11.0, 0.0),
            (12.5, 10.0, 12.0, 3.0), (13.0, 11.0, 11.5, 1.0), (12.0, 10.0, 10.5, 2.0)]
    clean, dirty = make(), make()
    for i, bar in enumerate(bars):
        row = fields(*bar)
        if i == 3:
            for field in range(len(row)):
                broken = list(row)
                broken[field] = NAN
                assert np.isnan(dirty.update(*broken)).all()
        assert same(clean.update(*row), dirty.update(*row))
    assert same(clean.value, dirty.value) and clean.ready and dirty.ready


def test_a_bad_trade_is_skipped_by_vwap() -> None:
    clean, dirty = ind.VWAP(), ind.VWAP()
    for i, (price, size) in enumerate([(10.0, 1.0), (12.0, 2.0), (11.0, 1.0)]):
        if i == 1:
            assert math.isnan(dirty.update(DAY + i, NAN, 5.0))
            assert math.isnan(dirty.update_bar(DAY + i, 12.0, math.inf, 11.0, 5.0))
            assert math.isnan(dirty.update(DAY + i, 12.0, NAN)) and dirty.value == 10.0
        assert clean.update(DAY + i, price, size) == dirty.update(DAY + i, price, size)


def test_zero_volume_does_not_move_vwap_or_obv() -> None:
    vwap = ind.VWAP()
    assert vwap.update(DAY, 100.0, 2.0) == 100.0
    assert vwap.update(DAY + 1, 500.0, 0.0) == 100.0
    obv = ind.OBV()
    obv.update(10.0, 4.0)
    assert obv.update(12.0, 0.0) == 4.0


INDICATORS = {
    # name in messages: (incremental factory taking the period, vectorized taking it)
    "SMA": (ind.SMA, lambda p: ind.sma([1.0, 2.0], p)),
    "EMA": (ind.EMA, lambda p: ind.ema([1.0, 2.0], p)),
    "WMA": (ind.WMA, lambda p: ind.wma([1.0, 2.0], p)),
    "ROC": (ind.ROC, lambda p: ind.roc([1.0, 2.0], p)),
    "MOM": (ind.MOM, lambda p: ind.mom([1.0, 2.0], p)),
    "RSI": (ind.RSI, lambda p: ind.rsi([1.0, 2.0], p)),
    "STDDEV": (ind.StdDev, lambda p: ind.stddev([1.0, 2.0], p)),
    "ZSCORE": (ind.ZScore, lambda p: ind.zscore([1.0, 2.0], p)),
    "BBANDS": (ind.BollingerBands, lambda p: ind.bbands([1.0, 2.0], p)),
    "ATR": (ind.ATR, lambda p: ind.atr([2.0], [1.0], [1.5], p)),
    "ADX": (ind.ADX, lambda p: ind.adx([2.0], [1.0], [1.5], p)),
    "DONCHIAN": (ind.Donchian, lambda p: ind.donchian([2.0], [1.0], p)),
}


@pytest.mark.parametrize("name", sorted(INDICATORS))
@pytest.mark.parametrize("period", [0, -3, 2.5, "14", True, None])
def test_an_invalid_period_names_the_indicator_and_parameter(name: str, period: object) -> None:
    make, batch = INDICATORS[name]
    with pytest.raises(ValueError, match=f"^{name} period must be"):
        make(period)
    with pytest.raises(ValueError, match=f"^{name} period must be"):
        batch(period)


@pytest.mark.parametrize("name", ["STDDEV", "ZSCORE", "BBANDS"])
def test_dispersion_needs_two_values(name: str) -> None:
    make, batch = INDICATORS[name]
    with pytest.raises(ValueError, match=f"{name} period must be >= 2, got 1"):
        make(1)
    with pytest.raises(ValueError, match=f"{name} period must be >= 2, got 1"):
        batch(1)


@pytest.mark.parametrize("kwargs, match", [
    ({"fast": 0}, "MACD fast must be >= 1"),
    ({"slow": 2.0}, "MACD slow must be an int"),
    ({"signal": -1}, "MACD signal must be >= 1"),
    ({"fast": 26, "slow": 12}, "MACD fast must be < slow"),
])
def test_macd_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ind.MACD(**kwargs)
    with pytest.raises(ValueError, match=match):
        ind.macd([1.0, 2.0], **kwargs)


@pytest.mark.parametrize("call, match", [
    (lambda: ind.Stochastic(fastk=0), "STOCH fastk must be >= 1"),
    (lambda: ind.stoch([1.0], [1.0], [1.0], slowd=1.5), "STOCH slowd must be an int"),
    (lambda: ind.BollingerBands(20, nbdev_up=math.nan), "BBANDS nbdev_up must be a finite"),
    (lambda: ind.bbands([1.0, 2.0], 2, nbdev_dn="2"), "BBANDS nbdev_dn must be a finite"),
    (lambda: ind.VWAP(session=0), "VWAP session must be >= 1"),
    (lambda: ind.vwap([1], [1.0], [1.0], offset=0.5), "VWAP offset must be an int"),
    (lambda: ind.vwap([1.0], [1.0], [1.0]), "VWAP ts must be int nanoseconds or datetime64"),
])
def test_other_invalid_parameters(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda: ind.atr([1.0, 2.0], [1.0], [1.0, 2.0]),
     "ATR arrays high, low, close must have the same length, got high=2, low=1, close=2"),
    (lambda: ind.adx([1.0], [1.0], [1.0, 2.0]), "ADX arrays high, low, close"),
    (lambda: ind.stoch([1.0], [1.0, 2.0], [1.0]), "STOCH arrays high, low, close"),
    (lambda: ind.donchian([1.0], [1.0, 2.0], 1), "DONCHIAN arrays high, low"),
    (lambda: ind.obv([1.0], [1.0, 2.0]), "OBV arrays close, volume"),
    (lambda: ind.vwap([1, 2], [1.0], [1.0]), "VWAP arrays ts, price, size"),
    (lambda: ind.vwap_bars([1], [1.0], [1.0], [1.0], [1.0, 2.0]),
     "VWAP arrays high, low, close, volume"),
    (lambda: ind.sma(np.ones((3, 2)), 2), "SMA values must be one-dimensional"),
])
def test_mismatched_arrays_are_named(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --- long series ----------------------------------------------------------------------------

def test_no_drift_over_half_a_million_values() -> None:
    # a random walk that rises, then falls 99%: running sums carried from the high prices
    # would show as relative error at the low ones; the re-summed indicators stay exact
    n = 500_000
    rng = np.random.default_rng(99)
    drift = np.r_[np.full(n // 2, 1e-5), np.full(n - n // 2, -2e-5)]
    x = 40_000.0 * np.exp(np.cumsum(rng.normal(drift, 0.002)))
    checks = np.r_[rng.choice(np.arange(200, n), 40, replace=False), n - 1]
    for period in (20, 200):
        sma, wma, std, z = (ind.sma(x, period), ind.wma(x, period), ind.stddev(x, period),
                            ind.zscore(x, period))
        middle = ind.bbands(x, period)[1]
        for i in checks:
            window = [Fraction(v) for v in x[i - period + 1:i + 1]]
            mean = sum(window) / period
            weighted = sum(v * (j + 1) for j, v in enumerate(window)) / (period * (period + 1) // 2)
            exact_std = math.sqrt(sum((v - mean) ** 2 for v in window) / period)
            assert sma[i] == pytest.approx(float(mean), rel=1e-13)   # re-summed each window
            assert middle[i] == pytest.approx(float(mean), rel=1e-14)
            assert wma[i] == pytest.approx(float(weighted), rel=1e-14)
            assert std[i] == pytest.approx(exact_std, rel=1e-13)
            assert z[i] == pytest.approx(float(Fraction(x[i]) - mean) / exact_std, rel=1e-12)


def test_equal_windows_give_equal_means() -> None:
    # 0.1 + 0.1 + 0.1 is 0.30000000000000004 and a third of it is not 0.1: a running or even
    # an exact sum does not give a flat window's value back, so the SMA recognises the window
    # as flat, and windows of any length over the same flat stretch compare equal
    x = np.r_[np.linspace(7.0, 9.0, 61), np.full(40, 0.1), [0.2]]
    for period in (3, 10, 30):
        means = ind.sma(x, period)
        assert means[60 + period] == 0.1 and means[100] == 0.1
        assert means[101] != 0.1    # a new value ends the flat window
    fast, slow = ind.SMA(3), ind.SMA(30)
    for value in x[:-1].tolist():
        fast.update(value)
        slow.update(value)
    assert fast.value == slow.value == 0.1
    assert not fast.value > slow.value


@pytest.mark.real_data
def test_sma_comparisons_agree_with_pandas_on_real_flat_stretches() -> None:
    # the hourly file holds 34 identical closes from 2018-02-08: the old running-sum SMA read
    # the fast average above an identical slow one there and the crossover traded
    path = FILES["btc_1h"]
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    close = load_file(path).frame["close"].to_numpy()
    for fast, slow in ((5, 20), (10, 30), (24, 96)):
        ours = ind.sma(close, fast) > ind.sma(close, slow)
        rolling = pd.Series(close).rolling
        theirs = rolling(fast).mean().to_numpy() > rolling(slow).mean().to_numpy()
        np.testing.assert_array_equal(ours[slow - 1:], theirs[slow - 1:])


def test_obv_and_vwap_do_not_drift() -> None:
    n = 100_000
    rng = np.random.default_rng(5)
    close = 100.0 + np.cumsum(rng.choice([-0.5, 0.0, 0.5], n))
    volume = rng.exponential(1.0, n)
    obv = ind.obv(close, volume)
    exact = Fraction(volume[0])
    checks = set(rng.choice(n, 50, replace=False).tolist()) | {n - 1}
    for i in range(1, n):
        if close[i] != close[i - 1]:
            exact += Fraction(volume[i]) if close[i] > close[i - 1] else -Fraction(volume[i])
        if i in checks:
            assert obv[i] == pytest.approx(float(exact), rel=1e-15)
    # one session of 100,000 trades
    ts = DAY + (NS_PER_DAY // n) * np.arange(n)
    vwap = ind.vwap(ts, close, volume)
    pv = math.fsum(close * volume)  # products are exact enough: 1e-16 each, no cancellation
    assert vwap[-1] == pytest.approx(pv / math.fsum(volume), rel=1e-12)


# --- real bars ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(FILES))
def real(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    path = FILES[request.param]
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    frame = load_file(path).frame
    return {name: frame[name].to_numpy() for name in ("ts", "high", "low", "close", "volume")}


@pytest.mark.real_data
def test_session_vwap_matches_a_pandas_day_grouping(real: dict[str, np.ndarray]) -> None:
    frame = pd.DataFrame(real)
    typical = (frame["high"] + frame["low"] + frame["close"]) / 3.0
    day = frame["ts"] // (24 * 3600 * 10**9)
    pv = (typical * frame["volume"]).groupby(day).cumsum()
    volume = frame["volume"].groupby(day).cumsum()
    expected = np.where(volume > 0, pv / volume.where(volume > 0, 1.0), np.nan)
    ours = ind.vwap_bars(real["ts"], real["high"], real["low"], real["close"], real["volume"])
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0.0)
    vwap = ind.VWAP()
    rows = zip(*(real[f].tolist() for f in ("ts", "high", "low", "close", "volume")))
    incremental = [vwap.update_bar(*row) for row in rows]
    assert np.array_equal(incremental, ours, equal_nan=True)


@pytest.mark.real_data
@pytest.mark.parametrize("period", [2, 5, 20])
def test_stddev_and_zscore_are_exact_on_real_bars(real: dict[str, np.ndarray], period: int) -> None:
    # against exact rational arithmetic: TA-Lib's own STDDEV is off by up to 5e-8 relative for
    # period 2 on the 1m bars, where single-tick windows sit on a 1e5 price
    close = real["close"]
    std = ind.stddev(close, period)
    z = ind.zscore(close, period)
    rng = np.random.default_rng(period)
    for i in rng.choice(np.arange(period - 1, close.size), 300, replace=False):
        window = [Fraction(v) for v in close[i - period + 1:i + 1]]
        mean = sum(window) / period
        var = sum((v - mean) ** 2 for v in window) / period
        exact = math.sqrt(var)
        assert std[i] == pytest.approx(exact, rel=1e-12, abs=0.0)
        if var:
            assert z[i] == pytest.approx(float(Fraction(close[i]) - mean) / exact, rel=1e-11,
                                         abs=1e-15)
        else:
            assert np.isnan(z[i])
