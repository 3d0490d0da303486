"""A backtest run's metrics in the process that drives it (``raytrader backtest
--metrics-port``): its progress while it runs (from the progress callback the engine calls
every ~64,000 events), then its result's totals."""

from __future__ import annotations

import time
import uuid
from typing import Any

from engine.obs.metrics import RUN_SECONDS, Samples, add_collector, result_samples


class RunWatch:
    """Progress and result of one run, read at scrape time; ``progress`` is the callback
    to hand the run, ``finish`` takes its result."""

    def __init__(self, actor: str = "backtest", kind: str = "backtest") -> None:
        self.actor, self.kind = actor, kind
        self.run_id = uuid.uuid4().hex[:8]
        self.done = self.total = 0
        self.result: Any = None
        self.began = time.monotonic()
        add_collector(self.samples)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def finish(self, result: Any) -> None:
        self.result = result
        RUN_SECONDS.labels(kind=self.kind).observe(time.monotonic() - self.began)

    def samples(self, samples: Samples) -> None:
        samples.add("raytrader_run_info", 1.0, run_id=self.run_id, actor=self.actor,
                    kind=self.kind)
        if self.result is not None:
            result_samples(samples, self.result, self.actor)
            return
        samples.add("raytrader_events_total", self.done, actor=self.actor, direction="in")
        samples.add("raytrader_run_progress_ratio",
                    self.done / self.total if self.total else 0.0, actor=self.actor)


__all__ = ["RunWatch"]
