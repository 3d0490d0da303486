"""The actor graph across two Ray nodes (``ray.cluster_utils.Cluster`` on this machine, one CPU
each): actors land on both nodes, talk over ZeroMQ through the endpoints they publish, and the
result equals the single-process run."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from actors.graph import GraphRun  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.run import run_config  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes() -> Any:
    if ray.is_initialized():
        ray.shutdown()
    # nodes start as subprocesses: let their workers import what this process can
    os.environ["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([os.getcwd(), *[p for p in sys.path if p and os.path.isdir(p)]]))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


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
