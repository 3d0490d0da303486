"""``FakeBinance``: the aiohttp application speaking Binance spot REST (``/api/v3``), the
market streams (``/ws/<n>`` with SUBSCRIBE) and the websocket API (``/ws-api/v3``, whose
``userDataStream.subscribe.signature`` is how ccxt.pro reads spot user data today).

Never logs keys, secrets or signatures: the request counter records method and path only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from tests.kit.fake_exchange import errors as E
from tests.kit.fake_exchange.errors import BinanceError
from tests.kit.fake_exchange.faults import Faults
from tests.kit.fake_exchange.markets import DEFAULT_MARKETS, SpotMarket
from tests.kit.fake_exchange.state import INTERVALS_MS, ExchangeState, wall_clock_ms

__all__ = ["FakeBinance", "StreamConnection", "API_KEY", "API_SECRET"]

API_KEY = "fake-api-key-0123456789"
API_SECRET = "fake-secret-0123456789"
DEFAULT_BALANCES = {"USDT": "10000", "BTC": "1", "ETH": "10"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(eq=False)
class StreamConnection:
    """One websocket a client holds open: market streams or a user data subscription."""

    ws: web.WebSocketResponse
    request: web.Request
    kind: str                       # "market" or "user"
    streams: set[str] = field(default_factory=set)
    account: str | None = None
    subscription_id: int | None = None
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def send(self, payload: Any) -> None:
        self.outbox.put_nowait(json.dumps(payload))


class FakeBinance:
    """Exchange state, fault plan and the aiohttp app serving them (see the module doc)."""

    def __init__(self, markets: Iterable[SpotMarket] = DEFAULT_MARKETS, *,
                 market_orders: str = "immediate",
                 balances: dict[str, object] | None = None,
                 clock: Callable[[], int] = wall_clock_ms) -> None:
        self.state = ExchangeState(markets, market_orders=market_orders, clock=clock)
        self.state.add_account("main", API_KEY, API_SECRET,
                               DEFAULT_BALANCES if balances is None else balances)
        self.state.on_public = self._publish
        self.state.on_user = self._publish_user
        self.state.is_watched = self._is_watched
        self.faults = Faults()
        self.connections: list[StreamConnection] = []
        self.listen_keys: dict[str, str] = {}   # listenKey -> account
        self.closing = asyncio.Event()
        self._subscription_ids = itertools.count()
        self.app = web.Application(middlewares=[self._middleware])
        self.app.on_shutdown.append(self._on_shutdown)
        self._routes()

    # -- routing -----------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        public: dict[str, Handler] = {
            "/api/v3/ping": self._ping, "/api/v3/time": self._time,
            "/api/v3/exchangeInfo": self._exchange_info, "/api/v3/depth": self._depth,
            "/api/v3/trades": self._trades, "/api/v3/aggTrades": self._agg_trades,
            "/api/v3/klines": self._klines, "/api/v3/uiKlines": self._klines,
            "/api/v3/ticker/24hr": self._ticker_24hr,
            "/api/v3/ticker/bookTicker": self._book_ticker,
            "/api/v3/ticker/price": self._ticker_price,
            # what load_markets asks for beyond spot under ccxt's default options
            "/fapi/v1/exchangeInfo": self._empty_exchange_info,
            "/dapi/v1/exchangeInfo": self._empty_exchange_info,
        }
        for path, handler in public.items():
            r.add_get(path, handler)
        r.add_get("/api/v3/account", self._account)
        r.add_post("/api/v3/order", self._create_order)
        r.add_get("/api/v3/order", self._fetch_order)
        r.add_delete("/api/v3/order", self._cancel_order)
        r.add_get("/api/v3/openOrders", self._open_orders)
        r.add_delete("/api/v3/openOrders", self._cancel_all)
        r.add_get("/api/v3/allOrders", self._all_orders)
        r.add_get("/api/v3/myTrades", self._my_trades)
        for method in ("POST", "PUT", "DELETE"):
            r.add_route(method, "/api/v3/userDataStream", self._user_data_stream)
        for path in ("/sapi/v1/capital/config/getall", "/sapi/v1/margin/allPairs",
                     "/sapi/v1/margin/isolated/allPairs"):
            r.add_get(path, self._empty_signed_list)
        r.add_get("/ws", self._market_socket)
        r.add_get("/ws/{tail}", self._market_socket)
        r.add_get("/ws-api/v3", self._ws_api)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.faults.requests[(request.method, request.path)] += 1
        fault = self.faults.take_http(request.path)
        if fault is not None:
            msg = ("Too many requests; current limit of IP(127.0.0.1) request weight per "
                   "minute is 6000." if fault.status == 429 else
                   "Way too much request weight used; IP banned until 9999999999999. Please "
                   "use WebSocket Streams for live updates to avoid bans.")
            return web.json_response({"code": -1003, "msg": msg}, status=fault.status,
                                     headers={"Retry-After": str(fault.retry_after)})
        try:
            response = await handler(request)
        except BinanceError as exc:
            return web.json_response(exc.body(), status=exc.status)
        held = self.faults.take_hold(request.method, request.path)
        if held is not None:
            # The request took effect; only the answer is late (past the client's timeout).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.closing.wait(), held)
        return response

    # -- authentication ----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[str, dict[str, str]]:
        """The signed payload (the query string then the body, concatenated as Binance does)
        and the params of both."""
        query = request.rel_url.raw_query_string
        body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        return query + body, params

    def _account_of_key(self, key: str | None) -> tuple[str, str]:
        if not key or not key.isascii() or len(key) > 128:
            self.faults.auth_failures[E.BAD_API_KEY_FORMAT[0]] += 1
            raise BinanceError(*E.BAD_API_KEY_FORMAT, status=401)
        found = self.state.keys.get(key)
        if found is None:
            self.faults.auth_failures[E.REJECTED_API_KEY[0]] += 1
            raise BinanceError(*E.REJECTED_API_KEY, status=401)
        return found

    def _verify(self, secret: str, payload: str, signature: str | None,
                params: dict[str, str]) -> None:
        if not signature:
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was "
                                      "empty/null, or malformed.")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            self.faults.auth_failures[E.BAD_SIGNATURE[0]] += 1
            raise BinanceError(*E.BAD_SIGNATURE)
        timestamp = params.get("timestamp")
        if not timestamp:
            raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent, was "
                                      "empty/null, or malformed.")
        window = int(params.get("recvWindow") or 5000)
        now = self.state.clock()
        if int(timestamp) > now + 1000 or now - int(timestamp) > window:
            raise BinanceError(*E.TIMESTAMP_OUTSIDE_WINDOW)

    async def _signed(self, request: web.Request) -> tuple[str, dict[str, str]]:
        """(account, params) of a SIGNED request, after checking key and HMAC-SHA256."""
        secret, account = self._account_of_key(request.headers.get("X-MBX-APIKEY"))
        payload, params = await self._params(request)
        signed, sep, signature = payload.rpartition("&signature=")
        if not sep:
            signed, signature = payload, params.get("signature", "")
        self._verify(secret, signed, signature, params)
        return account, params

    # -- public REST -------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.state.clock()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response({
            "timezone": "UTC", "serverTime": self.state.clock(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100}],
            "exchangeFilters": [],
            "symbols": [m.exchange_info() for m in self.state.markets.values()]})

    async def _empty_exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response({"timezone": "UTC", "serverTime": self.state.clock(),
                                  "rateLimits": [], "exchangeFilters": [], "assets": [],
                                  "symbols": []})

    async def _empty_signed_list(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return web.json_response([])

    def _symbol(self, request: web.Request) -> str:
        return self.state.market(request.query.get("symbol")).symbol

    async def _depth(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", 100)), 5000)
        return web.json_response(self.state.depth_rest(self._symbol(request), limit))

    def _recent(self, request: web.Request) -> list[Any]:
        trades = self.state.public_trades[self._symbol(request)]
        limit = min(int(request.query.get("limit", 500)), 1000)
        start, end = request.query.get("startTime"), request.query.get("endTime")
        from_id = request.query.get("fromId")
        selected = [t for t in trades if (start is None or t.time >= int(start))
                    and (end is None or t.time <= int(end))
                    and (from_id is None or t.trade_id >= int(from_id))]
        return selected[:limit] if (start or from_id) else selected[-limit:]

    async def _trades(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"id": t.trade_id, "price": f"{t.price:.8f}", "qty": f"{t.qty:.8f}",
             "quoteQty": f"{t.price * t.qty:.8f}", "time": t.time,
             "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True}
            for t in self._recent(request)])

    async def _agg_trades(self, request: web.Request) -> web.Response:
        return web.json_response([
            {"a": t.trade_id, "p": f"{t.price:.8f}", "q": f"{t.qty:.8f}", "f": t.trade_id,
             "l": t.trade_id, "T": t.time, "m": t.buyer_is_maker, "M": True}
            for t in self._recent(request)])

    async def _klines(self, request: web.Request) -> web.Response:
        q = request.query
        start, end = q.get("startTime"), q.get("endTime")
        return web.json_response(self.state.klines(
            self._symbol(request), q.get("interval", ""),
            None if start is None else int(start), None if end is None else int(end),
            min(int(q.get("limit", 500)), 1000)))

    def _symbols(self, request: web.Request) -> list[str]:
        if "symbol" in request.query:
            return [self._symbol(request)]
        if "symbols" in request.query:
            return [self.state.market(s).symbol for s in json.loads(request.query["symbols"])]
        return list(self.state.markets)

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        rows = [self.state.ticker_rest(s) for s in self._symbols(request)]
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    async def _book_ticker(self, request: web.Request) -> web.Response:
        rows = []
        for s in self._symbols(request):
            t = self.state.book_ticker(s)
            rows.append({"symbol": s, "bidPrice": t["b"], "bidQty": t["B"],
                         "askPrice": t["a"], "askQty": t["A"]})
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    async def _ticker_price(self, request: web.Request) -> web.Response:
        rows = [{"symbol": s, "price": f"{self.state.last_price(s) or Decimal(0):.8f}"}
                for s in self._symbols(request)]
        return web.json_response(rows[0] if "symbol" in request.query else rows)

    # -- private REST ------------------------------------------------------------------------

    async def _account(self, request: web.Request) -> web.Response:
        account, _ = await self._signed(request)
        return web.json_response(self.state.account_rest(account))

    async def _create_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        order = self.state.place_order(account, params)
        kind = params.get("newOrderRespType", "FULL" if order.type == "MARKET" else "ACK")
        if kind == "ACK":
            body: dict[str, Any] = {"symbol": order.symbol, "orderId": order.order_id,
                                    "orderListId": -1, "clientOrderId": order.client_order_id,
                                    "transactTime": order.time}
        else:
            body = order.ack_full()
            if kind == "RESULT":
                body.pop("fills")
        return web.json_response(body)

    async def _fetch_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        return web.json_response(self.state.find_order(account, params, E.NO_SUCH_ORDER).rest())

    async def _cancel_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        order = self.state.cancel_order(account, params)
        body = order.rest()
        body.update(origClientOrderId=order.client_order_id,
                    clientOrderId=params.get("newClientOrderId") or secrets.token_hex(11),
                    transactTime=order.update_time)
        return web.json_response(body)

    async def _cancel_all(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        symbol = self.state.market(params.get("symbol")).symbol
        cancelled = []
        for order in self.state.open_orders(account, symbol):
            self.state.cancel_order(account, {"symbol": symbol,
                                              "orderId": str(order.order_id)})
            cancelled.append(order.rest())
        return web.json_response(cancelled)

    async def _open_orders(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        symbol = self.state.market(params["symbol"]).symbol if params.get("symbol") else None
        return web.json_response([o.rest() for o in self.state.open_orders(account, symbol)])

    async def _all_orders(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        symbol = self.state.market(params.get("symbol")).symbol
        return web.json_response([o.rest() for o in self.state.orders.values()
                                  if o.account == account and o.symbol == symbol])

    async def _my_trades(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        symbol = self.state.market(params.get("symbol")).symbol
        fills = self.state.my_trades(account, symbol)
        if params.get("orderId"):
            fills = [f for f in fills if str(f.order_id) == params["orderId"]]
        return web.json_response([f.rest() for f in fills])

    async def _user_data_stream(self, request: web.Request) -> web.Response:
        """The listenKey endpoints (API key only, no signature)."""
        _, account = self._account_of_key(request.headers.get("X-MBX-APIKEY"))
        if request.method == "POST":
            key = secrets.token_hex(32)
            self.listen_keys[key] = account
            return web.json_response({"listenKey": key})
        _, params = await self._params(request)
        if params.get("listenKey") not in self.listen_keys:
            raise BinanceError(-1125, "This listenKey does not exist.")
        if request.method == "DELETE":
            del self.listen_keys[params["listenKey"]]
        return web.json_response({})

    # -- websockets --------------------------------------------------------------------------

    async def _serve(self, conn: StreamConnection,
                     on_text: Callable[[StreamConnection, dict[str, Any]], None]) -> None:
        """Read frames until the socket closes; a writer task sends the outbox in order."""
        self.connections.append(conn)
        writer = asyncio.create_task(self._write(conn))
        try:
            async for msg in conn.ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        request = json.loads(msg.data)
                    except ValueError:
                        conn.send({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
                        continue
                    on_text(conn, request)
                elif msg.type == WSMsgType.PING and conn.kind not in self.faults.stalled:
                    await conn.ws.pong(msg.data)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            if conn in self.connections:
                self.connections.remove(conn)

    async def _write(self, conn: StreamConnection) -> None:
        while True:
            text = await conn.outbox.get()
            if conn.kind in self.faults.stalled:
                continue  # a stalled socket says nothing, and does not close
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _open(self, request: web.Request) -> web.WebSocketResponse:
        # autoping off: pongs are ours to answer, so a stalled socket can stop answering.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        return ws

    async def _market_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open(request)
        tail = request.match_info.get("tail", "")
        if tail in self.listen_keys:
            conn = StreamConnection(ws, request, "user", account=self.listen_keys[tail])
        else:
            conn = StreamConnection(ws, request, "market")
        await self._serve(conn, self._on_market_request)
        return ws

    def _on_market_request(self, conn: StreamConnection, request: dict[str, Any]) -> None:
        method, params, rid = request.get("method"), request.get("params") or [], request.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            names = [_stream_key(p) for p in params]
            bad = [p for p, n in zip(params, names) if n is None]
            if bad:
                conn.send({"error": {"code": 2, "msg": f"Invalid request: unknown stream {bad[0]}"},
                           "id": rid})
                return
            for name in names:
                assert name is not None
                if method == "SUBSCRIBE":
                    conn.streams.add(name)
                else:
                    conn.streams.discard(name)
            conn.send({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send({"result": sorted(conn.streams), "id": rid})
        else:
            conn.send({"error": {"code": 1, "msg": f"Invalid request: unknown method {method}"},
                       "id": rid})

    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open(request)
        await self._serve(StreamConnection(ws, request, "user"), self._on_ws_api_request)
        return ws

    def _on_ws_api_request(self, conn: StreamConnection, request: dict[str, Any]) -> None:
        rid, method = request.get("id"), request.get("method")
        params = {k: str(v) for k, v in (request.get("params") or {}).items()}
        try:
            if method == "ping":
                result: Any = {}
            elif method == "time":
                result = {"serverTime": self.state.clock()}
            elif method == "userDataStream.subscribe.signature":
                secret, account = self._account_of_key(params.get("apiKey"))
                # ccxt.pro signs the key-sorted, unencoded params (apiKey included)
                signed = "&".join(f"{k}={v}" for k, v in sorted(params.items())
                                  if k != "signature")
                self._verify(secret, signed, params.get("signature"), params)
                conn.account = account
                conn.subscription_id = next(self._subscription_ids)
                result = {"subscriptionId": conn.subscription_id}
            elif method == "userDataStream.unsubscribe":
                conn.account, conn.subscription_id = None, None
                result = {}
            else:
                raise BinanceError(-1000, f"Unknown method {method}")
        except BinanceError as exc:
            conn.send({"id": rid, "status": exc.status, "error": exc.body()})
            return
        conn.send({"id": rid, "status": 200, "result": result})

    # -- fan-out -----------------------------------------------------------------------------

    def _is_watched(self, stream: str) -> bool:
        return any(stream in c.streams for c in self.connections)

    def _publish(self, stream: str, payload: Any) -> None:
        for conn in self.connections:
            if stream in conn.streams:
                conn.send(payload)

    def _publish_user(self, account: str, payload: dict[str, Any]) -> None:
        copies = 2 if payload.get("e") == "executionReport" and any(
            c.account == account for c in self.connections) and self.faults.take_duplicate() else 1
        for conn in self.connections:
            if conn.account != account:
                continue
            message = payload if conn.subscription_id is None else {
                "subscriptionId": conn.subscription_id, "event": payload}
            for _ in range(copies):
                conn.send(message)

    # -- faults on sockets -------------------------------------------------------------------

    def user_connections(self) -> list[StreamConnection]:
        return [c for c in self.connections if c.account is not None]

    def subscribers(self, stream: str) -> int:
        return sum(stream in c.streams for c in self.connections)

    async def drop(self, kind: str | None = None, *, abrupt: bool = True) -> int:
        """Close the sockets of ``kind`` (market, user, or all): abruptly (the TCP connection
        goes, no close frame) or with a close frame (1001, going away)."""
        dropped = [c for c in self.connections if kind is None or c.kind == kind]
        for conn in dropped:
            # Forget the socket now, not when its handler notices: a test that waits for a
            # fresh subscriber must not be answered by the dead one.
            self.connections.remove(conn)
            if abrupt and conn.request.transport is not None:
                conn.request.transport.abort()
            else:
                await conn.ws.close(code=1001, message=b"going away")
        return len(dropped)

    async def _on_shutdown(self, app: web.Application) -> None:
        self.closing.set()
        for conn in list(self.connections):
            await conn.ws.close(code=1001, message=b"server shutdown")


def _stream_key(name: object) -> str | None:
    """The stream a subscription name feeds from (``btcusdt@depth@100ms`` -> ``btcusdt@depth``),
    or None for a name the fake does not serve."""
    if not isinstance(name, str) or "@" not in name:
        return None
    symbol, _, channel = name.partition("@")
    if channel.startswith("depth"):
        channel = "depth"
    known = {"trade", "aggTrade", "bookTicker", "depth", "ticker", "miniTicker"}
    if channel not in known and channel not in {f"kline_{i}" for i in INTERVALS_MS}:
        return None
    return f"{symbol.lower()}@{channel}"
