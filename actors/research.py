"""Research jobs on a Ray cluster: the runs of a sweep or a walk-forward fanned across worker
actors, with the same outcomes as in one process::

    from actors.research import RayEvaluator
    from engine.research.evaluate import job_frames
    from engine.research.search import build_spec
    from engine.research.sweep import run_sweep

    spec = build_spec(config, ["sma_cross.fast=5:100:5", "sma_cross.slow=50:540:10"])
    frames = job_frames(config)
    result = run_sweep(spec, frames=frames, evaluator=RayEvaluator(config, frames, workers=2))

The job's data goes into Ray's object store once; every worker maps it from there (zero-copy
numpy columns) when it starts, and then receives chunks of many runs per call, so a run costs
its backtest and nothing else. Outcomes are put back in run order, whatever worker finished
first. ``raytrader sweep --workers N`` and ``raytrader walkforward --workers N`` land in
:func:`run_research_from_cli` (the ``research`` entry point of ``raytrader.runners``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd
import ray

from actors.coordinator.core import GraphError
from actors.graph import ensure_ray
from actors.ray_session import exit_within_after_interrupt, stop_local_ray
from engine.config import BacktestConfig
from engine.research.evaluate import Evaluator, Outcome, Run, evaluate_runs

T = TypeVar("T")
MAX_CHUNK = 32     # runs per call: few enough that progress moves and workers share the tail
IN_FLIGHT = 2      # calls queued per worker, so it never waits for the driver between chunks


@ray.remote(num_cpus=1)
class ResearchWorker:
    """Backtests chunks of runs on the job's data (held since its start)."""

    def __init__(self, config: BacktestConfig, frames: Mapping[str, pd.DataFrame]) -> None:
        self.config = config
        self.frames = frames

    def evaluate(self, runs: Sequence[Run]) -> list[Outcome]:
        return evaluate_runs(self.config, self.frames, runs)

    def node_id(self) -> str:
        """The Ray node this worker runs on."""
        return str(ray.get_runtime_context().get_node_id())


class RayEvaluator:
    """An :class:`~engine.research.evaluate.Evaluator` over ``workers`` actors on the Ray this
    process is connected to. ``spread`` places them on as many nodes as it can."""

    def __init__(self, config: BacktestConfig, frames: Mapping[str, pd.DataFrame], workers: int,
                 *, spread: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"workers must be 1 or more, got {workers}")
        data = ray.put(dict(frames))     # once, whatever the number of workers and runs
        options: dict[str, Any] = {"max_restarts": 0}
        if spread:
            options["scheduling_strategy"] = "SPREAD"
        self.workers = [ResearchWorker.options(**options).remote(  # type: ignore[attr-defined]
            config, data) for _ in range(workers)]

    def __call__(self, runs: Sequence[Run],
                 done: Callable[[int], None] | None = None) -> list[Outcome]:
        if not runs:
            return []
        size = max(1, min(MAX_CHUNK, math.ceil(len(runs) / (len(self.workers) * 4))))
        chunks = [list(runs[k:k + size]) for k in range(0, len(runs), size)]
        results: list[list[Outcome] | None] = [None] * len(chunks)
        queue = iter(range(len(chunks)))
        pending: dict[Any, tuple[int, Any]] = {}

        def send(worker: Any) -> None:
            k = next(queue, None)
            if k is not None:
                pending[worker.evaluate.remote(chunks[k])] = (k, worker)

        try:
            for worker in self.workers:
                for _ in range(IN_FLIGHT):
                    send(worker)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in ready:
                    k, worker = pending.pop(ref)
                    try:
                        results[k] = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        raise GraphError(f"a research worker failed: {exc}") from None
                    if done is not None:
                        done(len(chunks[k]))
                    send(worker)
        except BaseException:
            self.close()     # Ctrl-C or a failure: nothing keeps running
            raise
        return [outcome for chunk in results for outcome in chunk or ()]

    def close(self) -> None:
        """Stop every worker actor."""
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []


def run_research_from_cli(job: Callable[[Evaluator], T], *, config: BacktestConfig,
                          frames: Mapping[str, pd.DataFrame], workers: int,
                          address: str | None = None) -> T:
    """Run ``job`` (a sweep or a walk-forward, given an evaluator) with ``workers`` worker
    actors on the Ray cluster at ``address``, or on a local Ray started here and stopped when
    the job ends, fails or is interrupted."""
    joined_here = not ray.is_initialized()
    with exit_within_after_interrupt(30.0):
        try:
            ensure_ray(address, num_cpus=None if address else max(workers, os.cpu_count() or 1),
                       what="--address")
            evaluator = RayEvaluator(config, frames, workers)
            try:
                return job(evaluator)
            finally:
                evaluator.close()
        finally:
            if joined_here:
                stop_local_ray()
