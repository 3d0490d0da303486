"""Monte Carlo of a finished backtest: how its outcome could have gone with the same trades in
another order or mix, and with its returns reshuffled in blocks.

Three resampling methods, each giving ``paths`` synthetic equity paths that start at 1 (the
starting equity):

- ``bootstrap``: each path draws as many trades as the backtest closed, with replacement, and
  compounds their **equity returns** (a trade's net PnL over the equity at its entry);
- ``shuffle``: each path is a random permutation of the closed trades (the final return is the
  backtest's own compounded figure on every path; the order, and so the drawdown, changes);
- ``block``: a circular moving-block bootstrap of the backtest's **period returns** (the
  returns its metrics use: equity at each UTC day's end, ``engine.metrics.period_returns``):
  blocks of ``block_length`` consecutive periods from random starts, wrapped at the end, laid
  end to end and cut to the original length; blocks keep the returns' short-range dependence.

Per path: the final return, the max drawdown (the deepest fall below the running peak, a
fraction <= 0, the start included), the Sharpe ratio and whether it was **ruined** (equity
below ``ruin_floor`` times the starting equity at any step). Sharpe of trade paths is
``mean / std (ddof 1) * sqrt(trades per year)`` (trades per year: the backtest's trades over
its duration in 365-day years, no risk-free rate); of block paths, the metrics' definition on
period returns: ``mean(r - rf) / std(r - rf, ddof 1) * sqrt(annualization)`` with the
backtest's annualization and risk-free rate. A path whose returns do not vary has no Sharpe
(NaN, left out of its percentiles and counted as ``undefined``).

Each statistic is summarized by its mean, P5, median and P95 (``numpy.percentile``, linear),
where P5..P95 is the central 90 % of outcomes, and a 95 % confidence interval of the median
(the order statistics at ranks ``n/2 -+ 1.96 sqrt(n)/2``); the probability of ruin by the share
of ruined paths and its 95 % Wilson score interval.

**Seeding.** Paths are drawn in chunks of :data:`CHUNK` paths; chunk ``c`` of method ``m`` draws
from ``numpy.random.default_rng([seed, METHOD_IDS[m], c])``: ``integers(0, n, (rows, n))`` for
the bootstrap, ``permuted(tile(arange(n), (rows, 1)), axis=1)`` for the shuffle, and
``integers(0, n, (rows, ceil(n / L)))`` block starts for the block bootstrap. The same call
gives the same numbers on any machine; memory stays at a chunk's paths whatever ``paths`` is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError
from engine.metrics import MetricsConfig, period_returns
from engine.research.results import envelope, read_result, write_result

METHODS = ("bootstrap", "shuffle", "block")
METHOD_IDS = {"bootstrap": 1, "shuffle": 2, "block": 3}
STATISTICS = ("final_return", "max_drawdown", "sharpe")
CHUNK = 2048
FAN_POINTS = 101             # steps of the fan chart's equity quantiles, the start included
FAN_QUANTILES = (5, 25, 50, 75, 95)
HISTOGRAM_BINS = 50
Z95 = 1.959963984540054      # two-sided 95 % normal quantile


@dataclass(frozen=True)
class RunSample:
    """What Monte Carlo resamples from a backtest: its trades' equity returns in exit order,
    its period returns, and how to annualize each."""

    source: str
    trade_returns: np.ndarray
    trades_per_year: float
    period_returns: np.ndarray
    annualization: float
    period_risk_free: float
    actual: dict[str, Any]


def load_run(run_dir: str | Path) -> RunSample:
    """The :class:`RunSample` of the backtest result in ``run_dir``. ``ConfigError`` naming the
    file when it holds no backtest result or the backtest closed no trades."""
    from engine.result import read_trades

    folder = Path(run_dir)
    content = read_result(folder, kind="backtest")
    try:
        trades = read_trades(folder)
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc} (Monte Carlo resamples the backtest's closed trades)") from None
    if len(trades) == 0:
        raise ConfigError(f"{folder}: the backtest closed no trades, and Monte Carlo resamples "
                          f"closed trades: nothing to resample (run a backtest that trades)")
    curve = content.get("equity_curve") or {}
    ts = pd.to_datetime(pd.Series(curve.get("ts", []), dtype=object), utc=True,
                        format="ISO8601")
    equity = pd.Series(np.asarray(curve.get("equity", []), dtype=np.float64),
                       index=pd.DatetimeIndex(ts))
    if len(equity) < 2:
        raise ConfigError(f"{folder / 'result.json'}: field 'equity_curve' has fewer than two "
                          f"points")
    metrics = content.get("metrics") or {}
    config = content.get("config") or {}
    mconf = MetricsConfig(periods_per_year=float(config.get("periods_per_year", 365.0)),
                          risk_free_rate=float(config.get("risk_free_rate", 0.0)))
    returns = period_returns(equity, mconf).to_numpy()
    annualization = float(metrics.get("annualization") or mconf.periods_per_year)
    rf = (1.0 + mconf.risk_free_rate) ** (1.0 / annualization) - 1.0
    days = (equity.index[-1] - equity.index[0]) / pd.Timedelta(days=1)
    return RunSample(
        source=str(folder), trade_returns=trade_equity_returns(trades, equity),
        trades_per_year=len(trades) * 365.0 / days if days > 0 else float("nan"),
        period_returns=returns, annualization=annualization, period_risk_free=rf,
        actual={"total_return": metrics.get("total_return"),
                "max_drawdown": metrics.get("max_drawdown"), "sharpe": metrics.get("sharpe"),
                "n_trades": len(trades), "n_periods": len(returns),
                "returns_basis": metrics.get("returns_basis")})


def trade_equity_returns(trades: pd.DataFrame, equity: pd.Series) -> np.ndarray:
    """Each closed trade's net PnL over the portfolio equity at its entry (the last equity
    point at or before the entry time), in the order the trades closed."""
    order = np.lexsort((trades["entry_ts"].to_numpy(np.int64),
                        trades["exit_ts"].to_numpy(np.int64)))
    entry = trades["entry_ts"].to_numpy(np.int64)[order]
    pnl = trades["pnl"].to_numpy(np.float64)[order]
    ns = equity.index.as_unit("ns").asi8
    at = np.clip(np.searchsorted(ns, entry, side="right") - 1, 0, len(ns) - 1)
    base = equity.to_numpy()[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, pnl / base, np.nan)


def default_block_length(n: int) -> int:
    """The block bootstrap's default block: ``round(n ** (1/3))`` periods, at least 1."""
    return max(1, round(n ** (1.0 / 3.0)))


