"""The risk core: the portfolio-level pre-trade checks (``engine.risk.RiskEngine``) served
over a ZeroMQ REP socket.

A request is a multipart message: ``[Valuation, SubmitOrder, *events]`` (each one codec
frame); the events are what happened since the previous request, in order: orders approved
earlier (``SubmitOrder``) and venue events (fills, cancels, rejections), which keep the risk
view of positions and working orders current. The reply is one frame: empty when the order
may go, else the denial reason (UTF-8). An empty request ends the loop.
"""

from __future__ import annotations

import threading
from typing import Any

import zmq

from engine import bus
from engine.codec import decode, encode
from engine.errors import InvalidMessageError
from engine.messages import SubmitOrder, Valuation
from engine.risk import RiskEngine, RiskLimits


class RiskCore:
    """Answers risk checks in the order they come (the caller sends them in event time)."""

    def __init__(self, limits: RiskLimits, host: str = "127.0.0.1") -> None:
        self.engine = RiskEngine(limits)
        self.sock, self.endpoint = bus.bind(zmq.REP, host)
        self.checks = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def serve(self) -> dict[str, int]:
        """Serve until an empty request; returns counts of checks and denials."""
        while True:
            if self._stop.is_set():
                raise InterruptedError("risk stopped")
            if not self.sock.poll(200, zmq.POLLIN):
                continue
            frames = self.sock.recv_multipart()
            if frames == [b""]:
                self.sock.send(b"")
                return {"checks": self.checks, "denied": self.engine.n_denied}
            self.sock.send(self.handle(frames).encode())

    def handle(self, frames: list[bytes]) -> str:
        """One check: apply the events, then check the order. Returns '' or the reason."""
        if len(frames) < 2:
            raise InvalidMessageError(f"risk request has {len(frames)} frames, expected at "
                                      f"least 2 (Valuation, SubmitOrder)")
        valuation, cmd = decode(frames[0]), decode(frames[1])
        if type(valuation) is not Valuation or type(cmd) is not SubmitOrder:
            raise InvalidMessageError(f"risk request must start with Valuation and "
                                      f"SubmitOrder, got {type(valuation).__name__} and "
                                      f"{type(cmd).__name__}")
        for frame in frames[2:]:
            event = decode(frame)
            if type(event) is SubmitOrder:
                self.engine.on_approved(event)
            else:
                self.engine.on_event(event)
        self.checks += 1
        marks = dict(zip(valuation.symbols, valuation.marks))
        return self.engine.check(cmd, valuation.equity, marks) or ""

    def close(self) -> None:
        self.sock.close(0)


class RiskClient:
    """What the execution core calls instead of a local ``RiskEngine``: same methods, the
    decision made by the risk actor. Events are batched into the next check."""

    def __init__(self, endpoint: str, timeout_s: float = 120.0) -> None:
        self.sock = bus.connect(zmq.REQ, endpoint)
        self.endpoint = endpoint
        self.timeout_ms = int(timeout_s * 1000)
        self._pending: list[bytes] = []

    def on_approved(self, cmd: SubmitOrder) -> None:
        self._pending.append(encode(cmd))

    def on_event(self, event: Any) -> None:
        if type(event).__name__ in ("OrderFilled", "OrderCanceled", "OrderRejected"):
            self._pending.append(encode(event))

    def check(self, cmd: SubmitOrder, equity: float, marks: dict[str, float]) -> str | None:
        symbols = tuple(sorted(marks))
        valuation = Valuation(cmd.ts_event, float(equity), symbols,
                              tuple(float(marks[s]) for s in symbols))
        self.sock.send_multipart([encode(valuation), encode(cmd), *self._pending])
        self._pending = []
        if not self.sock.poll(self.timeout_ms, zmq.POLLIN):
            raise TimeoutError(f"risk actor at {self.endpoint} did not answer within "
                               f"{self.timeout_ms / 1000:g}s")
        reason = self.sock.recv().decode()
        return reason or None

    def finish(self) -> None:
        self.sock.send(b"")
        if self.sock.poll(self.timeout_ms, zmq.POLLIN):
            self.sock.recv()
        self.sock.close(0)
