"""The API's catalog routes on a real uvicorn server: a CSV uploaded into the catalog is
listed, served as history and backtested on; a malformed file is refused naming the line,
storing nothing."""

from __future__ import annotations

import math
from pathlib import Path

from tests.kit.api import TOKEN, running_api, wait_for


def candles_csv(n: int = 600) -> str:
    rows = ["timestamp,open,high,low,close,volume"]
    for k in range(n):
        close = 2000 + 60 * math.sin(k / 12) + k * 0.1
        hour = f"2024-01-{1 + k // 24:02d} {k % 24:02d}:00:00"
        rows.append(f"{hour},{close - 1:.2f},{close + 5:.2f},{close - 6:.2f},{close:.2f},"
                    f"{100 + k % 13}")
    return "\n".join(rows) + "\n"


def test_a_csv_uploaded_into_the_catalog_is_listed_served_and_backtested(
        tmp_path: Path) -> None:
    with running_api(tmp_path) as api, api.client(TOKEN) as client, api.client() as anonymous:
        files = {"file": ("eth-1h.csv", candles_csv().encode(), "text/csv")}
        assert anonymous.post("/api/v1/data/upload", files=files,
                              data={"symbol": "ETH/USDT"}).status_code == 401
        assert client.get("/api/v1/data/symbols").json() == []
        stored = client.post("/api/v1/data/upload", files=files, data={"symbol": "ETH/USDT"})
        assert stored.status_code == 201, stored.text
        [series] = stored.json()["stored"]
        assert series["symbol"] == "ETH/USDT" and series["rows"] == 600
        assert series["kind"] == "bar" and series["timeframe"] == "1h"
        assert str(tmp_path) not in stored.text   # no server paths in answers

        [listed] = client.get("/api/v1/data/symbols").json()
        assert listed["symbol"] == "ETH/USDT" and listed["rows"] == 600
        history = client.get("/api/v1/data/history", params={
            "symbol": "ETH/USDT", "kind": "bar", "timeframe": "1h", "limit": 10}).json()
        assert history["total"] == 600 and len(history["rows"]) == 10
        assert history["columns"][:5] == ["ts", "open", "high", "low", "close"]
        missing = client.get("/api/v1/data/history", params={"symbol": "SOL/USDT",
                                                              "timeframe": "1h"})
        assert missing.status_code == 404 and "ETH/USDT" in missing.json()["detail"]
        vague = client.get("/api/v1/data/history", params={"symbol": "ETH/USDT"})
        assert vague.status_code == 422 and "timeframe" in vague.json()["detail"]

        job = client.post("/api/v1/backtest/run", json={
            "data": "catalog", "symbols": ["ETH/USDT"], "timeframe": "1h",
            "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}}).json()
        done = wait_for(lambda: (j := client.get(f"/api/v1/backtest/{job['id']}").json())
                        ["status"] in ("done", "failed") and j, what="the catalog backtest")
        assert done["status"] == "done", done["error"]
        assert done["metrics"]["events"] == 600 and done["metrics"]["n_trades"] > 0

        # a malformed row: refused with its line, nothing more stored
        bad = candles_csv(5).replace("2024-01-01 03:00:00,", "2024-01-01 03:00:00,abc", 1)
        refused = client.post("/api/v1/data/upload", data={"symbol": "BNB/USDT"},
                              files={"file": ("bnb.csv", bad.encode(), "text/csv")})
        assert refused.status_code == 422 and "line" in refused.json()["detail"]
        assert [s["symbol"] for s in client.get("/api/v1/data/symbols").json()] == ["ETH/USDT"]
