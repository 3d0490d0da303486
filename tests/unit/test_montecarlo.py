"""Monte Carlo of a backtest: the vectorized statistics against a plain per-path loop on the
same seeded draws, the methods' known properties, determinism, and bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.research.montecarlo import (CHUNK, METHOD_IDS, load_run, run_montecarlo, simulate,
                                        summarize, wilson, write_montecarlo)
from tests.kit.research import backtest_folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return backtest_folder(tmp_path_factory.mktemp("mc") / "run")


def reference_paths(method: str, values: np.ndarray, paths: int, seed: int,
                    block: int) -> list[np.ndarray]:
    """Each path's returns, drawn as the module documents it, one path at a time."""
    n = len(values)
    out = []
    for chunk in range(math.ceil(paths / CHUNK)):
        rows = min(CHUNK, paths - chunk * CHUNK)
        rng = np.random.default_rng([seed, METHOD_IDS[method], chunk])
        if method == "bootstrap":
            draws = rng.integers(0, n, size=(rows, n))
        elif method == "shuffle":
            draws = rng.permuted(np.tile(np.arange(n), (rows, 1)), axis=1)
        else:
            starts = rng.integers(0, n, size=(rows, math.ceil(n / block)))
        for r in range(rows):
            if method == "block":
                idx = [(s + k) % n for s in starts[r] for k in range(block)][:n]
            else:
                idx = list(draws[r])
            out.append(values[idx])
    return out


def reference_outcome(returns: np.ndarray, annualization: float,
                      risk_free: float) -> tuple[float, float, float, float]:
    """Final return, max drawdown, Sharpe and lowest equity of one path, step by step."""
    equity, peak, deepest, lowest = 1.0, 1.0, 0.0, 1.0
    for r in returns:
        equity *= 1.0 + r
        peak = max(peak, equity)
        deepest = min(deepest, equity / peak - 1.0)
        lowest = min(lowest, equity)
    excess = returns - risk_free
    std = float(np.std(excess, ddof=1))
    sharpe = float(np.mean(excess)) / std * math.sqrt(annualization) if std > 1e-12 else math.nan
    return equity - 1.0, deepest, sharpe, lowest


@pytest.mark.parametrize("method", ["bootstrap", "shuffle", "block"])
def test_percentiles_match_a_plain_numpy_reference(run_dir: Path, method: str) -> None:
    sample = load_run(run_dir)
    paths, seed = CHUNK + 300, 11          # two chunks: the second draws from its own stream
    content, _, per_path = run_montecarlo(run_dir, paths=paths, seed=seed, methods=[method])
    if method == "block":
        values, ann, rf = sample.period_returns, sample.annualization, sample.period_risk_free
        block = content["methods"][0]["block_length"]
    else:
        values, ann, rf, block = sample.trade_returns, sample.trades_per_year, 0.0, 1
    outcomes = np.array([reference_outcome(p, ann, rf)
                         for p in reference_paths(method, values, paths, seed, block)])
    stats = content["methods"][0]["statistics"]
    for k, name in enumerate(("final_return", "max_drawdown", "sharpe")):
        column = outcomes[:, k]
        column = column[np.isfinite(column)]
        p5, p50, p95 = np.percentile(column, [5, 50, 95])
        assert stats[name]["p5"] == pytest.approx(p5, rel=1e-9, abs=1e-12)
        assert stats[name]["p50"] == pytest.approx(p50, rel=1e-9, abs=1e-12)
        assert stats[name]["p95"] == pytest.approx(p95, rel=1e-9, abs=1e-12)
        assert stats[name]["mean"] == pytest.approx(column.mean(), rel=1e-9, abs=1e-12)
    ruined = (outcomes[:, 3] < 0.5).mean()
    assert content["methods"][0]["ruin"]["probability"] == pytest.approx(ruined)
    np.testing.assert_allclose(per_path["final_return"], outcomes[:, 0], rtol=1e-9, atol=1e-12)


def test_same_call_same_numbers_and_another_seed_others(run_dir: Path) -> None:
    first = run_montecarlo(run_dir, paths=500, seed=4)[0]
    again = run_montecarlo(run_dir, paths=500, seed=4)[0]
    other = run_montecarlo(run_dir, paths=500, seed=5)[0]
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert first["methods"][0]["statistics"] != other["methods"][0]["statistics"]


def test_trade_returns_are_pnl_over_equity_at_entry(run_dir: Path) -> None:
    sample = load_run(run_dir)
    trades = pd.read_csv(run_dir / "trades.csv")
    result = json.loads((run_dir / "result.json").read_text())
    curve = pd.Series(result["equity_curve"]["equity"],
                      index=pd.to_datetime(result["equity_curve"]["ts"], utc=True))
    first = trades.sort_values(["exit_ts", "entry_ts"]).iloc[0]
    at_entry = curve[curve.index <= pd.Timestamp(first["entry_ts"])].iloc[-1]
    assert sample.trade_returns[0] == pytest.approx(first["pnl"] / at_entry)
    assert len(sample.trade_returns) == len(trades) > 20


