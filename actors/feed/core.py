"""The feed core: replays historical streams as market-data batches on a ZeroMQ publisher.

Every symbol's stream is cut into batches of ``batch_rows`` events (the same cut whatever the
worker count) and published on its topic (``engine.topics.market_data``), in event-time order
of each batch's first event, so every symbol advances together. An empty batch ends a stream.
A batch travels as a ``MarketSlice``, its rows of the stream: the subscribers hold the streams
already (zero-copy views of Ray's object store), so the data is never copied through the
sockets, only paced and numbered.

Delivery is lossless: the publisher is an XPUB socket, and publishing starts only once every
expected subscription has arrived (no slow-joiner loss); subscribers acknowledge each batch on
a PULL socket and the feed keeps at most ``window`` batches ahead of the slowest, which bounds
memory.
"""

from __future__ import annotations

import threading

import numpy as np
import zmq

from actors.stream import Stream
from engine import bus, topics
from engine.codec import encode
from engine.errors import ConfigError
from engine.messages import MarketSlice


class FeedCore:
    """Publishes the streams of several symbols."""

    def __init__(self, venue: str = "SIM", host: str = "127.0.0.1", batch_rows: int = 65_536,
                 window: int = 8) -> None:
        if batch_rows < 1:
            raise ConfigError(f"batch_rows must be positive, got {batch_rows}")
        self.streams: dict[str, Stream] = {}
        self.venue = venue
        self.batch_rows = batch_rows
        self.window = window
        self.pub, self.pub_endpoint = bus.bind(zmq.XPUB, host, xpub_verbose=1)
        self.acks, self.ack_endpoint = bus.bind(zmq.PULL, host)
        self.events_published = 0
        self.batches_published = 0
        self.in_flight = 0   # batches published and not yet acknowledged by every subscriber
        self._stop = threading.Event()

    def load(self, streams: dict[str, Stream]) -> None:
        """The streams to publish, by symbol."""
        self.streams = streams

    def endpoints(self) -> dict[str, str]:
        return {"pub": self.pub_endpoint, "ack": self.ack_endpoint}

    def topic(self, symbol: str) -> str:
        return topics.market_data(self.streams[symbol].kind, self.venue, symbol)

    def stop(self) -> None:
        self._stop.set()

    def run(self, subscribers: dict[str, int], timeout_s: float = 60.0) -> int:
        """Wait for ``subscribers`` (topic -> how many subscribe to it), then publish every
        stream. Returns the number of events published."""
        self._await_subscriptions(dict(subscribers), timeout_s)
        n_subs = {t: n for t, n in subscribers.items() if n}
        plan = self._plan()
        acked: dict[int, int] = {}   # batch number -> acknowledgements so far
        expected: list[int] = []     # acknowledgements each batch needs
        oldest = 0                   # first batch not yet fully acknowledged
        for number, (symbol, lo, hi) in enumerate(plan):
            topic = self.topic(symbol)
            while number - oldest >= self.window:
                oldest = self._take_acks(acked, expected, oldest, block=True)
            stream = self.streams[symbol]
            batch = MarketSlice(stream.kind, self.venue, symbol, lo, hi, stream.interval_ns)
            # [topic, batch number, batch]: subscribers acknowledge by number
            self.pub.send_multipart([topic.encode(), number.to_bytes(8, "little"),
                                     encode(batch)])
            expected.append(n_subs.get(topic, 0))
            self.events_published += hi - lo
            self.batches_published += 1
            oldest = self._take_acks(acked, expected, oldest, block=False)
            self.in_flight = number + 1 - oldest
        while oldest < len(expected):
            oldest = self._take_acks(acked, expected, oldest, block=True)
            self.in_flight = len(expected) - oldest
        return self.events_published

    def _plan(self) -> list[tuple[str, int, int]]:
        """(symbol, first row, end row) of every batch, ends of streams included (empty)."""
        parts = []
        for order, (symbol, stream) in enumerate(self.streams.items()):
            ts = stream.columns["ts"]
            n = len(ts)
            for lo in range(0, n, self.batch_rows):
                parts.append((int(ts[lo]), order, symbol, lo, min(lo + self.batch_rows, n)))
            parts.append((np.iinfo(np.int64).max, order, symbol, n, n))
        parts.sort()
        return [(symbol, lo, hi) for _, _, symbol, lo, hi in parts]

    def _take_acks(self, acked: dict[int, int], expected: list[int], oldest: int,
                   block: bool) -> int:
        while True:
            while oldest < len(expected) and acked.get(oldest, 0) >= expected[oldest]:
                acked.pop(oldest, None)
                oldest += 1
            if self._stop.is_set():
                raise InterruptedError("feed stopped")
            timeout = 200 if block and oldest < len(expected) else 0
            if not self.acks.poll(timeout, zmq.POLLIN):
                if block and oldest < len(expected):
                    continue
                return oldest
            number = int.from_bytes(self.acks.recv(), "little")
            acked[number] = acked.get(number, 0) + 1

    def _await_subscriptions(self, pending: dict[str, int], timeout_s: float) -> None:
        remaining = int(timeout_s * 1000)
        while any(n > 0 for n in pending.values()):
            if self._stop.is_set():
                raise InterruptedError("feed stopped")
            if remaining <= 0:
                missing = {t: n for t, n in pending.items() if n > 0}
                raise TimeoutError(f"feed: subscribers missing after {timeout_s:g}s: {missing}")
            if self.pub.poll(100, zmq.POLLIN):
                msg = self.pub.recv()
                if msg[:1] == b"\x01":
                    topic = msg[1:].decode()
                    if topic in pending:
                        pending[topic] -= 1
            remaining -= 100

    def close(self) -> None:
        self.pub.close(0)
        self.acks.close(0)
