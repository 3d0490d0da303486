"""Where Prometheus finds the actors of the graph.

Each actor, when its process starts, serves its metrics on a port of its own and records
``{"address", "actor", "role", "run_id", "kind"}`` under its Ray actor name in the cluster's
key-value store (the GCS, namespace ``raytrader``), so any process attached to the cluster (a
driver, the control API) can list every exporter of every node: :func:`metrics_targets`.
Entries of actors that have ended are skipped (and removed) when listed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import ray
from ray.experimental import internal_kv

NAMESPACE = "raytrader"
PREFIX = "metrics/"


def register_target(actor_name: str, target: dict[str, Any]) -> None:
    """Record where the actor ``actor_name`` serves its metrics."""
    internal_kv._internal_kv_put(f"{PREFIX}{actor_name}", json.dumps(target),
                                 namespace=NAMESPACE)


def metrics_targets() -> list[dict[str, Any]]:
    """Every live actor's metrics target in the cluster this process is attached to, sorted
    by actor name."""
    if not ray.is_initialized():
        return []
    found = []
    for key in sorted(internal_kv._internal_kv_list(PREFIX, namespace=NAMESPACE)):
        name = key.decode().removeprefix(PREFIX)
        try:
            ray.get_actor(name)
        except ValueError:   # the actor has ended: forget it
            with contextlib.suppress(Exception):
                internal_kv._internal_kv_del(key, namespace=NAMESPACE)
            continue
        raw = internal_kv._internal_kv_get(key, namespace=NAMESPACE)
        if raw:
            found.append(json.loads(raw))
    return found


__all__ = ["metrics_targets", "register_target"]
