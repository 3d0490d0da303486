"""Shared checks for built-in strategies: both paths give identical orders, and a hand-written
market table gives the entries and exits the docstring promises.

``run_paths(cls, params, frames, kind)`` runs the same engine twice, once through the per-event
hooks (``run``) and once through the batch path (``run_batch``, with small chunks so chunk
boundaries are exercised), and returns both engines; ``assert_same_orders`` compares every
order event, fill and closed trade.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from engine.backtesting import BacktestEngine, Feed
from engine.messages import SubmitOrder
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.venue import VenueConfig

MINUTE_NS = 60_000_000_000


def make_engine(cls: type[Strategy], params: Mapping[str, Any],
                frames: Mapping[str, pd.DataFrame], kind: str = "bar",
                interval_ns: int = MINUTE_NS, capital: float = 100_000.0,
                venue: VenueConfig | None = None,
                limits: RiskLimits | None = None) -> BacktestEngine:
    """An engine with one feed per symbol of ``frames`` and ``cls(params)`` on each.

    The account is spot unless ``limits`` says otherwise, or the parameters allow shorts: a
    strategy that sells short needs a margin account."""
    if limits is None and params.get("allow_short"):
        limits = RiskLimits(account="margin")
    engine = BacktestEngine(capital=capital, venue_config=venue or VenueConfig(),
                            risk_limits=limits)
    for symbol, frame in frames.items():
        engine.add_feed(Feed(symbol, kind, frame, interval_ns if kind == "bar" else 0))
    for symbol in frames:
        engine.add_strategy(cls(dict(params)), symbol)
    return engine


def run_paths(cls: type[Strategy], params: Mapping[str, Any],
              frames: Mapping[str, pd.DataFrame], kind: str = "bar", chunk_rows: int = 997,
              **kwargs: Any) -> tuple[BacktestEngine, BacktestEngine]:
    """(hooks engine, batch engine) after running the same setup both ways."""
    hooks = make_engine(cls, params, frames, kind, **kwargs)
    hooks.run()
    batch = make_engine(cls, params, frames, kind, **kwargs)
    batch.run_batch(chunk_rows=chunk_rows)
    return hooks, batch


def assert_same_orders(hooks: BacktestEngine, batch: BacktestEngine,
                       min_fills: int = 1) -> None:
    """Identical order events, fills and round trips; and the run actually traded."""
    assert len(hooks.fills) >= min_fills, (
        f"the scenario is too quiet to compare paths: {len(hooks.fills)} fills")
    assert batch.order_events == hooks.order_events
    assert batch.fills == hooks.fills
    assert batch.portfolio.trades == hooks.portfolio.trades
    assert batch.faults == hooks.faults == []


class OrderLog:
    """Wraps an engine's submit to record (event time, side, quantity) of every order."""

    def __init__(self, engine: BacktestEngine) -> None:
        self.orders: list[SubmitOrder] = []
        submit = engine.submit

        def recording(cmd: SubmitOrder) -> None:
            self.orders.append(cmd)
            submit(cmd)

        engine.submit = recording  # type: ignore[method-assign]

    def sides(self) -> list[tuple[int, str]]:
        return [(o.ts_event, o.side) for o in self.orders]
