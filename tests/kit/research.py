"""Result folders of every kind for the research tests: a real backtest on the synthetic
market, and sweep and walk-forward results laid out as ``docs/results.md`` says (those jobs
write them; the report reads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import engine
from engine.research.results import envelope, write_result

# a backtest that closes a few dozen trades in two months of synthetic 1h bars
BACKTEST = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "data": "synthetic",
            "symbols": ["BTC/USDT"], "start": "2024-01-01", "end": "2024-03-01", "seed": 3}


def backtest_folder(folder: Path, **changes: Any) -> Path:
    """Run :data:`BACKTEST` (with ``changes``) and write it into ``folder``."""
    settings = {**BACKTEST, **changes}
    strategy, params = settings.pop("strategy"), settings.pop("params")
    engine.backtest(strategy, params, **settings).write(folder)
    return folder


def sweep_folder(folder: Path) -> Path:
    """A sweep of sma_cross over fast x slow on two symbols, ranked by sharpe: the value of
    each run is a known function of its parameters, so the report's heatmap can be checked."""
    rows = []
    for symbol in ("BTC/USDT", "ETH/USDT"):
        for fast in (5, 10, 20):
            for slow in (40, 80):
                sharpe = fast / 10 - slow / 100 + (0.5 if symbol == "BTC/USDT" else 0.0)
                rows.append({"symbol": symbol, "strategy": "sma_cross",
                             "sma_cross.fast": fast, "sma_cross.slow": slow,
                             "sharpe": sharpe, "total_return": sharpe / 10,
                             "max_drawdown": -0.1 - fast / 200, "n_trades": 10 * fast,
                             "start": "2024-04-01T00:00:00Z", "end": "2024-06-01T00:00:00Z",
                             "error": None})
    rows.append({"symbol": "ETH/USDT", "strategy": "sma_cross", "sma_cross.fast": 30,
                 "sma_cross.slow": 20, "error": "fast must be below slow"})
    table = pd.DataFrame(rows)
    table["rank"] = table["sharpe"].rank(ascending=False, method="first")
    table = table.sort_values("rank", na_position="last")
    table["rank"] = table["rank"].astype("Int64")
    ok = table[table["error"].isna()]
    best = []
    for symbol, mine in ok.groupby("symbol", sort=True):
        top = mine.iloc[0]
        best.append({"symbol": symbol, "strategy": "sma_cross",
                     "params": {"fast": int(top["sma_cross.fast"]),
                                "slow": int(top["sma_cross.slow"])},
                     "metrics": {"sharpe": float(top["sharpe"]),
                                 "total_return": float(top["total_return"])}})
    first = ok.iloc[0]
    content = envelope(
        "sweep", {"data": "synthetic", "symbols": ["BTC/USDT", "ETH/USDT"],
                  "start": "2024-04-01", "end": "2024-06-01", "rank_by": "sharpe"},
        {"runs": len(table), "failed": 1, "rank_by": "sharpe",
         "best_value": float(first["sharpe"]), "best_symbol": first["symbol"],
         "best_strategy": "sma_cross", "seconds": 1.5, "backtests_per_second": 8.7},
        ["results.csv"], parameters=["sma_cross.fast", "sma_cross.slow"], rank_by="sharpe",
        ascending=False, best=best,
        recommendations=["BTC/USDT, sma_cross: best sharpe 2.1 at fast=20, slow=40, at the "
                         "edge of the fast range"])
    write_result(folder, content, {"results.csv": lambda p: table.to_csv(p, index=False)})
    return folder


def walkforward_folder(folder: Path) -> Path:
    """Three walk-forward windows of sma_cross with a stitched out-of-sample equity."""
    windows = []
    days = pd.date_range("2024-01-01", periods=7, freq="30D", tz="UTC")
    for i in range(3):
        windows.append({
            "index": i, "train_start": days[i].isoformat().replace("+00:00", "Z"),
            "train_end": days[i + 2].isoformat().replace("+00:00", "Z"),
            "test_start": days[i + 2].isoformat().replace("+00:00", "Z"),
            "test_end": days[i + 3].isoformat().replace("+00:00", "Z"),
            "params": {"sma_cross.fast": 5 + 5 * i, "sma_cross.slow": 40},
            "in_sample": {"sharpe": 1.5 - 0.2 * i, "total_return": 0.1},
            "out_of_sample": {"sharpe": 0.4 + 0.1 * i, "total_return": 0.02 * (i - 1)}})
    ts = pd.date_range(days[2], days[5], freq="1D", tz="UTC", inclusive="left")
    equity = 100_000 * np.cumprod(1 + 0.001 * np.sin(np.arange(len(ts))))
    oos = {"ts": [t.isoformat().replace("+00:00", "Z") for t in ts],
           "equity": equity.tolist()}
    table = pd.DataFrame([{"window": w["index"], "is_sharpe": w["in_sample"]["sharpe"],
                           "oos_sharpe": w["out_of_sample"]["sharpe"]} for w in windows])
    content = envelope(
        "walkforward", {"data": "synthetic", "symbols": ["BTC/USDT"], "rank_by": "sharpe"},
        {"windows": 3, "robustness_ratio": 0.38, "oos_total_return":
         float(equity[-1] / 100_000 - 1)}, ["results.csv"], windows=windows, oos_equity=oos,
        rank_by="sharpe")
    write_result(folder, content, {"results.csv": lambda p: table.to_csv(p, index=False)})
    return folder
