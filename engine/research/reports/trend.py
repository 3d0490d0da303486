"""A trend analysis's report: current regimes, each symbol's close coloured by regime over
time, and the suggested strategies."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.research.report import Section
from engine.research.reports.common import graph_objects, slug

REGIME_COLORS = {"uptrend": "#2ca02c", "downtrend": "#d62728", "sideways": "#7f7f7f",
                 "volatile": "#ff7f0e"}


def trend_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a trend result's report (see the module docs)."""
    go = graph_objects()
    symbols = content.get("symbols") or []
    current = [{"symbol": s["symbol"], "regime": s["current_regime"],
                "since": s.get("current_since"),
                **{f"time {r}": (s.get("shares") or {}).get(r) for r in REGIME_COLORS}}
               for s in symbols]
    rules = content.get("rules") or {}
    sections = [Section("Current regimes").table(current, table_id="current-regimes").text(
        str(rules.get("text", "")))]
    for s in symbols:
        series = s["series"]
        regimes = np.asarray(series["regime"], dtype=object)
        fig = go.Figure(go.Scatter(x=series["ts"], y=series["close"], name="close",
                                   line={"color": "#444", "width": 1}))
        for regime, color in REGIME_COLORS.items():
            mask = regimes == regime
            fig.add_trace(go.Scatter(
                x=[t for t, m in zip(series["ts"], mask) if m],
                y=[c for c, m in zip(series["close"], mask) if m], mode="markers",
                marker={"color": color, "size": 5}, name=regime))
        fig.update_layout(title=f"{s['symbol']}: close and regime ({s.get('timeframe')} bars)",
                          yaxis_type="log")
        sections.append(Section(f"{s['symbol']} regime over time").chart(
            f"regime-{slug(s['symbol'])}", fig))
    sug = Section("Suggested strategies")
    for item in content.get("suggestions") or []:
        sug.text(f"{item['symbol']} ({item['regime']}): {item['note']}")
        if item.get("strategies"):
            sug.table(item["strategies"])
    sections.append(sug)
    return sections
