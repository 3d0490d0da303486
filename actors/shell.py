"""What every graph actor's Ray shell does alike: stop its core on request, say where it
runs, and make itself observable. Each role's ``actor.py`` subclasses :class:`CoreShell` and
adds only its own calls and the samples its core's totals give (``samples``)."""

from __future__ import annotations

import os
from typing import Any

import ray

from actors.targets import register_target
from engine.obs import logs
from engine.obs.exporter import serve_metrics
from engine.obs.metrics import Samples, add_collector


def actor_name() -> str:
    """This actor's Ray name (``worker:BTC/USDT:sma_cross@1a2b3c4d``)."""
    return ray.get_runtime_context().get_actor_name() or f"actor-{os.getpid()}"


def actor_label() -> tuple[str, str | None]:
    """This actor's name without its run suffix, and that suffix (the id of the graph run
    that started the process): ``worker:BTC/USDT:sma_cross@1a2b3c4d`` ->
    ``("worker:BTC/USDT:sma_cross", "1a2b3c4d")``."""
    label, _, run_id = actor_name().partition("@")
    return label, run_id or None


class CoreShell:
    """Base of the actor shells: ``self.core`` is the role's Ray-free core."""

    core: Any
    role = "actor"
    actor = "actor"
    run_id: str | None = None

    def observe(self) -> None:
        """Set up this actor process's logs (JSON lines bound to its run id and name) and its
        metrics exporter, whose counters and gauges ``samples`` reads at scrape time."""
        self.actor, self.run_id = actor_label()
        logs.configure(os.environ.get("RAYTRADER_LOG_FORMAT") or "json", run_id=self.run_id,
                       actor=self.actor, role=self.role)
        # bound on the logger, not only the context: the actor's calls run in other threads
        self.log = logs.get_logger(f"raytrader.{self.role}", run_id=self.run_id,
                                   actor=self.actor, role=self.role)
        # bound on the node's address (RAYTRADER_METRICS_HOST: another, e.g. 0.0.0.0), and
        # advertised under the node's address whenever bound on every interface
        node_ip = ray.util.get_node_ip_address()
        host = os.environ.get("RAYTRADER_METRICS_HOST") or node_ip
        _, port = serve_metrics(host, 0)
        self.metrics_at = (node_ip if host in ("0.0.0.0", "::") else host, port)
        add_collector(self._collect)
        register_target(actor_name(), self.metrics_target())
        self.log.info("actor started", pid=os.getpid(),
                      metrics=f"{self.metrics_at[0]}:{self.metrics_at[1]}")

    def _collect(self, samples: Samples) -> None:
        samples.add("raytrader_run_info", 1.0, run_id=self.run_id or "", actor=self.actor,
                    kind="graph")
        self.samples(samples)

    def samples(self, samples: Samples) -> None:
        """The role's counters and gauges, read from its core (at scrape time)."""

    def metrics_target(self) -> dict[str, Any]:
        """Where Prometheus scrapes this actor, with the labels that name it."""
        host, port = self.metrics_at
        return {"address": f"{host}:{port}", "actor": self.actor, "role": self.role,
                "run_id": self.run_id, "kind": "graph"}

    def stop(self) -> None:
        """Ask the core to stop its run (it returns soon after, from another thread)."""
        self.core.stop()

    def where(self) -> dict[str, Any]:
        """The process and node this actor runs in."""
        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}
