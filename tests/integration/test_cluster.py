"""The actor graph across two Ray nodes (``ray.cluster_utils.Cluster`` on this machine, one CPU
each): actors land on both nodes, talk over ZeroMQ through the endpoints they publish, and the
result equals the single-process run."""

from __future__ import annotations

from typing import Any

import pytest

ray = pytest.importorskip("ray")

from actors.graph import GraphRun  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.run import run_config  # noqa: E402
from tests.kit.cluster import two_node_cluster  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes() -> Any:
    with two_node_cluster() as cluster:
        yield cluster


def test_graph_spreads_over_two_nodes_and_equals_single_process(two_nodes: Any) -> None:
    config = BacktestConfig.from_dict({
        "data": "synthetic:trades", "symbols": ["BTC/USDT", "ETH/USDT"], "start": "2024-01-01",
        "end": "2024-01-02", "capital": 20_000, "max_open_positions": 2,
        "strategies": [{"strategy": "sma_cross", "params": {"fast": 20, "slow": 100}},
                       {"strategy": "momentum", "params": {"lookback": 50,
                                                           "threshold": 0.002}}]})
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    run = GraphRun(config, workers=2, spread=True)
    result = run.result()
    actors = run.actors()
    run.cancel()
    nodes = {a["node_id"] for a in actors.values()}
    assert len(nodes) == 2, actors
    assert any(n.startswith("worker:") for n in actors)
    reference = run_config(config)
    assert reference.metrics["n_denied"] > 0
    got, want = result.to_dict(), reference.to_dict()
    got.pop("timing"), want.pop("timing")
    assert got == want
