"""What the HTML report shows for each kind of result (``RENDERERS[kind](folder, content)``
gives the page's sections; ``engine.research.report`` lays them out).

- backtest: metrics, equity and drawdown, monthly returns heatmap, trade PnL and duration
  distributions, exposure, per-symbol table;
- sweep: a heatmap of the rank metric over two parameters, the ranked table, recommendations;
- walkforward: windows with their parameters, in- and out-of-sample metric, stitched
  out-of-sample equity;
- montecarlo: fan chart and histograms per method, the summary table;
- stress: survival table, returns and drawdowns per scenario, each scenario's equity;
- trend: regime over time per symbol, current regimes, suggestions.

Curves longer than :data:`MAX_POINTS` are thinned for the page: per bucket of consecutive
points the first, lowest, highest and last are kept, so peaks, troughs and the final value
stay exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.research.report import Section

MAX_POINTS = 4000
REGIME_COLORS = {"uptrend": "#2ca02c", "downtrend": "#d62728", "sideways": "#7f7f7f",
                 "volatile": "#ff7f0e"}


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


def _go() -> Any:
    import plotly.graph_objects as go

    return go


# --- backtest --------------------------------------------------------------------------------


def backtest_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    from plotly.subplots import make_subplots

    from engine.metrics import format_metrics_table
    from engine.result import read_trades

    go = _go()
    sections = [Section("Metrics").table(
        [{"metric": k, "value": v} for k, v in format_metrics_table(content.get("metrics", {}))],
        table_id="metrics")]
    curve = content.get("equity_curve") or {"ts": [], "equity": []}
    ts = pd.to_datetime(pd.Series(curve["ts"], dtype=object), utc=True, format="ISO8601")
    equity = np.asarray(curve["equity"], dtype=np.float64)
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, equity / peak - 1.0, np.nan)
    keep = thin(len(equity), equity)
    x = ts.iloc[keep].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.05)
    fig.add_trace(go.Scatter(x=x, y=equity[keep], name="equity", line={"width": 1.5}), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=drawdown[keep], name="drawdown", fill="tozeroy",
                             line={"width": 1, "color": "#d62728"}), 2, 1)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(title="Equity and drawdown", height=550)
    sections.append(Section("Equity and drawdown").chart("equity", fig))

    monthly = Section("Monthly returns")
    if len(equity) > 1:
        series = pd.Series(equity, index=pd.DatetimeIndex(ts))
        closes = series.resample("ME").last().ffill()
        returns = closes / np.concatenate([[equity[0]], closes.to_numpy()[:-1]]) - 1.0
        table = pd.DataFrame({"year": returns.index.year, "month": returns.index.month,
                              "r": returns.to_numpy()})
        grid = table.pivot(index="year", columns="month", values="r").reindex(
            columns=range(1, 13))
        months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec"]
        z = grid.to_numpy()
        text = [[("" if np.isnan(v) else f"{v:.1%}") for v in row] for row in z]
        heat = go.Heatmap(z=z, x=months, y=[str(y) for y in grid.index], text=text,
                          texttemplate="%{text}", colorscale="RdYlGn", zmid=0,
                          colorbar={"tickformat": ".0%"})
        monthly.chart("monthly-returns", go.Figure(heat).update_layout(
            title="Monthly returns", height=120 + 40 * len(grid)))
    else:
        monthly.text("The equity curve has fewer than two points.")
    sections.append(monthly)

    try:
        trades = read_trades(folder)
    except FileNotFoundError:
        trades = pd.DataFrame(content.get("trades") or [])
    dist = Section("Trades")
    if len(trades):
        pnl = trades["pnl"].to_numpy(np.float64)
        hours = trades["duration_ns"].to_numpy(np.float64) / 3.6e12
        dist.chart("trade-pnl", go.Figure(go.Histogram(x=pnl, nbinsx=60, name="PnL")).update_layout(
            title=f"Trade PnL ({len(pnl)} closed trades, net of fees)", xaxis_title="PnL",
            yaxis_title="trades"))
        dist.chart("trade-duration", go.Figure(go.Histogram(x=hours, nbinsx=60, name="hours"))
                   .update_layout(title="Trade duration", xaxis_title="hours",
                                  yaxis_title="trades"))
        sections.append(dist)
        sections.append(_exposure_section(trades, ts, equity))
    else:
        sections.append(dist.text("The backtest closed no trades."))
    sections.append(_per_symbol_section(content, trades))
    return sections


def _exposure_section(trades: pd.DataFrame, ts: pd.Series, equity: np.ndarray) -> Section:
    """Gross exposure of the closed round trips at their entry prices over the equity: what the
    strategies held, from the trades table (the equity curve records no positions)."""
    go = _go()
    notional = (trades["qty"].abs() * trades["entry_price"]).to_numpy(np.float64)
    times = np.concatenate([trades["entry_ts"].to_numpy(np.int64),
                            trades["exit_ts"].to_numpy(np.int64)])
    change = np.concatenate([notional, -notional])
    order = np.argsort(times, kind="stable")
    when, held = times[order], np.cumsum(change[order])
    ns = pd.DatetimeIndex(ts).as_unit("ns").asi8 if len(ts) else np.zeros(0, np.int64)
    at = np.clip(np.searchsorted(ns, when, side="right") - 1, 0, max(len(ns) - 1, 0))
    base = equity[at] if len(equity) else np.ones(len(when))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(base > 0, held / base, np.nan)
    keep = thin(len(share), share)
    x = pd.to_datetime(when[keep], unit="ns", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    fig = go.Figure(go.Scatter(x=x, y=share[keep], line_shape="hv", name="exposure"))
    fig.update_layout(title="Gross exposure of closed trades (entry notional / equity)",
                      yaxis_tickformat=".0%")
    return Section("Exposure").chart("exposure", fig)


def _per_symbol_section(content: Mapping[str, Any], trades: pd.DataFrame) -> Section:
    rows = []
    for row in content.get("attribution") or []:
        mine = trades
        if len(trades):
            mine = trades[(trades["symbol"] == row.get("symbol"))
                          & (trades["strategy_id"] == row.get("strategy_id"))]
        wins = int((mine["pnl"] > 0).sum()) if len(mine) else 0
        rows.append({"symbol": row.get("symbol"), "strategy": row.get("strategy_id"),
                     "trades": row.get("n_trades"),
                     "win rate": wins / len(mine) if len(mine) else None,
                     "realized PnL": row.get("realized_pnl"),
                     "unrealized PnL": row.get("unrealized_pnl"), "fees": row.get("fees"),
                     "net PnL": row.get("net_pnl"), "final qty": row.get("final_qty"),
                     "faulted": row.get("faulted")})
    return Section("Per symbol and strategy").table(rows, table_id="per-symbol")


# --- sweep -----------------------------------------------------------------------------------


def sweep_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    go = _go()
    rank_by = str(content.get("rank_by") or content["summary"].get("rank_by") or "sharpe")
    ascending = bool(content.get("ascending", False))
    parameters = list(content.get("parameters") or [])
    results = _read_csv(folder / "results.csv")
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
            _records(ranked.head(50)), columns, table_id="ranked"))
        failed = results[results["error"].notna()] if "error" in results.columns \
            else results.iloc[:0]
        if len(failed):
            sections.append(Section("Failed runs").table(_records(failed.head(50))))
    else:
        sections.append(heat.text(f"{folder / 'results.csv'} is missing or has no "
                                  f"{rank_by!r} column."))
    return sections


# --- walk-forward ----------------------------------------------------------------------------


def walkforward_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    go = _go()
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


# --- Monte Carlo -----------------------------------------------------------------------------


def montecarlo_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    go = _go()
    methods = content.get("methods") or []
    actual = content.get("backtest") or {}
    rows = []
    for m in methods:
        for name, s in m["statistics"].items():
            rows.append({"method": m["method"], "statistic": name, "P5": s.get("p5"),
                         "median": s.get("p50"), "P95": s.get("p95"), "mean": s.get("mean"),
                         "median 95% CI": (f"{_num(s.get('median_ci_low'))} .. "
                                           f"{_num(s.get('median_ci_high'))}"),
                         "undefined": s.get("undefined"), "backtest": actual.get(name)})
    ruin = [{"method": m["method"], "floor": m["ruin"]["floor"],
             "probability": m["ruin"]["probability"],
             "95% CI": f"{_num(m['ruin']['ci_low'])} .. {_num(m['ruin']['ci_high'])}"}
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


# --- stress ----------------------------------------------------------------------------------


def stress_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    go = _go()
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


# --- trend -----------------------------------------------------------------------------------


def trend_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    go = _go()
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
            f"regime-{_slug(s['symbol'])}", fig))
    sug = Section("Suggested strategies")
    for item in content.get("suggestions") or []:
        sug.text(f"{item['symbol']} ({item['regime']}): {item['note']}")
        if item.get("strategies"):
            sug.table(item["strategies"])
    sections.append(sug)
    return sections


def _slug(symbol: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in symbol)


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _read_csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


RENDERERS: dict[str, Callable[[Path, Mapping[str, Any]], Sequence[Section]]] = {
    "backtest": backtest_sections, "sweep": sweep_sections,
    "walkforward": walkforward_sections, "montecarlo": montecarlo_sections,
    "stress": stress_sections, "trend": trend_sections,
}

__all__ = ["MAX_POINTS", "RENDERERS", "thin"]
