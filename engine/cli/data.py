"""The ``raytrader data`` commands: ``import`` files into a Parquet catalog, ``list`` it;
``facts`` (stylized facts of any data) lives in ``engine.cli.synthetic``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from engine.cli import EXIT_OK, EXIT_USAGE
from engine.data.catalog import ParquetCatalog
from engine.data.importers import load_all
from engine.data.symbols import symbol_from_filename
from engine.errors import ConfigError, DataError
from engine.timeframes import format_ns

CATALOG_ENV = "RAYTRADER_CATALOG"
DEFAULT_CATALOG = "./catalog"


def add_data_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``data import`` and ``data list`` on an argparse subparsers object.

    Each leaf parser sets ``func``: a handler taking the parsed args and returning an exit code.
    """
    data = subparsers.add_parser("data", help="import and list market data")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    imp = commands.add_parser("import", help="import CSV/JSON market-data files into the catalog")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files to import")
    _add_catalog_option(imp)
    imp.add_argument("--venue", default="binance", help="venue to file the data under "
                     "(default: binance)")
    imp.add_argument("--symbol", help="symbol to store under (overrides the file's); picks one "
                     "symbol from a file holding several (default: the file's, or its name's "
                     "such as BTCUSDT-1m-2024-01.csv)")
    imp.add_argument("--timeframe", help="bar timeframe such as 1m or 1h (default: from the file)")
    imp.add_argument("--skip-bad", action="store_true",
                     help="skip malformed rows (counted in the report) instead of failing")
    imp.add_argument("--replace", action="store_true",
                     help="replace stored data in the imported time range instead of failing "
                          "on overlap")
    imp.set_defaults(func=run_import)

    lst = commands.add_parser("list", help="list the series stored in the catalog")
    _add_catalog_option(lst)
    lst.set_defaults(func=run_list)

    from engine.cli.synthetic import add_facts_command
    add_facts_command(commands)
    return data


def _add_catalog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", type=Path, default=None, metavar="DIR",
                        help=f"catalog folder (default: ${CATALOG_ENV} or {DEFAULT_CATALOG})")


def _catalog(args: argparse.Namespace) -> ParquetCatalog:
    root = args.catalog or os.environ.get(CATALOG_ENV) or DEFAULT_CATALOG
    return ParquetCatalog(root)


def run_import(args: argparse.Namespace) -> int:
    """Import every path; print each report and what was stored. 2 if any file failed."""
    catalog = _catalog(args)
    mode = "replace" if args.replace else "append"
    failed = 0
    for path in args.paths:
        try:
            for result in load_all(path, skip_bad=args.skip_bad, symbol=args.symbol,
                                   timeframe=args.timeframe):
                symbol = result.symbol or symbol_from_filename(path)
                if result.symbol is None and symbol is not None:
                    result.report.symbol = symbol
                    result.report.notes.append(f"symbol {symbol} read from the file name")
                print(result.report.summary())
                if symbol is None:
                    raise ConfigError(f"{path}: neither the file nor its name (such as "
                                      "BTCUSDT-1m-2024-01.csv) says its symbol; pass --symbol")
                written = catalog.write(result.frame, venue=args.venue, symbol=symbol,
                                        kind=result.kind, timeframe=result.timeframe, mode=mode)
                series = " ".join(x for x in (args.venue, symbol, result.kind,
                                              result.timeframe) if x)
                line = (f"  stored {len(result.frame)} rows of {series} "
                        f"({format_ns(int(result.frame['ts'].iloc[0]))} .. "
                        f"{format_ns(int(result.frame['ts'].iloc[-1]))}) in {written.path}")
                if written.replaced_rows:
                    line += f", replacing {written.replaced_rows} stored rows"
                print(line)
        except (DataError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_USAGE if failed else EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """Print one line per stored series."""
    catalog = _catalog(args)
    try:
        table = catalog.list()
    except (DataError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if table.empty:
        print(f"catalog {catalog.root} is empty")
        return EXIT_OK
    shown = table.assign(
        timeframe=table["timeframe"].fillna("tick"),
        first=[format_ns(t) for t in table["first_ts"]],
        last=[format_ns(t) for t in table["last_ts"]],
    )[["venue", "symbol", "kind", "timeframe", "rows", "first", "last", "parts"]]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(shown.to_string(index=False))
    return EXIT_OK
