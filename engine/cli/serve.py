"""``raytrader serve``: the control API (REST and WebSocket under ``/api/v1``, ``/metrics``,
docs at ``/docs``) on uvicorn.

    RAYTRADER_API_TOKEN=... raytrader serve [--host 127.0.0.1] [--port 8080]

It listens on 127.0.0.1 unless told otherwise, and refuses a host beyond loopback without
``RAYTRADER_API_TOKEN``; state-changing calls need ``Authorization: Bearer <token>``. Logs are
JSON lines on stderr (``--log-format console`` for a terminal).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.cli import EXIT_OK


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve``."""
    p = subparsers.add_parser("serve", help="run the control API (REST, WebSocket, metrics)",
                              description="Run the control API on uvicorn.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else needs "
                        "RAYTRADER_API_TOKEN)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--catalog", help="the Parquet catalog the API reads and uploads into "
                                     "(default: $RAYTRADER_CATALOG or ./catalog)")
    p.add_argument("--state-dir", type=Path, default=Path("runs/api"),
                   help="where backtest results and the agent's state go (default runs/api)")
    p.add_argument("--rate", type=float, default=20.0,
                   help="calls a second per client, on average (default 20)")
    p.add_argument("--burst", type=float, default=60.0, help="burst of calls (default 60)")
    p.add_argument("--protect-reads", action="store_true",
                   help="every route but /api/v1/health needs the token, reads included")
    p.add_argument("--ray-address", metavar="HOST:PORT",
                   help="attach to this Ray cluster ('auto': the one on this machine), so "
                        "/api/v1/metrics/targets lists its graph actors for Prometheus")
    p.add_argument("--log-format", choices=("json", "console"),
                   help="log lines as JSON (default off a terminal) or readable text")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.errors import ConfigError
    from engine.obs import logs
    from engine.server.app import create_app
    from engine.server.security import check_bind
    from engine.server.settings import ServerSettings

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be 1-65535, got {args.port}")
    settings = ServerSettings.from_env(host=args.host, port=args.port, catalog=args.catalog,
                                       state_dir=args.state_dir, rate=args.rate,
                                       burst=args.burst, protect_reads=args.protect_reads)
    check_bind(settings.host, settings.token)
    logs.configure(args.log_format, actor="api")
    cluster_targets = None
    if args.ray_address:
        # the actor layer, through its entry point: engine/ never imports Ray or actors
        from engine.cli.runners import find_runner

        runner = find_runner("graph", "--ray-address")
        attach = getattr(runner, "attach_cluster", None)
        if attach is None:
            raise ConfigError("--ray-address: the installed graph runner cannot attach to a "
                              "cluster (reinstall raytrader)")
        cluster_targets = attach(args.ray_address)
    app = create_app(settings, cluster_targets=cluster_targets)
    print(f"raytrader API on http://{settings.host}:{settings.port}/api/v1 (docs: /docs, "
          f"metrics: /metrics)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, lifespan="on")
    return EXIT_OK


__all__ = ["add_serve_command", "cmd_serve"]
