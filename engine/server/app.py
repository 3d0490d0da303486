"""The control API's routes (``create_app``): REST under ``/api/v1``, the websocket at
``/ws``, Prometheus metrics at ``/metrics``, OpenAPI docs at ``/docs``.

| route | what |
|---|---|
| ``GET /api/v1/health`` | up, version, uptime, what runs |
| ``POST /api/v1/backtest/run?workers=N`` | start a backtest (body: backtest config fields) |
| ``GET /api/v1/backtest/{id}`` · ``/trades`` · ``POST .../cancel`` | watch, read, stop it |
| ``GET /api/v1/agent/status`` · ``POST /api/v1/agent/{start,stop,pause,resume,emergency-stop}`` | the paper agent |
| ``GET /api/v1/orders`` · ``/positions`` · ``/signals`` · ``/performance`` | the agent's books |
| ``GET /api/v1/risk/status`` · ``POST /api/v1/risk/kill-switch`` | risk |
| ``GET/POST /api/v1/strategies`` · ``PATCH/DELETE /api/v1/strategies/{id}`` | hot swap |
| ``GET /api/v1/alerts`` · ``POST /api/v1/alerts/{id}/ack`` · ``/api/v1/alerts/rules`` | copilot |
| ``GET /api/v1/data/symbols`` · ``/history`` · ``POST /api/v1/data/upload`` | the catalog |
| ``GET /api/v1/metrics/targets`` | Prometheus HTTP service discovery |
"""  # noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from engine.alerts import AlertCenter, Rule, default_rules
from engine.errors import ConfigError, DataError, NoDataError, RaytraderError
from engine.obs import logs
from engine.obs.exporter import sd_groups
from engine.obs.metrics import Samples, add_collector, remove_collector
from engine.server.agent import Agent, AgentError
from engine.server.backtests import Backtests, _plain, check_request
from engine.server.hub import CHANNELS, Hub
from engine.server.models import (AgentStart, AlertRuleCreate, Reason, StrategyParams,
                                  StrategyRegister)
from engine.server.security import WRITE_COST, WRITES, RateLimiter, TokenGuard
from engine.server.settings import ServerSettings

API = "/api/v1"


