"""What a new user hits on the command line: each bad input is one clear line on stderr naming
the file, field or flag at fault, exit code 2, and nothing half-written; and the help, version,
listing and summary they read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main, runners

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SHORT = ["--start", "2024-01-01", "--end", "2024-01-08"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *names: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)


def bars_csv(path: Path, rows: list[str] | None = None) -> Path:
    """A generic OHLCV CSV: 48 clean hourly bars, or the rows given."""
    if rows is None:
        rows = [f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{100 + i % 7},{102 + i % 7},"
                f"{99 + i % 7},{101 + i % 7},10" for i in range(48)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


# --- --output ----------------------------------------------------------------------------

def test_an_output_blocked_by_a_file_fails_before_the_run(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("my notes")
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", str(blocker))
    assert code == 2
    assert_one_error_line(err, "--output", str(blocker), "not a folder")
    assert out == ""                      # no summary: the backtest did not run
    assert blocker.read_text() == "my notes"


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_an_output_nobody_may_write_fails_before_the_run(capsys) -> None:
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", "/proc/raytrader-out")
    assert code == 2 and out == ""
    assert_one_error_line(err, "--output /proc/raytrader-out", "cannot write in /proc")


# --- symbols of data files -----------------------------------------------------------------

def test_symbols_the_file_contradicts_are_refused(tmp_path: Path, capsys) -> None:
    cdd = FIXTURES / "cdd_spot_1h.csv"                 # its symbol column says BTC/USDT
    code, out, err = run_cli(capsys, "backtest", "--data", str(cdd), "--symbols", "ETH/USDT",
                             "--output", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert_one_error_line(err, str(cdd), "BTC/USDT", "ETH/USDT", "--symbols")
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli(capsys, "backtest", "--data", str(cdd), "--symbols", "BTCUSDT",
                           "--quiet")
    assert code == 0, err                              # the same instrument, spelled otherwise


def test_a_generic_csv_takes_its_symbol_from_its_name_or_needs_symbols(tmp_path: Path,
                                                                        capsys) -> None:
    plain = bars_csv(tmp_path / "prices.csv")
    code, _, err = run_cli(capsys, "backtest", "--data", str(plain), "--quiet")
    assert code == 2
    assert_one_error_line(err, str(plain), "--symbols", "BTCUSDT-1m-2024-01.csv")

    named = shutil.copy(plain, tmp_path / "BTCUSDT-1h-2024-01.csv")
    code, out, err = run_cli(capsys, "backtest", "--data", str(named), "--param", "fast=2",
                             "--param", "slow=3", "--output", str(tmp_path / "out"))
    assert code == 0, err
    assert "sma_cross on BTC/USDT (1h" in out and "nan" not in out
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["data"]["feeds"][0]["symbol"] == "BTC/USDT"

    code, _, err = run_cli(capsys, "backtest", "--data", str(named), "--symbols", "ETH/USDT")
    assert code == 2
    assert_one_error_line(err, str(named), "named for BTC/USDT", "ETH/USDT")


def test_data_import_takes_the_symbol_from_the_file_name(tmp_path: Path, capsys) -> None:
    path = bars_csv(tmp_path / "BTCUSDT-1h-2024-01.csv")
    catalog = tmp_path / "catalog"
    code, out, err = run_cli(capsys, "data", "import", str(path), "--catalog", str(catalog))
    assert code == 0, err
    assert "symbol BTC/USDT read from the file name" in out
    code, out, _ = run_cli(capsys, "data", "list", "--catalog", str(catalog))
    assert code == 0 and "BTC/USDT" in out and " 48 " in out
    code, _, err = run_cli(capsys, "data", "import", str(bars_csv(tmp_path / "prices.csv")),
                           "--catalog", str(catalog))
    assert code == 2
    assert_one_error_line(err, "prices.csv", "--symbol")


# --- data problems -------------------------------------------------------------------------

def test_the_cleaning_report_is_printed_on_stderr(tmp_path: Path, capsys) -> None:
    good = [f"2024-01-01 {h:02d}:00:00,100,102,99,101,10" for h in range(24)]
    rows = [*good[12:], *good[:12]]                     # half the file out of order
    rows[3] = "2024-01-01 15:00:00,nan,102,99,101,10"   # a missing value
    rows[5] = "2024-01-01 17:00:00,-5,102,99,101,10"    # a negative price
    path = bars_csv(tmp_path / "ETHUSDT-1h.csv", rows)
    code, out, err = run_cli(capsys, "backtest", "--data", str(path), "--param", "fast=2",
                             "--param", "slow=3")
    assert code == 0, err
    assert f"{path} (ohlcv_csv, bar, 1h, ETH/USDT): 24 rows read, 22 kept" in err
    assert "missing_value: 1" in err and "non_positive_price: 1" in err
    assert "out_of_order: " in err
    assert "rows read" not in out and "Total return" in out


def test_a_header_only_csv_says_it_has_no_data_rows(tmp_path: Path, capsys) -> None:
    path = bars_csv(tmp_path / "BTCUSDT-1h.csv", [])
    code, _, err = run_cli(capsys, "backtest", "--data", str(path), "--timeframe", "1h")
    assert code == 2
    assert_one_error_line(err, str(path), "no data rows")


def test_a_config_that_is_a_folder_is_one_line(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "backtest", "--config", str(tmp_path))
    assert code == 2
    assert_one_error_line(err, "config file", str(tmp_path), "folder")


def test_an_address_nobody_answers_fails_fast_without_starting_ray(tmp_path: Path) -> None:
    with socket.socket() as sock:       # a port that was just free, so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray_tmp = tmp_path / "ray"
    ray_tmp.mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "backtest", *SHORT, "--workers",
                           "1", "--address", f"127.0.0.1:{port}", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert_one_error_line(proc.stderr, f"--address 127.0.0.1:{port}", "no Ray cluster")
    assert list(ray_tmp.iterdir()) == []          # no Ray session was started


def test_workers_without_the_graph_runner_is_one_line(capsys, monkeypatch) -> None:
    # as if raytrader were installed without its actors package (no entry point registered)
    monkeypatch.setattr(runners, "RUNNER_GROUP", "raytrader.no_such_runners")
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--workers", "2")
    assert code == 2 and out == ""
    assert_one_error_line(err, "--workers", "'graph' runner", "not installed")


# --- strategies from the working directory ---------------------------------------------------

def test_a_strategy_module_in_the_working_directory_is_found(tmp_path: Path) -> None:
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "strats.py").write_text(
        "from strategies.sma_cross import SmaCross\n\n\n"
        "class Breakout(SmaCross):\n    name = 'my_breakout'\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = Path(sys.executable).parent / "raytrader"
    # the installed script, as a user runs it; else -P keeps python from adding the folder
    cmd = [str(script)] if script.exists() else [sys.executable, "-P", "-m", "engine.cli"]
    proc = subprocess.run([*cmd, "backtest", "--strategy", "mypkg.strats:Breakout", *SHORT,
                           "--quiet", "--output", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [a["strategy_id"] for a in result["attribution"]] == ["my_breakout:BTC/USDT"]


# --- what the user reads -------------------------------------------------------------------

def test_backtest_help_shows_the_defaults(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["backtest", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())     # undo argparse's line wrapping
    for expected in ["initial capital in quote currency (default: 100,000)",
                     "maker and taker fee, bps of notional (default: maker 2, taker 5)",
                     "slippage on taker fills, bps (default: 1)",
                     "seed of the synthetic market (default: 42)",
                     "order latency, ms (default: 0)",
                     "'sqrt' adds --impact-base-bps + --impact-k-bps * sqrt(fill size / event "
                     "volume) (default: fixed)",
                     "'touch' also at its price (default: through)"]:
        assert expected in text


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"raytrader {metadata.version('raytrader')}\n"


def test_strategies_list_lists(capsys) -> None:
    code, out, _ = run_cli(capsys, "strategies", "list")
    assert code == 0 and "Built-in strategies" in out and "alias: mean_reversion" in out


def test_an_alias_runs_the_builtin(tmp_path: Path, capsys) -> None:
    trades = {}
    for name in ("sma_cross", "sma_crossover"):
        # a month: on the fitted market one week may hold a single crossing
        code, _, err = run_cli(capsys, "backtest", "--strategy", name, "--param",
                               f"{name}.fast=5", "--start", "2024-01-01", "--end",
                               "2024-02-01", "--quiet", "--output", str(tmp_path / name))
        assert code == 0, err
        trades[name] = (tmp_path / name / "trades.csv").read_text()
    assert trades["sma_cross"] == trades["sma_crossover"] and trades["sma_cross"].count("\n") > 3


def test_summary_counts_have_separators_and_return_pct_is_a_percent(tmp_path: Path,
                                                                     capsys) -> None:
    code, out, err = run_cli(capsys, "backtest", "--timeframe", "1m", "--param", "fast=2",
                             "--param", "slow=3", "--start", "2024-01-01", "--end",
                             "2024-02-01", "--output", str(tmp_path))
    assert code == 0, err
    metrics = json.loads((tmp_path / "result.json").read_text())["metrics"]
    assert metrics["n_fills"] >= 1000 and metrics["n_trades"] >= 1000
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.splitlines() if line.count("│") == 3}
    assert rows["Fills"] == f"{metrics['n_fills']:,}"
    assert rows["Trades"] == f"{metrics['n_trades']:,}"
    trades = pd.read_csv(tmp_path / "trades.csv")
    notional = trades["qty"] * trades["entry_price"]
    assert (trades["return_pct"] - 100 * trades["pnl"] / notional).abs().max() < 1e-9
    assert metrics["best_trade"] == pytest.approx(trades["return_pct"].max() / 100)
