"""A stress test's report: the survival table, returns and drawdowns per scenario, and each
scenario's equity over its measured span."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.research.report import Section
from engine.research.reports.common import graph_objects, thin


def stress_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a stress result's report (see the module docs)."""
    go = graph_objects()
    scenarios = content.get("scenarios") or []
    criterion = content.get("criterion") or {}
    rows = [{"scenario": s["name"], "kind": s["kind"], "span": f"{s['start']} .. {s['end']}",
             "return": s.get("total_return"), "max drawdown": s.get("max_drawdown"),
             "trades": s.get("n_trades"), "survived": s.get("survived"),
             "why": s.get("reason")} for s in scenarios]
    table = Section("Survival").text(str(criterion.get("text", ""))).table(
        rows, table_id="survival")
    sections = [table]
    if scenarios:
        names = [s["name"] for s in scenarios]
        colors = ["#2ca02c" if s.get("survived") else "#d62728" for s in scenarios]
        fig = go.Figure(go.Bar(x=names, y=[s.get("total_return") for s in scenarios],
                               marker_color=colors, name="return"))
        fig.update_layout(title="Return per scenario (green: survived)",
                          yaxis_tickformat=".1%")
        table.chart("stress-returns", fig)
        dd = go.Figure(go.Bar(x=names, y=[s.get("max_drawdown") for s in scenarios],
                              marker_color=colors, name="max drawdown"))
        if criterion.get("max_drawdown") is not None:
            dd.add_hline(y=-float(criterion["max_drawdown"]), line_dash="dot",
                         annotation_text="limit")
        dd.update_layout(title="Max drawdown per scenario", yaxis_tickformat=".1%")
        table.chart("stress-drawdowns", dd)
        curves = go.Figure()
        for s in scenarios:
            eq = s.get("equity") or {}
            if not eq.get("equity"):
                continue
            values = np.asarray(eq["equity"], dtype=np.float64)
            keep = thin(len(values), values, 1000)
            ts = pd.to_datetime(pd.Series([eq["ts"][i] for i in keep], dtype=object), utc=True,
                                format="ISO8601")
            days = ((ts - ts.iloc[0]) / pd.Timedelta(days=1)).to_numpy()
            curves.add_trace(go.Scatter(x=days, y=values[keep] / values[0], name=s["name"]))
        curves.update_layout(title="Equity in each scenario's span (start = 1)",
                             xaxis_title="days into the span")
        sections.append(Section("Equity per scenario").chart("stress-equity", curves))
    return sections