def test_shuffle_keeps_the_final_return_and_moves_the_drawdown() -> None:
    values = np.array([0.05, -0.10, 0.03, -0.02, 0.08, -0.04, 0.01])
    stats = simulate("shuffle", values, 3000, 1, annualization=50)
    np.testing.assert_allclose(stats.final_return, np.prod(1 + values) - 1, rtol=1e-12)
    assert stats.max_drawdown.min() < stats.max_drawdown.max()
    # the deepest order puts every loss together: -10 %, -4 %, -2 % in a row
    assert stats.max_drawdown.min() == pytest.approx(0.90 * 0.96 * 0.98 - 1)


def test_bootstrap_mean_matches_the_expected_compounded_return() -> None:
    values = np.array([0.02, -0.01, 0.015, -0.005, 0.01, -0.02, 0.03, 0.0])
    n, paths = len(values), 40_000
    stats = simulate("bootstrap", values, paths, 3, annualization=50)
    expected = (1 + values.mean()) ** n - 1      # i.i.d. draws: E[prod] = prod E
    stderr = stats.final_return.std() / math.sqrt(paths)
    assert abs(stats.final_return.mean() - expected) < 4 * stderr


def test_a_block_as_long_as_the_series_is_a_rotation() -> None:
    values = np.array([0.01, -0.03, 0.02, 0.04, -0.01, 0.005])
    stats = simulate("block", values, 200, 9, annualization=365, block_length=len(values))
    np.testing.assert_allclose(stats.final_return, np.prod(1 + values) - 1, rtol=1e-12)


def test_summaries_and_intervals() -> None:
    values = np.arange(1.0, 102.0)          # 1..101, median 51
    s = summarize(np.append(values, np.nan))
    assert (s["p50"], s["undefined"]) == (51.0, 1)
    assert s["median_ci_low"] < 51 < s["median_ci_high"]
    lo, hi = wilson(50, 100)
    assert (lo, hi) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert wilson(0, 100) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.0370, abs=1e-4))


def test_writes_the_tables_and_the_envelope(run_dir: Path, tmp_path: Path) -> None:
    content, table, paths = run_montecarlo(run_dir, paths=100, seed=1)
    write_montecarlo(tmp_path, content, table, paths)
    written = json.loads((tmp_path / "result.json").read_text())
    assert written["kind"] == "montecarlo" and written["summary"]["paths"] == 100
    assert list(pd.read_csv(tmp_path / "results.csv")["method"]) == ["bootstrap", "shuffle",
                                                                     "block"]
    assert len(pd.read_csv(tmp_path / "paths.csv")) == 300


# --- bad input -------------------------------------------------------------------------------


def test_zero_trades_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = backtest_folder(tmp_path / "flat", params={"fast": 2, "slow": 1500},
                             end="2024-01-20")
    with pytest.raises(ConfigError, match="closed no trades"):
        run_montecarlo(folder, paths=10)


@pytest.mark.parametrize("argv, message", [
    (["--paths", "0"], "--paths must be a whole number of at least 1"),
    (["--ruin", "1.5"], "--ruin must be a fraction"),
    (["--ruin", "0"], "--ruin must be a fraction"),
    (["--block-length", "0"], "--block-length must be at least 1"),
])
def test_bad_flags_exit_2_before_anything_starts(run_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], message: str) -> None:
    out = tmp_path / "mc"
    assert main(["montecarlo", str(run_dir), "--output", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_run_folders_exit_2(run_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["montecarlo", str(tmp_path / "nothing"), "--output", str(tmp_path / "a")]) == 2
    assert "no such result file" in capsys.readouterr().err
    flat = backtest_folder(tmp_path / "flat", params={"fast": 2, "slow": 1500},
                           end="2024-01-20")
    assert main(["montecarlo", str(flat), "--output", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "closed no trades" in err and str(flat) in err
    mc = tmp_path / "mc"
    assert main(["montecarlo", str(run_dir), "--paths", "20", "--output", str(mc)]) == 0
    capsys.readouterr()
    assert main(["montecarlo", str(mc), "--output", str(tmp_path / "c")]) == 2
    assert "field 'kind' is 'montecarlo', expected 'backtest'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_command_writes_table_json_and_report(run_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mc"
    assert main(["montecarlo", str(run_dir), "--paths", "300", "--seed", "2",
                 "--method", "bootstrap", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    content = json.loads((out / "result.json").read_text())
    p50 = content["methods"][0]["statistics"]["final_return"]["p50"]
    assert f"{p50:.1%}" in printed
    assert {"results.csv", "paths.csv", "result.json", "report.html"} <= {
        p.name for p in out.iterdir()}


def test_an_equity_curve_of_event_times_loads_and_renders(tmp_path: Path) -> None:
    # trades data with an equity point at every event: times with fractions of a second,
    # and one on a whole second (the curve's first point) as an event may fall
    folder = backtest_folder(tmp_path / "ticks", params={"fast": 20, "slow": 80},
                             data="synthetic:trades", end="2024-01-02", equity_interval="event")
    content = json.loads((folder / "result.json").read_text())
    times = content["equity_curve"]["ts"]
    assert times[0].startswith("2024-01-01T00:") and all("." in t for t in times)
    times[0] = times[0].split(".")[0] + "Z"        # the first point on its whole second
    (folder / "result.json").write_text(json.dumps(content))
    sample = load_run(folder)
    assert len(sample.trade_returns) > 10
    from engine.research.report import write_report

    assert "Plotly.newPlot" in write_report(folder).read_text()
