"""A two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``, one CPU a node), with
this process connected to it, for the tests that must cross nodes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray
from ray.cluster_utils import Cluster


@contextmanager
def two_node_cluster() -> Iterator[Any]:
    """Start the cluster, connect, yield it; disconnect and stop it afterwards."""
    if ray.is_initialized():
        ray.shutdown()
    # nodes start as subprocesses: let their workers import what this process can
    os.environ["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([os.getcwd(), *[p for p in sys.path if p and os.path.isdir(p)]]))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
