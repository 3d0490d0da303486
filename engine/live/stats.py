"""The market statistics behind the market rules (regime filter, pre-trade cost check,
correlation groups) for paper and live sessions, kept as events arrive.

A backtest computes :class:`engine.market_stats.MarketStats` once over its whole data; a
lookup at ``ts`` reads only what happened at or before ``ts``. A session has no whole data:
:class:`LiveMarketStats` answers the same lookups from the events seen so far, with the same
formulas and the very same numbers (``tests/unit/test_live_stats.py`` feeds random markets
event by event and compares every lookup with ``MarketStats`` over the whole data).

- **Regime and correlation** read each symbol's price at the end of every grid cell. The
  session keeps one point per symbol and cell (the cell's last good price, or NaN when its
  prints were all bad) on the finest grid both rules read (the greatest common divisor of the
  two intervals, so each cell of either grid is a union of its cells). When a lookup reaches
  a cell that has closed since the last one, ``MarketStats`` is built again over these
  points: once per cell, a few milliseconds, never per event.
- **History.** A regime needs ``regime_window + regime_lookback`` closed cells (744 hours with
  the defaults) before it says anything but NORMAL. :meth:`LiveMarketStats.add_history` takes
  prices from before the session (a session fetches closed bars through REST,
  :func:`fetch_history`), which count for the regime and correlation, never for the cost.
  :attr:`LiveMarketStats.history` keeps them, so a backtest over the session's recording,
  given them (``BacktestEngine.market_history``), decides exactly as the session did.
- **Cost** reads the last ``cost_window`` good events of the order's symbol (the session's
  own, kept in a ring), summed from the latest back as the backtest's kernel sums them.

Event times must not go back (``engine.live.loop.LiveLoop`` re-stamps them so they rise).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from engine.data.schema import QUOTE
from engine.errors import ConfigError, DataError
from engine.market_stats import (NORMAL, MarketStats, StatsConfig, SymbolEvents,
                                 history_arrays, symbol_index)
from engine.timeframes import timeframe_to_ns


class _Points:
    """One symbol's grid points: closed cells' (end, last good price or NaN), and the open
    cell."""

    __slots__ = ("ends", "open_end", "open_price", "prices")

    def __init__(self) -> None:
        self.ends: list[int] = []
        self.prices: list[float] = []
        self.open_end: int | None = None
        self.open_price = math.nan

    def add(self, end: int, price: float) -> None:
        if self.open_end is not None and end != self.open_end:
            self.close()
        self.open_end = end
        if price - price == 0.0 and price > 0.0:
            self.open_price = price

    def close(self) -> None:
        if self.open_end is not None:
            self.ends.append(self.open_end)
            self.prices.append(self.open_price)
            self.open_end = None
            self.open_price = math.nan


class LiveMarketStats:
    """Regime, correlation and pre-trade cost of ``symbols`` (symbol -> event kind: bar,
    trade or quote) as of the latest event, the same lookups as
    :class:`~engine.market_stats.MarketStats`."""

    def __init__(self, symbols: Mapping[str, str], config: StatsConfig | None = None) -> None:
        if not symbols:
            raise ConfigError("live market stats need at least one symbol")
        self.config = config = config if config is not None else StatsConfig()
        self.symbols = tuple(symbols)
        self._quotes = {s: kind == QUOTE for s, kind in symbols.items()}
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self.step = math.gcd(timeframe_to_ns(config.regime_interval),
                             timeframe_to_ns(config.correlation_interval))
        self._points = {s: _Points() for s in self.symbols}
        # cost: the last cost_window good events (volume; quotes: bid and ask sizes)
        window = config.cost_window
        self._depth: dict[str, deque[Any]] = {s: deque(maxlen=window) for s in self.symbols}
        self._half: dict[str, float] = {s: math.nan for s in self.symbols}
        self._half_default = config.default_spread_bps / 2.0
        self._impact_k = config.impact_k_bps
        self.history: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.last_ts = -(1 << 62)
        self._built_at: int | None = None   # the last closed cell end the stats were built on
        self._stats: MarketStats | None = None
        self.rebuilds = 0

    # --- what arrives ---------------------------------------------------------------------

    def add_history(self, symbol: str, ts: Sequence[int] | np.ndarray,
                    price: Sequence[float] | np.ndarray) -> None:
        """Prices of ``symbol`` from before the session (closed bars' close times and
        closes): for the regime and correlation only. Before any event of the session."""
        self._symbol(symbol)
        if self.last_ts > -(1 << 62):
            raise ConfigError("market stats history must come before the session's events")
        if symbol in self.history:
            raise ConfigError(f"market stats history for {symbol!r} given twice")
        times, prices = history_arrays(symbol, ts, price)
        self.history[symbol] = (times, prices)
        points = self._points[symbol]
        step = self.step
        for t, p in zip(times.tolist(), prices.tolist()):
            points.add(-(-t // step) * step, p)

    def on_event(self, symbol: str, ts: int, price: float, volume: float = math.nan,
                 bid: float = math.nan, ask: float = math.nan, bid_size: float = math.nan,
                 ask_size: float = math.nan) -> None:
        """One event of ``symbol`` at ``ts`` (not before the last): its mark ``price``, and
        ``volume`` (bar volume, trade size) or the quote's ``bid``, ``ask`` and sizes."""
        if ts < self.last_ts:
            raise DataError(f"market stats: event time {ts} of {symbol!r} goes back (last "
                            f"{self.last_ts})")
        self.last_ts = ts
        step = self.step
        self._points[symbol].add(-(-ts // step) * step, price)
        if self._quotes[symbol]:
            if (bid > 0.0 and bid <= ask and ask - ask == 0.0 and bid_size >= 0.0
                    and bid_size - bid_size == 0.0 and ask_size >= 0.0
                    and ask_size - ask_size == 0.0):
                self._depth[symbol].append((bid_size, ask_size))
                self._half[symbol] = (ask - bid) / 2.0
        elif price - price == 0.0 and price > 0.0 and volume - volume == 0.0 and volume >= 0.0:
            self._depth[symbol].append(volume)

    def warm(self) -> None:
        """Compile the kernels behind the regime and correlation now (building
        ``MarketStats`` over a few made-up prices), leaving this object as it was. A session
        calls it before its market starts: in a fresh install numba compiles them on first
        use, several seconds in which the session's first order check would hold up the
        events behind it. (The cost is read here in Python: its kernel is not needed.)"""
        step = self.step
        ts = np.arange(1, 9, dtype=np.int64) * step
        made_up = [SymbolEvents(name, ts, 100.0 * (k + 1) + np.arange(8.0) ** (k + 1),
                                volume=np.ones(8), ordered=True)
                   for k, name in enumerate(("a", "b"))]
        stats = MarketStats(made_up, self.config)
        at = int(ts[-1])
        stats.regime("a", at)
        stats.regime_percentile("a", at)
        stats.correlated("a", at, 0.5)

    # --- the grid statistics ----------------------------------------------------------------

    def _symbol(self, symbol: str) -> int:
        return symbol_index(self._index, symbol)

    def _at(self, ts: int) -> MarketStats | None:
        """The statistics over every cell closed at ``ts`` (built again when one closed)."""
        closed = ts // self.step * self.step
        if closed == self._built_at:
            return self._stats
        events = []
        for symbol in self.symbols:
            points = self._points[symbol]
            if points.open_end is not None and points.open_end <= closed:
                points.close()
            events.append((symbol, points.ends, points.prices))
        if not any(ends for _, ends, _ in events):
            return None   # no cell closed yet: NORMAL, nothing correlated
        # the grid reaches the lookup's cell, as the whole data's grid would, even where no
        # symbol printed since: a bad print at the last closed end extends it, changing no
        # price (the grid walks back over bad prints)
        symbol, ends, prices = events[0]
        events[0] = (symbol, [*ends, closed], [*prices, math.nan])
        self._stats = MarketStats(
            [SymbolEvents(s, np.asarray(e, dtype=np.int64), np.asarray(p, dtype=np.float64),
                          volume=np.zeros(len(e)), ordered=True) for s, e, p in events],
            self.config)
        self._built_at = closed
        self.rebuilds += 1
        return self._stats

    def regime(self, symbol: str, ts: int) -> int:
        """The regime code of ``symbol`` as of the last regime cell closed at ``ts``."""
        self._symbol(symbol)
        stats = self._at(ts)
        return NORMAL if stats is None else stats.regime(symbol, ts)

    def regime_percentile(self, symbol: str, ts: int) -> float:
        self._symbol(symbol)
        stats = self._at(ts)
        return math.nan if stats is None else stats.regime_percentile(symbol, ts)

    def correlation(self, a: str, b: str, ts: int) -> float:
        self._symbol(a)
        self._symbol(b)
        stats = self._at(ts)
        return math.nan if stats is None else stats.correlation(a, b, ts)

    def correlated(self, symbol: str, ts: int, threshold: float) -> tuple[str, ...]:
        self._symbol(symbol)
        stats = self._at(ts)
        return () if stats is None else stats.correlated(symbol, ts, threshold)

    # --- cost -------------------------------------------------------------------------------

    def index(self, symbol: str) -> int:
        """The position of ``symbol`` in :attr:`symbols` (``MarketStats.index``)."""
        return self._symbol(symbol)

    def order_cost_bps(self, s: int, ts: int, qty: float, price: float) -> float:
        """:meth:`cost_bps` of the symbol at index ``s`` (``MarketStats.order_cost_bps``)."""
        return self.cost_bps(self.symbols[s], ts, qty, price)

    def cost_bps(self, symbol: str, ts: int, qty: float, price: float) -> float:
        """Half the spread plus square-root impact of ``qty`` at ``price``, in bps, from the
        session's last ``cost_window`` good events of ``symbol``; ``inf`` with none yet."""
        self._symbol(symbol)
        if not 0.0 < price < math.inf:
            raise ValueError(f"cost_bps: price must be a finite number > 0, got {price!r}")
        if not -math.inf < qty < math.inf:
            raise ValueError(f"cost_bps: qty must be a finite number, got {qty!r}")
        ring = self._depth[symbol]
        total = 0.0
        if self._quotes[symbol]:
            side = 1 if qty >= 0.0 else 0   # a buy takes the ask
            for sizes in reversed(ring):
                total += sizes[side]
            half = 1e4 * self._half[symbol] / price
        else:
            for volume in reversed(ring):
                total += volume
            half = self._half_default
        n = len(ring)
        depth = total / n if n else 0.0
        if n == 0 or not depth > 0.0:
            return math.inf
        return half + self._impact_k * math.sqrt(abs(qty) / depth)


def history_cells(config: StatsConfig) -> tuple[str, int]:
    """The timeframe a session's history is fetched in (the regime's and correlation's
    finer interval) and how many closed bars the rules need before they say anything."""
    regime = timeframe_to_ns(config.regime_interval)
    corr = timeframe_to_ns(config.correlation_interval)
    fine = min(regime, corr)
    need = max((config.regime_window + config.regime_lookback + 1) * regime,
               (config.correlation_window + 1) * corr) // fine
    return (config.regime_interval if fine == regime else config.correlation_interval), need


async def fetch_history(exchange: Any, stats: LiveMarketStats, now_ms: int,
                        limit: int = 1000) -> dict[str, int]:
    """Each symbol's closed bars before ``now_ms`` through REST (``fetch_ohlcv`` in the finer
    interval of the regime and correlation, as many as they need, at most ``limit``), added
    to ``stats`` as history; returns the bars each symbol got. An exchange without that
    timeframe gives none (the rules then start from the session's own data)."""
    from engine.live.executor import ask_patiently

    timeframe, need = history_cells(stats.config)
    frames = getattr(exchange, "timeframes", None) or {}
    got: dict[str, int] = {}
    if timeframe not in frames:
        return {s: 0 for s in stats.symbols}
    step_ms = timeframe_to_ns(timeframe) // 1_000_000
    want = min(need, limit)
    since = (now_ms // step_ms - want) * step_ms
    for symbol in stats.symbols:
        rows = await ask_patiently(exchange, "fetch_ohlcv", partial(
            exchange.fetch_ohlcv, symbol, timeframe, since, want)) or []
        # closed bars only, each at its close time; a bar still forming is left out
        closed = [(int(r[0]) + step_ms, float(r[4])) for r in rows
                  if r[0] is not None and int(r[0]) + step_ms <= now_ms and r[4] is not None]
        closed.sort()
        stats.add_history(symbol, [t * 1_000_000 for t, _ in closed], [p for _, p in closed])
        got[symbol] = len(closed)
    return got


__all__ = ["LiveMarketStats", "fetch_history", "history_cells"]
