"""The synthetic market: determinism, trades/quotes/bars consistency, regimes, realism, errors.

Golden values: regenerate deliberately with ``.venv/bin/python tests/unit/test_synthetic.py``
and paste its output into ``GOLDEN_BARS``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.data.schema import BAR_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS
from engine.errors import ConfigError
from engine.synthetic import (CRASH, MEAN_REVERTING, REGIME_NAMES, VOLATILE, RegimeParams,
                              SyntheticConfig, SyntheticMarket, floor_to_grid, synthetic_bars,
                              synthetic_trades)
from engine.synthetic.kernels import dexp
from engine.synthetic.profile import SymbolProfile
from engine.timeframes import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, parse_time, timeframe_to_ns

GOLDEN_ARGS = dict(symbol="BTC/USDT", seed=7, start="2024-01-01", n_bars=3, timeframe="1m")
GOLDEN_BARS = [
    # ts, open, high, low, close, volume
    (1704067200000000000, 34066.78, 34073.43, 34054.41, 34054.41, 0.51829),
    (1704067260000000000, 34055.79, 34071.64, 34055.5, 34062.19, 0.76317),
    (1704067320000000000, 34070.33, 34074.73, 34069.22, 34073.76, 0.08961),
]


def _golden_frame() -> pd.DataFrame:
    return synthetic_bars(**GOLDEN_ARGS)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    # Starts off the hour so that day-long generation blocks cut hour and day bars in two.
    return SyntheticMarket("BTC/USDT", seed=3, start="2024-03-01T00:30", end="2024-03-04T07:00")


@pytest.fixture(scope="module")
def trades(market: SyntheticMarket) -> pd.DataFrame:
    return market.trades()


@pytest.fixture(scope="module")
def long_market() -> SyntheticMarket:
    """A year at a low trade rate (the regime path does not depend on the rate)."""
    return SyntheticMarket("BTC/USDT", seed=11, start="2023-01-01", end="2024-01-01",
                           trades_per_minute=3.0)


def _schema_ok(frame: pd.DataFrame, columns: dict[str, np.dtype]) -> None:
    assert list(frame.columns) == list(columns)
    for name, dtype in columns.items():
        assert frame[name].dtype == dtype, name


def _aggregate(trades: pd.DataFrame, start_ns: int, end_ns: int, timeframe: str,
               first_close: float) -> pd.DataFrame:
    """Bars recomputed from trades with pandas, independently of the engine's kernel."""
    interval = timeframe_to_ns(timeframe)
    origin = start_ns - start_ns % interval
    n_bars = -(-(end_ns - origin) // interval)
    key = (trades["ts"] - origin) // interval
    grouped = trades.groupby(key).agg(open=("price", "first"), high=("price", "max"),
                                      low=("price", "min"), close=("price", "last"),
                                      volume=("size", "sum"))
    bars = grouped.reindex(range(n_bars))
    empty = bars["close"].isna()
    close = bars["close"].ffill().fillna(first_close)
    for column in ("open", "high", "low", "close"):
        bars[column] = bars[column].fillna(close)
    bars["volume"] = bars["volume"].fillna(0.0)
    bars.insert(0, "ts", origin + interval * np.arange(n_bars, dtype=np.int64))
    assert empty.sum() == (bars["volume"] == 0).sum()
    return bars.reset_index(drop=True)


# -- determinism ---------------------------------------------------------------------------

def test_same_seed_gives_identical_frames(market: SyntheticMarket, trades: pd.DataFrame) -> None:
    twin = SyntheticMarket("BTC/USDT", seed=3, start="2024-03-01T00:30", end="2024-03-04T07:00")
    pd.testing.assert_frame_equal(twin.trades(), trades, check_exact=True)
    pd.testing.assert_frame_equal(twin.quotes(), market.quotes(), check_exact=True)
    pd.testing.assert_frame_equal(twin.bars("5m"), market.bars("5m"), check_exact=True)
    pd.testing.assert_frame_equal(twin.regimes(), market.regimes(), check_exact=True)


def test_other_seed_or_symbol_gives_another_market(trades: pd.DataFrame) -> None:
    kwargs = dict(start="2024-03-01T00:30", end="2024-03-02")
    other_seed = SyntheticMarket("BTC/USDT", seed=4, **kwargs).trades()  # type: ignore[arg-type]
    other_symbol = SyntheticMarket("BTC/USD", seed=3, **kwargs).trades()  # type: ignore[arg-type]
    head = trades[trades["ts"] < parse_time("2024-03-02")]
    for other in (other_seed, other_symbol):
        n = min(len(other), len(head))
        assert not np.array_equal(other["price"].to_numpy()[:n], head["price"].to_numpy()[:n])
        assert not np.array_equal(other["ts"].to_numpy()[:n], head["ts"].to_numpy()[:n])


def test_longer_market_extends_shorter_one(trades: pd.DataFrame) -> None:
    short = SyntheticMarket("BTC/USDT", seed=3, start="2024-03-01T00:30",
                            end="2024-03-02T12:00").trades()
    pd.testing.assert_frame_equal(short, trades.iloc[:len(short)], check_exact=True)
    assert trades["ts"].iloc[len(short)] >= parse_time("2024-03-02T12:00")
    first = synthetic_trades("BTC/USDT", seed=3, start="2024-03-01T00:30", n_trades=40_000)
    pd.testing.assert_frame_equal(first, trades.iloc[:40_000], check_exact=True)


def test_golden_first_bars() -> None:
    bars = _golden_frame()
    assert [tuple(row) for row in bars.itertuples(index=False)] == GOLDEN_BARS


def test_dexp_agrees_with_exp_to_the_last_bits() -> None:
    from numba import njit

    @njit
    def many(values: np.ndarray) -> np.ndarray:
        out = np.empty(values.shape[0])
        for i in range(values.shape[0]):
            out[i] = dexp(values[i])
        return out

    x = np.concatenate([np.linspace(-700, 700, 200_001), np.linspace(-1, 1, 200_001)])
    got, ref = many(x), np.exp(x)
    assert np.all(np.abs(got - ref) <= 2 * np.spacing(ref))
    assert many(np.array([0.0]))[0] == 1.0


# -- trades, quotes, bars ------------------------------------------------------------------

def test_trades_follow_the_schema(market: SyntheticMarket, trades: pd.DataFrame) -> None:
    _schema_ok(trades, TRADE_COLUMNS)
    ts = trades["ts"].to_numpy()
    assert np.all(np.diff(ts) > 0)
    assert ts[0] > market.start and ts[-1] < market.end
    assert np.array_equal(trades["trade_id"].to_numpy(), np.arange(1, len(trades) + 1))
    assert set(np.unique(trades["side"])) == {-1, 1}
    assert (trades["size"] > 0).all() and (trades["price"] > 0).all()
    profile = market.profile
    price, size = trades["price"].to_numpy(), trades["size"].to_numpy()
    # On the tick and lot grids, and each the double nearest its decimal.
    ticks = np.round(price * profile.tick_div / profile.tick_mul)
    assert np.array_equal(ticks * profile.tick_mul / profile.tick_div, price)
    lots = np.round(size * profile.lot_div / profile.lot_mul)
    assert np.array_equal(lots * profile.lot_mul / profile.lot_div, size)
    minutes = (market.end - market.start) / NS_PER_MINUTE
    # Two days: the trade rate follows the stochastic volatility, so a calm or a busy stretch
    # may sit far from the long-run mean (checked over a year below).
    assert 0.25 * market.trades_per_minute < len(trades) / minutes < 4 * market.trades_per_minute


def test_long_run_trade_rate_is_the_configured_one() -> None:
    # The rate follows a slow volatility factor (60-day half-life), so one year may sit well
    # off the mean; eight years of different seeds average it out.
    rates = []
    for seed in range(8):
        market = SyntheticMarket("BTC/USDT", seed=seed, start="2023-01-01", end="2024-01-01",
                                 trades_per_minute=1.0)
        rates.append(len(market.trades()) / ((market.end - market.start) / NS_PER_MINUTE))
    assert 0.8 < float(np.mean(rates)) < 1.25


@pytest.mark.parametrize("timeframe", ["1m", "5m", "1h", "1d"])
def test_bars_are_exact_aggregations_of_the_trades(market: SyntheticMarket, trades: pd.DataFrame,
                                                   timeframe: str) -> None:
    bars = market.bars(timeframe)
    _schema_ok(bars, BAR_COLUMNS)
    expected = _aggregate(trades, market.start, market.end, timeframe,
                          market.profile.initial_price)
    assert np.array_equal(bars["ts"].to_numpy(), expected["ts"].to_numpy())
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(bars[column].to_numpy(), expected[column].to_numpy()), column
    # pandas sums with compensation, the engine left to right: equal to rounding.
    np.testing.assert_allclose(bars["volume"].to_numpy(), expected["volume"].to_numpy(),
                               rtol=1e-12, atol=0)


def test_bar_grid_and_ohlc_invariants(market: SyntheticMarket) -> None:
    for timeframe in ("1m", "15m", "4h"):
        bars = market.bars(timeframe)
        interval = timeframe_to_ns(timeframe)
        ts = bars["ts"].to_numpy()
        assert ts[0] == market.start - market.start % interval
        assert np.all(np.diff(ts) == interval)
        assert ts[-1] < market.end <= ts[-1] + interval
        o, h, lo, c, v = (bars[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
        assert np.all(lo > 0) and np.all(v >= 0)
        assert np.all(lo <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c))


def test_empty_intervals_are_rare_and_flat() -> None:
    busy = SyntheticMarket("ETH/USDT", seed=5, start="2024-01-06", end="2024-01-09").bars("1m")
    assert (busy["volume"] == 0).mean() < 0.005
    sparse_market = SyntheticMarket("ETH/USDT", seed=5, start="2024-01-06", end="2024-01-07",
                                    trades_per_minute=0.5)
    sparse = sparse_market.bars("1m")
    empty = (sparse["volume"] == 0).to_numpy()
    assert 0.2 < empty.mean() < 0.9
    close = sparse["close"].to_numpy()
    previous = np.concatenate([[sparse_market.profile.initial_price], close[:-1]])
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(sparse[column].to_numpy()[empty], previous[empty])


def test_weekly_bars_open_on_monday() -> None:
    bars = synthetic_bars("BTC/USDT", seed=1, start="2024-01-03", n_bars=2, timeframe="1w",
                          trades_per_minute=1.0)
    assert pd.Timestamp(int(bars["ts"].iloc[0]), tz="UTC") == pd.Timestamp("2024-01-01", tz="UTC")
    assert floor_to_grid(parse_time("2024-01-07T23:59"), 7 * NS_PER_DAY) == parse_time("2024-01-01")


def test_synthetic_bars_counts_n_bars() -> None:
    bars = synthetic_bars("SOL/USDT", seed=2, start="2024-02-01T00:07", n_bars=30, timeframe="5m")
    assert len(bars) == 30 and bars["ts"].iloc[0] == parse_time("2024-02-01T00:05")


def test_quotes_are_in_force_at_each_trade(market: SyntheticMarket, trades: pd.DataFrame) -> None:
    quotes = market.quotes()
    _schema_ok(quotes, QUOTE_COLUMNS)
    assert len(quotes) == len(trades)
    assert np.all(np.diff(quotes["ts"].to_numpy()) > 0)
    assert (quotes["bid"] < quotes["ask"]).all() and (quotes["bid"] > 0).all()
    assert (quotes["bid_size"] > 0).all() and (quotes["ask_size"] > 0).all()
    spread_bps = ((quotes["ask"] - quotes["bid"]) / quotes["bid"] * 1e4).median()
    assert 0.5 < spread_bps < 10
    joined = pd.merge_asof(trades, quotes, on="ts", direction="backward")
    assert joined["bid"].notna().all()
    buy = joined["side"] == 1
    assert (joined.loc[buy, "price"] == joined.loc[buy, "ask"]).all()
    assert (joined.loc[~buy, "price"] == joined.loc[~buy, "bid"]).all()
    assert (joined.loc[buy, "size"] <= joined.loc[buy, "ask_size"]).all()
    assert (joined.loc[~buy, "size"] <= joined.loc[~buy, "bid_size"]).all()


# -- regimes and realism -------------------------------------------------------------------

def test_all_regimes_appear_with_realistic_durations(long_market: SyntheticMarket) -> None:
    regimes = long_market.regimes()
    assert regimes["ts"].iloc[0] == long_market.start
    assert set(regimes["regime"]) == set(range(len(REGIME_NAMES)))
    assert list(regimes["name"].cat.categories) == list(REGIME_NAMES)
    ends = np.append(regimes["ts"].to_numpy()[1:], long_market.end)
    hours = pd.Series((ends - regimes["ts"].to_numpy()) / NS_PER_HOUR)
    mean_hours = hours.groupby(regimes["regime"].to_numpy()).mean()
    assert 0.1 < mean_hours[CRASH] < 3
    for code in range(len(REGIME_NAMES)):
        if code != CRASH:
            assert 2 < mean_hours[code] < 72, REGIME_NAMES[code]
    assert 5 <= (regimes["regime"] == CRASH).sum() <= 60


def test_volatility_is_in_a_crypto_range(long_market: SyntheticMarket) -> None:
    closes = long_market.bars("1h")["close"].to_numpy()
    assert np.all(closes > 0)
    annual = np.std(np.diff(np.log(closes))) * math.sqrt(365 * 24)
    assert 0.3 < annual < 1.2
    alt = SyntheticMarket("PEPE/USDT", seed=11, start="2023-01-01", end="2024-01-01",
                          trades_per_minute=1.0).bars("4h")["close"].to_numpy()
    alt_annual = np.std(np.diff(np.log(alt))) * math.sqrt(365 * 6)
    assert annual < alt_annual < 3.0


def test_busy_regimes_trade_more_with_wider_spreads(long_market: SyntheticMarket) -> None:
    market = SyntheticMarket("BTC/USDT", seed=11, start="2023-01-01", end="2023-03-01",
                             trades_per_minute=3.0)
    quotes = market.quotes()
    quotes["regime"] = pd.merge_asof(quotes[["ts"]], market.regimes(), on="ts")["regime"]
    quotes["spread"] = (quotes["ask"] - quotes["bid"]) / quotes["bid"]
    by_regime = quotes.groupby("regime")["spread"].mean()
    assert by_regime[VOLATILE] > 1.5 * by_regime[MEAN_REVERTING]
    regimes = market.regimes()
    ends = np.append(regimes["ts"].to_numpy()[1:], market.end)
    minutes = pd.Series((ends - regimes["ts"].to_numpy()) / NS_PER_MINUTE).groupby(
        regimes["regime"].to_numpy()).sum()
    rate = quotes.groupby("regime").size() / minutes
    assert rate[VOLATILE] > 1.5 * rate[MEAN_REVERTING]


def _profile(symbol: str, seed: int = 42, **kwargs: float) -> SymbolProfile:
    return SyntheticMarket(symbol, seed=seed, start="2024-01-01", end="2024-01-01T00:10",
                           **kwargs).profile


def test_symbols_get_their_own_price_levels() -> None:
    btc = [_profile("BTC/USDT", seed) for seed in range(20)]
    assert all(20_000 <= p.initial_price <= 60_000 for p in btc)
    assert len({p.initial_price for p in btc}) > 10
    assert all(0.7 < p.vol_multiplier < 1.0 for p in btc)
    assert 1_000 <= _profile("ETH/USDT").initial_price <= 4_000
    assert _profile("BTCUSDT").base == "BTC" and _profile("btc-usd").base == "BTC"
    others = [_profile(f"COIN{i}/USDT").initial_price for i in range(40)]
    assert min(others) >= 0.001 and max(others) <= 1_000
    assert max(others) / min(others) > 1_000
    fixed = _profile("BTC/USDT", initial_price=100.0)
    assert fixed.initial_price == 100.0 and fixed.tick == 1e-4 and fixed.lot == 1e-3
    market = SyntheticMarket("BTC/USDT", end="2024-01-01T00:10", initial_price=100.0)
    assert abs(market.trades()["price"].iloc[0] / 100.0 - 1) < 0.01


def test_prices_stay_positive_through_repeated_crashes() -> None:
    crash_only = RegimeParams(mean_duration_minutes=60, drift_per_year=-300.0, volatility=2.5,
                              jumps_per_day=48, jump_mean=-0.05, jump_scale=0.05,
                              activity=2.0)
    config = SyntheticConfig(trend_up=crash_only, trend_down=crash_only,
                             mean_reverting=crash_only, volatile=crash_only, crash=crash_only)
    market = SyntheticMarket("DOGE/USDT", seed=1, end="2024-01-05", trades_per_minute=2.0,
                             config=config)
    trades = market.trades()
    assert (trades["price"] > 0).all()
    quotes = market.quotes()
    assert (quotes["bid"] > 0).all() and (quotes["bid"] < quotes["ask"]).all()


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "word"), [
    (dict(end="2024-01-01"), "end"),
    (dict(end="2023-12-31"), "end"),
    (dict(trades_per_minute=0), "trades_per_minute"),
    (dict(trades_per_minute=-3.0), "trades_per_minute"),
    (dict(initial_price=0.0), "initial_price"),
    (dict(initial_price=-1.0), "initial_price"),
    (dict(seed=-1), "seed"),
    (dict(symbol=""), "symbol"),
    (dict(start="not a date"), "not a date"),
])
def test_bad_market_arguments_raise_config_error(kwargs: dict, word: str) -> None:
    args = {"symbol": "BTC/USDT", "start": "2024-01-01", **kwargs}
    with pytest.raises(ConfigError, match=word):
        SyntheticMarket(args.pop("symbol"), **args)


