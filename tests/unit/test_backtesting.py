"""The backtest package's shared pieces: what a feed row becomes (the one message builder and
the venue match of both event loops), the event-time merge of several feeds, and the one
engine builder of the single-process run and the execution actor."""

from __future__ import annotations

import gc
import math
import weakref
from typing import Any

import pandas as pd
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.backtesting.feed import merged_events, row_readers
from engine.config import BacktestConfig
from engine.messages import BUY, Bar, Quote, SubmitOrder, Trade
from engine.plan import PairPlan
from engine.risk import RiskLimits
from engine.datasource import load_data
from engine.run import build_engine, complete_params, plan_pairs
from engine.strategy import Strategy
from engine.venue import SimulatedVenue, VenueConfig
from strategies.sma_cross import SmaCross
from tests.kit.scripted import MINUTE, SECOND, T0, bar_table, quote_table, trade_table


def _venue(symbol: str) -> tuple[SimulatedVenue, list[Any]]:
    events: list[Any] = []
    venue = SimulatedVenue(VenueConfig(venue="SIM", slippage_bps=0.0, taker_fee_bps=0.0),
                           events.append)
    venue.add_symbol(symbol)
    return venue, events


def _readers(feed: Feed) -> tuple[Any, Any, SimulatedVenue, list[Any]]:
    venue, events = _venue(feed.symbol)
    message, match = row_readers(feed, feed.row_columns(every_row=False), "SIM", venue)
    return message, match, venue, events


def _market_buy(symbol: str, qty: float, ts: int) -> SubmitOrder:
    return SubmitOrder("s", "SIM", symbol, "s-1", BUY, "MARKET", qty, None, None, "GTC", ts, ts)


# --- what a row becomes -----------------------------------------------------------------------


def test_a_bar_row_is_a_bar_stamped_with_its_close_time() -> None:
    feed = Feed("BTC/USDT", "bar", bar_table([(100, 102, 99, 101, 5), (101, 103, 100, 102, 6)]),
                MINUTE)
    message, _, _, _ = _readers(feed)
    close = T0 + 2 * MINUTE
    assert message(1) == Bar("SIM", "BTC/USDT", MINUTE, 101.0, 103.0, 100.0, 102.0, 6.0, close,
                             close)
    assert all(type(v) is float for v in message(0)[3:8])


def test_a_trade_row_is_a_trade_with_its_id_as_text() -> None:
    frame = trade_table([(0, 100.0, 1.5), (2, 101.0, 2.0)])
    frame["side"] = pd.Series([1, -1], dtype="int8")
    frame["trade_id"] = [7, 8]
    message, _, _, _ = _readers(Feed("BTC/USDT", "trade", frame))
    assert message(1) == Trade("SIM", "BTC/USDT", 101.0, 2.0, -1, "8", T0 + 2 * SECOND,
                               T0 + 2 * SECOND)
    assert type(message(1).aggressor) is int


def test_a_quote_row_is_a_quote() -> None:
    message, _, _, _ = _readers(Feed("BTC/USDT", "quote",
                                     quote_table([(1, 99.5, 100.5, 3.0, 4.0)])))
    assert message(0) == Quote("SIM", "BTC/USDT", 99.5, 100.5, 3.0, 4.0, T0 + SECOND,
                               T0 + SECOND)


def test_matching_a_bar_row_fills_at_its_open_stamped_with_its_open_time() -> None:
    feed = Feed("BTC/USDT", "bar", bar_table([(100, 102, 99, 101, 5), (104, 105, 103, 104, 6)]),
                MINUTE)
    _, match, venue, events = _readers(feed)
    venue.submit(_market_buy("BTC/USDT", 1.0, T0 + MINUTE))   # decided at the first close
    match(1)
    fill = events[-1]
    assert (fill.last_price, fill.last_qty, fill.ts_event) == (104.0, 1.0, T0 + MINUTE)


@pytest.mark.parametrize("kind,frame,price", [
    ("trade", trade_table([(0, 100.0, 1.0), (1, 101.0, 8.0)]), 101.0),
    ("quote", quote_table([(0, 99.0, 100.0, 8.0, 8.0), (1, 100.0, 101.0, 8.0, 8.0)]), 101.0),
])
def test_matching_a_trade_or_quote_row_fills_at_its_price(kind: str, frame: pd.DataFrame,
                                                          price: float) -> None:
    _, match, venue, events = _readers(Feed("BTC/USDT", kind, frame))
    venue.submit(_market_buy("BTC/USDT", 1.0, T0))
    match(1)
    assert (events[-1].last_price, events[-1].ts_event) == (price, T0 + SECOND)


@pytest.mark.parametrize("every_row", [True, False], ids=["lists", "views"])
def test_row_columns_carry_event_times_and_marks_as_python_values(every_row: bool) -> None:
    bars = Feed("X", "bar", bar_table([(1, 2, 0.5, 1.5, 1)] * 2), MINUTE).row_columns(every_row)
    assert list(bars["ts_event"]) == [T0 + MINUTE, T0 + 2 * MINUTE]
    assert list(bars["mark"]) == [1.5, 1.5] and "ts" not in bars
    assert type(bars["ts_event"][1]) is int and type(bars["open"][1]) is float
    quotes = Feed("X", "quote", quote_table([(0, 99.0, 100.0, 1, 1)])).row_columns(every_row)
    assert list(quotes["mark"]) == [99.5] and list(quotes["ts_event"]) == [T0]
    trades = trade_table([(0, 100.0, 1.0)])
    trades["trade_id"] = ["abc"]   # ids stored as text stay text
    columns = Feed("X", "trade", trades).row_columns(every_row)
    assert columns["trade_id"][0] == "abc" and type(columns["side"][0]) is int


