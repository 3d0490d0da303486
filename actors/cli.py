"""The command line's actor-graph runner: ``raytrader backtest --workers N`` lands here.

Registered in ``pyproject.toml`` as the ``graph`` entry point of the ``raytrader.runners``
group, so ``engine.cli`` finds it without importing Ray or ``actors``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import ray

from actors.graph import GraphRun, dashboard_url, ensure_ray
from actors.ray_session import exit_within_after_interrupt, stop_local_ray
from actors.targets import metrics_targets
from engine.config import BacktestConfig
from engine.result import BacktestResult


def run_graph_from_cli(config: BacktestConfig, *, workers: int, address: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Run ``config`` on the actor graph with ``workers`` strategy workers, on the Ray cluster
    at ``address`` (``--address``) or on a local Ray started here. A local Ray started here is
    shut down when the run ends, fails or is interrupted, at any point of its start-up
    included; a Ray this process already used is left as it was."""
    joined_here = not ray.is_initialized()    # not a Ray this process was already using
    # a Ctrl-C ends the command within 30 s, even when a clean shutdown would wait on the Ray
    # processes the same Ctrl-C killed
    with exit_within_after_interrupt(30.0):
        try:
            if ensure_ray(address, what="--address") and dashboard_url():
                print(f"Ray dashboard: {dashboard_url()} (the actors, their logs and "
                      f"metrics while the run lasts)", file=sys.stderr, flush=True)
            return GraphRun(config, workers=workers, address=address).result(progress)
        finally:
            if joined_here:
                stop_local_ray()


def attach_cluster(address: str) -> Callable[[], list[dict[str, Any]]]:
    """Attach this process to the Ray cluster at ``address`` and return the function that
    lists its graph actors' metrics targets (``raytrader serve --ray-address``)."""
    ensure_ray(address, what="--ray-address")
    return metrics_targets


def start_graph(config: BacktestConfig, workers: int) -> GraphRun:
    """Start ``config`` on the graph of the Ray this process is attached to (a local one
    started, and kept, when none is) and return its handle (``result(progress)``,
    ``cancel()``): the control API's backtests with ``workers``."""
    ensure_ray()
    return GraphRun(config, workers=workers)


# the command line and the API find these through the ``graph`` entry point (engine never
# imports Ray)
run_graph_from_cli.attach_cluster = attach_cluster  # type: ignore[attr-defined]
run_graph_from_cli.start_graph = start_graph  # type: ignore[attr-defined]
