"""A local graph run starts Ray's dashboard and prints its address (``--no-dashboard`` and
``RAYTRADER_RAY_DASHBOARD=0`` skip it); the dashboard answers at that address."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

RUN = ["backtest", "--workers", "1", "--data", "synthetic:trades", "--symbols", "BTC/USDT",
       "--start", "2024-01-01", "--end", "2024-01-02", "--quiet"]


def raytrader(args: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAYTRADER_RAY_DASHBOARD"}
    environ.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=tmp, env=environ,
                          capture_output=True, text=True, timeout=300)


def test_a_local_graph_run_prints_its_dashboard(tmp_path: Path) -> None:
    done = raytrader(RUN, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^Ray dashboard: http://[\d.]+:\d+ ", done.stderr, re.MULTILINE), \
        done.stderr[-3000:]
    quiet = raytrader([*RUN, "--no-dashboard"], tmp_path)
    assert quiet.returncode == 0 and "Ray dashboard" not in quiet.stderr


def test_the_dashboard_answers_at_the_printed_address(tmp_path: Path) -> None:
    script = (
        "import urllib.request\n"
        "from actors.graph import dashboard_url, ensure_ray\n"
        "from actors.ray_session import stop_local_ray\n"
        "ensure_ray(num_cpus=1, dashboard=True)\n"
        "try:\n"
        "    with urllib.request.urlopen(dashboard_url(), timeout=30) as answer:\n"
        "        print(answer.status, b'Ray Dashboard' in answer.read())\n"
        "finally:\n"
        "    stop_local_ray()\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["200", "True"]
