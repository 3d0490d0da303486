"""Strategy fault isolation in the backtest: a strategy that raises in any hook is faulted
(recorded with its id, hook, error and traceback), stops receiving events, has its working
orders canceled, and every other strategy keeps running and trading to the end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.messages import Bar, OrderCanceled, OrderFilled
from engine.strategy import Strategy
from engine.venue import VenueConfig

HOUR = 3_600_000_000_000
N_BARS = 8
FAULT_BAR = 3  # the index of the bar during which the faulty strategy raises


def bars(n: int = N_BARS, start: float = 100.0) -> pd.DataFrame:
    """``n`` hourly bars, open = close rising by 1 each bar, plenty of volume."""
    close = start + np.arange(n, dtype=np.float64)
    return pd.DataFrame({"ts": np.arange(n, dtype=np.int64) * HOUR, "open": close,
                         "high": close + 0.5, "low": close - 0.5, "close": close,
                         "volume": np.full(n, 1e6)})


def bar_close(i: int) -> int:
    """``ts_event`` of bar ``i``."""
    return (i + 1) * HOUR


class Recorder(Strategy):
    """Buys 1 on every bar and records every hook call."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.bars: list[int] = []
        self.fills: list[OrderFilled] = []
        self.canceled: list[OrderCanceled] = []

    def on_start(self) -> None:
        self.calls.append("on_start")

    def on_bar(self, bar: Bar) -> None:
        self.calls.append("on_bar")
        self.bars.append(bar.ts_event)
        self.ctx.buy(1.0)

    def on_fill(self, fill: OrderFilled) -> None:
        self.calls.append("on_fill")
        self.fills.append(fill)

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self.canceled.append(event)

    def on_stop(self) -> None:
        self.calls.append("on_stop")


def blow_up_on_purpose(where: str) -> None:
    raise RuntimeError(f"deliberate failure in {where}")


class Faulty(Recorder):
    """A Recorder that raises in the hook named ``hook`` (in ``on_bar``: on bar ``at``)."""

    name = "faulty"

    def __init__(self, hook: str, at: int = FAULT_BAR) -> None:
        super().__init__()
        self.hook = hook
        self.at = at

    def on_start(self) -> None:
        super().on_start()
        if self.hook == "on_start":
            self.ctx.buy(1.0)           # an order placed before the failure
            blow_up_on_purpose("on_start")

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)             # places this bar's order first
        if self.hook == "on_bar" and bar.ts_event == bar_close(self.at):
            blow_up_on_purpose("on_bar")

    def on_fill(self, fill: OrderFilled) -> None:
        super().on_fill(fill)
        if self.hook == "on_fill":
            blow_up_on_purpose("on_fill")

    def on_stop(self) -> None:
        super().on_stop()
        if self.hook == "on_stop":
            blow_up_on_purpose("on_stop")


def engine_with(feeds: list[str]) -> BacktestEngine:
    engine = BacktestEngine(capital=1_000_000.0, venue_config=VenueConfig(slippage_bps=0.0))
    for i, symbol in enumerate(feeds):
        engine.add_feed(Feed(symbol, "bar", bars(start=100.0 * (i + 1)), HOUR))
    return engine


def fills_of(engine: BacktestEngine, strategy_id: str) -> list[OrderFilled]:
    return [f for f in engine.fills if f.strategy_id == strategy_id]


def assert_ran_to_the_end(engine: BacktestEngine, strategy: Recorder) -> None:
    """Saw every bar, had every order but the last one filled, and was stopped."""
    sid = strategy.ctx.strategy_id
    assert strategy.bars == [bar_close(i) for i in range(N_BARS)]
    assert strategy.calls[0] == "on_start" and strategy.calls[-1] == "on_stop"
    # the order of bar i fills at the open of bar i + 1: N_BARS - 1 fills, the last at bar 7
    fills = fills_of(engine, sid)
    assert len(fills) == len(strategy.fills) == N_BARS - 1
    assert [f.ts_event for f in fills] == [i * HOUR for i in range(1, N_BARS)]
    assert strategy.ctx.position == N_BARS - 1
    assert sid not in {f.strategy_id for f in engine.faults}


# --- on_bar -----------------------------------------------------------------------------------


@pytest.mark.parametrize("symbols", [["BTC"], ["BTC", "ETH"]],
                         ids=["one feed", "two feeds"])  # the single-feed hot path and merged
