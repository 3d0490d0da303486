"""Live market data through ccxt: trades and closed bars as the engine's ``Trade`` and ``Bar``
messages, from ccxt.pro websockets, with REST as the fallback and the gap filler.

- **Trades** (``watch_trades``): a trade's id on exchanges that number them (Binance does,
  one by one per symbol) shows a gap; the missing trades are fetched through REST
  (``fetch_trades`` from the last one seen) before the new ones are passed on, so the engine
  sees every trade once, in order. A trade seen twice (a reconnect that replays) is dropped.
- **Bars** (``watch_ohlcv``): the exchange updates the current candle as it forms; a bar is
  passed on only once it has closed (a newer candle has started), and closed candles missed
  while disconnected are fetched through REST (``fetch_ohlcv``).
- **Quotes** (``watch_bids_asks``): the best bid and ask, each change once; after a
  reconnect the current top of the book is fetched through REST.
- **Reconnects**: a network error or a stalled socket (nothing for ``stall_seconds``) closes
  the subscription and opens it again after a backoff (0.5 s doubling to 30 s, reset by the
  next message); the gap logic above fills what was missed. A backfill that meets a network
  error or a rate limit (429, 418) is asked again after the same backoff, holding the new
  messages until the gap is filled, so the order is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt

from engine.messages import Bar, Quote, Trade
from engine.timeframes import timeframe_to_ns

_MS = 1_000_000


def trade_message(venue: str, symbol: str, trade: dict[str, Any]) -> Trade:
    """ccxt's unified trade as the engine's ``Trade`` (aggressor: +1 when the buyer took)."""
    ts = int(trade["timestamp"]) * _MS
    side = trade.get("side")
    aggressor = 1 if side == "buy" else -1 if side == "sell" else 0
    return Trade(venue, symbol, float(trade["price"]), float(trade["amount"]), aggressor,
                 str(trade["id"]), ts, ts)


def bar_message(venue: str, symbol: str, candle: list[Any], interval_ns: int) -> Bar:
    """One ccxt OHLCV row ([open time ms, o, h, l, c, v]) as a ``Bar`` stamped with its close
    time."""
    close = int(candle[0]) * _MS + interval_ns
    return Bar(venue, symbol, interval_ns, float(candle[1]), float(candle[2]), float(candle[3]),
               float(candle[4]), float(candle[5]), close, close)


@dataclasses.dataclass
class FeedStats:
    """What a live feed went through: messages passed on, trades backfilled through REST,
    duplicates dropped, reconnects, REST backfills asked again."""

    messages: int = 0
    backfilled: int = 0
    duplicates: int = 0
    reconnects: int = 0
    rest_retries: int = 0


async def _patiently(exchange: Any, stats: FeedStats, stop: asyncio.Event,
                     call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()`` until it answers: a network error or a rate limit (ccxt's NetworkError,
    which covers 429 and 418) waits what the exchange asked (``Retry-After``) or a backoff
    from 0.1 s doubling, at most 5 s (market data held back for a gap is worth more than a
    minute's politeness; one request every 5 s is no storm), and asks again. None once
    ``stop`` is set."""
    from engine.live.executor import wait_after

    attempt = 0
    while True:
        try:
            return await call()
        except ccxt.NetworkError as exc:
            stats.rest_retries += 1
            if stop.is_set():
                return None
            await asyncio.sleep(min(wait_after(exchange, exc, attempt), 5.0))
            attempt = min(attempt + 1, 7)


class _Feed:
    """What every live feed holds: its exchange client, its symbol, the venue name its
    messages carry (the exchange id unless given), how long a silent socket is trusted
    before it is reopened, and its statistics."""

    def __init__(self, exchange: Any, symbol: str, venue: str | None,
                 stall_seconds: float) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.venue = venue or exchange.id
        self.stall_seconds = stall_seconds
        self.stats = FeedStats()


