"""The Prometheus metrics every raytrader process exports, named by Prometheus conventions
(``raytrader_<thing>_<unit>``, ``_total`` for counters, ``_seconds`` for durations) with a
small, fixed label set.

Hot paths never touch a metric. Counters and gauges are **read from the totals the engine
and the actors already keep, when Prometheus scrapes** (:class:`StateCollector` calls a
function that fills :class:`Samples`); the only metrics updated as things happen are
histograms observed once per batch, per run, per exchange request or per order. So a
backtest at millions of events per second pays nothing per event.

:data:`CATALOG` is the one list of names, types, help texts and labels; the dashboards and
alert rules in ``deploy/`` may only use names from it (a test checks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclasses.dataclass(frozen=True)
class Spec:
    """One metric: its kind (``counter``, ``gauge``, ``histogram``), help and labels."""

    kind: str
    help: str
    labels: tuple[str, ...]


CATALOG: dict[str, Spec] = {
    # what runs where
    "raytrader_run_info": Spec("gauge", "1 for each process of a run: its run id, actor and "
                               "kind (backtest, graph, paper, live, api)",
                               ("run_id", "actor", "kind")),
    "raytrader_run_progress_ratio": Spec("gauge", "share of the run's market events processed",
                                         ("actor",)),
    # market data
    "raytrader_events_total": Spec("counter", "market events taken in (direction=in) or "
                                   "published (direction=out)", ("actor", "direction")),
    "raytrader_batches_total": Spec("counter", "market-data batches taken in or published",
                                    ("actor", "direction")),
    "raytrader_watermark_timestamp_seconds": Spec(
        "gauge", "event time (Unix seconds) up to which the actor has processed a symbol",
        ("actor", "symbol")),
    "raytrader_watermark_lag_seconds": Spec(
        "gauge", "wall-clock time since the last market event was processed (live sessions)",
        ("actor",)),
    "raytrader_queue_depth": Spec("gauge", "messages waiting in a queue of the actor",
                                  ("actor", "queue")),
    # orders
    "raytrader_orders_total": Spec("counter", "orders strategies placed that the venue "
                                   "accepted or rejected or the risk engine denied (a "
                                   "finished backtest: the orders that filled)",
                                   ("actor", "strategy")),
    "raytrader_fills_total": Spec("counter", "fills booked", ("actor", "strategy")),
    "raytrader_order_denials_total": Spec("counter", "orders the risk engine denied, by reason "
                                          "code", ("actor", "reason")),
    "raytrader_order_reductions_total": Spec("counter", "orders the risk engine cut to fit, by "
                                             "reason code", ("actor", "reason")),
    "raytrader_order_rejections_total": Spec("counter", "orders the venue rejected, by reason",
                                             ("actor", "reason")),
    "raytrader_working_orders": Spec("gauge", "orders working at the venue", ("actor",)),
    # risk and the account
    "raytrader_risk_state": Spec("gauge", "trading state of a scope (the portfolio or a "
                                 "strategy): 0 ACTIVE, 1 REDUCING, 2 HALTED", ("actor", "scope")),
    "raytrader_kill_switch": Spec("gauge", "1 once the kill switch was pulled", ("actor",)),
    "raytrader_breaker_trips_total": Spec("counter", "risk breakers tripped, by reason code",
                                          ("actor", "reason")),
    "raytrader_equity": Spec("gauge", "portfolio equity at the last marks, in the quote "
                             "currency", ("actor",)),
    "raytrader_cash": Spec("gauge", "portfolio cash, in the quote currency", ("actor",)),
    "raytrader_daily_loss_ratio": Spec("gauge", "loss since the UTC day's opening equity, as a "
                                       "share of it (0 when up)", ("actor",)),
    "raytrader_daily_loss_limit_ratio": Spec("gauge", "the daily-loss breaker's limit, as a "
                                             "share of the day's opening equity", ("actor",)),
    "raytrader_drawdown_ratio": Spec("gauge", "drawdown from the equity peak, as a share of "
                                     "the peak", ("actor",)),
    "raytrader_pnl": Spec("gauge", "profit and loss of a strategy in the quote currency "
                          "(kind: realized, unrealized, fees, net)", ("actor", "strategy",
                                                                      "kind")),
    "raytrader_exposure": Spec("gauge", "absolute notional a strategy holds at the last marks",
                               ("actor", "strategy")),
    "raytrader_position": Spec("gauge", "signed quantity a strategy holds",
                               ("actor", "strategy")),
    "raytrader_leverage_ratio": Spec("gauge", "gross exposure over equity", ("actor",)),
    "raytrader_strategy_faults_total": Spec("counter", "strategies faulted (an exception in "
                                            "user code)", ("actor",)),
    # the risk actor's audit
    "raytrader_risk_checks_total": Spec("counter", "orders the risk actor re-decided",
                                        ("actor",)),
    "raytrader_risk_mismatches_total": Spec("counter", "decisions the risk actor disagreed "
                                            "with", ("actor",)),
    # exchanges
    "raytrader_exchange_requests_total": Spec("counter", "REST requests sent to an exchange",
                                              ("exchange", "method")),
    "raytrader_exchange_errors_total": Spec("counter", "exchange requests that failed, by "
                                            "error class", ("exchange", "error")),
    "raytrader_rate_limit_wait_seconds_total": Spec(
        "counter", "seconds spent waiting for an exchange's rate limit", ("exchange",)),
    "raytrader_feed_reconnects_total": Spec("counter", "market-data sockets reopened",
                                            ("exchange",)),
    "raytrader_exchange_request_seconds": Spec("histogram", "REST request latency",
                                               ("exchange", "method")),
    "raytrader_order_seconds": Spec("histogram", "time to place or cancel an order at the "
                                    "exchange (action: create, cancel)", ("exchange", "action")),
    # runs, batches, the control API, alerts
    "raytrader_batch_seconds": Spec("histogram", "time to compute one market-data batch",
                                    ("actor",)),
    "raytrader_run_seconds": Spec("histogram", "wall time of a finished run", ("kind",)),
    "raytrader_runs_total": Spec("counter", "runs finished, by outcome (ok, failed, canceled)",
                                 ("kind", "outcome")),
    # the coordinator of the actor graph
    "raytrader_graph_phase_seconds": Spec("gauge", "seconds from the start of the last graph "
                                          "run to each of its phases (prepare, object_store, "
                                          "actors_started, total)", ("actor", "phase")),
    "raytrader_graph_actors_started_total": Spec("counter", "actor processes the coordinator "
                                                 "started (the rest of each run's graph was "
                                                 "kept warm)", ("actor",)),
    "raytrader_data_loads_total": Spec("counter", "runs whose data the coordinator loaded "
                                       "(result=loaded) or kept from the last run "
                                       "(result=reused)", ("actor", "result")),
    "raytrader_api_requests_total": Spec("counter", "control API requests by route and status",
                                         ("method", "route", "status")),
    "raytrader_alerts_total": Spec("counter", "copilot alerts raised, by rule and severity",
                                   ("rule", "severity")),
}

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


def _histogram(name: str, buckets: tuple[float, ...] = _BUCKETS) -> Histogram:
    spec = CATALOG[name]
    return Histogram(name, spec.help, spec.labels, buckets=buckets)


BATCH_SECONDS = _histogram("raytrader_batch_seconds")
RUN_SECONDS = _histogram("raytrader_run_seconds", _RUN_BUCKETS)
EXCHANGE_REQUEST_SECONDS = _histogram("raytrader_exchange_request_seconds")
ORDER_SECONDS = _histogram("raytrader_order_seconds")


class Samples:
    """Values of counters and gauges gathered at one scrape: ``add(name, value, **labels)``;
    the names must be in :data:`CATALOG`, with exactly its labels."""

    def __init__(self) -> None:
        self.values: dict[str, list[tuple[tuple[str, ...], float]]] = defaultdict(list)

    def add(self, name: str, value: float, **labels: Any) -> None:
        spec = CATALOG[name]
        if set(labels) != set(spec.labels):
            raise ValueError(f"{name} takes labels {spec.labels}, got {tuple(labels)}")
        value = float(value)
        if math.isnan(value):
            return
        self.values[name].append((tuple(str(labels[k]) for k in spec.labels), value))

    def families(self) -> Iterable[Metric]:
        for name, rows in self.values.items():
            spec = CATALOG[name]
            family: Metric
            if spec.kind == "counter":
                family = CounterMetricFamily(name.removesuffix("_total"), spec.help,
                                             labels=spec.labels)
            else:
                family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
            summed: dict[tuple[str, ...], float] = {}
            for key, value in rows:   # the same series added twice: summed
                summed[key] = summed.get(key, 0.0) + value
            for key, value in summed.items():
                family.add_metric(list(key), value)
            yield family


Source = Callable[[Samples], None]


class StateCollector(Collector):
    """The process's one collector of state read at scrape time: it calls every source
    (``source(samples)`` fills the samples) and merges what they give into one family per
    metric name (the text format allows a name once). A source that fails (state changing
    under it) is retried, then skipped for this scrape."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self._lock = threading.Lock()

    def add(self, source: Source) -> Source:
        with self._lock:
            self.sources.append(source)
        return source

    def remove(self, source: Source) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self.sources.remove(source)

    def describe(self) -> Iterable[Metric]:
        return []   # names vary with the sources: nothing for the registry to reserve

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            sources = list(self.sources)
        merged = Samples()
        for source in sources:
            for _ in range(3):
                part = Samples()
                try:
                    source(part)
                except (RuntimeError, KeyError, AttributeError, TypeError, ValueError):
                    continue   # a dict changed size mid-read, or the core was swapped: retry
                for name, rows in part.values.items():
                    merged.values[name].extend(rows)
                break
        return list(merged.families())


