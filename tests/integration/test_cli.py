"""The `raytrader` command line, run in-process through `engine.cli.main` and once as a real
subprocess, with its outputs and its errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
BTC_1H = REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"
SHORT = ["--start", "2024-01-01", "--end", "2024-02-01"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_backtest_defaults_write_result_files(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", str(tmp_path))
    assert code == 0, err
    assert "Sharpe" in out and "Max drawdown" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["config"]["strategy"] == "sma_cross"
    assert result["data"]["feeds"][0]["symbol"] == "BTC/USDT"
    assert result["data"]["feeds"][0]["timeframe"] == "1h"
    assert len(result["config_hash"]) == 64
    assert result["metrics"]["events"] == 31 * 24
    trades = pd.read_csv(tmp_path / "trades.csv")
    assert len(trades) == result["metrics"]["n_trades"]
    assert list(trades.columns)[:4] == ["symbol", "strategy_id", "direction", "entry_ts"]


def test_backtest_flags_reach_the_config(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--strategy", "momentum", "--param", "lookback=12",
                           "--param", "allow_short=true", "--symbols", "AAA/USDT,BBB/USDT",
                           "--timeframe", "4h", "--capital", "5000", "--fee-bps", "7",
                           "--slippage-bps", "3", "--seed", "9", *SHORT, "--output",
                           str(tmp_path), "--quiet")
    assert code == 0, err
    result = json.loads((tmp_path / "result.json").read_text())
    cfg = result["config"]
    # parameters are recorded typed and complete, defaults included
    assert cfg["params"] == {"lookback": 12, "threshold": 0.01, "allocation": 0.95,
                             "allow_short": True}
    assert cfg["symbols"] == ["AAA/USDT", "BBB/USDT"]
    assert (cfg["capital"], cfg["maker_fee_bps"], cfg["taker_fee_bps"],
            cfg["slippage_bps"], cfg["seed"]) == (5000.0, 7.0, 7.0, 3.0, 9)
    assert [f["symbol"] for f in result["data"]["feeds"]] == ["AAA/USDT", "BBB/USDT"]
    assert {a["strategy_id"] for a in result["attribution"]} == {"momentum:AAA/USDT",
                                                                  "momentum:BBB/USDT"}
    # 31 days of 4h bars for each of the two symbols
    assert result["metrics"]["events"] == 2 * 31 * 6


def test_unknown_parameter_names_it_and_the_valid_ones(capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--param", "fastt=3", *SHORT)
    assert code == 2
    assert "fastt" in err and "fast" in err and "slow" in err and "allocation" in err


def test_parameter_out_of_range_names_the_range(capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--param", "fast=1", *SHORT)
    assert code == 2
    assert "'fast'" in err and "[2, 500]" in err


def test_unknown_config_key_in_a_file_names_key_and_file(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"strategy": "sma_cross", "capitl": 10}))
    code, _, err = run_cli(capsys, "backtest", "--config", str(cfg))
    assert code == 2
    assert "capitl" in err and str(cfg) in err and "capital" in err


def test_empty_date_range_is_an_error(capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--start", "2024-02-01", "--end", "2024-01-01")
    assert code == 2
    assert "empty date range" in err


def test_missing_data_file_is_an_error(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--data", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "nope.csv" in err


def test_symbol_missing_from_catalog_is_an_error(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--data", f"catalog:{tmp_path}",
                           "--symbols", "DOGE/USDT")
    assert code == 2
    assert "DOGE/USDT" in err


def test_malformed_csv_row_names_file_and_line_or_is_skipped(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "bars.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(60):
        price = 100 + i
        rows.append(f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{price},{price + 1},{price - 1},"
                    f"{price + 0.5},10")
    rows[31] = "2024-01-01 00:30:00,101,oops,99,100,10"   # line 32 of the file
    csv.write_text("\n".join(rows) + "\n")
    code, _, err = run_cli(capsys, "backtest", "--data", str(csv), "--quiet")
    assert code == 2
    assert "bars.csv" in err and "32" in err
    code, _, err = run_cli(capsys, "backtest", "--data", str(csv), "--skip-bad",
                           "--symbols", "TEST/USD", "--param", "fast=2", "--param", "slow=5",
                           "--quiet",
                           "--output", str(tmp_path / "out"))
    assert code == 0, err
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["metrics"]["events"] == 59


def test_strategy_fault_is_reported_and_exit_code_is_1(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--strategy",
                           "tests.kit.strategies:RaiseOnBar", "--param", "fail_at=30",
                           *SHORT, "--output", str(tmp_path), "--quiet")
    assert code == 1
    assert "deliberate failure on bar 30" in err
    result = json.loads((tmp_path / "result.json").read_text())
    (fault,) = result["faults"]
    assert fault["hook"] == "on_bar"
    assert "explode_deliberately" in fault["traceback"]
    assert result["metrics"]["events"] == 31 * 24  # the run went on to the end


@pytest.mark.real_data
def test_backtest_over_real_binance_csv(tmp_path: Path, capsys) -> None:
    if not BTC_1H.exists():
        pytest.skip(f"real data not found at {BTC_1H} (../shared/data/real is absent)")
    code, _, err = run_cli(capsys, "backtest", "--data", str(BTC_1H), "--start", "2020-01-01",
                           "--end", "2021-01-01", "--output", str(tmp_path))
    assert code == 0, err
    result = json.loads((tmp_path / "result.json").read_text())
    feed = result["data"]["feeds"][0]
    assert feed["symbol"] == "BTC/USDT" and feed["timeframe"] == "1h"
    assert feed["first"] == "2020-01-01T00:00:00Z"
    report = result["data"]["import_reports"]["BTC/USDT"]
    assert report  # duplicates and gaps are reported
    assert result["metrics"]["n_trades"] > 10


def test_console_script_runs_as_a_subprocess(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "raytrader"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli"]
    proc = subprocess.run([*cmd, "backtest", *SHORT, "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Total return" in proc.stdout
    assert (tmp_path / "result.json").exists()


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_multi_coin_tick_file_needs_a_symbol(tmp_path: Path, capsys) -> None:
    ticks = FIXTURES / "hft_ticks.csv"
    code, _, err = run_cli(capsys, "backtest", "--data", str(ticks), "--quiet")
    assert code == 2
    assert "BTC" in err and "ETH" in err and "--symbols" in err
    code, _, err = run_cli(capsys, "backtest", "--data", str(ticks), "--symbols", "ETH",
                           "--timeframe", "1s", "--quiet", "--output", str(tmp_path))
    assert code == 0, err
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["data"]["feeds"][0]["symbol"] == "ETH"
    assert result["data"]["feeds"][0]["kind"] == "bar"   # ticks aggregated to 1s bars


def test_catalog_backtest_uses_the_catalog_the_data_commands_use(tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    monkeypatch.setenv("RAYTRADER_CATALOG", str(tmp_path / "cat"))
    code, _, err = run_cli(capsys, "data", "import", str(FIXTURES / "ohlcv_generic.csv"),
                           "--symbol", "TEST/USD")
    assert code == 0, err
    code, _, err = run_cli(capsys, "backtest", "--data", "catalog", "--symbols", "TEST/USD",
                           "--param", "fast=2", "--param", "slow=3", "--quiet",
                           "--output", str(tmp_path / "out"))
    assert code == 0, err
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["data"]["source"] == f"catalog:{tmp_path / 'cat'}"
    assert result["data"]["feeds"][0]["symbol"] == "TEST/USD"


GRAPH_ARGS = ["--data", "synthetic:trades", "--symbols", "BTC/USDT,ETH/USDT", "--start",
              "2024-01-01", "--end", "2024-01-01T12:00", "--strategy", "sma_cross", "--strategy",
              "momentum", "--param", "sma_cross.fast=20", "--param", "sma_cross.slow=100",
              "--max-open-positions", "2", "--quiet"]


@pytest.mark.slow
def test_workers_flag_runs_the_actor_graph_with_the_same_result(tmp_path: Path,
                                                                capsys) -> None:
    # in this process (test_console_script_runs_as_a_subprocess runs the real command): with
    # --workers 2 the command line starts a local Ray here and stops it when the run ends
    outputs = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}"
        code, _, err = run_cli(capsys, "backtest", *GRAPH_ARGS, "--workers", workers,
                               "--output", str(out))
        assert code == 0, err
        result = json.loads((out / "result.json").read_text())
        result.pop("timing")
        outputs[workers] = (result, (out / "trades.csv").read_text())
    assert outputs["0"] == outputs["2"]
    assert outputs["0"][0]["config"]["max_open_positions"] == 2
    assert [e["strategy"] for e in outputs["0"][0]["config"]["strategies"]] == ["sma_cross",
                                                                             "momentum"]


def test_scoped_params_need_a_known_strategy(capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--strategy", "sma_cross", "--strategy",
                           "momentum", "--param", "fast=5")
    assert code == 2 and "name the strategy" in err and "sma_cross, momentum" in err


def test_address_without_workers_is_refused(capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--address", "auto")
    assert code == 2 and "--workers" in err
