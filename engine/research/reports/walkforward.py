"""A walk-forward's report: the windows with their parameters, the rank metric in and out of
sample, and the stitched out-of-sample equity."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.research.report import Section
from engine.research.reports.common import graph_objects, thin


def walkforward_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a walkforward result's report (see the module docs)."""
    go = graph_objects()
    rank_by = str(content.get("rank_by") or "sharpe")
    windows = content.get("windows") or []
    rows = [{"window": w.get("index"), "train": f"{w.get('train_start')} .. {w.get('train_end')}",
             "test": f"{w.get('test_start')} .. {w.get('test_end')}", "params": w.get("params"),
             f"in-sample {rank_by}": (w.get("in_sample") or {}).get(rank_by),
             f"out-of-sample {rank_by}": (w.get("out_of_sample") or {}).get(rank_by),
             "out-of-sample return": (w.get("out_of_sample") or {}).get("total_return"),
             **({"error": w.get("error")} if any(x.get("error") for x in windows) else {})}
            for w in windows]
    sections = [Section("Windows").table(rows, table_id="windows")]
    if windows:
        labels = [str(w.get("index")) for w in windows]
        fig = go.Figure([
            go.Bar(x=labels, y=[(w.get("in_sample") or {}).get(rank_by) for w in windows],
                   name="in sample"),
            go.Bar(x=labels, y=[(w.get("out_of_sample") or {}).get(rank_by) for w in windows],
                   name="out of sample")])
        fig.update_layout(title=f"{rank_by} per window", xaxis_title="window",
                          yaxis_title=rank_by, barmode="group")
        sections[0].chart("walkforward-windows", fig)
    oos = content.get("oos_equity") or {}
    equity = Section("Stitched out-of-sample equity")
    if oos.get("ts"):
        values = np.asarray(oos["equity"], dtype=np.float64)
        keep = thin(len(values), values)
        fig = go.Figure(go.Scatter(x=[oos["ts"][i] for i in keep], y=values[keep],
                                   name="out-of-sample equity"))
        for w in windows[::2]:     # every other test window shaded: their borders show
            fig.add_vrect(x0=w.get("test_start"), x1=w.get("test_end"), line_width=0,
                          fillcolor="#1f77b4", opacity=0.07)
        fig.update_layout(title="Out-of-sample equity, test windows stitched (every other "
                                "one shaded)",
                          yaxis_title="equity")
        equity.chart("oos-equity", fig)
    else:
        equity.text("No out-of-sample equity in the result.")
    sections.append(equity)
    return sections
