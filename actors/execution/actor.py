"""The execution actor: the Ray shell of ``ExecutionCore``."""

from __future__ import annotations

import os

import ray

from actors.shell import CoreShell
from actors.execution.core import ExecutionCore
from actors.stream import DataInfo, Stream
from engine.config import BacktestConfig
from engine.obs.metrics import Samples, result_samples
from engine.plan import PairPlan
from engine.result import BacktestResult
from engine.jit import start_numba


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class ExecutionActor(CoreShell):
    role = "execution"

    def __init__(self, config: BacktestConfig, plans: list[PairPlan],
                 batch_ids: frozenset[str]) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(config, plans, batch_ids)
        self.observe()

    def reset(self, config: BacktestConfig, plans: list[PairPlan],
              batch_ids: frozenset[str]) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = ExecutionCore(config, plans, batch_ids, ray.util.get_node_ip_address())
        self.finished: BacktestResult | None = None   # the run's result, for the metrics

    def load(self, symbols: list[str], stream_refs: list[ray.ObjectRef[Stream]],
             info: DataInfo) -> None:
        # zero-copy views of the arrays in the object store
        self.core.load(dict(zip(symbols, ray.get(stream_refs))), info)

    def endpoint(self) -> str:
        return self.core.endpoint

    def run(self, risk_endpoint: str | None = None) -> BacktestResult:
        self.core.connect_risk(risk_endpoint)
        profile_to = os.environ.get("RAYTRADER_PROFILE_EXECUTION")
        try:
            if profile_to:   # a cProfile of the event-time pass, for benchmarks/throughput.py
                import cProfile
                profiler = cProfile.Profile()
                result = profiler.runcall(self.core.run)
                profiler.dump_stats(profile_to)
            else:
                result = self.core.run()
            self.finished = result
            self.log.info("execution finished", events=result.metrics.get("events"),
                          fills=len(result.fills), trades=len(result.trades),
                          denied=result.metrics.get("n_denied"),
                          final_equity=result.metrics.get("final_equity"))
            return result
        finally:
            self.core.close()
            self.core.release()

    def progress(self) -> tuple[int, int]:
        return self.core.progress

    def samples(self, samples: Samples) -> None:
        if self.finished is not None:
            result_samples(samples, self.finished, self.actor)
            return
        done, total = self.core.progress
        samples.add("raytrader_events_total", done, actor=self.actor, direction="in")
        samples.add("raytrader_run_progress_ratio", done / total if total else 0.0,
                    actor=self.actor)
