"""The unit-test guard against Ray (tests/unit/conftest.py): starting Ray, creating an actor
(ours or any other), launching a task or putting an object fails loudly, Ray stays down, and a
test that swallows the refusal still fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import ray

from actors.feed.actor import FeedActor
from tests.unit.conftest import RayGuard, RayInUnitTest

ROOT = Path(__file__).resolve().parents[2]


def refused(guard: RayGuard, *attempts: str) -> None:
    """The guard saw exactly these attempts (each was the point of its test: forget them)."""
    assert guard.attempts == list(attempts)
    assert not ray.is_initialized()
    guard.attempts.clear()


def test_ray_init_is_refused(no_ray: RayGuard) -> None:
    with pytest.raises(RayInUnitTest, match="unit tests never start Ray"):
        ray.init(num_cpus=1)
    refused(no_ray, "ray.init")


def test_creating_an_actor_is_refused(no_ray: RayGuard) -> None:
    @ray.remote
    class Echo:
        def echo(self, x: int) -> int:
            return x

    with pytest.raises(RayInUnitTest, match="creating a Ray actor: unit tests never start Ray"):
        Echo.remote()
    with pytest.raises(RayInUnitTest, match="creating a Ray actor"):
        FeedActor.options(name="feed").remote("SIM", 100)
    refused(no_ray, "creating a Ray actor", "creating a Ray actor")


def test_a_task_or_a_put_is_refused(no_ray: RayGuard) -> None:
    @ray.remote
    def double(x: int) -> int:
        return 2 * x

    with pytest.raises(RayInUnitTest, match="launching a Ray task"):
        double.remote(1)
    with pytest.raises(RayInUnitTest, match=r"ray\.init"):   # Ray's auto-init before a put
        ray.put(1)
    refused(no_ray, "launching a Ray task", "ray.init")


def test_a_swallowed_refusal_still_fails_the_test(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.unit.conftest import no_ray  # noqa: F401\n")
    (tmp_path / "test_sneaky.py").write_text(textwrap.dedent("""
        import ray

        def test_swallows_the_refusal():
            try:
                ray.init(num_cpus=1)
            except Exception:
                pass

        def test_innocent():
            assert 1 + 1 == 2
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    # the swallowing test's body passes; its teardown fails it
    assert "2 passed, 1 error" in run.stdout, run.stdout
    assert "ERROR at teardown of test_swallows_the_refusal" in run.stdout
    assert "ray.init: unit tests never start Ray" in run.stdout
