"""Parameter sweeps: many backtests of one or more strategies on one or more symbols, each with
another parameter set, ranked by a metric::

    from engine.research.sweep import sweep
    result = sweep("sma_cross", ["sma_cross.fast=5:50:5", "sma_cross.slow=60:200:20"],
                   data="synthetic", symbols=["BTC/USDT", "ETH/USDT"], fee_bps=10)
    result.table          # one row per run, every metric, ranked (rank 1 is best)
    result.best           # the best combination per (symbol, strategy)
    result.recommendations
    result.write("runs/sweep")     # results.csv and result.json

Each run is a full backtest through the engine (``engine.research.evaluate``); the job's data
is loaded once. ``evaluator`` runs them elsewhere: ``actors.research`` fans them across a Ray
cluster (``raytrader sweep --workers N``) with the same table, byte for byte.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from engine.config import BacktestConfig
from engine.research.evaluate import Evaluator, LocalEvaluator, Outcome, Run, job_frames
from engine.research.ranking import rank_order, rank_value
from engine.research.results import envelope, write_result
from engine.research.search import SearchResult, SearchSpec, build_spec, run_search

# metrics shown as percentages in recommendations
_FRACTIONS = frozenset({"total_return", "annual_return", "annual_volatility", "max_drawdown",
                        "win_rate", "exposure_time", "best_trade", "worst_trade"})
FEW_TRADES = 20   # fewer closed trades than this: figures to read as a hint


@dataclasses.dataclass
class SweepResult:
    """A finished sweep: the ranked table, the best combination per (symbol, strategy), plain
    recommendations, and what ran (``inputs``) and how long it took (``summary``)."""

    table: pd.DataFrame
    parameters: list[str]
    rank_by: str
    ascending: bool
    best: list[dict[str, Any]]
    recommendations: list[str]
    inputs: dict[str, Any]
    summary: dict[str, Any]

    def result_json(self) -> dict[str, Any]:
        """The content of ``result.json`` (schema ``raytrader.result/1``, kind ``sweep``)."""
        return envelope("sweep", self.inputs, self.summary, ["results.csv", "report.html"],
                        parameters=self.parameters, rank_by=self.rank_by,
                        ascending=self.ascending, best=self.best,
                        recommendations=self.recommendations)

    def write(self, folder: str | Path) -> Path:
        """Write ``results.csv``, ``result.json`` and ``report.html`` (its charts) into
        ``folder``."""
        from engine.research.report import write_report

        out = write_result(folder, self.result_json(),
                           {"results.csv": lambda path: write_table(self.table, path)})
        write_report(out)
        return out


def write_table(table: pd.DataFrame, path: Path) -> None:
    """A results table as CSV: blank for missing values, floats in shortest round-trip form."""
    table.to_csv(path, index=False, lineterminator="\n")


def sweep(strategies: str | Sequence[str], ranges: Sequence[str], *,
          params: Mapping[str, Mapping[str, Any]] | None = None, search: str = "grid",
          trials: int | None = None, seed: int = 0, rank_by: str = "sharpe",
          data: str = "synthetic", evaluator: Evaluator | None = None,
          progress: Callable[[int, int], None] | None = None,
          **settings: Any) -> SweepResult:
    """Sweep ``strategies`` (names or ``module:Class``) over ``ranges``
    (``"STRATEGY.NAME=LOW:HIGH:STEP"``) with fixed ``params`` per strategy, on ``data`` and the
    config ``settings`` of ``engine.backtest`` (``symbols``, ``start``, ``end``, ``fee_bps``,
    ...). ``search`` is ``grid``, ``random`` or ``bayes`` (``trials`` per (symbol, strategy),
    ``seed``); runs rank by ``rank_by``. Runs in this process unless ``evaluator`` is given."""
    refs = [strategies] if isinstance(strategies, str) else list(strategies)
    entries = [{"strategy": ref, "params": dict((params or {}).get(ref, {}))} for ref in refs]
    config = BacktestConfig.from_dict({"strategies": entries, "data": data, **settings})
    spec = build_spec(config, ranges, search=search, trials=trials, seed=seed, rank_by=rank_by)
    return run_sweep(spec, evaluator=evaluator, progress=progress)


def run_sweep(spec: SearchSpec, *, frames: Mapping[str, pd.DataFrame] | None = None,
              evaluator: Evaluator | None = None,
              progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run a checked :class:`SearchSpec` on ``frames`` (the job's data; loaded here when not
    given) through ``evaluator`` (this process when not given)."""
    started = time.perf_counter()
    if frames is None:
        frames = job_frames(spec.config)
    if evaluator is None:
        evaluator = LocalEvaluator(spec.config, frames)
    found = run_search(spec, list(frames), evaluator, progress=progress)
    seconds = time.perf_counter() - started
    return assemble(spec, found, seconds)


