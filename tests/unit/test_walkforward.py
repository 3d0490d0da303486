"""Walk-forward analysis in one process: the windows (rolling, anchored, refused when they do
not fit), no leak of test data into the choice of parameters, each test window exactly the
backtest of the chosen parameters, the robustness ratio, and the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import engine
from engine.cli import main
from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.research.evaluate import job_frames
from engine.research.results import read_result
from engine.research.search import build_spec
from engine.research.walkforward import (parse_length, plan_windows, robustness_ratio,
                                         walk_forward)
from engine.timeframes import NS_PER_DAY, parse_time
from tests.kit.cli import refused

SETTINGS = {"start": "2024-01-01", "end": "2024-05-01", "fee_bps": 10}
RANGES = ["sma_cross.fast=5:25:10", "sma_cross.slow=30:90:30"]
DAY = NS_PER_DAY


def spec(**changes: Any) -> Any:
    config = BacktestConfig.from_dict({"strategy": "sma_cross", **SETTINGS, **changes})
    return build_spec(config, RANGES)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return job_frames(spec().config)


def test_rolling_windows_tile_the_data_after_the_first_training_window() -> None:
    windows = plan_windows(0, 100 * DAY, 40 * DAY, 20 * DAY)
    assert [(w.train_start, w.train_end, w.test_end) for w in windows] == [
        (0, 40 * DAY, 60 * DAY), (20 * DAY, 60 * DAY, 80 * DAY), (40 * DAY, 80 * DAY, 100 * DAY)]
    assert all(w.train_end == w.test_start for w in windows)


def test_anchored_windows_train_from_the_start_and_step_can_skip() -> None:
    windows = plan_windows(0, 100 * DAY, 40 * DAY, 10 * DAY, step=25 * DAY, anchored=True)
    assert [(w.train_start, w.train_end, w.test_end) for w in windows] == [
        (0, 40 * DAY, 50 * DAY), (0, 65 * DAY, 75 * DAY), (0, 90 * DAY, 100 * DAY)]


@pytest.mark.parametrize("args, message", [
    ((0, 100 * DAY, 90 * DAY, 20 * DAY), r"--train 90d plus --test 20d is longer than the "
                                         r"data \(100d, 1970-01-01T00:00:00Z \.\. "),
    ((0, 100 * DAY, 40 * DAY, 20 * DAY, 10 * DAY), r"--step \(10d\) is shorter than --test"),
])
def test_windows_that_do_not_fit_are_refused(args: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_windows(*args)


@pytest.mark.parametrize("flag, text", [("--train", "180"), ("--test", "30 days"),
                                        ("--step", "-5d"), ("--train", "0d")])
def test_lengths_that_do_not_parse_are_refused_naming_the_flag(flag: str, text: str) -> None:
    with pytest.raises(ConfigError, match=f"{flag} '{text}': expected a length such as 180d"):
        parse_length(text, flag)


def test_robustness_ratio_is_out_of_sample_over_in_sample() -> None:
    assert robustness_ratio([2.0, 1.0], [1.0, 0.5]) == 0.5
    assert robustness_ratio([2.0, None], [-1.0, 0.5]) == -0.125   # undefined: left out
    assert robustness_ratio([-1.0, 0.5], [1.0, 1.0]) is None     # nothing gained in sample
    assert robustness_ratio([10.0], [20.0], ascending=True) == 0.5   # less is better
    assert robustness_ratio([None], [1.0]) is None


def test_test_data_never_reaches_the_choice_of_parameters(frames: dict[str, Any]) -> None:
    """Prices after the first training window are scrambled: the first window's choice and
    its in-sample figures stay exactly as they were. Scrambling prices inside the training
    window does change them (so the comparison can see a leak)."""
    job = spec()
    reference = walk_forward(job, train="45d", test="15d", frames=frames)
    first = reference.windows[0]
    train_end = parse_time(first["train_end"])

    def scrambled(after: int, before: int) -> dict[str, pd.DataFrame]:
        frame = frames["BTC/USDT"].copy()
        ts = frame["ts"].to_numpy()
        rows = (ts >= after) & (ts < before)
        noise = np.random.default_rng(0).lognormal(0.0, 0.02, rows.sum())
        for column in ("open", "high", "low", "close"):
            frame.loc[rows, column] = frame.loc[rows, column].to_numpy() * noise
        frame.loc[rows, "high"] = frame.loc[rows, ["open", "high", "low", "close"]].max(axis=1)
        frame.loc[rows, "low"] = frame.loc[rows, ["open", "high", "low", "close"]].min(axis=1)
        return {"BTC/USDT": frame}

    later = walk_forward(job, train="45d", test="15d", frames=scrambled(train_end, 1 << 62))
    assert later.windows[0]["params"] == first["params"]
    assert later.windows[0]["in_sample"] == first["in_sample"]
    assert later.windows[0]["out_of_sample"] != first["out_of_sample"]   # its test did change
    inside = walk_forward(job, train="45d", test="15d",
                          frames=scrambled(parse_time(first["train_start"]), train_end))
    assert inside.windows[0]["in_sample"] != first["in_sample"]


def test_each_test_window_is_the_backtest_of_the_chosen_parameters(
        frames: dict[str, Any]) -> None:
    result = walk_forward(spec(), train="45d", test="15d", step="20d", frames=frames)
    assert len(result.windows) == 4
    for window in result.windows:
        params = {k.partition(".")[2]: v for k, v in window["params"].items()}
        # the job's market, cut to the window (a synthetic market started at the window's
        # start would be another market)
        alone = engine.backtest("sma_cross", params, data=frames, start=window["test_start"],
                                end=window["test_end"], fee_bps=10)
        assert window["out_of_sample"] == alone.metrics
        train = engine.backtest("sma_cross", params, data=frames, start=window["train_start"],
                                end=window["train_end"], fee_bps=10)
        assert window["in_sample"] == train.metrics


def test_the_out_of_sample_equity_chains_the_test_windows(frames: dict[str, Any]) -> None:
    result = walk_forward(spec(), train="45d", test="15d", frames=frames)
    returns = [w["out_of_sample"]["total_return"] for w in result.windows]
    equity = result.oos_equity["equity"]
    assert equity[0] == result.inputs["config"]["capital"]
    assert equity[-1] / equity[0] == pytest.approx(float(np.prod([1 + r for r in returns])),
                                                   rel=1e-12)
    assert result.summary["oos_total_return"] == pytest.approx(equity[-1] / equity[0] - 1)
    assert result.oos_equity["ts"][0] == result.windows[0]["test_start"]
    assert result.oos_equity["ts"] == sorted(result.oos_equity["ts"])


def test_the_same_walk_forward_gives_the_same_files(tmp_path: Path,
                                                    frames: dict[str, Any]) -> None:
    for name in ("a", "b"):
        walk_forward(spec(), train="45d", test="15d", anchored=True,
                     frames=frames).write(tmp_path / name)
    assert (tmp_path / "a" / "results.csv").read_bytes() == \
        (tmp_path / "b" / "results.csv").read_bytes()
    content = read_result(tmp_path / "a", kind="walkforward")
    assert content["summary"]["windows"] == len(content["windows"]) == 5
    assert {w["train_start"] for w in content["windows"]} == {"2024-01-01T00:00:00Z"}
    assert {"robustness_ratio", "oos_total_return", "is_mean_sharpe",
            "oos_mean_sharpe"} <= set(content["summary"])
    assert content["rank_by"] == "sharpe"
    table = pd.read_csv(tmp_path / "a" / "results.csv")
    assert list(table.columns[:9]) == ["index", "symbol", "strategy", "train_start",
                                       "train_end", "test_start", "test_end",
                                       "sma_cross.fast", "sma_cross.slow"]
    assert {"is_sharpe", "oos_sharpe", "oos_total_return"} <= set(table.columns)


CLI = ["walkforward", "--strategy", "sma_cross", "--range", "sma_cross.fast=5:15:10",
       "--range", "sma_cross.slow=30:40:10", "--start", "2024-01-01", "--end", "2024-03-01",
       "--quiet"]


@pytest.mark.parametrize("extra, message", [
    (["--train", "50d", "--test", "30d"], "--train 50d plus --test 30d is longer than the data"),
    (["--train", "six months", "--test", "30d"], "--train 'six months': expected a length"),
    (["--train", "30d", "--test", "10"], "--test '10': expected a length"),
    (["--train", "30d", "--test", "10d", "--step", "5d"], "--step (5d) is shorter than --test"),
])
def test_the_command_line_refuses_bad_windows_with_exit_code_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        message: str) -> None:
    assert message in refused([*CLI, *extra], tmp_path / "out", capsys)


def test_the_command_line_writes_the_windows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([*CLI, "--train", "30d", "--test", "10d", "--output", str(out)]) == 0
    content = json.loads((out / "result.json").read_text())
    assert content["kind"] == "walkforward" and content["summary"]["windows"] == 3
    assert len(pd.read_csv(out / "results.csv")) == 3
