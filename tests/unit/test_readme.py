"""The README's Python examples run as written (those that need no Ray): the strategy of
"Writing a strategy" backtests, and its batch path places the same orders."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 3
    assert "class Crossover(Strategy)" in blocks[0] and "def on_batch" in blocks[1]


@pytest.mark.slow
def test_the_strategy_examples_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # one file, as a user would paste them (numba caches the kernel beside it)
    script = tmp_path / "example.py"
    script.write_text("\n".join(b for b in python_blocks() if "actors" not in b))
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "runs" / "crossover" / "result.json").is_file()
    total_return, trades = capsys.readouterr().out.split()
    assert int(trades) == len(namespace["result"].trades) > 50
    assert float(total_return) == namespace["result"].metrics["total_return"]
    assert len(namespace["fast"].fills) == len(namespace["result"].fills)