def parameter_columns(spec: SearchSpec) -> list[str]:
    """The parameter columns of a results table: every searched range, then every fixed
    parameter, each as ``strategy.name``."""
    columns = [r.key for r in spec.ranges]
    for ref, fixed in spec.strategies():
        columns.extend(f"{ref}.{name}" for name in fixed if f"{ref}.{name}" not in columns)
    return columns


def metric_columns(outcomes: Sequence[Outcome]) -> list[str]:
    """Every metric any run reported, in the order the engine gives them (first seen in run
    order, so the columns do not depend on which runs failed on which worker)."""
    return list(dict.fromkeys(k for o in outcomes for k in o.metrics))


def ranked_table(spec: SearchSpec, runs: Sequence[Run], outcomes: Sequence[Outcome],
                 parameters: Sequence[str], ascending: bool) -> pd.DataFrame:
    """The table of ``runs`` in rank order: ``rank``, ``symbol``, ``strategy``, the
    ``parameters`` (blank where a run's strategy has none of that name), every metric, and
    ``error`` (blank when the run was fine)."""
    metrics = metric_columns(outcomes)
    symbols = list(dict.fromkeys(r.symbol for r in runs))
    refs = [ref for ref, _ in spec.strategies()]
    values = [rank_value(o, spec.rank_by) for o in outcomes]
    ties = [(symbols.index(r.symbol), refs.index(r.strategy), r.index) for r in runs]
    order = rank_order(values, ties, ascending)
    records = []
    for rank, i in enumerate(order, start=1):
        run, outcome = runs[i], outcomes[i]
        record: dict[str, Any] = {"rank": rank, "symbol": run.symbol, "strategy": run.strategy}
        for column in parameters:
            ref, _, name = column.rpartition(".")
            record[column] = run.params.get(name) if ref == run.strategy else None
        for name in metrics:
            record[name] = outcome.metrics.get(name)
        record["error"] = outcome.error or None
        records.append(record)
    columns = ["rank", "symbol", "strategy", *parameters, *metrics, "error"]
    return pd.DataFrame(records, columns=columns, dtype=object)


def best_per_pair(spec: SearchSpec, table: pd.DataFrame,
                  symbols: Sequence[str]) -> list[dict[str, Any]]:
    """The best-ranked run of each (symbol, strategy) that ran fine and has a value, in the
    job's order (``symbols``, then its strategies): symbol, strategy, its searched and fixed
    parameters, its metrics."""
    metrics = [c for c in table.columns
               if c not in ("rank", "symbol", "strategy", "error") and "." not in c]
    out = []
    fine = table[table["error"].isna() & table[spec.rank_by].notna()] \
        if spec.rank_by in table else table.iloc[0:0]
    for symbol in symbols:
        for ref, _ in spec.strategies():
            mine = fine[(fine["symbol"] == symbol) & (fine["strategy"] == ref)]
            if mine.empty:
                continue
            row = mine.iloc[0]
            params = {c.rpartition(".")[2]: row[c] for c in table.columns
                      if c.startswith(f"{ref}.") and row[c] is not None}
            out.append({"symbol": symbol, "strategy": ref, "params": params,
                        "rank": int(row["rank"]),
                        "metrics": {m: row[m] for m in metrics}})
    return out


def assemble(spec: SearchSpec, found: SearchResult, seconds: float) -> SweepResult:
    """The :class:`SweepResult` of a finished search."""
    parameters = parameter_columns(spec)
    ascending = spec.ascending
    table = ranked_table(spec, found.runs, found.outcomes, parameters, ascending)
    best = best_per_pair(spec, table, list(dict.fromkeys(r.symbol for r in found.runs)))
    failed = int(table["error"].notna().sum())
    top = best[0] if best else None
    if best:
        values = [b["metrics"][spec.rank_by] for b in best]
        top = best[rank_order(values, [(k,) for k in range(len(best))], ascending)[0]]
    summary = {"runs": len(table), "failed": failed, "skipped": found.skipped,
               "rank_by": spec.rank_by,
               "best_value": top["metrics"][spec.rank_by] if top else None,
               "best_symbol": top["symbol"] if top else None,
               "best_strategy": top["strategy"] if top else None,
               "seconds": seconds,
               "backtests_per_second": len(table) / seconds if seconds > 0 else None}
    return SweepResult(table, parameters, spec.rank_by, ascending, best,
                       recommendations(spec, table, best, found.skipped), inputs_of(spec),
                       summary)


