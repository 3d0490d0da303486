"""The stream record: one symbol's market data as the actor graph moves it.

The coordinator loads the data once, puts each symbol's ``Stream`` in Ray's object store, and
the feed and execution actors map it zero-copy (numpy arrays pickled out of band).
``DataInfo`` travels with the streams so the execution core can describe the data a run used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Stream:
    """One symbol's market events of one kind, as columns (``engine.data.schema``) in
    event-time order; ``interval_ns`` is the bar length (0 for trades and quotes)."""

    kind: str
    interval_ns: int
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["ts"])


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Where a run's data came from, and what each import dropped or fixed."""

    source: str
    reports: dict[str, Any] = dataclasses.field(default_factory=dict)
    # prices from before the data for the market rules (a recorded session's history)
    market_history: dict[str, Any] | None = None
