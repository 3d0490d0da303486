"""The strategy worker actor: the Ray shell of ``WorkerCore``."""

from __future__ import annotations

import ray

from actors.shell import CoreShell
from actors.stream import Stream
from actors.worker.core import WorkerCore
from engine.jit import start_numba
from engine.obs import metrics
from engine.obs.metrics import Samples
from engine.plan import PairPlan


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class WorkerActor(CoreShell):
    role = "worker"

    def __init__(self, pairs: list[PairPlan], venue: str) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(pairs, venue)
        self.observe()
        # (the module, not its histogram: Ray pickles this class, and a histogram holds a lock)
        self.core.on_batch = metrics.BATCH_SECONDS.labels(actor=self.actor).observe

    def reset(self, pairs: list[PairPlan], venue: str) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        previous = getattr(self, "core", None)
        self.core = WorkerCore(pairs, venue)
        if previous is not None:   # a warm actor: the histogram goes on
            self.core.on_batch = previous.on_batch

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
            events = self.core.run()
            self.log.info("worker finished", events=events, batches=self.core.batches,
                          pairs=[p.strategy_id for p in self.core.pairs])
            return events
        finally:
            self.core.close()
            self.core.streams = {}   # let the object store free the data

    def samples(self, samples: Samples) -> None:
        core = self.core
        samples.add("raytrader_events_total", core.events, actor=self.actor, direction="in")
        samples.add("raytrader_batches_total", core.batches, actor=self.actor, direction="in")
        for symbol, ts in list(core.watermark_ns.items()):
            samples.add("raytrader_watermark_timestamp_seconds", ts / 1e9, actor=self.actor,
                        symbol=symbol)