class TradeFeed(_Feed):
    """One symbol's trades from a ccxt.pro exchange, every trade once and in order."""

    def __init__(self, exchange: Any, symbol: str, venue: str | None = None,
                 stall_seconds: float = 30.0) -> None:
        super().__init__(exchange, symbol, venue, stall_seconds)
        self.last_id: int | None = None
        self.last_ms: int | None = None
        self._seen: set[str] = set()

    def _fresh(self, trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for trade in sorted(trades, key=lambda t: (t["timestamp"], _as_int(t["id"]) or 0)):
            key = str(trade["id"])
            if key in self._seen:
                self.stats.duplicates += 1
                continue
            self._seen.add(key)
            out.append(trade)
        if len(self._seen) > 100_000:   # keep the recent ids only
            self._seen = {str(t["id"]) for t in out}
        return out

    async def _backfill(self, upto_id: int) -> list[dict[str, Any]]:
        """Trades after the last one seen and before ``upto_id``, through REST, until a page
        brings none not collected yet: ids the exchange spent on something other than a
        public trade leave holes REST cannot fill (a page starting at the last trade's time
        would otherwise return that trade for ever)."""
        missing: list[dict[str, Any]] = []
        collected: set[str] = set()
        since = self.last_ms
        while True:
            page = await self.exchange.fetch_trades(self.symbol, since, 1000)
            page = [t for t in page if (self.last_id or -1) < (_as_int(t["id"]) or 0) < upto_id
                    and str(t["id"]) not in self._seen and str(t["id"]) not in collected]
            if not page:
                return missing
            missing.extend(page)
            collected.update(str(t["id"]) for t in page)
            since = int(page[-1]["timestamp"])
            if (_as_int(page[-1]["id"]) or 0) >= upto_id - 1:
                return missing

    async def messages(self, stop: asyncio.Event) -> AsyncIterator[Trade]:
        """The symbol's trades as ``Trade`` messages until ``stop`` is set."""
        backoff = 0.5
        while not stop.is_set():
            try:
                trades = await asyncio.wait_for(self.exchange.watch_trades(self.symbol),
                                                self.stall_seconds)
            except (ccxt.NetworkError, TimeoutError):
                self.stats.reconnects += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            fresh = self._fresh(trades)
            if fresh and self.last_id is not None:
                first = _as_int(fresh[0]["id"])
                if first is not None and first > self.last_id + 1:
                    got = await _patiently(self.exchange, self.stats, stop,
                                           functools.partial(self._backfill, first))
                    gap = self._fresh(got or [])
                    self.stats.backfilled += len(gap)
                    fresh = gap + fresh
            for trade in fresh:
                tid = _as_int(trade["id"])
                if tid is not None:
                    self.last_id = tid if self.last_id is None else max(self.last_id, tid)
                self.last_ms = int(trade["timestamp"])
                self.stats.messages += 1
                yield trade_message(self.venue, self.symbol, trade)


class BarFeed(_Feed):
    """One symbol's closed bars from a ccxt.pro exchange, every bar once and in order."""

    def __init__(self, exchange: Any, symbol: str, timeframe: str, venue: str | None = None,
                 stall_seconds: float = 120.0) -> None:
        super().__init__(exchange, symbol, venue, stall_seconds)
        self.timeframe = timeframe
        self.interval_ns = timeframe_to_ns(timeframe)
        self.last_open_ms: int | None = None     # the last bar passed on

    def _closed(self, candles: list[list[Any]]) -> list[list[Any]]:
        """The candles that have closed (a newer one started) and were not passed on yet."""
        candles = sorted(candles, key=lambda c: c[0])
        if not candles:
            return []
        newest = candles[-1][0]
        return [c for c in candles if c[0] < newest
                and (self.last_open_ms is None or c[0] > self.last_open_ms)]

    async def messages(self, stop: asyncio.Event) -> AsyncIterator[Bar]:
        backoff = 0.5
        while not stop.is_set():
            try:
                candles = await asyncio.wait_for(
                    self.exchange.watch_ohlcv(self.symbol, self.timeframe), self.stall_seconds)
            except (ccxt.NetworkError, TimeoutError):
                self.stats.reconnects += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            closed = self._closed(candles)
            step = self.interval_ns // _MS
            if closed and self.last_open_ms is not None and \
                    closed[0][0] > self.last_open_ms + step:
                # bars closed while the socket was down: fetched through REST
                since = self.last_open_ms + step
                rest = await _patiently(self.exchange, self.stats, stop, functools.partial(
                    self.exchange.fetch_ohlcv, self.symbol, self.timeframe, since)) or []
                gap = [c for c in rest if self.last_open_ms < c[0] < closed[0][0]]
                self.stats.backfilled += len(gap)
                closed = gap + closed
            for candle in closed:
                self.last_open_ms = int(candle[0])
                self.stats.messages += 1
                yield bar_message(self.venue, self.symbol, candle, self.interval_ns)


class QuoteFeed(_Feed):
    """One symbol's best bid and ask from a ccxt.pro exchange (``watch_bids_asks``: Binance's
    bookTicker stream), each change once. The top of the book is a state, not a history:
    after a reconnect the current one is fetched through REST (``fetch_bids_asks``) and
    passed on if it changed, which is all a gap can be filled with. An exchange that stamps
    no time on it (Binance does not) gets the exchange client's clock."""

    def __init__(self, exchange: Any, symbol: str, venue: str | None = None,
                 stall_seconds: float = 30.0) -> None:
        super().__init__(exchange, symbol, venue, stall_seconds)
        self.last: tuple[float, float, float, float] | None = None

    def _quote(self, tickers: dict[str, Any]) -> Quote | None:
        ticker = tickers.get(self.symbol)
        if not ticker or ticker.get("bid") is None or ticker.get("ask") is None:
            return None
        top = (float(ticker["bid"]), float(ticker["ask"]),
               float(ticker.get("bidVolume") or 0.0), float(ticker.get("askVolume") or 0.0))
        if top == self.last:
            self.stats.duplicates += 1
            return None
        self.last = top
        ts = int(ticker.get("timestamp") or self.exchange.milliseconds()) * _MS
        self.stats.messages += 1
        return Quote(self.venue, self.symbol, *top, ts, ts)

    async def messages(self, stop: asyncio.Event) -> AsyncIterator[Quote]:
        backoff = 0.5
        reconnected = False
        while not stop.is_set():
            if reconnected:   # what the top is now, through REST
                tickers = await _patiently(self.exchange, self.stats, stop, functools.partial(
                    self.exchange.fetch_bids_asks, [self.symbol])) or {}
                quote = self._quote(tickers)
                if quote is not None:
                    self.stats.backfilled += 1
                    yield quote
                reconnected = False
            try:
                tickers = await asyncio.wait_for(
                    self.exchange.watch_bids_asks([self.symbol]), self.stall_seconds)
            except (ccxt.NetworkError, TimeoutError):
                self.stats.reconnects += 1
                reconnected = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            quote = self._quote(tickers)
            if quote is not None:
                yield quote


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


__all__ = ["BarFeed", "FeedStats", "QuoteFeed", "TradeFeed", "bar_message", "trade_message"]
