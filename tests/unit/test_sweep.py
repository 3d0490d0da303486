"""Parameter sweeps in one process: ranges checked against what each strategy declares, the
three searches deterministic, every row exactly the backtest of its parameters, the ranking,
the result files, and the command line's refusals (exit code 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import engine
from engine.cli import main
from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.research.evaluate import Outcome, job_frames
from engine.research.params import resolve_range
from engine.research.ranking import rank_order, rankable_metrics
from engine.research.results import read_result
from engine.research.search import build_spec, run_search
from engine.research.sweep import run_sweep, sweep
from engine.strategy import load_strategy
from tests.kit.cli import refused

SMALL = {"start": "2024-01-01", "end": "2024-03-01", "fee_bps": 10}
RANGES = ["sma_cross.fast=5:25:10", "sma_cross.slow=30:90:30"]


def config(**changes: Any) -> BacktestConfig:
    return BacktestConfig.from_dict({"strategy": "sma_cross", **SMALL, **changes})


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return job_frames(config(symbols=["BTC/USDT", "ETH/USDT"]))


# --- ranges ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("sma_cross.fast=1:20:1", r"sma_cross\.fast is declared in \[2, 500\]; the range 1:20 "),
    ("sma_cross.slow=100:3000:100", r"sma_cross\.slow is declared in \[3, 2000\]"),
    ("sma_cross.speed=1:5:1", r"has no parameter 'speed'; its parameters: fast, slow"),
    ("momentum.lookback=5:10:1", r"strategy 'momentum' is not in this job"),
    ("sma_cross.fast=5:10", r"expected STRATEGY\.NAME=LOW:HIGH:STEP"),
    ("sma_cross.fast", r"expected STRATEGY\.NAME=LOW:HIGH:STEP"),
    ("fast=5:10:1", r"expected STRATEGY\.NAME=LOW:HIGH:STEP"),
    ("sma_cross.fast=5::1", r"expected STRATEGY\.NAME=LOW:HIGH:STEP"),
    ("sma_cross.fast=a:10:1", r"LOW 'a' is not a number"),
    ("sma_cross.fast=5:10:0.5", r"STEP '0\.5' must be a whole number: 'fast' is an int"),
    ("sma_cross.fast=5:10:0", r"STEP must be positive"),
    ("sma_cross.fast=10:5:1", r"LOW \(10\) is above HIGH \(5\)"),
    ("sma_cross.allow_short=0:1:1", r"parameter 'allow_short' of 'sma_cross' is a bool"),
])
def test_a_bad_range_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"--range '" + r".*" + message):
        resolve_range(text, {"sma_cross": load_strategy("sma_cross")})


def test_range_values_include_both_ends_and_do_not_drift() -> None:
    classes = {"sma_cross": load_strategy("sma_cross")}
    assert resolve_range("sma_cross.fast=5:20:5", classes).values() == [5, 10, 15, 20]
    assert resolve_range("sma_cross.fast=5:22:5", classes).values() == [5, 10, 15, 20]
    allocation = resolve_range("sma_cross.allocation=0.1:0.5:0.1", classes)
    assert allocation.values() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert resolve_range("sma_crossover.fast=5:5:1", classes).key == "sma_cross.fast"


def test_an_empty_grid_is_refused_before_anything_runs() -> None:
    with pytest.raises(ConfigError, match=r"grid of 'sma_cross' is empty.*'fast' \(50\) must "
                                          r"be shorter than 'slow' \(20\)"):
        build_spec(config(), ["sma_cross.fast=50:60:10", "sma_cross.slow=20:40:10"])


@pytest.mark.parametrize("options, message", [
    ({"search": "grid", "trials": 5}, r"--trials applies to --search random and bayes"),
    ({"search": "random"}, r"--search random needs --trials N"),
    ({"search": "bayes", "trials": 0}, r"--search bayes needs --trials N"),
    ({"search": "anneal"}, r"--search 'anneal': expected one of grid, random, bayes"),
    ({"rank_by": "sharp"}, r"--rank-by 'sharp': not a numeric metric; one of .*sharpe"),
    ({"rank_by": "max_drawdown_peak"}, r"--rank-by 'max_drawdown_peak': not a numeric"),
])
def test_bad_search_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_spec(config(), RANGES, **options)


def test_a_parameter_fixed_and_searched_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--param and --range both set sma_cross\.fast"):
        build_spec(config(params={"fast": 10}), RANGES)


def test_rankable_metrics_are_the_engines_numeric_ones() -> None:
    names = rankable_metrics()
    assert {"sharpe", "total_return", "max_drawdown", "calmar", "n_trades", "total_fees"} \
        <= set(names)
    assert not {"start", "end", "returns_basis", "max_drawdown_peak"} & set(names)


# --- runs -----------------------------------------------------------------------------------

def test_each_row_is_exactly_the_backtest_of_its_parameters(frames: dict[str, Any]) -> None:
    spec = build_spec(config(symbols=["BTC/USDT", "ETH/USDT"]), RANGES)
    result = run_sweep(spec, frames=frames)
    assert len(result.table) == 2 * 3 * 3
    for _, row in result.table.sample(4, random_state=1).iterrows():
        alone = engine.backtest("sma_cross", {"fast": row["sma_cross.fast"],
                                              "slow": row["sma_cross.slow"]},
                                symbols=[row["symbol"]], **SMALL)
        assert {k: row[k] for k in alone.metrics} == alone.metrics
        assert row["error"] is None


def test_the_table_is_ranked_with_parameters_metrics_and_errors(frames: dict[str, Any]) -> None:
    spec = build_spec(config(symbols=["BTC/USDT", "ETH/USDT"]), RANGES)
    table = run_sweep(spec, frames=frames).table
    columns = list(table.columns)
    assert columns[:5] == ["rank", "symbol", "strategy", "sma_cross.fast", "sma_cross.slow"]
    assert columns[-1] == "error"
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    sharpe = [float(v) for v in table["sharpe"]]
    assert sharpe == sorted(sharpe, reverse=True)


def test_ranking_puts_undefined_last_and_breaks_ties_by_the_given_order() -> None:
    values = [1.0, None, 2.0, 1.0, None]
    ties = [(3,), (0,), (5,), (1,), (2,)]
    assert rank_order(values, ties, ascending=False) == [2, 3, 0, 1, 4]
    assert rank_order(values, ties, ascending=True) == [3, 0, 2, 1, 4]


def test_lower_is_better_metrics_rank_ascending(frames: dict[str, Any]) -> None:
    spec = build_spec(config(symbols=["BTC/USDT"]), RANGES, rank_by="total_fees")
    result = run_sweep(spec, frames={"BTC/USDT": frames["BTC/USDT"]})
    fees = [float(v) for v in result.table["total_fees"]]
    assert result.ascending and fees == sorted(fees)
    assert result.best[0]["metrics"]["total_fees"] == min(fees)


def test_grid_random_and_bayes_are_deterministic(frames: dict[str, Any]) -> None:
    base = config(symbols=["BTC/USDT"])
    wide = ["sma_cross.fast=5:40:5", "sma_cross.slow=30:120:10"]
    btc = {"BTC/USDT": frames["BTC/USDT"]}
    for search, trials in (("grid", None), ("random", 12), ("bayes", 12)):
        spec = build_spec(base, wide, search=search, trials=trials, seed=3)
        first = run_sweep(spec, frames=btc).table
        again = run_sweep(spec, frames=btc).table
        assert first.to_csv() == again.to_csv(), search
        if trials:
            assert len(first) <= trials
            other = run_sweep(build_spec(base, wide, search=search, trials=trials, seed=4),
                              frames=btc).table
            assert sorted(map(tuple, first[["sma_cross.fast", "sma_cross.slow"]].values)) != \
                sorted(map(tuple, other[["sma_cross.fast", "sma_cross.slow"]].values)), search


def test_random_search_samples_the_valid_grid_without_repeats(frames: dict[str, Any]) -> None:
    spec = build_spec(config(symbols=["BTC/USDT"]), ["sma_cross.fast=5:60:5",
                                                     "sma_cross.slow=30:60:10"],
                      search="random", trials=10, seed=1)
    found = run_search(spec, ["BTC/USDT"], lambda runs, done=None: [Outcome({}) for _ in runs])
    combos = [(r.params["fast"], r.params["slow"]) for r in found.runs]
    assert len(combos) == len(set(combos)) == 10
    assert all(f < s and f % 5 == 0 and s % 10 == 0 for f, s in combos)


def test_bayes_search_learns_towards_the_better_region() -> None:
    """Against a known objective (no backtests), TPE's later trials score better than its
    first, random ones: the model-based search does search."""
    spec = build_spec(config(symbols=["BTC/USDT"]), ["sma_cross.fast=2:100:1",
                                                     "sma_cross.slow=101:300:1"],
                      search="bayes", trials=48, seed=0)

    def objective(runs: Any, done: Any = None) -> list[Outcome]:
        out = [Outcome({"sharpe": -abs(r.params["fast"] - 70) - abs(r.params["slow"] - 150)
                        / 10}) for r in runs]
        if done is not None:
            done(len(runs))
        return out

    found = run_search(spec, ["BTC/USDT"], objective)
    scores = [o.metrics["sharpe"] for o in found.outcomes]
    assert sum(scores[-16:]) / 16 > sum(scores[:16]) / 16 + 5


def test_a_run_that_faults_is_a_row_with_its_error_and_the_sweep_goes_on() -> None:
    ref = "tests.kit.strategies:FailingBatch"
    base = BacktestConfig.from_dict({"strategy": ref, **SMALL,
                                     "params": {"fail_symbol": "BTC/USDT", "fast": 10,
                                                "slow": 30}})
    spec = build_spec(base, [f"{ref}.fail_row=500:2000:500"])
    result = run_sweep(spec)
    table = result.table
    assert len(table) == 4
    failed = table[table["error"].notna()]
    assert set(failed[f"{ref}.fail_row"]) == {500, 1000}     # 2024-01 .. 03 has 1416 bars
    assert all("deliberate failure" in e for e in failed["error"])
    assert list(failed["rank"]) == [3, 4]
    assert result.summary["failed"] == 2
    assert {b["params"]["fail_row"] for b in result.best} <= {1500, 2000}
    assert any("2 of 4 runs failed" in s for s in result.recommendations)


def test_the_result_files_follow_the_schema(tmp_path: Path, frames: dict[str, Any]) -> None:
    spec = build_spec(config(symbols=["BTC/USDT", "ETH/USDT"]), RANGES)
    result = run_sweep(spec, frames=frames)
    result.write(tmp_path)
    content = read_result(tmp_path, kind="sweep")
    assert content["files"] == ["results.csv", "report.html"]
    assert (tmp_path / "report.html").is_file()
    assert content["parameters"] == ["sma_cross.fast", "sma_cross.slow"]
    assert content["rank_by"] == "sharpe" and content["ascending"] is False
    assert content["inputs"]["ranges"] == {"sma_cross.fast": [5, 25, 10],
                                           "sma_cross.slow": [30, 90, 30]}
    assert content["inputs"]["costs"]["taker_fee_bps"] == 10.0
    summary = content["summary"]
    assert summary["runs"] == 18 and summary["failed"] == 0
    assert {"best_value", "best_symbol", "best_strategy", "seconds",
            "backtests_per_second"} <= set(summary)
    assert [(b["symbol"], b["strategy"]) for b in content["best"]] == [
        ("BTC/USDT", "sma_cross"), ("ETH/USDT", "sma_cross")]
    assert set(content["best"][0]["params"]) == {"fast", "slow"}
    assert content["recommendations"]
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.iloc[0]["symbol"] == summary["best_symbol"]
    assert table.iloc[0]["sharpe"] == summary["best_value"]


def test_the_python_api_runs_several_strategies_with_blank_columns_for_the_others() -> None:
    result = sweep(["sma_cross", "momentum"], ["sma_cross.fast=10:20:10",
                                               "momentum.lookback=24:48:24"],
                   params={"sma_cross": {"slow": 40}}, symbols=["BTC/USDT"], **SMALL)
    table = result.table
    assert result.parameters == ["sma_cross.fast", "momentum.lookback", "sma_cross.slow"]
    momentum = table[table["strategy"] == "momentum"]
    assert len(momentum) == 2 and momentum["sma_cross.fast"].isna().all()
    assert set(table[table["strategy"] == "sma_cross"]["sma_cross.slow"]) == {40}


# --- the command line -----------------------------------------------------------------------

CLI = ["sweep", "--strategy", "sma_cross", "--start", "2024-01-01", "--end", "2024-02-01",
       "--quiet"]


@pytest.mark.parametrize("extra, message", [
    (["--range", "sma_cross.fast=1:20:1"], "--range 'sma_cross.fast=1:20:1': sma_cross.fast "
                                           "is declared in [2, 500]"),
    (["--range", "sma_cross.fats=5:20:5"], "has no parameter 'fats'"),
    (["--range", "sma_cross.fast=5-20"], "expected STRATEGY.NAME=LOW:HIGH:STEP"),
    (["--range", "sma_cross.fast=50:60:10", "--range", "sma_cross.slow=20:40:10"],
     "the grid of 'sma_cross' is empty"),
    (["--range", "sma_cross.fast=5:20:5", "--search", "random"], "needs --trials N"),
    (["--range", "sma_cross.fast=5:20:5", "--rank-by", "sharp"], "--rank-by 'sharp'"),
    (["--range", "sma_cross.fast=5:20:5", "--workers", "-1"], "--workers must be 0 or more"),
])
def test_the_command_line_refuses_bad_input_with_exit_code_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        message: str) -> None:
    assert message in refused([*CLI, *extra], tmp_path / "out", capsys)


def test_the_command_line_writes_the_ranked_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([*CLI, "--range", "sma_cross.fast=5:15:10", "--range",
                 "sma_cross.slow=30:40:10", "--fee-bps", "10", "--output", str(out)]) == 0
    content = json.loads((out / "result.json").read_text())
    assert content["kind"] == "sweep" and content["summary"]["runs"] == 4
    assert content["inputs"]["costs"]["maker_fee_bps"] == 10.0
    table = pd.read_csv(out / "results.csv")
    assert list(table["rank"]) == [1, 2, 3, 4]


def test_a_worker_keeps_nothing_of_its_finished_runs() -> None:
    """A process running many backtests (a sweep worker) holds none of the finished ones:
    the event-time pass hands what it froze back to the collector when it ends."""
    import gc

    from engine.research import evaluate

    frames = job_frames(config(symbols=["BTC/USDT"], end="2024-01-05"))
    runs = [evaluate.Run(i, "BTC/USDT", "sma_cross", {"fast": 2 + i % 5, "slow": 20})
            for i in range(4)]
    frozen = gc.get_freeze_count()
    evaluate.evaluate_runs(config(), frames, runs)
    assert gc.get_freeze_count() == frozen


def test_a_worker_collects_its_runs_cycles_every_few_runs() -> None:
    import gc
    import weakref

    from engine.research import evaluate

    class Node:
        other: object = None

    gc.disable()   # only the worker's own collection may free the cycle
    try:
        evaluate._since_collect[0] = 0
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        for _ in range(evaluate.COLLECT_EVERY - 1):
            evaluate.collect_now_and_then()
        assert gone() is not None      # not yet: a cycle outlives refcounting
        evaluate.collect_now_and_then()
        assert gone() is None
    finally:
        gc.enable()
