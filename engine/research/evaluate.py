"""One parameter set backtested: the unit of work every research job fans out.

A :class:`Run` names a (symbol, strategy, parameters) combination and, for walk-forward, the
window of data it sees. :func:`evaluate_run` backtests it with the engine's own
``run_config`` through the strategy's batch path (its hooks where it has none), on data
loaded once for the whole job, so a row of a sweep is exactly what ``raytrader backtest``
gives for that symbol and those parameters. An :class:`Evaluator` runs many runs: here in
this process (:class:`LocalEvaluator`), or on a Ray cluster (``actors.research``), with
identical outcomes.
"""

from __future__ import annotations

import dataclasses
import gc
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from engine.config import BacktestConfig
from engine.datasource import load_data
from engine.errors import RaytraderError
from engine.run import run_config


@dataclasses.dataclass(frozen=True)
class Run:
    """One backtest of a research job: ``strategy`` (a reference as the job names it) with
    ``params`` on ``symbol``, over [``start``, ``end``) when given (else the job's dates).
    ``equity`` asks for the equity curve besides the metrics (walk-forward's test windows)."""

    index: int
    symbol: str
    strategy: str
    params: Mapping[str, Any]
    start: str | None = None
    end: str | None = None
    equity: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a run gave: its metrics (empty when it failed before producing any), the error
    that stopped it or that a strategy fault left (empty when fine), and the equity curve
    (``ts`` ns, ``equity``) when asked for."""

    metrics: Mapping[str, Any]
    error: str = ""
    ts: np.ndarray | None = None
    equity: np.ndarray | None = None


class Evaluator(Protocol):
    """Runs many :class:`Run` and gives their outcomes in the order of ``runs``; calls
    ``done(n)`` as runs finish. A KeyboardInterrupt stops it (nothing keeps running)."""

    def __call__(self, runs: Sequence[Run],
                 done: Callable[[int], None] | None = None) -> list[Outcome]: ...


def job_frames(config: BacktestConfig) -> dict[str, pd.DataFrame]:
    """The data of a job, loaded once: each symbol's table (bars or trades) as a backtest of
    ``config`` would read it."""
    loaded = load_data(config)
    return {feed.symbol: feed.frame for feed in loaded.feeds}


def run_config_of(config: BacktestConfig, run: Run) -> BacktestConfig:
    """The backtest config of ``run`` within a job of ``config``: one strategy on one symbol,
    with the run's parameters and window."""
    return config.replace(strategies=None, strategy=run.strategy, params=dict(run.params),
                          symbols=(run.symbol,), start=run.start or config.start,
                          end=run.end or config.end)


def evaluate_run(config: BacktestConfig, frames: Mapping[str, pd.DataFrame],
                 run: Run) -> Outcome:
    """Backtest ``run`` on the job's ``frames``; an error becomes the outcome's ``error``
    (the job goes on), as does a strategy fault (with the metrics of the run it cut short)."""
    try:
        result = run_config(run_config_of(config, run).replace(data="frames"),
                            frames={run.symbol: frames[run.symbol]}, batch=True)
    except RaytraderError as exc:
        return Outcome({}, f"{type(exc).__name__}: {exc}")
    except Exception as exc:   # a strategy's own code failing outside its hooks
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        where = f" ({last[0].filename}:{last[0].lineno})" if last else ""
        return Outcome({}, f"{type(exc).__name__}: {exc}{where}")
    error = "; ".join(f"faulted in {f.hook}: {f.error}" for f in result.faults)
    if not run.equity:
        return Outcome(result.metrics, error)
    curve = result.equity
    return Outcome(result.metrics, error, curve["ts"].to_numpy(dtype=np.int64),
                   curve["equity"].to_numpy(dtype=np.float64))


def evaluate_runs(config: BacktestConfig, frames: Mapping[str, pd.DataFrame],
                  runs: Sequence[Run],
                  done: Callable[[int], None] | None = None) -> list[Outcome]:
    """:func:`evaluate_run` of each run in turn (what one worker does with its share)."""
    out = []
    for run in runs:
        out.append(evaluate_run(config, frames, run))
        collect_now_and_then()
        if done is not None:
            done(1)
    return out


COLLECT_EVERY = 32          # runs between two full collections in one process
_since_collect = [0]        # runs since the last one, in this process


def collect_now_and_then() -> None:
    """Every :data:`COLLECT_EVERY` runs, a full garbage collection.

    A finished backtest's engine, contexts and strategies refer to each other, so only the
    cyclic collector frees them, and its full passes grow rare as a process keeps more
    objects alive: a process running hundreds of backtests would hold the garbage of most of
    them (about 3 MB a run on 100,000 bars; gigabytes over a sweep), and each new run would
    touch fresh memory instead of reusing what the last one freed. A collection every
    :data:`COLLECT_EVERY` runs keeps a worker at a few runs' worth, for about a third of a
    millisecond a run.
    """
    _since_collect[0] += 1
    if _since_collect[0] >= COLLECT_EVERY:
        _since_collect[0] = 0
        gc.collect()


class LocalEvaluator:
    """Runs in this process, one after another (``--workers 0``)."""

    def __init__(self, config: BacktestConfig, frames: Mapping[str, pd.DataFrame]) -> None:
        self.config = config
        self.frames = frames

    def __call__(self, runs: Sequence[Run],
                 done: Callable[[int], None] | None = None) -> list[Outcome]:
        return evaluate_runs(self.config, self.frames, runs, done)
