"""A sweep's report: recommendations, the best runs, a heatmap of the rank metric over two
parameters, the ranked runs and the failed ones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.research.report import Section
from engine.research.reports.common import graph_objects, read_csv, records


def sweep_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a sweep result's report (see the module docs)."""
    go = graph_objects()
    rank_by = str(content.get("rank_by") or content["summary"].get("rank_by") or "sharpe")
    ascending = bool(content.get("ascending", False))
    parameters = list(content.get("parameters") or [])
    results = read_csv(folder / "results.csv")
    sections = []
    recs = content.get("recommendations") or []
    sections.append(Section("Recommendations").items(recs) if recs
                    else Section("Recommendations").text("none"))
    best = content.get("best") or []
    sections.append(Section("Best").table(
        [{"symbol": b.get("symbol"), "strategy": b.get("strategy"), "params": b.get("params"),
          rank_by: (b.get("metrics") or {}).get(rank_by)} for b in best], table_id="best"))
    heat = Section(f"{rank_by} over the parameters")
    if results is not None and rank_by in results.columns and len(results):
        ok = results[results["error"].isna()] if "error" in results.columns else results
        strategy = best[0]["strategy"] if best else str(ok["strategy"].iloc[0])
        mine = ok[ok["strategy"] == strategy] if "strategy" in ok.columns else ok
        axes = [p for p in parameters if p.startswith(f"{strategy}.") and p in mine.columns
                and mine[p].nunique() > 1]
        agg = "min" if ascending else "max"
        if len(axes) >= 2:
            grid = mine.groupby([axes[1], axes[0]])[rank_by].agg(agg).unstack(axes[0])
            fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[str(v) for v in grid.columns],
                                       y=[str(v) for v in grid.index], colorscale="Viridis",
                                       colorbar={"title": rank_by}))
            fig.update_layout(title=f"{strategy}: {rank_by} ({agg} over the other parameters "
                                    f"and symbols)", xaxis_title=axes[0], yaxis_title=axes[1])
            heat.chart("sweep-heatmap", fig)
        elif len(axes) == 1:
            line = mine.groupby(axes[0])[rank_by].agg(agg)
            fig = go.Figure(go.Scatter(x=[str(v) for v in line.index], y=line.to_numpy(),
                                       mode="lines+markers"))
            fig.update_layout(title=f"{strategy}: {rank_by} by {axes[0]}", xaxis_title=axes[0],
                              yaxis_title=rank_by)
            heat.chart("sweep-heatmap", fig)
        else:
            heat.text(f"{strategy} varied fewer than one parameter: no grid to show.")
        shown = ["rank", "symbol", "strategy", *[p for p in parameters if p in ok.columns],
                 *[m for m in (rank_by, "total_return", "max_drawdown", "sharpe", "n_trades")
                   if m in ok.columns and m not in parameters]]
        columns = list(dict.fromkeys(c for c in shown if c in results.columns))
        ranked = results.sort_values("rank") if "rank" in results.columns else results
        sections.append(heat)
        sections.append(Section("Ranked runs (first 50)").table(
            records(ranked.head(50)), columns, table_id="ranked"))
        failed = results[results["error"].notna()] if "error" in results.columns \
            else results.iloc[:0]
        if len(failed):
            sections.append(Section("Failed runs").table(records(failed.head(50))))
    else:
        sections.append(heat.text(f"{folder / 'results.csv'} is missing or has no "
                                  f"{rank_by!r} column."))
    return sections
