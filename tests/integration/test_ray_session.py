"""A local Ray started from a thread that ends before the process (a server's job pool)
outlives that thread: Ray starts its GCS and raylet with PR_SET_PDEATHSIG, which kills them
when the thread that started them ends, so ``start_local_ray`` starts them from a thread of
its own that lives until ``stop_local_ray``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCRIPT = """
import threading, time
import ray
from actors.ray_session import _marked_processes, _local, start_local_ray, stop_local_ray

def start():
    start_local_ray(address="local", num_cpus=1, include_dashboard=False,
                    log_to_driver=False, configure_logging=False)

starter = threading.Thread(target=start)
starter.start()
starter.join()
marker = _local[0]
time.sleep(1.0)   # what the thread's end would kill is dead by now

@ray.remote
def double(x):
    return 2 * x

print("answer", ray.get(double.remote(21), timeout=30))
print("running", len(_marked_processes(marker)) > 0)
stop_local_ray()
print("left", len(_marked_processes(marker)))
"""


def test_ray_started_from_a_thread_that_ended_still_answers(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["answer", "42", "running", "True", "left", "0"], \
        done.stdout + done.stderr[-3000:]


RESTART = """
import threading
import ray
from actors.ray_session import start_local_ray, stop_local_ray

def start():
    start_local_ray(address="local", num_cpus=1, include_dashboard=False,
                    log_to_driver=False, configure_logging=False)

for _ in range(2):   # the first ends with a bare ray.shutdown(), as a script may end it
    starter = threading.Thread(target=start)
    starter.start()
    starter.join()
    print("answer", ray.get(ray.put(7), timeout=30))
    ray.shutdown()
stop_local_ray()
hosts = [t for t in threading.enumerate() if t.name == "ray-host"]
print("hosts", len(hosts))
"""


def test_a_second_ray_after_a_bare_shutdown_leaves_no_host_thread_behind(
        tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", RESTART], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["answer", "7", "answer", "7", "hosts", "0"], \
        done.stdout + done.stderr[-3000:]
