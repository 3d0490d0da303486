"""One Prometheus exporter per process, and the service-discovery file that tells Prometheus
where they all are.

Every process of a run (each actor of the graph, a paper or live session, the control API)
serves ``/metrics`` over HTTP on a port of its own (:func:`serve_metrics`; port 0 picks a
free one). Prometheus finds them through a ``file_sd_configs`` JSON file
(:func:`write_targets`) that the process owning the run writes (the driver of a graph run,
the API server, ``raytrader paper --metrics-port``), or through the control API's
``/api/v1/metrics/targets`` (``http_sd_configs``). Both list ``host:port`` with the labels
``actor`` and ``kind``. See ``deploy/README.md``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, start_http_server

SD_LABELS = ("actor", "role", "kind")
_served: dict[str, Any] = {}
_lock = threading.Lock()


def serve_metrics(host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
    """Serve this process's metrics on ``host:port`` (a free port for 0), once per process;
    returns the address it serves on (a second call returns the first address)."""
    with _lock:
        if "address" in _served:
            found: tuple[str, int] = _served["address"]
            return found
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
        address = (host, int(server.server_port))
        _served.update(address=address, server=server, thread=thread)
        return address


def serving() -> tuple[str, int] | None:
    """The address this process serves its metrics on, if it does."""
    return _served.get("address")


def stop_metrics() -> None:
    """Stop this process's exporter (tests; a process ends it by exiting)."""
    with _lock:
        server = _served.pop("server", None)
        _served.clear()
    if server is not None:
        server.shutdown()
        server.server_close()


def sd_groups(targets: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Prometheus file / HTTP service-discovery groups from ``{"address": "host:port",
    "actor": ..., "role": ..., "kind": ...}`` entries (other keys are left out)."""
    groups = []
    for target in targets:
        # a small, fixed label set (a run id would make new series every run: it is on
        # raytrader_run_info instead)
        labels = {k: str(v) for k, v in target.items() if k in SD_LABELS and v is not None}
        groups.append({"targets": [str(target["address"])], "labels": labels})
    return groups


def write_targets(path: str | os.PathLike[str], targets: Iterable[Mapping[str, Any]]) -> Path:
    """Write a ``file_sd_configs`` file listing ``targets`` (atomically: Prometheus never
    reads half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(sd_groups(targets), indent=1))
    tmp.replace(path)
    return path


def targets_dir() -> Path | None:
    """Where runs write their service-discovery files: ``RAYTRADER_PROMETHEUS_SD_DIR``."""
    where = os.environ.get("RAYTRADER_PROMETHEUS_SD_DIR")
    return Path(where) if where else None


__all__ = ["sd_groups", "serve_metrics", "serving", "stop_metrics", "targets_dir",
           "write_targets"]
