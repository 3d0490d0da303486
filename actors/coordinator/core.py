"""The coordinator core: the decisions behind a backtest's actor graph, without Ray.

A spec is a ``BacktestConfig`` (symbols x strategies x parameter sets, dates, costs, risk
limits, seed). The core checks it (:func:`check_spec`), plans the graph once
(:func:`plan_graph`): the (symbol, strategy) pairs in run order, and the pairs that have a
batch path grouped onto the strategy-worker processes, contiguous in symbol order so a
symbol's stream goes to as few workers as possible (pairs without a batch path run their hooks
in the execution actor); and turns the loaded data into one :class:`~actors.stream.Stream` per
symbol (:func:`load_streams`). When the symbols are known without loading the data (synthetic,
catalog), the plan comes first and the actors start while the data loads.

It also decides what the shell does with the graph of the previous run
(:class:`WarmGraph`: reset the actors a run shares with it, by role, and end the rest),
and whether a finished run passes its risk audit (:func:`audit_verdict`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from actors.risk.core import AuditReport
from actors.stream import DataInfo, Stream
from engine.config import BacktestConfig
from engine.datasource import load_data
from engine.errors import ConfigError, RaytraderError
from engine.plan import PairPlan
from engine.run import complete_params, plan_pairs
from engine.strategy import load_strategy

P = TypeVar("P")   # a pair, or anything split the same way


class GraphError(RaytraderError):
    """The actor graph failed: an actor died or raised, or the risk audit disagreed."""


class GraphCanceled(RaytraderError):
    """The run was canceled before it finished."""


@dataclasses.dataclass(frozen=True)
class GraphShape:
    """What a warm graph must match for a run to reuse its actors: the venue, whether a risk
    actor runs, the feed's batch size, and the worker groups by label (parameters, dates and
    costs may differ: every actor gets a fresh core)."""

    venue: str
    risk: bool
    batch_rows: int
    workers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class GraphPlan:
    """What runs where: every pair of the run, and the worker groups of the batch pairs."""

    config: BacktestConfig
    pairs: tuple[PairPlan, ...]
    batch_ids: frozenset[str]
    groups: tuple[tuple[PairPlan, ...], ...]
    batch_rows: int

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every symbol of the run, in run order."""
        return tuple(dict.fromkeys(p.symbol for p in self.pairs))

    @property
    def fed_symbols(self) -> tuple[str, ...]:
        """The symbols some worker subscribes to (the feed publishes only these)."""
        fed = {p.symbol for group in self.groups for p in group}
        return tuple(s for s in self.symbols if s in fed)

    @property
    def risk(self) -> bool:
        """Whether the run has portfolio risk limits (and so a risk actor auditing them)."""
        return self.config.risk_limits().active

    @property
    def shape(self) -> GraphShape:
        return GraphShape(self.config.venue, self.risk, self.batch_rows,
                          tuple(worker_label(g, i) for i, g in enumerate(self.groups)))

    def worker_name(self, index: int, run_id: str) -> str:
        """The actor name of worker ``index``: ``worker:BTC/USDT:sma_cross@<run_id>`` for a
        single pair."""
        return f"worker:{worker_label(self.groups[index], index)}@{run_id}"

    def check_data(self, data: GraphData) -> None:
        """The loaded data must have the symbols planned before it loaded."""
        if data.symbols != self.symbols:
            raise GraphError(f"the data has symbols {list(data.symbols)}, but the graph was "
                             f"planned for {list(self.symbols)}")


@dataclasses.dataclass(frozen=True)
class GraphData:
    """A run's market data, one stream per symbol, and where it came from."""

    streams: dict[str, Stream]
    info: DataInfo

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.streams)

    @property
    def total_events(self) -> int:
        return sum(len(s) for s in self.streams.values())

    def kinds(self) -> dict[str, str]:
        """Symbol -> data kind (``bar``, ``trade``, ``quote``)."""
        return {symbol: s.kind for symbol, s in self.streams.items()}


