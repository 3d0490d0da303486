"""The risk actor: the Ray shell of ``RiskCore``."""

from __future__ import annotations

import ray

from actors.shell import CoreShell
from actors.risk.core import AuditReport, RiskCore, RiskSetup
from engine.jit import start_numba
from engine.obs.metrics import STATE_CODES, Samples
from engine.risk import PORTFOLIO, STATES


# ray's stubs type the keyword form of ray.remote for tasks only (no max_concurrency)
@ray.remote(num_cpus=0, max_concurrency=2)  # type: ignore[call-overload]
class RiskActor(CoreShell):
    role = "risk"

    def __init__(self, setup: RiskSetup) -> None:
        start_numba()   # while the data loads, not at the first batch
        self.reset(setup)
        self.observe()

    def reset(self, setup: RiskSetup) -> None:
        """A fresh core for the next run (a warm graph reuses its actors' processes)."""
        self.core = RiskCore(setup, ray.util.get_node_ip_address())

    def endpoint(self) -> str:
        return self.core.endpoint

    def serve(self) -> AuditReport:
        try:
            report = self.core.serve()
            self.log.info("risk audit finished", checks=self.core.checks,
                          mismatches=self.core.mismatches)
            return report
        finally:
            self.core.close()

    def samples(self, samples: Samples) -> None:
        core, actor = self.core, self.actor
        samples.add("raytrader_risk_checks_total", core.checks, actor=actor)
        samples.add("raytrader_risk_mismatches_total", core.mismatches, actor=actor)
        risk = core.engine
        for reason, n in dict(risk.denials).items():
            samples.add("raytrader_order_denials_total", n, actor=actor, reason=reason)
        for reason, n in dict(risk.trips).items():
            samples.add("raytrader_breaker_trips_total", n, actor=actor, reason=reason)
        samples.add("raytrader_risk_state", STATE_CODES[STATES[risk.state(PORTFOLIO)]],
                    actor=actor, scope="portfolio")
        samples.add("raytrader_kill_switch", 1.0 if risk.trips.get("kill_switch") else 0.0,
                    actor=actor)
