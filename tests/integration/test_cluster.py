"""The actor graph across two Ray nodes (``ray.cluster_utils.Cluster`` on this machine, one CPU
each): actors land on both nodes, talk over ZeroMQ through the endpoints they publish, and the
result equals the single-process run; research jobs on worker actors spread over both nodes give
the tables they give in one process (test_research_ray.py has them on a local Ray). The tests
share one cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from actors.graph import GraphRun  # noqa: E402
from actors.research import RayEvaluator  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.research.evaluate import job_frames  # noqa: E402
from engine.run import run_config  # noqa: E402
from tests.kit.cluster import two_node_cluster  # noqa: E402
from tests.kit.research_jobs import CONFIG, job_tables, local_tables  # noqa: E402

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


def test_a_two_node_cluster_gives_the_same_research_tables(two_nodes: Any,
                                                            tmp_path: Path) -> None:
    # a grid sweep, a Bayesian search and a walk-forward: byte-identical ranked tables
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    probe = RayEvaluator(CONFIG, job_frames(CONFIG), 2, spread=True)
    nodes = set(ray.get([w.node_id.remote() for w in probe.workers]))
    probe.close()
    assert len(nodes) == 2
    tables = job_tables(tmp_path, {
        "cluster": lambda frames: RayEvaluator(CONFIG, frames, 2, spread=True)})
    for job, by_path in tables.items():
        assert by_path["cluster"] == local_tables()[job], job
