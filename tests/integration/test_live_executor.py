"""The ccxt executor against the test exchange, through the real async ccxt client: orders
placed, filled and canceled; a timeout after the exchange accepted an order is answered by
asking, not by sending twice; a rate limit is waited out; a wrong secret stops the session
without a storm; the journal holds every command and answer under the exchange's ids."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ccxt.async_support
import pytest

from engine.live.executor import CcxtExecutor, ExchangeRefused, keep_error_headers, wait_after
from engine.live.journal import Journal
from engine.messages import (BUY, CancelOrder, OrderDenied, OrderFilled, OrderRejected,
                             SubmitOrder)
from tests.kit.fake_exchange.clients import binance_client
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance

pytestmark = pytest.mark.slow
SID = "sma_cross:BTC/USDT"


def order(n: int, qty: float, kind: str = "MARKET", limit: float | None = None,
          side: str = BUY) -> SubmitOrder:
    return SubmitOrder(SID, "binance", "BTC/USDT", f"{SID}-{n}", side, kind, qty, limit, None,
                       "GTC", 1, 1)


async def executor(server: FakeBinanceServer, journal: Journal, timeout_ms: int = 3000,
                   secret: str | None = None) -> tuple[CcxtExecutor, list[Any], Any]:
    client = binance_client(ccxt.async_support.binance, server, timeout_ms=timeout_ms,
                            secret=secret)
    await client.load_markets()
    events: list[Any] = []
    ex = CcxtExecutor(client, journal.run_id, journal, events.append)
    return ex, events, client


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_orders_are_placed_filled_and_canceled(tmp_path: Path) -> None:
    with running_fake_binance() as server, Journal(tmp_path / "j.db",
                                                   initial_cash=10_000.0) as journal:
        server.set_book("BTCUSDT", bid=30_000, ask=30_001)

        async def scenario() -> list[Any]:
            ex, events, client = await executor(server, journal)
            try:
                await ex.submit(order(1, 0.01))                       # fills at the ask
                assert await ex.poll_fills() == 1                     # its trade, booked
                await ex.submit(order(2, 0.02, "LIMIT", 29_000.0))    # rests
                await ex.cancel(CancelOrder(SID, "binance", "BTC/USDT", f"{SID}-2", 2, 2))
                assert await ex.poll_fills() == 0                     # nothing twice
            finally:
                await client.close()
            return events

        events = asyncio.run(scenario())
        ours = {o.client_order_id for o in server.orders()}
    assert kinds(events) == ["OrderAccepted", "OrderFilled", "OrderAccepted", "OrderCanceled"]
    fill = events[1]
    assert isinstance(fill, OrderFilled)
    assert (fill.client_order_id, fill.last_qty, fill.last_price, fill.leaves_qty) == (
        f"{SID}-1", 0.01, 30_001.0, 0.0)
    # the buy's commission (0.1 %) was kept in BTC: booked as fee_qty, nothing in USDT
    assert (fill.fee_qty, fill.fee) == (pytest.approx(0.00001), 0.0)
    # the exchange holds our ids, the journal every record under them
    assert len(ours) == 2 and all(o.startswith("rt") for o in ours)
    with Journal(tmp_path / "j.db") as journal:
        state = journal.rebuild()
    assert set(state.orders) == ours


def test_a_lost_acknowledgement_is_asked_about_not_sent_twice(tmp_path: Path) -> None:
    with running_fake_binance() as server, Journal(tmp_path / "j.db",
                                                   initial_cash=10_000.0) as journal:
        server.set_book("BTCUSDT", bid=30_000, ask=30_001)
        server.hold_answer(3.0)   # the order is made; its answer comes after our timeout

        async def scenario() -> tuple[list[Any], int]:
            ex, events, client = await executor(server, journal, timeout_ms=300)
            try:
                await ex.submit(order(1, 0.02, "LIMIT", 29_000.0))
            finally:
                await client.close()
            return events, ex.resends

        events, resends = asyncio.run(scenario())
        assert len(server.orders()) == 1
    assert kinds(events) == ["OrderAccepted"] and resends == 0


def test_a_rate_limit_is_waited_out(tmp_path: Path) -> None:
    with running_fake_binance() as server, Journal(tmp_path / "j.db",
                                                   initial_cash=10_000.0) as journal:
        server.set_book("BTCUSDT", bid=30_000, ask=30_001)
        server.fail_next(1, 429, path="/api/v3/order", retry_after=1)

        async def scenario() -> tuple[list[Any], CcxtExecutor]:
            ex, events, client = await executor(server, journal)
            try:
                await ex.submit(order(1, 0.01))
                await ex.poll_fills()
            finally:
                await client.close()
            return events, ex

        events, ex = asyncio.run(scenario())
        assert len(server.orders()) == 1
    assert kinds(events) == ["OrderAccepted", "OrderFilled"]
    assert ex.retries == 1 and ex.budget.waited >= 0.9


def test_insufficient_funds_is_a_denial_and_a_bad_order_a_rejection(tmp_path: Path) -> None:
    with running_fake_binance() as server, Journal(tmp_path / "j.db",
                                                   initial_cash=10_000.0) as journal:
        server.set_book("BTCUSDT", bid=30_000, ask=30_001)

        async def scenario() -> list[Any]:
            ex, events, client = await executor(server, journal)
            try:
                await ex.submit(order(1, 5.0))            # 150,000 USDT of 10,000
                await ex.submit(order(2, 0.000001))       # below the lot step: never sent
            finally:
                await client.close()
            return events

        events = asyncio.run(scenario())
        assert server.orders() == []
    assert isinstance(events[0], OrderDenied)
    assert events[0].reason.startswith("insufficient_buying_power: binance create_order")
    assert isinstance(events[1], OrderRejected) and "amount" in events[1].reason


def test_a_wrong_secret_stops_the_session_without_a_storm(tmp_path: Path) -> None:
    with running_fake_binance() as server, Journal(tmp_path / "j.db",
                                                   initial_cash=10_000.0) as journal:
        server.set_book("BTCUSDT", bid=30_000, ask=30_001)

        async def scenario() -> None:
            ex, _, client = await executor(server, journal, secret="not-the-secret")
            try:
                await ex.submit(order(1, 0.01))
            finally:
                await client.close()

        with pytest.raises(ExchangeRefused) as err:
            asyncio.run(scenario())
        assert "binance create_order: AuthenticationError" in str(err.value)
        assert "not-the-secret" not in str(err.value)
        assert server.auth_failures() == 1


def test_a_418_waits_what_its_own_answer_asked_though_another_answer_came_since() -> None:
    """ccxt keeps only the last answer's headers on the client: a success between the 418
    and the moment its wait is read would hide the ban's Retry-After (and the ban would be
    guessed at 60 s). keep_error_headers pins each error to its own answer's headers."""
    with running_fake_binance() as server:

        async def scenario(pinned: bool) -> float:
            client = binance_client(ccxt.async_support.binance, server)
            if pinned:
                keep_error_headers(client)
            try:
                await client.load_markets()
                server.fail_next(1, 418, "/api/v3/myTrades", retry_after=3)
                with pytest.raises(ccxt.DDoSProtection) as caught:
                    await client.fetch_my_trades("BTC/USDT")
                await client.fetch_time()   # another answer, without a Retry-After
                return wait_after(client, caught.value, 0)
            finally:
                await client.close()

        assert asyncio.run(scenario(pinned=True)) == 3.0
        assert asyncio.run(scenario(pinned=False)) == 60.0   # what the pin prevents
