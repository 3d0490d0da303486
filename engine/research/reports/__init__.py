"""What the HTML report shows for each kind of result, one module a kind:
``RENDERERS[kind](folder, content)`` gives the page's sections (``engine.research.report``
lays them out).

- backtest: metrics, equity and drawdown, monthly returns heatmap, trade PnL and duration
  distributions, exposure, per-symbol table;
- sweep: a heatmap of the rank metric over two parameters, the ranked table, recommendations;
- walkforward: windows with their parameters, in- and out-of-sample metric, stitched
  out-of-sample equity;
- montecarlo: fan chart and histograms per method, the summary table;
- stress: survival table, returns and drawdowns per scenario, each scenario's equity;
- trend: regime over time per symbol, current regimes, suggestions.

Curves longer than ``common.MAX_POINTS`` are thinned for the page: per bucket of consecutive
points the first, lowest, highest and last are kept, so peaks, troughs and the final value
stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.research.report import Section
from engine.research.reports.backtest import backtest_sections
from engine.research.reports.montecarlo import montecarlo_sections
from engine.research.reports.stress import stress_sections
from engine.research.reports.sweep import sweep_sections
from engine.research.reports.trend import trend_sections
from engine.research.reports.walkforward import walkforward_sections

RENDERERS: dict[str, Callable[[Path, Mapping[str, Any]], Sequence[Section]]] = {
    "backtest": backtest_sections, "sweep": sweep_sections,
    "walkforward": walkforward_sections, "montecarlo": montecarlo_sections,
    "stress": stress_sections, "trend": trend_sections,
}

__all__ = ["RENDERERS"]
