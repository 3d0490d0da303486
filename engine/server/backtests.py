"""Backtests started through the API: each a job run in a worker thread of the server's
process (``engine.run.run_config``, the single-process engine), watched through its
progress, cancelable, and kept (with its result files) for the API to serve.

A job's request is a backtest config (the fields of a config file, ``BacktestConfig``). The
API reads market data only from the synthetic market and its own catalog: a file path in
``data`` is refused (upload files through ``/api/v1/data/upload``), and ``catalog`` always
means the server's catalog.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.obs import logs
from engine.obs.metrics import RUN_SECONDS, Samples, result_samples
from engine.result import BacktestResult
from engine.server.hub import Hub

STATUSES = ("queued", "running", "done", "failed", "canceled")
KEPT = 50          # finished jobs kept in memory
IN_METRICS = 10    # finished jobs whose results the metrics show


class BacktestCanceled(Exception):
    """Raised inside a job's progress callback to stop its run."""


@dataclasses.dataclass
class Job:
    """One backtest started through the API."""

    id: str
    config: BacktestConfig
    status: str = "queued"
    done: int = 0
    total: int = 0
    error: str | None = None
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: BacktestResult | None = None
    output: str | None = None
    workers: int = 0      # strategy-worker processes of the actor graph; 0: in-process
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        """What the API shows of the job."""
        out: dict[str, Any] = {
            "id": self.id, "status": self.status, "progress": {"done": self.done,
                                                               "total": self.total},
            "created": self.created, "started": self.started, "finished": self.finished,
            "error": self.error, "config_hash": self.config.config_hash(),
            "workers": self.workers,
            "config": self.config.to_dict()}
        if self.result is not None:
            out["metrics"] = _plain(self.result.metrics)
            out["risk"] = _plain({k: v for k, v in self.result.risk.items()
                                  if k != "state_changes"})
            out["faults"] = [{"strategy_id": f.strategy_id, "hook": f.hook, "error": f.error}
                             for f in self.result.faults]
            out["n_trades"] = len(self.result.trades)
            out["output"] = self.output
        return out


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN and infinities to None."""
    import math

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_request(values: Mapping[str, Any], catalog: str) -> BacktestConfig:
    """The config of a backtest request: ``BacktestConfig.from_dict`` (unknown keys and bad
    values refused, naming them), with data only from the synthetic market or the server's
    catalog."""
    if not isinstance(values, Mapping):
        raise ConfigError("a backtest request is a JSON object of backtest config fields")
    values = dict(values)
    data = str(values.get("data", "synthetic"))
    if data.startswith("catalog"):
        if data not in ("catalog", f"catalog:{catalog}"):
            raise ConfigError("data: the API reads the server's own catalog; give "
                              "\"catalog\" (no folder)")
        values["data"], values["catalog"] = "catalog", catalog
    elif not data.startswith("synthetic"):
        raise ConfigError(f"data {data!r}: the API backtests on \"synthetic\" (or "
                          f"\"synthetic:trades\", \"synthetic:quotes\") or on \"catalog\"; "
                          f"upload files into the catalog through /api/v1/data/upload")
    elif "catalog" in values:
        raise ConfigError("catalog: the API reads its own catalog; leave catalog out")
    return BacktestConfig.from_dict(values, source="the request body")


class Backtests:
    """The API's backtest jobs, run ``parallel`` at a time in worker threads."""

    def __init__(self, hub: Hub, results_dir: Path | None = None, parallel: int = 1) -> None:
        self.hub = hub
        self.results_dir = results_dir
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="backtest")
        self.outcomes: dict[str, int] = dict.fromkeys(("done", "failed", "canceled"), 0)
        self._lock = threading.Lock()
        self.log = logs.get_logger("raytrader.api.backtests")

    def start(self, config: BacktestConfig, workers: int = 0) -> Job:
        """Queue a backtest of ``config``: in this process, or on the actor graph with
        ``workers`` strategy workers (the Ray this process is attached to, else a local one
        it starts and keeps)."""
        if workers:
            from engine.cli.runners import find_runner

            runner = find_runner("graph", "workers")
            if getattr(runner, "start_graph", None) is None:
                raise ConfigError("workers: the installed graph runner cannot start runs "
                                  "for the API (reinstall raytrader)")
        job = Job(uuid.uuid4().hex[:12], config, workers=workers)
        with self._lock:
            self.jobs[job.id] = job
            finished = [j for j in self.jobs.values() if j.finished is not None]
            for old in finished[:max(len(finished) - KEPT, 0)]:
                self.jobs.pop(old.id, None)
        self.pool.submit(self._run, job)
        self.log.info("backtest queued", backtest_id=job.id, config_hash=config.config_hash())
        self._announce(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job: Job) -> bool:
        """Ask the job to stop; False when it has already ended."""
        if job.status in ("done", "failed", "canceled"):
            return False
        job.cancel.set()
        return True

    def _announce(self, job: Job) -> None:
        self.hub.publish("backtests", {"id": job.id, "status": job.status,
                                       "progress": {"done": job.done, "total": job.total},
                                       "error": job.error})

    def _run(self, job: Job) -> None:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            if job.cancel.is_set():
                raise BacktestCanceled(job.id)
            now = time.monotonic()
            if now - last[0] >= 0.2:
                last[0] = now
                self._announce(job)

        if job.cancel.is_set():
            self._finish(job, "canceled")
            return
        job.status, job.started = "running", time.time()
        self._announce(job)
        self.log.info("backtest started", backtest_id=job.id)
        try:
            result = self._backtest(job, progress)
        except BacktestCanceled:
            self._finish(job, "canceled")
            return
        except Exception as exc:   # a bad config found late, bad data: the job fails, told
            job.error = f"{type(exc).__name__}: {exc}"
            self.log.error("backtest failed", backtest_id=job.id, error=job.error,
                           trace=traceback.format_exc(limit=5))
            self._finish(job, "failed")
            return
        job.result = result
        job.done = job.total = int(result.metrics.get("events", job.total))
        if self.results_dir is not None:
            try:
                job.output = str(result.write(self.results_dir / job.id))
            except OSError as exc:
                self.log.warning("backtest results not written", backtest_id=job.id,
                                 error=str(exc))
        self._finish(job, "done")

    def _backtest(self, job: Job, progress: Any) -> BacktestResult:
        from engine.run import run_config

        if not job.workers:
            return run_config(job.config, progress=progress)
        from engine.cli.runners import find_runner

        start_graph = getattr(find_runner("graph", "workers"), "start_graph")  # noqa: B009
        handle = start_graph(job.config, job.workers)
        try:
            result: BacktestResult = handle.result(progress)
        except BaseException:   # canceled (from the progress callback) or failed
            handle.cancel()
            raise
        return result

    def _finish(self, job: Job, status: str) -> None:
        job.status, job.finished = status, time.time()
        self.outcomes[status] += 1
        if job.started is not None:
            RUN_SECONDS.labels(kind="backtest").observe(job.finished - job.started)
        self.log.info("backtest " + status, backtest_id=job.id, events=job.done)
        self._announce(job)

    def samples(self, samples: Samples) -> None:
        """Runs by outcome, the running jobs' progress and the last finished results."""
        for outcome, n in self.outcomes.items():
            samples.add("raytrader_runs_total", n, kind="backtest", outcome=outcome)
        jobs = list(self.jobs.values())
        for job in jobs:
            if job.status == "running":
                actor = f"backtest:{job.id}"
                samples.add("raytrader_events_total", job.done, actor=actor, direction="in")
                samples.add("raytrader_run_progress_ratio",
                            job.done / job.total if job.total else 0.0, actor=actor)
        done = [j for j in jobs if j.result is not None][-IN_METRICS:]
        for job in done:
            assert job.result is not None
            result_samples(samples, job.result, f"backtest:{job.id}")

    def close(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["BacktestCanceled", "Backtests", "Job", "STATUSES", "check_request"]
