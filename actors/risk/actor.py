"""The risk actor: the Ray shell of ``RiskCore``."""

from __future__ import annotations

import ray

from actors.shell import CoreShell
from actors.risk.core import AuditReport, RiskCore, RiskSetup
from engine.jit import start_numba


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class RiskActor(CoreShell):
    def __init__(self, setup: RiskSetup) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(setup)

    def reset(self, setup: RiskSetup) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = RiskCore(setup, ray.util.get_node_ip_address())

    def endpoint(self) -> str:
        return self.core.endpoint

    def serve(self) -> AuditReport:
        try:
            return self.core.serve()
        finally:
            self.core.close()
