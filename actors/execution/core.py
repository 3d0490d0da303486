"""The execution core: the simulated venue and the portfolio, driven in event-time order.

It pulls ``IntentBatch`` frames from the strategy workers, and runs
``BacktestEngine.run_batch`` over the market data (shared zero-copy through Ray's object
store) with those intents as its source: an event at time t is processed only once every
pair's watermark has passed t, so sizing, the risk actor's checks and fills see the
portfolio exactly as the single-process run does, whatever the number of workers. Strategies
without a batch path run their hooks here, in the same pass.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import zmq

from actors.risk.core import AuditedRisk, RiskSetup
from actors.stream import DataInfo, Stream
from engine import bus
from engine.backtesting import Feed
from engine.config import BacktestConfig
from engine.datasource import LoadedData
from engine.intents import IntentSource, IntentUpdate, from_message
from engine.messages import IntentBatch
from engine.plan import PairPlan
from engine.result import BacktestResult
from engine.run import assemble_result, build_engine


class ZmqIntentSource(IntentSource):
    """Intents pulled from the workers' PUSH sockets."""

    def __init__(self, sock: zmq.Socket, strategy_ids: frozenset[str],
                 stop: threading.Event) -> None:
        self.sock = sock
        self.strategy_ids = strategy_ids
        self._stop = stop
        self.frames = 0
        self.waited = 0.0   # seconds the pass spent blocked on intents not yet computed

    def poll(self, block: bool) -> list[IntentUpdate]:
        if block:
            t0 = time.perf_counter()
            try:
                return self._poll(block)
            finally:
                self.waited += time.perf_counter() - t0
        return self._poll(block)

    def _poll(self, block: bool) -> list[IntentUpdate]:
        out: list[IntentUpdate] = []
        while True:
            if self._stop.is_set():
                raise InterruptedError("execution stopped")
            timeout = 200 if block and not out else 0
            if not self.sock.poll(timeout, zmq.POLLIN):
                if block and not out:
                    continue
                return out
            msg = bus.recv(self.sock, "a strategy worker")
            if type(msg) is not IntentBatch:
                raise TypeError(f"execution expected IntentBatch frames, got "
                                f"{type(msg).__name__}")
            if msg.strategy_id not in self.strategy_ids:
                raise ValueError(f"IntentBatch from unknown strategy {msg.strategy_id!r}")
            self.frames += 1
            out.append(from_message(msg))


class ExecutionCore:
    """Venue, portfolio and the event-time pass of one backtest."""

    def __init__(self, config: BacktestConfig, plans: list[PairPlan],
                 batch_ids: frozenset[str], host: str = "127.0.0.1") -> None:
        self.config = config
        self.plans = plans
        self.batch_ids = batch_ids
        self.sock, self.endpoint = bus.bind(zmq.PULL, host)
        self.risk: AuditedRisk | None = None
        self._stop = threading.Event()
        self.progress = (0, 0)

    def load(self, streams: dict[str, Stream], info: DataInfo) -> None:
        """Build the venue, portfolio and contexts over the market data (streams by symbol)."""
        config = self.config
        feeds = []
        for symbol, stream in streams.items():
            frame = pd.DataFrame(stream.columns, copy=False)
            feed = Feed(symbol, stream.kind, frame, interval_ns=stream.interval_ns)
            feeds.append(feed)
        self.engine = build_engine(config, feeds, self.plans,
                                   market_history=info.market_history)
        self.loaded = LoadedData(feeds, info.source, info.reports, info.market_history)
        self.progress = (0, sum(len(s) for s in streams.values()))

    def connect_risk(self, endpoint: str | None) -> None:
        """Stream every risk decision to the risk actor at ``endpoint`` for audit."""
        if endpoint is not None:
            self.risk = self.engine.risk = AuditedRisk(RiskSetup.of(self.config), endpoint)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> BacktestResult:
        source = ZmqIntentSource(self.sock, self.batch_ids, self._stop)

        def progress(done: int, total: int) -> None:
            self.progress = (done, total)
            if self._stop.is_set():
                raise InterruptedError("execution stopped")

        t0 = time.perf_counter()
        try:
            self.engine.run_batch(progress, source=source)
        finally:
            if self.risk is not None:
                self.risk.finish()
        t1 = time.perf_counter()
        result = assemble_result(self.config, self.engine, self.loaded)
        result.timing["execution_pass_seconds"] = t1 - t0
        result.timing["execution_wait_seconds"] = source.waited
        result.timing["assemble_seconds"] = time.perf_counter() - t1
        return result

    def close(self) -> None:
        self.sock.close(0)

    def release(self) -> None:
        """Drop the run's engine and data (the object store can then free the columns)."""
        self.engine = None   # type: ignore[assignment]
        self.loaded = None   # type: ignore[assignment]
