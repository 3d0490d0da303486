"""The research jobs the Ray tests run on every evaluator (a grid sweep, a Bayesian search
and a walk-forward of two strategies on two symbols), each job's ranked table as the bytes
``write_table`` writes, and those tables computed once in this process (the in-process
reference the Ray evaluators' tables are compared with)."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import BacktestConfig
from engine.research.evaluate import job_frames
from engine.research.search import build_spec
from engine.research.sweep import run_sweep, write_table
from engine.research.walkforward import walk_forward

CONFIG = BacktestConfig.from_dict({
    "symbols": ["BTC/USDT", "ETH/USDT"], "start": "2024-01-01", "end": "2024-03-01",
    "fee_bps": 10, "strategies": [{"strategy": "sma_cross", "params": {}},
                                  {"strategy": "momentum", "params": {}}]})
RANGES = ["sma_cross.fast=5:30:5", "sma_cross.slow=20:60:10", "momentum.lookback=12:60:12"]
JOBS = ("grid", "bayes", "walkforward")


def table_bytes(result: Any, folder: Path) -> bytes:
    path = folder / f"{id(result)}.csv"
    write_table(result.table, path)
    return path.read_bytes()


def job_tables(folder: Path, evaluators: dict[str, Callable[[Any], Any]]
               ) -> dict[str, dict[str, bytes]]:
    """Each job's table for each evaluator (``make(frames)``; None evaluates in process)."""
    frames = job_frames(CONFIG)
    grid = build_spec(CONFIG, RANGES)
    bayes = build_spec(CONFIG, RANGES, search="bayes", trials=12, seed=5)
    out: dict[str, dict[str, bytes]] = {job: {} for job in JOBS}
    for name, make in evaluators.items():
        evaluator = make(frames)
        try:
            out["grid"][name] = table_bytes(run_sweep(grid, frames=frames, evaluator=evaluator),
                                            folder)
            out["bayes"][name] = table_bytes(run_sweep(bayes, frames=frames,
                                                       evaluator=evaluator), folder)
            out["walkforward"][name] = table_bytes(walk_forward(
                grid, train="30d", test="10d", frames=frames, evaluator=evaluator), folder)
        finally:
            if hasattr(evaluator, "close"):
                evaluator.close()
    return out


@functools.cache
def local_tables() -> dict[str, bytes]:
    """Each job's table evaluated in this process, computed once (the reference of every test
    that compares a Ray evaluator with it)."""
    with tempfile.TemporaryDirectory() as folder:
        tables = job_tables(Path(folder), {"local": lambda frames: None})
    return {job: by_name["local"] for job, by_name in tables.items()}
