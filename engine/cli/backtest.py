"""``raytrader backtest``: the flags, the config they describe, and the run.

Flags override the ``--config`` file's values; the defaults shown by ``--help`` are
``BacktestConfig``'s. ``--workers 0`` (the default) runs in this process; ``--workers N`` hands
the config to the actor-graph runner (see ``engine.cli.runners``). Everything that can be
checked before the run is: the config, the strategy parameters, the runner, and that
``--output`` can be written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from engine.cli import EXIT_FAULT, EXIT_OK
from engine.cli.runners import find_runner
from engine.cli.summary import print_import_reports, print_summary, print_written, progress_bar
from engine.errors import ConfigError
from engine.result_files import OUTPUT_FORMATS
from engine.risk import RiskLimits

_RISK_FIELDS = tuple(f.name for f in dataclasses.fields(RiskLimits))

# Flag (argparse dest) -> BacktestConfig key, for flags that set a config value as given.
# flags that set the config key of the same name (``fee_bps`` sets both fee rates; a rate
# given beside it wins, as the config resolves it)
_CONFIG_FLAGS = (
    "data", "start", "end", "timeframe", "capital", "fee_bps", "maker_fee_bps",
    "taker_fee_bps", "slippage_model", "slippage_bps", "impact_base_bps", "impact_k_bps",
    "latency_ms", "max_volume_share", "limit_fill", "seed", "venue", "catalog", "skip_bad",
    "max_open_positions", "max_gross_exposure", "equity_interval", "account",
    "on_insufficient", "max_drawdown", "max_daily_loss", "stop_loss", "kill_at", "sizing",
    "max_leverage", "max_position_share", "max_order_notional", "max_consecutive_losses",
    "cooldown", "max_cost_bps", "max_orders_per_minute", "synthetic_params",
)


def add_backtest_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``backtest`` on an argparse subparsers object (``func`` = :func:`cmd_backtest`)."""
    bt = subparsers.add_parser("backtest", help="run a backtest in this process or on Ray",
                               description="Backtest a strategy. Defaults: SMA crossover on the "
                                           "built-in synthetic market, 1h bars, one year.")
    add_run_options(bt)
    bt.add_argument("--workers", type=int, default=0,
                    help="strategy-worker processes of the Ray actor graph; 0 (default) runs "
                         "in this process without Ray")
    bt.add_argument("--address", help="join this Ray cluster (host:port or 'auto') instead "
                                      "of starting a local Ray; needs --workers")
    bt.add_argument("--metrics-port", type=int, metavar="PORT",
                    help="serve Prometheus metrics of the run (its progress, then its "
                         "result) on this port of 127.0.0.1 (0: a free one)")
    bt.add_argument("--no-dashboard", action="store_true",
                    help="with --workers N and a local Ray: do not start Ray's dashboard")
    bt.add_argument("--batch", action="store_true",
                    help="with --workers 0: use the strategies' batch paths (same result)")
    bt.add_argument("--output", help="write result.json and the trades and fills tables here "
                                     "(checked before the run, each file written whole or not "
                                     "at all)")
    add_output_format(bt)
    bt.add_argument("--quiet", action="store_true",
                    help="no progress bar, import report or summary table")
    bt.set_defaults(func=cmd_backtest)
    return bt


