"""``raytrader sweep`` and ``raytrader walkforward``: parameter searches over many backtests.

    raytrader sweep --strategy sma_cross --range sma_cross.fast=5:100:5 \\
        --range sma_cross.slow=50:540:10 [--search grid|random|bayes --trials N] \\
        [--rank-by sharpe] --workers 2 --output runs/sweep   [+ every data, cost and risk
        option of ``backtest``]
    raytrader walkforward ... --train 180d --test 30d [--step 30d] [--anchored]

Both take ``backtest``'s own data, cost and risk options (the very same flags, borrowed from
its parser, so they never drift apart). Every input is checked before anything runs: the
ranges against each strategy's declared bounds, the search options, the window lengths, and
that ``--output`` can be written. ``--workers 0`` (the default) runs in this process;
``--workers N`` hands the job to the ``research`` runner (``actors.research``, found through
the ``raytrader.runners`` entry point, so nothing here imports Ray).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.cli import EXIT_FAULT, EXIT_OK
from engine.errors import ConfigError

# backtest options that mean something else (or nothing) for a research job
_NOT_BORROWED = {"help", "workers", "address", "batch", "output", "output_format", "quiet"}
_SHOWN = ("total_return", "max_drawdown", "n_trades")   # columns printed beside the rank metric


def add_research_sweep_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sweep`` and ``walkforward`` on an argparse subparsers object."""
    sweep = subparsers.add_parser(
        "sweep", help="backtest every parameter set of a grid, a random sample or a Bayesian "
                      "search, ranked",
        description="Sweep strategy parameters over ranges: one backtest per parameter set, "
                    "symbol and strategy, ranked by a metric. Writes results.csv (one row per "
                    "run) and result.json (the best per symbol and strategy, recommendations).")
    _add_job_options(sweep)
    sweep.set_defaults(func=cmd_sweep)
    walk = subparsers.add_parser(
        "walkforward", help="optimize on a training window, trade the next window, repeat",
        description="Walk-forward analysis: optimize in each training window (the sweep's "
                    "search), trade the following test window with the parameters chosen, "
                    "and join the test windows' equity. Writes results.csv (one row per window) "
                    "and result.json (the robustness ratio, the windows, the equity).")
    _add_job_options(walk)
    walk.add_argument("--train", required=True, metavar="LENGTH",
                      help="training window length, e.g. 180d, 12w, 720h")
    walk.add_argument("--test", required=True, metavar="LENGTH",
                      help="test (out-of-sample) window length, e.g. 30d")
    walk.add_argument("--step", metavar="LENGTH",
                      help="how far each window moves on (default: --test; not shorter)")
    walk.add_argument("--anchored", action="store_true",
                      help="every training window starts at the data's start (default: "
                           "rolling, each as long as --train)")
    walk.set_defaults(func=cmd_walkforward)


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    for action in _backtest_options():
        parser._add_action(action)
    parser.add_argument("--range", action="append", default=[],
                        metavar="STRATEGY.NAME=LOW:HIGH:STEP",
                        help="a parameter to search, both ends included, inside the range the "
                             "strategy declares (see `raytrader strategies show NAME`); "
                             "repeatable")
    parser.add_argument("--search", choices=["grid", "random", "bayes"], default="grid",
                        help="every combination (grid), a random sample of them, or Optuna's "
                             "TPE (bayes); default grid")
    parser.add_argument("--trials", type=int,
                        help="random and bayes: parameter sets to try per symbol and strategy")
    parser.add_argument("--search-seed", type=int, default=0,
                        help="seed of the random and bayes searches (default 0)")
    parser.add_argument("--rank-by", default="sharpe",
                        help="the metric that ranks runs (default sharpe); any numeric metric "
                             "of a backtest, e.g. total_return, calmar, max_drawdown")
    parser.add_argument("--workers", type=int, default=0,
                        help="Ray worker processes; 0 (default) runs in this process")
    parser.add_argument("--address", help="join this Ray cluster (host:port or 'auto'); "
                                          "needs --workers")
    parser.add_argument("--output", metavar="DIR",
                        help="write results.csv and result.json here (checked before the run)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar or summary")


def _backtest_options() -> list[argparse.Action]:
    """``backtest``'s data, cost, risk and strategy options, as its own parser defines them."""
    from engine.cli.backtest import add_backtest_command

    scratch = argparse.ArgumentParser(add_help=False)
    backtest = add_backtest_command(scratch.add_subparsers())
    return [a for a in backtest._actions if a.dest not in _NOT_BORROWED]


def _prepare(args: argparse.Namespace) -> tuple[Any, Any, Path | None, Any]:
    """The checked job: (search spec, research runner or None, output folder or None,
    data frames)."""
    from engine.cli.backtest import config_from_args
    from engine.cli.runners import find_runner
    from engine.outputs import check_output_dir
    from engine.research.evaluate import job_frames
    from engine.research.search import build_spec

    if args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {args.workers}")
    if args.address and not args.workers:
        raise ConfigError("--address joins a Ray cluster: give --workers N")
    config = config_from_args(args)
    spec = build_spec(config, args.range, search=args.search, trials=args.trials,
                      seed=args.search_seed, rank_by=args.rank_by)
    runner = find_runner("research", "--workers") if args.workers else None
    output = check_output_dir(args.output, what="--output") if args.output else None
    return spec, runner, output, job_frames(config)


