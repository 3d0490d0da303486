"""Research jobs on the real Binance BTC/USDT hourly candles: a sweep row is exactly the
backtest of the CSV file with those parameters, and a walk-forward runs its windows over it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import engine
from engine.cli import main

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
BTC_1H = REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"
DATES = ["--start", "2020-01-01", "--end", "2021-01-01", "--fee-bps", "10", "--quiet"]

pytestmark = pytest.mark.real_data


@pytest.fixture(autouse=True)
def need_real_data() -> None:
    if not BTC_1H.exists():
        pytest.skip(f"real data not found at {BTC_1H} (../shared/data/real is absent)")


def test_a_sweep_row_is_the_backtest_of_the_file(tmp_path: Path) -> None:
    assert main(["sweep", "--data", str(BTC_1H), "--strategy", "sma_cross",
                 "--range", "sma_cross.fast=10:30:10", "--range", "sma_cross.slow=50:150:50",
                 *DATES, "--output", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "results.csv")
    assert len(table) == 9 and table["error"].isna().all()
    best = table.iloc[0]
    alone = engine.backtest("sma_cross", {"fast": int(best["sma_cross.fast"]),
                                          "slow": int(best["sma_cross.slow"])},
                            data=str(BTC_1H), start="2020-01-01", end="2021-01-01", fee_bps=10)
    for name in ("sharpe", "total_return", "max_drawdown", "n_trades", "total_fees"):
        assert best[name] == alone.metrics[name], name
    content = json.loads((tmp_path / "result.json").read_text())
    assert content["best"][0]["symbol"] == "BTC/USDT"
    assert content["inputs"]["data"] == str(BTC_1H)


def test_a_walk_forward_over_the_file(tmp_path: Path) -> None:
    assert main(["walkforward", "--data", str(BTC_1H), "--strategy", "sma_cross",
                 "--range", "sma_cross.fast=10:30:10", "--range", "sma_cross.slow=50:150:50",
                 "--train", "90d", "--test", "30d", *DATES, "--output", str(tmp_path)]) == 0
    content = json.loads((tmp_path / "result.json").read_text())
    windows = content["windows"]
    assert len(windows) == content["summary"]["windows"] == 9   # (366 - 90) // 30
    assert windows[0]["train_start"] == "2020-01-01T00:00:00Z"
    assert windows[0]["test_start"] == "2020-03-31T00:00:00Z"
    assert all(w["out_of_sample"]["events"] == 30 * 24 for w in windows[1:3])
    assert len(content["oos_equity"]["ts"]) > 9 * 30 * 20
