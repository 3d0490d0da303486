"""Golden backtests: whole runs must reproduce their pinned trade counts and balances exactly,
and reruns (in fresh processes with different hash seeds) must write byte-identical
result.json files apart from the timing section."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.acceptance.golden_cases import (CASES, GOLDEN_DIR, REAL, REAL_DATA_CASES, run_case,
                                          summarize)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_backtest_reproduces_exactly(name: str) -> None:
    if name in REAL_DATA_CASES and not REAL.exists():
        pytest.skip(f"real data not found at {REAL} (../shared/data/real is absent)")
    expected = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
    actual = json.loads(json.dumps(summarize(run_case(name)), sort_keys=True))
    assert actual == expected, (
        f"golden backtest {name} changed; if that is intended, run "
        f"tests/acceptance/regenerate_golden.py and explain why in the commit")
    assert expected["n_trades"] > 0


def _strip_timing(text: str) -> str:
    stripped, count = re.subn(r'"timing": \{[^}]*\}', '"timing": {}', text)
    assert count == 1
    return stripped


@pytest.mark.slow
def test_rerun_gives_byte_identical_result_json(tmp_path: Path) -> None:
    outputs = []
    for run, hash_seed in enumerate(("1", "12345")):
        out = tmp_path / f"run{run}"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run(
            [sys.executable, "-m", "engine.cli", "backtest", "--strategy", "momentum",
             "--symbols", "BTC/USDT,SOL/USDT", "--timeframe", "30m", "--start", "2024-01-01",
             "--end", "2024-03-01", "--param", "allow_short=true", "--slippage-model", "sqrt",
             "--latency-ms", "500", "--output", str(out), "--quiet"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append((out / "result.json").read_bytes().decode())
    a, b = outputs
    assert a != "" and json.loads(a)["metrics"]["n_trades"] > 0
    assert _strip_timing(a) == _strip_timing(b)
    assert (tmp_path / "run0" / "trades.csv").read_bytes() == \
        (tmp_path / "run1" / "trades.csv").read_bytes()
