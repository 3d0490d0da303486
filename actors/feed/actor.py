"""The feed actor: the Ray shell of ``FeedCore``."""

from __future__ import annotations

import ray

from actors.shell import CoreShell
from actors.feed.core import FeedCore
from actors.stream import Stream
from engine.obs.metrics import Samples


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class FeedActor(CoreShell):
    role = "feed"

    def __init__(self, venue: str, batch_rows: int) -> None:
        self.reset(venue, batch_rows)
        self.observe()

    def reset(self, venue: str, batch_rows: int) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = FeedCore(venue, ray.util.get_node_ip_address(), batch_rows)

    def load(self, symbols: list[str], stream_refs: list[ray.ObjectRef[Stream]]) -> None:
        # zero-copy views of the arrays in the object store
        self.core.load(dict(zip(symbols, ray.get(stream_refs))))

    def endpoints(self) -> dict[str, str]:
        return self.core.endpoints()

    def run(self, subscribers: dict[str, int]) -> int:
        try:
            events = self.core.run(subscribers)
            self.log.info("feed finished", events=events, batches=self.core.batches_published)
            return events
        finally:
            self.core.close()
            self.core.streams = {}   # let the object store free the data

    def samples(self, samples: Samples) -> None:
        core = self.core
        samples.add("raytrader_events_total", core.events_published, actor=self.actor,
                    direction="out")
        samples.add("raytrader_batches_total", core.batches_published, actor=self.actor,
                    direction="out")
        samples.add("raytrader_queue_depth", core.in_flight, actor=self.actor,
                    queue="unacknowledged_batches")
