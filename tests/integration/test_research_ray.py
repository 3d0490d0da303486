"""Research jobs on Ray: the same sweep gives byte-identical ranked tables in one process, on
one and two worker actors, and on a two-node ``ray.cluster_utils.Cluster``; the same holds for
a Bayesian search and a walk-forward. The command line runs a sweep with ``--workers 2``, and
Ctrl-C stops it cleanly without writing a result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from actors.research import RayEvaluator  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.research.evaluate import job_frames  # noqa: E402
from engine.research.search import build_spec  # noqa: E402
from engine.research.sweep import run_sweep, write_table  # noqa: E402
from engine.research.walkforward import walk_forward  # noqa: E402
from tests.kit.cluster import two_node_cluster  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = BacktestConfig.from_dict({
    "symbols": ["BTC/USDT", "ETH/USDT"], "start": "2024-01-01", "end": "2024-03-01",
    "fee_bps": 10, "strategies": [{"strategy": "sma_cross", "params": {}},
                                  {"strategy": "momentum", "params": {}}]})
RANGES = ["sma_cross.fast=5:30:5", "sma_cross.slow=20:60:10", "momentum.lookback=12:60:12"]


def table_bytes(result: Any, folder: Path) -> bytes:
    path = folder / f"{id(result)}.csv"
    write_table(result.table, path)
    return path.read_bytes()


def ray_paths(tmp_path: Path, evaluators: dict[str, Any]) -> dict[str, dict[str, bytes]]:
    """Each job's table for each evaluator."""
    frames = job_frames(CONFIG)
    grid = build_spec(CONFIG, RANGES)
    bayes = build_spec(CONFIG, RANGES, search="bayes", trials=12, seed=5)
    out: dict[str, dict[str, bytes]] = {"grid": {}, "bayes": {}, "walkforward": {}}
    for name, make in evaluators.items():
        evaluator = make(frames)
        try:
            out["grid"][name] = table_bytes(run_sweep(grid, frames=frames, evaluator=evaluator),
                                            tmp_path)
            out["bayes"][name] = table_bytes(run_sweep(bayes, frames=frames,
                                                       evaluator=evaluator), tmp_path)
            out["walkforward"][name] = table_bytes(walk_forward(
                grid, train="30d", test="10d", frames=frames, evaluator=evaluator), tmp_path)
        finally:
            if hasattr(evaluator, "close"):
                evaluator.close()
    return out


def fresh_ray() -> None:
    """A Ray session of this test's own (two CPUs), whose workers import from this tree."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 dict.fromkeys([os.getcwd(), *[p for p in sys.path if p]]))}})


def test_one_process_one_and_two_workers_give_identical_tables(tmp_path: Path) -> None:
    fresh_ray()
    try:
        tables = ray_paths(tmp_path, {
            "local": lambda frames: None,
            "1 worker": lambda frames: RayEvaluator(CONFIG, frames, 1),
            "2 workers": lambda frames: RayEvaluator(CONFIG, frames, 2)})
    finally:
        ray.shutdown()
    for job, by_path in tables.items():
        reference = by_path["local"]
        assert reference.count(b"\n") > 10, job
        for name, got in by_path.items():
            assert got == reference, (job, name)


def test_a_two_node_cluster_gives_the_same_tables(tmp_path: Path) -> None:
    with two_node_cluster():
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        probe = RayEvaluator(CONFIG, job_frames(CONFIG), 2, spread=True)
        nodes = set(ray.get([w.node_id.remote() for w in probe.workers]))
        probe.close()
        assert len(nodes) == 2
        tables = ray_paths(tmp_path, {
            "local": lambda frames: None,
            "cluster": lambda frames: RayEvaluator(CONFIG, frames, 2, spread=True)})
    for job, by_path in tables.items():
        assert by_path["cluster"] == by_path["local"], job


def research_runner_installed() -> bool:
    return any(ep.name == "research"
               for ep in metadata.entry_points(group="raytrader.runners"))


needs_runner = pytest.mark.skipif(
    not research_runner_installed(),
    reason="the 'research' runner entry point is not registered: reinstall raytrader "
           "(pip install -e .) after pulling pyproject.toml")

SWEEP = [sys.executable, "-m", "engine.cli", "sweep", "--strategy", "sma_cross",
         "--range", "sma_cross.fast=5:30:5", "--range", "sma_cross.slow=40:80:20",
         "--start", "2024-01-01", "--end", "2024-03-01", "--quiet"]


@needs_runner
def test_the_command_line_sweeps_on_two_workers_like_in_process(tmp_path: Path) -> None:
    for workers in ("0", "2"):
        proc = subprocess.run([*SWEEP, "--workers", workers, "--output",
                               str(tmp_path / workers)], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "0" / "results.csv").read_bytes() == \
        (tmp_path / "2" / "results.csv").read_bytes()


def runs_done(log: Path) -> int:
    """The most runs the progress bar in ``log`` has shown done."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace"))
    counts = re.findall(r"(\d+)/\d+ backtests", text)
    return max((int(c) for c in counts), default=0)


@needs_runner
@pytest.mark.parametrize("workers", ["0", "2"])
def test_ctrl_c_stops_a_sweep_without_writing_results(tmp_path: Path, workers: str) -> None:
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    # a grid long enough to be mid-way when the interrupt comes; the progress bar (forced on
    # a pipe) says when runs are being done
    args = [*SWEEP[:7], "sma_cross.fast=5:100:1", "--range", "sma_cross.slow=101:400:1",
            *SWEEP[10:-1], "--workers", workers, "--output", str(out)]
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "200"})
        try:
            deadline = time.monotonic() + 120
            while runs_done(log) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert proc.poll() is None and runs_done(log) >= 2, log.read_text()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, log.read_text()
    assert "interrupted" in log.read_text()
    assert not out.exists()


def test_a_worker_that_dies_fails_the_job_and_stops_the_others() -> None:
    from actors.coordinator.core import GraphError

    fresh_ray()
    try:
        ref = "tests.kit.strategies:SlowBatch"
        config = BacktestConfig.from_dict({"strategy": ref, "start": "2024-01-01",
                                           "end": "2024-01-10", "params": {"delay_s": 0.3}})
        spec = build_spec(config, [f"{ref}.fast=2:20:1"])
        frames = job_frames(config)
        evaluator = RayEvaluator(config, frames, 2)
        victim = evaluator.workers[0]
        started: list[int] = []

        def kill_once_running(done: int, total: int) -> None:
            started.append(done)
            if len(started) == 1:
                ray.kill(victim)

        with pytest.raises(GraphError, match="a research worker failed"):
            run_sweep(spec, frames=frames, evaluator=evaluator, progress=kill_once_running)
        assert evaluator.workers == []      # the survivors were stopped too
        assert started and started[-1] < 19
    finally:
        ray.shutdown()