STATE = StateCollector()
REGISTRY.register(STATE)


def add_collector(source: Source) -> Source:
    """Read ``source`` at every scrape of this process's metrics (until removed)."""
    return STATE.add(source)


def remove_collector(source: Source) -> None:
    """Stop reading a source added by :func:`add_collector` (nothing if it is not there)."""
    STATE.remove(source)


# --- what a run's state says --------------------------------------------------------------

STATE_CODES = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}


def result_samples(samples: Samples, result: Any, actor: str) -> None:
    """The counters and gauges a finished backtest's result (``BacktestResult``) gives."""
    metrics = result.metrics
    samples.add("raytrader_events_total", metrics.get("events", 0), actor=actor,
                direction="in")
    samples.add("raytrader_run_progress_ratio", 1.0, actor=actor)
    attribution = result.attribution
    n_orders = _orders_by_strategy(result)
    for row in attribution.itertuples(index=False):
        sid = row.strategy_id
        samples.add("raytrader_fills_total", row.n_fills, actor=actor, strategy=sid)
        samples.add("raytrader_orders_total", n_orders.get(sid, 0), actor=actor, strategy=sid)
        for kind in ("realized_pnl", "unrealized_pnl", "fees", "net_pnl"):
            samples.add("raytrader_pnl", getattr(row, kind), actor=actor, strategy=sid,
                        kind=kind.removesuffix("_pnl"))
        samples.add("raytrader_position", row.final_qty, actor=actor, strategy=sid)
    risk = result.risk or {}
    for reason, n in (risk.get("denials") or {}).items():
        samples.add("raytrader_order_denials_total", n, actor=actor, reason=reason)
    for reason, n in (risk.get("reductions") or {}).items():
        samples.add("raytrader_order_reductions_total", n, actor=actor, reason=reason)
    for reason, n in (risk.get("breaker_trips") or {}).items():
        samples.add("raytrader_breaker_trips_total", n, actor=actor, reason=reason)
    state = risk.get("final_state")
    if state in STATE_CODES:
        samples.add("raytrader_risk_state", STATE_CODES[state], actor=actor, scope="portfolio")
    samples.add("raytrader_kill_switch",
                1.0 if (risk.get("breaker_trips") or {}).get("kill_switch") else 0.0,
                actor=actor)
    samples.add("raytrader_equity", metrics.get("final_equity", math.nan), actor=actor)
    samples.add("raytrader_drawdown_ratio", -float(metrics.get("max_drawdown") or 0.0),
                actor=actor)
    samples.add("raytrader_strategy_faults_total", len(result.faults), actor=actor)
    equity = result.equity
    if len(equity):
        last = equity.iloc[-1]
        samples.add("raytrader_cash", last["cash"], actor=actor)
        if "leverage" in equity:
            samples.add("raytrader_leverage_ratio", last["leverage"], actor=actor)


