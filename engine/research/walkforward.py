"""Walk-forward analysis: optimize on a training window, trade the next (test) window with the
parameters chosen, move on, and join the test windows' equity into one out-of-sample curve.

Windows are rolling (the training window moves with the test window) or anchored (training
always starts at the data's start and grows). The first test window starts ``train`` after
the data's start; each next one ``step`` later (default: ``test``, so the test windows tile
the data); the last ends at or before the data's end. ``step`` may not be shorter than
``test``: out-of-sample windows never overlap.

In each window, every (symbol, strategy) pair is optimized on the training data alone (the
sweep's search: grid, random or bayes, ranked by ``rank_by``), then backtested on the test
data with the best parameters, starting flat with the full capital and its indicators
warming up inside the test window: nothing of the test window reaches the choice, and
nothing of the training window reaches the test.

**Robustness ratio** (walk-forward efficiency): the mean out-of-sample value of the ranking
metric over every window and pair, divided by the mean in-sample value of the chosen
parameters (for a metric where less is better, in-sample over out-of-sample). 1 means the
strategy did as well on unseen data as on the data it was fitted to; near 0 or negative, the
optimization fitted noise. It is undefined (null) when the in-sample mean is not positive:
there was no gain to keep.

The out-of-sample equity is each pair's test windows chained (each window's curve scaled to
start where the previous one ended), pairs weighted equally, on the job's capital.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError
from engine.research.evaluate import Evaluator, LocalEvaluator, Outcome, Run, job_frames
from engine.research.ranking import rank_order, rank_value
from engine.research.results import envelope, write_result
from engine.research.search import SearchSpec, run_search
from engine.research.sweep import inputs_of, metric_columns, write_table
from engine.timeframes import format_ns, timeframe_to_ns


@dataclasses.dataclass(frozen=True)
class Window:
    """One step of a walk-forward: train on [train_start, train_end), test on
    [test_start, test_end) (ns UTC; ``train_end == test_start``)."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def parse_length(text: str, flag: str) -> int:
    """A window length such as ``180d``, ``12h`` or ``4w``, in ns; ``ConfigError`` naming
    ``flag`` otherwise."""
    try:
        return timeframe_to_ns(text)
    except ConfigError:
        raise ConfigError(f"{flag} {text!r}: expected a length such as 180d, 12h or 4w (a "
                          f"positive count and a unit s, m, h, d or w)") from None


def data_span(frames: Mapping[str, pd.DataFrame],
              interval_ns: Mapping[str, int]) -> tuple[int, int]:
    """[start, end) in ns covered by every symbol's data (bars end an interval after they
    open)."""
    starts = [int(f["ts"].iloc[0]) for f in frames.values()]
    ends = [int(f["ts"].iloc[-1]) + interval_ns.get(s, 0) for s, f in frames.items()]
    return max(starts), min(ends)


def plan_windows(start: int, end: int, train: int, test: int, step: int | None = None,
                 anchored: bool = False) -> list[Window]:
    """The windows over data covering [``start``, ``end``); ``ConfigError`` when ``step`` is
    shorter than ``test`` or not even one window fits."""
    step = test if step is None else step
    if step < test:
        raise ConfigError(f"--step ({format_span(step)}) is shorter than --test "
                          f"({format_span(test)}): the out-of-sample windows would overlap")
    windows: list[Window] = []
    test_start = start + train
    while test_start + test <= end:
        train_start = start if anchored else test_start - train
        windows.append(Window(len(windows), train_start, test_start, test_start,
                              test_start + test))
        test_start += step
    if not windows:
        raise ConfigError(f"--train {format_span(train)} plus --test {format_span(test)} is "
                          f"longer than the data ({format_span(end - start)}, "
                          f"{format_ns(start)} .. {format_ns(end)})")
    return windows


def format_span(ns: int) -> str:
    """A length in days (or hours when shorter than a day)."""
    days = ns / 86_400_000_000_000
    return f"{days:g}d" if days >= 1 else f"{ns / 3_600_000_000_000:g}h"


