"""The fake exchange's state and matching: accounts, balances, orders, fills, public trades,
the book and klines. Plain Python, driven by the aiohttp handlers and by the test; every call
runs on the server's event loop, so nothing here locks.

Events leave through two callbacks: ``on_public(stream, payload)`` for market streams
(``btcusdt@trade``, ``btcusdt@kline_1m``, ``btcusdt@bookTicker``, ``btcusdt@depth``,
``btcusdt@ticker``) and ``on_user(account, payload)`` for the user data stream
(``executionReport``, ``outboundAccountPosition``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.kit.fake_exchange import errors as E
from tests.kit.fake_exchange.errors import BinanceError
from tests.kit.fake_exchange.markets import DEFAULT_MARKETS, SpotMarket, check_filters, fmt

__all__ = ["ExchangeState", "Order", "Fill", "PublicTrade", "INTERVALS_MS", "wall_clock_ms"]

ZERO = Decimal(0)
OPEN = ("NEW", "PARTIALLY_FILLED")
INTERVALS_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
    "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
    "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000,
}
DAY_MS = 86_400_000


def wall_clock_ms() -> int:
    """The exchange's clock: ccxt signs with the wall clock, so the fake checks against it."""
    return int(time.time() * 1000)


def dec(value: object, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal "
                                  "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None
    if not result.is_finite():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return result


def mandatory(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                  "or malformed.")
    assert value is not None
    return value


@dataclass
class Fill:
    """One of our fills (GET /api/v3/myTrades)."""

    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def rest(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id,
                "orderListId": -1, "price": fmt(self.price), "qty": fmt(self.qty),
                "quoteQty": fmt(self.price * self.qty), "commission": fmt(self.commission),
                "commissionAsset": self.commission_asset, "time": self.time,
                "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True}


@dataclass
class Order:
    """An order as the exchange holds it."""

    order_id: int
    client_order_id: str
    account: str
    symbol: str
    side: str          # BUY, SELL
    type: str          # LIMIT, LIMIT_MAKER, MARKET
    time_in_force: str  # GTC, IOC, FOK ("" for market)
    price: Decimal     # 0 for market orders
    orig_qty: Decimal
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO      # funds still reserved (quote for buys, base for sells)
    lock_price: Decimal = ZERO  # the price the quote reservation of a buy was made at
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def rest(self) -> dict[str, Any]:
        """The body of GET /api/v3/order."""
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "price": fmt(self.price),
                "origQty": fmt(self.orig_qty), "executedQty": fmt(self.executed_qty),
                "cummulativeQuoteQty": fmt(self.cum_quote), "status": self.status,
                "timeInForce": self.time_in_force or "GTC", "type": self.type,
                "side": self.side, "stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO),
                "time": self.time, "updateTime": self.update_time, "isWorking": True,
                "workingTime": self.time, "origQuoteOrderQty": fmt(ZERO),
                "selfTradePreventionMode": "EXPIRE_MAKER"}

    def ack_full(self) -> dict[str, Any]:
        """The body of POST /api/v3/order with newOrderRespType=FULL."""
        body = self.rest()
        for key in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking",
                    "origQuoteOrderQty"):
            body.pop(key)
        body["transactTime"] = self.time
        body["fills"] = [{"price": fmt(f.price), "qty": fmt(f.qty),
                          "commission": fmt(f.commission),
                          "commissionAsset": f.commission_asset, "tradeId": f.trade_id}
                         for f in self.fills]
        return body


@dataclass(frozen=True)
class PublicTrade:
    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    time: int
    buyer_is_maker: bool


@dataclass
class Book:
    bids: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # best first
    asks: list[tuple[Decimal, Decimal]] = field(default_factory=list)
    update_id: int = 1000

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        return self.bids[0] if self.bids else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return self.asks[0] if self.asks else None


Level = tuple[object, object]


