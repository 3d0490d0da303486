"""Writes the two provisioned Grafana dashboards (``dashboards/backtest.json`` and
``dashboards/live.json``) from the panel lists below. Every query names only metrics of
``engine.obs.metrics.CATALOG`` (``tests/unit/test_deploy.py`` checks it).

    python deploy/grafana/make_dashboards.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "raytrader-prometheus"}

# (title, unit, kind, [(expr, legend), ...])
BACKTEST: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("Events per second by actor", "ops", "timeseries", [
        ('sum by (actor, direction) (rate(raytrader_events_total[$__rate_interval]))',
         "{{actor}} {{direction}}")]),
    ("Run progress", "percentunit", "stat", [
        ("raytrader_run_progress_ratio", "{{actor}}")]),
    ("Batch latency p50 / p95", "s", "timeseries", [
        ("histogram_quantile(0.5, sum by (le, actor) "
         "(rate(raytrader_batch_seconds_bucket[$__rate_interval])))", "p50 {{actor}}"),
        ("histogram_quantile(0.95, sum by (le, actor) "
         "(rate(raytrader_batch_seconds_bucket[$__rate_interval])))", "p95 {{actor}}")]),
    ("Watermark (event time reached)", "dateTimeAsIso", "timeseries", [
        ("raytrader_watermark_timestamp_seconds * 1000", "{{actor}} {{symbol}}")]),
    ("Watermark spread between workers", "s", "timeseries", [
        ("max(raytrader_watermark_timestamp_seconds{role=\"worker\"}) - "
         "min(raytrader_watermark_timestamp_seconds{role=\"worker\"})", "spread")]),
    ("Feed batches waiting for acknowledgement", "short", "timeseries", [
        ("raytrader_queue_depth", "{{actor}} {{queue}}")]),
    ("Fills and orders by strategy", "short", "bargauge", [
        ("raytrader_fills_total", "fills {{strategy}}"),
        ("raytrader_orders_total", "orders {{strategy}}")]),
    ("Denials by reason", "short", "bargauge", [
        ("sum by (reason) (raytrader_order_denials_total{role=\"execution\"})", "{{reason}}")]),
    ("Risk audit", "short", "stat", [
        ("raytrader_risk_checks_total", "checks"),
        ("raytrader_risk_mismatches_total", "mismatches")]),
    ("Final equity", "currencyUSD", "stat", [("raytrader_equity", "{{actor}}")]),
    ("Net PnL by strategy", "currencyUSD", "bargauge", [
        ("raytrader_pnl{kind=\"net\"}", "{{strategy}}")]),
    ("Runs finished", "short", "stat", [
        ("sum by (kind, outcome) (raytrader_runs_total)", "{{kind}} {{outcome}}")]),
    ("Run wall time p95", "s", "stat", [
        ("histogram_quantile(0.95, sum by (le, kind) (rate(raytrader_run_seconds_bucket[1h])))",
         "{{kind}}")]),
    ("Scrape targets up", "short", "stat", [("sum by (role) (up{job=~\"raytrader.*\"})",
                                             "{{role}}")]),
]

LIVE: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("Equity", "currencyUSD", "timeseries", [("raytrader_equity", "{{actor}}"),
                                             ("raytrader_cash", "cash {{actor}}")]),
    ("PnL by strategy", "currencyUSD", "timeseries", [
        ("raytrader_pnl{kind=\"net\"}", "net {{strategy}}"),
        ("raytrader_pnl{kind=\"unrealized\"}", "unrealized {{strategy}}")]),
    ("Exposure by strategy", "currencyUSD", "timeseries", [
        ("raytrader_exposure", "{{strategy}}")]),
    ("Positions", "short", "timeseries", [("raytrader_position", "{{strategy}}")]),
    ("Leverage", "short", "timeseries", [("raytrader_leverage_ratio", "{{actor}}")]),
    ("Risk state (0 ACTIVE, 1 REDUCING, 2 HALTED)", "short", "state-timeline", [
        ("raytrader_risk_state", "{{scope}}")]),
    ("Kill switch", "short", "stat", [("raytrader_kill_switch", "{{actor}}")]),
    ("Daily loss vs limit", "percentunit", "timeseries", [
        ("raytrader_daily_loss_ratio", "loss {{actor}}"),
        ("raytrader_daily_loss_limit_ratio", "limit {{actor}}")]),
    ("Drawdown", "percentunit", "timeseries", [("raytrader_drawdown_ratio", "{{actor}}")]),
    ("Market data age", "s", "timeseries", [("raytrader_watermark_lag_seconds", "{{actor}}")]),
    ("Events per second", "ops", "timeseries", [
        ("rate(raytrader_events_total[$__rate_interval])", "{{actor}}")]),
    ("Market queue", "short", "timeseries", [("raytrader_queue_depth", "{{queue}}")]),
    ("Orders, fills, denials, rejections per minute", "short", "timeseries", [
        ("sum(rate(raytrader_orders_total[$__rate_interval])) * 60", "orders"),
        ("sum(rate(raytrader_fills_total[$__rate_interval])) * 60", "fills"),
        ("sum(rate(raytrader_order_denials_total[$__rate_interval])) * 60", "denials"),
        ("sum(rate(raytrader_order_rejections_total[$__rate_interval])) * 60", "rejections")]),
    ("Working orders", "short", "timeseries", [("raytrader_working_orders", "{{actor}}")]),
    ("Order latency p50 / p95", "s", "timeseries", [
        ("histogram_quantile(0.5, sum by (le, action) "
         "(rate(raytrader_order_seconds_bucket[$__rate_interval])))", "p50 {{action}}"),
        ("histogram_quantile(0.95, sum by (le, action) "
         "(rate(raytrader_order_seconds_bucket[$__rate_interval])))", "p95 {{action}}")]),
    ("Exchange requests per second", "reqps", "timeseries", [
        ("sum by (exchange, method) (rate(raytrader_exchange_requests_total"
         "[$__rate_interval]))", "{{exchange}} {{method}}")]),
    ("Exchange errors per minute", "short", "timeseries", [
        ("sum by (exchange, error) (rate(raytrader_exchange_errors_total"
         "[$__rate_interval])) * 60", "{{exchange}} {{error}}")]),
    ("Rate-limit waits", "s", "timeseries", [
        ("rate(raytrader_rate_limit_wait_seconds_total[$__rate_interval])", "{{exchange}}")]),
    ("Feed reconnects", "short", "stat", [("raytrader_feed_reconnects_total",
                                            "{{exchange}}")]),
    ("Exchange request latency p95", "s", "timeseries", [
        ("histogram_quantile(0.95, sum by (le, exchange) "
         "(rate(raytrader_exchange_request_seconds_bucket[$__rate_interval])))",
         "{{exchange}}")]),
    ("Strategy faults", "short", "stat", [("raytrader_strategy_faults_total", "{{actor}}")]),
    ("Copilot alerts", "short", "bargauge", [
        ("sum by (rule, severity) (raytrader_alerts_total)", "{{rule}} {{severity}}")]),
    ("API requests per second by status", "reqps", "timeseries", [
        ("sum by (status) (rate(raytrader_api_requests_total[$__rate_interval]))",
         "{{status}}")]),
]


def dashboard(uid: str, title: str, panels: list[Any], tags: list[str]) -> dict[str, Any]:
    out = []
    for i, (name, unit, kind, queries) in enumerate(panels):
        width = 12 if kind in ("timeseries", "state-timeline") else 6
        out.append({
            "id": i + 1, "type": kind, "title": name, "datasource": DATASOURCE,
            "gridPos": {"h": 8, "w": width, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {}, "targets": [
                {"refId": chr(ord("A") + k), "datasource": DATASOURCE, "expr": expr,
                 "legendFormat": legend} for k, (expr, legend) in enumerate(queries)]})
    return {"uid": uid, "title": title, "tags": ["raytrader", *tags], "timezone": "utc",
            "schemaVersion": 39, "version": 1, "refresh": "5s",
            "time": {"from": "now-1h", "to": "now"}, "editable": True, "panels": out,
            "templating": {"list": []}, "annotations": {"list": []}}


def main() -> None:
    for name, uid, title, panels, tags in (
            ("backtest", "raytrader-backtest", "raytrader: backtest on the actor graph",
             BACKTEST, ["backtest"]),
            ("live", "raytrader-live", "raytrader: paper and live session", LIVE, ["live"])):
        (HERE / f"{name}.json").write_text(json.dumps(dashboard(uid, title, panels, tags),
                                                      indent=1) + "\n")


if __name__ == "__main__":
    main()
