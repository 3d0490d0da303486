"""The fake Binance spot exchange (tests/kit/fake_exchange) through the real ccxt clients:
ccxt.binance (sync), ccxt.async_support.binance and ccxt.pro.binance, each pointed at a server
of its own on 127.0.0.1. Also pins the ccxt exception each Binance error becomes, which the
venue adapter will rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import ccxt
import ccxt.async_support
import ccxt.pro
import pytest

from tests.kit.fake_exchange import (
    SPOT_ONLY,
    FakeBinanceServer,
    SpotMarket,
    async_wait_until,
    binance_client,
    running_fake_binance,
    wait_until,
)

BTC = "BTC/USDT"
T0 = 1_700_000_100_000  # a 5-minute boundary, ms


@pytest.fixture
def ex() -> Iterator[FakeBinanceServer]:
    with running_fake_binance() as server:
        yield server


@pytest.fixture
def client(ex: FakeBinanceServer) -> ccxt.binance:
    c = binance_client(ccxt.binance, ex)
    c.load_markets()
    return c


# -- sync ccxt: markets, account, orders -----------------------------------------------------

def test_load_markets_reads_the_spot_filters(ex: FakeBinanceServer) -> None:
    c = binance_client(ccxt.binance, ex)
    markets = c.load_markets()
    assert sorted(markets) == ["BTC/USDT", "ETH/USDT"]
    btc = markets[BTC]
    assert (btc["spot"], btc["id"], btc["base"], btc["quote"]) == (True, "BTCUSDT", "BTC", "USDT")
    assert btc["precision"]["amount"] == 0.00001 and btc["precision"]["price"] == 0.01
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["cost"]["min"] == 5.0
    assert ex.request_log() == {("GET", "/api/v3/exchangeInfo"): 1}
    assert c.amount_to_precision(BTC, 0.123456789) == "0.12345"
    assert c.price_to_precision(BTC, 30000.129) == "30000.13"  # prices round, amounts truncate


def test_load_markets_under_ccxt_defaults_also_asks_futures_and_margin(
        ex: FakeBinanceServer) -> None:
    c = binance_client(ccxt.binance, ex, spot_only=False)
    assert sorted(c.load_markets()) == ["BTC/USDT", "ETH/USDT"]
    assert set(ex.request_log()) == {
        ("GET", "/api/v3/exchangeInfo"), ("GET", "/fapi/v1/exchangeInfo"),
        ("GET", "/dapi/v1/exchangeInfo"), ("GET", "/sapi/v1/margin/allPairs"),
        ("GET", "/sapi/v1/margin/isolated/allPairs"), ("GET", "/sapi/v1/capital/config/getall")}


def test_time_and_balance(ex: FakeBinanceServer, client: ccxt.binance) -> None:
    assert abs(client.fetch_time() - client.milliseconds()) < 5_000
    balance = client.fetch_balance()
    assert balance["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["BTC"]["total"] == 1.0


def test_limit_order_lifecycle(ex: FakeBinanceServer, client: ccxt.binance) -> None:
    order = client.create_order(BTC, "limit", "buy", 0.01, 29000,
                                {"clientOrderId": "ours-1"})
    assert (order["status"], order["clientOrderId"], order["amount"]) == ("open", "ours-1", 0.01)
    assert client.fetch_balance()["USDT"] == {"free": 9710.0, "used": 290.0, "total": 10000.0}
    by_id = client.fetch_order(order["id"], BTC)
    by_client_id = client.fetch_order(None, BTC, {"clientOrderId": "ours-1"})
    assert by_id["id"] == by_client_id["id"] == order["id"]
    assert [o["id"] for o in client.fetch_open_orders(BTC)] == [order["id"]]
    cancelled = client.cancel_order(order["id"], BTC)
    assert cancelled["status"] == "canceled"
    assert client.fetch_open_orders(BTC) == []
    assert client.fetch_balance()["USDT"]["free"] == 10000.0


def test_market_order_fills_at_the_book_with_fee(ex: FakeBinanceServer,
                                                 client: ccxt.binance) -> None:
    ex.set_book("BTCUSDT", bid=30000, ask=30001)
    order = client.create_order(BTC, "market", "buy", 0.01)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 30001.0)
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    [trade] = client.fetch_my_trades(BTC)
    assert (trade["order"], trade["side"], trade["price"], trade["amount"],
            trade["takerOrMaker"]) == (order["id"], "buy", 30001.0, 0.01, "taker")
    balance = client.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(10000 - 300.01)
    assert balance["BTC"]["total"] == pytest.approx(1.00999)


def test_resting_limit_order_fills_partially_then_fully(ex: FakeBinanceServer,
                                                        client: ccxt.binance) -> None:
    order = client.create_order(BTC, "limit", "sell", 0.5, 31000)
    ex.push_trade("BTCUSDT", 31000, 0.2, cap_fills=True)
    partial = client.fetch_order(order["id"], BTC)
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.2, 0.3)
    assert ex.order(order["clientOrderId"]).status == "PARTIALLY_FILLED"
    ex.push_trade("BTCUSDT", 31050, 1)
    done = client.fetch_order(order["id"], BTC)
    assert (done["status"], done["filled"], done["average"]) == ("closed", 0.5, 31000.0)
    assert [t["amount"] for t in client.fetch_my_trades(BTC)] == [0.2, 0.3]


def test_market_orders_can_wait_for_the_next_trade() -> None:
    with running_fake_binance(market_orders="next_trade") as ex:
        c = binance_client(ccxt.binance, ex)
        order = c.create_order(BTC, "market", "sell", 0.1, None, {"clientOrderId": "m1"})
        assert order["status"] == "open"
        ex.push_trade("BTCUSDT", 30500, 0.05, cap_fills=True)
        ex.push_trade("BTCUSDT", 30400, 1)
        done = c.fetch_order(order["id"], BTC)
        assert (done["status"], done["filled"]) == ("closed", 0.1)
        assert [t["price"] for t in c.fetch_my_trades(BTC)] == [30500.0, 30400.0]


# -- sync ccxt: market data ------------------------------------------------------------------

def test_market_data(ex: FakeBinanceServer, client: ccxt.binance) -> None:
    # minute 0: 100 then 102 then 99; minute 1: 101
    ex.push_trade("BTCUSDT", 100, 1, time_ms=T0)
    ex.push_trade("BTCUSDT", 102, 2, time_ms=T0 + 1_000, buyer_is_maker=True)
    ex.push_trade("BTCUSDT", 99, 1, time_ms=T0 + 2_000)
    ex.push_trade("BTCUSDT", 101, 3, time_ms=T0 + 60_000)
    assert client.fetch_ohlcv(BTC, "1m") == [[T0, 100.0, 102.0, 99.0, 99.0, 4.0],
                                             [T0 + 60_000, 101.0, 101.0, 101.0, 101.0, 3.0]]
    assert client.fetch_ohlcv(BTC, "5m") == [[T0, 100.0, 102.0, 99.0, 101.0, 7.0]]
    trades = client.fetch_trades(BTC)
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (100.0, 1.0, "buy"), (102.0, 2.0, "sell"), (99.0, 1.0, "buy"), (101.0, 3.0, "buy")]
    ex.set_book("BTCUSDT", bids=[(100.5, 2), (100, 5)], asks=[(101.5, 1), (102, 4)])
    book = client.fetch_order_book(BTC)
    assert book["bids"] == [[100.5, 2.0], [100.0, 5.0]]
    assert book["asks"] == [[101.5, 1.0], [102.0, 4.0]]
    assert book["nonce"] is not None
    bid_ask = client.fetch_bids_asks([BTC])[BTC]
    assert (bid_ask["bid"], bid_ask["ask"], bid_ask["bidVolume"]) == (100.5, 101.5, 2.0)


def test_ticker(ex: FakeBinanceServer, client: ccxt.binance) -> None:
    now = client.milliseconds()
    ex.push_trade("BTCUSDT", 100, 1, time_ms=now - 1000)
    ex.push_trade("BTCUSDT", 110, 1, time_ms=now)
    ex.set_book("BTCUSDT", bid=109, ask=111)
    ticker = client.fetch_ticker(BTC)
    assert (ticker["last"], ticker["open"], ticker["high"], ticker["low"]) == (110, 100, 110, 100)
    assert (ticker["bid"], ticker["ask"], ticker["baseVolume"]) == (109, 111, 2)


# -- filters and the ccxt exception each Binance error becomes -------------------------------

def test_filters() -> None:
    odd_lot = SpotMarket("BTCUSDT", "BTC", "USDT", tick_size=Decimal("0.01"),
                         min_price=Decimal("0.01"), max_price=Decimal("1000000"),
                         step_size=Decimal("0.00001"), min_qty=Decimal("0.001"),
                         max_qty=Decimal("100"), min_notional=Decimal("5"))
    with running_fake_binance(markets=[odd_lot]) as ex:
        c = binance_client(ccxt.binance, ex)
        ex.set_book("BTCUSDT", bid=30000, ask=30001)
        # LOT_SIZE: under minQty; ccxt matches "LOT_SIZE" in the body -> InvalidOrder
        with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
            c.create_order(BTC, "limit", "buy", 0.0005, 30000)
        # PRICE_FILTER: off the tick (sent raw: ccxt would round it) -> InvalidOrder
        with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
            c.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                  "timeInForce": "GTC", "quantity": "0.01",
                                  "price": "30000.005"})
        # NOTIONAL: 0.001 * 100 < 5. Binance's -1013 is BadRequest in ccxt, NOT InvalidOrder:
        # only the LOT_SIZE and PRICE_FILTER texts are special-cased.
        with pytest.raises(ccxt.BadRequest, match="NOTIONAL") as info:
            c.create_order(BTC, "limit", "buy", 0.001, 100)
        assert not isinstance(info.value, ccxt.InvalidOrder)
        # a market order's notional is weighed at the book
        ex.set_book("BTCUSDT", bid=1000, ask=1001)
        with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
            c.private_post_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                  "quantity": "0.00100"})
        # below the amount precision ccxt refuses before sending anything
        sent = ex.requests("POST", "/api/v3/order")
        with pytest.raises(ccxt.InvalidOrder):
            c.create_order(BTC, "limit", "buy", 0.000001, 30000)
        assert ex.requests("POST", "/api/v3/order") == sent
        assert ex.orders() == []


def test_insufficient_balance_is_insufficient_funds(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(BTC, "limit", "buy", 1, 30000)   # 30000 USDT > 10000
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(BTC, "limit", "sell", 2, 30000)  # 2 BTC > 1


def test_duplicate_client_order_id_of_an_open_order_is_invalid_order(
        client: ccxt.binance) -> None:
    client.create_order(BTC, "limit", "buy", 0.01, 29000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(BTC, "limit", "buy", 0.01, 29000, {"clientOrderId": "dup"})


def test_unknown_orders_are_order_not_found(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        client.cancel_order("424242", BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        client.fetch_order("424242", BTC)
    order = client.create_order(BTC, "limit", "buy", 0.01, 29000)
    client.cancel_order(order["id"], BTC)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):  # cancelling twice
        client.cancel_order(order["id"], BTC)


def test_wrong_secret_is_authentication_error_without_retries(ex: FakeBinanceServer) -> None:
    c = binance_client(ccxt.binance, ex, secret="not-the-secret")
    c.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        c.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        c.create_order(BTC, "limit", "buy", 0.01, 29000)
    assert ex.auth_failures(-1022) == 2  # one attempt per call: no retry storm
    assert ex.orders() == []


def test_unknown_or_missing_api_key_is_authentication_error(ex: FakeBinanceServer) -> None:
    c = binance_client(ccxt.binance, ex, api_key="someone-else")
    c.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        c.fetch_balance()
    malformed = binance_client(ccxt.binance, ex, api_key="k" * 200)
    malformed.markets = c.markets
    with pytest.raises(ccxt.AuthenticationError, match="-2014"):
        malformed.fetch_balance()
    assert (ex.auth_failures(-2015), ex.auth_failures(-2014)) == (1, 1)


def test_a_rejected_key_after_a_success_is_ddos_protection(ex: FakeBinanceServer,
                                                           client: ccxt.binance) -> None:
    client.fetch_balance()  # ccxt now believes the key is good
    ex.call(ex.exchange.state.keys.pop, ex.api_key)
    # ccxt reads -2015 after one success as a temporary ban, not a bad key
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        client.fetch_balance()


# -- HTTP faults -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 418])
def test_rate_limit_answers_are_ddos_protection(ex: FakeBinanceServer, client: ccxt.binance,
                                                status: int) -> None:
    ex.fail_next(2, status=status, path="/api/v3/account", retry_after=7)
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection, match=str(status)) as info:
            client.fetch_balance()
        assert isinstance(info.value, ccxt.NetworkError)
        assert client.last_response_headers["Retry-After"] == "7"
    client.fetch_ticker(BTC)  # another path is not affected
    assert client.fetch_balance()["USDT"]["total"] == 10000.0
    assert ex.requests("GET", "/api/v3/account") == 3


def test_timeout_after_the_order_was_accepted(ex: FakeBinanceServer) -> None:
    c = binance_client(ccxt.binance, ex, timeout_ms=300)
    c.load_markets()
    ex.set_book("BTCUSDT", bid=30000, ask=30001)
    ex.hold_answer(5.0)
    with pytest.raises(ccxt.RequestTimeout):
        c.create_order(BTC, "limit", "buy", 0.01, 29000, {"clientOrderId": "lost-ack"})
    found = c.fetch_order(None, BTC, {"clientOrderId": "lost-ack"})
    assert (found["status"], found["amount"], found["price"]) == ("open", 0.01, 29000.0)
    # a blind resend with the same client order id is refused, not doubled
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):
        c.create_order(BTC, "limit", "buy", 0.01, 29000, {"clientOrderId": "lost-ack"})
    assert len(ex.orders()) == 1


# -- async ccxt ------------------------------------------------------------------------------

def test_async_client_core_calls(ex: FakeBinanceServer) -> None:
    async def run() -> None:
        c = binance_client(ccxt.async_support.binance, ex)
        try:
            await c.load_markets()
            assert (await c.fetch_balance())["USDT"]["total"] == 10000.0
            ex.set_book("BTCUSDT", bid=30000, ask=30001)
            ex.push_trade("BTCUSDT", 30000.5, 0.1, time_ms=T0)
            resting = await c.create_order(BTC, "limit", "buy", 0.01, 29000)
            filled = await c.create_order(BTC, "market", "sell", 0.01)
            assert filled["status"] == "closed" and filled["average"] == 30000.0
            assert (await c.fetch_order(resting["id"], BTC))["status"] == "open"
            assert [o["id"] for o in await c.fetch_open_orders(BTC)] == [resting["id"]]
            assert (await c.cancel_order(resting["id"], BTC))["status"] == "canceled"
            assert [t["order"] for t in await c.fetch_my_trades(BTC)] == [filled["id"]]
            assert (await c.fetch_ohlcv(BTC, "1m"))[0][1:5] == [30000.5] * 4
            assert len(await c.fetch_trades(BTC)) == 1
            assert (await c.fetch_order_book(BTC))["asks"] == [[30001.0, 1.0]]
            assert (await c.fetch_ticker(BTC))["bid"] == 30000.0
            with pytest.raises(ccxt.InsufficientFunds):
                await c.create_order(BTC, "limit", "buy", 1, 29000)
        finally:
            await c.close()

    asyncio.run(run())


# -- ccxt.pro --------------------------------------------------------------------------------

def pro_run(ex: FakeBinanceServer, body, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """Run ``body(client)`` with a ccxt.pro client on its own loop, closing it after."""
    async def run() -> None:
        c = binance_client(ccxt.pro.binance, ex, **kwargs)
        try:
            await c.load_markets()
            await body(c)
        finally:
            await c.close()

    asyncio.run(run())


async def subscribed(ex: FakeBinanceServer, stream: str) -> None:
    await async_wait_until(lambda: ex.subscribers(stream) > 0, what=f"a {stream} subscriber")


def test_pro_watch_trades_and_ohlcv(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        trades = asyncio.create_task(c.watch_trades(BTC))
        await subscribed(ex, "btcusdt@trade")
        ex.push_trade("BTCUSDT", 30000, 0.5, time_ms=T0)
        [trade] = await trades
        assert (trade["price"], trade["amount"], trade["timestamp"]) == (30000, 0.5, T0)
        candles = asyncio.create_task(c.watch_ohlcv(BTC, "1m"))
        await subscribed(ex, "btcusdt@kline_1m")
        ex.push_trade("BTCUSDT", 30010, 0.25, time_ms=T0 + 500)
        assert (await candles)[-1] == [T0, 30000, 30010, 30000, 30010, 0.75]

    pro_run(ex, body)


def test_pro_watch_bids_asks_and_ticker(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        bids_asks = asyncio.create_task(c.watch_bids_asks([BTC]))
        await subscribed(ex, "btcusdt@bookTicker")
        ex.set_book("BTCUSDT", bid=29999.5, ask=30000.5, bid_qty=3)
        quote = (await bids_asks)[BTC]
        assert (quote["bid"], quote["ask"], quote["bidVolume"]) == (29999.5, 30000.5, 3)
        # watch_ticker rides ccxt's watchTickers option: the 24h *mini* ticker, no bid/ask
        ticker = asyncio.create_task(c.watch_ticker(BTC))
        await subscribed(ex, "btcusdt@miniTicker")
        ex.push_trade("BTCUSDT", 30000, 1)
        got = await ticker
        assert (got["last"], got["high"], got["baseVolume"], got["bid"]) == (30000, 30000, 1, None)
        full = asyncio.create_task(c.watch_ticker(BTC, {"name": "ticker"}))
        await subscribed(ex, "btcusdt@ticker")
        ex.push_trade("BTCUSDT", 30002, 1)
        got = await full
        assert (got["last"], got["bid"], got["ask"]) == (30002, 29999.5, 30000.5)

    pro_run(ex, body)


def test_pro_watch_order_book_snapshot_then_diffs(ex: FakeBinanceServer) -> None:
    ex.set_book("BTCUSDT", bids=[(100, 1), (99, 2)], asks=[(101, 1), (102, 2)])

    async def body(c: ccxt.pro.binance) -> None:
        book = await c.watch_order_book(BTC)  # the REST snapshot (GET /api/v3/depth)
        assert book["bids"][:2] == [[100, 1], [99, 2]] and book["asks"][0] == [101, 1]
        nonce = book["nonce"]
        update = asyncio.create_task(c.watch_order_book(BTC))
        ex.set_book("BTCUSDT", bids=[(100, 3)], asks=[(100.5, 1), (101, 1)])  # diff
        book = await update
        assert book["bids"] == [[100, 3]]
        assert book["asks"] == [[100.5, 1], [101, 1]]
        assert book["nonce"] == nonce + 1

    pro_run(ex, body)
    assert ex.requests("GET", "/api/v3/depth") == 1


def test_pro_watch_orders_and_my_trades_receive_our_fills(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        orders = asyncio.create_task(c.watch_orders(BTC))
        await async_wait_until(lambda: ex.user_streams() == 1, what="the user stream")
        placed = await c.create_order(BTC, "limit", "buy", 0.02, 29000, {"clientOrderId": "w1"})
        seen = await orders
        assert (seen[-1]["id"], seen[-1]["status"]) == (placed["id"], "open")
        fills = asyncio.create_task(c.watch_my_trades(BTC))
        update = asyncio.create_task(c.watch_orders(BTC))
        await asyncio.sleep(0)  # both watches wait before the fill is sent
        ex.fill_order(placed["id"], qty=0.005)
        [fill] = await fills
        assert (fill["order"], fill["amount"], fill["price"]) == (placed["id"], 0.005, 29000)
        order = (await update)[-1]
        assert (order["status"], order["filled"], order["remaining"]) == ("open", 0.005, 0.015)

    pro_run(ex, body)
    # ccxt.pro reads spot user data over the websocket API, not a REST listenKey
    assert ex.requests("POST", "/api/v3/userDataStream") == 0


def test_pro_duplicate_acknowledgement(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        opened = asyncio.create_task(c.watch_orders(BTC))
        await async_wait_until(lambda: ex.user_streams() == 1, what="the user stream")
        placed = await c.create_order(BTC, "limit", "buy", 0.01, 29000)
        await opened
        ex.duplicate_user_events(1)
        first = asyncio.create_task(c.watch_my_trades(BTC))
        await asyncio.sleep(0)
        ex.fill_order(placed["id"])
        await asyncio.wait_for(first, 5)

        def cached() -> dict:
            return c.orders.hashmap[BTC][placed["id"]]

        # the copy may land after the watch resolved; the order's trade list shows it
        await async_wait_until(lambda: len(cached()["trades"]) == 2, what="the duplicate")
        # ccxt.pro keeps my trades by id, so the fill appears once...
        assert [(t["id"], t["amount"]) for t in c.myTrades] == [(c.myTrades[0]["id"], 0.01)]
        # ...but folds the copy into the cached order: its fee counts twice (1e-5 BTC paid)
        assert (cached()["status"], cached()["filled"]) == ("closed", 0.01)
        assert cached()["fee"] == {"currency": "BTC", "cost": 0.00002}

    pro_run(ex, body)


def test_fills_while_disconnected_are_found_over_rest(ex: FakeBinanceServer) -> None:
    holder: dict[str, str] = {}

    async def body(c: ccxt.pro.binance) -> None:
        orders = asyncio.create_task(c.watch_orders(BTC))
        await async_wait_until(lambda: ex.user_streams() == 1, what="the user stream")
        holder["id"] = (await c.create_order(BTC, "limit", "sell", 0.1, 31000))["id"]
        await orders

    pro_run(ex, body)  # closes the client: no user stream left
    wait_until(lambda: ex.user_streams() == 0, what="the user stream to close")
    ex.push_trade("BTCUSDT", 31000, 0.04, cap_fills=True)
    ex.push_trade("BTCUSDT", 31100, 1)
    c = binance_client(ccxt.binance, ex)
    order = c.fetch_order(holder["id"], BTC)
    assert (order["status"], order["filled"]) == ("closed", 0.1)
    assert [t["amount"] for t in c.fetch_my_trades(BTC)] == [0.04, 0.06]


@pytest.mark.parametrize("abrupt", [True, False])
def test_dropped_socket_fails_the_watch_and_the_next_watch_reconnects(
        ex: FakeBinanceServer, abrupt: bool) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        pending = asyncio.create_task(c.watch_trades(BTC))
        await subscribed(ex, "btcusdt@trade")
        assert ex.drop("market", abrupt=abrupt) == 1
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, 5)
        again = asyncio.create_task(c.watch_trades(BTC))
        await subscribed(ex, "btcusdt@trade")
        ex.push_trade("BTCUSDT", 30000, 1)
        assert (await asyncio.wait_for(again, 5))[-1]["price"] == 30000

    pro_run(ex, body)


def test_dropped_user_stream_fails_watch_orders(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        pending = asyncio.create_task(c.watch_orders(BTC))
        await async_wait_until(lambda: ex.user_streams() == 1, what="the user stream")
        ex.drop("user")
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, 5)

    pro_run(ex, body)


def test_stalled_socket_times_out_on_the_missing_pong(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        trades = asyncio.create_task(c.watch_trades(BTC))
        await subscribed(ex, "btcusdt@trade")
        ex.stall("market")
        ex.push_trade("BTCUSDT", 30000, 1)  # never delivered
        assert ex.connections("market") == 1  # silent, not closed
        with pytest.raises(ccxt.RequestTimeout, match="ping-pong"):
            await asyncio.wait_for(trades, 5)

    pro_run(ex, body, streaming={"keepAlive": 100})


def test_pro_wrong_secret_fails_the_user_stream(ex: FakeBinanceServer) -> None:
    async def body(c: ccxt.pro.binance) -> None:
        # ccxt.pro 4.5.90 rejects with AuthenticationError, then its own clean-up deletes the
        # 'spot' subscription a second time: the caller sees a KeyError whose context is the
        # AuthenticationError. The venue adapter must classify it by that context.
        with pytest.raises((ccxt.AuthenticationError, KeyError)) as info:
            await asyncio.wait_for(c.watch_orders(BTC), 5)
        error = info.value
        auth = error if isinstance(error, ccxt.AuthenticationError) else error.__context__
        assert isinstance(auth, ccxt.AuthenticationError) and "-1022" in str(auth)

    pro_run(ex, body, secret="wrong")
    assert ex.auth_failures(-1022) == 1


def test_the_server_stops_cleanly() -> None:
    import threading
    before = {t.name for t in threading.enumerate()}
    with running_fake_binance() as ex:
        port = ex.port
        binance_client(ccxt.binance, ex).load_markets()
    assert "fake-binance" not in {t.name for t in threading.enumerate()} - before
    c = binance_client(ccxt.binance, ex, timeout_ms=500)
    with pytest.raises(ccxt.NetworkError):
        c.fetch_time()
    assert port > 0 and SPOT_ONLY["defaultType"] == "spot"
