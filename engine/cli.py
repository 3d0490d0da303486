"""The ``raytrader`` command line.

    raytrader backtest [--strategy NAME|module:Class ...] [--param [NAME.]KEY=VALUE ...]
                       [--data ...] [--symbols A,B] [--start D] [--end D] [--timeframe TF]
                       [--capital X] [--fee-bps X] [--slippage-bps X] [--seed N]
                       [--max-open-positions N] [--max-gross-exposure X]
                       [--workers N] [--address HOST:PORT] [--batch] [--output DIR]
    raytrader strategies [show NAME]
    raytrader data import FILE... [--catalog DIR]
    raytrader data list [--catalog DIR]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from engine.errors import RaytraderError

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2


def _parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--param expects NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _split_symbols(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for value in values:
        out.extend(s.strip() for s in value.split(",") if s.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raytrader",
                                     description="raytrader: backtest and trade crypto strategies")
    sub = parser.add_subparsers(dest="command", required=True)

    bt = sub.add_parser("backtest", help="run a backtest in this process",
                        description="Backtest a strategy. Defaults: SMA crossover on the "
                                    "built-in synthetic market, 1h bars, one year.")
    bt.add_argument("--config", help="JSON config file; flags given here override its values")
    bt.add_argument("--strategy", action="append",
                    help="built-in name (see `raytrader strategies`) or module:Class; repeat "
                         "it to run several strategies on every symbol")
    bt.add_argument("--param", action="append", type=_parse_param, default=[],
                    metavar="[STRATEGY.]NAME=VALUE",
                    help="strategy parameter (repeatable); with several strategies, prefix "
                         "the strategy: --param sma_cross.fast=20")
    bt.add_argument("--data", help="'synthetic' (default), 'synthetic:trades', a CSV path "
                                   "(format detected), or 'catalog[:DIR]'")
    bt.add_argument("--symbols", action="append", metavar="A,B",
                    help="symbols (comma-separated or repeated); any names for synthetic data")
    bt.add_argument("--start", help="first bar open time, e.g. 2021-01-01 (inclusive)")
    bt.add_argument("--end", help="end time, e.g. 2021-06-01 (exclusive)")
    bt.add_argument("--timeframe", help="bar timeframe, e.g. 1m, 15m, 1h, 1d")
    bt.add_argument("--capital", type=float, help="initial capital in quote currency")
    bt.add_argument("--fee-bps", type=float, help="maker and taker fee, bps of notional")
    bt.add_argument("--maker-fee-bps", type=float, help="maker fee, bps (overrides --fee-bps)")
    bt.add_argument("--taker-fee-bps", type=float, help="taker fee, bps (overrides --fee-bps)")
    bt.add_argument("--slippage-model", choices=["fixed", "sqrt"])
    bt.add_argument("--slippage-bps", type=float, help="fixed slippage on taker fills, bps")
    bt.add_argument("--impact-base-bps", type=float, help="sqrt model: base, bps")
    bt.add_argument("--impact-k-bps", type=float, help="sqrt model: k in k*sqrt(size/volume), bps")
    bt.add_argument("--latency-ms", type=float, help="order latency, ms")
    bt.add_argument("--max-volume-share", type=float,
                    help="largest share of one event's volume fills may take (0..1]")
    bt.add_argument("--limit-fill", choices=["through", "touch"])
    bt.add_argument("--seed", type=int, help="seed of the synthetic market")
    bt.add_argument("--venue", help="venue name (catalog reads, reports)")
    bt.add_argument("--catalog", help="catalog folder for --data catalog")
    bt.add_argument("--skip-bad", action="store_true", default=None,
                    help="skip malformed CSV rows (counted in the report) instead of failing")
    bt.add_argument("--max-open-positions", type=int,
                    help="portfolio limit: (symbol, strategy) pairs open at once")
    bt.add_argument("--max-gross-exposure", type=float,
                    help="portfolio limit: gross exposure as a multiple of equity")
    bt.add_argument("--equity-interval",
                    help="equity curve resolution: a timeframe (default 1m) or 'event'")
    bt.add_argument("--workers", type=int, default=0,
                    help="strategy-worker processes of the Ray actor graph; 0 (default) runs "
                         "in this process without Ray")
    bt.add_argument("--address", help="join this Ray cluster (host:port or 'auto') instead "
                                      "of starting a local Ray; needs --workers")
    bt.add_argument("--batch", action="store_true",
                    help="with --workers 0: use the strategies' batch paths (same result)")
    bt.add_argument("--output", help="write result.json, trades.csv and fills.csv here")
    bt.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    bt.set_defaults(func=cmd_backtest)

    from engine.data.cli import add_data_commands
    add_data_commands(sub)
    try:
        from engine.strategies_cli import add_parser as add_strategies_command
    except ImportError:   # pragma: no cover - during development of that module
        pass
    else:
        add_strategies_command(sub)
    return parser


_FLAG_TO_KEY = {
    "data": "data", "start": "start", "end": "end",
    "timeframe": "timeframe", "capital": "capital", "fee_bps": "fee_bps",
    "maker_fee_bps": "maker_fee_bps",
    "taker_fee_bps": "taker_fee_bps", "slippage_model": "slippage_model",
    "slippage_bps": "slippage_bps", "impact_base_bps": "impact_base_bps",
    "impact_k_bps": "impact_k_bps", "latency_ms": "latency_ms",
    "max_volume_share": "max_volume_share", "limit_fill": "limit_fill", "seed": "seed",
    "venue": "venue", "catalog": "catalog", "skip_bad": "skip_bad",
    "max_open_positions": "max_open_positions", "max_gross_exposure": "max_gross_exposure",
    "equity_interval": "equity_interval",
}


def config_from_args(args: argparse.Namespace) -> Any:
    """The BacktestConfig described by the config file (if any) and the flags."""
    from engine.config import BacktestConfig
    from engine.errors import ConfigError

    base = BacktestConfig.from_file(args.config) if args.config else BacktestConfig()
    values: dict[str, Any] = {}   # the flags' changes to the file's (or the default) config
    for flag, key in _FLAG_TO_KEY.items():
        value = getattr(args, flag)
        if value is not None:
            values[key] = value
    symbols = _split_symbols(args.symbols)
    if symbols:
        values["symbols"] = symbols
    elif not args.config:
        values["symbols"] = None  # derived from the data: the file's symbol, or BTC/USDT
    strategies = args.strategy or []
    if len(strategies) > 1:
        entries = [{"strategy": ref, "params": {}} for ref in strategies]
        names = {ref: i for i, ref in enumerate(strategies)}
        for key, value in args.param:
            ref, dot, name = key.rpartition(".")
            if not dot or ref not in names:
                raise ConfigError(f"--param {key}={value}: with several strategies, name the "
                                  f"strategy: --param <strategy>.{name or key}=VALUE, one of "
                                  f"{', '.join(strategies)}")
            entries[names[ref]]["params"][name] = value
        values["strategies"] = entries
    else:
        if strategies:
            values["strategy"] = strategies[0]
        if args.param:
            params = dict(base.params)
            prefix = f"{values.get('strategy', base.strategy)}."
            params.update({k[len(prefix):] if k.startswith(prefix) else k: v
                           for k, v in args.param})
            values["params"] = params
    return base.replace(**values)


def cmd_backtest(args: argparse.Namespace) -> int:
    from rich.console import Console

    from engine.errors import ConfigError
    from engine.run import run_config

    config = config_from_args(args)
    if args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {args.workers}")
    if args.address and not args.workers:
        raise ConfigError("--address joins a Ray cluster for the actor graph: give --workers N")
    console = Console(stderr=True)
    show_progress = not args.quiet and console.is_terminal

    def run(progress: Any) -> Any:
        if not args.workers:
            return run_config(config, progress=progress, batch=args.batch)
        # The command line is the one place outside actors/ that starts the Ray graph.
        import ray

        from actors.graph import GraphRun
        graph = GraphRun(config, workers=args.workers, address=args.address)
        try:
            return graph.result(progress)
        finally:
            if graph.started_ray:
                ray.shutdown()

    if show_progress:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        with Progress(TextColumn("backtest"), BarColumn(), MofNCompleteColumn(),
                      _rate_column(), TimeRemainingColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("events", total=None)
            result = run(lambda done, total: bar.update(task, completed=done, total=total))
    else:
        result = run(None)
    if not args.quiet:
        print_summary(result)
    if args.output:
        out = result.write(args.output)
        print(f"wrote {out / 'result.json'}, {out / 'trades.csv'} and {out / 'fills.csv'}")
    for fault in result.faults:
        print(f"strategy {fault.strategy_id} faulted in {fault.hook}: {fault.error}",
              file=sys.stderr)
    return EXIT_FAULT if result.faults else EXIT_OK


def _rate_column() -> Any:
    """A progress column showing events per second."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.speed
            return Text(f"{speed:,.0f} events/s" if speed else "", style="progress.data.speed")

    return RateColumn()


def print_summary(result: Any) -> None:
    """A readable summary table of a result on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cfg = result.config
    feeds = result.data["feeds"]
    names = ", ".join(e["strategy"] for e in cfg.strategy_entries())
    title = (f"{names} on {', '.join(f['symbol'] for f in feeds)} "
             f"({feeds[0]['timeframe'] or feeds[0]['kind']}, {result.data['source']})")
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for label, value in result.summary_rows():
        table.add_row(label, value)
    table.add_row("Fills", str(result.metrics.get("n_fills")))
    table.add_row("Fees paid", f"{result.metrics.get('total_fees', 0.0):,.2f}")
    table.add_row("Events", f"{result.metrics.get('events'):,}")
    table.add_row("Events per second", f"{result.timing['events_per_second']:,.0f}")
    table.add_row("Config hash", result.config_hash[:16])
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RaytraderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a graph that lost an actor is a failed run, not a usage error
        return EXIT_FAULT if type(exc).__name__ == "GraphError" else EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
