"""Structured logs and metrics without Ray: JSON lines carrying the bound run id and actor,
secrets masked by value and by field name (stdlib records too); metric names by Prometheus
conventions; counters and gauges read from a finished backtest's result and a running
engine's totals; one family per name however many sources a process has; the exporter
serves them over HTTP."""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

import engine
from engine.obs import logs
from engine.obs.exporter import sd_groups, serve_metrics, stop_metrics, write_targets
from engine.obs.metrics import (CATALOG, STATE, Samples, add_collector, engine_samples,
                                remove_collector, result_samples)


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    logs.configure("json", "DEBUG", stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "_raytrader", False):
            logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_lines_are_json_with_the_bound_context(captured: io.StringIO) -> None:
    logs.bind(run_id="r1", actor="execution:SIM")
    logs.get_logger("raytrader.test", strategy="sma_cross:BTC/USDT").info("fills booked",
                                                                          fills=3)
    [line] = lines(captured)
    assert line["event"] == "fills booked" and line["fills"] == 3
    assert line["run_id"] == "r1" and line["actor"] == "execution:SIM"
    assert line["strategy"] == "sma_cross:BTC/USDT" and line["level"] == "info"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["timestamp"])


def test_secrets_never_reach_a_line(captured: io.StringIO,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRAKEN_API_SECRET", "s3cr3t-from-the-env")
    logs.register_secrets(["k3y-registered-value"])
    log = logs.get_logger("raytrader.test")
    log.info("connect", api_key="plain-key-by-name", headers={"X-MBX-APIKEY":
                                                              "k3y-registered-value"})
    log.warning("failed: signature=k3y-registered-value&x=1")
    try:
        raise RuntimeError("echoed s3cr3t-from-the-env")
    except RuntimeError:
        log.exception("request failed")
    logging.getLogger("ccxt.base.exchange").debug("GET /api, Request: %s",
                                                  {"X-MBX-APIKEY": "k3y-registered-value"})
    text = captured.getvalue()
    for secret in ("plain-key-by-name", "k3y-registered-value", "s3cr3t-from-the-env"):
        assert secret not in text
    found = lines(captured)
    assert found[0]["api_key"] == "***" and "***" in found[0]["headers"]
    assert "***" in found[2]["exception"] and "RuntimeError" in found[2]["exception"]
    assert found[3]["event"].startswith("GET /api, Request:") and "***" in found[3]["event"]


def test_the_console_format_is_readable_text() -> None:
    stream = io.StringIO()
    logs.configure("console", stream=stream)
    try:
        logs.get_logger("raytrader.test").info("session started", symbols=2)
        text = stream.getvalue()
        assert "session started" in text and "symbols=2" in text and not text.startswith("{")
    finally:
        structlog.reset_defaults()
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_raytrader", False):
                logging.getLogger().removeHandler(handler)
    with pytest.raises(ValueError, match="log format"):
        logs.chosen_format("xml")


def test_metric_names_follow_prometheus_conventions() -> None:
    for name, spec in CATALOG.items():
        assert re.fullmatch(r"raytrader_[a-z][a-z0-9_]*", name), name
        assert (spec.kind == "counter") == name.endswith("_total"), name
        if "seconds" in name:
            assert name.endswith(("_seconds", "_seconds_total")), name
        assert len(spec.labels) <= 3, name
        assert "run_id" not in spec.labels or name == "raytrader_run_info", name


def test_samples_refuse_labels_other_than_the_catalogs() -> None:
    samples = Samples()
    with pytest.raises(ValueError, match="takes labels"):
        samples.add("raytrader_equity", 1.0, actor="a", symbol="BTC/USDT")
    with pytest.raises(KeyError):
        samples.add("raytrader_made_up", 1.0)


def parse(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_finished_backtest_gives_its_totals() -> None:
    result = engine.backtest("sma_cross", {"fast": 5, "slow": 20}, symbols=["BTC/USDT"],
                             timeframe="1h", end="2024-03-01", seed=2, risk_preset="medium")
    samples = Samples()
    result_samples(samples, result, "backtest:t")
    values = {(n, labels): v for n, rows in samples.values.items() for labels, v in rows}
    sid = "sma_cross:BTC/USDT"
    assert values[("raytrader_fills_total", ("backtest:t", sid))] == len(result.fills) > 0
    assert values[("raytrader_events_total", ("backtest:t", "in"))] == result.metrics["events"]
    assert values[("raytrader_equity", ("backtest:t",))] == result.metrics["final_equity"]
    denials = {labels[1]: v for (n, labels), v in values.items()
               if n == "raytrader_order_denials_total"}
    assert denials == result.risk["denials"]


def test_a_running_engine_gives_its_totals() -> None:
    from engine.config import BacktestConfig
    from engine.run import build_engine, complete_params, load_data, plan_pairs

    config = complete_params(BacktestConfig.from_dict({
        "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "symbols": ["BTC/USDT"],
        "timeframe": "1h", "end": "2024-02-01", "max_daily_loss": 0.03}))
    loaded = load_data(config)
    plans = plan_pairs(config, [f.symbol for f in loaded.feeds])
    built = build_engine(config, loaded.feeds, plans)
    built.run()
    samples = Samples()
    engine_samples(samples, built, "paper:x", built.events_processed, now_s=2e9)
    values = {(n, labels): v for n, rows in samples.values.items() for labels, v in rows}
    sid = plans[0].strategy_id
    assert values[("raytrader_fills_total", ("paper:x", sid))] == len(built.fills) > 0
    assert values[("raytrader_daily_loss_limit_ratio", ("paper:x",))] == 0.03
    assert values[("raytrader_risk_state", ("paper:x", "portfolio"))] == 0
    assert values[("raytrader_equity", ("paper:x",))] == pytest.approx(
        built.portfolio.equity())
    orders = values[("raytrader_orders_total", ("paper:x", sid))]
    assert orders >= len({f.client_order_id for f in built.fills})


def test_sources_merge_into_one_family_per_name_and_the_exporter_serves_them(
        tmp_path) -> None:
    first = add_collector(lambda s: s.add("raytrader_equity", 10.0, actor="a"))
    second = add_collector(lambda s: s.add("raytrader_equity", 20.0, actor="b"))
    failing = add_collector(lambda s: {}["missing"])   # skipped, the rest still served
    try:
        host, port = serve_metrics("127.0.0.1", 0)
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert text.count("# TYPE raytrader_equity gauge") == 1
        values = parse(text)
        assert values[("raytrader_equity", (("actor", "a"),))] == 10.0
        assert values[("raytrader_equity", (("actor", "b"),))] == 20.0
    finally:
        for source in (first, second, failing):
            remove_collector(source)
        stop_metrics()
    assert first not in STATE.sources
    path = write_targets(tmp_path / "sd" / "graph.json",
                         [{"address": "10.0.0.1:9000", "actor": "feed:SIM", "role": "feed",
                           "run_id": "abc", "kind": "graph"}])
    assert json.loads(path.read_text()) == sd_groups(
        [{"address": "10.0.0.1:9000", "actor": "feed:SIM", "role": "feed", "kind": "graph"}])
    assert json.loads(path.read_text())[0]["labels"] == {"actor": "feed:SIM", "role": "feed",
                                                         "kind": "graph"}


def test_a_command_line_backtest_serves_its_metrics(tmp_path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    before = list(STATE.sources)
    try:
        code = main(["backtest", "--metrics-port", "0", "--quiet", "--symbols", "BTC/USDT",
                     "--timeframe", "1h", "--end", "2024-03-01", "--output",
                     str(tmp_path / "out")])
        assert code == 0
        address = re.search(r"metrics on http://([\d.]+:\d+)/metrics",
                            capsys.readouterr().err).group(1)
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
            values = parse(answer.read().decode())
        result = json.loads((tmp_path / "out" / "result.json").read_text())
        events = result["metrics"]["events"]
        assert values[("raytrader_events_total", (("actor", "backtest"),
                                                  ("direction", "in")))] == events
        assert values[("raytrader_run_progress_ratio", (("actor", "backtest"),))] == 1.0
        assert values[("raytrader_run_seconds_count", (("kind", "backtest"),))] >= 1
    finally:
        for source in list(STATE.sources):
            if source not in before:
                remove_collector(source)
        stop_metrics()
