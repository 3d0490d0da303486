"""A backtest's result: trades, fills and equity as DataFrames, the metrics, attribution per
(symbol, strategy), strategy faults, and the exact config (with its hash) that produced it.

``write(dir)`` saves the trades and fills tables and ``result.json``: ``trades.csv`` and
``fills.csv`` for a normal run, ``trades.parquet`` and ``fills.parquet`` instead past a million
fills (or as asked: see ``engine.result_files``); ``result.json`` lists them under ``files``, and
``read_trades(dir)`` / ``read_fills(dir)`` read them back from either format. The JSON is
deterministic: keys sorted, floats in shortest round-trip form, no NaN; only the ``timing``
section changes from one rerun to the next.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting import StrategyFault
from engine.config import BacktestConfig
from engine.gcpause import gc_paused
from engine.metrics import format_metrics_table
from engine.outputs import write_files
from engine.research.results import SCHEMA
from engine.result_files import (PARQUET_FILLS_THRESHOLD, PARQUET_ROW_GROUP_ROWS, TABLE_FILES,
                                 TIME_COLUMNS, read_table, table_files, with_iso_times,
                                 write_csv, write_parquet)
from engine.timeframes import format_ns

RESULT_VERSION = 1
# the metrics a backtest's result.json repeats under ``summary`` (the envelope's headline)
SUMMARY_METRICS = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades",
                   "win_rate", "final_equity")


@dataclasses.dataclass
class BacktestResult:
    """Everything a backtest produced."""

    config: BacktestConfig
    metrics: dict[str, Any]
    trades: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.DataFrame
    attribution: pd.DataFrame
    open_positions: pd.DataFrame
    faults: list[StrategyFault]
    data: dict[str, Any]
    timing: dict[str, Any]   # seconds and rates; the actor graph adds its phases and audit
    # what the account and the risk rules did (engine.risk.risk_report), and their events
    risk: dict[str, Any] = dataclasses.field(default_factory=dict)
    risk_events: list[Any] = dataclasses.field(default_factory=list)

    @property
    def config_hash(self) -> str:
        return self.config.config_hash()

    @property
    def ok(self) -> bool:
        """True when no strategy faulted."""
        return not self.faults

    def to_dict(self, files: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-ready content of ``result.json``; ``files``, when given, are the table files
        written beside it. The closed trades are listed in it, unless they are written only
        as ``trades.parquet`` (a large result): then ``trades_file`` names that table and
        ``n_trades`` counts them (listing a million trades as JSON takes longer than the
        backtest; ``read_trades`` reads the table)."""
        eq = self.equity
        if files is not None and "trades.parquet" in files and "trades.csv" not in files:
            trades: dict[str, Any] = {"trades_file": "trades.parquet",
                                      "n_trades": len(self.trades)}
        else:
            trades = {"trades": _records(with_iso_times(self.trades, TIME_COLUMNS["trades"]))}
        return _clean({
            # the envelope every job's result.json shares (engine.research.results)
            "schema": SCHEMA,
            "kind": "backtest",
            "inputs": self.config.to_dict(),
            "summary": {name: self.metrics.get(name) for name in SUMMARY_METRICS},
            "files": list(files) if files is not None else [],
            "version": RESULT_VERSION,
            "config": self.config.to_dict(),
            "config_hash": self.config_hash,
            "data": self.data,
            "metrics": self.metrics,
            "attribution": _records(self.attribution),
            "open_positions": _records(self.open_positions),
            "faults": [dataclasses.asdict(f) | {"ts_event": format_ns(f.ts_event)}
                       for f in self.faults],
            **trades,
            "n_fills": len(self.fills),
            "equity_curve": {
                "ts": [format_ns(t) for t in eq["ts"].tolist()],
                "equity": eq["equity"].tolist(),
            },
            "risk": self.risk,
            "timing": self.timing,
        })

    def to_json(self, files: Sequence[str] | None = None) -> str:
        return json.dumps(self.to_dict(files), sort_keys=True, indent=1, allow_nan=False)

    def table_files(self, output_format: str = "auto", *,
                    parquet_threshold: int = PARQUET_FILLS_THRESHOLD) -> list[str]:
        """The table files :meth:`write` writes in ``output_format`` (``auto``, ``csv``,
        ``parquet`` or ``both``): ``auto`` is CSV up to ``parquet_threshold`` fills, Parquet
        past it."""
        return table_files(output_format, len(self.fills), parquet_threshold)

    def write(self, output_dir: str | Path, output_format: str = "auto", *,
              parquet_threshold: int = PARQUET_FILLS_THRESHOLD,
              row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> Path:
        """Write the trades and fills tables (:meth:`table_files`) and ``result.json`` into
        ``output_dir``, each whole or not at all, ``result.json`` last (see
        ``engine.outputs.write_files``). Table files of the other format that an earlier run
        left there are removed once the new files are complete."""
        files = self.table_files(output_format, parquet_threshold=parquet_threshold)
        writers: dict[str, Callable[[Path], object]] = {
            name: self._table_writer(name, row_group_rows) for name in files}
        writers["result.json"] = lambda path: self._write_json(path, files)
        return write_files(output_dir, writers,
                           remove=[name for name in TABLE_FILES if name not in files])

    def _write_json(self, path: Path, files: Sequence[str]) -> None:
        """``to_json(files)`` and a newline into ``path``, streamed: a result with a million
        trades never holds the whole text (it would take several times the file's size)."""
        with gc_paused(), path.open("w", encoding="utf-8") as out:
            json.dump(self.to_dict(files), out, sort_keys=True, indent=1, allow_nan=False)
            out.write("\n")

    def _table_writer(self, name: str, row_group_rows: int) -> Callable[[Path], object]:
        table, _, suffix = name.partition(".")
        frame = self.trades if table == "trades" else self.fills
        if suffix == "parquet":
            return lambda path: write_parquet(frame, path, table, row_group_rows=row_group_rows)
        return lambda path: write_csv(frame, path, table)

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a terminal summary."""
        return format_metrics_table(self.metrics)


def read_trades(folder: str | Path) -> pd.DataFrame:
    """The trades table of the result written in ``folder``, from Parquet or CSV, times as
    int64 nanoseconds (as ``BacktestResult.trades`` holds them)."""
    return read_table(folder, "trades")


def read_fills(folder: str | Path) -> pd.DataFrame:
    """The fills table of the result written in ``folder``, from Parquet or CSV, times as
    int64 nanoseconds (as ``BacktestResult.fills`` holds them)."""
    return read_table(folder, "fills")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # column by column: the same Python values as itertuples, several times faster
    names = list(frame.columns)
    return [dict(zip(names, row)) for row in zip(*(frame[name].tolist() for name in names))]


def _clean(value: Any) -> Any:
    """Plain Python values with NaN/inf as None, so JSON output is strict and stable."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value
