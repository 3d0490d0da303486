"""raytrader's pure core: messages and codec, data, synthetic markets, the Strategy API, the
simulated venue, portfolio accounting, metrics and reports. Never imports Ray.

The main entry point is :func:`engine.backtest`.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any


def _interpreted_risk_if_stale() -> None:
    """``engine/risk.py`` may be compiled in place (setup.py): Python then imports the built
    extension beside it, not the source. After an edit, or a pull, the extension would run
    code older than the file; so in a checkout, when the source is newer than what was built
    from it, the source is imported instead, with a warning to rebuild (``pip install -e .``,
    or ``make``). ``RAYTRADER_PURE_PYTHON`` set imports the source anywhere."""
    here = Path(__file__).parent
    if "engine.risk" in sys.modules or not any(here.glob("risk.cpython-*")):
        return   # imported already, or not compiled
    source = here / "risk.py"
    stale = False
    if not {"site-packages", "dist-packages"} & set(here.parts):
        # a checkout built in place, where the source is edited (an installed package is
        # written whole by its installer, in no set order of times); the compiled code
        # itself is the second file (the first is a small loader the build keeps as it is)
        native = [p.stat().st_mtime for p in here.glob("risk__mypyc.cpython-*")]
        stale = not native or max(native) < source.stat().st_mtime
    if not (stale or os.environ.get("RAYTRADER_PURE_PYTHON")):
        return
    if stale:
        warnings.warn(f"{source} is newer than its compiled build; running it interpreted "
                      f"until the package is built again (pip install -e .)", stacklevel=2)
    import importlib.util
    spec = importlib.util.spec_from_file_location("engine.risk", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine.risk"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["engine.risk"]
        raise


_interpreted_risk_if_stale()

__all__ = ["backtest", "run_config", "BacktestConfig", "Strategy", "StrategyParams", "param"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import engine.codec` in a worker does not pull in pandas-heavy modules.
    if name in ("backtest", "run_config"):
        from engine import run
        return getattr(run, name)
    if name == "BacktestConfig":
        from engine.config import BacktestConfig
        return BacktestConfig
    if name in ("Strategy", "StrategyParams", "param"):
        from engine import strategy
        return getattr(strategy, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