def check_spec(config: BacktestConfig, workers: int, batch_rows: int) -> BacktestConfig:
    """Check what the graph needs before anything loads or starts; returns the config with
    every strategy's parameters validated, typed and complete."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer for the actor graph, got "
                          f"{workers!r}")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ConfigError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    return complete_params(config)


def plan_graph(config: BacktestConfig, workers: int, symbols: Sequence[str],
               batch_rows: int) -> GraphPlan:
    """The graph of a checked spec (:func:`check_spec`) over ``symbols``."""
    pairs = plan_pairs(config, list(symbols))
    batch_ids = frozenset(p.strategy_id for p in pairs
                          if load_strategy(p.strategy_ref).has_batch_path())
    groups = worker_groups([p for p in pairs if p.strategy_id in batch_ids], workers)
    return GraphPlan(config, tuple(pairs), batch_ids, tuple(map(tuple, groups)), batch_rows)


def load_streams(config: BacktestConfig,
                 frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None) -> GraphData:
    """Load the data a spec asks for (a symbol without data is refused here) as one contiguous
    stream per symbol."""
    loaded = load_data(config, frames)
    streams = {}
    for feed in loaded.feeds:
        columns = {name: np.ascontiguousarray(feed.frame[name].to_numpy())
                   for name in feed.frame.columns}
        streams[feed.symbol] = Stream(feed.kind, feed.interval_ns, columns)
    return GraphData(streams, DataInfo(loaded.source, loaded.reports, loaded.market_history))


def worker_groups(pairs: Sequence[P], workers: int) -> list[list[P]]:
    """Split pairs (in run order) into at most ``workers`` contiguous, near-equal groups."""
    n = min(workers, len(pairs))
    if n == 0:
        return []
    bounds = np.linspace(0, len(pairs), n + 1).round().astype(int)
    return [list(pairs[bounds[i]:bounds[i + 1]]) for i in range(n)]


def worker_label(group: Sequence[PairPlan], index: int) -> str:
    """A readable label: ``BTC/USDT:sma_cross`` for one pair, ``1[BTC/USDT:sma_cross,...]``
    for several."""
    names = [f"{p.symbol}:{p.strategy_id.split(':', 1)[0]}" for p in group]
    return names[0] if len(names) == 1 else f"{index}[" + ",".join(names) + "]"


H = TypeVar("H")   # the shell's actor handle


@dataclasses.dataclass(frozen=True)
class Graph(Generic[H]):
    """The actors of one graph by role (``H``: the shell's actor handle); ``workers`` maps
    each worker's name to its handle, in the plan's group order."""

    shape: GraphShape
    execution: H
    risk: H | None = None
    feed: H | None = None
    workers: dict[str, H] = dataclasses.field(default_factory=dict)

    def actors(self) -> dict[str, H]:
        """Every actor by name, in start order: risk, execution, feed, the workers."""
        out = {"risk": self.risk, "execution": self.execution, "feed": self.feed,
               **self.workers}
        return {name: handle for name, handle in out.items() if handle is not None}


@dataclasses.dataclass
class Reuse(Generic[H]):
    """What a run takes over from the kept graph: the actors it resets instead of starting
    (by role; workers by their group's label, since a worker's name says what it runs), and
    the actors it must end (another venue's, a role the run has not, a group it does not run,
    or all of them for a spread run)."""

    execution: H | None = None
    risk: H | None = None
    feed: H | None = None
    workers: dict[str, tuple[str, H]] = dataclasses.field(default_factory=dict)  # label ->
    stale: dict[str, H] = dataclasses.field(default_factory=dict)                # name, handle

    def actors(self) -> dict[str, H]:
        """Every actor taken over for resetting, by name."""
        out = {"risk": self.risk, "execution": self.execution, "feed": self.feed,
               **dict(self.workers.values())}
        return {name: handle for name, handle in out.items() if handle is not None}


class WarmGraph(Generic[H]):
    """The graph of the last run that ended normally, kept so that the next run reuses its
    actors' processes (fresh cores, no process start-up, about a CPU-second each). A run of
    the same shape resets them all; a run of another shape on the same venue resets the roles
    it shares with the kept graph (execution, risk, feed, and the workers of groups it runs
    too) and starts only the rest. A run placed across nodes ends them instead."""

    def __init__(self) -> None:
        self._graph: Graph[H] | None = None

    def keep(self, graph: Graph[H]) -> None:
        self._graph = graph

    def take(self, shape: GraphShape, spread: bool) -> Reuse[H]:
        """Hand the kept graph over for a run of ``shape``. A spread run pins each actor to
        a node, which a warm actor started without that placement does not satisfy."""
        graph, self._graph = self._graph, None
        if graph is None:
            return Reuse()
        if spread or graph.shape.venue != shape.venue:
            return Reuse(stale=graph.actors())
        reuse: Reuse[H] = Reuse(execution=graph.execution)
        if graph.risk is not None:
            if shape.risk:
                reuse.risk = graph.risk
            else:
                reuse.stale["risk"] = graph.risk
        if graph.feed is not None:
            if shape.workers:
                reuse.feed = graph.feed
            else:
                reuse.stale["feed"] = graph.feed
        wanted = set(shape.workers)
        for label, (name, handle) in zip(graph.shape.workers, graph.workers.items()):
            if label in wanted:
                reuse.workers[label] = (name, handle)
            else:
                reuse.stale[name] = handle
        return reuse

    def release(self) -> Graph[H] | None:
        """Hand the kept graph over to be ended."""
        graph, self._graph = self._graph, None
        return graph


def audit_verdict(report: AuditReport) -> dict[str, Any]:
    """The risk actor's audit of a finished run: the report (for the result's timing) when
    every decision agrees, else a ``GraphError`` naming how many differ and the first."""
    if report.mismatches:
        raise GraphError(f"risk audit: {report.mismatches} of {report.checks} decisions "
                         f"differ; first: {report.first_mismatch}")
    return dataclasses.asdict(report)


class Phases(dict[str, float]):
    """Seconds from the start of a run to each named phase."""

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.perf_counter()

    def mark(self, name: str) -> None:
        self[name] = time.perf_counter() - self._t0
