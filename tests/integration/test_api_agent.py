"""The paper agent through the control API on a real uvicorn server, trading on the fake
exchange on 127.0.0.1: started, watched on the websocket, paused (the strategies place
nothing while the market goes on), resumed, its strategies hot-swapped with their state
persisted, refused when unauthorized, and emergency-stopped flat; the kill switch raises
a copilot alert that reaches a real local webhook and is acknowledged."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.kit.api import TOKEN, running_api, wait_for, watch_websocket
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import running_fake_binance
from tests.kit.live_process import pushing_market, wave
from tests.kit.prometheus import query, running_prometheus

pytestmark = pytest.mark.slow


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 recording the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/bot-secret-path/sendMessage", received
    finally:
        server.shutdown()
        server.server_close()


def start_body(server: Any) -> dict[str, Any]:
    return {"config": {"symbols": ["BTC/USDT"], "capital": 10_000, "max_daily_loss": 0.05,
                       "strategies": [{"strategy": "sma_cross", "params": {"fast": 3,
                                                                           "slow": 8}}]},
            "exchange": "binance",
            "exchange_config": {"options": dict(SPOT_ONLY), "enableRateLimit": False,
                                "timeout": 3000, "rest_url": server.rest_url,
                                "ws_url": server.ws_url}}


def test_the_agent_is_driven_through_the_api(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="raytrader")
    with webhook_receiver() as (hook_url, hooked), running_fake_binance() as exchange, \
            pushing_market(exchange, price=wave, every=0.01, delay=0.3, book=False), \
            running_api(tmp_path, webhook_url=hook_url) as api, api.client(TOKEN) as client, \
            api.client("not-the-token-at-all") as wrong:
        # started; its first fills come over the websocket
        messages = watch_websocket(
            api.ws_url, ["agent", "prices", "signals", "trades"],
            on_subscribed=lambda: client.post("/api/v1/agent/start",
                                              json=start_body(exchange)).raise_for_status(),
            until=lambda m: m["channel"] == "trades")
        channels = {m["channel"] for m in messages}
        assert {"agent", "prices", "signals", "trades"} <= channels
        status = wait_for(lambda: (s := client.get("/api/v1/agent/status").json())
                          ["state"] == "running" and s, what="a running agent")
        assert status["strategies"] == ["sma_cross:BTC/USDT"]

        # the API process's metrics show the session
        metrics = client.get("/metrics").text
        assert 'raytrader_run_info{actor="paper:binance",kind="paper"' in metrics
        assert 'raytrader_fills_total{actor="paper:binance",strategy="sma_cross:BTC/USDT"}' \
            in metrics
        assert 'raytrader_exchange_requests_total{exchange="binance",method="GET"}' in metrics

        # paused: the market goes on, the strategies decide nothing
        assert client.post("/api/v1/agent/pause").json()["state"] == "paused"
        decided = len(client.get("/api/v1/signals").json())
        events = client.get("/api/v1/agent/status").json()["events"]
        wait_for(lambda: client.get("/api/v1/agent/status").json()["events"] > events + 150,
                 what="market events while paused")
        assert len(client.get("/api/v1/signals").json()) == decided
        # an unauthorized resume changes nothing
        assert wrong.post("/api/v1/agent/resume").status_code == 403
        assert client.get("/api/v1/agent/status").json()["state"] == "paused"
        assert client.post("/api/v1/agent/resume").json()["state"] == "running"
        wait_for(lambda: len(client.get("/api/v1/signals").json()) > decided,
                 what="decisions after the resume")

        # hot swap: register, re-parameterize, unregister; the set is persisted
        added = client.post("/api/v1/strategies", json={
            "strategy": "momentum", "symbol": "BTC/USDT",
            "params": {"lookback": 6, "threshold": 0.0005}})
        assert added.status_code == 201 and added.json()["id"] == "momentum:BTC/USDT"
        swapped = client.patch("/api/v1/strategies/sma_cross:BTC/USDT",
                               json={"params": {"fast": 4}})
        assert swapped.status_code == 200 and swapped.json()["params"]["fast"] == 4
        assert client.patch("/api/v1/strategies/sma_cross:BTC/USDT",
                            json={"params": {"fast": 0}}).status_code == 422
        saved = json.loads((tmp_path / "state" / "agent" / "strategies.json").read_text())
        assert {(s["id"], s["params"].get("fast")) for s in saved["strategies"]} == {
            ("sma_cross:BTC/USDT", 4), ("momentum:BTC/USDT", None)}
        wait_for(lambda: any(s["strategy_id"] == "momentum:BTC/USDT"
                             for s in client.get("/api/v1/signals").json()),
                 what="the registered strategy's first order")
        assert client.delete("/api/v1/strategies/momentum:BTC/USDT").status_code == 200
        active = {s["id"]: s["active"] for s in client.get("/api/v1/strategies").json()}
        assert active == {"sma_cross:BTC/USDT": True, "momentum:BTC/USDT": False}
        assert client.delete("/api/v1/strategies/momentum:BTC/USDT").status_code == 404

        # the books read
        assert "working" in client.get("/api/v1/orders").json()
        assert client.get("/api/v1/performance").json()["equity"] > 0
        assert client.get("/api/v1/risk/status").json()["state"] == "ACTIVE"

        # emergency stop: halted, flat, ended
        final = client.post("/api/v1/agent/emergency-stop", json={"reason": "test drill"})
        assert final.status_code == 200, final.text
        assert final.json()["state"] == "emergency_stopped"
        risk = client.get("/api/v1/risk/status").json()
        assert risk["kill_switch"] is True and risk["state"] == "HALTED"
        assert all(abs(p["qty"]) < 1e-9 for p in client.get("/api/v1/positions").json())
        assert client.post("/api/v1/agent/pause").status_code == 409
        # the session's log: started, the kill switch with its reason, finished
        lines = [r.getMessage() for r in caplog.records if r.name == "raytrader.paper"]
        assert any("session started" in line for line in lines)
        assert any("risk kill_switch" in line and "test drill" in line for line in lines)
        assert any("session finished" in line for line in lines)

        # the kill switch raised a critical alert: listed, sent to the webhook, acknowledged
        alerts = wait_for(lambda: [a for a in client.get("/api/v1/alerts").json()
                                   if a["kind"] == "kill_switch"], what="the alert")
        assert alerts[0]["severity"] == "critical" and "test drill" in alerts[0]["message"]
        wait_for(lambda: any(h["alert"]["kind"] == "kill_switch" for h in hooked),
                 what="the webhook delivery")
        assert any("kill switch" in h["text"] for h in hooked)
        acked = client.post(f"/api/v1/alerts/{alerts[0]['id']}/ack").json()
        assert acked["acknowledged"] is True
        assert all(a["id"] != alerts[0]["id"] for a in
                   client.get("/api/v1/alerts", params={"unacknowledged": True}).json())


def test_a_resumed_agent_comes_back_with_its_swapped_strategies(tmp_path: Path) -> None:
    with running_fake_binance() as exchange, \
            pushing_market(exchange, price=wave, every=0.01, delay=0.3, book=False), \
            running_api(tmp_path) as api, api.client(TOKEN) as client:
        client.post("/api/v1/agent/start", json=start_body(exchange)).raise_for_status()
        wait_for(lambda: client.get("/api/v1/agent/status").json()["state"] == "running",
                 what="a running agent")
        client.patch("/api/v1/strategies/sma_cross:BTC/USDT",
                     json={"params": {"fast": 5, "slow": 13}}).raise_for_status()
        client.post("/api/v1/strategies", json={
            "strategy": "rsi_bounds", "symbol": "BTC/USDT"}).raise_for_status()
        assert client.post("/api/v1/agent/stop").json()["state"] == "stopped"
        # the same start asked to resume: the saved set, not the config's, trades
        resumed = client.post("/api/v1/agent/start", json={**start_body(exchange),
                                                           "resume": True})
        assert resumed.status_code == 202, resumed.text
        status = wait_for(lambda: (s := client.get("/api/v1/agent/status").json())
                          ["state"] == "running" and s, what="the resumed agent")
        assert sorted(status["strategies"]) == ["rsi_bounds:BTC/USDT", "sma_cross:BTC/USDT"]
        params = {s["id"]: s["params"] for s in client.get("/api/v1/strategies").json()}
        assert (params["sma_cross:BTC/USDT"]["fast"], params["sma_cross:BTC/USDT"]["slow"]) \
            == (5, 13)
        assert client.post("/api/v1/agent/stop").json()["state"] == "stopped"


def test_prometheus_scrapes_the_agent_and_fires_the_kill_switch_alert(tmp_path: Path) -> None:
    """The deploy/ alert rules, evaluated by a real Prometheus over the API's metrics."""
    from engine.obs.exporter import write_targets

    rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
    with running_fake_binance() as exchange, \
            pushing_market(exchange, price=wave, every=0.01, delay=0.3, book=False), \
            running_api(tmp_path) as api, api.client(TOKEN) as client:
        sd = tmp_path / "sd"
        write_targets(sd / "api.json", [{"address": api.url.removeprefix("http://"),
                                         "actor": "api", "role": "api", "kind": "api"}])
        client.post("/api/v1/agent/start", json=start_body(exchange)).raise_for_status()
        wait_for(lambda: client.get("/api/v1/agent/status").json()["state"] == "running",
                 what="a running agent")
        with running_prometheus(tmp_path, sd, rules) as prom:
            wait_for(lambda: query(prom, 'raytrader_equity{actor="paper:binance"} > 0'),
                     what="the agent's equity in Prometheus")
            assert query(prom, 'raytrader_daily_loss_limit_ratio{actor="paper:binance"}')
            assert not query(prom, 'ALERTS{alertname="RaytraderKillSwitch"}')
            answer = client.post("/api/v1/risk/kill-switch", json={"reason": "drill"})
            assert answer.status_code == 200 and answer.json()["kill_switch"] is True
            [alert] = wait_for(lambda: query(
                prom, 'ALERTS{alertname="RaytraderKillSwitch",alertstate="firing"}'),
                what="the kill-switch alert firing")
            assert alert["metric"]["actor"] == "paper:binance"
            assert alert["metric"]["severity"] == "critical"
        client.post("/api/v1/agent/stop").raise_for_status()