def add_run_options(bt: argparse.ArgumentParser) -> None:
    """The flags that describe one backtest (``--config``, strategy and parameters, data,
    costs, risk, sizing; read back by :func:`config_from_args`): ``backtest`` has them, and so
    does every research job that runs backtests (``raytrader stress``)."""
    d = _DefaultText()
    bt.add_argument("--config", help="JSON config file; flags given here override its values")
    bt.add_argument("--strategy", action="append",
                    help="built-in name or alias (see `raytrader strategies`) or module:Class "
                         "(modules in the working directory are found too); repeat it to run "
                         "several strategies on every symbol" + d("strategy"))
    bt.add_argument("--param", action="append", type=_parse_param, default=[],
                    metavar="[STRATEGY.]NAME=VALUE",
                    help="strategy parameter (repeatable); with several strategies, prefix "
                         "the strategy: --param sma_cross.fast=20")
    bt.add_argument("--data", help="'synthetic', 'synthetic:trades', 'synthetic:quotes', a "
                                   "CSV/JSON path (format detected), or 'catalog[:DIR]'"
                                   + d("data"))
    bt.add_argument("--symbols", action="append", metavar="A,B",
                    help="symbols (comma-separated or repeated); any names for synthetic data; "
                         "with a file, the file's instrument (taken from the file, or from a "
                         "file name such as BTCUSDT-1m-2024-01.csv, when not given)")
    bt.add_argument("--symbol", dest="symbols", action="append", metavar="A",
                    help="the same as --symbols")
    bt.add_argument("--start", help="first bar open time, e.g. 2021-01-01 (inclusive)")
    bt.add_argument("--end", help="end time, e.g. 2021-06-01 (exclusive)")
    bt.add_argument("--timeframe", help="bar timeframe, e.g. 1m, 15m, 1h, 1d (default: the "
                                        "file's; 1h for synthetic data)")
    bt.add_argument("--capital", type=float,
                    help="initial capital in quote currency" + d("capital"))
    bt.add_argument("--fee-bps", type=float,
                    help="maker and taker fee, bps of notional"
                         + d("maker_fee_bps", "taker_fee_bps", labels=("maker", "taker")))
    bt.add_argument("--maker-fee-bps", type=float,
                    help="maker fee, bps (overrides --fee-bps)" + d("maker_fee_bps"))
    bt.add_argument("--taker-fee-bps", type=float,
                    help="taker fee, bps (overrides --fee-bps)" + d("taker_fee_bps"))
    bt.add_argument("--slippage-model", choices=["fixed", "sqrt"],
                    help="slippage on taker fills: 'fixed' adds --slippage-bps; 'sqrt' adds "
                         "--impact-base-bps + --impact-k-bps * sqrt(fill size / event volume)"
                         + d("slippage_model"))
    bt.add_argument("--slippage-bps", type=float,
                    help="fixed model: slippage on taker fills, bps" + d("slippage_bps"))
    bt.add_argument("--impact-base-bps", type=float,
                    help="sqrt model: base, bps" + d("impact_base_bps"))
    bt.add_argument("--impact-k-bps", type=float,
                    help="sqrt model: k in k*sqrt(size/volume), bps" + d("impact_k_bps"))
    bt.add_argument("--latency-ms", type=float, help="order latency, ms" + d("latency_ms"))
    bt.add_argument("--max-volume-share", type=float,
                    help="largest share of one event's volume fills may take (0..1]"
                         + d("max_volume_share"))
    bt.add_argument("--limit-fill", choices=["through", "touch"],
                    help="when a resting limit order fills: 'through' once the market trades "
                         "beyond its price, 'touch' also at its price" + d("limit_fill"))
    bt.add_argument("--seed", type=int, help="seed of the synthetic market" + d("seed"))
    bt.add_argument("--synthetic-params", metavar="FILE",
                    help="parameters of the synthetic market, a JSON file as written by "
                         "'raytrader synthetic fit' (default: built-in, fitted to Binance "
                         "BTC/USDT and ETH/USDT hourly 2017-2021)")
    bt.add_argument("--venue", help="venue name (catalog reads, reports)" + d("venue"))
    bt.add_argument("--catalog", help="catalog folder for --data catalog (default: "
                                      "$RAYTRADER_CATALOG or ./catalog)")
    bt.add_argument("--skip-bad", action="store_true", default=None,
                    help="skip malformed CSV rows (counted in the report) instead of failing")
    bt.add_argument("--max-open-positions", type=int,
                    help="portfolio limit: (symbol, strategy) pairs open at once (default: none)")
    bt.add_argument("--max-gross-exposure", type=float,
                    help="portfolio limit: gross exposure as a multiple of equity "
                         "(default: none)")
    bt.add_argument("--risk", dest="risk_preset", metavar="PRESET",
                    help="risk preset: conservative, medium or aggressive (max drawdown, daily "
                         "loss, position size, stop, breakers; any field can be overridden by "
                         "its own flag or --risk-set); see docs/risk.md")
    bt.add_argument("--risk-set", action="append", type=_parse_param, default=[],
                    metavar="FIELD=VALUE",
                    help="set any risk field, e.g. --risk-set max_drawdown=0.12 "
                         "--risk-set block_regime=VOLATILE (repeatable; JSON values)")
    bt.add_argument("--account", choices=["spot", "margin"],
                    help="spot (cash only, no shorts) or margin (leverage, shorts, "
                         "liquidation)" + d("account"))
    bt.add_argument("--on-insufficient", choices=["deny", "reduce"],
                    help="an order past buying power or a position cap is denied or cut to "
                         "fit" + d("on_insufficient"))
    bt.add_argument("--max-leverage", type=float,
                    help="margin account: gross exposure / equity" + d("max_leverage"))
    bt.add_argument("--max-drawdown", type=float,
                    help="breaker: drawdown from the equity peak (fraction) that halts")
    bt.add_argument("--max-daily-loss", type=float,
                    help="breaker: loss in a UTC day (fraction of its opening equity) that "
                         "halts until the next day")
    bt.add_argument("--max-position-share", type=float,
                    help="limit: a symbol's position as a share of equity")
    bt.add_argument("--max-order-notional", type=float, help="limit: one order's notional")
    bt.add_argument("--max-consecutive-losses", type=int,
                    help="breaker: losing round trips in a row that pause a strategy")
    bt.add_argument("--cooldown", help="after a loss, no new entry on the symbol for this "
                                       "long (doubles with each further loss), e.g. 1h")
    bt.add_argument("--max-cost-bps", type=float,
                    help="pre-trade check: estimated half spread plus impact, in bps")
    bt.add_argument("--max-orders-per-minute", type=int, help="order-rate throttle")
    bt.add_argument("--stop-loss", type=float,
                    help="every entry gets a protective stop this far below (above, for "
                         "shorts) its fill price, as a fraction")
    bt.add_argument("--kill-at", help="kill switch at this time (cancel all, flatten, halt)")
    bt.add_argument("--sizing", metavar="POLICY",
                    help="size entries by a policy, e.g. fixed_fraction:fraction=0.05, "
                         "kelly:kelly_scale=0.5, volatility_target:vol_target=0.2 "
                         "(see docs/sizing.md)")
    bt.add_argument("--equity-interval",
                    help="equity curve resolution: a timeframe or 'event' (default: 1m)")