@dataclasses.dataclass
class WalkForwardResult:
    """A finished walk-forward: one row per (window, symbol, strategy), the chained
    out-of-sample equity, the robustness ratio and what ran."""

    table: pd.DataFrame
    windows: list[dict[str, Any]]
    oos_equity: dict[str, list[Any]]
    rank_by: str
    inputs: dict[str, Any]
    summary: dict[str, Any]

    def result_json(self) -> dict[str, Any]:
        """The content of ``result.json`` (schema ``raytrader.result/1``, kind
        ``walkforward``)."""
        return envelope("walkforward", self.inputs, self.summary, ["results.csv", "report.html"],
                        windows=self.windows, oos_equity=self.oos_equity, rank_by=self.rank_by)

    def write(self, folder: str | Path) -> Path:
        """Write ``results.csv`` (the windows), ``result.json`` and ``report.html`` (its
        charts) into ``folder``."""
        from engine.research.report import write_report

        out = write_result(folder, self.result_json(),
                           {"results.csv": lambda path: write_table(self.table, path)})
        write_report(out)
        return out


def walk_forward(spec: SearchSpec, *, train: str, test: str, step: str | None = None,
                 anchored: bool = False, frames: Mapping[str, pd.DataFrame] | None = None,
                 evaluator: Evaluator | None = None,
                 progress: Callable[[int, int], None] | None = None) -> WalkForwardResult:
    """Walk ``spec``'s search forward over the job's data (``frames``; loaded when not given)
    with ``train``/``test``/``step`` lengths (``180d``, ``30d``), rolling or ``anchored``."""
    train_ns, test_ns = parse_length(train, "--train"), parse_length(test, "--test")
    step_ns = parse_length(step, "--step") if step is not None else None
    started = time.perf_counter()
    if frames is None:
        frames = job_frames(spec.config)
    intervals = {s: _interval(f) for s, f in frames.items()}
    windows = plan_windows(*data_span(frames, intervals), train_ns, test_ns, step_ns, anchored)
    if evaluator is None:
        evaluator = LocalEvaluator(spec.config, frames)
    symbols = list(frames)
    pairs = [(s, ref) for s in symbols for ref, _ in spec.strategies()]
    chosen: list[tuple[Window, Run, Outcome]] = []
    done_windows = 0

    def step_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(done_windows * total + done, len(windows) * total)

    for window in windows:
        found = run_search(spec, symbols, evaluator, start=format_ns(window.train_start),
                           end=format_ns(window.train_end), progress=step_progress)
        values = [rank_value(o, spec.rank_by) for o in found.outcomes]
        order = rank_order(values, [(r.index,) for r in found.runs], spec.ascending)
        for symbol, ref in pairs:
            best = next((i for i in order if found.runs[i].symbol == symbol
                         and found.runs[i].strategy == ref and values[i] is not None), None)
            if best is not None:
                chosen.append((window, found.runs[best], found.outcomes[best]))
        done_windows += 1
    tests = [Run(k, run.symbol, run.strategy, run.params, format_ns(w.test_start),
                 format_ns(w.test_end), equity=True) for k, (w, run, _) in enumerate(chosen)]
    outcomes = evaluator(tests)
    seconds = time.perf_counter() - started
    return _assemble(spec, windows, chosen, outcomes, seconds)


def _interval(frame: pd.DataFrame) -> int:
    """The bar interval of a bar table (0 for trades): the median spacing of its rows."""
    if "close" not in frame or len(frame) < 2:
        return 0
    return int(np.median(np.diff(frame["ts"].to_numpy(dtype=np.int64))))


