"""The execution actor: the Ray shell of ``ExecutionCore``."""

from __future__ import annotations

import os

import ray

from actors.shell import CoreShell
from actors.execution.core import ExecutionCore
from actors.stream import DataInfo, Stream
from engine.config import BacktestConfig
from engine.plan import PairPlan
from engine.result import BacktestResult
from engine.jit import start_numba


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class ExecutionActor(CoreShell):
    def __init__(self, config: BacktestConfig, plans: list[PairPlan],
                 batch_ids: frozenset[str]) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(config, plans, batch_ids)

    def reset(self, config: BacktestConfig, plans: list[PairPlan],
              batch_ids: frozenset[str]) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = ExecutionCore(config, plans, batch_ids, ray.util.get_node_ip_address())

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
                return result
            return self.core.run()
        finally:
            self.core.close()
            self.core.release()

    def progress(self) -> tuple[int, int]:
        return self.core.progress
