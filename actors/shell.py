"""What every graph actor's Ray shell does alike: stop its core on request and say where it
runs. Each role's ``actor.py`` subclasses :class:`CoreShell` and adds only its own calls."""

from __future__ import annotations

import os
from typing import Any

import ray


class CoreShell:
    """Base of the actor shells: ``self.core`` is the role's Ray-free core."""

    core: Any

    def stop(self) -> None:
        """Ask the core to stop its run (it returns soon after, from another thread)."""
        self.core.stop()

    def where(self) -> dict[str, Any]:
        """The process and node this actor runs in."""
        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}
