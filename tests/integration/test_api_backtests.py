"""The control API on a real uvicorn server: a backtest started, watched over the websocket
to completion and fetched; a long one canceled; calls without a token, with a wrong one or
with a malformed body refused with nothing changed; the OpenAPI docs and /metrics served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kit.api import TOKEN, running_api, wait_for, watch_websocket

QUICK = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "symbols": ["BTC/USDT"],
         "timeframe": "1h", "start": "2024-01-01", "end": "2024-04-01", "fee_bps": 10,
         "seed": 3}


def test_a_backtest_is_started_watched_over_the_websocket_and_fetched(tmp_path: Path) -> None:
    with running_api(tmp_path) as api, api.client(TOKEN) as client:
        started: dict[str, Any] = {}

        def start() -> None:
            answer = client.post("/api/v1/backtest/run", json=QUICK)
            assert answer.status_code == 202, answer.text
            started.update(answer.json())

        messages = watch_websocket(
            api.ws_url, ["backtests"], on_subscribed=start,
            until=lambda m: m["channel"] == "backtests" and m["data"]["id"] == started.get("id")
            and m["data"]["status"] in ("done", "failed", "canceled"))
        job_id = started["id"]
        statuses = [m["data"]["status"] for m in messages if m["channel"] == "backtests"]
        assert statuses[0] in ("queued", "running") and statuses[-1] == "done"
        assert "running" in statuses

        job = client.get(f"/api/v1/backtest/{job_id}").json()
        assert job["status"] == "done" and job["error"] is None
        # the API ran the very backtest a config file with these fields runs
        import engine

        direct = engine.backtest("sma_cross", {"fast": 5, "slow": 20}, symbols=["BTC/USDT"],
                                 timeframe="1h", start="2024-01-01", end="2024-04-01",
                                 fee_bps=10, seed=3)
        assert job["metrics"]["n_trades"] == len(direct.trades) > 0
        assert job["metrics"]["final_equity"] == pytest.approx(direct.metrics["final_equity"])
        assert job["progress"]["done"] == job["progress"]["total"] == direct.metrics["events"]

        trades = client.get(f"/api/v1/backtest/{job_id}/trades", params={"limit": 5}).json()
        assert trades["total"] == len(direct.trades) and len(trades["trades"]) == 5
        assert trades["trades"][0]["symbol"] == "BTC/USDT"
        assert (Path(job["output"]) / "result.json").is_file()

        # the process's metrics show the run
        metrics = client.get("/metrics").text
        assert 'raytrader_runs_total{kind="backtest",outcome="done"} 1.0' in metrics
        assert f'raytrader_equity{{actor="backtest:{job_id}"}}' in metrics
        assert 'raytrader_api_requests_total{method="POST",route="/api/v1/backtest/run",' \
               'status="202"} 1.0' in metrics


def test_a_long_backtest_is_canceled(tmp_path: Path) -> None:
    long = {"strategy": "sma_cross", "data": "synthetic:trades",
            "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]}
    with running_api(tmp_path) as api, api.client(TOKEN) as client:
        job = client.post("/api/v1/backtest/run", json=long).json()
        wait_for(lambda: client.get(f"/api/v1/backtest/{job['id']}").json()["progress"]["done"]
                 > 0, what="the backtest's first progress")
        answer = client.post(f"/api/v1/backtest/{job['id']}/cancel")
        assert answer.status_code == 200
        final = wait_for(lambda: (j := client.get(f"/api/v1/backtest/{job['id']}").json())
                         ["status"] in ("canceled", "done", "failed") and j,
                         what="the cancel")
        assert final["status"] == "canceled"
        assert final["progress"]["done"] < final["progress"]["total"]
        # a finished job cannot be canceled again; its trades do not exist
        assert client.post(f"/api/v1/backtest/{job['id']}/cancel").status_code == 409
        assert client.get(f"/api/v1/backtest/{job['id']}/trades").status_code == 409


def test_unauthorized_and_malformed_calls_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with running_api(tmp_path) as api, api.client() as anonymous, \
            api.client("wrong-token-0123456789") as wrong, api.client(TOKEN) as client:
        answer = anonymous.post("/api/v1/backtest/run", json=QUICK)
        assert answer.status_code == 401 and "Bearer" in answer.json()["detail"]
        assert answer.headers["www-authenticate"] == "Bearer"
        assert wrong.post("/api/v1/backtest/run", json=QUICK).status_code == 403
        basic = anonymous.post("/api/v1/backtest/run", json=QUICK,
                               headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401
        # malformed: an unknown key, a bad value, not JSON, data from a server file
        unknown = client.post("/api/v1/backtest/run", json={**QUICK, "fast_ma": 3})
        assert unknown.status_code == 422 and "fast_ma" in unknown.json()["detail"]
        bad = client.post("/api/v1/backtest/run", json={**QUICK, "params": {"fast": -1}})
        assert bad.status_code == 422 and "fast" in bad.json()["detail"]
        junk = client.post("/api/v1/backtest/run", content=b"{not json",
                           headers={"Content-Type": "application/json"})
        assert junk.status_code == 422
        server_file = client.post("/api/v1/backtest/run", json={**QUICK, "data": "/etc/passwd"})
        assert server_file.status_code == 422 and "upload" in server_file.json()["detail"]
        rule = client.post("/api/v1/alerts/rules", json={"kind": "price_move"})
        assert rule.status_code == 422 and "pct" in rule.json()["detail"]
        extra = client.post("/api/v1/alerts/rules", json={"kind": "kill_switch", "x": 1})
        assert extra.status_code == 422 and "x" in extra.json()["detail"]
        # nothing was started, no rule added
        assert client.get("/api/v1/backtests").json() == []
        assert len(client.get("/api/v1/alerts/rules").json()) == 5
        # the agent: not running, so a pause is a conflict, and unauthorized ones never land
        assert anonymous.post("/api/v1/agent/pause").status_code == 401
        assert client.post("/api/v1/agent/pause").status_code == 409
        assert client.get("/api/v1/agent/status").json()["state"] == "idle"
        # the token never comes back in an answer or an error
        for text in (answer.text, unknown.text, client.get("/api/v1/health").text,
                     client.get("/metrics").text):
            assert TOKEN not in text


def test_a_server_without_token_serves_reads_and_refuses_state_changes(tmp_path: Path) -> None:
    with running_api(tmp_path, token=None) as api, api.client() as client:
        assert client.get("/api/v1/health").json()["token_configured"] is False
        refused = client.post("/api/v1/backtest/run", json=QUICK)
        assert refused.status_code == 403 and "RAYTRADER_API_TOKEN" in refused.json()["detail"]
        docs = client.get("/openapi.json").json()
        paths = set(docs["paths"])
        for route in ("/api/v1/health", "/api/v1/backtest/run", "/api/v1/backtest/{job_id}",
                      "/api/v1/backtest/{job_id}/trades", "/api/v1/backtest/{job_id}/cancel",
                      "/api/v1/agent/status", "/api/v1/agent/start", "/api/v1/agent/pause",
                      "/api/v1/agent/resume", "/api/v1/agent/stop",
                      "/api/v1/agent/emergency-stop", "/api/v1/orders", "/api/v1/positions",
                      "/api/v1/risk/status", "/api/v1/risk/kill-switch", "/api/v1/signals",
                      "/api/v1/performance", "/api/v1/alerts", "/api/v1/data/symbols",
                      "/api/v1/data/history", "/api/v1/data/upload"):
            assert route in paths, route
        assert client.get("/docs").status_code == 200
        # Prometheus HTTP service discovery: this server (no cluster attached)
        [group] = client.get("/api/v1/metrics/targets").json()
        assert group == {"targets": [api.url.removeprefix("http://")],
                         "labels": {"actor": "api", "kind": "api"}}


def test_the_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with running_api(tmp_path, rate=1.0, burst=5.0) as api, api.client() as client:
        codes = [client.get("/api/v1/health").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        limited = client.get("/api/v1/health")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_a_server_protecting_reads_wants_the_token_for_them_too(tmp_path: Path) -> None:
    import asyncio

    import websockets

    with running_api(tmp_path, protect_reads=True) as api, api.client() as anonymous, \
            api.client(TOKEN) as client:
        assert anonymous.get("/api/v1/health").status_code == 200
        for path in ("/api/v1/backtests", "/api/v1/agent/status", "/metrics"):
            assert anonymous.get(path).status_code == 401, path
            assert client.get(path).status_code == 200, path

        async def connect(url: str) -> str:
            async with websockets.connect(url) as ws:
                return str(await ws.recv())

        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(connect(api.ws_url))
        assert "hub" in asyncio.run(connect(f"{api.ws_url}?token={TOKEN}"))
