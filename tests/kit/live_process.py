"""``raytrader live`` / ``raytrader paper`` as a real process against the test exchange: the
exchange config pointing at it, the keys in the environment, output to a log file."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.kit.fake_exchange.app import API_KEY, API_SECRET
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import FakeBinanceServer

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "pushing_market", "start_session", "wave"]


def wave(k: int) -> float:
    """A price wave around 30,000: 300 up and down over about 94 trades, a little noise."""
    return 30_000 + 300 * math.sin(k / 15) + (k % 7)


@contextmanager
def pushing_market(server: FakeBinanceServer, price: Callable[[int], float] = wave,
                   every: float = 0.01, delay: float = 0.0, book: bool = True,
                   qty: str = "0.5", spread: float = 0.01) -> Iterator[threading.Event]:
    """A public trade of ``BTCUSDT`` every ``every`` seconds at ``price(k)`` (after ``delay``
    seconds), with a book ``spread`` either side of it (a cent by default) when ``book``, for
    the block; yields the event that stops it early."""
    stop = threading.Event()

    def run() -> None:
        if delay and stop.wait(delay):
            return
        k = 0
        while not stop.is_set():
            p = price(k)
            if book:
                server.set_book("BTCUSDT", bid=f"{p - spread:.2f}", ask=f"{p + spread:.2f}")
            server.push_trade("BTCUSDT", f"{p:.2f}", qty)
            k += 1
            time.sleep(every)

    thread = threading.Thread(target=run, name="market", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(5)


def start_session(server: FakeBinanceServer, folder: Path, args: list[str], *,
                  command: str = "live", log: str = "session.log",
                  timeout_ms: int = 3000) -> subprocess.Popen:
    """Start ``raytrader <command> --exchange binance ...args`` in ``folder`` (its working
    directory), pointed at ``server``, stdout and stderr into ``folder / log``."""
    config = folder / "exchange.json"
    config.write_text(json.dumps({"options": SPOT_ONLY, "enableRateLimit": False,
                                  "timeout": timeout_ms, "rest_url": server.rest_url,
                                  "ws_url": server.ws_url}))
    env = {**os.environ, "BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET,
           "PYTHONPATH": str(ROOT)}
    out = open(folder / log, "w")   # noqa: SIM115 - the process writes it
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "engine.cli", command, "--exchange", "binance",
             "--exchange-config", str(config), *args],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()
