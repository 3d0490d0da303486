"""Unit tests never start Ray: the actor cores are tested over real ZeroMQ sockets in threads,
and the actor graph itself in tests/integration.

The guard below makes any ``ray.init`` (also the one Ray runs on its own before the first
``.remote()`` or ``ray.put``) and any actor or task launch inside a unit test raise
:class:`RayInUnitTest`, and fails the test at teardown even when the test swallowed that
error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import ray
import ray.actor
import ray.remote_function

MESSAGE = "unit tests never start Ray: test the core without its actor, or move the test to " \
          "tests/integration"


class RayInUnitTest(RuntimeError):
    """A unit test tried to start Ray or launch an actor or task."""


class RayGuard:
    """Records every attempt to use Ray in the current test."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append(what)
            raise RayInUnitTest(f"{what}: {MESSAGE}")
        return refused


@pytest.fixture(autouse=True)
def no_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[RayGuard]:
    """Refuse Ray in every unit test (see the module docs)."""
    guard = RayGuard()
    # Ray's own auto-init calls ray.init through the module, so this catches it too
    monkeypatch.setattr(ray, "init", guard.refuse("ray.init"))
    # an already initialized Ray (say, left by an earlier test) would not pass through init
    monkeypatch.setattr(ray.actor.ActorClass, "_remote", guard.refuse("creating a Ray actor"))
    monkeypatch.setattr(ray.remote_function.RemoteFunction, "_remote",
                        guard.refuse("launching a Ray task"))
    yield guard
    if guard.attempts:
        pytest.fail(f"{', '.join(guard.attempts)}: {MESSAGE}", pytrace=False)
