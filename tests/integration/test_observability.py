"""Every process of a run is observable: a backtest on the actor graph and a live session
against the fake exchange each serve their metrics, which hold the run's numbers; a real
Prometheus scrapes them through the service-discovery file; the actors' log lines are JSON
with their run id and name; a session's logs never carry its keys."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

ray = pytest.importorskip("ray")

from actors.graph import GraphRun, ensure_ray  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.obs.exporter import write_targets  # noqa: E402
from tests.kit.api import wait_for  # noqa: E402
from tests.kit.fake_exchange.app import API_KEY, API_SECRET  # noqa: E402
from tests.kit.fake_exchange.runner import running_fake_binance, wait_until  # noqa: E402
from tests.kit.live_process import pushing_market, start_session, wave  # noqa: E402
from tests.kit.prometheus import query, running_prometheus  # noqa: E402

pytestmark = pytest.mark.slow
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a /metrics page."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


@pytest.fixture(scope="module")
def local_ray() -> Any:
    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()


def test_every_graph_actor_serves_its_metrics_and_prometheus_scrapes_them(
        local_ray: Any, tmp_path: Path) -> None:
    config = BacktestConfig.from_dict({
        "data": "synthetic:trades", "symbols": SYMBOLS, "start": "2024-01-01",
        "end": "2024-01-03", "strategy": "sma_cross", "params": {"fast": 20, "slow": 80},
        "capital": 20_000, "max_open_positions": 1})
    run = GraphRun(config, workers=2)
    result = run.result()
    events = result.metrics["events"]
    assert events > 100_000 and len(result.fills) > 0

    roles = sorted(t["role"] for t in run.metrics_targets())
    assert roles == ["coordinator", "execution", "feed", "risk", "worker", "worker"]
    scraped = {t["actor"]: scrape(t["address"]) for t in run.metrics_targets()}
    targets = {t["actor"]: t for t in run.metrics_targets()}
    # the coordinator: the runs, the processes it started, the data it loaded, the phases of
    # its last run (a coordinator lives on: earlier runs of this Ray session count too)
    coordinator = scraped["coordinator"]
    assert total(coordinator, "raytrader_runs_total", kind="graph", outcome="ok") >= 1
    assert total(coordinator, "raytrader_graph_actors_started_total") >= \
        len(result.timing["graph_started"])
    assert total(coordinator, "raytrader_data_loads_total", result="loaded") >= 1
    assert total(coordinator, "raytrader_graph_phase_seconds", phase="total") == \
        pytest.approx(result.timing["graph_phases"]["total"])

    feed = next(v for k, v in scraped.items() if k.startswith("feed:"))
    assert total(feed, "raytrader_events_total", direction="out") == events
    assert total(feed, "raytrader_batches_total", direction="out") >= len(SYMBOLS)
    workers = {k: v for k, v in scraped.items() if k.startswith("worker:")}
    assert sum(total(w, "raytrader_events_total", direction="in")
               for w in workers.values()) == events
    for name, worker in workers.items():
        symbol = name.split(":")[1]
        assert total(worker, "raytrader_batch_seconds_count") >= 1
        watermark = total(worker, "raytrader_watermark_timestamp_seconds", symbol=symbol)
        # the last event of 2024-01-02 (UTC), as event time
        assert 1704153600 < watermark < 1704240000
    execution = next(v for k, v in scraped.items() if k.startswith("execution:"))
    assert total(execution, "raytrader_events_total", direction="in") == events
    assert total(execution, "raytrader_run_progress_ratio") == 1.0
    assert total(execution, "raytrader_fills_total") == len(result.fills)
    assert total(execution, "raytrader_equity") == pytest.approx(
        result.metrics["final_equity"])
    denied = result.risk.get("denials", {})
    assert total(execution, "raytrader_order_denials_total") == sum(denied.values()) > 0
    risk = scraped["risk"]
    assert total(risk, "raytrader_risk_checks_total") > 0
    assert total(risk, "raytrader_risk_mismatches_total") == 0
    assert total(risk, "raytrader_order_denials_total") == sum(denied.values())
    assert total(risk, "raytrader_risk_state", scope="portfolio") == 0   # ACTIVE
    for actor, samples in scraped.items():
        run_id = targets[actor]["run_id"]
        assert total(samples, "raytrader_run_info", actor=actor, run_id=run_id,
                     kind="graph") == 1.0

    # a real Prometheus finds them through the service-discovery file and scrapes them all
    sd = tmp_path / "sd"
    write_targets(sd / "raytrader-graph.json", run.metrics_targets())
    with running_prometheus(tmp_path, sd) as prom:
        wait_until(lambda: len(query(prom, 'up{job="raytrader"} == 1')) == 6, 30,
                   "Prometheus scraping the coordinator and the five actors")
        by_role = {r["metric"]["role"]: float(r["value"][1]) for r in query(
            prom, 'sum by (role) (raytrader_events_total{direction="in"})')}
        assert by_role == {"worker": events, "execution": events}

    # the actors' log lines: JSON, with their run id and name
    logs_dir = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    lines = [json.loads(line) for path in logs_dir.glob("worker-*.err")
             for line in path.read_text(errors="replace").splitlines()
             if line.startswith("{") and '"actor"' in line]
    finished = {line["actor"]: line for line in lines if line.get("event") in (
        "execution finished", "feed finished", "worker finished", "risk audit finished",
        "graph run finished")}
    assert set(finished) == set(scraped), finished.keys()
    for actor, line in finished.items():
        assert line["run_id"] == targets[actor]["run_id"] and line["level"] == "info"
        assert re.match(r"\d{4}-\d\d-\d\dT", line["timestamp"])
    assert finished[next(a for a in finished if a.startswith("execution:"))]["fills"] == \
        len(result.fills)


def test_a_live_session_serves_its_metrics_and_keeps_its_keys_out_of_its_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_file = tmp_path / "session.jsonl"
    # debug: ccxt logs every request with its headers, the API key among them
    monkeypatch.setenv("RAYTRADER_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("RAYTRADER_LOG_FILE", str(log_file))
    with running_fake_binance() as server, pushing_market(server, price=wave, every=0.01,
                                                          delay=0.5):
        proc = start_session(server, tmp_path, [
            "--live", "--symbols", "BTC/USDT", "--capital", "5000", "--strategy", "sma_cross",
            "--param", "fast=3", "--param", "slow=8", "--max-daily-loss", "0.05",
            "--journal", str(tmp_path / "live.db"), "--heartbeat", "0",
            "--metrics-port", "0", "--log-format", "json"])
        try:
            address = wait_for(lambda: re.search(
                r"metrics on http://([\d.]+:\d+)/metrics",
                (tmp_path / "session.log").read_text()), 30,
                what="the metrics address").group(1)
            metrics = wait_for(lambda: (m := scrape(address)) and total(
                m, "raytrader_fills_total") >= 2 and m, 60, what="two fills in the metrics")
            assert total(metrics, "raytrader_run_info", kind="live") == 1.0
            assert total(metrics, "raytrader_events_total", actor="live:binance",
                         direction="in") > 10
            assert total(metrics, "raytrader_orders_total", strategy="sma_cross:BTC/USDT") >= 2
            assert total(metrics, "raytrader_exchange_requests_total", exchange="binance",
                         method="POST") >= 2
            assert total(metrics, "raytrader_order_seconds_count", action="create") >= 2
            assert total(metrics, "raytrader_equity") > 0
            assert total(metrics, "raytrader_daily_loss_limit_ratio") == 0.05
            assert total(metrics, "raytrader_risk_state", scope="portfolio") == 0
            assert 0 <= total(metrics, "raytrader_watermark_lag_seconds") < 10
            assert total(metrics, "raytrader_rate_limit_wait_seconds_total",
                         exchange="binance") >= 0
            # and a real Prometheus scrapes the session
            write_targets(tmp_path / "sd" / "live.json", [
                {"address": address, "actor": "live:binance", "role": "live", "kind": "live"}])
            with running_prometheus(tmp_path, tmp_path / "sd") as prom:
                wait_until(lambda: bool(query(
                    prom, 'raytrader_fills_total{actor="live:binance"} >= 2')), 30,
                    "Prometheus scraping the session")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0, (tmp_path / "session.log").read_text()[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    started = [line for line in lines if line["event"] == "session started"]
    assert started and started[0]["actor"] == "live:binance" and started[0]["run_id"]
    assert all("timestamp" in line and "level" in line for line in lines)
    # ccxt's request lines were there, and the key in them masked
    requests = [line for line in lines if "Request:" in line["event"]]
    assert requests and any("***" in line["event"] for line in requests)
    everything = text + (tmp_path / "session.log").read_text()
    for secret in (API_KEY, API_SECRET):
        assert secret not in everything
