"""``raytrader paper`` and ``raytrader live``: the backtest's strategies, parameters, symbols
and risk options on live market data from an exchange, filled by the simulated venue (paper)
or by the exchange itself (live, which refuses to start without ``--live``).

    raytrader paper --exchange binance --symbols BTC/USDT --strategy sma_cross --duration 600
    raytrader live --live --exchange binance --symbols BTC/USDT --journal live.db

``--exchange-config FILE``: a JSON object whose keys go to the ccxt constructor (``options``,
``enableRateLimit``, ...), except ``rest_url`` and ``ws_url``, which replace the scheme and host
of every REST and websocket URL of the exchange (a testnet, a proxy, a local test exchange).
Live keys come from ``<EXCHANGE>_API_KEY`` / ``<EXCHANGE>_API_SECRET`` in the environment or
``.env``; they never appear in logs, errors, the journal or the results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.cli import EXIT_FAULT, EXIT_OK
from engine.cli.backtest import _CONFIG_FLAGS, _parse_param, add_output_format, config_from_args
from engine.cli.summary import print_summary, print_written
from engine.config import read_json_object
from engine.errors import ConfigError


def add_live_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``paper`` and ``live``."""
    for name, text in (("paper", "trade on live data with simulated fills"),
                       ("live", "trade on an exchange (needs --live)")):
        p = subparsers.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")
        p.add_argument("--config", help="JSON config file; flags given here override it")
        p.add_argument("--strategy", action="append",
                       help="built-in name or module:Class; repeat for several")
        p.add_argument("--param", action="append", type=_parse_param, default=[],
                       metavar="[STRATEGY.]NAME=VALUE", help="strategy parameter (repeatable)")
        p.add_argument("--symbols", action="append", metavar="A,B", required=True,
                       help="the exchange's symbols, e.g. BTC/USDT,ETH/USDT")
        p.add_argument("--timeframe", help="trade on closed bars of this timeframe (default: "
                                           "on every trade)")
        p.add_argument("--capital", type=float, help="the capital the session may use")
        p.add_argument("--fee-bps", type=float, help="paper: both fee rates, in bps")
        p.add_argument("--risk", dest="risk_preset", metavar="PRESET",
                       help="risk preset: conservative, medium or aggressive")
        p.add_argument("--risk-set", action="append", type=_parse_param, default=[],
                       metavar="FIELD=VALUE", help="any risk field (repeatable)")
        p.add_argument("--sizing", metavar="POLICY", help="sizing policy, as for backtest")
        p.add_argument("--stop-loss", type=float, help="a protective stop on every entry")
        p.add_argument("--max-drawdown", type=float, help="breaker: drawdown that halts")
        p.add_argument("--max-daily-loss", type=float, help="breaker: loss in a UTC day")
        p.add_argument("--exchange", required=True, help="a ccxt exchange id, e.g. binance")
        p.add_argument("--exchange-config", metavar="FILE",
                       help="JSON: ccxt constructor keys, plus rest_url / ws_url")
        p.add_argument("--sandbox", action="store_true", help="the exchange's own testnet")
        p.add_argument("--duration", type=float, metavar="SECONDS",
                       help="stop by itself after this long (default: until Ctrl-C)")
        p.add_argument("--output", help="write the result files here (as a backtest does)")
        add_output_format(p)
        p.add_argument("--record", metavar="CATALOG",
                       help="write the session's market data to this Parquet catalog, for "
                            "`raytrader backtest --data catalog:CATALOG` to replay it")
        p.add_argument("--quiet", action="store_true", help="no summary table")
        p.add_argument("--feed", choices=("trades", "quotes"), default="trades",
                       help="the market the strategies see: every trade (closed bars with "
                            "--timeframe), or the best bid and ask (default: trades)")
        p.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="serve Prometheus metrics on this port (0: a free one) while the "
                            "session runs")
        p.add_argument("--metrics-host", default="127.0.0.1",
                       help="address for --metrics-port (default 127.0.0.1)")
        p.add_argument("--log-format", choices=("json", "console"),
                       help="structured log lines on stderr (default: none unless "
                            "RAYTRADER_LOG_FORMAT is set)")
        p.add_argument("--heartbeat", type=float, default=10.0, metavar="SECONDS",
                       help="print a heartbeat line (events, fills, working orders, equity, "
                            "data age) to stderr this often; 0 for none (default: 10)")
        if name == "live":
            p.add_argument("--flatten", action="store_true",
                           help="on the way out (duration, Ctrl-C), close every position "
                                "with a market order after canceling working orders")
            p.add_argument("--live", action="store_true",
                           help="really trade: without it, live refuses to start")
            p.add_argument("--journal", default="live-journal.db",
                           help="the SQLite journal; a second run on it resumes "
                                "(default: live-journal.db)")
        # what config_from_args reads that these commands do not offer
        p.set_defaults(func=cmd_live if name == "live" else cmd_paper,
                       **{k: None for k in _CONFIG_FLAGS
                          if k not in ("timeframe", "capital", "fee_bps", "sizing",
                                       "stop_loss", "max_drawdown", "max_daily_loss")})