def inputs_of(spec: SearchSpec) -> dict[str, Any]:
    """Every option needed to run the job again."""
    config = spec.config
    venue = config.execution
    return {
        "strategies": [ref for ref, _ in spec.strategies()],
        "params": {ref: fixed for ref, fixed in spec.strategies()},
        "symbols": list(config.symbols) if config.symbols else None,
        "data": config.data, "start": config.start, "end": config.end,
        "timeframe": config.timeframe,
        "ranges": {r.key: r.to_list() for r in spec.ranges},
        "search": spec.search, "trials": spec.trials, "seed": spec.seed,
        "rank_by": spec.rank_by,
        "costs": {"maker_fee_bps": venue.maker_fee_bps, "taker_fee_bps": venue.taker_fee_bps,
                  "slippage_model": venue.slippage_model, "slippage_bps": venue.slippage_bps,
                  "latency_ms": venue.latency_ms, "max_volume_share": venue.max_volume_share},
        "config": config.to_dict(),
    }


def format_metric(name: str, value: Any) -> str:
    """A metric's value as a sentence shows it: fractions in percent, others to 3 digits."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value * 100:.1f} %" if name in _FRACTIONS else f"{value:.3g}"
    return str(value)


def recommendations(spec: SearchSpec, table: pd.DataFrame, best: Sequence[dict[str, Any]],
                    skipped: int) -> list[str]:
    """Plain-language reading of a sweep: the best combination of each pair, and what to be
    wary of (a best value at the edge of its range, a narrow peak, few trades, losses,
    failures)."""
    metric = spec.rank_by
    out = []
    for b in best:
        m = b["metrics"]
        settings = ", ".join(f"{k}={v}" for k, v in b["params"].items())
        out.append(f"{b['symbol']}, {b['strategy']}: best {metric} "
                   f"{format_metric(metric, m.get(metric))} with {settings or 'its defaults'} "
                   f"(total return {format_metric('total_return', m.get('total_return'))}, max "
                   f"drawdown {format_metric('max_drawdown', m.get('max_drawdown'))}, "
                   f"{m.get('n_trades')} trades).")
        for r in spec.ranges_of(b["strategy"]):
            value, grid = b["params"].get(r.name), r.values()
            if len(grid) > 1 and value in (grid[0], grid[-1]):
                side = "bottom" if value == grid[0] else "top"
                out.append(f"{b['symbol']}, {r.key} = {value} is at the {side} of its range "
                           f"({':'.join(str(x) for x in r.to_list())}): the best value may lie "
                           f"{'below' if side == 'bottom' else 'above'} it; widen the range.")
        plateau = _neighbourhood(spec, table, b)
        if plateau is not None:
            out.append(plateau)
        trades = m.get("n_trades")
        if isinstance(trades, int) and trades < FEW_TRADES:
            out.append(f"{b['symbol']}, {b['strategy']}: the best combination closed only "
                       f"{trades} trades; read its figures as a hint, not a result.")
        total = m.get("total_return")
        if isinstance(total, float) and total <= 0:
            out.append(f"{b['symbol']}, {b['strategy']}: even the best combination lost money "
                       f"({format_metric('total_return', total)}); this strategy does not suit "
                       f"this market over these dates at these costs.")
    failed = table[table["error"].notna()]
    if len(failed):
        out.append(f"{len(failed)} of {len(table)} runs failed; the first: "
                   f"{failed.iloc[0]['error']}")
    if skipped:
        out.append(f"{skipped} combinations were not run: the strategy's own rules refuse "
                   f"them (for example a fast average that is not shorter than the slow one).")
    if not best:
        out.append(f"No run has a {metric}: nothing to recommend (see the errors).")
    return out


def _neighbourhood(spec: SearchSpec, table: pd.DataFrame, best: Mapping[str, Any]) -> str | None:
    """How the runs one step from the best (in any searched parameter) score: a broad plateau
    is a sturdier choice than a lone peak. None when fewer than two neighbours ran."""
    ranges = spec.ranges_of(best["strategy"])
    value = best["metrics"].get(spec.rank_by)
    if not ranges or not isinstance(value, (int, float)):
        return None
    mine = table[(table["symbol"] == best["symbol"]) & (table["strategy"] == best["strategy"])
                 & table["error"].isna()]
    close = pd.Series(True, index=mine.index)
    for r in ranges:
        close &= (mine[r.key].astype(float) - best["params"][r.name]).abs() \
            <= r.step * (1 + 1e-9)
    scores = [float(v) for v in mine.loc[close, spec.rank_by] if v is not None]
    if len(scores) < 3:   # the best itself and at least two neighbours
        return None
    median = statistics.median(scores)
    name = f"{best['symbol']}, {best['strategy']}"
    shown = format_metric(spec.rank_by, median)
    if value > 0 and median >= 0.5 * value and not spec.ascending:
        return (f"{name}: the {len(scores) - 1} neighbouring combinations score a median "
                f"{spec.rank_by} of {shown}: a broad plateau, so the choice is not a fluke of "
                f"one setting.")
    if not spec.ascending:
        return (f"{name}: the {len(scores) - 1} neighbouring combinations score a median "
                f"{spec.rank_by} of only {shown}: a narrow peak, likely fitted to noise; "
                f"prefer a setting whose neighbours also do well, and check it walk-forward.")
    return None
