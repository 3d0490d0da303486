"""``raytrader montecarlo``, ``stress``, ``trend`` and ``report``: research jobs that run in
this process and write a table, ``result.json`` and an HTML report into one folder.

    raytrader montecarlo RUN_DIR [--paths N] [--seed K] [--ruin 0.5] [--block-length L]
                         [--method bootstrap|shuffle|block ...] [--output DIR]
    raytrader stress [backtest's data, strategy, cost and risk flags] [--window NAME ...]
                     [--shock NAME[:KEY=VALUE,...] ...] [--shock-at TIME] [--horizon 30d]
                     [--warmup 30d] [--survive-drawdown 0.25] [--output DIR]
    raytrader trend [--data ...] [--symbols A,B] [--start D] [--end D] [--timeframe 1d]
                    [--sweep DIR ...] [--output DIR]
    raytrader report RUN_DIR [--output FILE]

Every option is checked, and the output folder too, before a job starts; bad input is one line
naming the flag, file or field at fault and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.cli import EXIT_OK


def add_research_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``montecarlo``, ``stress``, ``trend`` and ``report``."""
    from engine.cli.backtest import add_run_options
    from engine.research.montecarlo import METHODS
    from engine.research.stress import DEFAULT_SHOCKS, SHOCKS, WINDOWS

    mc = subparsers.add_parser(
        "montecarlo", help="Monte Carlo of a backtest's trades and returns",
        description="Resample a backtest's closed trades (bootstrap, shuffle) and its daily "
                    "returns (block bootstrap) into many equity paths: percentiles of final "
                    "return, max drawdown and Sharpe, and the probability of ruin.")
    mc.add_argument("run", metavar="RUN_DIR", help="a backtest's --output folder")
    mc.add_argument("--paths", type=int, default=10_000, help="paths per method "
                                                              "(default: 10,000)")
    mc.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    mc.add_argument("--ruin", type=float, default=0.5,
                    help="ruin floor: a path is ruined once its equity falls below this "
                         "fraction of the starting equity, in (0, 1) (default: 0.5)")
    mc.add_argument("--block-length", type=int,
                    help="block bootstrap: periods per block (default: round(n^(1/3)))")
    mc.add_argument("--method", action="append", choices=METHODS,
                    help=f"resampling method, repeatable (default: all of {', '.join(METHODS)})")
    mc.add_argument("--output", help="folder for results.csv, paths.csv, result.json and "
                                     "report.html (default: RUN_DIR/montecarlo)")
    mc.set_defaults(func=cmd_montecarlo)

    st = subparsers.add_parser(
        "stress", help="run a strategy through historical crises and synthetic shocks",
        description="Backtest a strategy through the historical crisis windows its data covers "
                    "and through synthetic shocks, and score how many it survives. With "
                    "neither --window nor --shock: every covered window and the shocks "
                    f"{', '.join(DEFAULT_SHOCKS)}.")
    add_run_options(st)
    st.add_argument("--window", action="append", metavar="NAME[,NAME]",
                    help=f"historical window, repeatable: {', '.join(WINDOWS)}")
    st.add_argument("--shock", action="append", metavar="NAME[:KEY=VALUE,...]",
                    help="synthetic shock, repeatable: " + "; ".join(
                        f"{name} ({', '.join(f'{k}={v}' for k, v in s.items())})"
                        for name, s in SHOCKS.items()))
    st.add_argument("--shock-at", help="when the shocks hit (default: the middle of the data, "
                                       "moved on to the first time the strategy holds a "
                                       "position)")
    st.add_argument("--horizon", default="30d",
                    help="how long after a shock is measured (default: 30d)")
    st.add_argument("--warmup", default="30d",
                    help="how long a scenario runs before its measured span (default: 30d)")
    st.add_argument("--survive-drawdown", type=float, default=0.25,
                    help="a scenario is survived while its max drawdown is no deeper than "
                         "this fraction, equity stays above zero and no strategy faults "
                         "(default: 0.25)")
    add_output_folder(st, "runs/stress")
    st.set_defaults(func=cmd_stress)

    tr = subparsers.add_parser(
        "trend", help="market regime per symbol, and strategies that did well in it",
        description="Classify each symbol's regime over time (uptrend, downtrend, sideways, "
                    "volatile), show the current one and suggest the strategies that did best "
                    "in that regime in past sweeps (--sweep).")
    tr.add_argument("--data", default="synthetic",
                    help="'synthetic', a CSV/JSON path, or 'catalog[:DIR]' (default: synthetic)")
    tr.add_argument("--symbols", action="append", metavar="A,B", help="symbols")
    tr.add_argument("--start", help="first time, e.g. 2020-01-01")
    tr.add_argument("--end", help="end time (exclusive)")
    tr.add_argument("--seed", type=int, help="seed of the synthetic market")
    tr.add_argument("--synthetic-params", metavar="FILE",
                    help="parameters of the synthetic market ('raytrader synthetic fit')")
    tr.add_argument("--catalog", help="catalog folder for --data catalog")
    tr.add_argument("--skip-bad", action="store_true", default=None,
                    help="skip malformed CSV rows instead of failing")
    tr.add_argument("--timeframe", default="1d",
                    help="bars the regimes are computed on (default: 1d)")
    tr.add_argument("--sweep", action="append", default=[], metavar="DIR",
                    help="a sweep's output folder whose runs suggest strategies (repeatable)")
    add_output_folder(tr, "runs/trend")
    tr.set_defaults(func=cmd_trend)

    rp = subparsers.add_parser(
        "report", help="write the HTML report of any result folder",
        description="Write a self-contained HTML report (works offline) of the result.json in "
                    "RUN_DIR: a backtest, sweep, walk-forward, Monte Carlo, stress test or "
                    "trend analysis.")
    rp.add_argument("run", metavar="RUN_DIR", help="a folder holding result.json")
    rp.add_argument("--output", metavar="FILE",
                    help="where to write the report (default: RUN_DIR/report.html)")
    rp.set_defaults(func=cmd_report)