def add_output_format(parser: argparse.ArgumentParser) -> None:
    """``--output-format``, the format of the trades and fills tables ``--output`` writes."""
    from engine.result_files import PARQUET_FILLS_THRESHOLD

    parser.add_argument("--output-format", choices=OUTPUT_FORMATS, default="auto",
                        help="trades and fills as CSV, Parquet or both; 'auto' (the default) "
                             "writes CSV, or Parquet instead past "
                             f"{PARQUET_FILLS_THRESHOLD:,} fills")


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


class _DefaultText:
    """`` (default: X)`` help suffixes read from ``BacktestConfig``'s defaults, so the help
    never disagrees with what a run without the flag does."""

    def __init__(self) -> None:
        from engine.config import BacktestConfig

        self.values: dict[str, Any] = {}
        self._flatten(BacktestConfig().to_dict())

    def _flatten(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping) and key != "params":
                self._flatten(value)       # a nested section (venue costs, risk limits)
            else:
                self.values.setdefault(key, value)

    def __call__(self, *keys: str, labels: tuple[str, ...] = ()) -> str:
        shown = [_show(self.values[k]) for k in keys if self.values.get(k) is not None]
        if len(shown) != len(keys):
            return ""
        if labels:
            shown = [f"{label} {value}" for label, value in zip(labels, shown)]
        return f" (default: {', '.join(shown)})"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:g}"
    return str(value)


