"""Both forms of every indicator match TA-Lib within 1e-9 relative from TA-Lib's first valid
index on, on real BTCUSDT bars (../shared/data/real) and on a long synthetic walk.

Relative errors are taken against ``max(|ta-lib|, floor)``. The floor is 0 except where TA-Lib
itself carries rounding residue around zero (documented in docs/indicators.md): the stochastic
(TA-Lib's running-sum %K reads down to -8.6e-13 where the exact value is 0; floor 1 point)
and the z-score, which TA-Lib lacks: its stand-in ``(close - SMA) / STDDEV`` cancels in the
numerator and inherits SMA's running-sum drift, so it is compared to 1e-9 of one standard
deviation (floor 1); test_indicators_inputs.py checks the z-score against exact rational
arithmetic instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine.indicators as ind
from engine.data.importers import load_file

talib = pytest.importorskip("talib", reason="TA-Lib is not installed: pip install -e '.[test]'")

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
FILES = {
    "btc_1h": REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv",   # 33,413 bars, 2017-2021
    "btc_1m": REAL / "binance_spot_1m" / "BTCUSDT_1m.csv",               # 14,401 bars, 2025
}
RTOL = 1e-9
Market = dict[str, np.ndarray]


def columns(frame: pd.DataFrame) -> Market:
    return {name: frame[name].to_numpy() for name in ("ts", "high", "low", "close", "volume")}


@pytest.fixture(scope="module", params=sorted(FILES))
def real(request: pytest.FixtureRequest) -> Market:
    path = FILES[request.param]
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    return columns(load_file(path).frame)


@pytest.fixture(scope="module")
def walk() -> Market:
    """200,000 one-minute bars of a random walk that rises, then falls by 99%."""
    n = 200_000
    rng = np.random.default_rng(2024)
    drift = np.r_[np.full(n // 2, 2e-5), np.full(n - n // 2, -5e-5)]
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(drift, 0.002)))
    high = close * (1.0 + rng.exponential(0.001, n))
    low = close * (1.0 - rng.exponential(0.001, n))
    volume = rng.exponential(3.0, n) * (rng.random(n) > 0.01)
    ts = np.int64(1_700_000_000) * 10**9 + 60 * 10**9 * np.arange(n, dtype=np.int64)
    return {"ts": ts, "high": high, "low": low, "close": close, "volume": volume}


def assert_close(ours: np.ndarray, ref: np.ndarray, floor: float = 0.0) -> None:
    """NaN exactly where TA-Lib has no value; elsewhere within RTOL of max(|ref|, floor)."""
    assert ours.shape == ref.shape
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), "first valid index differs"
    ok = ~np.isnan(ref)
    err = np.abs(ours[ok] - ref[ok])
    scale = np.maximum(np.abs(ref[ok]), floor)
    worst = np.max(np.where(err == 0.0, 0.0, err / np.where(scale == 0.0, 1.0, scale)),
                   initial=0.0)
    assert worst <= RTOL, f"max relative error {worst:.3g}"


def stepwise(make: Callable[[], object], *series: np.ndarray) -> tuple[np.ndarray, ...]:
    """The incremental form over the series, as arrays (one per output)."""
    step = make().update
    table = np.array([step(*row) for row in zip(*(s.tolist() for s in series))], dtype=float)
    return tuple(table.T) if table.ndim == 2 else (table,)


def zscore_reference(close: np.ndarray, period: int) -> np.ndarray:
    # TA-Lib has no z-score: (close - mean) / STDDEV, with the mean from pandas' compensated
    # rolling sum. TA-Lib's own SMA keeps a plain running sum, whose residue from the walk's
    # high prices shows at its low ones as 1.5e-9 of sigma in the numerator.
    std = talib.STDDEV(close, period)
    mean = pd.Series(close).rolling(period).mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0.0, (close - mean) / std, np.nan)


# (name, incremental factory, fields, vectorized, TA-Lib reference, floor)
CASES = [
    ("SMA20", lambda: ind.SMA(20), ("close",), lambda m: ind.sma(m["close"], 20),
     lambda m: talib.SMA(m["close"], 20), 0.0),
    ("EMA20", lambda: ind.EMA(20), ("close",), lambda m: ind.ema(m["close"], 20),
     lambda m: talib.EMA(m["close"], 20), 0.0),
    ("EMA200", lambda: ind.EMA(200), ("close",), lambda m: ind.ema(m["close"], 200),
     lambda m: talib.EMA(m["close"], 200), 0.0),
    ("WMA20", lambda: ind.WMA(20), ("close",), lambda m: ind.wma(m["close"], 20),
     lambda m: talib.WMA(m["close"], 20), 0.0),
    ("RSI14", lambda: ind.RSI(14), ("close",), lambda m: ind.rsi(m["close"], 14),
     lambda m: talib.RSI(m["close"], 14), 0.0),
    ("MACD", lambda: ind.MACD(), ("close",), lambda m: ind.macd(m["close"]),
     lambda m: talib.MACD(m["close"], 12, 26, 9), 0.0),
    ("BBANDS20", lambda: ind.BollingerBands(20, 2.0, 2.0), ("close",),
     lambda m: ind.bbands(m["close"], 20), lambda m: talib.BBANDS(m["close"], 20, 2.0, 2.0, 0),
     0.0),
    ("STDDEV5", lambda: ind.StdDev(5), ("close",), lambda m: ind.stddev(m["close"], 5),
     lambda m: talib.STDDEV(m["close"], 5, 1.0), 0.0),
    ("STDDEV20", lambda: ind.StdDev(20), ("close",), lambda m: ind.stddev(m["close"], 20),
     lambda m: talib.STDDEV(m["close"], 20, 1.0), 0.0),
    ("ZSCORE20", lambda: ind.ZScore(20), ("close",), lambda m: ind.zscore(m["close"], 20),
     lambda m: zscore_reference(m["close"], 20), 1.0),
    ("MOM10", lambda: ind.MOM(10), ("close",), lambda m: ind.mom(m["close"], 10),
     lambda m: talib.MOM(m["close"], 10), 0.0),
    ("ROC10", lambda: ind.ROC(10), ("close",), lambda m: ind.roc(m["close"], 10),
     lambda m: talib.ROCR(m["close"], 10) - 1.0, 0.0),
    ("ATR14", lambda: ind.ATR(14), ("high", "low", "close"),
     lambda m: ind.atr(m["high"], m["low"], m["close"], 14),
     lambda m: talib.ATR(m["high"], m["low"], m["close"], 14), 0.0),
    ("ADX14", lambda: ind.ADX(14), ("high", "low", "close"),
     lambda m: ind.adx(m["high"], m["low"], m["close"], 14),
     lambda m: (talib.ADX(m["high"], m["low"], m["close"], 14),
                talib.PLUS_DI(m["high"], m["low"], m["close"], 14),
                talib.MINUS_DI(m["high"], m["low"], m["close"], 14)), 0.0),
    ("DONCHIAN20", lambda: ind.Donchian(20), ("high", "low"),
     lambda m: ind.donchian(m["high"], m["low"], 20),
     lambda m: (talib.MAX(m["high"], 20), (talib.MAX(m["high"], 20) + talib.MIN(m["low"], 20))
                / 2.0, talib.MIN(m["low"], 20)), 0.0),
    ("STOCH", lambda: ind.Stochastic(), ("high", "low", "close"),
     lambda m: ind.stoch(m["high"], m["low"], m["close"]),
     lambda m: talib.STOCH(m["high"], m["low"], m["close"], 5, 3, 0, 3, 0), 1.0),
    ("STOCH14", lambda: ind.Stochastic(14, 3, 3), ("high", "low", "close"),
     lambda m: ind.stoch(m["high"], m["low"], m["close"], 14, 3, 3),
     lambda m: talib.STOCH(m["high"], m["low"], m["close"], 14, 3, 0, 3, 0), 1.0),
    ("OBV", lambda: ind.OBV(), ("close", "volume"), lambda m: ind.obv(m["close"], m["volume"]),
     lambda m: talib.OBV(m["close"], m["volume"]), 0.0),
]
IDS = [case[0] for case in CASES]


def as_tuple(result: object) -> tuple[np.ndarray, ...]:
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.real_data
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_both_forms_match_talib_on_real_bars(real: Market, case: tuple) -> None:
    _, make, fields, vectorized, reference, floor = case
    batch = as_tuple(vectorized(real))
    refs = as_tuple(reference(real))
    for ours, ref in zip(batch, refs, strict=True):
        assert_close(ours, ref, floor)
    for ours, vec in zip(stepwise(make, *(real[f] for f in fields)), batch, strict=True):
        assert np.array_equal(ours, vec, equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vectorized_matches_talib_on_a_long_walk(walk: Market, case: tuple) -> None:
    _, _, _, vectorized, reference, floor = case
    for ours, ref in zip(as_tuple(vectorized(walk)), as_tuple(reference(walk)), strict=True):
        assert_close(ours, ref, floor)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vectorized_matches_talib_on_tiny_prices_with_a_flat_stretch(case: tuple) -> None:
    # a token priced around 1e-9 that stops trading for 600 bars: zero tests must be exact
    # (no absolute epsilon), and Wilder averages decaying towards 0 must stay defined
    rng = np.random.default_rng(31)
    close = 1e-9 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 3_000)))
    close[1_000:1_600] = close[999]
    high = close * (1.0 + rng.exponential(0.003, 3_000))
    low = close * (1.0 - rng.exponential(0.003, 3_000))
    high[1_000:1_600] = low[1_000:1_600] = close[999]
    tiny = {"ts": np.arange(3_000, dtype=np.int64), "high": high, "low": low, "close": close,
            "volume": rng.exponential(1e12, 3_000)}
    _, _, _, vectorized, reference, floor = case
    for ours, ref in zip(as_tuple(vectorized(tiny)), as_tuple(reference(tiny)), strict=True):
        assert_close(ours, ref, floor)