def path_indices(method: str, n: int, paths: int, seed: int,
                 block_length: int = 1) -> Iterator[np.ndarray]:
    """The index matrices (chunk rows x ``n``) into the ``n`` resampled values, chunk by chunk,
    drawn as the module docs say."""
    for chunk, start in enumerate(range(0, paths, CHUNK)):
        rows = min(CHUNK, paths - start)
        rng = np.random.default_rng([seed, METHOD_IDS[method], chunk])
        if method == "bootstrap":
            yield rng.integers(0, n, size=(rows, n))
        elif method == "shuffle":
            yield rng.permuted(np.tile(np.arange(n), (rows, 1)), axis=1)
        else:
            blocks = -(-n // block_length)
            starts = rng.integers(0, n, size=(rows, blocks))
            idx = (starts[:, :, None] + np.arange(block_length)) % n
            yield idx.reshape(rows, blocks * block_length)[:, :n]


@dataclass
class PathStats:
    """Per-path outcomes of one method, and the fan chart's equity at ``fan_steps``."""

    final_return: np.ndarray
    max_drawdown: np.ndarray
    sharpe: np.ndarray
    min_equity: np.ndarray
    fan_steps: np.ndarray
    fan_equity: np.ndarray


def path_stats(returns: np.ndarray, annualization: float, risk_free: float = 0.0,
               fan_steps: np.ndarray | None = None) -> PathStats:
    """Outcomes of the paths whose per-step returns are the rows of ``returns``: each path's
    equity starts at 1 and compounds its row."""
    rows, n = returns.shape
    equity = np.empty((rows, n + 1))
    equity[:, 0] = 1.0
    np.cumprod(1.0 + returns, axis=1, out=equity[:, 1:])
    peak = np.maximum.accumulate(equity, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, equity / peak - 1.0, np.nan).min(axis=1)
    excess = returns - risk_free
    if n > 1:
        std = excess.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            sharpe = np.where(std > 1e-12, excess.mean(axis=1) / std * math.sqrt(annualization),
                              np.nan)
    else:
        sharpe = np.full(rows, np.nan)
    steps = fan_steps if fan_steps is not None else fan_positions(n)
    return PathStats(final_return=equity[:, -1] - 1.0, max_drawdown=drawdown, sharpe=sharpe,
                     min_equity=equity.min(axis=1), fan_steps=steps,
                     fan_equity=equity[:, steps])


def fan_positions(n: int) -> np.ndarray:
    """At most :data:`FAN_POINTS` evenly spread steps of an ``n``-step path, 0 and ``n``
    included."""
    return np.unique(np.linspace(0, n, min(n + 1, FAN_POINTS)).round().astype(np.int64))


def simulate(method: str, values: np.ndarray, paths: int, seed: int, annualization: float,
             risk_free: float = 0.0, block_length: int = 1) -> PathStats:
    """``paths`` resampled paths of ``values`` (trade or period returns) by ``method``."""
    n = len(values)
    steps = fan_positions(n)
    parts = [path_stats(values[idx], annualization, risk_free, steps)
             for idx in path_indices(method, n, paths, seed, block_length)]
    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return PathStats(final_return=joined("final_return"), max_drawdown=joined("max_drawdown"),
                     sharpe=joined("sharpe"), min_equity=joined("min_equity"),
                     fan_steps=steps, fan_equity=joined("fan_equity"))


def summarize(values: np.ndarray) -> dict[str, Any]:
    """Mean, P5, median, P95 and the median's 95 % confidence interval of the finite
    ``values``; ``undefined`` counts the others."""
    good = np.sort(values[np.isfinite(values)])
    n = len(good)
    out: dict[str, Any] = {"undefined": int(len(values) - n)}
    if n == 0:
        return out | dict.fromkeys(("mean", "p5", "p50", "p95", "median_ci_low",
                                    "median_ci_high"))
    p5, p50, p95 = np.percentile(good, [5, 50, 95])
    half = Z95 * math.sqrt(n) / 2.0
    lo = min(max(math.floor(n / 2.0 - half), 0), n - 1)
    hi = min(max(math.ceil(n / 2.0 + half), 0), n - 1)
    return out | {"mean": float(good.mean()), "p5": float(p5), "p50": float(p50),
                  "p95": float(p95), "median_ci_low": float(good[lo]),
                  "median_ci_high": float(good[hi])}


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    z2 = Z95 * Z95
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


def histogram(values: np.ndarray) -> dict[str, list[float]]:
    """Counts of the finite ``values`` in :data:`HISTOGRAM_BINS` equal bins from their P0.5
    to their P99.5 (values beyond fall in the end bins)."""
    good = values[np.isfinite(values)]
    if len(good) == 0:
        return {"edges": [], "counts": []}
    lo, hi = float(good.min()), float(good.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        # one value up to rounding (the shuffle's final return): a single bar
        return {"edges": [lo, hi], "counts": [len(good)]}
    # bins span P0.5..P99.5, the outliers counted in the end bins: a long right tail of
    # compounded returns would squeeze every other path into one bar
    lo, hi = (float(v) for v in np.percentile(good, [0.5, 99.5]))
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        lo, hi = float(good.min()), float(good.max())
    counts, edges = np.histogram(np.clip(good, lo, hi), bins=HISTOGRAM_BINS, range=(lo, hi))
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def check_options(paths: int, ruin_floor: float, block_length: int | None,
                  methods: Sequence[str]) -> None:
    """``ConfigError`` naming the flag at fault."""
    if isinstance(paths, bool) or not isinstance(paths, int) or paths < 1:
        raise ConfigError(f"--paths must be a whole number of at least 1, got {paths!r}")
    if not (isinstance(ruin_floor, (int, float)) and 0.0 < ruin_floor < 1.0):
        raise ConfigError(f"--ruin must be a fraction of the starting equity strictly between "
                          f"0 and 1, got {ruin_floor!r}")
    if block_length is not None and block_length < 1:
        raise ConfigError(f"--block-length must be at least 1 period, got {block_length}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"--method {', '.join(unknown) or '(none)'}: expected one or more of "
                          f"{', '.join(METHODS)}")


def run_montecarlo(run_dir: str | Path, *, paths: int = 10_000, seed: int = 0,
                   ruin_floor: float = 0.5, block_length: int | None = None,
                   methods: Sequence[str] = METHODS) -> tuple[dict[str, Any], pd.DataFrame,
                                                              pd.DataFrame]:
    """Monte Carlo of the backtest in ``run_dir``: the ``result.json`` content (kind
    ``montecarlo``), the summary table (one row per method) and the per-path table."""
    check_options(paths, ruin_floor, block_length, methods)
    sample = load_run(run_dir)
    if "block" in methods and len(sample.period_returns) < 2:
        raise ConfigError(f"{run_dir}: the block bootstrap needs at least 2 period returns, "
                          f"the backtest has {len(sample.period_returns)}")
    block = block_length or default_block_length(len(sample.period_returns))
    sections: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    path_tables: list[pd.DataFrame] = []
    for method in methods:
        if method == "block":
            values, ann, rf = sample.period_returns, sample.annualization, sample.period_risk_free
        else:
            values, ann, rf = sample.trade_returns, sample.trades_per_year, 0.0
        stats = simulate(method, values, paths, seed, ann, rf, block)
        ruined = stats.min_equity < ruin_floor
        ruin_lo, ruin_hi = wilson(int(ruined.sum()), paths)
        summary = {name: summarize(getattr(stats, name)) for name in STATISTICS}
        quantiles = np.percentile(stats.fan_equity, FAN_QUANTILES, axis=0)
        sections.append({
            "method": method, "paths": paths, "steps": len(values),
            "unit": "period" if method == "block" else "trade",
            "block_length": block if method == "block" else None,
            "statistics": summary,
            "ruin": {"floor": ruin_floor, "probability": float(ruined.mean()),
                     "ci_low": ruin_lo, "ci_high": ruin_hi},
            "fan": {"step": stats.fan_steps.tolist(),
                    **{f"p{q}": quantiles[i].tolist() for i, q in enumerate(FAN_QUANTILES)}},
            "histograms": {name: histogram(getattr(stats, name)) for name in STATISTICS},
        })
        row: dict[str, Any] = {"method": method, "paths": paths, "steps": len(values)}
        for name in STATISTICS:
            for key in ("p5", "p50", "p95", "mean"):
                row[f"{name}_{key}"] = summary[name][key]
        row |= {"ruin_probability": float(ruined.mean()), "ruin_ci_low": ruin_lo,
                "ruin_ci_high": ruin_hi}
        rows.append(row)
        path_tables.append(pd.DataFrame({
            "method": method, "path": np.arange(paths), "final_return": stats.final_return,
            "max_drawdown": stats.max_drawdown, "sharpe": stats.sharpe,
            "min_equity": stats.min_equity, "ruined": ruined}))
    inputs = {"run": str(run_dir), "paths": paths, "seed": seed, "ruin_floor": ruin_floor,
              "block_length": block_length, "methods": list(methods)}
    headline: dict[str, Any] = {"paths": paths, "seed": seed, "ruin_floor": ruin_floor,
                                "n_trades": sample.actual["n_trades"],
                                "backtest_total_return": sample.actual["total_return"]}
    for section in sections:
        m = section["method"]
        headline[f"{m}_final_return_p50"] = section["statistics"]["final_return"]["p50"]
        headline[f"{m}_max_drawdown_p50"] = section["statistics"]["max_drawdown"]["p50"]
        headline[f"{m}_ruin_probability"] = section["ruin"]["probability"]
    content = envelope("montecarlo", inputs, headline,
                       files=["results.csv", "paths.csv", "report.html"],
                       methods=sections, backtest=sample.actual)
    return content, pd.DataFrame(rows), pd.concat(path_tables, ignore_index=True)


def write_montecarlo(output: str | Path, content: Mapping[str, Any], table: pd.DataFrame,
                     paths_table: pd.DataFrame) -> Path:
    """``results.csv``, ``paths.csv`` and ``result.json`` into ``output``."""
    return write_result(output, content, {
        "results.csv": lambda p: table.to_csv(p, index=False),
        "paths.csv": lambda p: paths_table.to_csv(p, index=False)})


__all__ = ["CHUNK", "METHODS", "METHOD_IDS", "PathStats", "RunSample", "check_options",
           "default_block_length", "fan_positions", "histogram", "load_run", "path_indices",
           "path_stats", "run_montecarlo", "simulate", "summarize", "trade_equity_returns",
           "wilson", "write_montecarlo"]
