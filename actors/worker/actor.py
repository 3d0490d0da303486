"""The strategy worker actor: the Ray shell of ``WorkerCore``."""

from __future__ import annotations

import ray

from actors.shell import CoreShell
from actors.stream import Stream
from actors.worker.core import WorkerCore
from engine.plan import PairPlan
from engine.jit import start_numba


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class WorkerActor(CoreShell):
    def __init__(self, pairs: list[PairPlan], venue: str) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(pairs, venue)

    def reset(self, pairs: list[PairPlan], venue: str) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = WorkerCore(pairs, venue)

    def load(self, symbols: list[str], stream_refs: list[ray.ObjectRef[Stream]]) -> None:
        # zero-copy views of the arrays in the object store
        self.core.load(dict(zip(symbols, ray.get(stream_refs))))

    def connect(self, feed: dict[str, str], execution_endpoint: str,
                kinds: dict[str, str]) -> list[str]:
        """Subscribe to the feed and connect to execution; returns the topics subscribed."""
        self.core.connect(feed, execution_endpoint, kinds)
        return self.core.topics()

    def run(self) -> int:
        try:
            return self.core.run()
        finally:
            self.core.close()
            self.core.streams = {}   # let the object store free the data
