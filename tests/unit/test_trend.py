"""Trend analysis: the documented regime rules on constructed markets, no look-ahead, the
percentile rank, suggestions from a sweep, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.research.trend import percentile_rank, regime_table, suggest
from tests.kit.research import sweep_folder

DAY = 86_400_000_000_000
START = 1_704_067_200_000_000_000      # 2024-01-01


def bars(close: np.ndarray) -> pd.DataFrame:
    opens = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame({"ts": START + DAY * np.arange(len(close)), "open": opens,
                         "high": np.maximum(opens, close) * 1.005,
                         "low": np.minimum(opens, close) * 0.995, "close": close,
                         "volume": np.ones(len(close))})


RNG = np.random.default_rng(1)
T = np.arange(400)
RISING = 100 * np.exp(0.01 * T + 0.01 * RNG.standard_normal(400))
# no drift; noise that calms down over the last 100 days
CALMING = 100 * np.exp(0.01 * np.sin(T * 2 * np.pi / 7)
                       + np.where(T < 300, 0.02, 0.003) * RNG.standard_normal(400))
# the calm market, then 30 days of large swings around the same level
SWINGING = CALMING.copy()
SWINGING[370:] = 100 * np.exp(0.08 * np.sin(np.arange(30) * np.pi + 0.5))


@pytest.mark.parametrize("close, regime", [
    (RISING, "uptrend"), (RISING[::-1].copy(), "downtrend"), (CALMING, "sideways"),
    (SWINGING, "volatile")])
def test_the_rules_label_constructed_markets(close: np.ndarray, regime: str) -> None:
    table = regime_table(bars(close))
    assert table["regime"].iloc[-1] == regime
    last = table.iloc[-1]
    if regime in ("uptrend", "downtrend"):
        assert last["adx"] >= 25
    else:
        assert last["adx"] < 25
        assert (last["volatility_percentile"] >= 80) == (regime == "volatile")
    # warming up: no label until ADX, the SMA and the volatility rank are ready
    assert (table["regime"].iloc[:49] == "unknown").all()


def test_labels_use_no_later_bar() -> None:
    full = regime_table(bars(SWINGING))
    changed = SWINGING.copy()
    changed[300:] = changed[300:] * np.linspace(1, 3, 100)
    other = regime_table(bars(changed))
    pd.testing.assert_frame_equal(full.iloc[:300], other.iloc[:300])
    assert not full["regime"].iloc[300:].equals(other["regime"].iloc[300:])


def test_percentile_rank_counts_ties_half() -> None:
    values = np.array([np.nan, 1.0, 2.0, 2.0, 3.0, 0.5])
    ranks = percentile_rank(values, lookback=4, minimum=2)
    assert np.isnan(ranks[0]) and np.isnan(ranks[1])
    assert ranks[2] == pytest.approx(100 * (1 + 0.5) / 2)          # [1, 2]
    assert ranks[3] == pytest.approx(100 * (1 + 2 / 2) / 3)         # [1, 2, 2]
    assert ranks[5] == pytest.approx(100 * 0.5 / 4)                 # [2, 2, 3, 0.5]


def test_suggestions_come_from_sweep_runs_in_the_current_regime(tmp_path: Path) -> None:
    sweep = sweep_folder(tmp_path / "sweep")
    # the sweep's runs span 2024-04-01 .. 2024-06-01: that span is an uptrend for BTC/USDT
    # and a downtrend for ETH/USDT; both end in an uptrend
    btc = regime_table(bars(RISING))
    eth = regime_table(bars(100 * np.exp(np.where(T < 200, -0.01 * T, 0.01 * T - 4))))
    out = {s["symbol"]: s for s in suggest({"BTC/USDT": btc, "ETH/USDT": eth}, [sweep])}
    btc_best = out["BTC/USDT"]["strategies"]
    assert out["BTC/USDT"]["regime"] == "uptrend"
    # only the BTC runs spent their span in an uptrend: the best of them by sharpe first
    assert [b["symbol"] for b in btc_best] == ["BTC/USDT"] * 5
    assert btc_best[0]["params"] == {"fast": 20, "slow": 40}
    assert btc_best[0]["value"] == pytest.approx(20 / 10 - 40 / 100 + 0.5)
    assert [b["value"] for b in btc_best] == sorted((b["value"] for b in btc_best),
                                                    reverse=True)
    assert "best of 6 sweep runs" in out["BTC/USDT"]["note"]
    none = suggest({"BTC/USDT": btc}, [])
    assert none[0]["strategies"] == [] and "no strategy is known" in none[0]["note"]


def test_the_command_writes_regimes_and_refuses_a_bad_sweep(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "trend"
    assert main(["trend", "--symbols", "BTC/USDT,ETH/USDT", "--output", str(out)]) == 0
    content = json.loads((out / "result.json").read_text())
    printed = capsys.readouterr().out
    for s in content["symbols"]:
        assert s["current_regime"] in printed and s["series"]["regime"][-1] == \
            s["current_regime"]
    table = pd.read_csv(out / "results.csv")
    assert set(table["symbol"]) == {"BTC/USDT", "ETH/USDT"}
    assert main(["trend", "--sweep", str(tmp_path / "nowhere"), "--output",
                 str(tmp_path / "t2")]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert main(["trend", "--sweep", str(out), "--output", str(tmp_path / "t3")]) == 2
    assert "field 'kind' is 'trend', expected 'sweep'" in capsys.readouterr().err
    assert main(["trend", "--timeframe", "1x", "--output", str(tmp_path / "t4")]) == 2
    assert "--timeframe: invalid timeframe '1x'" in capsys.readouterr().err
    assert not any((tmp_path / t).exists() for t in ("t2", "t3", "t4"))


def test_a_sweep_table_without_its_rank_column_is_named(tmp_path: Path) -> None:
    from engine.research.trend import sweep_runs

    sweep = sweep_folder(tmp_path / "sweep")
    table = pd.read_csv(sweep / "results.csv").drop(columns=["sharpe"])
    table.to_csv(sweep / "results.csv", index=False)
    with pytest.raises(ConfigError, match=r"results\.csv: column 'sharpe' is missing"):
        sweep_runs(sweep)
