"""The ZeroMQ data plane: sockets that carry msgpack frames made by ``engine.codec``.

Market data goes publisher to subscribers as ``[topic, frame]`` multipart messages (topics
from ``engine.topics``); intents, orders and events go one frame per message. Every socket
binds on the node's address with a free port and hands its endpoint to the control plane
(Ray), so the graph wires itself across nodes.

High-water marks are off (0): a backtest must never drop a message; flow control is explicit
(subscribers acknowledge batches, see ``actors/feed``).
"""

from __future__ import annotations

from typing import Any

import zmq

from engine.codec import decode, encode
from engine.errors import CodecError


def context() -> zmq.Context:
    """The process-wide ZeroMQ context."""
    return zmq.Context.instance()


def bind(kind: int, host: str = "127.0.0.1", **options: Any) -> tuple[zmq.Socket, str]:
    """A socket of ``kind`` bound on ``host`` at a free port, and its endpoint."""
    sock = context().socket(kind)
    _configure(sock, options)
    port = sock.bind_to_random_port(f"tcp://{host}")
    return sock, f"tcp://{host}:{port}"


def connect(kind: int, *endpoints: str, **options: Any) -> zmq.Socket:
    """A socket of ``kind`` connected to every endpoint."""
    sock = context().socket(kind)
    _configure(sock, options)
    for endpoint in endpoints:
        sock.connect(endpoint)
    return sock


def _configure(sock: zmq.Socket, options: dict[str, Any]) -> None:
    sock.setsockopt(zmq.LINGER, options.pop("linger", 1000))
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)


def send(sock: zmq.Socket, message: Any) -> None:
    """Send one message as one frame."""
    sock.send(encode(message), copy=False)


def recv(sock: zmq.Socket, source: str) -> Any:
    """Receive and decode one frame; a bad frame raises ``CodecError`` naming ``source``."""
    return decode_from(sock.recv(copy=False).buffer, source)


def decode_from(frame: bytes | memoryview, source: str) -> Any:
    """Decode one received frame; a bad frame raises ``CodecError`` naming ``source``."""
    try:
        return decode(frame)
    except CodecError as exc:
        raise type(exc)(f"from {source}: {exc}") from None
