"""The coordinator actor: starts a backtest's actor graph, streams it, watches it, and
returns the assembled result.

It puts each symbol's columns in Ray's object store once (the feed and execution actors map
them zero-copy), starts the risk, execution, feed and strategy-worker actors with readable
names, wires their ZeroMQ endpoints, and waits. If any actor fails or dies, every actor it
started is killed and the error names the one lost; ``cancel()`` does the same on request.
After a run that ends normally the graph stays warm: the next run of the same shape resets
those actors with fresh cores instead of starting new processes. Actors it created are owned
by it, so killing the coordinator also ends them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.coordinator.core import GraphPlan, prepare, worker_groups, worker_name
from actors.execution.actor import ExecutionActor
from actors.feed.actor import FeedActor
from actors.risk.actor import RiskActor
from actors.worker.actor import WorkerActor
from engine.config import BacktestConfig
from engine.datasource import known_symbols
from engine.run import complete_params, plan_pairs
from engine.strategy import load_strategy
from engine.errors import RaytraderError
from engine.result import BacktestResult


class GraphError(RaytraderError):
    """The actor graph failed: an actor died or raised."""


class GraphCanceled(RaytraderError):
    """The run was canceled before it finished."""


@ray.remote(num_cpus=0, max_concurrency=4)
class CoordinatorActor:
    def __init__(self) -> None:
        self._actors: dict[str, Any] = {}
        self._cancel = threading.Event()
        self._execution: Any = None
        self._total = 0
        self.started: dict[str, dict[str, Any]] = {}   # name -> pid and node of each actor
        self.run_id = uuid.uuid4().hex[:8]
        # The graph of the last run that ended normally, kept warm: a run of the same shape
        # reuses its actors' processes (fresh cores, no process start-up). (shape, handles,
        # name -> handle)
        self._warm: tuple[Any, dict[str, Any], dict[str, Any]] | None = None
        self._graph: tuple[Any, dict[str, Any]] | None = None

    def run(self, config: BacktestConfig, workers: int, batch_rows: int = 65_536,
            spread: bool = False, frames: Any = None) -> BacktestResult:
        t0 = self._t0 = time.perf_counter()
        # a coordinator serves one run after another: reset what a run leaves
        self.run_id = uuid.uuid4().hex[:8]
        self._cancel.clear()
        self._actors = {}
        self.started = {}
        self._execution = None
        self._total = 0
        self.phases: dict[str, float] = {}
        try:
            # When the symbols are known without loading the data (synthetic, catalog: a
            # missing symbol is refused here), the actors' processes start while the data
            # loads; otherwise after.
            early = None
            if frames is None:
                checked = complete_params(config)
                symbols = known_symbols(checked)
                if symbols is not None:
                    plans = plan_pairs(checked, list(symbols))
                    batch_ids = _batch_ids(plans)
                    groups = worker_groups([p for p in plans if p.strategy_id in batch_ids],
                                           workers)
                    early = self._create(checked, plans, batch_ids, groups, batch_rows, spread)
            plan = prepare(config, workers, frames)
            self._total = plan.total_events
            self.phases["prepare"] = time.perf_counter() - t0
            if early is None or early[0] != [p.strategy_id for p in plan.plans]:
                self._kill_all()
                early = self._create(plan.config, plan.plans, plan.batch_ids, plan.groups,
                                     batch_rows, spread)
            result = self._run(plan, early[1])
            self._keep_warm()
        finally:
            self._kill_all()
        self.phases["total"] = time.perf_counter() - t0
        result.timing["graph_phases"] = dict(self.phases)
        return result

    def _options(self, name: str, index: int, spread: bool) -> dict[str, Any]:
        opts: dict[str, Any] = {"name": name, "max_restarts": 0}
        if spread:
            nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
            opts["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                nodes[index % len(nodes)], soft=False)
        return opts

    def _create(self, config: BacktestConfig, plans: list[Any], batch_ids: frozenset[str],
                groups: list[list[Any]], batch_rows: int, spread: bool,
                ) -> tuple[list[str], dict[str, Any]]:
        """Start every actor of the graph (their processes start in parallel), or reset the
        warm graph of the previous run when it has the same shape."""
        shape = (config.venue, config.risk_limits().active, batch_rows,
                 tuple(worker_name(g, i, "") for i, g in enumerate(groups)))
        warm, self._warm = self._warm, None
        if warm is not None:
            if warm[0] == shape and not spread:
                handles = self._reset(warm, config, plans, batch_ids, groups, batch_rows)
                if handles is not None:
                    self._graph = (shape, handles)
                    return [p.strategy_id for p in plans], handles
            else:
                self._kill(warm[2])
        rid = self.run_id
        slots = iter(range(1 << 30))
        handles: dict[str, Any] = {"workers": []}
        if config.risk_limits().active:
            handles["risk"] = self._start("risk", RiskActor.options(**self._options(
                f"risk@{rid}", next(slots), spread)).remote(config.risk_limits()))
        handles["execution"] = self._start("execution", ExecutionActor.options(**self._options(
            f"execution:{config.venue}@{rid}", next(slots), spread)).remote(
            config, plans, batch_ids))
        if groups:
            handles["feed"] = self._start("feed", FeedActor.options(**self._options(
                f"feed:{config.venue}@{rid}", next(slots), spread)).remote(config.venue,
                                                                           batch_rows))
            for i, group in enumerate(groups):
                name = worker_name(group, i, rid)
                handles["workers"].append((name, group, self._start(
                    name, WorkerActor.options(**self._options(name, next(slots), spread))
                    .remote(group, config.venue))))
        self._graph = (shape, handles)
        return [p.strategy_id for p in plans], handles

    def _reset(self, warm: tuple[Any, dict[str, Any], dict[str, Any]], config: BacktestConfig,
               plans: list[Any], batch_ids: frozenset[str], groups: list[list[Any]],
               batch_rows: int) -> dict[str, Any] | None:
        """Give the warm graph's actors fresh cores for this run; None (and the warm actors
        killed) if any of them is gone."""
        _, old, actors = warm
        handles: dict[str, Any] = {"workers": []}
        resets = []
        if "risk" in old:
            handles["risk"] = old["risk"]
            resets.append(old["risk"].reset.remote(config.risk_limits()))
        handles["execution"] = old["execution"]
        resets.append(old["execution"].reset.remote(config, plans, batch_ids))
        if "feed" in old:
            handles["feed"] = old["feed"]
            resets.append(old["feed"].reset.remote(config.venue, batch_rows))
        for (name, _, worker), group in zip(old["workers"], groups):
            handles["workers"].append((name, group, worker))
            resets.append(worker.reset.remote(group, config.venue))
        try:
            ray.get(resets, timeout=60)
        except Exception:   # an actor died while idle: start the graph afresh
            self._kill(actors)
            return None
        self._actors.update(actors)
        return handles

    def _keep_warm(self) -> None:
        """After a run that ended normally: keep its actors for the next run of its shape."""
        if self._graph is not None:
            self._warm = (self._graph[0], self._graph[1], dict(self._actors))
        self._actors.clear()
        self._graph = None
        self._execution = None

    def _run(self, plan: GraphPlan, handles: dict[str, Any]) -> BacktestResult:
        config = plan.config
        symbols = list(plan.streams)
        refs = [ray.put(plan.streams[s]) for s in symbols]
        self.phases["object_store"] = time.perf_counter() - self._t0
        fed = sorted({p.symbol for g in plan.groups for p in g}, key=symbols.index)
        kinds = {s: plan.streams[s]["kind"] for s in symbols}
        risk, execution, feed = handles.get("risk"), handles["execution"], handles.get("feed")
        self._execution = execution
        waits = [execution.load.remote(symbols, refs, plan.data_info())]
        if feed is not None:
            waits.append(feed.load.remote(fed, [refs[symbols.index(s)] for s in fed]))
        risk_endpoint = ray.get(risk.endpoint.remote()) if risk is not None else None
        exec_endpoint = ray.get(execution.endpoint.remote())
        started: dict[str, Any] = {}
        if risk is not None:
            started["risk"] = risk.serve.remote()
        if feed is not None:
            feed_endpoints = ray.get(feed.endpoints.remote())
            workers = handles["workers"]
            topic_lists = ray.get([w.connect.remote(feed_endpoints, exec_endpoint, kinds)
                                   for _, _, w in workers])
            ray.get(waits)
            started["execution"] = execution.run.remote(risk_endpoint)
            subscribers: dict[str, int] = {}
            for (name, _, worker), topics in zip(workers, topic_lists):
                for topic in topics:
                    subscribers[topic] = subscribers.get(topic, 0) + 1
                started[name] = worker.run.remote()
            started["feed"] = feed.run.remote(subscribers)
        else:
            ray.get(waits)
            started["execution"] = execution.run.remote(risk_endpoint)
        self.started = dict(zip(self._actors, ray.get(
            [h.where.remote() for h in self._actors.values()])))
        self.phases["actors_started"] = time.perf_counter() - self._t0
        return self._watch(started)

    def _start(self, name: str, handle: Any) -> Any:
        self._actors[name] = handle
        return handle

    def _watch(self, started: dict[str, Any]) -> BacktestResult:
        names = {ref: name for name, ref in started.items()}
        pending = list(started.values())
        result = None
        audit = None
        while pending:
            if self._cancel.is_set():
                raise GraphCanceled("backtest canceled")
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            for ref in done:
                name = names[ref]
                try:
                    value = ray.get(ref)
                except RayActorError as exc:
                    raise GraphError(f"actor {name!r} was lost mid-run: "
                                     f"{_first_line(exc)}") from None
                except RayTaskError as exc:
                    raise GraphError(f"actor {name!r} failed: {_first_line(exc.cause or exc)}"
                                     f"\n{exc}") from None
                self.phases[f"{name.split('@')[0]} done"] = time.perf_counter() - self._t0
                if name == "execution":
                    result = value
                elif name == "risk":
                    audit = value
        assert result is not None
        if audit is not None:
            if audit["mismatches"]:
                raise GraphError(f"risk audit: {audit['mismatches']} of {audit['checks']} "
                                 f"decisions differ; first: {audit['first_mismatch']}")
            result.timing["risk_audit"] = audit
        return result

    def progress(self) -> tuple[int, int]:
        if self._execution is None:
            return (0, self._total)
        try:
            return tuple(ray.get(self._execution.progress.remote(), timeout=2))  # type: ignore
        except Exception:
            return (0, self._total)

    def actors(self) -> dict[str, dict[str, Any]]:
        """Name -> pid and node id of every actor this run started (kept after it ends)."""
        return dict(self.started)

    def cancel(self) -> None:
        self._cancel.set()

    def _kill_all(self) -> None:
        self._kill(self._actors)
        self._actors.clear()
        self._graph = None
        self._execution = None

    @staticmethod
    def _kill(actors: dict[str, Any]) -> None:
        for handle in actors.values():
            try:
                ray.kill(handle, no_restart=True)
            except Exception:
                pass   # already gone

    def release(self) -> None:
        """End the warm graph's actors (the coordinator itself stays)."""
        warm, self._warm = self._warm, None
        if warm is not None:
            self._kill(warm[2])

    def pid(self) -> int:
        return os.getpid()


def _batch_ids(plans: list[Any]) -> frozenset[str]:
    return frozenset(p.strategy_id for p in plans
                     if load_strategy(p.strategy_ref).has_batch_path())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["CoordinatorActor", "GraphError", "GraphCanceled"]
