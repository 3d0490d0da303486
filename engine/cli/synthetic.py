"""``raytrader data facts`` (stylized facts of any data) and ``raytrader synthetic fit``
(the synthetic market's parameters fitted to a data set)."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from engine.cli import EXIT_OK
from engine.errors import ConfigError, DataError
from engine.synthetic.facts import MIN_RETURNS, json_ready

CATALOG_ENV = "RAYTRADER_CATALOG"


def add_facts_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``data facts`` on the ``data`` command's subparsers."""
    facts = commands.add_parser(
        "facts", help="measure stylized facts (volatility, fat tails, clustering, ...)",
        description="Measure the stylized facts of market data: volatility, skew and kurtosis "
                    "at 1m/1h/1d, autocorrelation of returns and of |returns|, drawdowns, the "
                    "volume-volatility correlation, intraday and weekly seasonality, trade "
                    "sizes and spreads. Several sources are shown side by side.")
    facts.add_argument("sources", nargs="+", metavar="SOURCE",
                       help="a data file (any format 'data import' reads), 'catalog[:DIR]' "
                            "(with --symbol), or 'synthetic' / 'synthetic:trades'")
    _add_source_options(facts)
    facts.add_argument("--output", type=Path, metavar="FILE",
                       help="write the facts as JSON (one source: its facts; several: by "
                            "source)")
    facts.set_defaults(func=run_facts)
    return facts