def _run(args: argparse.Namespace, spec: Any, runner: Any, frames: Any,
         job: Callable[[Any, Any], Any], label: str) -> Any:
    """``job(evaluator, progress)`` in this process or through the research runner, with a
    progress bar on stderr when it is a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    with _progress(console, label, enabled=not args.quiet and console.is_terminal) as progress:
        if runner is None:
            return job(None, progress)
        return runner(lambda evaluator: job(evaluator, progress), config=spec.config,
                      frames=frames, workers=args.workers, address=args.address)


@contextmanager
def _progress(console: Any, label: str,
              enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient bar of the backtests done and the time left; None when not ``enabled``."""
    if not enabled:
        yield None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                  TextColumn("backtests"), TimeRemainingColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run ``raytrader sweep``; returns the exit code."""
    from engine.research.sweep import run_sweep

    spec, runner, output, frames = _prepare(args)
    result = _run(args, spec, runner, frames,
                  lambda evaluator, progress: run_sweep(spec, frames=frames, evaluator=evaluator,
                                                        progress=progress), "sweep")
    return _finish(args, result, output, _print_sweep)


def cmd_walkforward(args: argparse.Namespace) -> int:
    """Run ``raytrader walkforward``; returns the exit code."""
    from engine.research.walkforward import parse_length, walk_forward

    for flag, text in (("--train", args.train), ("--test", args.test), ("--step", args.step)):
        if text is not None:
            parse_length(text, flag)
    spec, runner, output, frames = _prepare(args)
    result = _run(args, spec, runner, frames,
                  lambda evaluator, progress: walk_forward(
                      spec, train=args.train, test=args.test, step=args.step,
                      anchored=args.anchored, frames=frames, evaluator=evaluator,
                      progress=progress), "walk-forward")
    return _finish(args, result, output, _print_walkforward)


def _finish(args: argparse.Namespace, result: Any, output: Path | None,
            show: Callable[[Any], None]) -> int:
    """Print ``result`` (unless ``--quiet``) and write it to ``output``; the exit code."""
    if not args.quiet:
        show(result)
    if output is None:
        return EXIT_OK
    try:
        result.write(output)
    except OSError as exc:
        print(f"error: --output {output}: cannot write the results: {exc}", file=sys.stderr)
        return EXIT_FAULT
    print(f"wrote {output / 'results.csv'}, {output / 'result.json'} and "
          f"{output / 'report.html'}", file=sys.stderr)
    return EXIT_OK


def _print_sweep(result: Any, top: int = 10) -> None:
    from rich.table import Table

    from engine.research.sweep import format_metric

    s = result.summary
    metric = result.rank_by
    table = Table(title=f"sweep: {s['runs']} runs, {s['failed']} failed, {s['skipped']} "
                        f"skipped, {s['backtests_per_second'] or 0:.1f} backtests/s; best "
                        f"{top} by {metric}", title_justify="left")
    shown = [c for c in ("rank", "symbol", "strategy", *result.parameters, metric,
                         *(m for m in _SHOWN if m != metric)) if c in result.table]
    for column in shown:
        table.add_column(column, justify="left" if column in ("symbol", "strategy") else "right",
                         no_wrap=True)
    for _, row in result.table.head(top).iterrows():
        table.add_row(*("" if row[c] is None else format_metric(c, row[c]) for c in shown))
    console = _stdout()
    console.print(table)
    for sentence in result.recommendations:
        console.print(f"- {sentence}", highlight=False)


def _print_walkforward(result: Any) -> None:
    from rich.table import Table

    from engine.research.sweep import format_metric

    s = result.summary
    metric = result.rank_by
    ratio = s["robustness_ratio"]
    table = Table(title=f"walk-forward: {s['windows']} windows; robustness ratio "
                        f"{'n/a' if ratio is None else f'{ratio:.2f}'}; out-of-sample total "
                        f"return {format_metric('total_return', s['oos_total_return'])}",
                  title_justify="left")
    params = [c for c in result.table.columns if "." in c]
    shown = ["index", "symbol", "test_start", *params, f"is_{metric}", f"oos_{metric}",
             "oos_total_return"]
    for column in shown:
        table.add_column(column, justify="left" if column in ("symbol", "test_start")
                         else "right", no_wrap=True)
    for _, row in result.table.iterrows():
        table.add_row(*("" if row.get(c) is None else
                        format_metric(c.removeprefix("is_").removeprefix("oos_"), row[c])
                        for c in shown))
    _stdout().print(table)


def _stdout() -> Any:
    """The console tables go to: as wide as the terminal, or wide enough when piped."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)
