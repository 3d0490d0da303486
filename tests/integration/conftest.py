"""One local Ray for consecutive modules whose tests need a local Ray but not a fresh one.

A module asks for it with ``pytest.mark.usefixtures("shared_ray")``. It starts at the first such
test and is stopped (``stop_local_ray``: Ray's shutdown, then any process of it still left)
after the last test of a run of consecutive tests that ask for it, as each module's own Ray
was stopped after that module: the next test that does not ask for it, whatever it does with
Ray, finds none running in this process. A test may shut it down and start another (the
next user gets a running one either way)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

_running: list[bool] = []   # a shared Ray started here is up (until the run of users ends)


@pytest.fixture(scope="module")
def shared_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    from actors.graph import ensure_ray

    if not ray.is_initialized():
        ensure_ray(num_cpus=2)
    _running[:] = [True]
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    result = yield
    if _running and (nextitem is None or "shared_ray" not in nextitem.fixturenames):
        _running.clear()
        import ray

        from actors.ray_session import stop_local_ray

        stop_local_ray()
        ray.shutdown()
    return result