def _assemble(spec: SearchSpec, windows: Sequence[Window],
              chosen: Sequence[tuple[Window, Run, Outcome]], outcomes: Sequence[Outcome],
              seconds: float) -> WalkForwardResult:
    metric = spec.rank_by
    names = metric_columns([o for _, _, o in chosen] + list(outcomes))
    numeric = [m for m in names
               if all(not isinstance(o.metrics.get(m), str) for o in outcomes)]
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for (window, run, in_sample), out in zip(chosen, outcomes):
        params = {f"{run.strategy}.{k}": v for k, v in run.params.items()}
        times = {"train_start": format_ns(window.train_start),
                 "train_end": format_ns(window.train_end),
                 "test_start": format_ns(window.test_start),
                 "test_end": format_ns(window.test_end)}
        entries.append({"index": window.index, "symbol": run.symbol, "strategy": run.strategy,
                        **times, "params": params, "in_sample": dict(in_sample.metrics),
                        "out_of_sample": dict(out.metrics), "error": out.error or None})
        row: dict[str, Any] = {"index": window.index, "symbol": run.symbol,
                               "strategy": run.strategy, **times, **params}
        row.update({f"is_{m}": in_sample.metrics.get(m) for m in numeric})
        row.update({f"oos_{m}": out.metrics.get(m) for m in numeric})
        row["error"] = out.error or None
        rows.append(row)
    param_columns = list(dict.fromkeys(k for e in entries for k in e["params"]))
    columns = ["index", "symbol", "strategy", "train_start", "train_end", "test_start",
               "test_end", *param_columns, *(f"is_{m}" for m in numeric),
               *(f"oos_{m}" for m in numeric), "error"]
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    is_values = [rank_value(o, metric) for _, _, o in chosen]
    oos_values = [rank_value(o, metric) for o in outcomes]
    equity = _chained_equity(chosen, outcomes, spec.config.capital)
    summary: dict[str, Any] = {
        "windows": len(windows), "runs": len(entries), "rank_by": metric,
        "robustness_ratio": robustness_ratio(is_values, oos_values, spec.ascending),
        "oos_total_return": (equity["equity"][-1] / equity["equity"][0] - 1.0
                             if equity["equity"] else None),
        "seconds": seconds}
    for name in dict.fromkeys([metric, "total_return", "sharpe", "max_drawdown"]):
        summary[f"is_mean_{name}"] = _mean([rank_value(o, name) for _, _, o in chosen])
        summary[f"oos_mean_{name}"] = _mean([rank_value(o, name) for o in outcomes])
    inputs = inputs_of(spec)
    return WalkForwardResult(table, entries, equity, metric, inputs, summary)


def robustness_ratio(in_sample: Sequence[float | None], out_of_sample: Sequence[float | None],
                     ascending: bool = False) -> float | None:
    """Mean out-of-sample over mean in-sample value (in-sample over out-of-sample when
    ``ascending``: less is better); None when a mean is undefined or the in-sample mean (the
    out-of-sample one, when ascending) is not positive."""
    is_mean, oos_mean = _mean(in_sample), _mean(out_of_sample)
    if is_mean is None or oos_mean is None:
        return None
    top, bottom = (is_mean, oos_mean) if ascending else (oos_mean, is_mean)
    return top / bottom if bottom > 0 else None


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return math.fsum(known) / len(known) if known else None


def _chained_equity(chosen: Sequence[tuple[Window, Run, Outcome]], outcomes: Sequence[Outcome],
                    capital: float) -> dict[str, list[Any]]:
    """Each pair's test-window curves chained, the pairs weighted equally, on ``capital``."""
    curves: dict[tuple[str, str], list[pd.Series]] = {}
    for (_, run, _), out in zip(chosen, outcomes):
        if out.ts is None or out.equity is None or len(out.equity) == 0:
            continue
        curves.setdefault((run.symbol, run.strategy), []).append(
            pd.Series(out.equity, index=out.ts))
    chained = []
    for parts in curves.values():
        level, pieces = 1.0, []
        for part in parts:
            first = float(part.iloc[0])
            scaled = part / first * level if first > 0 else part * 0.0
            pieces.append(scaled)
            level = float(scaled.iloc[-1])
        joined = pd.concat(pieces)
        chained.append(joined[~joined.index.duplicated(keep="last")])
    if not chained:
        return {"ts": [], "equity": []}
    combined = pd.concat(chained, axis=1).sort_index().ffill().bfill().mean(axis=1) * capital
    return {"ts": [format_ns(int(t)) for t in combined.index],
            "equity": [float(v) for v in combined.to_numpy()]}