@pytest.mark.parametrize("every_row", [True, False], ids=["lists", "views"])
def test_messages_are_the_same_from_lists_and_views(every_row: bool) -> None:
    feed = Feed("BTC/USDT", "bar", bar_table([(100, 102, 99, 101, 5)]), MINUTE)
    venue, _ = _venue("BTC/USDT")
    message, _ = row_readers(feed, feed.row_columns(every_row), "SIM", venue)
    close = T0 + MINUTE
    bar = message(0)
    assert bar == Bar("SIM", "BTC/USDT", MINUTE, 100.0, 102.0, 99.0, 101.0, 5.0, close, close)
    assert [type(v) for v in bar] == [str, str, int] + [float] * 5 + [int, int]


# --- several feeds in event-time order --------------------------------------------------------


def test_merged_events_order_by_event_time_then_feed_order() -> None:
    # a 1m bar closes at T0 + 1m, the moment the second trade prints: the bar feed comes first
    bars = Feed("A", "bar", bar_table([(1, 1, 1, 10.0, 1), (1, 1, 1, 11.0, 1)]), MINUTE)
    trades = Feed("B", "trade", trade_table([(30, 20.0, 1), (60, 21.0, 1), (150, 22.0, 1)]))
    feed_ids, rows, ts, marks = merged_events([bars, trades])
    assert list(zip(feed_ids.tolist(), rows.tolist())) == [(1, 0), (0, 0), (1, 1), (0, 1),
                                                           (1, 2)]
    assert ts.tolist() == [T0 + 30 * SECOND, T0 + MINUTE, T0 + MINUTE, T0 + 2 * MINUTE,
                           T0 + 150 * SECOND]
    assert marks.tolist() == [20.0, 10.0, 21.0, 11.0, 22.0]
    # feed order breaks the tie: listed the other way round, the trade comes first
    feed_ids, _, _, _ = merged_events([trades, bars])
    assert feed_ids.tolist()[1:3] == [0, 1]


# --- one engine builder -----------------------------------------------------------------------


def test_build_engine_sets_venue_risk_and_one_strategy_per_pair() -> None:
    config = BacktestConfig.from_dict({"strategy": "sma_cross", "params": {"fast": 5, "slow": 9},
                                       "venue": "kraken", "taker_fee_bps": 7.5, "capital": 5000,
                                       "max_open_positions": 1})
    feeds = [Feed(s, "bar", bar_table([(1, 1, 1, 1, 1)] * 3), MINUTE)
             for s in ("BTC/USDT", "ETH/USDT")]
    plans = plan_pairs(config, [f.symbol for f in feeds])
    engine = build_engine(config, feeds, plans)
    assert engine.venue_config == config.execution and engine.venue_config.venue == "kraken"
    assert engine.portfolio.initial_cash == 5000.0
    assert engine.risk is not None and engine.risk.limits == RiskLimits(max_open_positions=1)
    assert engine.feeds == feeds
    assert [(c.strategy_id, c.symbol, type(c.strategy), c.strategy.params.fast)
            for c in engine.contexts] == [("sma_cross:BTC/USDT", "BTC/USDT", SmaCross, 5),
                                          ("sma_cross:ETH/USDT", "ETH/USDT", SmaCross, 5)]
    assert all(c.venue == "kraken" for c in engine.contexts)


class Local(Strategy):
    """A strategy class handed in directly, not importable by its reference."""

    name = "local"

    def on_price(self, price: float) -> None:
        if math.isfinite(price) and not self.ctx.position:
            self.ctx.buy(1.0)


def test_build_engine_takes_strategy_classes_handed_in() -> None:
    config = BacktestConfig(strategy="not.importable:Local")
    feeds = [Feed("X", "bar", bar_table([(1, 1, 1, 1, 10)] * 3), MINUTE)]
    plans = [PairPlan("local:X", "X", "not.importable:Local", Local.Params())]
    engine = build_engine(config, feeds, plans, {"not.importable:Local": Local})
    engine.run()
    assert isinstance(engine.contexts[0].strategy, Local)
    assert [f.last_qty for f in engine.fills] == [1.0]


def test_build_engine_keeps_a_spot_account_by_default() -> None:
    engine = build_engine(BacktestConfig(), [Feed("X", "bar", bar_table([(1, 1, 1, 1, 1)]),
                                                  MINUTE)], [])
    assert isinstance(engine, BacktestEngine)
    assert engine.risk.limits.account == "spot" and engine.risk.cash == 100_000.0


def test_a_finished_run_leaves_nothing_frozen_and_nothing_behind() -> None:
    # both passes keep the run's inputs out of the collector's passes while they run; after
    # it, everything is collectable again, so a process running many backtests (a sweep
    # worker) holds none of the finished ones
    config = complete_params(BacktestConfig.from_dict(
        {"data": "synthetic", "timeframe": "1h", "end": "2024-02-01", "strategy": "sma_cross"}))
    loaded = load_data(config, None)
    frozen = gc.get_freeze_count()
    for batch in (False, True):
        engine = build_engine(config, loaded.feeds,
                              plan_pairs(config, [f.symbol for f in loaded.feeds]))
        engine.run_batch() if batch else engine.run()
        assert len(engine.fills) > 0
        assert gc.get_freeze_count() == frozen
        gone = weakref.ref(engine)
        del engine
        gc.collect()
        assert gone() is None
