"""Ranking runs by a metric: which metrics can rank, which way each points, and the order.

Any numeric metric of a backtest ranks (``engine.metrics`` names them; ``docs/metrics.md``
defines them). Higher ranks first, except for the metrics where less is better
(:data:`LOWER_IS_BETTER`: volatility, drawdown durations, fees, losses and refusals). Note that
``max_drawdown`` is negative (a fraction below the peak), so higher, nearer zero, is better.
Runs without a value (failed, or the metric undefined for them, e.g. a Sharpe ratio of a run
that never traded) rank last. Ties break by symbol, strategy, then run order, so a ranking
never depends on which worker finished first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from engine.errors import ConfigError
from engine.metrics import compute_metrics

# the metrics a run adds to engine.metrics' own (engine.run.assemble_result)
RUN_METRICS = ("events", "n_fills", "total_fees", "n_faults", "n_denied", "n_reduced")
LOWER_IS_BETTER = frozenset({"annual_volatility", "max_drawdown_duration_days",
                             "longest_drawdown_days", "n_losses", "total_fees", "n_faults",
                             "n_denied", "n_reduced"})


def rankable_metrics() -> list[str]:
    """Every metric a job can rank by: the numeric ones of ``engine.metrics`` (read from
    what it computes for a small equity curve) and the run's counts."""
    index = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    sample = compute_metrics(pd.Series([100.0, 101.0, 100.5], index=index), None)
    text = {k for k, v in sample.items() if isinstance(v, str)}
    # dates of the drawdown are text too, but None on a curve that never recovers
    text |= {k for k in sample if k.startswith("max_drawdown_") and not k.endswith("_days")}
    return [k for k in sample if k not in text] + list(RUN_METRICS)


def check_rank_by(metric: str) -> None:
    """``ConfigError`` naming ``--rank-by`` unless ``metric`` can rank runs."""
    names = rankable_metrics()
    if metric not in names:
        raise ConfigError(f"--rank-by {metric!r}: not a numeric metric; one of "
                          f"{', '.join(names)}")


def is_ascending(metric: str) -> bool:
    """Whether a smaller ``metric`` is better."""
    return metric in LOWER_IS_BETTER


def rank_value(outcome: Any, metric: str) -> float | None:
    """``outcome``'s value of ``metric`` for ranking: None when it failed or the value is
    undefined or not finite."""
    if outcome.error:
        return None
    value = outcome.metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rank_order(values: Sequence[float | None], ties: Sequence[tuple[Any, ...]],
               ascending: bool) -> list[int]:
    """Positions of ``values`` in rank order: defined values best first, then the undefined;
    equal values in the order of ``ties``."""
    def key(i: int) -> tuple[Any, ...]:
        v = values[i]
        if v is None:
            return (1, 0.0, ties[i])
        return (0, v if ascending else -v, ties[i])
    return sorted(range(len(values)), key=key)
