"""raytrader's pure core: messages and codec, data, synthetic markets, the Strategy API, the
simulated venue, portfolio accounting, metrics and reports. Never imports Ray.

The main entry point is :func:`engine.backtest`.
"""

from __future__ import annotations

from typing import Any

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
