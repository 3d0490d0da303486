"""``--output-format`` on the command line: the files each value writes, what the run prints,
and the error a bad value gets; paper and live take the flag as backtest does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine.cli import build_parser, main
from engine.result import read_fills, read_trades

SHORT = ["--start", "2024-01-01", "--end", "2024-01-15", "--quiet"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_parquet_output_equals_the_csv_output(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", str(tmp_path / "csv"))
    assert code == 0, err
    assert out.strip() == (f"wrote {tmp_path / 'csv' / 'result.json'}, "
                           f"{tmp_path / 'csv' / 'trades.csv'} and "
                           f"{tmp_path / 'csv' / 'fills.csv'}")
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", str(tmp_path / "pq"),
                             "--output-format", "parquet")
    assert code == 0, err
    assert out.strip() == (f"wrote {tmp_path / 'pq' / 'result.json'}, "
                           f"{tmp_path / 'pq' / 'trades.parquet'} and "
                           f"{tmp_path / 'pq' / 'fills.parquet'}")
    assert sorted(p.name for p in (tmp_path / "pq").iterdir()) == [
        "fills.parquet", "result.json", "trades.parquet"]
    csv = json.loads((tmp_path / "csv" / "result.json").read_text())
    parquet = json.loads((tmp_path / "pq" / "result.json").read_text())
    assert (csv.pop("files"), parquet.pop("files")) == (["trades.csv", "fills.csv"],
                                                       ["trades.parquet", "fills.parquet"])
    del csv["timing"], parquet["timing"]
    # the Parquet run's trades are in trades.parquet, named and counted, not listed
    trades = csv.pop("trades")
    assert (parquet.pop("trades_file"), parquet.pop("n_trades")) == ("trades.parquet",
                                                                     len(trades))
    assert csv == parquet and csv["n_fills"] > 0
    fills = read_fills(tmp_path / "pq")
    assert len(fills) == csv["n_fills"]
    pd.testing.assert_frame_equal(fills, read_fills(tmp_path / "csv"), check_exact=True)
    pd.testing.assert_frame_equal(read_trades(tmp_path / "pq"), read_trades(tmp_path / "csv"),
                                  check_exact=True)


def test_both_writes_four_tables(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "backtest", *SHORT, "--output", str(tmp_path),
                             "--output-format", "both")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fills.csv", "fills.parquet", "result.json", "trades.csv", "trades.parquet"]
    assert out.strip().endswith(f"{tmp_path / 'trades.parquet'} and "
                                f"{tmp_path / 'fills.parquet'}")


def test_a_bad_output_format_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["backtest", *SHORT, "--output", str(tmp_path), "--output-format", "xlsx"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --output-format: invalid choice: 'xlsx'" in err
    for name in ("auto", "csv", "parquet", "both"):
        assert name in err.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["paper", "live"])
def test_paper_and_live_take_the_flag(command: str) -> None:
    args = ["--exchange", "binance", "--symbols", "BTC/USDT", "--output", "out"]
    parser = build_parser()
    assert parser.parse_args([command, *args]).output_format == "auto"
    assert parser.parse_args([command, *args, "--output-format", "parquet"]).output_format \
        == "parquet"
