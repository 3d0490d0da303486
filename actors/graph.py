"""Run a backtest on the actor graph, from Python or the command line::

    from actors.graph import backtest
    result = backtest("sma_cross", {"fast": 20, "slow": 80}, data="synthetic:trades",
                      symbols=["BTC/USDT", "ETH/USDT"], workers=2)

The result equals the single-process run of the same config (``engine.backtest``) exactly.
``workers`` is the number of strategy-worker processes; ``address`` joins an existing Ray
cluster (``"auto"`` or ``host:port``), otherwise a local Ray starts (and stays up for later
runs in this process). :class:`GraphRun` is the handle for a run in progress: ``result()``
waits (Ctrl-C cancels it), ``cancel()`` stops every actor the run started.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import ray

from actors.coordinator.actor import CoordinatorActor, GraphCanceled, GraphError
from actors.ray_session import check_reachable, start_local_ray
from actors.targets import metrics_targets
from engine.config import BacktestConfig
from engine.obs.exporter import targets_dir, write_targets
from engine.result import BacktestResult
from engine.run import backtest_config
from engine.strategy import Strategy


def dashboard_wanted(dashboard: bool | None = None) -> bool:
    """Whether a local Ray starts its dashboard: ``dashboard``, else
    ``RAYTRADER_RAY_DASHBOARD`` (``1``/``0``); off by default from Python (scripts, tests,
    sweeps), on for the command line (``raytrader backtest --workers N``, ``--no-dashboard``
    to skip it)."""
    if dashboard is not None:
        return dashboard
    return os.environ.get("RAYTRADER_RAY_DASHBOARD", "0").strip().lower() in ("1", "true",
                                                                               "yes", "on")


_dashboard: list[str] = []   # the local Ray's dashboard address, while this process runs it


def dashboard_url() -> str | None:
    """The address of the dashboard of the local Ray this process started, if it has one."""
    return _dashboard[-1] if _dashboard else None


def ensure_ray(address: str | None = None, num_cpus: int | None = None, *,
               what: str = "address", dashboard: bool | None = None) -> bool:
    """Connect to Ray (``address``) or start a local one; True when this call started it.

    An ``address`` nobody answers on is a ``ConfigError`` naming ``what`` (checked with a short
    TCP connect first). A local Ray started here stops completely, even when interrupted
    during its start: see ``actors.ray_session.stop_local_ray``. It runs Ray's dashboard
    when :func:`dashboard_wanted` says so (its address: :func:`dashboard_url`).
    """
    if ray.is_initialized():
        return False
    # Workers import strategies by reference: let them find modules the driver can.
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys([os.getcwd(), *paths]))}
    if address:
        check_reachable(address, what=what)
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False)
        return False
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    # address="local": a new Ray of this process's own, never a cluster someone else left
    # running on the machine (which refuses num_cpus; join one with address="auto")
    with_dashboard = dashboard_wanted(dashboard)
    context = start_local_ray(address="local", num_cpus=num_cpus or os.cpu_count(),
                              include_dashboard=with_dashboard, log_to_driver=False,
                              configure_logging=False)
    _dashboard.clear()
    url = getattr(context, "dashboard_url", None)
    if with_dashboard and url:
        _dashboard.append(url if url.startswith("http") else f"http://{url}")
    return True


_idle_coordinator: list[Any] = []   # one coordinator kept between runs of this driver


def _session() -> tuple[str, str]:
    """This driver's Ray session: its job id and its node's id. Job ids start again at 1 in
    each new Ray session of a process (after ``ray.shutdown()``), so the job id alone would
    take a coordinator of an ended session for this one's."""
    context = ray.get_runtime_context()
    return context.get_job_id(), context.get_node_id()


