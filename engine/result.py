"""A backtest's result: trades, fills and equity as DataFrames, the metrics, attribution per
(symbol, strategy), strategy faults, and the exact config (with its hash) that produced it.

``write(dir)`` saves ``trades.csv``, ``fills.csv`` and ``result.json``. The JSON is
deterministic: keys sorted, floats in shortest round-trip form, no NaN; only the ``timing``
section changes from one rerun to the next.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting import StrategyFault
from engine.config import BacktestConfig
from engine.metrics import format_metrics_table
from engine.outputs import write_files
from engine.timeframes import format_ns

RESULT_VERSION = 1


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of ``result.json``."""
        eq = self.equity
        return _clean({
            "version": RESULT_VERSION,
            "config": self.config.to_dict(),
            "config_hash": self.config_hash,
            "data": self.data,
            "metrics": self.metrics,
            "attribution": _records(self.attribution),
            "open_positions": _records(self.open_positions),
            "faults": [dataclasses.asdict(f) | {"ts_event": format_ns(f.ts_event)}
                       for f in self.faults],
            "trades": _records(_with_iso(self.trades, ("entry_ts", "exit_ts"))),
            "n_fills": len(self.fills),
            "equity_curve": {
                "ts": [format_ns(t) for t in eq["ts"].tolist()],
                "equity": eq["equity"].tolist(),
            },
            "risk": self.risk,
            "timing": self.timing,
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False)

    def write(self, output_dir: str | Path) -> Path:
        """Write ``trades.csv``, ``fills.csv`` and ``result.json`` into ``output_dir``, each
        whole or not at all, ``result.json`` last (see ``engine.outputs.write_files``)."""
        return write_files(output_dir, {
            "trades.csv": lambda path: _with_iso(self.trades, ("entry_ts", "exit_ts")).to_csv(
                path, index=False),
            "fills.csv": lambda path: _with_iso(self.fills, ("ts",)).to_csv(path, index=False),
            "result.json": lambda path: path.write_text(self.to_json() + "\n"),
        })

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) rows for a terminal summary."""
        return format_metrics_table(self.metrics)


def _with_iso(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    frame = frame.copy()
    for col in columns:
        if col in frame:
            frame[col] = [format_ns(int(v)) if v is not None and not pd.isna(v) else None
                          for v in frame[col].tolist()]
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [dict(zip(frame.columns, row)) for row in frame.itertuples(index=False, name=None)]


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
