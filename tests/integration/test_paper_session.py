"""A paper session on live data from the test exchange through the real ccxt.pro client: the
built-in strategies trade on the simulated venue, and a backtest over the session's recording
places exactly the session's orders."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from engine.backtesting import BacktestEngine
from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.live.session import ExchangeSpec, PaperSession, run_paper
from engine.run import add_strategies, plan_pairs
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance
from tests.kit.live_process import pushing_market, wave

pytestmark = pytest.mark.slow


def spec_for(server: FakeBinanceServer) -> ExchangeSpec:
    return ExchangeSpec("binance", {"options": dict(SPOT_ONLY), "enableRateLimit": False,
                                    "timeout": 3000, "rest_url": server.rest_url,
                                    "ws_url": server.ws_url})


def config() -> BacktestConfig:
    return BacktestConfig.from_dict({
        "symbols": ["BTC/USDT"], "capital": 10_000,
        "strategies": [{"strategy": "sma_cross", "params": {"fast": 3, "slow": 8}},
                       {"strategy": "momentum", "params": {"lookback": 6,
                                                           "threshold": 0.0005}}]})


def test_a_paper_session_equals_a_backtest_over_its_recording() -> None:
    with running_fake_binance() as server:
        session = PaperSession(config(), spec_for(server), duration=4.0)
        # a wave, one trade every 10 ms, once the session subscribed
        with pushing_market(server, price=wave, every=0.01, delay=0.5, book=False):
            result = asyncio.run(session.run())
    assert result.metrics["events"] > 50 and len(result.fills) > 4
    loop = session.loop
    assert loop is not None
    # the replay: the same config as a backtest over what the session recorded
    replay = BacktestEngine(capital=10_000.0, venue_config=session.config.execution,
                            risk_limits=session.config.risk)
    for feed in loop.feeds():
        replay.add_feed(feed)
    add_strategies(replay, plan_pairs(session.config, ["BTC/USDT"]))
    replay.run()
    assert replay.fills == loop.engine.fills
    assert replay.order_events == loop.engine.order_events
    stats = result.timing["feeds"]["BTC/USDT"]
    assert stats["messages"] == result.metrics["events"]


def test_a_paper_session_on_quotes_equals_a_backtest_over_its_recording() -> None:
    """--feed quotes: the strategies see the best bid and ask (bookTicker), the simulated
    venue fills on them, and the recording replays to the same orders."""
    with running_fake_binance() as server:
        session = PaperSession(config(), spec_for(server), duration=4.0, feed="quotes")
        with pushing_market(server, price=wave, every=0.01, delay=0.5, spread=0.5):
            result = asyncio.run(session.run())
    loop = session.loop
    assert loop is not None
    [recorded] = loop.feeds()
    assert recorded.kind == "quote" and len(recorded.frame) == result.metrics["events"] > 50
    assert (recorded.frame["ask"] - recorded.frame["bid"]).round(6).eq(1.0).all()
    assert len(result.fills) > 4
    replay = BacktestEngine(capital=10_000.0, venue_config=session.config.execution,
                            risk_limits=session.config.risk)
    replay.add_feed(recorded)
    add_strategies(replay, plan_pairs(session.config, ["BTC/USDT"]))
    replay.run()
    assert replay.fills == loop.engine.fills
    assert replay.order_events == loop.engine.order_events


def test_a_risk_preset_trades_on_live_market_statistics_seeded_from_rest() -> None:
    """--risk medium (the README's paper example) turns the market rules on: the session
    fetches the closed hourly bars the regime needs through REST before its first event,
    keeps the statistics as trades arrive, and a backtest over the recording, given the
    same history, places exactly the session's orders."""
    hour = 3_600_000
    rng = np.random.default_rng(5)
    with running_fake_binance() as server:
        now = int(time.time() * 1000)
        price = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 800)))
        for k, p in zip(range(800, 0, -1), price):   # one trade in each of 800 past hours
            server.push_trade("BTCUSDT", f"{p:.2f}", "1", time_ms=now - k * hour)
        session = PaperSession(config().replace(risk_preset="medium"), spec_for(server),
                               duration=6.0)   # the history's fetch comes first
        with pushing_market(server, price=wave, every=0.01, delay=0.5, book=False):
            result = asyncio.run(session.run())
    loop = session.loop
    assert loop is not None and loop.stats is not None
    assert result.timing["market_history_bars"] == {"BTC/USDT": 745}
    times, closes = loop.stats.history["BTC/USDT"]
    assert times.size == 745 and closes[-1] == pytest.approx(float(f"{price[-1]:.2f}"))
    # the regime is known from the first event: 744 closed hours before it
    assert not np.isnan(loop.stats.regime_percentile("BTC/USDT", loop.last_ts))
    assert result.metrics["events"] > 50 and len(result.fills) > 0
    replay = BacktestEngine(capital=10_000.0, venue_config=session.config.execution,
                            risk_limits=session.config.risk)
    replay.market_history = loop.stats.history
    for feed in loop.feeds():
        replay.add_feed(feed)
    add_strategies(replay, plan_pairs(session.config, ["BTC/USDT"]))
    replay.run()
    assert replay.fills == loop.engine.fills
    assert replay.order_events == loop.engine.order_events


def test_quotes_and_bars_are_not_asked_together() -> None:
    with pytest.raises(ConfigError, match="--feed quotes trades on the best bid and ask"):
        PaperSession(config().replace(timeframe="1m"), ExchangeSpec("binance"), feed="quotes")
    with pytest.raises(ConfigError, match="feed must be one of trades, quotes"):
        PaperSession(config(), ExchangeSpec("binance"), feed="book")


def test_an_unknown_symbol_or_exchange_is_refused_before_anything_runs() -> None:
    with running_fake_binance() as server:
        bad = config().replace(symbols=["DOGE/USDT"])
        with pytest.raises(ConfigError, match="has no market 'DOGE/USDT'"):
            run_paper(bad, spec_for(server), duration=1.0)
    with pytest.raises(ConfigError, match="unknown exchange 'nosuchex'"):
        run_paper(config(), ExchangeSpec("nosuchex"), duration=1.0)
