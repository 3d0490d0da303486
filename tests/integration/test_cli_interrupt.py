"""Ctrl-C while the actor graph starts: the command line shuts down the Ray it started, and no
process of that Ray session is left behind (Ray's DashboardAgent and RuntimeEnvAgent used to
stay up for about 100 s, retrying a GCS the same Ctrl-C had killed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ARGS = ["backtest", "--workers", "1", "--start", "2024-01-01", "--end", "2024-03-01", "--quiet"]
AGENTS = (b"ray::DashboardAgent", b"ray::RuntimeEnvAgent", b"dashboard/agent.py",
          b"runtime_env/agent/main.py")


def session_processes(ray_tmp: Path) -> dict[int, bytes]:
    """Pid -> command line of every process of the Ray session under ``ray_tmp`` (they all
    carry ``RAY_TMPDIR`` in their environment), the command line itself excluded."""
    needle = f"RAY_TMPDIR={ray_tmp}".encode()
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ")
            with open(f"/proc/{name}/stat", "rb") as fh:
                zombie = fh.read().rpartition(b")")[2].split()[0] == b"Z"
        except OSError:
            continue
        if needle in environ and not zombie and b"engine.cli" not in cmdline:
            found[int(name)] = cmdline
    return found


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_ctrl_c_during_start_up_leaves_no_ray_process() -> None:
    # a short folder: Ray's socket paths under it must fit in 107 bytes
    ray_tmp = Path(tempfile.mkdtemp(prefix="rtint", dir="/tmp"))
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *ARGS], env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # the moment a Ctrl-C used to leave processes behind: Ray's agents are starting
        started = wait_for(lambda: proc.poll() is not None or any(
            agent in cmd for cmd in session_processes(ray_tmp).values() for agent in AGENTS),
            timeout_s=300)
        assert started and proc.poll() is None, "the run ended before its start-up was seen"
        os.killpg(proc.pid, signal.SIGINT)      # as a terminal does: the whole process group
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert err.strip().endswith("interrupted")
        assert wait_for(lambda: not session_processes(ray_tmp), timeout_s=30), \
            session_processes(ray_tmp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in session_processes(ray_tmp):      # only what this test started
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)


GUARDED = """
import sys, time
from actors.ray_session import exit_within_after_interrupt
stuck = sys.argv[1] == "stuck"
try:
    with exit_within_after_interrupt(1.0):
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            if stuck:
                time.sleep(60)   # a clean-up that waits on something that never answers
except KeyboardInterrupt:
    time.sleep(2)                # past the deadline, but the guarded block had ended
    print("cleaned up", flush=True)
"""


@pytest.mark.parametrize("stuck", [True, False])
def test_a_ctrl_c_ends_the_process_within_the_deadline(stuck: bool) -> None:
    """The command line's guard (``exit_within_after_interrupt``): a clean-up stuck after
    Ctrl-C is cut at the deadline (exit 130, ``interrupted``); one that finishes in time ends
    the watch, and the process goes on as it likes."""
    proc = subprocess.Popen([sys.executable, "-c", GUARDED, "stuck" if stuck else "quick"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        waited = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if stuck:
        assert (proc.returncode, err.strip()) == (130, "interrupted")
        assert waited < 20            # not the minute the clean-up would have taken
    else:
        assert (proc.returncode, out.strip()) == (0, "cleaned up"), err
