"""Clocks. The engine reads time only through a ``Clock``: simulated in backtests (advanced by
the event stream), wall time in paper and live trading. Nothing else calls ``time.time()``.
"""

from __future__ import annotations

import time


class Clock:
    """Source of the current time in int nanoseconds UTC."""

    def now_ns(self) -> int:
        raise NotImplementedError


class SimulatedClock(Clock):
    """Event-time clock of a backtest: set to each event's ``ts_event`` as it is processed."""

    __slots__ = ("ts",)

    def __init__(self, start_ns: int = 0) -> None:
        self.ts = int(start_ns)

    def now_ns(self) -> int:
        return self.ts

    def set(self, ts_ns: int) -> None:
        """Advance to ``ts_ns``; event time never moves backwards."""
        if ts_ns < self.ts:
            raise ValueError(f"simulated clock cannot go back from {self.ts} to {ts_ns}")
        self.ts = ts_ns


class LiveClock(Clock):
    """Wall-clock time, for paper and live trading."""

    def now_ns(self) -> int:
        return time.time_ns()


def perf_seconds() -> float:
    """A monotonic timer for measuring how long engine work takes (never for event time)."""
    return time.perf_counter()
