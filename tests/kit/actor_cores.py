"""Helpers for testing the actor cores without Ray: each core runs in a thread of this process
and they talk over real ZeroMQ sockets on 127.0.0.1, as the actors do across processes."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import zmq

from actors.coordinator.core import GraphData, GraphPlan, check_spec, load_streams, plan_graph
from actors.execution.core import ExecutionCore
from actors.feed.core import FeedCore
from actors.risk.core import AuditReport, RiskCore, RiskSetup
from actors.stream import Stream
from actors.worker.core import WorkerCore
from engine import bus
from engine.codec import decode
from engine.messages import MarketBatch, MarketSlice
from engine.result import BacktestResult

DEADLINE_S = 60.0


@contextmanager
def threads() -> Iterator[Callable[..., Future[Any]]]:
    """``start(fn, *args)`` runs ``fn`` in a thread and returns its future."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        yield pool.submit


def finishes(future: Future[Any], deadline_s: float = DEADLINE_S) -> Any:
    """The future's result (or its exception raised) within the deadline."""
    return future.result(timeout=deadline_s)


def trade_stream(first_ts: int, n: int, step: int = 10) -> Stream:
    """``n`` trades from ``first_ts``, one every ``step`` ns, prices walking up by one."""
    ts = np.arange(first_ts, first_ts + n * step, step, dtype=np.int64)
    return Stream("trade", 0, {"ts": ts, "price": 100.0 + np.arange(n, dtype=np.float64),
                               "size": np.ones(n), "side": np.zeros(n, dtype=np.int8),
                               "trade_id": np.arange(n, dtype=np.int64)})


class Subscriber:
    """A strategy worker's side of the feed protocol: subscribes to topics, receives numbered
    batches, acknowledges them."""

    def __init__(self, feed: FeedCore, topics: list[str]) -> None:
        self.feed = feed   # its streams are what a worker holds: the slices are rows of them
        self.sub = bus.connect(zmq.SUB, feed.pub_endpoint)
        for topic in topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.acks = bus.connect(zmq.PUSH, feed.ack_endpoint)

    def recv(self, timeout_s: float = DEADLINE_S) -> tuple[str, int, MarketBatch] | None:
        """(topic, batch number, batch), or None if nothing came within ``timeout_s``."""
        if not self.sub.poll(int(timeout_s * 1000), zmq.POLLIN):
            return None
        topic, number, frame = self.sub.recv_multipart()
        msg = decode(frame)
        assert type(msg) is MarketSlice, f"the feed sent a {type(msg).__name__}"
        stream = self.feed.streams[msg.symbol]
        columns = {k: v[msg.start:msg.stop] for k, v in stream.columns.items()}
        return topic.decode(), int.from_bytes(number, "little"), MarketBatch(
            msg.kind, msg.venue, msg.symbol, columns, interval_ns=msg.interval_ns)

    def ack(self, number: int) -> None:
        self.acks.send(number.to_bytes(8, "little"))

    def until_ends(self, n_streams: int) -> list[tuple[str, int, MarketBatch]]:
        """Receive and acknowledge every batch until ``n_streams`` streams have ended."""
        got = []
        while n_streams:
            item = self.recv()
            assert item is not None, "the feed stopped publishing"
            got.append(item)
            self.ack(item[1])
            n_streams -= len(item[2]) == 0
        return got

    def close(self) -> None:
        self.sub.close(0)
        self.acks.close(0)


class FakeFeed:
    """The feed's sockets without its logic: sends whatever frame a test gives it."""

    def __init__(self) -> None:
        self.pub, pub = bus.bind(zmq.XPUB, xpub_verbose=1)
        self.acks, ack = bus.bind(zmq.PULL)
        self.endpoints = {"pub": pub, "ack": ack}

    def await_subscription(self, topic: str, deadline_s: float = DEADLINE_S) -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.pub.poll(100, zmq.POLLIN) and self.pub.recv() == b"\x01" + topic.encode():
                return
        raise AssertionError(f"nobody subscribed to {topic!r}")

    def send(self, topic: str, number: int, frame: bytes) -> None:
        self.pub.send_multipart([topic.encode(), number.to_bytes(8, "little"), frame])

    def acked(self, deadline_s: float = DEADLINE_S) -> int | None:
        """The next acknowledged batch number, or None within the deadline."""
        if not self.acks.poll(int(deadline_s * 1000), zmq.POLLIN):
            return None
        return int.from_bytes(self.acks.recv(), "little")

    def close(self) -> None:
        self.pub.close(0)
        self.acks.close(0)


@dataclasses.dataclass
class GraphOutcome:
    """What each core of a graph run returned."""

    result: BacktestResult
    audit: AuditReport | None
    worker_events: list[int]
    feed_events: int | None


def run_graph_in_threads(plan: GraphPlan, data: GraphData) -> GraphOutcome:
    """Wire and run the cores of a planned graph as the coordinator actor does, one thread
    each."""
    config = plan.config
    execution = ExecutionCore(config, list(plan.pairs), plan.batch_ids)
    risk = RiskCore(RiskSetup.of(config)) if plan.risk else None
    feed = FeedCore(config.venue, batch_rows=plan.batch_rows) if plan.groups else None
    workers = [WorkerCore(list(group), config.venue) for group in plan.groups]
    cores: list[Any] = [c for c in (execution, risk, feed, *workers) if c is not None]
    try:
        execution.load(data.streams, data.info)
        execution.connect_risk(risk.endpoint if risk is not None else None)
        if feed is not None:
            feed.load({s: data.streams[s] for s in plan.fed_symbols})
            for worker, group in zip(workers, plan.groups):
                worker.load({pair.symbol: data.streams[pair.symbol] for pair in group})
                worker.connect(feed.endpoints(), execution.endpoint, data.kinds())
        with threads() as start:
            try:
                audit = start(risk.serve) if risk is not None else None
                result = start(execution.run)
                events = [start(worker.run) for worker in workers]
                published = None
                if feed is not None:
                    published = start(feed.run,
                                      dict(Counter(t for w in workers for t in w.topics())))
                return GraphOutcome(finishes(result),
                                    finishes(audit) if audit is not None else None,
                                    [finishes(e) for e in events],
                                    finishes(published) if published is not None else None)
            finally:
                for core in cores:   # after a failure, the others must not wait forever
                    core.stop()
    finally:
        execution.release()
        for core in cores:
            core.close()


def run_cores(config: Any, workers: int, batch_rows: int) -> GraphOutcome:
    """Run ``config`` on the actor graph's cores in threads (real ZeroMQ, no Ray)."""
    checked = check_spec(config, workers, batch_rows)
    data = load_streams(checked)
    plan = plan_graph(checked, workers, data.symbols, batch_rows)
    return run_graph_in_threads(plan, data)
