"""Backtests through the API on the Ray actor graph (``?workers=N``): the same result as the
API's in-process run of the same config, and a cancel stops every actor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from actors.ray_session import stop_local_ray  # noqa: E402
from tests.kit.api import TOKEN, running_api, wait_for  # noqa: E402

pytestmark = pytest.mark.slow
CONFIG = {"strategy": "sma_cross", "params": {"fast": 20, "slow": 80},
          "data": "synthetic:trades", "symbols": ["BTC/USDT", "ETH/USDT"],
          "start": "2024-01-01", "end": "2024-01-03", "max_open_positions": 1}


@pytest.fixture(scope="module", autouse=True)
def own_ray() -> Iterator[None]:
    """The API starts a local Ray for its first graph run; it goes at the end."""
    yield
    stop_local_ray()
    ray.shutdown()


def finished(client, job_id: str) -> dict:
    return wait_for(lambda: (j := client.get(f"/api/v1/backtest/{job_id}").json())
                    ["status"] in ("done", "failed", "canceled") and j, timeout=180,
                    what=f"backtest {job_id}")


def test_an_api_backtest_on_the_graph_equals_the_in_process_one(tmp_path: Path) -> None:
    with running_api(tmp_path) as api, api.client(TOKEN) as client:
        on_graph = client.post("/api/v1/backtest/run", params={"workers": 2}, json=CONFIG)
        assert on_graph.status_code == 202 and on_graph.json()["workers"] == 2
        graph = finished(client, on_graph.json()["id"])
        assert graph["status"] == "done", graph["error"]
        local = finished(client, client.post("/api/v1/backtest/run", json=CONFIG).json()["id"])
        assert local["status"] == "done"
        for key in ("events", "n_fills", "n_trades", "final_equity", "n_denied"):
            assert graph["metrics"][key] == local["metrics"][key], key
        assert graph["metrics"]["n_denied"] > 0
        # a long one on the graph, canceled
        long = client.post("/api/v1/backtest/run", params={"workers": 2},
                           json={**CONFIG, "end": "2024-12-31"}).json()
        wait_for(lambda: client.get(f"/api/v1/backtest/{long['id']}").json()["progress"]
                 ["done"] > 0, timeout=120, what="the long run's progress")
        assert client.post(f"/api/v1/backtest/{long['id']}/cancel").status_code == 200
        assert finished(client, long["id"])["status"] == "canceled"
        # its actors are gone
        wait_for(lambda: not [a for a in ray.util.list_named_actors(all_namespaces=True)
                              if a["name"].startswith(("worker:", "feed:", "execution:"))],
                 timeout=30, what="the canceled run's actors to end")
        assert client.post("/api/v1/backtest/run", params={"workers": -1},
                           json=CONFIG).status_code == 422
