"""Hand-written scenarios for built-in strategies: run one strategy over a small market table,
through its hooks or its batch path, and list the orders it placed by the row they were
decided on, so a test reads like the table it pins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting import BacktestEngine, StrategyFault
from engine.strategy import Strategy
from tests.kit.harness import OrderLog, make_engine
from tests.kit.scripted import CAPITAL, SYMBOL

Order = tuple[int, str, float]   # (row of the event it was decided on, side, quantity)


def run_scenario(cls: type[Strategy], params: Mapping[str, Any], frame: pd.DataFrame,
                 kind: str, *, batch: bool = False, chunk_rows: int = 3,
                 capital: float = CAPITAL) -> tuple[BacktestEngine, list[Order]]:
    """The engine after the run, and the orders the strategy placed, in order."""
    engine = make_engine(cls, params, {SYMBOL: frame}, kind, capital=capital)
    log = OrderLog(engine)
    if batch:
        engine.run_batch(chunk_rows=chunk_rows)
    else:
        engine.run()
    times = engine.feeds[0].event_times()
    orders = [(int(np.searchsorted(times, o.ts_event)), o.side, o.quantity) for o in log.orders]
    return engine, orders


def placed_orders(cls: type[Strategy], params: Mapping[str, Any], frame: pd.DataFrame,
                  kind: str, *, capital: float = CAPITAL) -> list[Order]:
    """The orders placed by the hooks; asserts the batch path (in chunks of 3 rows) places
    the very same ones and nothing faulted."""
    hooks, orders = run_scenario(cls, params, frame, kind, capital=capital)
    batch, batch_orders = run_scenario(cls, params, frame, kind, batch=True, capital=capital)
    assert hooks.faults == [] and batch.faults == []
    assert batch_orders == orders
    return orders


def faults(cls: type[Strategy], params: Mapping[str, Any], frame: pd.DataFrame,
           kind: str) -> tuple[list[StrategyFault], list[StrategyFault]]:
    """The faults of the hook run and of the batch run."""
    hooks, _ = run_scenario(cls, params, frame, kind)
    batch, _ = run_scenario(cls, params, frame, kind, batch=True)
    return hooks.faults, batch.faults
