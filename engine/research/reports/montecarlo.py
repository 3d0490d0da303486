"""A Monte Carlo's report: outcome percentiles beside the backtest's own figures, ruin
probabilities, and per method a fan chart and a histogram of each statistic."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.research.report import Section
from engine.research.reports.common import graph_objects, num


def montecarlo_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a montecarlo result's report (see the module docs)."""
    go = graph_objects()
    methods = content.get("methods") or []
    actual = content.get("backtest") or {}
    rows = []
    for m in methods:
        for name, s in m["statistics"].items():
            rows.append({"method": m["method"], "statistic": name, "P5": s.get("p5"),
                         "median": s.get("p50"), "P95": s.get("p95"), "mean": s.get("mean"),
                         "median 95% CI": (f"{num(s.get('median_ci_low'))} .. "
                                           f"{num(s.get('median_ci_high'))}"),
                         "undefined": s.get("undefined"), "backtest": actual.get(name)})
    ruin = [{"method": m["method"], "floor": m["ruin"]["floor"],
             "probability": m["ruin"]["probability"],
             "95% CI": f"{num(m['ruin']['ci_low'])} .. {num(m['ruin']['ci_high'])}"}
            for m in methods]
    sections = [Section("Outcomes").text(
        "P5..P95 holds the central 90 % of the paths' outcomes; 'backtest' is the run's own "
        "figure.").table(rows, table_id="mc-statistics"),
        Section("Probability of ruin").table(ruin, table_id="mc-ruin")]
    for m in methods:
        method = m["method"]
        unit = m.get("unit", "step")
        sec = Section(f"{method}: {m['paths']} paths of {m['steps']} {unit}s"
                      + (f", blocks of {m['block_length']}" if m.get("block_length") else ""))
        fan = m["fan"]
        x = fan["step"]
        fig = go.Figure([
            go.Scatter(x=x, y=fan["p95"], name="P95", line={"width": 0.5, "color": "#1f77b4"}),
            go.Scatter(x=x, y=fan["p5"], name="P5 .. P95", fill="tonexty",
                       line={"width": 0.5, "color": "#1f77b4"},
                       fillcolor="rgba(31,119,180,0.15)"),
            go.Scatter(x=x, y=fan["p75"], name="P75", line={"width": 0.5, "color": "#1f77b4"}),
            go.Scatter(x=x, y=fan["p25"], name="P25 .. P75", fill="tonexty",
                       line={"width": 0.5, "color": "#1f77b4"},
                       fillcolor="rgba(31,119,180,0.35)"),
            go.Scatter(x=x, y=fan["p50"], name="median", line={"width": 2, "color": "#08306b"}),
        ])
        fig.add_hline(y=m["ruin"]["floor"], line_dash="dot", line_color="#d62728",
                      annotation_text="ruin floor")
        fig.update_layout(title=f"{method}: equity paths (start = 1)", xaxis_title=unit,
                          yaxis_title="equity / starting equity", yaxis_type="log")
        sec.chart(f"fan-{method}", fig)
        for name, h in m["histograms"].items():
            if not h["counts"]:
                continue
            edges = np.asarray(h["edges"])
            centers = (edges[:-1] + edges[1:]) / 2 if len(edges) > 1 else edges
            widths = np.diff(edges)
            if len(widths) == 1 and widths[0] <= 0:    # one value on every path
                widths = np.array([max(abs(float(edges[0])) * 0.01, 1e-9)])
            hist = go.Figure(go.Bar(x=centers, y=h["counts"], name=name, width=widths))
            if actual.get(name) is not None:
                hist.add_vline(x=actual[name], line_dash="dash", annotation_text="backtest")
            hist.update_layout(title=f"{method}: {name}", xaxis_title=name,
                               yaxis_title="paths", bargap=0)
            sec.chart(f"hist-{method}-{name}", hist)
        sections.append(sec)
    return sections
