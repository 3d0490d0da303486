"""Research jobs on Ray: the same sweep gives byte-identical ranked tables in one process and
on one and two worker actors (on a two-node ``ray.cluster_utils.Cluster`` too: that test is in
test_cluster.py, on its cluster); the same holds for a Bayesian search and a walk-forward. The
command line runs a sweep with ``--workers 2``, and Ctrl-C stops it cleanly without writing a
result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from actors.research import RayEvaluator  # noqa: E402
from engine.cli import main  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.research.evaluate import job_frames  # noqa: E402
from engine.research.search import build_spec  # noqa: E402
from engine.research.sweep import run_sweep  # noqa: E402
from tests.kit.research_jobs import CONFIG, job_tables, local_tables  # noqa: E402

pytestmark = pytest.mark.slow


def fresh_ray() -> None:
    """A Ray session of this module's own (two CPUs), whose workers import from this tree."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 dict.fromkeys([os.getcwd(), *[p for p in sys.path if p]]))}})


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One such session for the module's tests on a local Ray (none needs a fresh one: each
    stops the worker actors it started), made at the first of them and shut down after the
    module. The Ctrl-C tests, whose command lines start Ray of their own, come first in the
    file, so they run with no other Ray on the machine, as before."""
    fresh_ray()
    try:
        yield
    finally:
        ray.shutdown()


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


def test_one_process_one_and_two_workers_give_identical_tables(tmp_path: Path,
                                                               local_ray: None) -> None:
    tables = job_tables(tmp_path, {
        "1 worker": lambda frames: RayEvaluator(CONFIG, frames, 1),
        "2 workers": lambda frames: RayEvaluator(CONFIG, frames, 2)})
    for job, by_path in tables.items():
        reference = local_tables()[job]   # in this process
        assert reference.count(b"\n") > 10, job
        for name, got in by_path.items():
            assert got == reference, (job, name)


@needs_runner
def test_the_command_line_sweeps_on_two_workers_like_in_process(
        tmp_path: Path, local_ray: None, capsys: pytest.CaptureFixture[str]) -> None:
    # in this process, --workers 2 on the module's Ray (the command line leaves a Ray it did
    # not start running); the Ctrl-C tests above run both as real subprocesses
    for workers in ("0", "2"):
        code = main([*SWEEP[3:], "--workers", workers, "--output", str(tmp_path / workers)])
        assert code == 0, capsys.readouterr().err
    assert (tmp_path / "0" / "results.csv").read_bytes() == \
        (tmp_path / "2" / "results.csv").read_bytes()


def test_a_worker_that_dies_fails_the_job_and_stops_the_others(local_ray: None) -> None:
    from actors.coordinator.core import GraphError

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