def add_synthetic_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``synthetic fit``."""
    syn = subparsers.add_parser("synthetic", help="fit the synthetic market to data")
    commands = syn.add_subparsers(dest="synthetic_command", required=True, metavar="COMMAND")
    fit = commands.add_parser(
        "fit", help="fit the synthetic market's parameters to a data set",
        description="Fit the synthetic market's parameters to a data set's stylized facts "
                    "(docs/synthetic.md) and write them as JSON for --synthetic-params.")
    fit.add_argument("--data", required=True, metavar="SOURCE",
                     help="a data file, or 'catalog[:DIR]' with --symbol")
    _add_source_options(fit)
    fit.add_argument("--output", type=Path, required=True, metavar="FILE",
                     help="where to write the params file")
    fit.add_argument("--keep-drift", action="store_true",
                     help="keep the data's long-run drift (default: 0, no drift)")
    fit.set_defaults(func=run_fit)
    return syn


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", help="the symbol (a file holding several; a catalog "
                                         "series; the synthetic market's, default BTC/USDT)")
    parser.add_argument("--venue", default="binance", help="catalog venue (default: binance)")
    parser.add_argument("--timeframe", help="bar timeframe of a file or catalog series")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed rows of a file instead of failing")
    parser.add_argument("--seed", type=int, default=42, help="synthetic market seed (42)")
    parser.add_argument("--days", type=float, default=365.0,
                        help="synthetic market span in days (365)")
    parser.add_argument("--synthetic-params", metavar="FILE",
                        help="synthetic market parameters (default: built-in)")


def load_source(source: str, args: argparse.Namespace) -> tuple[str, pd.DataFrame, str, str | None]:
    """(label, frame, kind, symbol) of a facts source: a file, a catalog series or the
    synthetic market (1m bars, or trades for ``synthetic:trades``)."""
    from engine.data.catalog import ParquetCatalog
    from engine.data.importers import load_all
    from engine.data.symbols import symbol_from_filename

    if source == "synthetic" or source.startswith("synthetic:"):
        from engine.synthetic import SyntheticConfig, SyntheticMarket
        from engine.timeframes import NS_PER_DAY, parse_time

        kind = source.partition(":")[2] or "bars"
        if kind not in ("bars", "trades"):
            raise ConfigError(f"unknown synthetic source {source!r}: use synthetic or "
                              f"synthetic:trades")
        if not (args.days > 0 and math.isfinite(args.days)):
            raise ConfigError(f"--days must be a positive number, got {args.days!r}")
        config = (SyntheticConfig.from_file(args.synthetic_params) if args.synthetic_params
                  else SyntheticConfig())
        symbol = args.symbol or "BTC/USDT"
        start = parse_time("2024-01-01")
        market = SyntheticMarket(symbol, seed=args.seed, start=start,
                                 end=start + int(args.days * NS_PER_DAY), config=config)
        label = f"synthetic {symbol} seed {args.seed}"
        if kind == "trades":
            return label, market.trades(), "trade", symbol
        return label, market.bars(args.timeframe or "1m"), "bar", symbol
    if source == "catalog" or source.startswith("catalog:"):
        root = source.partition(":")[2] or os.environ.get(CATALOG_ENV) or "./catalog"
        if not args.symbol:
            raise ConfigError("a catalog source needs --symbol")
        kind = "bar" if args.timeframe else "trade"
        frame = ParquetCatalog(root).read(args.venue, args.symbol, kind, args.timeframe)
        return f"{args.venue} {args.symbol} {args.timeframe or 'trades'}", frame, kind, \
            args.symbol
    results = load_all(source, skip_bad=args.skip_bad, symbol=args.symbol,
                       timeframe=args.timeframe)
    result = results[0]
    symbol = args.symbol or result.symbol or symbol_from_filename(source)
    return Path(source).name, result.frame, result.kind, symbol


def measure_source(source: str, args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    """The facts of one source and its symbol."""
    from engine.synthetic.facts import measure_facts, measure_quotes

    label, frame, kind, symbol = load_source(source, args)
    if kind == "quote":
        return measure_quotes(frame, source=label), symbol
    return measure_facts(frame, source=label), symbol


def run_facts(args: argparse.Namespace) -> int:
    """Print the facts of each source side by side; write them as JSON with ``--output``."""
    from engine.synthetic.facts import facts_table

    measured = [measure_source(source, args)[0] for source in args.sources]
    first, others = measured[0], measured[1:]
    print(facts_table(first, {f"{f['source']} ({i + 2})" if f["source"] == first["source"]
                              else f["source"]: f for i, f in enumerate(others)}))
    if args.output:
        payload: Any = measured[0] if len(measured) == 1 else {
            f"{i + 1}: {f['source']}": f for i, f in enumerate(measured)}
        _write_json(args.output, payload)
        print(f"wrote {args.output}")
    return EXIT_OK


def run_fit(args: argparse.Namespace) -> int:
    """Measure the data's facts, fit the parameters, print target vs achieved, write them."""
    from engine.synthetic.fit import fit_config

    if args.data == "synthetic" or args.data.startswith("synthetic:"):
        raise ConfigError("--data must be real data (a file or a catalog series), not the "
                          "synthetic market")
    facts, symbol = measure_source(args.data, args)
    if "annual_volatility" not in facts:
        raise DataError(f"{args.data}: too short or quotes only: fit needs at least "
                        f"{MIN_RETURNS + 1} bars (or minutes of trades)")
    symbol = symbol or "BTC/USDT"
    result = fit_config(facts, symbol=symbol, keep_drift=args.keep_drift,
                        description=f"fitted to {facts['source']} ({symbol})",
                        progress=lambda line: print(f"  {line}"))
    report = result.report
    print(f"fitted {facts['source']} ({symbol}, {facts['resolution']}, {facts['days']:g} days) "
          f"on {len(report['seeds'])} simulated markets of {report['simulated_days']:g} days:")
    for name, target in report["targets"].items():
        print(f"  {name:<24} data {target:10.4f}   synthetic (median) "
              f"{report['achieved'][name]:10.4f}")
    _write_json(args.output, result.to_dict())
    print(f"wrote {args.output}; use it with --synthetic-params {args.output}")
    return EXIT_OK


def _write_json(path: Path, payload: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(json_ready(payload), indent=1, allow_nan=False) + "\n")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None

