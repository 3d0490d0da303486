"""Faults the test switches on: HTTP 429/418, answers held past the client's timeout,
duplicated user-stream events, dropped and stalled websockets; and the counters a test reads
(requests seen, failed authentications)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Faults", "HttpFault", "HeldAnswer"]


@dataclass
class HttpFault:
    """Answer the next ``count`` matching requests with ``status`` (429 or 418)."""

    status: int
    count: int
    path: str | None = None
    retry_after: int = 1

    def matches(self, path: str) -> bool:
        return self.count > 0 and (self.path is None or self.path == path)


@dataclass
class HeldAnswer:
    """Handle the next ``count`` matching requests, then hold the answer ``seconds``."""

    method: str
    path: str
    seconds: float
    count: int = 1


@dataclass
class Faults:
    """The fault plan and the counters; read and changed on the server's loop."""

    http: list[HttpFault] = field(default_factory=list)
    held: list[HeldAnswer] = field(default_factory=list)
    duplicate_user_events: int = 0   # how many more executionReports to send twice
    stalled: set[str] = field(default_factory=set)  # "market" / "user": sockets kept silent
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    auth_failures: Counter[int] = field(default_factory=Counter)  # Binance code -> count

    def take_http(self, path: str) -> HttpFault | None:
        for fault in self.http:
            if fault.matches(path):
                fault.count -= 1
                return fault
        return None

    def take_hold(self, method: str, path: str) -> float | None:
        for held in self.held:
            if held.count > 0 and held.method == method and held.path == path:
                held.count -= 1
                return held.seconds
        return None

    def take_duplicate(self) -> bool:
        if self.duplicate_user_events > 0:
            self.duplicate_user_events -= 1
            return True
        return False
