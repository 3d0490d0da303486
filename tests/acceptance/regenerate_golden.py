"""Regenerate the golden backtest figures in tests/acceptance/golden/.

Run only when a change is meant to move them (a fill rule, a cost model, the synthetic
market), and say why in the commit:

    .venv/bin/python tests/acceptance/regenerate_golden.py [CASE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.acceptance.golden_cases import (CASES, GOLDEN_DIR, REAL, REAL_DATA_CASES, run_case,
                                          summarize)


def main(names: list[str]) -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name in names or list(CASES):
        if name in REAL_DATA_CASES and not REAL.exists():
            print(f"skip {name}: {REAL} is absent")
            continue
        figures = summarize(run_case(name))
        path = GOLDEN_DIR / f"{name}.json"
        path.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}: {figures['n_trades']} trades, final equity "
              f"{figures['final_equity']}")


if __name__ == "__main__":
    main(sys.argv[1:])
