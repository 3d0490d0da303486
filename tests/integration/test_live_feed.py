"""The live trade feed (``engine.live.feed.TradeFeed``) against the test exchange through the
real ccxt.pro client: trades the socket missed are fetched through REST and passed on in
order, and a hole in the trade ids that REST cannot fill (an id the exchange spent on
something else) ends the backfill instead of asking for the same page for ever (a chaos-test
session once sat 40 s without market data in that loop)."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro
import pytest

from engine.live.feed import TradeFeed
from tests.kit.fake_exchange.clients import binance_client
from tests.kit.fake_exchange.runner import (FakeBinanceServer, async_wait_until,
                                            running_fake_binance)

BTC = "BTC/USDT"


@pytest.fixture
def ex() -> Any:
    with running_fake_binance() as server:
        yield server


async def _collect(feed: TradeFeed, got: list[str], stop: asyncio.Event) -> None:
    async for trade in feed.messages(stop):
        got.append(trade.trade_id)


@pytest.mark.parametrize("hole", [False, True])
def test_missed_trades_are_fetched_and_a_hole_in_the_ids_ends_the_backfill(
        ex: FakeBinanceServer, hole: bool) -> None:
    async def body() -> tuple[list[str], TradeFeed]:
        client = binance_client(ccxt.pro.binance, ex)
        stop = asyncio.Event()
        got: list[str] = []
        feed = TradeFeed(client, BTC, stall_seconds=5.0)
        task = asyncio.create_task(_collect(feed, got, stop))
        try:
            await async_wait_until(lambda: ex.subscribers("btcusdt@trade") > 0, 10,
                                   "the feed's subscription")
            first = ex.push_trade("BTCUSDT", "100", "1")
            await async_wait_until(lambda: len(got) == 1, 10, "the first trade")
            ex.stall("market")                   # the socket misses the next trades
            missed = [ex.push_trade("BTCUSDT", "101", "1"),
                      ex.push_trade("BTCUSDT", "102", "1")]
            if hole:
                ex.skip_trade_ids(2)
            ex.resume("market")
            last = ex.push_trade("BTCUSDT", "103", "1")
            await async_wait_until(lambda: len(got) == 4, 10, "the missed trades and the last")
            expected = [str(t.trade_id) for t in (first, *missed, last)]
            assert got == expected
            return got, feed
        finally:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()

    got, feed = asyncio.run(body())
    assert feed.stats.backfilled == 2 and feed.stats.duplicates == 0
    if hole:   # the ids jump over the hole: no trade there to invent
        assert int(got[3]) == int(got[2]) + 3
