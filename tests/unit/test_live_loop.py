"""The live loop: the engine fed one message at a time gives exactly what a backtest over the
same events gives, and a backtest over a session's recording places the session's orders,
even when the exchange's timestamps tie or go back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.errors import ConfigError
from engine.live.loop import LiveLoop
from engine.messages import Bar, Trade
from engine.risk import RiskLimits
from engine.synthetic import synthetic_bars, synthetic_trades
from strategies.momentum import Momentum
from strategies.sma_cross import SmaCross

MINUTE = 60_000_000_000


def backtest(feeds: list[Feed], limits: RiskLimits | None = None,
             history: dict[str, tuple[Any, Any]] | None = None) -> BacktestEngine:
    engine = BacktestEngine(capital=50_000.0, risk_limits=limits)
    engine.market_history = history
    for feed in feeds:
        engine.add_feed(feed)
        engine.add_strategy(SmaCross({"fast": 5, "slow": 20}), feed.symbol)
        engine.add_strategy(Momentum({"lookback": 15, "threshold": 0.001}), feed.symbol)
    engine.run()
    return engine


def session(messages: list[Any], kinds: dict[str, tuple[str, int]],
            limits: RiskLimits | None = None,
            history: dict[str, tuple[Any, Any]] | None = None
            ) -> tuple[BacktestEngine, LiveLoop]:
    engine = BacktestEngine(capital=50_000.0, risk_limits=limits)
    loop = LiveLoop(engine, kinds)
    for symbol in kinds:
        if history and loop.stats is not None:
            loop.stats.add_history(symbol, *history[symbol])
        engine.add_strategy(SmaCross({"fast": 5, "slow": 20}), symbol)
        engine.add_strategy(Momentum({"lookback": 15, "threshold": 0.001}), symbol)
    loop.start(messages[0].ts_event)
    for msg in messages:
        loop.on_message(msg)
    loop.stop()
    return engine, loop


def trade_messages(frame: pd.DataFrame, symbol: str) -> list[Trade]:
    return [Trade("SIM", symbol, float(p), float(s), int(a), str(int(t)), int(ts), int(ts))
            for ts, p, s, a, t in zip(frame["ts"], frame["price"], frame["size"],
                                      frame["side"], frame["trade_id"])]


def bar_messages(frame: pd.DataFrame, symbol: str) -> list[Bar]:
    return [Bar("SIM", symbol, MINUTE, float(o), float(h), float(lo), float(c), float(v),
                int(ts) + MINUTE, int(ts) + MINUTE)
            for ts, o, h, lo, c, v in zip(frame["ts"], frame["open"], frame["high"],
                                          frame["low"], frame["close"], frame["volume"])]


def assert_same(live: BacktestEngine, replay: BacktestEngine) -> None:
    assert len(replay.fills) > 20
    assert live.fills == replay.fills
    assert live.order_events == replay.order_events
    assert live.portfolio.trades == replay.portfolio.trades
    assert live.portfolio.cash == replay.portfolio.cash


@pytest.mark.parametrize("limits", [None, RiskLimits(max_gross_exposure=0.8,
                                                     max_consecutive_losses=3,
                                                     cooldown="2m", stop_loss=0.01)])
def test_trades_one_at_a_time_equal_the_backtest(limits: RiskLimits | None) -> None:
    frame = synthetic_trades("BTC/USDT", seed=3, n_trades=6_000)
    live, loop = session(trade_messages(frame, "BTC/USDT"), {"BTC/USDT": ("trade", 0)}, limits)
    assert_same(live, backtest([Feed("BTC/USDT", "trade", frame)], limits))
    # and the recording replays to the same orders
    assert_same(live, backtest(loop.feeds(), limits))


def test_two_symbols_of_bars_interleaved_equal_the_backtest() -> None:
    a = synthetic_bars("BTC/USDT", seed=1, start="2024-01-01", n_bars=2_000, timeframe="1m")
    b = synthetic_bars("ETH/USDT", seed=2, start="2024-01-01", n_bars=2_000, timeframe="1m")
    # the feed order breaks ties: BTC's bar before ETH's at every close
    messages = [m for pair in zip(bar_messages(a, "BTC/USDT"), bar_messages(b, "ETH/USDT"))
                for m in pair]
    kinds = {"BTC/USDT": ("bar", MINUTE), "ETH/USDT": ("bar", MINUTE)}
    live, loop = session(messages, kinds)
    assert_same(live, backtest(loop.feeds()))
    # equal exchange times were given 1 ns apart, so the live order is the replay's
    times = [int(t) for f in loop.feeds() for t in f.event_times()]
    assert len(set(times)) == len(times)


def test_times_that_go_back_are_moved_forward_and_the_replay_agrees() -> None:
    frame = synthetic_trades("BTC/USDT", seed=5, n_trades=4_000)
    messages = trade_messages(frame, "BTC/USDT")
    rng = np.random.default_rng(0)
    jitter = rng.integers(-5_000_000_000, 5_000_000_000, len(messages))   # +-5 s
    shaken = [m._replace(ts_event=m.ts_event + int(j), ts_init=m.ts_event + int(j))
              for m, j in zip(messages, jitter)]
    live, loop = session(shaken, {"BTC/USDT": ("trade", 0)})
    recorded = loop.feeds()[0].event_times()
    assert bool((np.diff(recorded) > 0).all())           # the session's clock never went back
    assert_same(live, backtest(loop.feeds()))


def test_the_result_is_assembled_from_the_recording() -> None:
    frame = synthetic_trades("BTC/USDT", seed=3, n_trades=3_000)
    live, _ = session(trade_messages(frame, "BTC/USDT"), {"BTC/USDT": ("trade", 0)})
    curve = live.equity_curve()
    assert len(curve) > 10 and curve["equity"].iloc[-1] == pytest.approx(live.portfolio.equity())
    assert live.events_processed == 3_000


# small grids, so a few thousand one-minute bars reach every regime and correlate
MARKET_RULES = RiskLimits(
    block_regime="HIGHLY_VOLATILE", volatile_scale=0.5, max_cost_bps=8.0,
    correlation_threshold=0.3, max_group_exposure=0.6, max_gross_exposure=1.0,
    market_stats={"regime_interval": "5m", "regime_window": 6, "regime_lookback": 40,
                  "regime_thresholds": [30.0, 60.0, 85.0], "correlation_interval": "15m",
                  "correlation_window": 8, "cost_window": 20, "impact_k_bps": 5.0})


def test_market_rules_on_live_statistics_decide_as_the_backtest_over_the_recording() -> None:
    """The regime filter, the cost check and correlation groups read statistics the session
    keeps as bars arrive, seeded with history from before it; a backtest over the recording,
    given the same history, makes the same decisions to the order."""
    kinds = {"BTC/USDT": ("bar", MINUTE), "ETH/USDT": ("bar", MINUTE)}
    frames = {s: synthetic_bars(s, seed=i + 7, start="2024-01-01", n_bars=4_000,
                                timeframe="1m") for i, s in enumerate(kinds)}
    before, during = 1_500, slice(1_500, None)
    messages = [m for pair in zip(bar_messages(frames["BTC/USDT"][during], "BTC/USDT"),
                                  bar_messages(frames["ETH/USDT"][during], "ETH/USDT"))
                for m in pair]
    history = {s: (f["ts"].to_numpy()[:before] + MINUTE, f["close"].to_numpy()[:before])
               for s, f in frames.items()}
    engine, loop = session(messages, kinds, MARKET_RULES, history)
    assert loop.stats is not None and engine.market is loop.stats
    # the rules bound: entries refused by regime and by cost, others scaled, groups capped
    denials = engine.risk.denials
    assert denials["regime"] > 0 and denials["pre_trade_cost"] > 0, dict(denials)
    reduced = engine.risk.reductions
    assert reduced["regime"] > 0 and reduced["correlation_exposure"] > 0, dict(reduced)
    assert loop.stats.rebuilds < len(messages) / 4   # once per closed 5-minute cell, at most

    assert_same(engine, backtest(loop.feeds(), MARKET_RULES, loop.stats.history))
    # without the history the replay's regime starts blind, and decides otherwise
    blind = backtest(loop.feeds(), MARKET_RULES)
    assert blind.order_events != engine.order_events


def test_a_bar_loop_needs_an_interval() -> None:
    with pytest.raises(ConfigError, match="positive interval"):
        LiveLoop(BacktestEngine(capital=1_000.0), {"BTC/USDT": ("bar", 0)})