def add_output_folder(parser: argparse.ArgumentParser, default: str) -> None:
    """``--output DIR``, the folder a research job writes its files into."""
    parser.add_argument("--output", default=default,
                        help=f"folder for results.csv, result.json and report.html "
                             f"(default: {default})")


def cmd_montecarlo(args: argparse.Namespace) -> int:
    """Run ``raytrader montecarlo``; returns the exit code."""
    from engine.outputs import check_output_dir
    from engine.research.montecarlo import METHODS, check_options, run_montecarlo, \
        write_montecarlo
    from engine.research.report import write_report

    methods = list(dict.fromkeys(args.method or METHODS))
    check_options(args.paths, args.ruin, args.block_length, methods)
    output = check_output_dir(args.output or Path(args.run) / "montecarlo", what="--output")
    content, table, paths = run_montecarlo(args.run, paths=args.paths, seed=args.seed,
                                           ruin_floor=args.ruin,
                                           block_length=args.block_length, methods=methods)
    write_montecarlo(output, content, table, paths)
    report = write_report(output)
    out = Table(title=f"Monte Carlo of {args.run}: {args.paths:,} paths a method, seed "
                      f"{args.seed}", title_justify="left")
    for col in ("method", "final return P5 / P50 / P95", "max drawdown P5 / P50 / P95",
                "Sharpe P5 / P50 / P95", f"P(ruin < {args.ruin:g})"):
        out.add_column(col, justify="right" if col != "method" else "left")
    for m in content["methods"]:
        s = m["statistics"]
        out.add_row(m["method"], _triple(s["final_return"], "%"),
                    _triple(s["max_drawdown"], "%"), _triple(s["sharpe"], ""),
                    f"{m['ruin']['probability']:.2%}")
    backtest = content["backtest"]
    Console(width=160).print(out)
    print(f"backtest: total return {_pct(backtest['total_return'])}, max drawdown "
          f"{_pct(backtest['max_drawdown'])}, Sharpe {_ratio(backtest['sharpe'])}, "
          f"{backtest['n_trades']} trades")
    _print_written(output, ["results.csv", "paths.csv"], report)
    return EXIT_OK