def config_from_args(args: argparse.Namespace) -> Any:
    """The BacktestConfig described by the config file (if any) and the flags."""
    from engine.config import BacktestConfig
    from engine.strategy import builtin_name

    base = BacktestConfig.from_file(args.config) if args.config else BacktestConfig()
    values: dict[str, Any] = {}   # the flags' changes to the file's (or the default) config
    for key in _CONFIG_FLAGS:
        value = getattr(args, key)
        if value is not None:
            values[key] = value
    if args.risk_preset is not None:
        values["risk_preset"] = args.risk_preset
    for key, text in args.risk_set:
        if key not in _RISK_FIELDS:
            raise ConfigError(f"--risk-set {key}={text}: unknown risk field {key!r}; fields: "
                              f"{', '.join(_RISK_FIELDS)}")
        try:
            values[key] = json.loads(text)
        except json.JSONDecodeError:
            values[key] = text    # a bare word: a string value (VOLATILE, 1h, margin)
    symbols = _split_symbols(args.symbols)
    if symbols:
        values["symbols"] = symbols
    elif not args.config:
        values["symbols"] = None  # derived from the data: the file's symbol, or BTC/USDT
    strategies = args.strategy or []
    if len(strategies) > 1:
        entries = [{"strategy": ref, "params": {}} for ref in strategies]
        # a scope may name a strategy by its alias or its built-in name
        names = {builtin_name(ref): i for i, ref in enumerate(strategies)}
        for key, value in args.param:
            ref, dot, name = key.rpartition(".")
            if not dot or builtin_name(ref) not in names:
                raise ConfigError(f"--param {key}={value}: with several strategies, name the "
                                  f"strategy: --param <strategy>.{name or key}=VALUE, one of "
                                  f"{', '.join(strategies)}")
            entries[names[builtin_name(ref)]]["params"][name] = value
        values["strategies"] = entries
    else:
        if strategies:
            values["strategy"] = strategies[0]
        if args.param:
            params = dict(base.params)
            mine = builtin_name(values.get("strategy", base.strategy))
            for key, value in args.param:
                ref, dot, name = key.rpartition(".")
                params[name if dot and builtin_name(ref) == mine else key] = value
            values["params"] = params
    return base.replace(**values)


def _watch_metrics(args: argparse.Namespace) -> Any:
    """With ``--metrics-port``: this process's exporter, and the run's watch."""
    if args.metrics_port is None:
        return None
    from engine.obs.exporter import serve_metrics, targets_dir, write_targets
    from engine.obs.run import RunWatch

    if not 0 <= args.metrics_port < 65536:
        raise ConfigError(f"--metrics-port must be 0-65535, got {args.metrics_port}")
    host, port = serve_metrics("127.0.0.1", args.metrics_port)
    print(f"metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    where = targets_dir()
    if where is not None:
        write_targets(where / f"raytrader-backtest-{os.getpid()}.json",
                      [{"address": f"{host}:{port}", "actor": "backtest",
                        "kind": "backtest"}])
    return RunWatch("backtest" if not args.workers else "driver")


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run ``raytrader backtest``; returns the exit code."""
    from rich.console import Console

    from engine.outputs import check_output_dir
    from engine.run import run_config

    config = config_from_args(args)
    if args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {args.workers}")
    if args.address and not args.workers:
        raise ConfigError("--address joins a Ray cluster for the actor graph: give --workers N")
    runner = find_runner("graph", "--workers") if args.workers else None
    if runner is not None and not args.address:
        # the graph runner starts a local Ray with its dashboard unless told not to
        # (RAYTRADER_RAY_DASHBOARD=0 in the environment keeps it off too)
        if args.no_dashboard:
            os.environ["RAYTRADER_RAY_DASHBOARD"] = "0"
        else:
            os.environ.setdefault("RAYTRADER_RAY_DASHBOARD", "1")
    output = check_output_dir(args.output, what="--output") if args.output else None
    watch = _watch_metrics(args)

    def run(progress: Any) -> Any:
        if watch is not None:
            shown = progress

            def progress(done: int, total: int) -> None:
                watch.progress(done, total)
                if shown is not None:
                    shown(done, total)

        if runner is None:
            result = run_config(config, progress=progress, batch=args.batch)
        else:
            result = runner(config, workers=args.workers, address=args.address,
                            progress=progress)
        if watch is not None:
            watch.finish(result)
        return result

    console = Console(stderr=True)
    if not args.quiet and console.is_terminal:
        with progress_bar(console) as progress:
            result = run(progress)
    else:
        result = run(None)
    if not args.quiet:
        print_import_reports(result, sys.stderr)
        print_summary(result)
    if output is not None:
        try:
            out = result.write(output, args.output_format)
        except OSError as exc:
            print(f"error: --output {output}: cannot write the results: {exc}", file=sys.stderr)
            return EXIT_FAULT
        print_written(out, result.table_files(args.output_format))
    for fault in result.faults:
        print(f"strategy {fault.strategy_id} faulted in {fault.hook}: {fault.error}",
              file=sys.stderr)
    return EXIT_FAULT if result.faults else EXIT_OK
