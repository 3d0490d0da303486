"""A scripted, recording strategy and tiny market tables for venue scenario tests.

The strategy's behaviour is a table: ``{event index: [actions]}``. On the i-th market event it
sees (bar, trade or quote) it performs the actions listed under ``i`` (submit, cancel), then
records a snapshot of its position. Every fill, cancel and reject it receives is recorded with
the index of the event during which it arrived, so a test can say "filled during bar 2".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting import BacktestEngine, Feed
from engine.data.schema import BAR, QUOTE, TRADE
from engine.messages import GTC, OrderCanceled, OrderFilled, OrderRejected
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.venue import VenueConfig

T0 = 1_704_067_200 * 1_000_000_000   # 2024-01-01 00:00:00 UTC, ns
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
SYMBOL = "BTCUSDT"
CAPITAL = 10_000.0


# --- market tables ----------------------------------------------------------------------------


def bar_table(rows: Iterable[tuple[float, float, float, float, float]], *, start: int = T0,
              interval: int = MINUTE) -> pd.DataFrame:
    """Bars in the bar schema from ``(open, high, low, close, volume)`` rows on a fixed grid."""
    rows = list(rows)
    arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), 5)
    return pd.DataFrame({
        "ts": start + np.arange(len(rows), dtype=np.int64) * interval,
        "open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3],
        "volume": arr[:, 4],
    })


def trade_table(rows: Iterable[tuple[float, float, float]], *, start: int = T0) -> pd.DataFrame:
    """Trades in the trade schema from ``(seconds after start, price, size)`` rows."""
    rows = list(rows)
    arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), 3)
    return pd.DataFrame({
        "ts": start + np.round(arr[:, 0] * SECOND).astype(np.int64),
        "price": arr[:, 1],
        "size": arr[:, 2],
        "side": np.ones(len(rows), dtype=np.int8),
        "trade_id": np.arange(len(rows), dtype=np.int64),
    })


def quote_table(rows: Iterable[tuple[float, float, float, float, float]], *,
                start: int = T0) -> pd.DataFrame:
    """Quotes in the quote schema from ``(seconds after start, bid, ask, bid_size, ask_size)``."""
    rows = list(rows)
    arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), 5)
    return pd.DataFrame({
        "ts": start + np.round(arr[:, 0] * SECOND).astype(np.int64),
        "bid": arr[:, 1], "ask": arr[:, 2], "bid_size": arr[:, 3], "ask_size": arr[:, 4],
    })


# --- script actions ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Buy:
    """``ctx.buy``: market, or limit / stop when a price is given."""

    qty: float
    limit: float | None = None
    stop: float | None = None
    tif: str = GTC
    tag: str | None = None

    def apply(self, strategy: ScriptedStrategy) -> str:
        return self._send(strategy.ctx.buy, strategy)

    def _send(self, method: Any, strategy: ScriptedStrategy) -> str:
        return method(self.qty, limit=self.limit, stop=self.stop, time_in_force=self.tif)


@dataclasses.dataclass(frozen=True)
class Sell(Buy):
    """``ctx.sell``: market, or limit / stop when a price is given."""

    def apply(self, strategy: ScriptedStrategy) -> str:
        return self._send(strategy.ctx.sell, strategy)


@dataclasses.dataclass(frozen=True)
class Submit:
    """A raw ``ctx.submit_order``: reaches what ``buy``/``sell`` cannot (a limit with no price)."""

    side: str
    qty: Any
    order_type: str
    limit_price: Any = None
    stop_price: Any = None
    tif: str = GTC
    tag: str | None = None

    def apply(self, strategy: ScriptedStrategy) -> str:
        return strategy.ctx.submit_order(self.side, self.qty, self.order_type,
                                         limit_price=self.limit_price,
                                         stop_price=self.stop_price, time_in_force=self.tif)


@dataclasses.dataclass(frozen=True)
class Call:
    """Any call on the context, e.g. ``Call(lambda ctx: ctx.buy(1, stop_loss=97.0))``; the
    client order id it returns (if any) is recorded under ``tag``."""

    call: Callable[[Any], str | None]
    tag: str | None = None

    def apply(self, strategy: ScriptedStrategy) -> str | None:
        return self.call(strategy.ctx)


@dataclasses.dataclass(frozen=True)
class Cancel:
    """``ctx.cancel`` of the order submitted under ``tag`` (an unknown tag cancels a bogus id)."""

    tag: str

    def apply(self, strategy: ScriptedStrategy) -> None:
        strategy.ctx.cancel(strategy.coids.get(self.tag, f"no-such-order-{self.tag}"))


Action = Buy | Sell | Submit | Call | Cancel
Script = Mapping[int, Sequence[Action]]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The strategy's state right after its hook for one event ran."""

    position: float
    pending: float
    cash: float