class ExchangeState:
    """Markets, accounts and the matching of our orders against a test-driven market.

    ``market_orders``: ``"immediate"`` fills a market order at once against the book (the ask
    for a buy, the bid for a sell) or, without a book, the last trade price; ``"next_trade"``
    leaves it NEW until the next :meth:`push_trade`, which fills it at the trade price.
    Resting limit orders fill at their own price when a pushed trade reaches it.
    Our fills are not echoed on the public trade stream: the test drives that stream alone.
    """

    def __init__(self, markets: Iterable[SpotMarket] = DEFAULT_MARKETS, *,
                 market_orders: str = "immediate", fee_rate: Decimal = Decimal("0.001"),
                 clock: Callable[[], int] = wall_clock_ms) -> None:
        if market_orders not in ("immediate", "next_trade"):
            raise ValueError(f"market_orders: {market_orders!r} is not immediate or next_trade")
        self.markets = {m.symbol: m for m in markets}
        self.market_orders = market_orders
        self.fee_rate = fee_rate
        self.clock = clock
        self.keys: dict[str, tuple[str, str]] = {}  # api key -> (secret, account)
        # account -> asset -> [free, locked]
        self.balances: dict[str, dict[str, list[Decimal]]] = {}
        self.orders: dict[int, Order] = {}
        self.public_trades: dict[str, list[PublicTrade]] = {s: [] for s in self.markets}
        self.books: dict[str, Book] = {s: Book() for s in self.markets}
        self._next_order_id = 1000
        self._next_trade_id = 1
        self.on_public: Callable[[str, Any], None] = lambda stream, payload: None
        self.on_user: Callable[[str, dict[str, Any]], None] = lambda account, payload: None
        self.is_watched: Callable[[str], bool] = lambda stream: True

    # -- accounts ----------------------------------------------------------------------------

    def add_account(self, account: str, api_key: str, secret: str,
                    balances: dict[str, object] | None = None) -> None:
        """An account reached with ``api_key``/``secret``, holding ``balances`` (free)."""
        self.keys[api_key] = (secret, account)
        self.balances.setdefault(account, {})
        for asset, amount in (balances or {}).items():
            self.set_balance(account, asset, amount)

    def set_balance(self, account: str, asset: str, free: object) -> None:
        self.balances[account].setdefault(asset, [ZERO, ZERO])[0] = Decimal(str(free))

    def balance(self, account: str, asset: str) -> tuple[Decimal, Decimal]:
        """(free, locked) of an asset."""
        free, locked = self.balances[account].get(asset, [ZERO, ZERO])
        return free, locked

    def _move(self, account: str, asset: str, free: Decimal = ZERO,
              locked: Decimal = ZERO) -> None:
        row = self.balances[account].setdefault(asset, [ZERO, ZERO])
        row[0] += free
        row[1] += locked

    def account_rest(self, account: str) -> dict[str, Any]:
        """The body of GET /api/v3/account."""
        now = self.clock()
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": fmt(self.fee_rate), "taker": fmt(self.fee_rate),
                                "buyer": fmt(ZERO), "seller": fmt(ZERO)},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now,
            "accountType": "SPOT",
            "balances": [{"asset": a, "free": fmt(f), "locked": fmt(lk)}
                         for a, (f, lk) in sorted(self.balances[account].items())],
            "permissions": ["SPOT"], "uid": 1,
        }

    # -- market ------------------------------------------------------------------------------

    def market(self, symbol: str | None) -> SpotMarket:
        if not symbol:
            mandatory({}, "symbol")
        market = self.markets.get(str(symbol))
        if market is None:
            raise BinanceError(*E.INVALID_SYMBOL)
        return market

    def last_price(self, symbol: str) -> Decimal | None:
        trades = self.public_trades[symbol]
        return trades[-1].price if trades else None

    def set_book(self, symbol: str, bid: object = None, ask: object = None, *,
                 bid_qty: object = 1, ask_qty: object = 1,
                 bids: Sequence[Level] | None = None,
                 asks: Sequence[Level] | None = None) -> None:
        """Replace the book of ``symbol``: one level a side (``bid``/``ask``) or whole sides
        (``bids``/``asks`` as (price, qty) pairs). Publishes a depth diff and the book ticker;
        it does not fill resting orders (only trades do)."""
        market = self.market(symbol)
        book = self.books[market.symbol]
        new_bids = _levels(bids if bids is not None else [] if bid is None else [(bid, bid_qty)])
        new_asks = _levels(asks if asks is not None else [] if ask is None else [(ask, ask_qty)])
        new_bids.sort(reverse=True)
        new_asks.sort()
        diff_b = _diff(book.bids, new_bids)
        diff_a = _diff(book.asks, new_asks)
        book.bids, book.asks = new_bids, new_asks
        first = book.update_id + 1
        book.update_id += 1
        now = self.clock()
        lower = market.symbol.lower()
        self.on_public(f"{lower}@depth", {
            "e": "depthUpdate", "E": now, "s": market.symbol, "U": first, "u": book.update_id,
            "b": diff_b, "a": diff_a})
        self.on_public(f"{lower}@bookTicker", self.book_ticker(market.symbol))
        self._publish_tickers(market.symbol)

    def book_ticker(self, symbol: str) -> dict[str, Any]:
        book = self.books[symbol]
        bid = book.best_bid() or (ZERO, ZERO)
        ask = book.best_ask() or (ZERO, ZERO)
        return {"u": book.update_id, "s": symbol, "b": fmt(bid[0]), "B": fmt(bid[1]),
                "a": fmt(ask[0]), "A": fmt(ask[1])}

    def depth_rest(self, symbol: str, limit: int) -> dict[str, Any]:
        book = self.books[symbol]
        return {"lastUpdateId": book.update_id,
                "bids": [[fmt(p), fmt(q)] for p, q in book.bids[:limit]],
                "asks": [[fmt(p), fmt(q)] for p, q in book.asks[:limit]]}

    def push_trade(self, symbol: str, price: object, qty: object, *,
                   time_ms: int | None = None, buyer_is_maker: bool = False,
                   cap_fills: bool = False) -> PublicTrade:
        """A public trade: published on the trade, kline and ticker streams, then resting limit
        orders it reaches fill at their price and waiting market orders at the trade price.
        With ``cap_fills`` our fills together take at most ``qty`` (partial fills)."""
        market = self.market(symbol)
        trade = PublicTrade(self._trade_id(), market.symbol, Decimal(str(price)),
                            Decimal(str(qty)), self.clock() if time_ms is None else time_ms,
                            buyer_is_maker)
        self.public_trades[market.symbol].append(trade)
        lower = market.symbol.lower()
        self.on_public(f"{lower}@trade", {
            "e": "trade", "E": trade.time, "s": trade.symbol, "t": trade.trade_id,
            "p": fmt(trade.price), "q": fmt(trade.qty), "T": trade.time,
            "m": trade.buyer_is_maker, "M": True})
        self.on_public(f"{lower}@aggTrade", {
            "e": "aggTrade", "E": trade.time, "s": trade.symbol, "a": trade.trade_id,
            "p": fmt(trade.price), "q": fmt(trade.qty), "f": trade.trade_id,
            "l": trade.trade_id, "T": trade.time, "m": trade.buyer_is_maker, "M": True})
        for interval in INTERVALS_MS:
            if self.is_watched(f"{lower}@kline_{interval}"):
                self.on_public(f"{lower}@kline_{interval}", self.kline_event(trade, interval))
        self._publish_tickers(market.symbol)
        available = trade.qty if cap_fills else None
        for order in [o for o in self.orders.values() if o.symbol == market.symbol and o.is_open]:
            if available is not None and available <= 0:
                break
            if order.type == "MARKET":
                fill_price = trade.price
            elif (order.side == "BUY" and trade.price <= order.price) or (
                    order.side == "SELL" and trade.price >= order.price):
                fill_price = order.price
            else:
                continue
            qty_now = order.remaining if available is None else min(order.remaining, available)
            self._fill(order, qty_now, fill_price, is_maker=order.type != "MARKET",
                       time_ms=trade.time)
            if available is not None:
                available -= qty_now
        return trade

    def _trade_id(self) -> int:
        self._next_trade_id += 1
        return self._next_trade_id - 1

    # -- klines and tickers ------------------------------------------------------------------

    def klines(self, symbol: str, interval: str, start: int | None = None,
               end: int | None = None, limit: int = 500) -> list[list[Any]]:
        """GET /api/v3/klines rows built from the pushed trades."""
        step = INTERVALS_MS.get(interval)
        if step is None:
            raise BinanceError(-1120, "Invalid interval.")
        rows: dict[int, list[PublicTrade]] = {}
        for t in self.public_trades[symbol]:
            rows.setdefault(t.time - t.time % step, []).append(t)
        out = [_kline_row(open_time, step, trades) for open_time, trades in sorted(rows.items())
               if (start is None or open_time >= start) and (end is None or open_time <= end)]
        return out[:limit] if start is not None else out[-limit:]

    def kline_event(self, trade: PublicTrade, interval: str) -> dict[str, Any]:
        step = INTERVALS_MS[interval]
        open_time = trade.time - trade.time % step
        row = _kline_row(open_time, step, [t for t in self.public_trades[trade.symbol]
                                           if t.time - t.time % step == open_time])
        return {"e": "kline", "E": trade.time, "s": trade.symbol, "k": {
            "t": row[0], "T": row[6], "s": trade.symbol, "i": interval, "f": -1, "L": -1,
            "o": row[1], "c": row[4], "h": row[2], "l": row[3], "v": row[5], "n": row[8],
            "x": False, "q": row[7], "V": row[9], "Q": row[10], "B": "0"}}

    def ticker_rest(self, symbol: str) -> dict[str, Any]:
        """GET /api/v3/ticker/24hr for one symbol, over the trades of the last 24 hours."""
        now = self.clock()
        trades = [t for t in self.public_trades[symbol] if t.time > now - DAY_MS]
        book = self.books[symbol]
        bid = book.best_bid() or (ZERO, ZERO)
        ask = book.best_ask() or (ZERO, ZERO)
        last = trades[-1].price if trades else ZERO
        open_ = trades[0].price if trades else ZERO
        volume = sum((t.qty for t in trades), ZERO)
        quote = sum((t.qty * t.price for t in trades), ZERO)
        change = last - open_
        return {
            "symbol": symbol, "priceChange": fmt(change),
            "priceChangePercent": f"{(change / open_ * 100 if open_ else ZERO):.3f}",
            "weightedAvgPrice": fmt(quote / volume if volume else ZERO),
            "prevClosePrice": fmt(open_), "lastPrice": fmt(last),
            "lastQty": fmt(trades[-1].qty if trades else ZERO),
            "bidPrice": fmt(bid[0]), "bidQty": fmt(bid[1]), "askPrice": fmt(ask[0]),
            "askQty": fmt(ask[1]), "openPrice": fmt(open_),
            "highPrice": fmt(max((t.price for t in trades), default=ZERO)),
            "lowPrice": fmt(min((t.price for t in trades), default=ZERO)),
            "volume": fmt(volume), "quoteVolume": fmt(quote), "openTime": now - DAY_MS,
            "closeTime": now, "firstId": trades[0].trade_id if trades else -1,
            "lastId": trades[-1].trade_id if trades else -1, "count": len(trades)}

    def _publish_tickers(self, symbol: str) -> None:
        lower = symbol.lower()
        if self.is_watched(f"{lower}@ticker"):
            self.on_public(f"{lower}@ticker", self.ticker_event(symbol))
        if self.is_watched(f"{lower}@miniTicker"):
            r = self.ticker_rest(symbol)
            self.on_public(f"{lower}@miniTicker", {
                "e": "24hrMiniTicker", "E": self.clock(), "s": symbol, "c": r["lastPrice"],
                "o": r["openPrice"], "h": r["highPrice"], "l": r["lowPrice"],
                "v": r["volume"], "q": r["quoteVolume"]})

    def ticker_event(self, symbol: str) -> dict[str, Any]:
        r = self.ticker_rest(symbol)
        return {"e": "24hrTicker", "E": self.clock(), "s": symbol, "p": r["priceChange"],
                "P": r["priceChangePercent"], "w": r["weightedAvgPrice"],
                "x": r["prevClosePrice"], "c": r["lastPrice"], "Q": r["lastQty"],
                "b": r["bidPrice"], "B": r["bidQty"], "a": r["askPrice"], "A": r["askQty"],
                "o": r["openPrice"], "h": r["highPrice"], "l": r["lowPrice"], "v": r["volume"],
                "q": r["quoteVolume"], "O": r["openTime"], "C": r["closeTime"],
                "F": r["firstId"], "L": r["lastId"], "n": r["count"]}

    # -- orders ------------------------------------------------------------------------------

    def place_order(self, account: str, params: dict[str, str]) -> Order:
        """POST /api/v3/order: check, reserve funds, accept, then fill what can fill now."""
        market = self.market(params.get("symbol"))
        side = mandatory(params, "side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'side'.")
        type_ = mandatory(params, "type")
        if type_ not in ("LIMIT", "LIMIT_MAKER", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        qty = dec(mandatory(params, "quantity"), "quantity")
        price: Decimal | None = None
        tif = ""
        if type_ != "MARKET":
            price = dec(mandatory(params, "price"), "price")
            tif = "GTC" if type_ == "LIMIT_MAKER" else mandatory(params, "timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        book = self.books[market.symbol]
        best = book.best_ask() if side == "BUY" else book.best_bid()
        reference = price if price is not None else (best[0] if best else
                                                     self.last_price(market.symbol))
        check_filters(market, price, qty, reference)
        client_id = params.get("newClientOrderId") or f"fake{self._next_order_id}"
        if any(o.client_order_id == client_id and o.account == account and o.is_open
               for o in self.orders.values()):
            raise BinanceError(*E.DUPLICATE_ORDER)
        crosses = best is not None and price is not None and (
            (side == "BUY" and price >= best[0]) or (side == "SELL" and price <= best[0]))
        if type_ == "LIMIT_MAKER" and crosses:
            raise BinanceError(-2010, "Order would immediately match and take.")
        if side == "BUY":
            lock_price = reference if reference is not None else ZERO
            need, asset = qty * lock_price, market.quote
        else:
            lock_price, need, asset = ZERO, qty, market.base
        if self.balance(account, asset)[0] < need:
            raise BinanceError(*E.INSUFFICIENT_BALANCE)
        now = self.clock()
        order = Order(order_id=self._next_order_id, client_order_id=client_id, account=account,
                      symbol=market.symbol, side=side, type=type_, time_in_force=tif,
                      price=price or ZERO, orig_qty=qty, time=now, update_time=now,
                      locked=need, lock_price=lock_price)
        self._next_order_id += 1
        self._move(account, asset, free=-need, locked=need)
        self.orders[order.order_id] = order
        self._report(order, "NEW")
        self._balance_event(account, market)
        if type_ == "MARKET" and self.market_orders == "immediate":
            if best is not None:
                self._fill(order, qty, best[0], is_maker=False)
            elif reference is not None:
                self._fill(order, qty, reference, is_maker=False)
            else:
                self._close(order, "EXPIRED")
        elif type_ != "MARKET" and crosses:
            assert best is not None
            self._fill(order, qty, best[0], is_maker=False)
        elif tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED")
        return order

    def find_order(self, account: str, params: dict[str, str], missing: tuple[int, str]) -> Order:
        """The order named by orderId or origClientOrderId, or Binance's ``missing`` error."""
        market = self.market(params.get("symbol"))
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                      "but both were empty/null!")
        found = [o for o in self.orders.values() if o.account == account
                 and o.symbol == market.symbol
                 and (not order_id or str(o.order_id) == order_id)
                 and (not client_id or o.client_order_id == client_id)]
        if not found:
            raise BinanceError(*missing)
        return found[-1]

    def cancel_order(self, account: str, params: dict[str, str]) -> Order:
        order = self.find_order(account, params, E.UNKNOWN_ORDER)
        if not order.is_open:
            raise BinanceError(*E.UNKNOWN_ORDER)
        self._close(order, "CANCELED")
        return order

    def open_orders(self, account: str, symbol: str | None) -> list[Order]:
        return [o for o in self.orders.values() if o.account == account and o.is_open
                and (symbol is None or o.symbol == symbol)]

    def my_trades(self, account: str, symbol: str) -> list[Fill]:
        fills = [f for o in self.orders.values() if o.account == account and o.symbol == symbol
                 for f in o.fills]
        return sorted(fills, key=lambda f: f.trade_id)

    def fill_order(self, order_id: int, qty: object = None, price: object = None) -> Order:
        """Fill an open order now (all of it, or ``qty``) at ``price`` (default its own)."""
        order = self.orders[order_id]
        if not order.is_open:
            raise ValueError(f"order {order_id} is {order.status}")
        fill_qty = order.remaining if qty is None else Decimal(str(qty))
        fill_price = Decimal(str(price)) if price is not None else order.price
        self._fill(order, min(fill_qty, order.remaining), fill_price, is_maker=True)
        return order

    def _fill(self, order: Order, qty: Decimal, price: Decimal, *, is_maker: bool,
              time_ms: int | None = None) -> None:
        market = self.markets[order.symbol]
        now = self.clock() if time_ms is None else time_ms
        quote = qty * price
        if order.side == "BUY":
            release = min(order.locked, qty * order.lock_price)
            commission, fee_asset = qty * self.fee_rate, market.base
            self._move(order.account, market.quote, free=release - quote, locked=-release)
            self._move(order.account, market.base, free=qty - commission)
        else:
            release = qty
            commission, fee_asset = quote * self.fee_rate, market.quote
            self._move(order.account, market.base, locked=-release)
            self._move(order.account, market.quote, free=quote - commission)
        order.locked -= release
        fill = Fill(self._trade_id(), order.order_id, order.symbol, price, qty, commission,
                    fee_asset, now, order.side == "BUY", is_maker)
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
        order.update_time = now
        if order.status == "FILLED" and order.locked > 0:
            self._unlock(order)
        self._report(order, "TRADE", fill)
        self._balance_event(order.account, market)

    def _unlock(self, order: Order) -> None:
        market = self.markets[order.symbol]
        asset = market.quote if order.side == "BUY" else market.base
        self._move(order.account, asset, free=order.locked, locked=-order.locked)
        order.locked = ZERO

    def _close(self, order: Order, status: str) -> None:
        order.status = status
        order.update_time = self.clock()
        self._unlock(order)
        self._report(order, status)
        self._balance_event(order.account, self.markets[order.symbol])

    # -- user data events --------------------------------------------------------------------

    def _report(self, order: Order, execution: str, fill: Fill | None = None) -> None:
        now = self.clock()
        self.on_user(order.account, {
            "e": "executionReport", "E": now, "s": order.symbol, "c": order.client_order_id,
            "S": order.side, "o": order.type, "f": order.time_in_force or "GTC",
            "q": fmt(order.orig_qty), "p": fmt(order.price), "P": fmt(ZERO), "F": fmt(ZERO),
            "g": -1, "C": order.client_order_id if execution == "CANCELED" else "",
            "x": execution, "X": order.status, "r": "NONE", "i": order.order_id,
            "l": fmt(fill.qty if fill else ZERO), "z": fmt(order.executed_qty),
            "L": fmt(fill.price if fill else ZERO),
            "n": fmt(fill.commission) if fill else "0",
            "N": fill.commission_asset if fill else None, "T": fill.time if fill else now,
            "t": fill.trade_id if fill else -1, "v": 0, "I": order.order_id * 10,
            "w": order.is_open, "m": fill.is_maker if fill else False, "M": False,
            "O": order.time, "Z": fmt(order.cum_quote),
            "Y": fmt(fill.price * fill.qty if fill else ZERO), "Q": fmt(ZERO),
            "W": order.time, "V": "EXPIRE_MAKER"})

    def _balance_event(self, account: str, market: SpotMarket) -> None:
        now = self.clock()
        self.on_user(account, {
            "e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": asset, "f": fmt(self.balance(account, asset)[0]),
                   "l": fmt(self.balance(account, asset)[1])}
                  for asset in (market.base, market.quote)]})


def _levels(levels: Iterable[Level]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(p)), Decimal(str(q))) for p, q in levels]


def _diff(old: list[tuple[Decimal, Decimal]],
          new: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    """Depth-diff entries turning ``old`` into ``new``: changed levels, removed ones at 0."""
    before, after = dict(old), dict(new)
    changed = [[fmt(p), fmt(q)] for p, q in new if before.get(p) != q]
    removed = [[fmt(p), fmt(ZERO)] for p in before if p not in after]
    return changed + removed


def _kline_row(open_time: int, step: int, trades: list[PublicTrade]) -> list[Any]:
    prices = [t.price for t in trades]
    volume = sum((t.qty for t in trades), ZERO)
    quote = sum((t.qty * t.price for t in trades), ZERO)
    taker_buys = [t for t in trades if not t.buyer_is_maker]
    return [open_time, fmt(prices[0]), fmt(max(prices)), fmt(min(prices)), fmt(prices[-1]),
            fmt(volume), open_time + step - 1, fmt(quote), len(trades),
            fmt(sum((t.qty for t in taker_buys), ZERO)),
            fmt(sum((t.qty * t.price for t in taker_buys), ZERO)), "0"]
