"""A backtest's report: metrics, equity and drawdown, monthly returns, trade PnL and durations,
exposure, and a table per (symbol, strategy)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.research.report import Section
from engine.research.reports.common import graph_objects, thin


def backtest_sections(folder: Path, content: Mapping[str, Any]) -> list[Section]:
    """The sections of a backtest result's report (see the module docs)."""
    from plotly.subplots import make_subplots

    from engine.metrics import format_metrics_table
    from engine.result import read_trades

    go = graph_objects()
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
    go = graph_objects()
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
