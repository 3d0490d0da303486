"""The strategy worker core: runs the batch paths of its (symbol, strategy) pairs on the
market-data batches it subscribes to, and pushes their intents to the execution core.

Each pair's strategy is built from its reference and parameters, started, and fed its
symbol's batches in order; every batch yields one ``IntentBatch`` per pair (possibly empty:
it still moves the pair's watermark, which lets the execution core go on in event time). A
batch path that raises faults its pair only: the fault, with its traceback, travels in the
pair's last ``IntentBatch`` and the other pairs go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import zmq

from actors.stream import Stream
from engine import bus, topics
from engine.errors import ConfigError, InvalidMessageError
from engine.intents import Intents, IntentUpdate, batch_intents, to_message
from engine.messages import MarketBatch, MarketSlice
from engine.plan import PairPlan
from engine.strategy import Strategy, load_strategy


class WorkerCore:
    """Hosts several pairs; one process, one thread, batch paths only."""

    def __init__(self, pairs: list[PairPlan], venue: str) -> None:
        self.pairs = pairs
        self.venue = venue
        self.strategies: dict[str, Strategy] = {}
        for plan in pairs:
            cls = load_strategy(plan.strategy_ref)
            if not cls.has_batch_path():
                raise ConfigError(f"strategy {plan.strategy_ref!r} has no batch path; it runs "
                                  f"in the execution actor")
            self.strategies[plan.strategy_id] = cls(plan.params)
        self.by_topic: dict[str, list[PairPlan]] = {}
        self.rows: dict[str, int] = {}
        self.streams: dict[str, Stream] = {}
        self.events = 0
        self.batches = 0
        self.watermark_ns: dict[str, int] = {}   # symbol -> event time of its last row done
        # called with each batch's compute time (the shell's latency histogram)
        self.on_batch: Callable[[float], None] | None = None
        self._stop = threading.Event()

    def load(self, streams: dict[str, Stream]) -> None:
        """The streams of this worker's symbols, by symbol: the feed's ``MarketSlice``
        batches are rows of them."""
        self.streams = streams

    def connect(self, feed: dict[str, str], execution_endpoint: str,
                kinds: dict[str, str]) -> None:
        """Subscribe to the feed's topics of this worker's symbols (``kinds``: symbol -> data
        kind); push intents to the execution core."""
        for plan in self.pairs:
            topic = topics.market_data(kinds[plan.symbol], self.venue, plan.symbol)
            self.by_topic.setdefault(topic, []).append(plan)
        self.rows = {t: 0 for t in self.by_topic}
        self.sub = bus.connect(zmq.SUB, feed["pub"])
        for topic in self.by_topic:
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.acks = bus.connect(zmq.PUSH, feed["ack"])
        self.out = bus.connect(zmq.PUSH, execution_endpoint)

    def topics(self) -> list[str]:
        return list(self.by_topic)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> int:
        """Start the strategies, process every batch until each stream ends; returns events."""
        for strategy in self.strategies.values():
            strategy.on_start()
        open_topics = set(self.by_topic)
        faulted: set[str] = set()
        while open_topics:
            if self._stop.is_set():
                raise InterruptedError("worker stopped")
            if not self.sub.poll(200, zmq.POLLIN):
                continue
            topic_b, number, frame = self.sub.recv_multipart(copy=False)
            topic = bytes(topic_b.buffer).decode()
            plans = self.by_topic.get(topic)
            if plans is None:
                continue      # a longer topic sharing the prefix: not ours
            batch = self._batch(bus.decode_from(frame.buffer, f"the feed ({topic})"), topic)
            start = self.rows[topic]
            n = len(batch)
            end_of_stream = n == 0
            began = time.perf_counter()
            for plan in plans:
                sid = plan.strategy_id
                if sid in faulted:
                    continue
                if end_of_stream:
                    update = IntentUpdate(sid, Intents.empty(), start - 1, done=True)
                else:
                    update = batch_intents(self.strategies[sid], sid, batch.kind, batch.symbol,
                                           batch.columns, batch.interval_ns, n, start)
                    update.done = update.fault is not None
                    if update.fault is not None:
                        faulted.add(sid)
                bus.send(self.out, to_message(update, plan.symbol))
            self.rows[topic] = start + n
            self.events += n
            self.batches += 1
            if n:
                self.watermark_ns[batch.symbol] = int(batch.columns["ts"][n - 1])
            if self.on_batch is not None:
                self.on_batch(time.perf_counter() - began)
            self.acks.send(bytes(number.buffer))
            if end_of_stream:
                open_topics.discard(topic)
        return self.events

    def _batch(self, msg: object, topic: str) -> MarketBatch:
        """The batch a feed frame carries: its rows, or (a ``MarketSlice``) rows of a stream
        this worker holds."""
        if type(msg) is MarketBatch:
            return msg
        if type(msg) is not MarketSlice:
            raise InvalidMessageError(f"worker expected MarketSlice or MarketBatch frames on "
                                      f"{topic!r}, got {type(msg).__name__}")
        stream = self.streams.get(msg.symbol)
        if stream is None:
            raise InvalidMessageError(f"the feed sent rows of {msg.symbol!r} on {topic!r}, "
                                      f"whose stream this worker does not hold (it holds "
                                      f"{sorted(self.streams) or 'none'})")
        if not 0 <= msg.start <= msg.stop <= len(stream) or msg.start != self.rows[topic]:
            raise InvalidMessageError(f"the feed sent rows {msg.start}-{msg.stop} of "
                                      f"{msg.symbol!r} on {topic!r}; the stream has "
                                      f"{len(stream)} rows and the next batch starts at row "
                                      f"{self.rows[topic]}")
        return MarketBatch(msg.kind, msg.venue, msg.symbol,
                           {k: v[msg.start:msg.stop] for k, v in stream.columns.items()},
                           interval_ns=msg.interval_ns)

    def close(self) -> None:
        for name in ("sub", "acks", "out"):
            sock = getattr(self, name, None)
            if sock is not None:
                sock.close(1000)