class State:
    """What the app holds: the hub, the backtests, the agent, the alerts."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.started = time.time()
        self.hub = Hub()
        self.alerts = AlertCenter(default_rules(),
                                  publish=lambda view: self.hub.publish("alerts", view),
                                  webhook_url=settings.webhook_url)
        self.backtests = Backtests(self.hub, settings.state_dir / "backtests",
                                   settings.parallel_backtests)
        self.agent = Agent(self.hub, settings.state_dir / "agent",
                           on_observation=self.observe)
        self.requests: dict[tuple[str, str, str], int] = {}

    def observe(self, kind: str, data: Any) -> None:
        """What the agent saw, for the alert rules."""
        self.alerts.observe(kind, data)

    def samples(self, samples: Samples) -> None:
        samples.add("raytrader_run_info", 1.0, run_id="", actor="api", kind="api")
        for (method, route, status), n in list(self.requests.items()):
            samples.add("raytrader_api_requests_total", n, method=method, route=route,
                        status=status)
        self.backtests.samples(samples)
        self.alerts.samples(samples)


def create_app(settings: ServerSettings | None = None, *,
               cluster_targets: Callable[[], list[dict[str, Any]]] | None = None) -> FastAPI:
    """The control API over ``settings`` (the environment's when None). ``cluster_targets``
    lists the metrics targets of the Ray cluster's graph actors (``actors.targets``, handed in
    by ``raytrader serve --ray-address``), for ``/api/v1/metrics/targets``."""
    settings = settings or ServerSettings.from_env()
    state = State(settings)
    guard = TokenGuard(settings.token)
    limiter = RateLimiter(settings.rate, settings.burst)
    write = [Depends(guard)]
    log = logs.get_logger("raytrader.api")
    if settings.token:
        logs.register_secrets([settings.token])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.hub.attach(asyncio.get_running_loop())
        collector = add_collector(state.samples)
        log.info("api started", host=settings.host, port=settings.port,
                 token=bool(settings.token))
        try:
            yield
        finally:
            remove_collector(collector)
            await asyncio.to_thread(state.agent.close)
            await asyncio.to_thread(state.backtests.close)
            state.alerts.close()
            log.info("api stopped")

    app = FastAPI(title="raytrader control API", version="1", lifespan=lifespan,
                  description="Backtests, the paper agent, risk, strategies, alerts and "
                              "market data. State-changing calls need "
                              "`Authorization: Bearer <RAYTRADER_API_TOKEN>`.")
    app.state.raytrader = state

    # --- middleware: rate limit, request counts ------------------------------------------

    @app.middleware("http")
    async def limit_and_count(request: Request, call_next: Any) -> Response:
        client = request.client.host if request.client else "unknown"
        cost = WRITE_COST if request.method in WRITES else 1.0
        wait = limiter.take(client, cost)
        refusal: HTTPException | None = None
        if settings.protect_reads and request.method not in WRITES and \
                request.url.path != f"{API}/health":
            try:
                guard.check(request.headers.get("authorization"), "this server guards reads")
            except HTTPException as exc:
                refusal = exc
        if refusal is not None:
            response: Response = JSONResponse({"detail": refusal.detail},
                                              status_code=refusal.status_code,
                                              headers=refusal.headers)
        elif wait > 0:
            response = JSONResponse(
                {"detail": f"rate limit: {settings.rate:g} calls/s (bursts of "
                           f"{settings.burst:g}); retry in {wait:.1f} s"},
                status_code=429, headers={"Retry-After": str(max(int(wait + 0.999), 1))})
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        key = (request.method, template, str(response.status_code))
        state.requests[key] = state.requests.get(key, 0) + 1
        return response

    # --- errors: clear 4xx, never a secret ----------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                    for e in exc.errors()]
        return JSONResponse({"detail": "; ".join(problems) or "invalid request",
                             "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg")}
                                        for e in exc.errors()]}, status_code=422)

    @app.exception_handler(ConfigError)
    async def bad_config(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(AgentError)
    async def agent_conflict(request: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(RaytraderError)
    async def other_error(request: Request, exc: RaytraderError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    # --- health, metrics ----------------------------------------------------------------

    @app.get(f"{API}/health", tags=["health"])
    def health() -> dict[str, Any]:
        from engine.cli import package_version

        return {"status": "ok", "version": package_version(),
                "uptime_s": round(time.time() - state.started, 3),
                "agent": state.agent.state,
                "backtests_running": sum(j.status == "running"
                                         for j in list(state.backtests.jobs.values())),
                "token_configured": guard.token is not None}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get(f"{API}/metrics/targets", tags=["health"])
    def metrics_targets(request: Request) -> list[dict[str, Any]]:
        """Prometheus ``http_sd_configs``: this server and every graph actor of the Ray
        cluster this process is attached to."""
        host = request.headers.get("host") or f"{settings.host}:{settings.port}"
        targets: list[dict[str, Any]] = [{"address": host, "actor": "api", "kind": "api"}]
        if cluster_targets is not None:
            targets += cluster_targets()
        return sd_groups(targets)

    # --- backtests ----------------------------------------------------------------------

    @app.post(f"{API}/backtest/run", status_code=202, dependencies=write, tags=["backtest"])
    async def backtest_run(request: Request,
                           workers: int = Query(0, ge=0, le=256, description=(
                               "strategy-worker processes of the Ray actor graph; 0 runs "
                               "in the server's process"))) -> dict[str, Any]:
        """Start a backtest. The body is a backtest config: the fields of a config file
        (``strategy``/``params`` or ``strategies``, ``symbols``, ``start``, ``end``,
        ``timeframe``, ``capital``, fees, risk fields, ...). Data: ``synthetic`` (or
        ``synthetic:trades``/``synthetic:quotes``) or ``catalog`` (the server's)."""
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise HTTPException(422, "the body must be a JSON object of backtest config "
                                     "fields") from None
        config = check_request(body, settings.catalog)
        from engine.run import complete_params

        config = complete_params(config)   # unknown strategies and bad params: 422 now
        job = state.backtests.start(config, workers)
        return job.view()

    @app.get(f"{API}/backtests", tags=["backtest"])
    def backtests() -> list[dict[str, Any]]:
        return [{"id": j.id, "status": j.status, "created": j.created,
                 "progress": {"done": j.done, "total": j.total}}
                for j in list(state.backtests.jobs.values())]

    def job_of(job_id: str) -> Any:
        job = state.backtests.get(job_id)
        if job is None:
            raise HTTPException(404, f"no backtest {job_id!r}")
        return job

    @app.get(f"{API}/backtest/{{job_id}}", tags=["backtest"])
    def backtest_get(job_id: str) -> dict[str, Any]:
        return job_of(job_id).view()

    @app.get(f"{API}/backtest/{{job_id}}/trades", tags=["backtest"])
    def backtest_trades(job_id: str, offset: int = Query(0, ge=0),
                        limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
        job = job_of(job_id)
        if job.result is None:
            raise HTTPException(409, f"backtest {job_id} is {job.status}: no trades yet")
        trades = job.result.trades
        page = trades.iloc[offset:offset + limit]
        rows = json.loads(page.to_json(orient="records", date_format="iso"))
        return {"id": job_id, "total": len(trades), "offset": offset, "trades": rows}

    @app.post(f"{API}/backtest/{{job_id}}/cancel", dependencies=write, tags=["backtest"])
    def backtest_cancel(job_id: str) -> dict[str, Any]:
        job = job_of(job_id)
        if not state.backtests.cancel(job):
            raise HTTPException(409, f"backtest {job_id} has already ended ({job.status})")
        return job.view()

    # --- the agent ----------------------------------------------------------------------

    @app.get(f"{API}/agent/status", tags=["agent"])
    def agent_status() -> dict[str, Any]:
        return _plain(state.agent.status())

    @app.post(f"{API}/agent/start", status_code=202, dependencies=write, tags=["agent"])
    def agent_start(body: AgentStart) -> dict[str, Any]:
        from engine.config import BacktestConfig
        from engine.live.session import ExchangeSpec

        for secret in ("apiKey", "secret", "password", "uid", "privateKey"):
            if secret in body.exchange_config:
                raise HTTPException(422, f"exchange_config: {secret!r} is refused: the agent "
                                         f"trades on paper and never takes keys")
        if "data" in body.config:
            raise HTTPException(422, "config.data: the agent trades on the exchange's live "
                                     "data; leave data out")
        config = BacktestConfig.from_dict(body.config, source="config")
        spec = ExchangeSpec(body.exchange, dict(body.exchange_config), sandbox=body.sandbox)
        return _plain(state.agent.start(config, spec, duration=body.duration,
                                        feed=body.feed, resume=body.resume))

    @app.post(f"{API}/agent/stop", dependencies=write, tags=["agent"])
    async def agent_stop() -> dict[str, Any]:
        return _plain(await asyncio.to_thread(state.agent.stop))

    @app.post(f"{API}/agent/pause", dependencies=write, tags=["agent"])
    def agent_pause() -> dict[str, Any]:
        return _plain(state.agent.pause())

    @app.post(f"{API}/agent/resume", dependencies=write, tags=["agent"])
    def agent_resume() -> dict[str, Any]:
        return _plain(state.agent.resume())

    @app.post(f"{API}/agent/emergency-stop", dependencies=write, tags=["agent"])
    async def agent_emergency_stop(body: Reason | None = None) -> dict[str, Any]:
        reason = body.reason if body is not None else "emergency stop (API)"
        return _plain(await asyncio.to_thread(
            state.agent.emergency_stop, reason))

    @app.get(f"{API}/orders", tags=["agent"])
    def orders() -> dict[str, Any]:
        return _plain(state.agent.orders())

    @app.get(f"{API}/positions", tags=["agent"])
    def positions() -> list[dict[str, Any]]:
        return _plain(state.agent.positions())

    @app.get(f"{API}/signals", tags=["agent"])
    def signals() -> list[dict[str, Any]]:
        return _plain(state.agent.signals())

    @app.get(f"{API}/performance", tags=["agent"])
    def performance() -> dict[str, Any]:
        return _plain(state.agent.performance())

    @app.get(f"{API}/risk/status", tags=["risk"])
    def risk_status() -> dict[str, Any]:
        return _plain(state.agent.risk())

    @app.post(f"{API}/risk/kill-switch", dependencies=write, tags=["risk"])
    def kill_switch(body: Reason) -> dict[str, Any]:
        return _plain(state.agent.kill_switch(body.reason))

    # --- strategies (hot swap) ----------------------------------------------------------

    @app.get(f"{API}/strategies", tags=["strategies"])
    def strategies() -> list[dict[str, Any]]:
        return _plain(state.agent.strategies())

    @app.post(f"{API}/strategies", status_code=201, dependencies=write, tags=["strategies"])
    def strategy_register(body: StrategyRegister) -> dict[str, Any]:
        return state.agent.register(body.strategy, body.params, body.symbol, body.id)

    @app.patch(f"{API}/strategies/{{strategy_id:path}}", dependencies=write,
               tags=["strategies"])
    def strategy_params(strategy_id: str, body: StrategyParams) -> dict[str, Any]:
        try:
            return _plain(state.agent.reparameterize(
                strategy_id, body.params))
        except KeyError:
            raise HTTPException(404, f"no active strategy {strategy_id!r}") from None

    @app.delete(f"{API}/strategies/{{strategy_id:path}}", dependencies=write,
                tags=["strategies"])
    def strategy_unregister(strategy_id: str) -> dict[str, Any]:
        try:
            return state.agent.unregister(strategy_id)
        except KeyError:
            raise HTTPException(404, f"no active strategy {strategy_id!r}") from None

    # --- alerts -------------------------------------------------------------------------

    @app.get(f"{API}/alerts", tags=["alerts"])
    def alerts(unacknowledged: bool = False) -> list[dict[str, Any]]:
        return _plain([a.view() for a in
                       state.alerts.list(unacknowledged=unacknowledged)])

    @app.post(f"{API}/alerts/{{alert_id}}/ack", dependencies=write, tags=["alerts"])
    def alert_ack(alert_id: str) -> dict[str, Any]:
        alert = state.alerts.acknowledge(alert_id, by="api")
        if alert is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return _plain(alert.view())

    @app.get(f"{API}/alerts/rules", tags=["alerts"])
    def alert_rules() -> list[dict[str, Any]]:
        return [r.view() for r in list(state.alerts.rules.values())]

    @app.post(f"{API}/alerts/rules", status_code=201, dependencies=write, tags=["alerts"])
    def alert_rule_add(body: AlertRuleCreate) -> dict[str, Any]:
        rule = Rule(body.kind, dict(body.params), body.severity, body.cooldown_s)
        return state.alerts.add_rule(rule).view()

    @app.delete(f"{API}/alerts/rules/{{rule_id}}", dependencies=write, tags=["alerts"])
    def alert_rule_remove(rule_id: str) -> dict[str, Any]:
        if not state.alerts.remove_rule(rule_id):
            raise HTTPException(404, f"no alert rule {rule_id!r}")
        return {"id": rule_id, "removed": True}

    # --- data ---------------------------------------------------------------------------

    def catalog() -> Any:
        from engine.data.catalog import ParquetCatalog

        return ParquetCatalog(settings.catalog)

    @app.get(f"{API}/data/symbols", tags=["data"])
    def data_symbols() -> list[dict[str, Any]]:
        table = catalog().list()
        return _plain(json.loads(table.to_json(orient="records")))

    @app.get(f"{API}/data/history", tags=["data"])
    def data_history(symbol: str, kind: str = Query("bar", pattern="^(bar|trade|quote)$"),
                     venue: str = "binance", timeframe: str | None = None,
                     start: str | None = None, end: str | None = None,
                     limit: int = Query(5000, ge=1, le=200_000)) -> dict[str, Any]:
        try:
            frame = catalog().read(venue, symbol, kind, timeframe, start, end)
        except NoDataError as exc:
            raise HTTPException(404, str(exc)) from None
        total = len(frame)
        frame = frame.iloc[-limit:]
        return {"symbol": symbol, "kind": kind, "venue": venue, "timeframe": timeframe,
                "total": total, "columns": list(frame.columns),
                "rows": json.loads(frame.to_json(orient="values"))}

    @app.post(f"{API}/data/upload", status_code=201, dependencies=write, tags=["data"])
    async def data_upload(file: Annotated[UploadFile, File()],
                          symbol: Annotated[str | None, Form()] = None,
                          venue: Annotated[str, Form()] = "binance",
                          timeframe: Annotated[str | None, Form()] = None,
                          skip_bad: Annotated[bool, Form()] = False) -> dict[str, Any]:
        """Import a CSV (or JSON) market-data file into the server's catalog, as
        ``raytrader data import`` does; its name may say its symbol."""
        name = Path(file.filename or "upload.csv").name
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"the file is larger than "
                                     f"{settings.max_upload_bytes // 2**20} MB")
        return await asyncio.to_thread(_import, data, name, symbol, venue, timeframe,
                                       skip_bad)

    def _import(data: bytes, name: str, symbol: str | None, venue: str,
                timeframe: str | None, skip_bad: bool) -> dict[str, Any]:
        from engine.data.importers import load_all
        from engine.data.symbols import symbol_from_filename

        store = catalog()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                results = load_all(path, skip_bad=skip_bad, symbol=symbol,
                                   timeframe=timeframe)
            except (DataError, ConfigError) as exc:
                raise HTTPException(422, str(exc).replace(str(tmp) + os.sep, "")) from None
            stored = []
            for result in results:
                sym = result.symbol or symbol_from_filename(path)
                if sym is None:
                    raise HTTPException(422, f"{name}: neither the file nor its name says its "
                                             f"symbol; give the symbol field")
                written = store.write(result.frame, venue=venue, symbol=sym, kind=result.kind,
                                      timeframe=result.timeframe, mode="append")
                stored.append({"symbol": sym, "kind": result.kind,
                               "timeframe": result.timeframe, "rows": len(result.frame),
                               "replaced_rows": written.replaced_rows,
                               "report": result.report.summary().replace(str(tmp) + os.sep,
                                                                         "")})
        log.info("data uploaded", file=name, series=len(stored))
        return {"file": name, "stored": stored}

    # --- the websocket ------------------------------------------------------------------

    async def stream(websocket: WebSocket) -> None:
        """Send ``{"subscribe": [channels]}`` (or ``{"unsubscribe": [...]}``); receive
        ``{"channel", "data", "ts"}`` messages of those channels."""
        if settings.protect_reads:
            given = websocket.query_params.get("token")
            header = websocket.headers.get("authorization") or \
                (f"Bearer {given}" if given else None)
            try:
                guard.check(header, "this server guards reads")
            except HTTPException as exc:
                await websocket.close(code=1008, reason=str(exc.detail))
                return
        await websocket.accept()
        sub = state.hub.subscribe()
        await websocket.send_json({"channel": "hub", "data": {"channels": list(CHANNELS)},
                                   "ts": time.time()})

        async def reader() -> None:
            while True:
                try:
                    message = await websocket.receive_json()
                except (ValueError, KeyError):
                    await websocket.send_json({"channel": "hub", "data": {
                        "error": "send JSON: {\"subscribe\": [channels]}"}, "ts": time.time()})
                    continue
                names = (message.get("subscribe") or message.get("unsubscribe") or []) \
                    if isinstance(message, dict) else []
                unknown = [n for n in names if n not in CHANNELS]
                if unknown or not isinstance(message, dict) or not names:
                    await websocket.send_json({"channel": "hub", "data": {
                        "error": f"unknown channels {unknown}" if unknown else
                        "send {\"subscribe\": [channels]}", "channels": list(CHANNELS)},
                        "ts": time.time()})
                    continue
                if "subscribe" in message:
                    sub.channels.update(names)
                else:
                    sub.channels.difference_update(names)
                await websocket.send_json({"channel": "hub", "data": {
                    "subscribed": sorted(sub.channels)}, "ts": time.time()})

        async def writer() -> None:
            while True:
                message = await sub.queue.get()
                if sub.dropped:
                    await websocket.send_json({"channel": "hub", "data": {
                        "dropped": sub.dropped}, "ts": time.time()})
                    sub.dropped = 0
                await websocket.send_text(json.dumps(_plain(message), default=str))

        tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                failure = task.exception()
                if failure is not None and not isinstance(failure, WebSocketDisconnect):
                    raise failure
        except WebSocketDisconnect:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            state.hub.unsubscribe(sub)

    app.add_api_websocket_route("/ws", stream)
    app.add_api_websocket_route(f"{API}/ws", stream)
    return app


__all__ = ["API", "State", "create_app"]
