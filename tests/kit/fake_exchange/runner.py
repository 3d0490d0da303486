"""``running_fake_binance()``: the fake exchange on 127.0.0.1, on a free port, served from a
background thread with its own event loop, so sync tests (and tests running their own
``asyncio.run``) can drive it. Every control runs on the server's loop and returns its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web

from tests.kit.fake_exchange.app import API_KEY, API_SECRET, FakeBinance
from tests.kit.fake_exchange.faults import HeldAnswer, HttpFault
from tests.kit.fake_exchange.state import Fill, Order, PublicTrade

__all__ = ["running_fake_binance", "FakeBinanceServer", "wait_until", "async_wait_until"]

T = TypeVar("T")
CALL_TIMEOUT = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0,
               what: str = "condition") -> None:
    """Poll ``predicate`` until true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


async def async_wait_until(predicate: Callable[[], bool], timeout: float = 5.0,
                           what: str = "condition") -> None:
    """:func:`wait_until` for a coroutine: yields to its loop between polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class FakeBinanceServer:
    """The running fake exchange as a test sees it: URLs, credentials, market controls,
    state queries and fault controls. Thread-safe: each call hops onto the server's loop."""

    def __init__(self, exchange: FakeBinance, loop: asyncio.AbstractEventLoop, port: int):
        self.exchange = exchange
        self.loop = loop
        self.port = port
        self.rest_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.api_key = API_KEY
        self.secret = API_SECRET

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's loop and return what it returns (or raise what it raises)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(CALL_TIMEOUT)

    # -- the market --------------------------------------------------------------------------

    def push_trade(self, symbol: str, price: object, qty: object, **kwargs: Any) -> PublicTrade:
        """A public trade (see ExchangeState.push_trade: time_ms, buyer_is_maker, cap_fills)."""
        return self.call(self.exchange.state.push_trade, symbol, price, qty, **kwargs)

    def set_book(self, symbol: str, bid: object = None, ask: object = None,
                 **kwargs: Any) -> None:
        """Replace the book (bid/ask with bid_qty/ask_qty, or bids=/asks= level lists)."""
        self.call(self.exchange.state.set_book, symbol, bid, ask, **kwargs)

    def fill_order(self, order_id: int | str, qty: object = None,
                   price: object = None) -> Order:
        """Fill an open order now, all of it or ``qty`` (a partial fill)."""
        return self.call(self.exchange.state.fill_order, int(order_id), qty, price)

    def set_balance(self, asset: str, free: object, account: str = "main") -> None:
        self.call(self.exchange.state.set_balance, account, asset, free)

    def add_account(self, account: str, api_key: str, secret: str,
                    balances: dict[str, object] | None = None) -> None:
        self.call(self.exchange.state.add_account, account, api_key, secret, balances)

    # -- state -------------------------------------------------------------------------------

    def orders(self) -> list[Order]:
        return self.call(lambda: list(self.exchange.state.orders.values()))

    def order(self, client_order_id: str) -> Order:
        return self.call(lambda: next(o for o in self.exchange.state.orders.values()
                                      if o.client_order_id == client_order_id))

    def my_fills(self, symbol: str, account: str = "main") -> list[Fill]:
        return self.call(self.exchange.state.my_trades, account, symbol)

    def balance(self, asset: str, account: str = "main") -> tuple[Any, Any]:
        """(free, locked) as Decimals."""
        return self.call(self.exchange.state.balance, account, asset)

    def requests(self, method: str, path: str) -> int:
        """How many requests the server saw for ``method path``."""
        return self.call(lambda: self.exchange.faults.requests[(method, path)])

    def request_log(self) -> dict[tuple[str, str], int]:
        return self.call(lambda: dict(self.exchange.faults.requests))

    def auth_failures(self, code: int | None = None) -> int:
        """Failed authentications (all, or of one Binance code such as -1022)."""
        def count() -> int:
            failures = self.exchange.faults.auth_failures
            return sum(failures.values()) if code is None else failures[code]
        return self.call(count)

    def subscribers(self, stream: str) -> int:
        """Open sockets subscribed to ``stream`` (e.g. ``btcusdt@trade``)."""
        return self.call(self.exchange.subscribers, stream)

    def user_streams(self) -> int:
        """Open sockets receiving user data."""
        return self.call(lambda: len(self.exchange.user_connections()))

    def connections(self, kind: str | None = None) -> int:
        return self.call(lambda: sum(kind is None or c.kind == kind
                                     for c in self.exchange.connections))

    # -- faults ------------------------------------------------------------------------------

    def pending(self) -> dict[str, int]:
        """Faults armed and not yet spent: HTTP statuses by status ("429", "418"), held
        answers by method ("hold POST", "hold DELETE") and duplicate user events."""
        def count() -> dict[str, int]:
            faults = self.exchange.faults
            out: dict[str, int] = {}
            for http in faults.http:
                out[str(http.status)] = out.get(str(http.status), 0) + http.count
            for held in faults.held:
                key = f"hold {held.method}"
                out[key] = out.get(key, 0) + held.count
            out["duplicate"] = faults.duplicate_user_events
            return out
        return self.call(count)

    def fail_next(self, count: int = 1, status: int = 429, path: str | None = None,
                  retry_after: int = 1) -> None:
        """Answer the next ``count`` requests (to ``path`` only, if given) with 429 or 418."""
        if status not in (429, 418):
            raise ValueError(f"status {status} is not 429 or 418")
        self.call(self.exchange.faults.http.append, HttpFault(status, count, path, retry_after))

    def hold_answer(self, seconds: float, method: str = "POST", path: str = "/api/v3/order",
                    count: int = 1) -> None:
        """Carry out the next ``count`` ``method path`` requests, then hold each answer
        ``seconds`` (past the client's timeout: the order exists, the client never hears)."""
        self.call(self.exchange.faults.held.append, HeldAnswer(method, path, seconds, count))

    def duplicate_user_events(self, count: int = 1) -> None:
        """Send each of the next ``count`` executionReports twice."""
        def arm() -> None:
            self.exchange.faults.duplicate_user_events += count
        self.call(arm)

    def skip_trade_ids(self, n: int = 1) -> None:
        """Spend ``n`` trade ids on nothing public (as an exchange that numbers trades across
        symbols does): the trade stream shows a hole that REST cannot fill."""
        for _ in range(n):
            self.call(self.exchange.state._trade_id)

    def stall(self, kind: str = "market") -> None:
        """Sockets of ``kind`` (market or user) stop sending and stop answering pings, open."""
        self.call(self.exchange.faults.stalled.add, kind)

    def resume(self, kind: str = "market") -> None:
        self.call(self.exchange.faults.stalled.discard, kind)

    def drop(self, kind: str | None = None, abrupt: bool = True) -> int:
        """Close the sockets of ``kind`` (market, user, None for all); returns how many."""
        return asyncio.run_coroutine_threadsafe(
            self.exchange.drop(kind, abrupt=abrupt), self.loop).result(CALL_TIMEOUT)


@contextmanager
def running_fake_binance(**options: Any) -> Iterator[FakeBinanceServer]:
    """Serve a :class:`FakeBinance` (built with ``options``) on 127.0.0.1 for the block; on
    exit the server, its sockets, its loop and its thread are all gone."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-binance", daemon=True)
    thread.start()

    async def start() -> tuple[FakeBinance, web.AppRunner, int]:
        exchange = FakeBinance(**options)
        runner = web.AppRunner(exchange.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return exchange, runner, port

    try:
        exchange, runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(
            CALL_TIMEOUT)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT)
        loop.close()
        raise
    try:
        yield FakeBinanceServer(exchange, loop, port)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(CALL_TIMEOUT)

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(drain(), loop).result(CALL_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT)
        loop.close()
