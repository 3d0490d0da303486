"""Stylized facts on inputs whose answer is known, the params file (round trip, errors naming
file and field), ``--synthetic-params`` on backtests, ``data facts`` and ``synthetic fit``
(on the real one-minute files when they are present)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import engine
from engine.cli import main
from engine.errors import ConfigError
from engine.synthetic import SyntheticConfig, SyntheticMarket
from engine.synthetic.facts import measure_facts, measure_quotes
from engine.synthetic.fit import fit_config, long_run_volatility
from engine.timeframes import NS_PER_HOUR, NS_PER_MINUTE

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
ONE_MINUTE_FILES = {
    "ftx": REAL / "ftx_perp_1m" / "btc-perp-20211231-20220201_1m.csv",
    "binance": REAL / "binance_spot_1m" / "BTCUSDT_1m.csv",
}


def bars_from_returns(r: np.ndarray, step: int = NS_PER_HOUR,
                      volume: np.ndarray | None = None) -> pd.DataFrame:
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    n = len(close)
    return pd.DataFrame({"ts": 1_704_067_200_000_000_000 + step * np.arange(n, dtype=np.int64),
                         "open": close, "high": close, "low": close, "close": close,
                         "volume": np.ones(n) if volume is None else volume})


# -- facts -------------------------------------------------------------------------------------

def test_facts_of_gaussian_returns() -> None:
    rng = np.random.default_rng(1)
    sd = 0.01
    facts = measure_facts(bars_from_returns(rng.normal(0.0, sd, 24 * 400)))
    assert facts["resolution"] == "1h"
    assert facts["annual_volatility"] == pytest.approx(sd * math.sqrt(365 * 24), rel=0.03)
    hourly = facts["returns"]["1h"]
    assert abs(hourly["excess_kurtosis"]) < 0.3 and abs(hourly["skew"]) < 0.1
    assert facts["returns"]["1d"]["returns"] == 400     # 9,601 closes over 401 UTC days
    assert max(abs(a) for a in facts["acf_returns"]) < 0.05
    assert max(abs(a) for a in facts["acf_abs_returns"]) < 0.05
    assert facts["variance_ratio_24"] == pytest.approx(1.0, abs=0.15)
    assert "1m" not in facts["returns"]


def test_clustered_and_fat_tailed_returns_are_told_apart() -> None:
    rng = np.random.default_rng(2)
    n = 24 * 400
    # volatility switching between calm and wild weeks: clustering and fat tails
    regime = np.repeat(rng.random(n // 168 + 1) < 0.3, 168)[:n]
    r = rng.normal(0.0, np.where(regime, 0.03, 0.008))
    facts = measure_facts(bars_from_returns(r))
    assert facts["returns"]["1h"]["excess_kurtosis"] > 2.0
    assert facts["acf_abs_returns"][0] > 0.1 and facts["acf_abs_returns"][23] > 0.1
    assert facts["abs_acf_half_life"] is None or facts["abs_acf_half_life"] > 12


def test_a_gap_never_makes_a_return() -> None:
    r = np.full(200, 0.001)
    bars = bars_from_returns(r)
    bars = bars.drop(index=[50]).reset_index(drop=True)   # one missing hour
    bars.loc[50:, "close"] *= 2.0                           # a jump hidden in the gap
    facts = measure_facts(bars)
    assert facts["returns"]["1h"]["returns"] == 198
    assert facts["annual_volatility"] == pytest.approx(0.0, abs=1e-9)


def test_drawdowns_seasonality_and_volume_volatility() -> None:
    # a hand-made path: up 10 %, down to -20 % from the peak, recover, a new high
    closes = [*range(60, 100), 100, 105, 110, 99, 88, 99, 111, 112]
    bars = bars_from_returns(np.diff(np.log(closes)))
    bars["close"] = np.array(closes, dtype=float)
    dd = measure_facts(bars)["drawdowns"]
    assert dd["max"] == pytest.approx(0.2)
    assert dd["q50"] == pytest.approx(0.2)     # the only episode: 110 -> 88
    rng = np.random.default_rng(3)
    n = 24 * 120
    hour = np.arange(1, n + 1) % 24
    busy = np.where(hour == 15, 3.0, 1.0)   # 15:00 UTC three times as active
    r = rng.normal(0.0, 0.01, n) * np.sqrt(busy)
    facts = measure_facts(bars_from_returns(r, volume=np.concatenate([[1.0], busy])))
    season = facts["seasonality"]
    assert season["volume_by_hour"]["15"] == pytest.approx(3.0 * 24 / 26, abs=1e-4)
    assert season["abs_return_hour_peak_to_trough"] > 1.4
    assert facts["volume_volatility_correlation"] > 0.1


def test_trades_and_quotes_facts() -> None:
    market = SyntheticMarket("BTC/USDT", seed=4, start="2024-01-01", end="2024-01-05")
    trades = market.trades()
    facts = measure_facts(trades, quotes=market.quotes(), source="four days")
    assert facts["kind"] == "trades" and facts["resolution"] == "1m"
    sizes = facts["trade_size"]
    assert sizes["trades"] == len(trades)
    assert 0.2 < sizes["buy_share"] < 0.8
    assert sizes["notional_q10"] < sizes["notional_q50"] < sizes["notional_q90"]
    assert 0.0 < facts["spread_bps"]["q50"] < 20.0
    quotes_only = measure_quotes(market.quotes())
    assert quotes_only["spread_bps"] == facts["spread_bps"]
    # A few minutes of ticks: too short for returns, enough for the trade sizes.
    minutes = measure_facts(trades.head(200))
    assert "returns" not in minutes and minutes["trade_size"]["trades"] == 200


# -- params files ------------------------------------------------------------------------------

def test_params_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    config = SyntheticConfig().replace(vol_of_vol_slow=0.3, description="a calmer market")
    config.to_file(path)
    assert SyntheticConfig.from_file(path) == config
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"trend_up": {"volatility": 0.5}, "weekend_activity": 0.7}))
    loaded = SyntheticConfig.from_file(partial)
    assert loaded.trend_up.volatility == 0.5 and loaded.weekend_activity == 0.7
    assert loaded.trend_down == SyntheticConfig().trend_down


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{ not json", ":1: invalid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"volatility": 1}', "unknown synthetic market key 'volatility'"),
    ('{"trend_up": {"vol": 1}}', "unknown key trend_up.vol"),
    ('{"trend_up": {"volatility": -1}}', "trend_up.volatility must be > 0"),
    ('{"trend_up": 3}', "trend_up must be a mapping"),
    ('{"crash": {"mean_duration_minutes": "long"}}', "crash.mean_duration_minutes"),
    ('{"transitions": [[0, 1], [1, 0]]}', "transitions must be a 5x5 table"),
    ('{"hourly_activity": "flat"}', "hourly_activity must be a list of numbers"),
    ('{"vol_of_vol_slow": 9}', "vol_of_vol_slow must be <= 3"),
    ('{"seasonal_volatility": 2}', "seasonal_volatility must lie in [0, 1]"),
    ('{"jump_asymmetry": 1}', "jump_asymmetry must lie in [0, 1)"),
    ('{"overshoot": -0.1}', "overshoot must be >= 0"),
    ('{"vol_half_life_medium_hours": 0}', "vol_half_life_medium_hours must be > 0"),
    ('{"description": 5}', "description must be a string"),
])
def test_bad_params_files_name_the_file_and_field(tmp_path: Path, content: str | None,
                                                  message: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        SyntheticConfig.from_file(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_stochastic_volatility_is_deterministic_and_matters() -> None:
    config = SyntheticConfig.from_dict({"vol_of_vol_fast": 0.8, "vol_half_life_fast_hours": 2})
    first = SyntheticMarket("ETH/USDT", seed=9, end="2024-01-03", config=config).trades()
    again = SyntheticMarket("ETH/USDT", seed=9, end="2024-01-03", config=config).trades()
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    calm = SyntheticMarket("ETH/USDT", seed=9, end="2024-01-03",
                           config=config.replace(vol_of_vol_fast=0.0)).trades()
    assert not first["price"].equals(calm["price"])


def test_overshoot_makes_hourly_returns_revert() -> None:
    # The same draws with and without the overshoot: only the reversal differs.
    def lag_one(overshoot: float) -> float:
        config = SyntheticConfig().replace(overshoot=overshoot)
        market = SyntheticMarket("BTC/USDT", seed=5, end="2024-04-01", trades_per_minute=3,
                                 config=config)
        return float(measure_facts(market.bars("1h"))["acf_returns"][0])

    assert lag_one(0.4) < lag_one(0.0) - 0.05


def test_jump_asymmetry_skews_jumps_down_and_keeps_their_mean() -> None:
    from engine.synthetic.config import clipped_t3_mean_abs, clipped_t3_second_moment
    from engine.synthetic.kernels import jump_sizes

    z = np.random.default_rng(0).standard_normal((400_000, 4))
    regime = np.zeros(len(z), dtype=np.int8)
    scale, clip, mean_abs = np.array([0.01]), 8.0, clipped_t3_mean_abs(8.0)
    even = jump_sizes(z, regime, np.zeros(1), scale, clip, 0.0, mean_abs) / 0.01
    skewed = jump_sizes(z, regime, np.zeros(1), scale, clip, 0.5, mean_abs) / 0.01
    assert np.mean(np.abs(even)) == pytest.approx(mean_abs, rel=0.01)
    assert np.mean(even ** 2) == pytest.approx(clipped_t3_second_moment(clip), rel=0.03)
    assert abs(np.mean(skewed)) < 0.01
    assert np.mean(skewed ** 3) < -1.0 and abs(np.mean(even ** 3)) < 0.5


def test_backtests_take_synthetic_params(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    path = tmp_path / "calm.json"
    overrides = {"vol_of_vol_slow": 0.1, "description": "a calm test market"}
    path.write_text(json.dumps(overrides))
    run = dict(data="synthetic", start="2024-01-01", end="2024-02-01", seed=3)
    default = engine.backtest("sma_cross", {"fast": 10, "slow": 30}, **run)
    from_file = engine.backtest("sma_cross", {"fast": 10, "slow": 30}, **run,
                                synthetic_params=str(path))
    from_mapping = engine.backtest("sma_cross", {"fast": 10, "slow": 30}, **run,
                                   synthetic_params=overrides)
    assert from_file.metrics["final_equity"] == from_mapping.metrics["final_equity"]
    assert from_file.metrics["final_equity"] != default.metrics["final_equity"]
    assert "synthetic_params" not in default.config.to_dict()   # earlier hashes unchanged
    assert from_file.config_hash != default.config_hash

    code = main(["backtest", "--synthetic-params", str(path), "--start", "2024-01-01",
                 "--end", "2024-01-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"market: synthetic, a calm test market (params {path}, seed 42)" in out
    code = main(["backtest", "--synthetic-params", str(tmp_path / "none.json"), "--quiet"])
    assert code == 2
    assert f"synthetic params file {tmp_path / 'none.json'} does not exist" in \
        capsys.readouterr().err


def test_default_backtest_says_what_market_it_simulated(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    assert main(["backtest", "--start", "2024-01-01", "--end", "2024-01-08"]) == 0
    out = capsys.readouterr().out
    assert ("market: synthetic, fitted to Binance BTC/USDT and ETH/USDT 1h 2017-2021 "
            "(built-in defaults, seed 42)") in out
    # and how the market itself moved: its first and last price, as the result records them
    from engine.run import backtest

    feed = backtest(start="2024-01-01", end="2024-01-08").data["feeds"][0]
    move = feed["last_price"] / feed["first_price"] - 1
    assert f"buy and hold over the run: BTC/USDT {move:+.1%}".replace("%", " %") in out


# -- the commands ------------------------------------------------------------------------------

def test_data_facts_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "facts.json"
    code = main(["data", "facts", "synthetic", "synthetic", "--days", "20", "--seed", "5",
                 "--output", str(out_file)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "1h excess kurtosis" in printed and "acf |r| lag 1 (1h)" in printed
    written = json.loads(out_file.read_text())
    (first, second) = written.values()
    assert first == second                      # same seed, same market
    assert first["resolution"] == "1m" and first["days"] == 20
    code = main(["data", "facts", "catalog:" + str(tmp_path / "empty")])
    assert code == 2
    assert "needs --symbol" in capsys.readouterr().err


def test_fit_recovers_a_synthetic_markets_volatility_and_tails() -> None:
    # Fit to a market whose parameters are known: the fit must land near them.
    truth = SyntheticConfig().replace(vol_of_vol_fast=0.2)
    market = SyntheticMarket("BTC/USDT", seed=77, start="2024-01-01", end="2024-02-15",
                             trades_per_minute=10, config=truth)
    facts = measure_facts(market.bars("1m"), source="truth")
    result = fit_config(facts, symbol="BTC/USDT", seeds=(1, 2, 3, 4, 5, 6))
    achieved, targets = result.report["achieved"], result.report["targets"]
    assert achieved["annual_volatility"] == pytest.approx(targets["annual_volatility"], rel=0.15)
    k_ratio = achieved["1m_excess_kurtosis"] / targets["1m_excess_kurtosis"]
    assert 0.5 < k_ratio < 2.0
    assert abs(result.config.long_run_log_drift()) < 1e-9
    assert long_run_volatility(result.config) > 0


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["ftx", "binance"])
def test_fit_reproduces_the_one_minute_files(name: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = ONE_MINUTE_FILES[name]
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/data/real is absent)")
    out = tmp_path / "params.json"
    assert main(["synthetic", "fit", "--data", str(path), "--output", str(out)]) == 0
    assert "annual_volatility" in capsys.readouterr().out
    written = json.loads(out.read_text())
    config = SyntheticConfig.from_file(out)
    assert SyntheticConfig.from_dict(config.to_dict()) == config          # round trip
    real = written["facts"]
    # Markets of the data's span from seeds the fit never saw.
    sims = []
    for seed in range(1, 9):
        market = SyntheticMarket("BTC/USDT", seed=seed, start="2024-01-01",
                                 end=pd.Timestamp("2024-01-01").value
                                 + int(real["days"] * 1440) * NS_PER_MINUTE,
                                 trades_per_minute=10, config=config)
        sims.append(measure_facts(market.bars("1m")))
    vol = float(np.median([s["annual_volatility"] for s in sims]))
    kurt = float(np.median([s["returns"]["1m"]["excess_kurtosis"] for s in sims]))
    assert vol == pytest.approx(real["annual_volatility"], rel=0.2)
    assert 0.5 < kurt / real["returns"]["1m"]["excess_kurtosis"] < 2.0


def test_data_identity_follows_the_params(tmp_path: Path) -> None:
    # A process that keeps loaded data between runs reuses it only on an equal key.
    from engine.config import BacktestConfig
    from engine.datasource import data_identity

    path = tmp_path / "params.json"
    path.write_text('{"vol_of_vol_slow": 0.1}')
    config = BacktestConfig(synthetic_params=str(path))
    before = data_identity(config)
    assert before != data_identity(BacktestConfig())
    path.write_text('{"vol_of_vol_slow": 0.25}')
    assert data_identity(config) != before
    as_mapping = BacktestConfig(synthetic_params={"vol_of_vol_slow": 0.1})
    assert data_identity(as_mapping) != data_identity(as_mapping.replace(
        synthetic_params={"vol_of_vol_slow": 0.2}))
    with pytest.raises(ConfigError, match="synthetic_params must be a params file path"):
        BacktestConfig(synthetic_params=3)  # type: ignore[arg-type]