class GraphRun:
    """A backtest running on the actor graph.

    The coordinator actor outlives a run that ends normally and serves the next one (its
    process and imports are ready). It keeps that run's graph warm too: the next run of the
    same shape (venue, risk limits on or off, the same worker groups of (symbol, strategy)
    pairs; parameters, dates and costs may differ) reuses those actors' processes with fresh
    cores, so it skips their start-up (about a CPU-second each). A run of another shape, a
    failure or a cancel ends them.
    """

    def __init__(self, config: BacktestConfig, *, workers: int, address: str | None = None,
                 frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
                 batch_rows: int = 65_536, spread: bool = False) -> None:
        self.started_ray = ensure_ray(address)
        session = _session()
        if _idle_coordinator and not spread and _idle_coordinator[-1][0] == session:
            self.coordinator = _idle_coordinator.pop()[1]
        else:
            _idle_coordinator.clear()     # from an earlier Ray session, or in use
            # a @ray.remote class: mypy sees the plain class, without Ray's .options
            # named (coordinator@<id>) so that its metrics target is listed while it lives
            self.coordinator = CoordinatorActor.options(  # type: ignore[attr-defined]
                name=f"coordinator@{uuid.uuid4().hex[:8]}", max_restarts=0).remote()
        self._reusable = not spread
        self._published = False
        self.ref = self.coordinator.run.remote(config, workers, batch_rows, spread, frames)

    def progress(self) -> tuple[int, int]:
        """(events processed, total events)."""
        try:
            return tuple(ray.get(self.coordinator.progress.remote(), timeout=5))
        except Exception:
            return (0, 0)

    def actors(self) -> dict[str, dict[str, Any]]:
        """Name -> pid and node of every actor the run started."""
        return ray.get(self.coordinator.actors.remote(), timeout=30)

    def metrics_targets(self) -> list[dict[str, Any]]:
        """Where Prometheus scrapes each graph actor alive in the cluster (``address``,
        ``actor``, ``role``, ``run_id``): this run's once they have started, and any other
        graph's on the same cluster."""
        return metrics_targets()

    def _publish_targets(self) -> None:
        """Write the run's scrape targets where Prometheus looks for them
        (``RAYTRADER_PROMETHEUS_SD_DIR``), once its actors are up."""
        where = targets_dir()
        if where is None or self._published:
            return
        targets = self.metrics_targets()
        if targets:
            write_targets(where / "raytrader-graph.json", targets)
            self._published = True

    def result(self, progress: Callable[[int, int], None] | None = None,
               poll_s: float = 0.25) -> BacktestResult:
        """Wait for the result; Ctrl-C cancels the run (every actor is stopped) and re-raises."""
        try:
            while True:
                ready, _ = ray.wait([self.ref], timeout=poll_s)
                if ready:
                    break
                self._publish_targets()
                if progress is not None:
                    done, total = self.progress()
                    if total:
                        progress(done, total)
            result = ray.get(self.ref)
            if self._reusable and not _idle_coordinator:
                _idle_coordinator.append((_session(), self.coordinator))
                self._reusable = False
        except KeyboardInterrupt:
            self.cancel()
            raise
        except ray.exceptions.RayTaskError as exc:
            raise exc.cause if isinstance(exc.cause, Exception) else GraphError(str(exc)) from None
        if progress is not None:
            progress(result.metrics.get("events", 0), result.metrics.get("events", 0))
        return result

    def cancel(self, timeout_s: float = 10.0) -> None:
        """Stop the run: the coordinator kills its actors, then the coordinator goes too."""
        _idle_coordinator[:] = [e for e in _idle_coordinator if e[1] is not self.coordinator]
        self._reusable = False
        try:
            self.coordinator.cancel.remote()
            ray.wait([self.ref], timeout=timeout_s)
        finally:
            ray.kill(self.coordinator, no_restart=True)


def run_graph(config: BacktestConfig, *, workers: int, address: str | None = None,
              progress: Callable[[int, int], None] | None = None,
              frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
              batch_rows: int = 65_536, spread: bool = False) -> BacktestResult:
    """Run ``config`` on the actor graph with ``workers`` strategy-worker processes."""
    run = GraphRun(config, workers=workers, address=address, frames=frames,
                   batch_rows=batch_rows, spread=spread)
    try:
        return run.result(progress)
    except BaseException:
        run.cancel()
        raise


def backtest(strategy: str | type[Strategy] = "sma_cross",
             params: Mapping[str, Any] | None = None, *, workers: int = 2,
             address: str | None = None, data: Any = "synthetic",
             progress: Callable[[int, int], None] | None = None,
             **settings: Any) -> BacktestResult:
    """Like ``engine.backtest``, on the actor graph (strategies given as importable names)."""
    config, _, frames = backtest_config(strategy, params, data=data, **settings)
    return run_graph(config, workers=workers, address=address, progress=progress,
                     frames=frames)


__all__ = ["GraphCanceled", "GraphError", "GraphRun", "backtest", "dashboard_url",
           "dashboard_wanted", "ensure_ray", "run_graph"]
