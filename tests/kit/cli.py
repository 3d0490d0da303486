"""Running the command line in this process, for tests of what it refuses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.cli import EXIT_USAGE, main


def refused(argv: Sequence[str], output: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``raytrader argv --output output``; assert it stops with exit code 2 and writes
    nothing; return what it said on stderr."""
    assert main([*argv, "--output", str(output)]) == EXIT_USAGE
    assert not output.exists()
    return capsys.readouterr().err
