"""The coordinator actor: the Ray shell of the coordinator core.

It starts a backtest's actor graph as the core plans it (readable names; a spread run pins
each actor to a node in turn), resetting instead the warm actors the core chose to reuse (a
run of another shape takes over the roles it shares with the last one); puts each
symbol's stream in Ray's object store once (the feed and execution actors map it zero-copy);
wires the actors' ZeroMQ endpoints; and watches them. If any actor fails or dies, every actor
it started is killed and the error names the one lost; ``cancel()`` does the same on request.
Actors it created are owned by it, so killing the coordinator also ends them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd
import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.coordinator.core import (Graph, GraphCanceled, GraphData, GraphError, GraphPlan, Phases,
                                     Reuse, WarmGraph, audit_verdict, check_spec, load_streams,
                                     plan_graph)
from actors.execution.actor import ExecutionActor
from actors.feed.actor import FeedActor
from actors.risk.actor import RiskActor
from actors.shell import CoreShell
from actors.risk.core import RiskSetup
from actors.worker.actor import WorkerActor
from engine.config import BacktestConfig
from engine.datasource import data_identity, known_symbols
from engine.obs.metrics import Samples
from engine.result import BacktestResult


class _Method(Protocol):
    def remote(self, *args: Any, **kwargs: Any) -> ray.ObjectRef[Any]: ...


class Actor(Protocol):
    """A Ray actor handle as the coordinator calls it: ``handle.method.remote(...)``. (Ray's
    ``ActorHandle`` types every method as ``Never``, which would hide the code after a call
    from the type checker.)"""

    def __getattr__(self, method: str) -> _Method: ...


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=4)  # type: ignore[call-overload]
class CoordinatorActor(CoreShell):
    role = "coordinator"

    def __init__(self) -> None:
        # what its runs did, for its metrics (read when Prometheus scrapes)
        self.outcomes: Counter[str] = Counter()
        self.actors_started = 0
        self.data_loads: Counter[str] = Counter()
        self.last_phases: dict[str, float] = {}
        self._warm: WarmGraph[Actor] = WarmGraph()
        # the last run's data, by what it read: a run over the same data skips the load
        self._data: tuple[Any, GraphData] | None = None
        # that data's streams in the object store: a run over it skips the copy in
        self._refs: dict[str, ray.ObjectRef[Any]] | None = None
        self._reused = False
        self._cancel = threading.Event()
        self._begin()
        self.observe()

    def _begin(self) -> None:
        """A coordinator serves one run after another: reset what a run leaves."""
        self.graph_run = uuid.uuid4().hex[:8]   # names this run's actors: ...@<graph_run>
        self.phases = Phases()
        self.started: dict[str, dict[str, Any]] = {}   # name -> pid and node of each actor
        self._actors: dict[str, Actor] = {}   # this run's actors by name, killed if it fails
        self.spawned: list[str] = []   # the actors whose processes started for this run
        self._cancel.clear()
        self._reused = False   # whether this run's data is the last run's
        self._execution: Actor | None = None
        self._total = 0

    def run(self, config: BacktestConfig, workers: int, batch_rows: int = 65_536,
            spread: bool = False,
            frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None) -> BacktestResult:
        self._begin()
        outcome = "failed"
        try:
            config = check_spec(config, workers, batch_rows)
            # When the symbols are known without loading the data (synthetic, catalog: a
            # missing symbol is refused here), the actors' processes start while the data
            # loads; otherwise after.
            early = known_symbols(config) if frames is None else None
            plan = plan_graph(config, workers, early, batch_rows) if early is not None else None
            graph = self._graph(plan, spread) if plan is not None else None
            data = self._load(config, frames)
            self._total = data.total_events
            self.phases.mark("prepare")
            if plan is None or graph is None:
                plan = plan_graph(config, workers, data.symbols, batch_rows)
                graph = self._graph(plan, spread)
            else:
                plan.check_data(data)
            result = self._run(plan, data, graph)
            self._warm.keep(graph)
            self._actors.clear()     # kept warm for the next run of this shape
            outcome = "ok"
        except GraphCanceled:
            outcome = "canceled"
            raise
        finally:
            self._kill_all()
            self.outcomes[outcome] += 1
            self.actors_started += len(self.spawned)
        self.phases.mark("total")
        self.last_phases = dict(self.phases)
        result.timing["graph_phases"] = dict(self.phases)
        result.timing["data_reused"] = self._reused
        result.timing["graph_started"] = list(self.spawned)
        self.log.info("graph run finished", graph_run=self.graph_run, seconds=self.phases["total"],
                      started=len(self.spawned), data_reused=self._reused)
        return result

    def samples(self, samples: Samples) -> None:
        for outcome, n in self.outcomes.items():
            samples.add("raytrader_runs_total", n, kind="graph", outcome=outcome)
        samples.add("raytrader_graph_actors_started_total", self.actors_started,
                    actor=self.actor)
        for result, n in self.data_loads.items():
            samples.add("raytrader_data_loads_total", n, actor=self.actor, result=result)
        for phase in ("prepare", "object_store", "actors_started", "total"):
            if phase in self.last_phases:
                samples.add("raytrader_graph_phase_seconds", self.last_phases[phase],
                            actor=self.actor, phase=phase)

    def _load(self, config: BacktestConfig,
              frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None) -> GraphData:
        """The run's data: the previous run's when it read the very same (same data fields,
        same files unchanged: ``engine.datasource.data_identity``), else loaded and kept for
        the next run. One dataset is kept; in-memory frames are never kept."""
        key = data_identity(config) if frames is None else None
        if key is not None and self._data is not None and self._data[0] == key:
            self._reused = True
            self.data_loads["reused"] += 1
            return self._data[1]
        self.data_loads["loaded"] += 1
        self._data = self._refs = None   # the old dataset can go before the new one loads
        data = load_streams(config, frames)
        if key is not None:
            self._data = (key, data)
        return data

    def _graph(self, plan: GraphPlan, spread: bool) -> Graph[Actor]:
        """The run's actors: those of the warm graph that fit this plan (the core decides),
        reset with fresh cores, and the others started (their processes start in parallel)."""
        reuse = self._warm.take(plan.shape, spread)
        self._kill(reuse.stale)
        if not self._reset(reuse, plan):
            reuse = Reuse()   # a warm actor died while idle: start every actor afresh
        slot = itertools.count()   # a spread run places actor k on node k mod nodes
        config, rid = plan.config, self.graph_run
        risk = reuse.risk
        if plan.risk and risk is None:
            risk = self._spawn("risk", RiskActor, f"risk@{rid}", next(slot), spread,
                               RiskSetup.of(config))
        execution = reuse.execution or self._spawn(
            "execution", ExecutionActor, f"execution:{config.venue}@{rid}", next(slot), spread,
            config, list(plan.pairs), plan.batch_ids)
        feed = None
        workers = {}
        if plan.groups:
            feed = reuse.feed or self._spawn("feed", FeedActor, f"feed:{config.venue}@{rid}",
                                             next(slot), spread, config.venue, plan.batch_rows)
            for i, (label, group) in enumerate(zip(plan.shape.workers, plan.groups)):
                if label in reuse.workers:
                    name, handle = reuse.workers[label]
                    workers[name] = handle
                else:
                    name = plan.worker_name(i, rid)
                    workers[name] = self._spawn(name, WorkerActor, name, next(slot), spread,
                                                list(group), config.venue)
        return Graph(plan.shape, execution, risk, feed, workers)

    def _spawn(self, key: str, cls: Any, name: str, slot: int, spread: bool,
               *args: Any) -> Actor:
        """Start one actor (``cls``: a ``@ray.remote`` class, opaque to mypy)."""
        options: dict[str, Any] = {"name": name, "max_restarts": 0}
        if spread:
            nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                nodes[slot % len(nodes)], soft=False)
        handle: Actor = cls.options(**options).remote(*args)
        self._actors[key] = handle
        self.spawned.append(name)
        return handle

    def _reset(self, reuse: Reuse[Actor], plan: GraphPlan) -> bool:
        """Give the warm actors this run takes over fresh cores for this plan; False (and
        those actors killed) if any of them is gone."""
        config = plan.config
        resets = []
        if reuse.risk is not None:
            resets.append(reuse.risk.reset.remote(RiskSetup.of(config)))
        if reuse.execution is not None:
            resets.append(reuse.execution.reset.remote(config, list(plan.pairs),
                                                       plan.batch_ids))
        if reuse.feed is not None:
            resets.append(reuse.feed.reset.remote(config.venue, plan.batch_rows))
        for label, group in zip(plan.shape.workers, plan.groups):
            if label in reuse.workers:
                resets.append(reuse.workers[label][1].reset.remote(list(group), config.venue))
        try:
            ray.get(resets, timeout=60)
        except Exception:   # an actor died while idle
            self._kill(reuse.actors())
            return False
        self._actors.update(reuse.actors())
        return True

    def _run(self, plan: GraphPlan, data: GraphData, graph: Graph[Actor]) -> BacktestResult:
        refs = self._object_refs(data)
        self.phases.mark("object_store")
        risk, execution, feed = graph.risk, graph.execution, graph.feed
        self._execution = execution
        waits = [execution.load.remote(list(refs), list(refs.values()), data.info)]
        if feed is not None:
            fed = list(plan.fed_symbols)
            waits.append(feed.load.remote(fed, [refs[s] for s in fed]))
        for worker, group in zip(graph.workers.values(), plan.groups):
            # the worker maps its symbols' streams; the feed sends it rows of them
            mine = list(dict.fromkeys(pair.symbol for pair in group))
            waits.append(worker.load.remote(mine, [refs[s] for s in mine]))
        risk_endpoint = ray.get(risk.endpoint.remote()) if risk is not None else None
        exec_endpoint = ray.get(execution.endpoint.remote())
        started: dict[str, ray.ObjectRef[Any]] = {}
        if risk is not None:
            started["risk"] = risk.serve.remote()
        subscribers: Counter[str] = Counter()   # topic -> workers subscribing to it
        if feed is not None:
            feed_endpoints = ray.get(feed.endpoints.remote())
            for topics in ray.get([w.connect.remote(feed_endpoints, exec_endpoint, data.kinds())
                                   for w in graph.workers.values()]):
                subscribers.update(topics)
        ray.get(waits)
        started["execution"] = execution.run.remote(risk_endpoint)
        for name, worker in graph.workers.items():
            started[name] = worker.run.remote()
        if feed is not None:
            started["feed"] = feed.run.remote(dict(subscribers))
        self.started = dict(zip(self._actors, ray.get(
            [h.where.remote() for h in self._actors.values()])))
        self.phases.mark("actors_started")
        return self._watch(started)

    def _object_refs(self, data: GraphData) -> dict[str, ray.ObjectRef[Any]]:
        """Each symbol's stream in the object store: put once per kept dataset (the actors
        map it zero-copy run after run), every time for data that is not kept."""
        kept = self._data is not None and self._data[1] is data
        if kept and self._refs is not None:
            return self._refs
        # side by side, one thread a core: the copy into shared memory runs outside the GIL
        streams = list(data.streams.items())
        with ThreadPoolExecutor(max(1, min(len(streams), os.cpu_count() or 1))) as pool:
            refs = dict(zip(data.streams, pool.map(lambda item: ray.put(item[1]), streams)))
        if kept:
            self._refs = refs
        return refs

    def _watch(self, started: dict[str, ray.ObjectRef[Any]]) -> BacktestResult:
        """Wait for every actor's run; the first failure or loss ends the run."""
        names = {ref: name for name, ref in started.items()}
        pending = list(started.values())
        values: dict[str, Any] = {}
        while pending:
            if self._cancel.is_set():
                raise GraphCanceled("backtest canceled")
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            for ref in done:
                name = names[ref]
                try:
                    values[name] = ray.get(ref)
                except RayActorError as exc:
                    raise GraphError(f"actor {name!r} was lost mid-run: "
                                     f"{_first_line(exc)}") from None
                except RayTaskError as exc:
                    raise GraphError(f"actor {name!r} failed: {_first_line(exc.cause or exc)}"
                                     f"\n{exc}") from None
                self.phases.mark(f"{name.split('@')[0]} done")
        result: BacktestResult = values["execution"]
        if "risk" in values:
            result.timing["risk_audit"] = audit_verdict(values["risk"])
        return result

    def progress(self) -> tuple[int, int]:
        if self._execution is None:
            return (0, self._total)
        try:
            done, total = ray.get(self._execution.progress.remote(), timeout=2)
        except Exception:   # the execution actor is gone or busy: report nothing done
            return (0, self._total)
        return (done, total)

    def actors(self) -> dict[str, dict[str, Any]]:
        """Name -> pid and node id of every actor this run started (kept after it ends)."""
        return dict(self.started)

    def cancel(self) -> None:
        self._cancel.set()

    def stop(self) -> None:
        """What stopping a graph actor means for the coordinator (it has no core): cancel."""
        self.cancel()

    def _kill_all(self) -> None:
        self._kill(self._actors)
        self._actors.clear()
        self._execution = None

    @staticmethod
    def _kill(actors: dict[str, Actor]) -> None:
        for handle in actors.values():
            with contextlib.suppress(Exception):   # already gone
                ray.kill(handle, no_restart=True)  # type: ignore[arg-type]  # an ActorHandle

    def release(self) -> None:
        """End the warm graph's actors (the coordinator itself stays)."""
        graph = self._warm.release()
        if graph is not None:
            self._kill(graph.actors())

    def pid(self) -> int:
        return os.getpid()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["CoordinatorActor", "GraphCanceled", "GraphError"]
