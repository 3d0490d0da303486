"""A result's tables as CSV or Parquet: ``auto`` keeps CSV for normal runs and switches to
Parquet past the fills threshold, ``result.json`` lists what was written, both formats read back
to the same numbers, and a write that fails half-way through the row groups leaves nothing
behind and the earlier files as they were."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from engine.result import read_fills, read_trades
from engine.result_files import PARQUET_FILLS_THRESHOLD, write_parquet

CSV = ["trades.csv", "fills.csv"]
PARQUET = ["trades.parquet", "fills.parquet"]
UTC_NS = pa.timestamp("ns", tz="UTC")


@pytest.fixture(scope="module")
def result() -> engine.run.BacktestResult:  # type: ignore[name-defined]
    # two symbols, a week of 1h bars: a few dozen fills, enough for several row groups of 4
    return engine.backtest("sma_cross", {"fast": 3, "slow": 8}, data="synthetic",
                           symbols=["BTC/USDT", "ETH/USDT"], start="2024-01-01",
                           end="2024-01-08")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def listed(folder: Path) -> list[str]:
    return json.loads((folder / "result.json").read_text())["files"]


def test_a_normal_run_writes_csv_and_says_so(tmp_path: Path, result) -> None:
    assert 10 < len(result.fills) < PARQUET_FILLS_THRESHOLD
    out = result.write(tmp_path)
    assert files_in(out) == sorted(["result.json", *CSV])
    assert listed(out) == CSV
    # everything but the list is what the result gives unwritten (an empty list there)
    written = json.loads((out / "result.json").read_text())
    assert written.pop("files") == CSV
    unwritten = json.loads(result.to_json())
    assert unwritten.pop("files") == []
    assert written == unwritten | {"timing": written["timing"]}
    # streamed into the file, it is exactly the text to_json gives
    assert (out / "result.json").read_text() == result.to_json(CSV) + "\n"


def test_parquet_holds_the_same_rows_and_values_as_csv(tmp_path: Path, result) -> None:
    csv = result.write(tmp_path / "csv", "csv")
    parquet = result.write(tmp_path / "parquet", "parquet", row_group_rows=4)
    assert files_in(parquet) == sorted(["result.json", *PARQUET])
    assert listed(parquet) == PARQUET
    # the trades are in their table, not listed again in result.json
    summary = json.loads((parquet / "result.json").read_text())
    assert "trades" not in summary
    assert (summary["trades_file"], summary["n_trades"]) == ("trades.parquet",
                                                             len(result.trades))
    assert json.loads((csv / "result.json").read_text())["trades"] == \
        json.loads(result.to_json())["trades"]
    for read, frame in ((read_fills, result.fills), (read_trades, result.trades)):
        from_csv, from_parquet = read(csv), read(parquet)
        pd.testing.assert_frame_equal(from_parquet, from_csv, check_exact=True)
        pd.testing.assert_frame_equal(from_parquet, frame, check_exact=True)
    assert read_fills(parquet)["ts"].tolist() == result.fills["ts"].tolist()
    assert read_trades(parquet)["exit_ts"].tolist() == result.trades["exit_ts"].tolist()
    fills = pq.ParquetFile(parquet / "fills.parquet")
    assert fills.metadata.num_row_groups == -(-len(result.fills) // 4)
    assert fills.schema_arrow.field("ts").type == UTC_NS
    assert fills.schema_arrow.field("qty").type == pa.float64()
    assert fills.schema_arrow.field("side").type == pa.string()
    trades = pq.read_schema(parquet / "trades.parquet")
    assert trades.field("entry_ts").type == trades.field("exit_ts").type == UTC_NS
    assert trades.field("n_entries").type == trades.field("duration_ns").type == pa.int64()
    # any Parquet reader sees the times as times
    first = pd.read_parquet(parquet / "fills.parquet")["ts"].iloc[0]
    assert first == pd.Timestamp(int(result.fills["ts"].iloc[0]), unit="ns", tz="UTC")


def test_auto_writes_parquet_instead_of_csv_past_the_threshold(tmp_path: Path, result) -> None:
    n = len(result.fills)
    at = result.write(tmp_path / "at", parquet_threshold=n)
    assert listed(at) == CSV and files_in(at) == sorted(["result.json", *CSV])
    past = result.write(tmp_path / "past", "auto", parquet_threshold=n - 1)
    assert listed(past) == PARQUET and files_in(past) == sorted(["result.json", *PARQUET])
    pd.testing.assert_frame_equal(read_fills(past), result.fills, check_exact=True)
    assert result.table_files(parquet_threshold=n - 1) == PARQUET


def test_both_writes_both(tmp_path: Path, result) -> None:
    out = result.write(tmp_path, "both")
    assert listed(out) == CSV + PARQUET
    assert files_in(out) == sorted(["result.json", *CSV, *PARQUET])
    pd.testing.assert_frame_equal(read_fills(out), result.fills, check_exact=True)


def test_a_new_format_replaces_the_old_files(tmp_path: Path, result) -> None:
    result.write(tmp_path, "parquet")
    few = dataclasses.replace(result, fills=result.fills.iloc[:5])
    few.write(tmp_path, "csv")
    assert files_in(tmp_path) == sorted(["result.json", *CSV])
    assert len(read_fills(tmp_path)) == 5
    result.write(tmp_path, "parquet")
    assert files_in(tmp_path) == sorted(["result.json", *PARQUET])
    assert len(read_fills(tmp_path)) == len(result.fills)


def test_a_result_written_before_parquet_existed_reads_as_before(tmp_path: Path,
                                                                result) -> None:
    result.write(tmp_path, "csv")
    (tmp_path / "result.json").write_text(result.to_json())   # no "files" list
    pd.testing.assert_frame_equal(read_trades(tmp_path), result.trades, check_exact=True)
    (tmp_path / "fills.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"no fills\.parquet or fills\.csv"):
        read_fills(tmp_path)


def test_an_empty_table_writes_a_typed_empty_file(tmp_path: Path, result) -> None:
    empty = pd.DataFrame(columns=list(result.fills.columns))   # what a run without fills has
    write_parquet(empty, tmp_path / "fills.parquet", "fills")
    back = pd.read_parquet(tmp_path / "fills.parquet")
    assert len(back) == 0 and list(back.columns) == list(result.fills.columns)
    assert pq.read_schema(tmp_path / "fills.parquet").field("ts").type == UTC_NS


def test_an_unknown_format_is_refused(tmp_path: Path, result) -> None:
    with pytest.raises(ValueError, match="'xlsx': expected one of auto, csv, parquet, both"):
        result.write(tmp_path, "xlsx")
    assert not tmp_path.joinpath("result.json").exists()


class Unwritable:
    """A value no Parquet column can hold: the writer fails on the row group that has it."""


def broken(result):  # type: ignore[no-untyped-def]
    """``result`` with its last fill unwritable: with row groups of 4 rows, the Parquet writer
    has written every earlier row group when it fails."""
    fills = result.fills.astype({"liquidity": object})
    fills.iloc[-1, fills.columns.get_loc("liquidity")] = Unwritable()
    assert len(fills) > 3 * 4
    return dataclasses.replace(result, fills=fills)


def test_a_parquet_write_failing_after_some_row_groups_leaves_no_partial_file(
        tmp_path: Path, result) -> None:
    with pytest.raises(pa.ArrowTypeError):
        broken(result).write(tmp_path / "fresh", "parquet", row_group_rows=4)
    assert files_in(tmp_path / "fresh") == []


@pytest.mark.parametrize("earlier_format", ["csv", "parquet"])
def test_a_failed_parquet_write_leaves_the_earlier_files_untouched(
        tmp_path: Path, result, earlier_format: str) -> None:
    earlier = result.write(tmp_path, earlier_format)
    before = {p.name: p.read_bytes() for p in earlier.iterdir()}
    with pytest.raises(pa.ArrowTypeError):
        broken(result).write(earlier, "parquet", row_group_rows=4)
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
    pd.testing.assert_frame_equal(read_fills(earlier), result.fills, check_exact=True)