def _orders_by_strategy(result: Any) -> Mapping[str, int]:
    """Orders per strategy: distinct client order ids among its fills, plus its denials."""
    fills = result.fills
    if not len(fills):
        return {}
    return fills.groupby("strategy_id")["client_order_id"].nunique().to_dict()


def _reason_code(reason: str) -> str:
    """A short, bounded label from a free-text reason (``"code: detail"`` -> ``code``)."""
    code = reason.split(":", 1)[0].strip().lower()
    return re.sub(r"[^a-z0-9_]+", "_", code)[:40] or "unknown"


def engine_samples(samples: Samples, engine: Any, actor: str, events: int, *,
                   now_s: float | None = None) -> None:
    """The counters and gauges of a running engine (``BacktestEngine``, as a paper or live
    session drives it) that has processed ``events`` market events: read from the totals it
    keeps, nothing counted per event."""
    from engine.messages import OrderAccepted, OrderDenied, OrderRejected

    portfolio = engine.portfolio
    risk = engine.risk
    marks = dict(portfolio.last_price)
    samples.add("raytrader_events_total", max(events, 0), actor=actor, direction="in")
    orders: dict[str, int] = defaultdict(int)
    rejections: dict[str, int] = defaultdict(int)
    for event in list(engine.order_events):   # orders are rare next to market events
        cls = type(event)
        if cls is OrderAccepted or cls is OrderDenied or cls is OrderRejected:
            orders[event.strategy_id] += 1
            if cls is OrderRejected:
                rejections[_reason_code(event.reason)] += 1
    fills: dict[str, int] = defaultdict(int)
    for position in list(portfolio.positions.values()):
        fills[position.strategy_id] += position.n_fills
    gross = 0.0
    for ctx in list(engine.contexts):
        sid = ctx.strategy_id
        position = portfolio.positions.get((ctx.symbol, sid))
        price = marks.get(ctx.symbol, math.nan)
        qty = position.qty if position is not None else 0.0
        exposure = abs(qty * price) if qty else 0.0
        gross += exposure
        samples.add("raytrader_orders_total", orders.get(sid, 0), actor=actor, strategy=sid)
        samples.add("raytrader_fills_total", fills.get(sid, 0), actor=actor, strategy=sid)
        samples.add("raytrader_position", qty, actor=actor, strategy=sid)
        samples.add("raytrader_exposure", exposure, actor=actor, strategy=sid)
        if position is not None:
            unrealized = position.unrealized_pnl(price) if qty else 0.0
            realized = position.realized_pnl
            samples.add("raytrader_pnl", realized, actor=actor, strategy=sid, kind="realized")
            samples.add("raytrader_pnl", unrealized, actor=actor, strategy=sid,
                        kind="unrealized")
            samples.add("raytrader_pnl", position.fees, actor=actor, strategy=sid, kind="fees")
            samples.add("raytrader_pnl", realized + unrealized - position.fees, actor=actor,
                        strategy=sid, kind="net")
        scope_state = risk.state(sid)
        samples.add("raytrader_risk_state", scope_state, actor=actor, scope=sid)
    for reason, n in rejections.items():
        samples.add("raytrader_order_rejections_total", n, actor=actor, reason=reason)
    for reason, n in dict(risk.denials).items():
        samples.add("raytrader_order_denials_total", n, actor=actor, reason=reason)
    for reason, n in dict(risk.reductions).items():
        samples.add("raytrader_order_reductions_total", n, actor=actor, reason=reason)
    for reason, n in dict(risk.trips).items():
        samples.add("raytrader_breaker_trips_total", n, actor=actor, reason=reason)
    samples.add("raytrader_risk_state", risk.state("portfolio"), actor=actor, scope="portfolio")
    samples.add("raytrader_kill_switch", 1.0 if risk.trips.get("kill_switch") else 0.0,
                actor=actor)
    equity = portfolio.equity() if marks else portfolio.cash
    samples.add("raytrader_equity", equity, actor=actor)
    samples.add("raytrader_cash", portfolio.cash, actor=actor)
    samples.add("raytrader_leverage_ratio", gross / equity if equity > 0 else 0.0, actor=actor)
    day_open = getattr(risk, "day_open", 0.0)
    if day_open > 0:
        samples.add("raytrader_daily_loss_ratio", max(day_open - equity, 0.0) / day_open,
                    actor=actor)
    peak = max(getattr(risk, "peak", equity), equity)
    if peak > 0:
        samples.add("raytrader_drawdown_ratio", max(peak - equity, 0.0) / peak, actor=actor)
    limit = engine.limits.max_daily_loss
    if limit is not None:
        samples.add("raytrader_daily_loss_limit_ratio", limit, actor=actor)
    samples.add("raytrader_working_orders",
                sum(len(book) for book in list(engine.venue.working.values())), actor=actor)
    samples.add("raytrader_strategy_faults_total", len(engine.faults), actor=actor)
    ts_ns = engine.clock.ts
    if ts_ns and ts_ns > 0:
        samples.add("raytrader_watermark_timestamp_seconds", ts_ns / 1e9, actor=actor,
                    symbol="all")
        now = time.time() if now_s is None else now_s
        samples.add("raytrader_watermark_lag_seconds", max(now - ts_ns / 1e9, 0.0),
                    actor=actor)


__all__ = ["BATCH_SECONDS", "CATALOG", "EXCHANGE_REQUEST_SECONDS", "ORDER_SECONDS",
           "RUN_SECONDS", "STATE", "STATE_CODES", "Samples", "Source", "Spec", "StateCollector",
           "add_collector", "engine_samples", "remove_collector", "result_samples"]
