"""The ``raytrader`` command line (also ``python -m engine.cli``).

    raytrader backtest [--strategy NAME|module:Class ...] [--param [NAME.]KEY=VALUE ...]
                       [--data ...] [--symbols A,B] [--start D] [--end D] [--timeframe TF]
                       [--capital X] [--fee-bps X] [--slippage-bps X] [--seed N]
                       [--max-open-positions N] [--max-gross-exposure X]
                       [--workers N] [--address HOST:PORT] [--batch] [--output DIR]
                       [--output-format auto|csv|parquet|both]
    raytrader sweep --strategy NAME --range NAME.PARAM=LOW:HIGH:STEP ... [--rank-by METRIC]
                    [--search grid|random|bayes --trials N] [--workers N] [--output DIR]
                    [the data, cost and risk options of backtest]
    raytrader walkforward ... --train 180d --test 30d [--step 30d] [--anchored]
    raytrader strategies [list | show NAME]
    raytrader data import FILE... [--catalog DIR]
    raytrader data list [--catalog DIR]
    raytrader data facts SOURCE... [--symbol S] [--output FILE]
    raytrader synthetic fit --data SOURCE --output params.json [--keep-drift]
    raytrader montecarlo RUN_DIR [--paths N] [--seed K] [--ruin 0.5] [--output DIR]
    raytrader stress [backtest's flags] [--window NAME ...] [--shock NAME[:K=V,...] ...]
                     [--output DIR]
    raytrader trend [--data ...] [--symbols A,B] [--sweep DIR ...] [--output DIR]
    raytrader report RUN_DIR [--output FILE]
    raytrader serve [--host 127.0.0.1] [--port 8080]
    raytrader --version

One module a command: ``backtest``, ``strategies``, ``data``, ``live``, ``synthetic``
(``synthetic fit`` and ``data facts``), ``research_sweep`` (``sweep`` and
``walkforward``), ``research`` (``montecarlo``, ``stress``, ``trend``, ``report``) and
``serve``; ``summary`` prints a result and ``runners`` finds the Ray runners that
``--workers N`` needs. Those runners are plugins (the ``raytrader.runners`` entry points,
``actors.cli`` and ``actors.research``), so nothing here imports Ray.

Exit codes: 0 done, 1 a strategy faulted or the run failed, 2 bad input (one line on stderr
naming the file, field or flag at fault), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from engine.errors import RaytraderError

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command; each command sets ``func`` to its handler."""
    from engine.cli.backtest import add_backtest_command
    from engine.cli.data import add_data_commands
    from engine.cli.live import add_live_commands
    from engine.cli.research import add_research_commands
    from engine.cli.research_sweep import add_research_sweep_commands
    from engine.cli.serve import add_serve_command
    from engine.cli.strategies import add_strategies_command
    from engine.cli.synthetic import add_synthetic_command

    parser = argparse.ArgumentParser(prog="raytrader",
                                     description="raytrader: backtest and trade crypto strategies")
    parser.add_argument("--version", action="version", version=f"raytrader {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_backtest_command(sub)
    add_strategies_command(sub)
    add_data_commands(sub)
    add_live_commands(sub)
    add_research_commands(sub)
    add_research_sweep_commands(sub)
    add_serve_command(sub)
    add_synthetic_command(sub)
    return parser


def package_version() -> str:
    """The installed raytrader's version."""
    try:
        return metadata.version("raytrader")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def look_in_working_directory() -> None:
    """Let ``--strategy mypkg.strats:Class`` import from the working directory, as ``python -m``
    would. Appended, so a folder that happens to be called like a package never shadows it."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    look_in_working_directory()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RaytraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a graph that lost an actor is a failed run, not a usage error
        return EXIT_FAULT if type(exc).__name__ in ("GraphError", "ExchangeSessionError") \
            else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