def test_fault_in_on_bar_isolates_the_strategy(symbols: list[str]) -> None:
    engine = engine_with(symbols)
    faulty = Faulty("on_bar")
    neighbour = Recorder()
    engine.add_strategy(faulty, "BTC")
    engine.add_strategy(neighbour, "BTC", strategy_id="neighbour")
    others = []
    for symbol in symbols[1:]:
        others.append(Recorder())
        engine.add_strategy(others[-1], symbol)

    engine.run()  # does not raise

    (fault,) = engine.faults
    assert fault.strategy_id == "faulty:BTC" and fault.symbol == "BTC"
    assert fault.hook == "on_bar"
    assert fault.error == "RuntimeError: deliberate failure in on_bar"
    assert "blow_up_on_purpose" in fault.traceback and "RuntimeError" in fault.traceback
    assert fault.ts_event == bar_close(FAULT_BAR)

    # it saw bars 0..3 only and was not stopped
    assert faulty.bars == [bar_close(i) for i in range(FAULT_BAR + 1)]
    assert "on_stop" not in faulty.calls
    # its orders of bars 0..2 filled; the one placed on the failing bar was canceled unfilled
    assert [f.client_order_id for f in fills_of(engine, "faulty:BTC")] == [
        "faulty:BTC-1", "faulty:BTC-2", "faulty:BTC-3"]
    canceled = [e for e in engine.order_events
                if type(e) is OrderCanceled and e.strategy_id == "faulty:BTC"]
    assert [e.client_order_id for e in canceled] == ["faulty:BTC-4"]
    assert faulty.canceled == []  # a faulted strategy hears nothing more
    assert all(o.strategy_id != "faulty:BTC" for o in engine.venue.working["BTC"])
    assert engine.portfolio.positions[("BTC", "faulty:BTC")].qty == 3.0

    assert_ran_to_the_end(engine, neighbour)
    for other in others:
        assert_ran_to_the_end(engine, other)


def test_faulted_strategy_submits_nothing_more() -> None:
    class SubmitsFromFill(Recorder):
        name = "submits_from_fill"

        def on_bar(self, bar: Bar) -> None:
            self.bars.append(bar.ts_event)
            if len(self.bars) == 1:
                self.ctx.buy(1.0)
                self.ctx.buy(1.0)

        def on_fill(self, fill: OrderFilled) -> None:
            # the first fill raises; the second arrives in the same bar after the fault
            super().on_fill(fill)
            self.ctx.sell(1.0)
            blow_up_on_purpose("on_fill")

    engine = engine_with(["BTC"])
    strategy = SubmitsFromFill()
    engine.add_strategy(strategy, "BTC")
    engine.run()
    assert [f.hook for f in engine.faults] == ["on_fill"]
    assert len(strategy.fills) == 1
    # the sell placed just before the raise was canceled and never filled
    assert all(f.side == "BUY" for f in engine.fills)


# --- the other hooks --------------------------------------------------------------------------


def test_fault_in_on_start() -> None:
    engine = engine_with(["BTC", "ETH"])
    faulty, neighbour, other = Faulty("on_start"), Recorder(), Recorder()
    engine.add_strategy(faulty, "BTC")
    engine.add_strategy(neighbour, "BTC", strategy_id="neighbour")
    engine.add_strategy(other, "ETH")
    engine.run()

    (fault,) = engine.faults
    assert (fault.strategy_id, fault.hook) == ("faulty:BTC", "on_start")
    assert fault.error == "RuntimeError: deliberate failure in on_start"
    assert "blow_up_on_purpose" in fault.traceback
    assert fault.ts_event == 0  # before the first event: the first bar's open time
    assert faulty.calls == ["on_start"]  # no bar, no fill, no stop
    assert fills_of(engine, "faulty:BTC") == []  # the order it placed was canceled
    assert ("BTC", "faulty:BTC") not in engine.portfolio.positions
    assert_ran_to_the_end(engine, neighbour)
    assert_ran_to_the_end(engine, other)