class ScriptedStrategy(Strategy):
    """Submits and cancels what ``script`` lists for each event index; records what comes back."""

    name = "scripted"

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.i = 0                                   # index of the event being processed
        self.coids: dict[str, str] = {}              # tag -> client order id
        self.tag_of: dict[str, str] = {}             # client order id -> tag
        self.decided: dict[str, tuple[int, int]] = {}  # client order id -> (event index, ts)
        self.fills: list[tuple[int, OrderFilled]] = []
        self.canceled: list[tuple[int, OrderCanceled]] = []
        self.rejected: list[tuple[int, OrderRejected]] = []
        self.snapshots: list[Snapshot] = []

    def _step(self) -> None:
        for action in self.script.get(self.i, ()):
            coid = action.apply(self)
            if coid is not None:
                tag = action.tag or coid
                self.coids[tag] = coid
                self.tag_of[coid] = tag
                self.decided[coid] = (self.i, self.ctx.now_ns())
        self.snapshots.append(Snapshot(self.ctx.position, self.ctx.pending_quantity,
                                       self.ctx.cash))
        self.i += 1

    def on_bar(self, bar: Any) -> None:
        self._step()

    def on_trade(self, trade: Any) -> None:
        self._step()

    def on_quote(self, quote: Any) -> None:
        self._step()

    def on_fill(self, fill: OrderFilled) -> None:
        self.fills.append((self.i, fill))

    def on_order_canceled(self, event: OrderCanceled) -> None:
        self.canceled.append((self.i, event))

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.rejected.append((self.i, event))


# --- running ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One finished backtest of a scripted strategy."""

    engine: BacktestEngine
    strategy: ScriptedStrategy
    frame: pd.DataFrame
    kind: str

    def ts_of(self, index: int, at: str = "open") -> int:
        """Event time of a fill in event ``index``: a bar's ``open`` or ``close``, else its ts."""
        ts = int(self.frame["ts"].iloc[index])
        if self.kind == BAR and at == "close":
            ts += MINUTE
        return ts


# an account that never stands between a script and the venue
VENUE_ONLY = RiskLimits(account="margin", max_leverage=1e6, maintenance_margin=1e-9)


def run_script(script: Script, venue: VenueConfig, *, bars: pd.DataFrame | None = None,
               trades: pd.DataFrame | None = None, quotes: pd.DataFrame | None = None,
               merged: bool = False, capital: float = CAPITAL, allow_faults: bool = False,
               limits: RiskLimits | None = VENUE_ONLY) -> Run:
    """Run a :class:`ScriptedStrategy` over one feed of ``SYMBOL`` (bars, trades or quotes).

    ``merged=True`` adds a second, untraded bar feed so a bar run takes the engine's general
    multi-feed loop instead of its single-bar-feed fast path; both must behave the same.
    The account is a margin account with room to spare (``VENUE_ONLY``), so the venue's fill
    rules are what a script meets, unless ``limits`` says otherwise.
    """
    engine = BacktestEngine(capital=capital, venue_config=venue, risk_limits=limits)
    if bars is not None:
        frame, kind = bars, BAR
        engine.add_feed(Feed(SYMBOL, BAR, bars, interval_ns=MINUTE))
    elif trades is not None:
        frame, kind = trades, TRADE
        engine.add_feed(Feed(SYMBOL, TRADE, trades))
    else:
        assert quotes is not None, "give bars, trades or quotes"
        frame, kind = quotes, QUOTE
        engine.add_feed(Feed(SYMBOL, QUOTE, quotes))
    if merged:
        engine.add_feed(Feed("ZZZUSDT", BAR, bars if bars is not None else bar_table(
            [(1.0, 1.0, 1.0, 1.0, 1.0)]), interval_ns=MINUTE))
    strategy = ScriptedStrategy(script)
    engine.add_strategy(strategy, SYMBOL)
    engine.run()
    if not allow_faults:
        assert engine.faults == [], f"the scripted strategy faulted: {engine.faults}"
    return Run(engine, strategy, frame, kind)


__all__ = [
    "CAPITAL",
    "MINUTE",
    "SECOND",
    "SYMBOL",
    "T0",
    "Buy",
    "Call",
    "Cancel",
    "Run",
    "Script",
    "ScriptedStrategy",
    "Sell",
    "Snapshot",
    "Submit",
    "bar_table",
    "quote_table",
    "run_script",
    "trade_table",
]
