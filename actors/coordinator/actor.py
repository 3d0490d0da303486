"""The coordinator actor: starts a backtest's actor graph, streams it, watches it, and
returns the assembled result.

It puts each symbol's columns in Ray's object store once (the feed and execution actors map
them zero-copy), starts the risk, execution, feed and strategy-worker actors with readable
names, wires their ZeroMQ endpoints, and waits. If any actor fails or dies, every actor it
started is killed and the error names the one lost; ``cancel()`` does the same on request.
Actors it created are owned by it, so killing the coordinator also ends them.
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

from actors.coordinator.core import GraphPlan, prepare, worker_name
from actors.execution.actor import ExecutionActor
from actors.feed.actor import FeedActor
from actors.risk.actor import RiskActor
from actors.worker.actor import WorkerActor
from engine.config import BacktestConfig
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

    def run(self, config: BacktestConfig, workers: int, batch_rows: int = 65_536,
            spread: bool = False, frames: Any = None) -> BacktestResult:
        t0 = time.perf_counter()
        plan = prepare(config, workers, frames)
        self._total = plan.total_events
        self.phases = {"prepare": time.perf_counter() - t0}
        self._t0 = t0
        try:
            result = self._run(plan, batch_rows, spread)
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

    def _run(self, plan: GraphPlan, batch_rows: int, spread: bool) -> BacktestResult:
        config = plan.config
        rid = self.run_id
        symbols = list(plan.streams)
        refs = [ray.put(plan.streams[s]) for s in symbols]
        self.phases["object_store"] = time.perf_counter() - self._t0
        fed = sorted({p.symbol for g in plan.groups for p in g}, key=symbols.index)
        kinds = {s: plan.streams[s]["kind"] for s in symbols}
        limits = config.risk_limits()
        # Create every actor first (their processes start in parallel), then wire endpoints.
        slots = iter(range(1 << 30))
        risk = execution = feed = None
        if limits.active:
            risk = self._start("risk", RiskActor.options(**self._options(
                f"risk@{rid}", next(slots), spread)).remote(limits))
        execution = self._start("execution", ExecutionActor.options(**self._options(
            f"execution:{config.venue}@{rid}", next(slots), spread)).remote(
            config, symbols, refs, plan.plans, plan.batch_ids, plan.data_info()))
        workers = []
        if plan.groups:
            feed = self._start("feed", FeedActor.options(**self._options(
                f"feed:{config.venue}@{rid}", next(slots), spread)).remote(
                fed, [refs[symbols.index(s)] for s in fed], config.venue, batch_rows))
            for i, group in enumerate(plan.groups):
                name = worker_name(group, i, rid)
                workers.append((name, self._start(name, WorkerActor.options(**self._options(
                    name, next(slots), spread)).remote(group, config.venue, kinds))))
        risk_endpoint = ray.get(risk.endpoint.remote()) if risk is not None else None
        exec_endpoint = ray.get(execution.endpoint.remote())
        started: dict[str, Any] = {}
        if risk is not None:
            started["risk"] = risk.serve.remote()
        started["execution"] = execution.run.remote(risk_endpoint)
        if feed is not None:
            feed_endpoints = ray.get(feed.endpoints.remote())
            subscribers: dict[str, int] = {}
            topic_lists = ray.get([w.connect.remote(feed_endpoints, exec_endpoint)
                                   for _, w in workers])
            for (name, worker), topics in zip(workers, topic_lists):
                for topic in topics:
                    subscribers[topic] = subscribers.get(topic, 0) + 1
                started[name] = worker.run.remote()
            started["feed"] = feed.run.remote(subscribers)
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
        for handle in self._actors.values():
            try:
                ray.kill(handle, no_restart=True)
            except Exception:
                pass   # already gone
        self._actors.clear()
        self._execution = None

    def pid(self) -> int:
        return os.getpid()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["CoordinatorActor", "GraphError", "GraphCanceled"]
