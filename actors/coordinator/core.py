"""The coordinator core: turns a backtest spec into the plan of an actor graph.

A spec is a ``BacktestConfig`` (symbols x strategies x parameter sets, dates, costs, risk
limits, seed). The coordinator loads the data first, so a symbol without data is rejected
before any actor starts; partitions the run into (symbol, strategy) pairs; and groups the
pairs that have a batch path onto the strategy-worker processes: contiguous in symbol order,
so a symbol's stream goes to as few workers as possible. Pairs without a batch path run their
hooks in the execution actor.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import pandas as pd

from engine.config import BacktestConfig
from engine.datasource import LoadedData, load_data
from engine.errors import ConfigError
from engine.plan import PairPlan
from engine.run import complete_params, plan_pairs
from engine.strategy import load_strategy


@dataclasses.dataclass
class GraphPlan:
    """Everything the coordinator actor needs to start a graph."""

    config: BacktestConfig
    loaded: LoadedData
    plans: list[PairPlan]
    batch_ids: frozenset[str]
    groups: list[list[PairPlan]]
    streams: dict[str, dict[str, Any]]

    @property
    def total_events(self) -> int:
        return sum(len(s["columns"]["ts"]) for s in self.streams.values())

    def data_info(self) -> dict[str, Any]:
        return {"source": self.loaded.source, "reports": self.loaded.reports}


def prepare(config: BacktestConfig, workers: int,
            frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None) -> GraphPlan:
    """Validate the spec, load the data and plan the pairs and worker groups."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer for the actor graph, got "
                          f"{workers!r}")
    config = complete_params(config)
    loaded = load_data(config, frames)
    plans = plan_pairs(config, [f.symbol for f in loaded.feeds])
    batch_ids = frozenset(p.strategy_id for p in plans
                          if load_strategy(p.strategy_ref).has_batch_path())
    streams = {}
    for feed in loaded.feeds:
        columns = {name: np.ascontiguousarray(feed.frame[name].to_numpy())
                   for name in feed.frame.columns}
        streams[feed.symbol] = {"kind": feed.kind, "interval_ns": feed.interval_ns,
                                "columns": columns}
    groups = worker_groups([p for p in plans if p.strategy_id in batch_ids], workers)
    return GraphPlan(config, loaded, plans, batch_ids, groups, streams)


def worker_groups(plans: list[PairPlan], workers: int) -> list[list[PairPlan]]:
    """Split pairs (in run order) into at most ``workers`` contiguous, near-equal groups."""
    n = min(workers, len(plans))
    if n == 0:
        return []
    bounds = np.linspace(0, len(plans), n + 1).round().astype(int)
    return [plans[bounds[i]:bounds[i + 1]] for i in range(n)]


def worker_name(group: list[PairPlan], index: int, run_id: str) -> str:
    """A readable, unique actor name: ``worker:BTC/USDT:sma_cross`` for a single pair."""
    if len(group) == 1:
        p = group[0]
        label = f"{p.symbol}:{p.strategy_id.split(':', 1)[0]}"
    else:
        label = f"{index}[" + ",".join(f"{p.symbol}:{p.strategy_id.split(':', 1)[0]}"
                                       for p in group) + "]"
    return f"worker:{label}@{run_id}"
