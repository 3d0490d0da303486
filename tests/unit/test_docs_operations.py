"""docs/operations.md lists exactly the metrics raytrader exports."""

from __future__ import annotations

import re
from pathlib import Path

from engine.obs.metrics import CATALOG

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_documented_metrics_are_the_exported_ones() -> None:
    documented = set(re.findall(r"^\| `(raytrader_[a-z0-9_]+)` \|", DOC.read_text(),
                                re.MULTILINE))
    assert documented == set(CATALOG)
