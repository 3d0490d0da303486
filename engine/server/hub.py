"""The websocket channels: messages published from any thread reach every connection
subscribed to their channel.

A connection subscribes by sending ``{"subscribe": ["prices", "orders"]}`` (and
``{"unsubscribe": [...]}``); every message it receives is ``{"channel": ..., "data": ...,
"ts": <unix seconds>}``. A slow connection loses its oldest messages rather than holding up
the others (its queue is bounded; a ``{"channel": "hub", "data": {"dropped": n}}`` says so).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

CHANNELS = ("prices", "orders", "trades", "signals", "risk", "alerts", "agent", "backtests")
QUEUE_SIZE = 1000


class Subscriber:
    """One websocket connection's queue and channels."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.channels: set[str] = set()
        self.dropped = 0

    def offer(self, message: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)


class Hub:
    """Channels and their subscribers; ``publish`` is safe from any thread."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self.published = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop, where deliveries happen."""
        self.loop = loop

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        with self._lock:
            self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self.subscribers.discard(sub)

    def publish(self, channel: str, data: Any) -> None:
        """Send ``data`` to the subscribers of ``channel`` (from any thread)."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; channels: {', '.join(CHANNELS)}")
        message = {"channel": channel, "data": data, "ts": time.time()}
        self.published += 1
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(message)
        else:
            loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: dict[str, Any]) -> None:
        with self._lock:
            subs = [s for s in self.subscribers if message["channel"] in s.channels]
        for sub in subs:
            sub.offer(message)


__all__ = ["CHANNELS", "Hub", "Subscriber"]