def test_bad_bar_requests_raise_config_error(market: SyntheticMarket) -> None:
    with pytest.raises(ConfigError, match="timeframe"):
        market.bars("7x")
    with pytest.raises(ConfigError, match="timeframe"):
        synthetic_bars("BTC/USDT", n_bars=5, timeframe="0m")
    with pytest.raises(ConfigError, match="n_bars"):
        synthetic_bars("BTC/USDT", n_bars=0)
    with pytest.raises(ConfigError, match="n_bars"):
        synthetic_bars("BTC/USDT", end="2024-02-01", n_bars=10)
    with pytest.raises(ConfigError, match="n_trades"):
        synthetic_trades("BTC/USDT", n_trades=-5)


@pytest.mark.parametrize(("changes", "word"), [
    (dict(trades_per_minute=0.0), "trades_per_minute"),
    (dict(spread_bps=-1.0), "spread_bps"),
    (dict(crash=RegimeParams(mean_duration_minutes=45, drift_per_year=-1, volatility=-2)),
     "crash.volatility"),
    (dict(volatile=RegimeParams(mean_duration_minutes=0.5, drift_per_year=0, volatility=1)),
     "volatile.mean_duration_minutes"),
    (dict(trend_up=RegimeParams(mean_duration_minutes=60, drift_per_year=0, volatility=1,
                                buy_probability=1.0)), "trend_up.buy_probability"),
    (dict(transitions=((1.0,) * 5,) * 5), "transitions"),
    (dict(hourly_activity=(1.0,) * 23), "hourly_activity"),
    (dict(price_significant_digits=0), "price_significant_digits"),
])
def test_bad_config_names_the_field(changes: dict, word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        SyntheticConfig(**changes)


def test_config_from_dict_rejects_unknown_keys() -> None:
    config = SyntheticConfig.from_dict({"trades_per_minute": 5, "crash": {"volatility": 3.0}})
    assert config.trades_per_minute == 5 and config.crash.volatility == 3.0
    assert config.crash.mean_duration_minutes == SyntheticConfig().crash.mean_duration_minutes
    assert hash(config) != hash(SyntheticConfig())
    with pytest.raises(ConfigError, match=r"market\.yaml.*trade_rate"):
        SyntheticConfig.from_dict({"trade_rate": 5}, source="market.yaml")
    with pytest.raises(ConfigError, match=r"crash\.vol"):
        SyntheticConfig.from_dict({"crash": {"vol": 3.0}})


def test_stationary_mix_matches_the_long_run(long_market: SyntheticMarket) -> None:
    regimes = long_market.regimes()
    ends = np.append(regimes["ts"].to_numpy()[1:], long_market.end)
    share = pd.Series(ends - regimes["ts"].to_numpy()).groupby(
        regimes["regime"].to_numpy()).sum() / (long_market.end - long_market.start)
    expected = long_market.config.stationary_distribution()
    assert abs(sum(expected) - 1) < 1e-12
    for code in (0, 1, 2):
        assert abs(share[code] - expected[code]) < 0.15


if __name__ == "__main__":
    for row in _golden_frame().itertuples(index=False):
        print(f"    {tuple(row)!r},")
