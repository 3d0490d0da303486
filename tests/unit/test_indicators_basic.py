"""SMA and ROC: the incremental form and the vectorized form agree bit for bit, are NaN before
their first valid index, and refuse a period below 1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.indicators import ROC, SMA, roc, sma

prices = hnp.arrays(np.float64, st.integers(0, 80),
                    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
periods = st.integers(1, 25)


def incremental(indicator: SMA | ROC, values: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """The indicator's value and ``ready`` flag after each update."""
    out, ready = [], []
    for x in values.tolist():
        out.append(indicator.update(x))
        ready.append(indicator.ready)
    return np.array(out, dtype=np.float64), ready


@settings(max_examples=150, deadline=None)
@given(values=prices, period=periods)
def test_sma_incremental_equals_vectorized_exactly(values: np.ndarray, period: int) -> None:
    stepwise, ready = incremental(SMA(period), values)
    batch = sma(values, period)
    assert batch.shape == values.shape
    assert np.array_equal(stepwise, batch, equal_nan=True)
    first = period - 1
    assert np.isnan(batch[:first]).all()
    assert not np.isnan(batch[first:]).any()
    assert ready == [i >= first for i in range(len(values))]


# a huge value over a subnormal one overflows to inf in both forms; numpy also warns
@pytest.mark.filterwarnings("ignore:overflow encountered in divide:RuntimeWarning")
@settings(max_examples=150, deadline=None)
@given(values=prices, period=periods)
def test_roc_incremental_equals_vectorized_exactly(values: np.ndarray, period: int) -> None:
    stepwise, ready = incremental(ROC(period), values)
    batch = roc(values, period)
    assert batch.shape == values.shape
    assert np.array_equal(stepwise, batch, equal_nan=True)
    assert np.isnan(batch[:period]).all()
    # after the first `period` values, NaN only where the value `period` back is zero
    back = values[:-period] if len(values) > period else values[:0]
    assert np.array_equal(np.isnan(batch[period:]), back == 0.0)
    assert ready == [i >= period for i in range(len(values))]


@pytest.mark.parametrize("period", [1, 3, 20, 50])
def test_agree_on_a_long_random_walk(period: int) -> None:
    rng = np.random.default_rng(20240501)
    walk = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 5_000)))
    assert np.array_equal(incremental(SMA(period), walk)[0], sma(walk, period), equal_nan=True)
    assert np.array_equal(incremental(ROC(period), walk)[0], roc(walk, period), equal_nan=True)


def test_sma_by_hand() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # period 3: NaN, NaN, (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+5)/3 = 4
    np.testing.assert_array_equal(sma(values, 3), [math.nan, math.nan, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(sma(values, 1), values)
    ind = SMA(3)
    assert math.isnan(ind.update(1.0)) and math.isnan(ind.update(2.0)) and not ind.ready
    assert ind.update(3.0) == 2.0 and ind.ready and ind.value == 2.0


def test_roc_by_hand() -> None:
    values = np.array([100.0, 110.0, 121.0, 0.0, 50.0, 60.0])
    # period 2: x / x[-2] - 1 -> NaN, NaN, 121/100 - 1, 0/110 - 1, 50/121 - 1, 60/0 -> NaN
    expected = [math.nan, math.nan, 121 / 100 - 1, -1.0, 50 / 121 - 1, math.nan]
    np.testing.assert_array_equal(roc(values, 2), expected)
    ind = ROC(2)
    assert math.isnan(ind.update(100.0)) and math.isnan(ind.update(110.0)) and not ind.ready
    assert ind.update(121.0) == pytest.approx(0.21) and ind.ready


@pytest.mark.parametrize("fn", [sma, roc])
def test_shorter_than_the_period_is_all_nan(fn) -> None:
    assert np.isnan(fn(np.array([1.0, 2.0]), 5)).all()
    assert fn(np.array([], dtype=np.float64), 3).shape == (0,)


def test_roc_needs_period_plus_one_values() -> None:
    assert np.isnan(roc(np.array([1.0, 2.0, 3.0]), 3)).all()


def test_vectorized_accepts_lists_and_ints() -> None:
    np.testing.assert_array_equal(sma([1, 2, 3], 2), [math.nan, 1.5, 2.5])
    np.testing.assert_array_equal(roc([1, 2, 4], 1), [math.nan, 1.0, 1.0])


@pytest.mark.parametrize("cls", [SMA, ROC])
@pytest.mark.parametrize("period", [0, -1, -10])
def test_incremental_period_below_one_is_refused(cls: type, period: int) -> None:
    with pytest.raises(ValueError, match=f"period must be >= 1, got {period}"):
        cls(period)


@pytest.mark.parametrize("fn", [sma, roc])
@pytest.mark.parametrize("period", [0, -1])
def test_vectorized_period_below_one_is_refused(fn, period: int) -> None:
    with pytest.raises(ValueError, match="period"):
        fn(np.arange(1.0, 6.0), period)
