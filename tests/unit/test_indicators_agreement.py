"""Every indicator: the incremental form (one ``update`` per event) and the vectorized form
(whole arrays) give identical floats, NaN before the same first valid index, the same handling
of bad rows, and ``ready`` exactly from the first valid value on."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine.indicators as ind
from engine.timeframes import NS_PER_HOUR, parse_time

START = parse_time("2024-03-01 20:00")


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], object]
    batch: Callable[[dict[str, np.ndarray]], object]
    fields: tuple[str, ...]
    lookbacks: tuple[int, ...]   # first valid index of each output on clean data
    method: str = "update"


CASES = [
    Case("sma", lambda: ind.SMA(7), lambda d: ind.sma(d["close"], 7), ("close",), (6,)),
    Case("ema", lambda: ind.EMA(7), lambda d: ind.ema(d["close"], 7), ("close",), (6,)),
    Case("wma", lambda: ind.WMA(7), lambda d: ind.wma(d["close"], 7), ("close",), (6,)),
    Case("roc", lambda: ind.ROC(5), lambda d: ind.roc(d["close"], 5), ("close",), (5,)),
    Case("mom", lambda: ind.MOM(5), lambda d: ind.mom(d["close"], 5), ("close",), (5,)),
    Case("rsi", lambda: ind.RSI(6), lambda d: ind.rsi(d["close"], 6), ("close",), (6,)),
    Case("macd", lambda: ind.MACD(4, 9, 3), lambda d: ind.macd(d["close"], 4, 9, 3),
         ("close",), (10, 10, 10)),
    Case("stddev", lambda: ind.StdDev(7), lambda d: ind.stddev(d["close"], 7), ("close",), (6,)),
    Case("zscore", lambda: ind.ZScore(7), lambda d: ind.zscore(d["close"], 7), ("close",), (6,)),
    Case("bbands", lambda: ind.BollingerBands(7, 2.0, 1.5),
         lambda d: ind.bbands(d["close"], 7, 2.0, 1.5), ("close",), (6, 6, 6)),
    Case("atr", lambda: ind.ATR(5), lambda d: ind.atr(d["high"], d["low"], d["close"], 5),
         ("high", "low", "close"), (5,)),
    Case("donchian", lambda: ind.Donchian(6), lambda d: ind.donchian(d["high"], d["low"], 6),
         ("high", "low"), (5, 5, 5)),
    Case("stoch", lambda: ind.Stochastic(5, 3, 2),
         lambda d: ind.stoch(d["high"], d["low"], d["close"], 5, 3, 2),
         ("high", "low", "close"), (7, 7)),
    Case("adx", lambda: ind.ADX(5), lambda d: ind.adx(d["high"], d["low"], d["close"], 5),
         ("high", "low", "close"), (9, 5, 5)),
    Case("obv", lambda: ind.OBV(), lambda d: ind.obv(d["close"], d["volume"]),
         ("close", "volume"), (0,)),
    Case("vwap", lambda: ind.VWAP(), lambda d: ind.vwap(d["ts"], d["close"], d["volume"]),
         ("ts", "close", "volume"), (0,)),
    Case("vwap_bars", lambda: ind.VWAP(session=6 * NS_PER_HOUR, offset=NS_PER_HOUR),
         lambda d: ind.vwap_bars(d["ts"], d["high"], d["low"], d["close"], d["volume"],
                                 session=6 * NS_PER_HOUR, offset=NS_PER_HOUR),
         ("ts", "high", "low", "close", "volume"), (0,), method="update_bar"),
]
IDS = [case.name for case in CASES]


def outputs(result: object) -> tuple[np.ndarray, ...]:
    return result if isinstance(result, tuple) else (result,)


def incremental(case: Case, data: dict[str, np.ndarray]) -> tuple[tuple[np.ndarray, ...], list]:
    """Each output after every update, and ``ready`` after every update."""
    indicator = case.make()
    step = getattr(indicator, case.method)
    values, ready = [], []
    for row in zip(*(data[f].tolist() for f in case.fields)):
        values.append(step(*row))
        ready.append(indicator.ready)
    table = np.array(values, dtype=np.float64).reshape(len(values), len(case.lookbacks))
    return tuple(table.T), ready


def assert_same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...], name: str = "") -> None:
    assert len(a) == len(b), name
    for x, y in zip(a, b):
        assert x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=True), name


def random_walk(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    high = close * (1.0 + rng.uniform(0.0, 0.01, n))
    low = close * (1.0 - rng.uniform(0.0, 0.01, n))
    volume = rng.exponential(5.0, n)
    ts = START + NS_PER_HOUR * np.arange(n, dtype=np.int64)
    return {"ts": ts, "high": high, "low": low, "close": close, "volume": volume}


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
bad_values = st.sampled_from([np.nan, np.inf, -np.inf])


@st.composite
def markets(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """OHLCV rows with repeated values, zero volumes, irregular time steps and bad fields."""
    n = draw(st.integers(0, 60))
    close = draw(hnp.arrays(np.float64, n, elements=finite))
    up = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1e3)))
    down = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 1e3)))
    volume = draw(hnp.arrays(np.float64, n, elements=st.one_of(st.just(0.0), st.floats(0.0, 1e4))))
    steps = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 5 * NS_PER_HOUR)))
    data = {"ts": START + np.cumsum(steps), "high": close + up, "low": close - down,
            "close": close, "volume": volume}
    for field in ("high", "low", "close", "volume"):
        rows = draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=3)) if n else []
        for row in rows:
            data[field][row] = draw(bad_values)
    return data


@settings(max_examples=50, deadline=None)
@given(data=markets())
def test_incremental_equals_vectorized_exactly(data: dict[str, np.ndarray]) -> None:
    # one drawn market for every indicator: drawing dominates the cost
    for case in CASES:
        stepwise, ready = incremental(case, data)
        batch = outputs(case.batch(data))
        assert_same(stepwise, batch, case.name)
        bad = np.zeros(len(data["close"]), dtype=bool)
        for field in case.fields:
            if field != "ts":
                bad |= ~np.isfinite(data[field])
        for out in batch:
            assert np.isnan(out[bad]).all(), case.name
        # a value is only ever returned while ready (not every ready step has one: a skipped
        # row, ROC over a zero, the z-score of a flat window)
        assert all(r for r, v in zip(ready, batch[0]) if not np.isnan(v)), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_agree_on_a_long_random_walk_with_bad_rows(case: Case) -> None:
    data = random_walk(6_000, seed=11)
    rng = np.random.default_rng(12)
    for field in ("high", "low", "close", "volume"):
        data[field][rng.choice(6_000, 30, replace=False)] = np.nan
    data["close"][rng.choice(6_000, 5, replace=False)] = np.inf
    assert_same(incremental(case, data)[0], outputs(case.batch(data)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_rows_are_as_if_absent(case: Case) -> None:
    data = random_walk(400, seed=3)
    rng = np.random.default_rng(4)
    bad = np.zeros(400, dtype=bool)
    bad[rng.choice(400, 40, replace=False)] = True
    dirty = {k: v.copy() for k, v in data.items()}
    for i in np.flatnonzero(bad):
        field = case.fields[-1] if case.fields[-1] != "ts" else "close"
        dirty[field][i] = np.nan
    clean = {k: v[~bad] for k, v in data.items()}
    for with_gaps, without in zip(outputs(case.batch(dirty)), outputs(case.batch(clean))):
        assert np.isnan(with_gaps[bad]).all()
        assert np.array_equal(with_gaps[~bad], without, equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_first_valid_index_and_ready(case: Case) -> None:
    data = random_walk(200, seed=5)
    _, ready = incremental(case, data)
    for out, lookback in zip(outputs(case.batch(data)), case.lookbacks):
        assert np.isnan(out[:lookback]).all()
        assert not np.isnan(out[lookback:]).any()
    assert ready == [i >= case.lookbacks[0] for i in range(200)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_empty_and_short_inputs_are_all_nan(case: Case, n: int) -> None:
    data = {k: v[:n] for k, v in random_walk(10, seed=1).items()}
    for out, lookback in zip(outputs(case.batch(data)), case.lookbacks):
        assert out.shape == (n,)
        assert np.isnan(out[:lookback]).all()
    stepwise, _ = incremental(case, data)
    assert_same(stepwise, outputs(case.batch(data)))


@pytest.mark.parametrize("period", [2, 3, 16])
def test_moments_on_flat_and_near_flat_windows(period: int) -> None:
    # a volatile stretch, then a flat one, then single-tick moves: the rolling sums are
    # re-summed, so the flat windows give exactly 0 and the tick windows stay accurate
    rng = np.random.default_rng(8)
    x = np.concatenate([50_000 + rng.normal(0, 500, 100), np.full(50, 50_123.45),
                        50_123.45 + 0.01 * rng.integers(-1, 2, 100)])
    std = ind.stddev(x, period)
    indicator = ind.StdDev(period)
    assert np.array_equal([indicator.update(v) for v in x.tolist()], std, equal_nan=True)
    flat = np.arange(100 + period - 1, 150)
    assert (std[flat] == 0.0).all()
    assert np.isnan(ind.zscore(x, period)[flat]).all()
    for i in range(160, 250, 3):
        window = [Fraction(v) for v in x[i - period + 1:i + 1]]
        mean = sum(window) / period
        exact = math.sqrt(sum((v - mean) ** 2 for v in window) / period)
        assert std[i] == pytest.approx(exact, rel=1e-12, abs=0.0)
