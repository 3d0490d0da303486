"""``raytrader serve`` as a real process: it refuses a host beyond loopback without a token,
serves on 127.0.0.1, logs JSON lines without the token, and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "serve-cli-token-0123456789"


def env(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAYTRADER_API_TOKEN"}
    return {**environ, "PYTHONPATH": str(ROOT), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--host", "0.0.0.0"],
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refuses to listen beyond 127.0.0.1 without a token" in done.stderr
    short = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--host", "0.0.0.0"],
                           cwd=tmp_path, env=env(RAYTRADER_API_TOKEN="short"),
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "too short" in short.stderr


def test_serve_runs_on_loopback_logs_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "serve.log", "w")   # noqa: SIM115 - the process writes it
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port),
                             "--log-format", "json"], cwd=tmp_path,
                            env=env(RAYTRADER_API_TOKEN=TOKEN), stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health",
                                            timeout=2) as answer:
                    health = json.loads(answer.read())
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.1)
        assert health["status"] == "ok" and health["token_configured"] is True
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/agent/pause",
                                         method="POST",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            urllib.request.urlopen(request, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 409   # authorized, but no session runs
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal (as process managers expect)
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    text = (tmp_path / "serve.log").read_text()
    assert TOKEN not in text
    events = [json.loads(line)["event"] for line in text.splitlines()
              if line.startswith("{")]
    assert "api started" in events and "api stopped" in events