def test_fault_in_on_fill() -> None:
    engine = engine_with(["BTC", "ETH"])
    faulty, neighbour, other = Faulty("on_fill"), Recorder(), Recorder()
    engine.add_strategy(faulty, "BTC")
    engine.add_strategy(neighbour, "BTC", strategy_id="neighbour")
    engine.add_strategy(other, "ETH")
    engine.run()

    (fault,) = engine.faults
    assert (fault.strategy_id, fault.hook) == ("faulty:BTC", "on_fill")
    assert fault.error == "RuntimeError: deliberate failure in on_fill"
    assert "blow_up_on_purpose" in fault.traceback
    # its first order (bar 0) filled at bar 1's open and the fill raised: bar 1's on_bar
    # never ran, so it placed one order and saw one bar
    assert faulty.bars == [bar_close(0)]
    assert [f.ts_event for f in faulty.fills] == [HOUR]
    assert faulty.calls == ["on_start", "on_bar", "on_fill"]
    assert len(fills_of(engine, "faulty:BTC")) == 1
    assert engine.portfolio.positions[("BTC", "faulty:BTC")].qty == 1.0
    assert_ran_to_the_end(engine, neighbour)
    assert_ran_to_the_end(engine, other)


def test_fault_in_on_fill_cancels_a_resting_order() -> None:
    class RestsAndFails(Recorder):
        name = "rests_and_fails"

        def on_bar(self, bar: Bar) -> None:
            self.bars.append(bar.ts_event)
            if len(self.bars) == 1:
                self.ctx.buy(1.0)
                self.ctx.buy(1.0, limit=1.0)  # far below the market: rests

        def on_fill(self, fill: OrderFilled) -> None:
            blow_up_on_purpose("on_fill")

    engine = engine_with(["BTC"])
    strategy = RestsAndFails()
    engine.add_strategy(strategy, "BTC")
    engine.run()
    assert [f.hook for f in engine.faults] == ["on_fill"]
    canceled = [e.client_order_id for e in engine.order_events if type(e) is OrderCanceled]
    assert canceled == ["rests_and_fails:BTC-2"]
    assert engine.venue.working["BTC"] == []


def test_fault_in_on_stop() -> None:
    engine = engine_with(["BTC", "ETH"])
    faulty, neighbour, other = Faulty("on_stop"), Recorder(), Recorder()
    engine.add_strategy(faulty, "BTC")       # stopped first: the others are stopped after it
    engine.add_strategy(neighbour, "BTC", strategy_id="neighbour")
    engine.add_strategy(other, "ETH")
    engine.run()

    (fault,) = engine.faults
    assert (fault.strategy_id, fault.hook) == ("faulty:BTC", "on_stop")
    assert fault.error == "RuntimeError: deliberate failure in on_stop"
    assert "blow_up_on_purpose" in fault.traceback
    assert fault.ts_event == bar_close(N_BARS - 1)
    # everything up to on_stop ran normally
    assert faulty.bars == [bar_close(i) for i in range(N_BARS)]
    assert faulty.calls[-1] == "on_stop"
    assert len(fills_of(engine, "faulty:BTC")) == N_BARS - 1
    assert_ran_to_the_end(engine, neighbour)
    assert_ran_to_the_end(engine, other)


def test_every_faulting_strategy_is_recorded_once() -> None:
    engine = engine_with(["BTC", "ETH"])
    engine.add_strategy(Faulty("on_bar", at=1), "BTC")
    engine.add_strategy(Faulty("on_fill"), "ETH")
    engine.add_strategy(Faulty("on_stop"), "ETH", strategy_id="stopper")
    survivor = Recorder()
    engine.add_strategy(survivor, "BTC")
    engine.run()
    assert sorted((f.strategy_id, f.hook) for f in engine.faults) == [
        ("faulty:BTC", "on_bar"), ("faulty:ETH", "on_fill"), ("stopper", "on_stop")]
    assert_ran_to_the_end(engine, survivor)


# --- what a fault leaves behind ---------------------------------------------------------------


def test_fault_on_the_last_bar_still_cancels_its_orders() -> None:
    engine = engine_with(["BTC"])
    engine.add_strategy(Faulty("on_bar", at=N_BARS - 1), "BTC")
    engine.run()
    assert [f.hook for f in engine.faults] == ["on_bar"]
    assert engine.venue.working["BTC"] == []
    canceled = [e.client_order_id for e in engine.order_events if type(e) is OrderCanceled]
    assert canceled == [f"faulty:BTC-{N_BARS}"]


def test_fault_cancel_is_reported_as_a_fault_at_the_fault_time() -> None:
    engine = engine_with(["BTC"])
    engine.add_strategy(Faulty("on_bar"), "BTC")
    engine.run()
    (canceled,) = [e for e in engine.order_events if type(e) is OrderCanceled]
    assert "fault" in canceled.reason.lower()
    assert canceled.ts_event == bar_close(FAULT_BAR)
