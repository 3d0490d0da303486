"""A live session against the test exchange through the real ccxt.pro client: the built-in
strategies place real orders, the exchange fills them, the session books every fill once, and
at its end working orders are canceled; the journal, the portfolio and the exchange agree."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.config import BacktestConfig
from engine.live.journal import Journal
from engine.live.secrets import Credentials
from engine.live.session import ExchangeSpec, LiveSession
from tests.kit.fake_exchange.app import API_KEY, API_SECRET
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance
from tests.kit.live_process import pushing_market, wave

pytestmark = pytest.mark.slow


def spec_for(server: FakeBinanceServer) -> ExchangeSpec:
    return ExchangeSpec("binance", {"options": dict(SPOT_ONLY), "enableRateLimit": False,
                                    "timeout": 3000, "rest_url": server.rest_url,
                                    "ws_url": server.ws_url})


def test_a_live_session_places_fills_and_cancels_real_orders(tmp_path: Path) -> None:
    config = BacktestConfig.from_dict({
        "symbols": ["BTC/USDT"], "capital": 5_000,
        "strategies": [{"strategy": "sma_cross", "params": {"fast": 3, "slow": 8,
                                                            "allocation": 0.2}}]})
    journal_path = str(tmp_path / "live.db")
    with running_fake_binance() as server:
        session = LiveSession(config, spec_for(server), Credentials("binance", API_KEY,
                                                                     API_SECRET),
                              journal_path, duration=4.0, poll_seconds=0.5)
        with pushing_market(server, price=wave, every=0.01, delay=0.5, spread=0.5):
            result = asyncio.run(session.run())
        ours = [o for o in server.orders() if o.client_order_id.startswith("rt")]
        exchange_fills = [f for f in server.my_fills("BTCUSDT")]
    assert len(ours) >= 3, "the strategy should have traded on the wave"
    # every exchange fill of ours is booked exactly once
    assert len(result.fills) == len(exchange_fills)
    assert sorted(result.fills["qty"].round(8)) == sorted(round(float(f.qty), 8)
                                                         for f in exchange_fills)
    # nothing left working at the end
    assert all(not o.is_open for o in ours)
    # the journal rebuilds the same account
    with Journal(journal_path) as journal:
        state = journal.rebuild()
    engine = session.loop.engine  # type: ignore[union-attr]
    assert state.portfolio.cash == pytest.approx(engine.portfolio.cash)
    assert {k: v.qty for k, v in state.portfolio.positions.items()} == pytest.approx(
        {k: v.qty for k, v in engine.portfolio.positions.items()})
