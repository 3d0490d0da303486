"""The compiled risk engine (``make`` compiles engine/risk.py with mypyc through setup.py
where a C compiler is found): it decides exactly as its source does, and a build older than
its source never runs (the source does, with a warning to build again)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine.risk

ENGINE = Path(engine.risk.__file__).resolve().parent
BUILT = sorted(ENGINE.glob("risk.cpython-*")) + sorted(ENGINE.glob("risk__mypyc.cpython-*"))
needs_build = pytest.mark.skipif(
    not engine.risk.compiled(),
    reason="engine/risk.py is not compiled here (not built by make's compile step, no C "
           "compiler, RAYTRADER_PURE_PYTHON set, or the source is newer than its build)")

WHICH = "import engine.risk as r; print(r.__file__)"


def _python(code: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAYTRADER_PURE_PYTHON"}
    environ.update(env, PYTHONPATH=str(path))
    return subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=path, env=environ,
                          capture_output=True, text=True, timeout=120)


def _copy_engine(root: Path) -> Path:
    """A copy of the engine package with its compiled build under ``root``, to age and touch."""
    shutil.copytree(ENGINE, root / "engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return root


def _edit_after_build(root: Path) -> Path:
    """Give the copy's ``risk.py`` a time after its build's, as an edit would."""
    source = root / "engine" / "risk.py"
    later = max(p.stat().st_mtime for p in (root / "engine").glob("risk*.cpython-*"))
    os.utime(source, (later + 10, later + 10))
    return source


@pytest.fixture
def engine_copy(tmp_path: Path) -> Path:
    return _copy_engine(tmp_path)


@needs_build
def test_a_fresh_build_runs_compiled(engine_copy: Path) -> None:
    proc = _python(WHICH, engine_copy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".so")
    assert "newer than its compiled build" not in proc.stderr


@needs_build
def test_a_source_newer_than_its_build_runs_interpreted_and_says_so(engine_copy: Path) -> None:
    source = _edit_after_build(engine_copy)
    proc = _python(WHICH, engine_copy)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(source)
    assert "risk.py is newer than its compiled build; running it interpreted" in proc.stderr


@needs_build
def test_an_installed_package_runs_its_build_whatever_the_file_times(tmp_path: Path) -> None:
    """An installer writes the package whole, files in no set order of times: only a checkout
    built in place (where the source is edited) is checked for a stale build."""
    site = _copy_engine(tmp_path / "lib" / "site-packages")
    _edit_after_build(site)
    proc = _python(WHICH, site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".so")
    assert "newer than its compiled build" not in proc.stderr


@needs_build
def test_pure_python_is_chosen_at_run_time_too(engine_copy: Path) -> None:
    proc = _python(WHICH, engine_copy, RAYTRADER_PURE_PYTHON="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(engine_copy / "engine" / "risk.py")
    assert "newer than its compiled build" not in proc.stderr


@needs_build
@pytest.mark.parametrize("flags", [
    ["--risk", "medium"],
    ["--risk", "aggressive", "--account", "margin", "--risk-set", "max_leverage=2",
     "--risk-set", "max_net_exposure=0.5", "--risk-set", "max_order_notional=20000",
     "--start", "2024-01-01", "--end", "2024-04-01"],
], ids=["spot-medium-year", "margin-aggressive-quarter"])
def test_the_compiled_engine_decides_as_its_source_does(tmp_path: Path, flags: list[str]) -> None:
    """The same run with every rule of a preset on, compiled and interpreted: the same
    fills, the same denials and reductions, the same risk section (the spot year denies 45
    orders, the margin quarter denies 4 and reduces 7)."""
    outputs = {}
    for label, env in (("compiled", {}), ("source", {"RAYTRADER_PURE_PYTHON": "1"})):
        out = tmp_path / label
        code = ("import sys; from engine.cli import main; import engine.risk as r; "
                "assert r.compiled() is (sys.argv[1] == 'compiled'), r.__file__; "
                "sys.exit(main(sys.argv[2:]))")
        environ = {k: v for k, v in os.environ.items() if k != "RAYTRADER_PURE_PYTHON"}
        environ.update(env, PYTHONPATH=str(ENGINE.parent))
        proc = subprocess.run([sys.executable, "-c", code, label, "backtest", *flags,
                               "--quiet", "--output", str(out)], env=environ,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs[label] = out
    results = {k: json.loads((v / "result.json").read_text()) for k, v in outputs.items()}
    risk = results["compiled"]["risk"]
    assert risk["n_denied"] + risk["n_reduced"] > 0   # the rules acted
    assert risk == results["source"]["risk"]
    assert results["compiled"]["metrics"] == results["source"]["metrics"]
    for name in ("fills.csv", "trades.csv", "orders.csv"):
        if (outputs["compiled"] / name).exists() or (outputs["source"] / name).exists():
            assert (outputs["compiled"] / name).read_bytes() == \
                (outputs["source"] / name).read_bytes(), name