def exchange_spec(args: argparse.Namespace) -> Any:
    """The exchange and its ccxt settings, from ``--exchange`` and ``--exchange-config``."""
    from engine.live.session import ExchangeSpec

    settings: dict[str, Any] = {}
    if args.exchange_config:
        path = Path(args.exchange_config)
        settings = read_json_object(path, "--exchange-config", "an exchange config")
        for secret in ("apiKey", "secret", "password"):
            if secret in settings:
                raise ConfigError(f"{path}: {secret!r} does not belong in a config file; "
                                  f"keys come from {args.exchange.upper()}_API_KEY and "
                                  f"{args.exchange.upper()}_API_SECRET")
    return ExchangeSpec(args.exchange, settings, sandbox=args.sandbox)


def _config(args: argparse.Namespace) -> Any:
    args.data = None
    config = config_from_args(args)
    return config


def _finish(result: Any, args: argparse.Namespace) -> int:
    if not args.quiet:
        print_summary(result)
    if args.output:
        out = result.write(args.output, args.output_format)
        print_written(out, result.table_files(args.output_format))
    for fault in result.faults:
        print(f"strategy {fault.strategy_id} faulted in {fault.hook}: {fault.error}",
              file=sys.stderr)
    return EXIT_FAULT if result.faults else EXIT_OK


def _heartbeat(args: argparse.Namespace) -> dict[str, Any]:
    if args.heartbeat is None or args.heartbeat == 0:
        return {}
    if not args.heartbeat > 0:
        raise ConfigError(f"--heartbeat must be a positive number of seconds (or 0 for none), "
                          f"got {args.heartbeat}")
    return {"heartbeat": args.heartbeat,
            "on_heartbeat": lambda beat: print(beat.line(), file=sys.stderr, flush=True)}


def _observe(args: argparse.Namespace, kind: str) -> None:
    """Structured logs (``--log-format`` or ``RAYTRADER_LOG_FORMAT``) and the metrics
    exporter (``--metrics-port``) of this session's process."""
    import os

    from engine.obs import logs

    if args.log_format or os.environ.get("RAYTRADER_LOG_FORMAT"):
        logs.configure(args.log_format)
    if args.metrics_port is not None:
        from engine.obs.exporter import serve_metrics, targets_dir, write_targets

        if not 0 <= args.metrics_port < 65536:
            raise ConfigError(f"--metrics-port must be 0-65535, got {args.metrics_port}")
        host, port = serve_metrics(args.metrics_host, args.metrics_port)
        print(f"metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
        where = targets_dir()
        if where is not None:
            write_targets(where / f"raytrader-{kind}-{os.getpid()}.json",
                          [{"address": f"{host}:{port}", "actor": f"{kind}:{args.exchange}",
                            "kind": kind}])


def _run(session: Any) -> Any:
    """Run ``session`` with Ctrl-C (and SIGTERM) ending it gracefully: a live session still
    cancels its working orders (and flattens, if asked); a second Ctrl-C stops at once."""
    import asyncio

    async def main() -> Any:
        restore = session.stop_on_signals()
        try:
            return await session.run()
        finally:
            restore()

    return asyncio.run(main())


def cmd_paper(args: argparse.Namespace) -> int:
    from engine.live.session import PaperSession

    _observe(args, "paper")
    session = PaperSession(_config(args), exchange_spec(args), args.duration,
                           feed=args.feed, **_heartbeat(args))
    result = _run(session)
    _record(session, args)
    return _finish(result, args)


def _record(session: Any, args: argparse.Namespace) -> None:
    if args.record:
        for line in session.record(args.record):
            print(f"recorded {line} in {args.record}")


def cmd_live(args: argparse.Namespace) -> int:
    from engine.live.secrets import load_credentials
    from engine.live.session import LiveSession

    if not args.live:
        raise ConfigError("live trading places real orders: add --live to mean it (or use "
                          "`raytrader paper` to trade on live data with simulated fills)")
    config = _config(args)
    spec = exchange_spec(args)
    _observe(args, "live")
    credentials = load_credentials(args.exchange)
    session = LiveSession(config, spec, credentials, args.journal, args.duration,
                          flatten=args.flatten, feed=args.feed, **_heartbeat(args))
    result = _run(session)
    _record(session, args)
    return _finish(result, args)


__all__ = ["add_live_commands", "cmd_live", "cmd_paper", "exchange_spec"]
