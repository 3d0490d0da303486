"""``engine/`` is the pure core: no module under it imports Ray or ``actors`` (an AST scan of
every file), and importing the engine, its command line and its run API in a fresh interpreter
leaves Ray unloaded."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("ray", "actors")


def imported_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in ``source``, including
    ``importlib.import_module("x")`` and ``__import__("x")`` with a literal name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def forbidden_imports(source: str) -> list[tuple[int, str]]:
    return [(line, name) for line, name in imported_names(source)
            if name.split(".")[0] in FORBIDDEN]


def test_the_scan_sees_every_form_of_import() -> None:
    source = ("import ray\nfrom actors.graph import GraphRun\nimport importlib\n"
              "importlib.import_module('ray.util')\n__import__('actors')\n"
              "import rayon\nfrom engine import ray_tools\nfrom . import actors\n")
    assert forbidden_imports(source) == [(1, "ray"), (2, "actors.graph"), (4, "ray.util"),
                                         (5, "actors")]


def test_no_engine_module_imports_ray_or_actors() -> None:
    files = sorted((ROOT / "engine").rglob("*.py"))
    assert len(files) > 30
    found = {str(path.relative_to(ROOT)): hits for path in files
             if (hits := forbidden_imports(path.read_text()))}
    assert found == {}


@pytest.mark.parametrize("statement", [
    "import engine",
    "import engine.cli; engine.cli.build_parser()",
    "import engine.run",
])
def test_importing_the_engine_leaves_ray_unloaded(statement: str) -> None:
    code = (f"import json, sys\n{statement}\n"
            "print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('ray', 'actors'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
