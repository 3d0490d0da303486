"""A live session that dies mid-way (its task killed: no goodbye, its limit order left working)
and a second run on the same journal: the fill that happened while it was down is found,
journaled and booked once, nothing is placed twice, and journal, portfolio and exchange agree."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.api import Strategy
from engine.config import BacktestConfig
from engine.live.journal import Journal
from engine.live.secrets import Credentials
from engine.live.session import ExchangeSpec, LiveSession
from tests.kit.fake_exchange.app import API_KEY, API_SECRET
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance
from tests.kit.live_process import pushing_market

pytestmark = pytest.mark.slow


class RestingBid(Strategy):
    """Bids 0.01 at 100 below the first price it sees, once: only while it holds nothing
    and has nothing working (what it knows after a restart too)."""

    name = "resting_bid"

    def on_price(self, price: float) -> None:
        if self.ctx.position == 0.0 and not self.ctx.open_orders():
            self.ctx.buy(0.01, limit=round(price - 100.0, 2))


def spec_for(server: FakeBinanceServer) -> ExchangeSpec:
    return ExchangeSpec("binance", {"options": dict(SPOT_ONLY), "enableRateLimit": False,
                                    "timeout": 3000, "rest_url": server.rest_url,
                                    "ws_url": server.ws_url})


def session(server: FakeBinanceServer, path: Path, duration: float) -> LiveSession:
    config = BacktestConfig.from_dict({"symbols": ["BTC/USDT"], "capital": 5_000,
                                       "strategy": "tests.integration.test_live_resume:"
                                                   "RestingBid"})
    return LiveSession(config, spec_for(server), Credentials("binance", API_KEY, API_SECRET),
                       str(path), duration=duration, poll_seconds=0.3)


def test_a_killed_session_resumes_from_its_journal(tmp_path: Path) -> None:
    journal = tmp_path / "live.db"
    with running_fake_binance() as server:
        price = [30_000.0]

        async def first_run() -> None:   # killed after its order is working
            task = asyncio.create_task(session(server, journal, 30.0).run())
            deadline = time.monotonic() + 10
            while not server.orders() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        with pushing_market(server, price=lambda k: price[0], every=0.02, delay=0.5,
                            book=False):
            asyncio.run(first_run())
            [order] = server.orders()
            assert order.is_open
            # while it is down, the market trades through its bid: the order fills
            price[0] = 29_850.0
            deadline = time.monotonic() + 5
            while server.orders()[0].is_open and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not server.orders()[0].is_open
            second = session(server, journal, 2.0)
            result = asyncio.run(second.run())
            orders = server.orders()
            fills = server.my_fills("BTCUSDT")
    # nothing placed twice: the resumed strategy holds the position and bids no more
    assert len(orders) == 1 and len(fills) >= 1
    resumed = result.timing["resumed"]
    assert resumed["events"] >= 1 and resumed["resent"] == 0
    engine = second.loop.engine  # type: ignore[union-attr]
    # what the account holds: bought, less the commission the exchange kept in BTC
    held = sum(float(f.qty) - (float(f.commission) if f.commission_asset == "BTC" else 0.0)
               for f in fills)
    assert held < sum(float(f.qty) for f in fills)
    assert engine.portfolio.positions[("BTC/USDT", "resting_bid:BTC/USDT")].qty == \
        pytest.approx(held)
    with Journal(journal) as j:
        state = j.rebuild()
    assert state.portfolio.cash == pytest.approx(engine.portfolio.cash)
    assert state.open_orders() == []


class Counter(Strategy):
    """Counts the trades it has seen, across restarts."""

    name = "counter"

    def on_start(self) -> None:
        self.seen = 0
        self.restored = 0

    def on_price(self, price: float) -> None:
        self.seen += 1

    def save_state(self) -> dict:
        return {"seen": self.seen}

    def load_state(self, state: dict) -> None:
        self.restored = self.seen = int(state["seen"])


def test_strategy_state_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "live.db"
    config = BacktestConfig.from_dict({"symbols": ["BTC/USDT"], "capital": 5_000,
                                       "strategy": "tests.integration.test_live_resume:"
                                                   "Counter"})
    with running_fake_binance() as server:
        runs = []
        with pushing_market(server, price=lambda k: 30_000.0, every=0.02, delay=0.5,
                            book=False):
            for _ in range(2):
                run = LiveSession(config, spec_for(server), Credentials("binance", API_KEY,
                                                                         API_SECRET),
                                  str(journal), duration=2.0, poll_seconds=0.3)
                result = asyncio.run(run.run())
                runs.append((run.loop.engine.contexts[0].strategy,  # type: ignore[union-attr]
                             result.metrics["events"]))
    (first, events1), (second, events2) = runs
    assert first.restored == 0 and first.seen == events1 > 10
    assert second.restored == events1 and second.seen == events1 + events2
