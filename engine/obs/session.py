"""A paper or live session's metrics: read from its engine, loop, feeds, exchange client and
executor when Prometheus scrapes (the session's event loop never counts anything for them)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engine.obs.metrics import Samples, engine_samples


def session_samples(samples: Samples, session: Any, actor: str, run_id: str,
                    kind: str) -> None:
    """Everything a running ``PaperSession`` / ``LiveSession`` shows (``kind``: paper, live)."""
    samples.add("raytrader_run_info", 1.0, run_id=run_id, actor=actor, kind=kind)
    loop = session.loop
    if loop is not None:
        events = loop.k + 1
        engine_samples(samples, loop.engine, actor, events,
                       now_s=time.time())
        if events <= 0:   # no data yet: no event time to lag behind
            samples.values.pop("raytrader_watermark_lag_seconds", None)
        else:
            last = getattr(session, "_last_message", 0.0)
            if last:   # the age of the last market message, on the monotonic clock
                samples.values.pop("raytrader_watermark_lag_seconds", None)
                samples.add("raytrader_watermark_lag_seconds",
                            max(time.monotonic() - last, 0.0), actor=actor)
    queue = getattr(session, "queue", None)
    if queue is not None:
        samples.add("raytrader_queue_depth", queue.qsize(), actor=actor, queue="market")
    exchange_id = session.spec.exchange_id
    reconnects = sum(f.stats.reconnects for f in list(session.feeds))
    samples.add("raytrader_feed_reconnects_total", reconnects, exchange=exchange_id)
    stats = getattr(session, "exchange_stats", None)
    if stats is not None:
        stats.samples(samples)
    executor = getattr(session, "executor", None)
    waited = getattr(getattr(executor, "budget", None), "waited", 0.0) if executor else 0.0
    samples.add("raytrader_rate_limit_wait_seconds_total", waited, exchange=exchange_id)


class SessionWatch:
    """A session's metrics and logs for as long as it runs: its collector registered, its
    run id and actor bound to the log lines; ``close()`` (the session's end) logs the
    outcome and unregisters the collector."""

    def __init__(self, session: Any, kind: str, run_id: str) -> None:
        from engine.obs import logs
        from engine.obs.metrics import add_collector

        self.session, self.kind, self.run_id = session, kind, run_id
        self.actor = f"{kind}:{session.spec.exchange_id}"
        self.began = time.monotonic()
        logs.bind(run_id=run_id, actor=self.actor)
        self.log = logs.get_logger(f"raytrader.{kind}", run_id=run_id, actor=self.actor)
        self.collector = add_collector(
            lambda samples: session_samples(samples, session, self.actor, run_id, kind))
        self.log.info("session started", exchange=session.spec.exchange_id,
                      symbols=list(session.symbols), feed=session.feed,
                      duration=session.duration)
        self._seen = 0
        self._faults = 0
        self._task: asyncio.Task[None] | None = None
        try:
            self._task = asyncio.get_running_loop().create_task(self._log_events())
        except RuntimeError:   # not inside the session's event loop: no event lines
            self._task = None

    async def _log_events(self) -> None:
        """Every second, a line for each new order event worth a human's eye (a denial, a
        rejection, a risk state change, the kill switch) and each strategy fault, bound to
        its strategy and symbol. Orders are rare next to market events: this reads the
        engine's lists, it never sits in the event path."""
        while True:
            await asyncio.sleep(1.0)
            self.log_new_events()

    def log_new_events(self) -> None:
        loop = self.session.loop
        if loop is None:
            return
        engine = loop.engine
        events = engine.order_events
        new = events[self._seen:]
        self._seen += len(new)
        for event in new:
            kind = type(event).__name__
            if kind == "OrderDenied":
                self.log.warning("order denied", strategy=event.strategy_id,
                                 symbol=event.symbol, order=event.client_order_id,
                                 reason=event.reason)
            elif kind == "OrderRejected":
                self.log.warning("order rejected", strategy=event.strategy_id,
                                 symbol=event.symbol, order=event.client_order_id,
                                 reason=event.reason)
            elif kind == "RiskEvent" and event.kind in ("state", "kill_switch", "margin_call",
                                                        "liquidation", "bankrupt"):
                level = "info" if event.state == "ACTIVE" else "warning"
                getattr(self.log, level)("risk " + event.kind, scope=event.scope,
                                         state=event.state, reason=event.reason)
        for fault in engine.faults[self._faults:]:
            self.log.error("strategy faulted", strategy=fault.strategy_id, hook=fault.hook,
                           error=fault.error)
        self._faults = len(engine.faults)

    def close(self, error: BaseException | None = None) -> None:
        from engine.obs.metrics import RUN_SECONDS, remove_collector

        if self._task is not None:
            self._task.cancel()
        self.log_new_events()
        seconds = time.monotonic() - self.began
        RUN_SECONDS.labels(kind=self.kind).observe(seconds)
        loop = self.session.loop
        events = loop.k + 1 if loop is not None else 0
        if error is None:
            self.log.info("session finished", events=events, seconds=round(seconds, 3))
        else:
            self.log.error("session failed", events=events, error=f"{type(error).__name__}: "
                                                                  f"{error}")
        remove_collector(self.collector)


__all__ = ["SessionWatch", "session_samples"]
