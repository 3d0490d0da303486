"""Output folders: refused before a run when they cannot be written, and result files that are
whole or absent, never truncated, even when writing fails half-way."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

import engine
from engine.errors import ConfigError
from engine.outputs import check_output_dir, write_files

RESULT_FILES = ("trades.csv", "fills.csv", "result.json")


def test_a_missing_folder_is_fine_and_not_created(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "today"
    assert check_output_dir(out) == out
    assert not (tmp_path / "runs").exists()


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "result"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"--output .*result: it is a file, not a folder"):
        check_output_dir(blocker, what="--output")
    with pytest.raises(ConfigError, match=r"result is a file, not a folder"):
        check_output_dir(blocker / "sub", what="--output")


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
def test_a_folder_nobody_may_write_in_is_refused() -> None:
    # /proc takes no new files, not even from root
    with pytest.raises(ConfigError, match=r"output /proc/raytrader-out: cannot write in /proc"):
        check_output_dir("/proc/raytrader-out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write in"):
            check_output_dir(locked / "run")
    finally:
        locked.chmod(0o700)


def failing_writer(path: Path) -> None:
    path.write_text("half of a fi")
    raise OSError("disk full")


def test_a_failed_write_changes_nothing(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.csv": lambda p: p.write_text("old a"),
                           "b.json": lambda p: p.write_text("old b")})
    with pytest.raises(OSError, match="disk full"):
        write_files(tmp_path, {"a.csv": lambda p: p.write_text("new a"),
                               "b.json": failing_writer})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.json"]
    assert (tmp_path / "a.csv").read_text() == "old a"
    assert (tmp_path / "b.json").read_text() == "old b"


class Unprintable:
    """A value whose CSV text cannot be made: writing fails after earlier rows are out."""

    def __str__(self) -> str:
        raise RuntimeError("cannot format this fill")

    __repr__ = __str__


@pytest.fixture(scope="module")
def result() -> engine.run.BacktestResult:  # type: ignore[name-defined]
    return engine.backtest("sma_cross", {"fast": 3, "slow": 8}, data="synthetic",
                           start="2024-01-01", end="2024-01-08")


def test_result_files_are_written_with_result_json_last(tmp_path: Path, result) -> None:
    out = result.write(tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == sorted(RESULT_FILES)
    assert len(result.fills) > 2
    mtimes = {name: (out / name).stat().st_mtime_ns for name in RESULT_FILES}
    assert mtimes["result.json"] >= max(mtimes["trades.csv"], mtimes["fills.csv"])


def test_a_result_whose_fills_cannot_be_written_leaves_no_partial_file(tmp_path: Path,
                                                                       result) -> None:
    fills = result.fills.astype({"liquidity": object})
    fills.iloc[-1, fills.columns.get_loc("liquidity")] = Unprintable()
    broken = dataclasses.replace(result, fills=fills)
    with pytest.raises(RuntimeError, match="cannot format this fill"):
        broken.write(tmp_path / "fresh")
    assert list((tmp_path / "fresh").iterdir()) == []
    # over an earlier run's files: they stay whole and unchanged
    earlier = result.write(tmp_path / "again")
    before = {name: (earlier / name).read_bytes() for name in RESULT_FILES}
    with pytest.raises(RuntimeError, match="cannot format this fill"):
        broken.write(earlier)
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == before
