"""The control API on a real uvicorn server on 127.0.0.1, started and stopped by a test, and
the helpers to call it over HTTP and its websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from engine.server.app import create_app
from engine.server.settings import ServerSettings

TOKEN = "test-token-0123456789abcdef"


@dataclass
class RunningApi:
    url: str
    ws_url: str
    token: str | None
    app: Any

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def state(self) -> Any:
        return self.app.state.raytrader


@contextlib.contextmanager
def running_api(tmp: Path, *, token: str | None = TOKEN, rate: float = 200.0,
                burst: float = 400.0, webhook_url: str | None = None,
                catalog: Path | None = None,
                protect_reads: bool = False) -> Iterator[RunningApi]:
    """``create_app`` served by uvicorn on 127.0.0.1 (a free port) in a thread, for the
    block; the server and its lifespan are shut down on the way out."""
    settings = ServerSettings(host="127.0.0.1", port=0, token=token, rate=rate, burst=burst,
                              catalog=str(catalog or tmp / "catalog"),
                              state_dir=tmp / "state", webhook_url=webhook_url,
                              protect_reads=protect_reads)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                            lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningApi(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", token, app)
    finally:
        server.should_exit = True
        thread.join(30)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.05,
             what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def watch_websocket(ws_url: str, channels: list[str], until: Callable[[dict[str, Any]], bool],
                    timeout: float = 60.0,
                    on_subscribed: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Subscribe to ``channels`` and collect messages until ``until(message)``; runs
    ``on_subscribed`` (in a thread) once the server confirmed the subscription."""
    import websockets

    async def main() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"subscribe": channels}))
            async with asyncio.timeout(timeout):
                while True:
                    message = json.loads(await ws.recv())
                    seen.append(message)
                    if message["channel"] == "hub" and "subscribed" in message["data"]:
                        if on_subscribed is not None:
                            await asyncio.to_thread(on_subscribed)
                        continue
                    if until(message):
                        return seen

    return asyncio.run(main())
