"""Market statistics for the pre-trade risk rules: hand-checked grids, ranks and costs, the same
figures as pandas and scipy computed independently, and no look-ahead: every lookup at ``ts``
is unchanged when every event after ``ts`` is replaced."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.backtesting.feed import Feed
from engine.errors import ConfigError, DataError
from engine.market_stats import (CALM, HIGHLY_VOLATILE, NORMAL, REGIMES, VOLATILE, MarketStats,
                                 StatsConfig, SymbolEvents)
from engine.timeframes import NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, parse_time

T0 = parse_time("2024-01-01")
H = NS_PER_HOUR
M = NS_PER_MINUTE
NAN = math.nan


def bars(symbol: str, closes: list[float] | np.ndarray, volumes: list[float] | np.ndarray
         | None = None, start: int = T0, step: int = H) -> SymbolEvents:
    """Bars closing at ``start``, ``start + step``, ... (event time = close time)."""
    closes = np.asarray(closes, dtype=float)
    ts = start + step * np.arange(closes.size, dtype=np.int64)
    volume = np.ones(closes.size) if volumes is None else np.asarray(volumes, dtype=float)
    return SymbolEvents(symbol, ts, closes, volume)


def walk(rng: np.random.Generator, n: int, sigma: float = 0.01) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))


# --- the grid and the regime, by hand ---------------------------------------------------------


def test_grid_cells_are_right_closed_last_good_print_carried_forward() -> None:
    # cells of 1h named by their end; the 01:00 print belongs to the cell ending 01:00, the
    # NaN print is skipped, the empty cell ending 02:00 carries 101 forward:
    #   cell 01:00 -> 101, 02:00 -> 101, 03:00 -> 104; returns ln(101/101) = 0, ln(104/101)
    ts = T0 + np.array([30 * M, 60 * M, 80 * M, 130 * M, 170 * M])
    a = SymbolEvents("A", ts, np.array([100.0, 101.0, NAN, 102.0, 104.0]), np.ones(5))
    # B's returns over the same cells: 0.01, then 0.03
    b_prices = np.array([50.0, 50.0 * math.exp(0.01), 50.0 * math.exp(0.04)])
    b = SymbolEvents("B", T0 + H * np.arange(1, 4), b_prices, np.ones(3))
    stats = MarketStats([a, b], StatsConfig(correlation_window=2))
    # two returns each: A (0, ln(104/101)), B (0.01, 0.03): both rise, correlation 1
    assert stats.correlation("A", "B", T0 + 3 * H) == pytest.approx(1.0)
    assert math.isnan(stats.correlation("A", "B", T0 + 3 * H - 1))   # 03:00 not closed yet


def test_regime_percentile_and_label_by_hand() -> None:
    # returns r1..r6 at cells 1..6; realized vol over 2 returns (population) = |ra - rb| / 2:
    #   cell 2: 0, cell 3: 0.01, cell 4: 0.02, cell 5: 0.005, cell 6: 0.025
    # percentile among the last 3 (kind "mean": below + equal/2):
    #   cell 4: [0, .01, .02] -> (2 + .5)/3 = 83.3 VOLATILE
    #   cell 5: [.01, .02, .005] -> .5/3 = 16.7 CALM
    #   cell 6: [.02, .005, .025] -> 2.5/3 = 83.3 VOLATILE
    r = [0.01, 0.01, 0.03, -0.01, 0.0, 0.05]
    closes = 100.0 * np.exp(np.cumsum([0.0, *r]))
    stats = MarketStats([bars("X", closes)],
                        StatsConfig(regime_window=2, regime_lookback=3))
    expect = {4: (250 / 3, VOLATILE), 5: (50 / 3, CALM), 6: (250 / 3, VOLATILE)}
    for cell, (pct, code) in expect.items():
        end = T0 + cell * H
        assert stats.regime_percentile("X", end) == pytest.approx(pct)
        assert stats.regime("X", end) == code
        assert stats.regime("X", end + H - 1) == code   # the cell holds until the next closes
    # before enough history: NaN and NORMAL; after the data: the last cell
    assert math.isnan(stats.regime_percentile("X", T0 + 4 * H - 1))
    assert stats.regime("X", T0 + 4 * H - 1) == NORMAL
    assert stats.regime("X", T0 - 5 * H) == NORMAL
    assert stats.regime("X", T0 + 100 * H) == VOLATILE
    assert REGIMES[stats.regime("X", T0 + 5 * H)] == "CALM"


def test_threshold_boundaries() -> None:
    # a percentile equal to a threshold takes the upper label: 50/3 with thresholds
    # (50/3, 60, 90) is NORMAL, not CALM
    r = [0.01, 0.01, 0.03, -0.01, 0.0, 0.05]
    closes = 100.0 * np.exp(np.cumsum([0.0, *r]))
    stats = MarketStats([bars("X", closes)], StatsConfig(
        regime_window=2, regime_lookback=3,
        regime_thresholds=(float(np.float64(50.0) / 3.0), 60.0, 90.0)))
    assert stats.regime("X", T0 + 5 * H) == NORMAL


def test_calm_stretch_then_volatile_stretch() -> None:
    # 200 hours of ordinary moves (sigma 1%), 20 calm hours (0.05%), then swings growing from
    # 5%; realized vol over 10 returns, ranked among 100. The first window wholly calm is cell
    # 210; the first with a swing is cell 221; from the third swing on, the volatility is the
    # largest of the lookback.
    rng = np.random.default_rng(7)
    ordinary = rng.normal(0.0, 0.01, 200)
    calm = rng.normal(0.0, 0.0005, 20)
    swings = np.array([(-1) ** k * 0.05 * (1 + 0.1 * k) for k in range(20)])
    closes = 100.0 * np.exp(np.cumsum([0.0, *ordinary, *calm, *swings]))
    stats = MarketStats([bars("X", closes)],
                        StatsConfig(regime_window=10, regime_lookback=100))
    codes = [stats.regime("X", T0 + c * H) for c in range(241)]
    assert all(code == NORMAL for code in codes[:109])   # before 10 + 100 cells
    assert codes[210:221] == [CALM] * 11
    assert stats.regime("X", T0 + 221 * H - 1) == CALM   # the first swing not closed yet
    assert codes[223:241] == [HIGHLY_VOLATILE] * 18


def test_percentile_agrees_with_pandas_and_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    sigma = np.repeat(rng.uniform(0.002, 0.03, 20), 15)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, sigma)))
    window, lookback = 6, 25
    stats = MarketStats([bars("X", closes)],
                        StatsConfig(regime_window=window, regime_lookback=lookback))
    vol = pd.Series(np.log(closes)).diff().rolling(window).std(ddof=0).to_numpy()
    for cell in range(closes.size):
        got = stats.regime_percentile("X", T0 + cell * H)
        if cell < window + lookback - 1:
            assert math.isnan(got)
            continue
        ranked = vol[cell - lookback + 1: cell + 1]
        assert got == pytest.approx(scipy_stats.percentileofscore(ranked, vol[cell],
                                                                  kind="mean"))


# --- correlation ------------------------------------------------------------------------------


def pandas_grid(e: SymbolEvents, interval: str, index: pd.DatetimeIndex) -> pd.Series:
    """The last good price per right-closed cell, carried forward, on ``index`` (pandas)."""
    good = np.isfinite(e.price) & (e.price > 0)
    s = pd.Series(e.price[good], index=pd.to_datetime(e.ts[good]))
    last = s.resample(interval, closed="right", label="right").last()
    return last.reindex(index).ffill()


def test_correlation_agrees_with_pandas_rolling_corr_on_partly_overlapping_grids() -> None:
    rng = np.random.default_rng(11)
    common = rng.normal(0.0, 0.01, 400)
    symbols = []
    for name, offset, n in (("A", 0, 3000), ("B", 50 * 60, 3000), ("C", 100 * 60, 1500)):
        # irregular trades every ~3.5 minutes (A ~175h, B from 50h to ~225h, C from 100h to
        # ~187h)
        t = T0 + (offset + np.cumsum(rng.integers(0, 8, n))) * M
        hour = (t - T0) // H
        price = 100.0 * np.exp(np.cumsum(common)[np.minimum(hour, 399)]
                               + rng.normal(0.0, 0.003, n))
        price[rng.random(n) < 0.05] = NAN
        symbols.append(SymbolEvents(name, t, price, rng.uniform(0.0, 2.0, n)))
    window = 30
    stats = MarketStats(symbols, StatsConfig(correlation_window=window))
    first = min(int(e.ts[0]) for e in symbols)
    last = max(int(e.ts[-1]) for e in symbols)
    index = pd.to_datetime(np.arange(-(-first // H) * H, -(-last // H) * H + 1, H))
    returns = {e.symbol: np.log(pandas_grid(e, "1h", index)).diff() for e in symbols}
    compared = 0
    for a, b in (("A", "B"), ("A", "C"), ("B", "C")):
        expected = returns[a].rolling(window).corr(returns[b]).to_numpy()
        got = np.array([stats.correlation(a, b, int(t)) for t in index.asi8])
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (a, b)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(
            [stats.correlation(b, a, int(t)) for t in index.asi8], got)
        compared += int(np.isfinite(got).sum())
    assert compared > 250
    # C only correlates over its overlap: NaN until 30 returns of C exist
    c_start = -(-int(symbols[2].ts[0]) // H) * H
    assert math.isnan(stats.correlation("A", "C", c_start + (window - 1) * H))
    assert math.isfinite(stats.correlation("A", "C", c_start + window * H))


def test_correlated_lists_the_others_in_feed_order_at_or_above_the_threshold() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 0.01, 300)
    noise = lambda s: rng.normal(0.0, s, 300)  # noqa: E731
    closes = {  # D follows A closely, B loosely, C is independent, E mirrors A
        "D": base + noise(0.001), "B": base + noise(0.01), "C": noise(0.01),
        "A": base, "E": -base + noise(0.001)}
    stats = MarketStats([bars(s, 100.0 * np.exp(np.cumsum(r))) for s, r in closes.items()],
                        StatsConfig(correlation_window=48))
    ts = T0 + 299 * H
    corr = {s: stats.correlation("A", s, ts) for s in closes}
    assert corr["D"] > 0.95 and 0.4 < corr["B"] < 0.95 and abs(corr["C"]) < 0.4
    assert corr["E"] < -0.95
    assert stats.correlated("A", ts, 0.95) == ("D",)
    assert stats.correlated("A", ts, corr["B"]) == ("D", "B")   # at the threshold counts
    assert stats.correlated("A", ts, -1.0) == ("D", "B", "C", "E")
    assert stats.correlated("A", T0 + 40 * H, -1.0) == ()        # NaN never counts
    assert stats.correlated("A", T0 - H, -1.0) == ()


def test_a_flat_symbol_correlates_with_nothing() -> None:
    rng = np.random.default_rng(1)
    stats = MarketStats([bars("A", walk(rng, 100)), bars("F", np.full(100, 7.0))],
                        StatsConfig(correlation_window=10))
    assert math.isnan(stats.correlation("A", "F", T0 + 99 * H))
    assert stats.correlated("A", T0 + 99 * H, -1.0) == ()


# --- cost -------------------------------------------------------------------------------------


def test_cost_formula_on_bars() -> None:
    # half spread 2/2 = 1 bps; impact 10 * sqrt(|qty| / mean volume of the last 3 good bars)
    stats = MarketStats([bars("X", [100.0, 101.0, 102.0, NAN, 103.0, 104.0],
                              [10.0, 20.0, 30.0, 1e9, 40.0, NAN])],
                        StatsConfig(cost_window=3, default_spread_bps=2.0, impact_k_bps=10.0))
    assert stats.cost_bps("X", T0 - 1, 1.0, 100.0) == math.inf           # nothing yet
    assert stats.cost_bps("X", T0, 10.0, 100.0) == pytest.approx(11.0)   # mean of 1 bar: 10
    assert stats.cost_bps("X", T0 + H, -15.0, 100.0) == pytest.approx(11.0)  # sells alike
    # after the NaN close: mean(10, 20, 30) = 20, so 1 + 10 * sqrt(5 / 20) = 6
    assert stats.cost_bps("X", T0 + 3 * H, 5.0, 100.0) == pytest.approx(6.0)
    # mean(20, 30, 40) = 30; the NaN volume after it is skipped
    assert stats.cost_bps("X", T0 + 4 * H, 30.0, 100.0) == pytest.approx(11.0)
    assert stats.cost_bps("X", T0 + 5 * H, 30.0, 50.0) == pytest.approx(11.0)
    assert stats.cost_bps("X", T0 + 5 * H, 0.0, 100.0) == pytest.approx(1.0)


def test_zero_volume_costs_infinity() -> None:
    stats = MarketStats([bars("X", [100.0, 100.0, 100.0], [0.0, 0.0, 5.0])],
                        StatsConfig(cost_window=2))
    assert stats.cost_bps("X", T0 + H, 1.0, 100.0) == math.inf
    assert stats.cost_bps("X", T0 + 2 * H, 2.5, 100.0) == pytest.approx(1.0 + 10.0)


def test_cost_formula_on_quotes() -> None:
    # bid 99 / ask 101: half spread 1 = 100 bps of a price of 100; a buy takes the ask size
    # (16), a sell the bid size (4); the crossed quote at T0 + 1m is skipped
    ts = T0 + M * np.arange(3)
    bid = np.array([99.0, 102.0, 99.5])
    ask = np.array([101.0, 101.0, 100.5])
    q = SymbolEvents("Q", ts, (bid + ask) / 2, bid=bid, ask=ask,
                     bid_size=np.array([4.0, 1.0, 12.0]), ask_size=np.array([16.0, 1.0, 48.0]))
    stats = MarketStats([q], StatsConfig(cost_window=2, impact_k_bps=10.0))
    assert stats.cost_bps("Q", T0 + M, 4.0, 100.0) == pytest.approx(100.0 + 5.0)
    assert stats.cost_bps("Q", T0 + M, -4.0, 100.0) == pytest.approx(100.0 + 10.0)
    # then bid 99.5 / ask 100.5 (50 bps at 100), mean ask size (16 + 48) / 2 = 32
    assert stats.cost_bps("Q", T0 + 2 * M, 8.0, 100.0) == pytest.approx(50.0 + 5.0)
    assert stats.cost_bps("Q", T0 + 2 * M, 8.0, 200.0) == pytest.approx(25.0 + 5.0)


def test_cost_refuses_a_bad_price_or_quantity() -> None:
    stats = MarketStats([bars("X", [100.0])])
    for price in (0.0, -1.0, NAN, math.inf):
        with pytest.raises(ValueError, match="price"):
            stats.cost_bps("X", T0, 1.0, price)
    with pytest.raises(ValueError, match="qty"):
        stats.cost_bps("X", T0, NAN, 100.0)


# --- no look-ahead, bad prints, determinism ---------------------------------------------------

CONFIG = StatsConfig(regime_interval="5m", regime_window=4, regime_lookback=12,
                     correlation_interval="2m", correlation_window=6, cost_window=7)


def random_market(rng: np.random.Generator) -> list[SymbolEvents]:
    """Trades, bars and quotes with irregular times (bursts, gaps, equal times) and bad
    prints, over about 10 hours."""
    out = []
    for k, name in enumerate(("BTC", "ETH", "SOL")):
        n = int(rng.integers(800, 1500))
        steps = rng.choice([0, 1, 5, 30, 120], n) * rng.choice([1, 1, 1, 1, 20], n)
        ts = T0 + k * 7 * M + np.cumsum(steps) * NS_PER_SECOND
        price = walk(rng, n, 0.002) * (1 + k)
        price[rng.random(n) < 0.03] = NAN
        price[rng.random(n) < 0.01] = -1.0
        if name == "SOL":
            spread = rng.uniform(0.0, 0.01, n) * price
            out.append(SymbolEvents(name, ts, price, bid=price - spread / 2,
                                    ask=price + spread / 2, bid_size=rng.uniform(0, 5, n),
                                    ask_size=rng.uniform(0, 5, n)))
        else:
            volume = rng.exponential(3.0, n)
            volume[rng.random(n) < 0.02] = NAN
            out.append(SymbolEvents(name, ts, price, volume))
    return out


def lookups(stats: MarketStats, times: np.ndarray) -> np.ndarray:
    """Every lookup at every time, as one float array (NaN and inf included)."""
    values: list[float] = []
    symbols = stats.symbols
    for t in times.tolist():
        for s in symbols:
            values.append(stats.regime(s, t))
            values.append(stats.regime_percentile(s, t))
            for threshold in (-0.5, 0.0, 0.3, 0.7):
                hits = stats.correlated(s, t, threshold)
                values.extend(float(o in hits) for o in symbols)
            values.extend(stats.correlation(s, o, t) for o in symbols)
            for qty in (0.5, -0.5, 3.0):
                values.append(stats.cost_bps(s, t, qty, 100.0))
    return np.array(values)


def query_times(events: list[SymbolEvents], until: int) -> np.ndarray:
    """Event times, every cell end of both grids and a nanosecond before, up to ``until``."""
    first = min(int(e.ts[0]) for e in events) - 10 * M
    ends = np.arange(first - first % M, until + 1, M)
    times = np.concatenate([ends, ends - 1, *(e.ts for e in events), [until]])
    return np.unique(times[times <= until])


@pytest.mark.parametrize("seed", range(8))
def test_no_look_ahead(seed: int) -> None:
    """Replacing every event after ``t`` (prices, volumes, quotes, and their times, still
    after ``t``) changes no lookup at or before ``t``."""
    rng = np.random.default_rng(seed)
    events = random_market(rng)
    last = max(int(e.ts[-1]) for e in events)
    t = int(rng.integers(T0 + 2 * H, last - H))
    changed = []
    for e in events:
        later = e.ts > t
        n = int(later.sum())
        ts = e.ts.copy()
        if n:
            ts[later] = np.sort(rng.integers(t + 1, last + 3 * H, n))
        fields = {}
        for name in ("price", "volume", "bid", "ask", "bid_size", "ask_size"):
            value = getattr(e, name)
            if value is not None:
                value = value.copy()
                value[later] = value[later][rng.permutation(n)] * rng.uniform(0.5, 2.0, n)
                value[later & (rng.random(ts.size) < 0.2)] = NAN
                fields[name] = value
        changed.append(SymbolEvents(e.symbol, ts, **fields))
    before = MarketStats(events, CONFIG)
    after = MarketStats(changed, CONFIG)
    times = query_times(events, t)
    got, expected = lookups(after, times), lookups(before, times)
    assert np.isfinite(expected).sum() > 1000   # the lookups compare real values
    np.testing.assert_array_equal(got, expected)
    # and later lookups do see the change
    later_times = np.arange(t + H, t + 3 * H, M)
    assert not np.array_equal(lookups(after, later_times), lookups(before, later_times))


def test_bad_prints_are_skipped() -> None:
    rng = np.random.default_rng(2)
    events = random_market(rng)
    clean = []
    for e in events:
        # a bad price voids its row (a NaN volume beside a good price leaves the price)
        good = np.isfinite(e.price) & (e.price > 0)
        good[[0, -1]] = True   # the first and last event set the grid's extent
        clean.append(SymbolEvents(e.symbol, e.ts[good], e.price[good],
                                  **{k: getattr(e, k)[good] for k in
                                     ("volume", "bid", "ask", "bid_size", "ask_size")
                                     if getattr(e, k) is not None}))
    times = query_times(events, max(int(e.ts[-1]) for e in events))
    np.testing.assert_array_equal(lookups(MarketStats(clean, CONFIG), times),
                                  lookups(MarketStats(events, CONFIG), times))


def test_same_inputs_give_identical_floats() -> None:
    events = random_market(np.random.default_rng(4))
    times = query_times(events, max(int(e.ts[-1]) for e in events))
    first = lookups(MarketStats(events, CONFIG), times)
    again = lookups(MarketStats(random_market(np.random.default_rng(4)), CONFIG), times)
    assert first.tobytes() == again.tobytes()


# --- construction from feeds, config and errors ------------------------------------------------


def test_from_feeds_reads_bars_trades_and_quotes() -> None:
    rng = np.random.default_rng(9)
    n = 200
    open_ts = T0 + H * np.arange(n, dtype=np.int64)
    close = walk(rng, n)
    bar_frame = pd.DataFrame({"ts": open_ts, "open": close, "high": close * 1.01,
                              "low": close * 0.99, "close": close,
                              "volume": rng.uniform(1, 5, n)})
    trade_ts = T0 + np.sort(rng.integers(0, n * H, 3 * n))
    trade_frame = pd.DataFrame({"ts": trade_ts, "price": walk(rng, 3 * n),
                                "size": rng.uniform(0, 1, 3 * n),
                                "side": np.ones(3 * n, np.int8),
                                "trade_id": np.arange(3 * n)})
    mid = walk(rng, 3 * n)
    quote_frame = pd.DataFrame({"ts": trade_ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                "bid_size": rng.uniform(0, 1, 3 * n),
                                "ask_size": rng.uniform(0, 1, 3 * n)})
    feeds = [Feed("B", "bar", bar_frame, interval_ns=H), Feed("T", "trade", trade_frame),
             Feed("Q", "quote", quote_frame)]
    config = StatsConfig(regime_window=5, regime_lookback=20, correlation_window=10)
    from_feeds = MarketStats.from_feeds(feeds, config)
    plain = MarketStats([
        SymbolEvents("B", open_ts + H, close, bar_frame["volume"].to_numpy()),
        SymbolEvents("T", trade_ts, trade_frame["price"].to_numpy(),
                     trade_frame["size"].to_numpy()),
        SymbolEvents("Q", trade_ts, mid, bid=mid - 0.01, ask=mid + 0.01,
                     bid_size=quote_frame["bid_size"].to_numpy(),
                     ask_size=quote_frame["ask_size"].to_numpy())], config)
    assert from_feeds.symbols == ("B", "T", "Q")
    times = T0 + np.arange(0, (n + 2) * H, 17 * M)
    expected = lookups(plain, times)
    assert np.isfinite(expected).sum() > 100
    np.testing.assert_array_equal(lookups(from_feeds, times), expected)


@pytest.mark.parametrize("field, value", [
    ("regime_interval", "1x"), ("regime_interval", "0h"), ("correlation_interval", ""),
    ("regime_window", 1), ("regime_window", 2.0), ("regime_lookback", 0),
    ("correlation_window", 1), ("cost_window", 0), ("cost_window", True),
    ("default_spread_bps", -1.0), ("default_spread_bps", NAN), ("impact_k_bps", -0.1),
    ("impact_k_bps", "10"), ("regime_thresholds", (75.0, 25.0, 95.0)),
    ("regime_thresholds", (0.0, 50.0, 95.0)), ("regime_thresholds", (25.0, 75.0, 100.0)),
    ("regime_thresholds", (25.0, 75.0)), ("regime_thresholds", (25.0, 25.0, 95.0)),
])
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        StatsConfig(**{field: value})


def test_config_from_dict() -> None:
    config = StatsConfig.from_dict({"regime_window": 10, "regime_thresholds": [10, 50, 90],
                                    "impact_k_bps": 5})
    assert config.regime_thresholds == (10.0, 50.0, 90.0) and config.impact_k_bps == 5.0
    assert hash(config) == hash(StatsConfig(regime_window=10, regime_thresholds=(10, 50, 90),
                                            impact_k_bps=5.0))
    with pytest.raises(ConfigError, match="regime_windw"):
        StatsConfig.from_dict({"regime_windw": 10})


def test_unknown_symbol_is_named() -> None:
    stats = MarketStats([bars("A", [1.0, 2.0]), bars("B", [1.0, 2.0])])
    calls = [lambda: stats.regime("DOGE", T0), lambda: stats.regime_percentile("DOGE", T0),
             lambda: stats.correlated("DOGE", T0, 0.5), lambda: stats.correlation("A", "DOGE", T0),
             lambda: stats.cost_bps("DOGE", T0, 1.0, 1.0)]
    for call in calls:
        with pytest.raises(KeyError, match="DOGE"):
            call()


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DataError, match="non-decreasing"):
        SymbolEvents("A", np.array([2, 1]), np.ones(2), np.ones(2))
    with pytest.raises(DataError, match="volume"):
        SymbolEvents("A", np.array([1, 2]), np.ones(2), np.ones(3))
    with pytest.raises(DataError, match="bid"):
        SymbolEvents("A", np.array([1, 2]), np.ones(2))
    with pytest.raises(ConfigError, match="twice"):
        MarketStats([bars("A", [1.0]), bars("A", [1.0])])