def cmd_stress(args: argparse.Namespace) -> int:
    """Run ``raytrader stress``; returns the exit code."""
    from engine.cli.backtest import _split_symbols, config_from_args
    from engine.outputs import check_output_dir
    from engine.research.report import write_report
    from engine.research.stress import run_stress, write_stress
    from engine.timeframes import parse_time

    config = config_from_args(args)
    windows = _split_symbols(args.window)
    shocks = args.shock
    if windows is not None or shocks is not None:   # what is named runs, and nothing else
        windows, shocks = windows or [], shocks or []
    output = check_output_dir(args.output, what="--output")
    content, table = run_stress(
        config, windows=windows, shocks=shocks, shock_at=args.shock_at, horizon=args.horizon,
        warmup=args.warmup, survive_drawdown=args.survive_drawdown,
        progress=lambda name: print(f"scenario {name}", file=sys.stderr))
    write_stress(output, content, table)
    report = write_report(output)
    out = Table(title=f"Stress test: {content['summary']['score']}", title_justify="left",
                caption=content["criterion"]["text"], caption_justify="left")
    for col in ("scenario", "from", "days", "return", "max drawdown", "trades", "survived"):
        out.add_column(col, justify="left" if col in ("scenario", "from") else "right",
                       no_wrap=col in ("scenario", "from"))
    for s in content["scenarios"]:
        days = (parse_time(s["end"]) - parse_time(s["start"])) / 86_400e9
        out.add_row(s["name"], s["start"][:16].replace("T", " "), f"{days:g}",
                    _pct(s["total_return"]), _pct(s["max_drawdown"]), str(s["n_trades"]),
                    ("yes" if s["survived"] else f"no: {s['reason']}")
                    + (" (not scored)" if s["kind"] == "baseline" else ""))
    Console(width=160).print(out)
    for item in content["skipped"]:
        print(f"window {item['window']} ({item['span']}) left out: {item['reason']}")
    _print_written(output, ["results.csv"], report)
    return EXIT_OK


def cmd_trend(args: argparse.Namespace) -> int:
    """Run ``raytrader trend``; returns the exit code."""
    from engine.cli.backtest import _split_symbols
    from engine.config import BacktestConfig
    from engine.errors import ConfigError
    from engine.outputs import check_output_dir
    from engine.research.report import write_report
    from engine.research.trend import REGIMES, TrendRules, run_trend, write_trend
    from engine.timeframes import timeframe_to_ns

    values: dict[str, Any] = {"data": args.data}
    for key in ("start", "end", "seed", "catalog", "skip_bad", "synthetic_params"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    symbols = _split_symbols(args.symbols)
    if symbols:
        values["symbols"] = symbols
    config = BacktestConfig().replace(**values)
    try:
        timeframe_to_ns(args.timeframe)
    except ConfigError as exc:
        raise ConfigError(f"--timeframe: {exc}") from None
    output = check_output_dir(args.output, what="--output")
    content, table = run_trend(config, rules=TrendRules(timeframe=args.timeframe),
                               sweeps=args.sweep)
    write_trend(output, content, table)
    report = write_report(output)
    out = Table(title=f"Regimes on {args.timeframe} bars", title_justify="left")
    for col in ("symbol", "current regime", "since", *[f"time {r}" for r in REGIMES]):
        out.add_column(col, justify="left" if col in ("symbol", "current regime", "since")
                       else "right")
    for s in content["symbols"]:
        out.add_row(s["symbol"], s["current_regime"], (s["current_since"] or "n/a")[:10],
                    *[f"{s['shares'][r]:.0%}" for r in REGIMES])
    Console(width=160).print(out)
    for item in content["suggestions"]:
        print(f"{item['symbol']} ({item['regime']}): {item['note']}")
        for k, best in enumerate(item["strategies"], 1):
            params = ", ".join(f"{n}={v}" for n, v in best["params"].items())
            print(f"  {k}. {best['strategy']}({params}): {best['metric']} "
                  f"{best['value']:.3g} on {best['symbol']} {best['span']} "
                  f"({best['share']:.0%} {item['regime']})")
    _print_written(output, ["results.csv"], report)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``raytrader report``; returns the exit code."""
    from engine.errors import ConfigError
    from engine.outputs import check_output_dir
    from engine.research.report import write_report
    from engine.research.results import read_result

    read_result(args.run)          # a missing or malformed result.json fails first
    if args.output is not None:
        target = Path(args.output)
        if target.is_dir():
            raise ConfigError(f"--output {target}: is a folder; give the report's file name")
        check_output_dir(target.parent, what="--output")
    print(f"wrote {write_report(args.run, args.output)}")
    return EXIT_OK


def _print_written(output: Path, tables: list[str], report: Path) -> None:
    print(f"wrote {', '.join(str(output / t) for t in [*tables, 'result.json'])} and {report}")


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ratio(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _triple(stats: dict[str, Any], unit: str) -> str:
    show = _pct if unit == "%" else _ratio
    return " / ".join(show(stats.get(k)) for k in ("p5", "p50", "p95"))
