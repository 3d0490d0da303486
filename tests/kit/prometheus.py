"""A real Prometheus server (the ``prometheus`` binary, Debian's package) scraping targets
from a ``file_sd_configs`` folder, started and stopped by a test; tests skip saying so
without the binary."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.skip("the prometheus binary is not installed (Debian: apt-get install "
                    "prometheus)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_prometheus(tmp: Path, sd_dir: Path, rules: Path | None = None) -> Iterator[str]:
    """Prometheus scraping every target listed in ``sd_dir/*.json`` each second (and
    evaluating the alert ``rules`` file, when given); yields its base URL."""
    binary = prometheus_binary()
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + (f"rule_files: ['{rules}']\n" if rules is not None else "")
        + "scrape_configs:\n  - job_name: raytrader\n    honor_labels: true\n"
        "    file_sd_configs:\n"
        f"      - files: ['{sd_dir}/*.json']\n        refresh_interval: 1s\n")
    log = open(tmp / "prometheus.log", "w")   # noqa: SIM115 - the process writes it
    proc = subprocess.Popen([binary, f"--config.file={config}",
                             f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp / 'tsdb'}"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: "
                                   f"{(tmp / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector of a PromQL query."""
    with urllib.request.urlopen(f"{url}/api/v1/query?"
                                f"{urllib.parse.urlencode({'query': promql})}",
                                timeout=5) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])
