"""What every kind's report section builder shares: thinning long curves, the plotly module,
value formatting."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MAX_POINTS = 4000


def thin(n: int, values: np.ndarray | None = None, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most about ``max_points`` of ``n`` points: all of them when few enough,
    else per bucket its first, lowest, highest and last (of ``values``)."""
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 4)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep = [edges[:-1], edges[1:] - 1]
    if values is not None:
        low = np.where(np.isnan(values), np.inf, values)
        high = np.where(np.isnan(values), -np.inf, values)
        for lo, hi in itertools.pairwise(edges):
            keep.append(np.array([lo + int(np.argmin(low[lo:hi])),
                                  lo + int(np.argmax(high[lo:hi]))]))
    return np.unique(np.concatenate(keep))


def graph_objects() -> Any:
    """``plotly.graph_objects``, imported when a report is drawn (not with the engine)."""
    import plotly.graph_objects as go

    return go


def slug(symbol: str) -> str:
    """A symbol as an HTML id: ``BTC/USDT`` -> ``BTC-USDT``."""
    return "".join(c if c.isalnum() else "-" for c in symbol)


def num(value: Any) -> str:
    """A number to 4 significant digits, None as n/a."""
    return "n/a" if value is None else f"{value:.4g}"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as dicts, NaN as None."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def read_csv(path: Path) -> pd.DataFrame | None:
    """The CSV table at ``path``, or None when there is none."""
    return pd.read_csv(path) if path.is_file() else None
