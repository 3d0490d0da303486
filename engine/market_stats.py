"""Market statistics behind the pre-trade risk rules, as known at an order's event time ``ts``:
a symbol's volatility regime, the symbols its returns move with, and the cost of crossing the
spread and moving the market with an order.

Everything is computed once, at construction, from each symbol's whole event arrays; a lookup
reads one precomputed value, so it costs microseconds. Nothing a lookup at ``ts`` returns
depends on an event later than ``ts`` (tests/unit/test_market_stats.py changes every later
event and checks).

**The grid.** Regime and correlation read prices sampled on a time grid of ``interval`` ns,
aligned to the epoch. Cell ``c`` covers ``(end - interval, end]`` and is named by its
``end``; its price is the last good print (finite and > 0; others are skipped) with event time
in it, or, in a cell without one, the price carried forward from the cell before. A cell is
*closed*, and usable, from ``ts >= end``: a 1h bar closing at 01:00 is the 01:00 cell's
price, known at 01:00. The grid runs from the cell of the earliest event of any symbol to the
cell of the latest, so a symbol whose prints stop is carried flat to the end (at ``ts`` no one
can know that its prints have stopped for good). A lookup at ``ts`` reads the last closed
cell; after the grid ends, its last cell. Log returns: ``r[c] = ln p[c] - ln p[c-1]``.

**Regime** (``regime_interval``): realized volatility ``rv[c]``, the population standard
deviation of the last ``regime_window`` returns (``engine.indicators.stddev``); its percentile
rank among the last ``regime_lookback`` values of ``rv`` (itself included), as
``100 * (#below + #equal / 2) / regime_lookback`` (scipy's ``percentileofscore`` with
``kind="mean"``: a flat stretch ranks 50, not 100); the label from ``regime_thresholds``
``(t1, t2, t3)``: CALM below t1, NORMAL below t2, VOLATILE below t3, HIGHLY_VOLATILE at t3 or
above. With fewer than ``regime_window + regime_lookback`` closed cells since the symbol's
first print the percentile is NaN and the label NORMAL.

**Correlation** (``correlation_interval``): the Pearson correlation of two symbols' returns
over the last ``correlation_window`` cells (``engine.indicators.correl``). NaN until both
symbols have that many returns (so symbols whose data only partly overlap correlate over the
overlap), and NaN while either is flat over the window; NaN never counts as correlated.

**Cost** of an order of ``qty`` (signed: > 0 buys, < 0 sells) at ``price``, in bps::

    cost_bps = half_spread_bps + impact_k_bps * sqrt(|qty| / depth)

- ``half_spread_bps``: quotes, ``1e4 * (ask - bid) / 2 / price`` of the last good quote
  (finite, ``0 < bid <= ask``, sizes finite and >= 0); bars and trades, which carry no spread,
  ``default_spread_bps / 2``.
- ``depth``, the size the venue's square-root impact model divides by (``engine.venue``): the
  mean volume per event over the last ``cost_window`` good events (bar volume or trade size,
  finite and >= 0, with a good price); for quotes, the mean size on the side the order takes
  (ask for buys, bid for sells). Fewer than ``cost_window`` good events so far: the mean of
  those there are.
- No good event yet, or a depth of zero: ``+inf`` (the rule denies).

**Size.** Per grid cell, 17 bytes per symbol (returns, percentile, label) and 8 per pair of
symbols, each with itself included (correlation): 8 symbols on a 1h grid over a year take
about 4 MB. Per good event, 16 bytes (bars, trades) or 32 (quotes) for the cost.
``benchmarks/market_stats.py`` measures construction and lookups.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numba import njit

from engine.data.schema import BAR, QUOTE, TRADE
from engine.errors import ConfigError, DataError, NoDataError
from engine.indicators import correl, stddev
from engine.settings import coerce_floats
from engine.timeframes import timeframe_to_ns

REGIMES = ("CALM", "NORMAL", "VOLATILE", "HIGHLY_VOLATILE")
"""Regime labels by code: ``REGIMES[stats.regime(symbol, ts)]``."""
CALM, NORMAL, VOLATILE, HIGHLY_VOLATILE = range(4)


@dataclasses.dataclass(frozen=True)
class StatsConfig:
    """How the market statistics are measured (see the module docstring for the formulas)."""

    regime_interval: str = "1h"
    regime_window: int = 24          # returns per realized-volatility value
    regime_lookback: int = 720       # realized-volatility values the percentile ranks among
    regime_thresholds: tuple[float, float, float] = (25.0, 75.0, 95.0)
    correlation_interval: str = "1h"
    correlation_window: int = 48     # returns per correlation value
    cost_window: int = 60            # events the mean depth is taken over
    default_spread_bps: float = 2.0  # bars and trades: the full spread assumed
    impact_k_bps: float = 10.0

    def __post_init__(self) -> None:
        for name in ("regime_interval", "correlation_interval"):
            try:
                timeframe_to_ns(getattr(self, name))
            except ConfigError as exc:
                raise ConfigError(f"StatsConfig.{name}: {exc}") from None
        for name, minimum in (("regime_window", 2), ("regime_lookback", 1),
                              ("correlation_window", 2), ("cost_window", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"StatsConfig.{name} must be an integer >= {minimum}, "
                                  f"got {value!r}")
        coerce_floats(self, prefix="StatsConfig.")
        for name in ("default_spread_bps", "impact_k_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"StatsConfig.{name} must be a finite number >= 0, "
                                  f"got {value!r}")
        t = self.regime_thresholds
        ok = (isinstance(t, (tuple, list)) and len(t) == 3
              and all(not isinstance(x, bool) and isinstance(x, (int, float)) for x in t))
        if not ok or not 0.0 < t[0] < t[1] < t[2] < 100.0:
            raise ConfigError(f"StatsConfig.regime_thresholds must be three increasing "
                              f"percentiles strictly between 0 and 100, got {t!r}")
        object.__setattr__(self, "regime_thresholds", tuple(float(x) for x in t))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StatsConfig:
        """A config from a mapping of field names; an unknown key is an error naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown StatsConfig key(s) {unknown}; known: {sorted(known)}")
        values = dict(values)
        if "regime_thresholds" in values and isinstance(values["regime_thresholds"], list):
            values["regime_thresholds"] = tuple(values["regime_thresholds"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class SymbolEvents:
    """One symbol's events as the statistics read them: event times (int64 ns,
    non-decreasing), mark prices (NaN for a bad print), and either ``volume`` (bars: bar
    volume; trades: trade size) or, for quotes, ``bid``, ``ask``, ``bid_size`` and
    ``ask_size``."""

    symbol: str
    ts: np.ndarray
    price: np.ndarray
    volume: np.ndarray | None = None
    bid: np.ndarray | None = None
    ask: np.ndarray | None = None
    bid_size: np.ndarray | None = None
    ask_size: np.ndarray | None = None
    # the times are known to be in order (a loaded feed's): not scanned again
    ordered: bool = dataclasses.field(default=False, compare=False)

    def __post_init__(self) -> None:
        quotes = (self.bid, self.ask, self.bid_size, self.ask_size)
        if self.volume is None and any(a is None for a in quotes):
            raise DataError(f"{self.symbol!r}: give volume (bars, trades) or bid, ask, "
                            f"bid_size and ask_size (quotes)")
        ts = np.ascontiguousarray(self.ts, dtype=np.int64)
        if ts.ndim != 1:
            raise DataError(f"{self.symbol!r}: ts must be one-dimensional, got shape "
                            f"{ts.shape}")
        if not self.ordered and ts.size > 1 and bool((ts[1:] < ts[:-1]).any()):
            raise DataError(f"{self.symbol!r}: event times must be non-decreasing")
        object.__setattr__(self, "ts", ts)
        for name in ("price", "volume", "bid", "ask", "bid_size", "ask_size"):
            value = getattr(self, name)
            if value is None:
                continue
            array = np.ascontiguousarray(value, dtype=np.float64)
            if array.shape != ts.shape:
                raise DataError(f"{self.symbol!r}: {name} has shape {array.shape}, ts "
                                f"{ts.shape}")
            object.__setattr__(self, name, array)

    @property
    def is_quotes(self) -> bool:
        return self.volume is None


# --- compiled kernels -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _grid_prices(times, prices, first_end, interval, cells):  # pragma: no cover - compiled
    """Each grid cell's last good price (finite, > 0), carried forward into cells without
    one; NaN before the first. Cell ``c`` covers ``(first_end + (c-1)*interval,
    first_end + c*interval]``. Each cell finds its last event by binary search and walks
    back over bad prints only, so a long stream is read at a few places per cell, not whole
    (in the actor graph the columns sit in shared memory, mostly never touched)."""
    out = np.full(cells, np.nan)
    for c in range(cells):
        end = first_end + c * interval
        i = np.searchsorted(times, end, side="right") - 1
        start = end - interval
        while i >= 0 and times[i] > start:
            p = prices[i]
            if p - p == 0.0 and p > 0.0:
                out[c] = p
                break
            i -= 1
        if out[c] != out[c] and c > 0:
            out[c] = out[c - 1]
    return out


@njit(cache=True, nogil=True)
def _depth_at(times, volume, price, ts, window):  # pragma: no cover - compiled
    """Bars and trades: the mean volume of the last ``window`` good events (price finite and
    > 0, volume finite and >= 0) at or before ``ts`` (fewer at the start of the data), and
    how many there were; read backwards from ``ts``."""
    i = np.searchsorted(times, ts, side="right") - 1
    total = 0.0
    n = 0
    while i >= 0 and n < window:
        p = price[i]
        v = volume[i]
        if p - p == 0.0 and p > 0.0 and v - v == 0.0 and v >= 0.0:
            total += v
            n += 1
        i -= 1
    return (total / n if n else 0.0), n


@njit(cache=True, nogil=True)
def _quote_depth_at(times, bid, ask, bid_size, ask_size, ts, window,
                    buy):  # pragma: no cover - compiled
    """Quotes: the mean size on the side taken (ask size for a buy) over the last ``window``
    good quotes at or before ``ts``, how many there were, and the last good quote's half
    spread (price units)."""
    i = np.searchsorted(times, ts, side="right") - 1
    total = 0.0
    n = 0
    half = np.nan
    while i >= 0 and n < window:
        b = bid[i]
        a = ask[i]
        bs = bid_size[i]
        az = ask_size[i]
        if (b > 0.0 and b <= a and a - a == 0.0 and bs >= 0.0 and bs - bs == 0.0
                and az >= 0.0 and az - az == 0.0):
            if n == 0:
                half = (a - b) / 2.0
            total += az if buy else bs
            n += 1
        i -= 1
    return (total / n if n else 0.0), n, half


@njit(cache=True, nogil=True)
def _percentile_ranks(values, lookback):  # pragma: no cover - compiled
    """Percentile rank (kind "mean") of each value among the ``lookback`` values ending at
    it; NaN until ``lookback`` finite values in a row."""
    n = values.size
    out = np.full(n, np.nan)
    run = 0
    for j in range(n):
        v = values[j]
        if v - v != 0.0:
            run = 0
            continue
        run += 1
        if run < lookback:
            continue
        below = 0
        equal = 0
        for k in range(j - lookback + 1, j + 1):
            w = values[k]
            if w < v:
                below += 1
            elif w == v:
                equal += 1
        out[j] = 100.0 * (below + 0.5 * equal) / lookback
    return out


# --- what construction computes -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Grid:
    """A time grid: the end of its cell 0, the cell length, and per symbol the log returns."""

    first_end: int
    interval: int
    returns: np.ndarray    # (symbols, cells)

    def cell(self, ts: int) -> int:
        """The last cell closed at ``ts`` (clamped to the grid's last), or -1 before cell 0."""
        c = (ts - self.first_end) // self.interval
        last = self.returns.shape[1] - 1
        return c if c < last else last


def _grid(events: Sequence[SymbolEvents], interval: int,
          history: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> _Grid:
    """Every symbol's log returns on one grid of ``interval`` ns from the earliest event's
    cell to the latest's (``history``'s prices, before each symbol's events, included)."""
    series = []
    for e in events:
        ts, price = e.ts, e.price
        if history and e.symbol in history:
            before_ts, before_price = history[e.symbol]
            ts = np.concatenate((before_ts, ts))
            price = np.concatenate((before_price, price))
        series.append((ts, price))
    starts = [int(ts[0]) for ts, _ in series if ts.size]
    ends = [int(ts[-1]) for ts, _ in series if ts.size]
    first_end = -(-min(starts) // interval) * interval
    cells = (-(-max(ends) // interval) * interval - first_end) // interval + 1
    returns = np.empty((len(events), cells))
    for s, (ts, price) in enumerate(series):
        logs = np.log(_grid_prices(ts, price, first_end, interval, cells))
        returns[s, 0] = np.nan
        np.subtract(logs[1:], logs[:-1], out=returns[s, 1:])
    return _Grid(first_end, interval, returns)


def symbol_index(index: Mapping[str, int], symbol: str) -> int:
    """``symbol``'s position in ``index`` (symbol -> position, in the statistics' order); an
    unknown symbol is a ``KeyError`` naming it and the symbols there are."""
    try:
        return index[symbol]
    except KeyError:
        raise KeyError(f"unknown symbol {symbol!r}: the market stats know "
                       f"{list(index)}") from None


def history_arrays(symbol: str, ts: Any, price: Any) -> tuple[np.ndarray, np.ndarray]:
    """One symbol's history as int64 times and float64 prices: one-dimensional, of one
    length, times non-decreasing (an error naming the symbol otherwise)."""
    times = np.ascontiguousarray(ts, dtype=np.int64)
    prices = np.ascontiguousarray(price, dtype=np.float64)
    if times.ndim != 1 or times.shape != prices.shape:
        raise DataError(f"market stats history {symbol!r}: times {times.shape} and prices "
                        f"{prices.shape} must be one-dimensional and of one length")
    if times.size > 1 and bool((times[1:] < times[:-1]).any()):
        raise DataError(f"market stats history {symbol!r}: times must be non-decreasing")
    return times, prices


def _checked_history(history: Mapping[str, tuple[np.ndarray, np.ndarray]] | None,
                     events: Sequence[SymbolEvents]
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """``history`` as int64 times and float64 prices, checked: equal lengths, times in
    order and before the symbol's first event, symbols the events have."""
    if not history:
        return None
    firsts = {e.symbol: (int(e.ts[0]) if e.ts.size else None) for e in events}
    out = {}
    for symbol, (times, prices) in history.items():
        if symbol not in firsts:
            raise ConfigError(f"market stats history: unknown symbol {symbol!r}; the events "
                              f"have {list(firsts)}")
        ts, price = history_arrays(symbol, times, prices)
        first = firsts[symbol]
        if ts.size and first is not None and int(ts[-1]) >= first:
            raise DataError(f"market stats history {symbol!r}: it must end before the "
                            f"symbol's first event ({first}), its last time is {int(ts[-1])}")
        out[symbol] = (ts, price)
    return out


# --- the statistics -------------------------------------------------------------------------


class MarketStats:
    """Regime, correlation and pre-trade cost of a set of symbols, at any event time ``ts``,
    from events with event time <= ``ts`` only (see the module docstring)."""

    def __init__(self, events: Sequence[SymbolEvents], config: StatsConfig | None = None,
                 history: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        """The statistics of ``events``, one :class:`SymbolEvents` per symbol, in the order
        :meth:`correlated` lists symbols.

        ``history`` (symbol -> event times and prices, all before the symbol's first event)
        adds prices from before the data to the regime and correlation grids only, not to
        the cost: what a live session fetched through REST to know the regime from its
        start, given to a backtest over the session's recording so it decides alike."""
        history = _checked_history(history, events)
        self.config = config = config if config is not None else StatsConfig()
        self.symbols = tuple(e.symbol for e in events)
        if not self.symbols:
            raise NoDataError("market stats need at least one symbol")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"market stats: a symbol is listed twice: {list(self.symbols)}")
        if not any(e.ts.size for e in events):
            raise NoDataError(f"market stats: no events for {list(self.symbols)}")
        self._index = {s: i for i, s in enumerate(self.symbols)}

        regime = _grid(events, timeframe_to_ns(config.regime_interval), history)
        self._regime_grid = regime
        self._percentile = np.empty_like(regime.returns)
        for s in range(len(events)):
            vol = stddev(regime.returns[s], config.regime_window)
            self._percentile[s] = _percentile_ranks(vol, config.regime_lookback)
        code = np.searchsorted(np.asarray(config.regime_thresholds), self._percentile,
                               side="right")
        code[np.isnan(self._percentile)] = NORMAL
        self._regime = code.astype(np.int8)
        # lookups read Python lists: an order's check reads one value, and indexing a numpy
        # array (then converting the scalar) costs several times a list's
        self._regime_rows = [row.tolist() for row in self._regime]
        self._regime_at = (regime.first_end, regime.interval, regime.returns.shape[1] - 1)

        interval = timeframe_to_ns(config.correlation_interval)
        corr = (regime if interval == regime.interval else _grid(events, interval, history))
        self._corr_grid = corr
        n = len(self.symbols)
        # one column per unordered pair, the diagonal included; cells in rows, so a lookup
        # reads one contiguous row
        self._pair = np.zeros((n, n), dtype=np.intp)
        pairs = [(a, b) for a in range(n) for b in range(a, n)]
        self._corr = np.empty((corr.returns.shape[1], len(pairs)))
        for p, (a, b) in enumerate(pairs):
            self._pair[a, b] = self._pair[b, a] = p
            self._corr[:, p] = correl(corr.returns[a], corr.returns[b],
                                      config.correlation_window)
        # per symbol, each other symbol with its pair column, in the feeds' order
        self._others = [tuple((self.symbols[k], int(self._pair[i, k]))
                              for k in range(n) if k != i) for i in range(n)]

        self._events = list(events)   # the costs are read from them at each lookup
        self._cost_window = config.cost_window
        self._half_default = config.default_spread_bps / 2.0
        self._impact_k = config.impact_k_bps

    @classmethod
    def from_feeds(cls, feeds: Sequence[Any], config: StatsConfig | None = None,
                   history: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
                   ) -> MarketStats:
        """The statistics of backtest feeds (``engine.backtesting.feed.Feed``), one per
        symbol: event times, mark prices, and bar volume, trade size or the quote columns."""
        events = []
        for feed in feeds:
            columns = feed.frame
            ts, price = feed.event_times(), feed.mark_prices()
            if feed.kind == BAR:
                events.append(SymbolEvents(feed.symbol, ts, price, volume=columns["volume"],
                                           ordered=True))
            elif feed.kind == TRADE:
                events.append(SymbolEvents(feed.symbol, ts, price, volume=columns["size"],
                                           ordered=True))
            elif feed.kind == QUOTE:
                events.append(SymbolEvents(feed.symbol, ts, price, bid=columns["bid"],
                                           ask=columns["ask"], bid_size=columns["bid_size"],
                                           ask_size=columns["ask_size"], ordered=True))
            else:
                raise ConfigError(f"feed {feed.symbol!r}: unknown kind {feed.kind!r}")
        return cls(events, config, history)

    def _symbol(self, symbol: str) -> int:
        return symbol_index(self._index, symbol)

    # --- regime ---------------------------------------------------------------------------

    def regime(self, symbol: str, ts: int) -> int:
        """The regime code (index into :data:`REGIMES`) of ``symbol`` as of the last regime
        cell closed at ``ts``; NORMAL before enough history."""
        s = self._index.get(symbol)
        if s is None:
            s = self._symbol(symbol)   # raises, naming it
        first_end, interval, last = self._regime_at
        c = (ts - first_end) // interval
        if c < 0:
            return NORMAL
        return self._regime_rows[s][c if c < last else last]

    def regime_percentile(self, symbol: str, ts: int) -> float:
        """The percentile rank (0..100) of ``symbol``'s realized volatility among its recent
        values, as of the last regime cell closed at ``ts``; NaN before enough history."""
        s = self._symbol(symbol)
        c = self._regime_grid.cell(ts)
        return float(self._percentile[s, c]) if c >= 0 else math.nan

    # --- correlation ----------------------------------------------------------------------

    def correlation(self, a: str, b: str, ts: int) -> float:
        """The correlation of ``a``'s and ``b``'s returns as of the last correlation cell
        closed at ``ts``; NaN before enough history or while either is flat."""
        p = self._pair[self._symbol(a), self._symbol(b)]
        c = self._corr_grid.cell(ts)
        return float(self._corr[c, p]) if c >= 0 else math.nan

    def correlated(self, symbol: str, ts: int, threshold: float) -> tuple[str, ...]:
        """The other symbols, in the feeds' order, whose correlation with ``symbol`` as of
        ``ts`` is at least ``threshold``."""
        others = self._others[self._symbol(symbol)]
        c = self._corr_grid.cell(ts)
        if c < 0:
            return ()
        row = self._corr[c].tolist()
        return tuple(name for name, p in others if row[p] >= threshold)

    # --- cost -----------------------------------------------------------------------------

    def cost_bps(self, symbol: str, ts: int, qty: float, price: float) -> float:
        """The estimated cost in bps of an order of ``qty`` (> 0 buys, < 0 sells) at
        ``price`` on ``symbol`` at ``ts``: half the spread plus square-root impact; ``inf``
        with no good event yet or zero depth."""
        s = self._index.get(symbol)
        if s is None:
            s = self._symbol(symbol)   # raises, naming it
        if not 0.0 < price < math.inf:
            raise ValueError(f"cost_bps: price must be a finite number > 0, got {price!r}")
        if not -math.inf < qty < math.inf:
            raise ValueError(f"cost_bps: qty must be a finite number, got {qty!r}")
        return self.order_cost_bps(s, ts, qty, price)

    def order_cost_bps(self, s: int, ts: int, qty: float, price: float) -> float:
        """:meth:`cost_bps` of the symbol at index ``s`` (:meth:`index`), for a ``qty`` and
        ``price`` the caller has checked (an order's check: one per entry, so it goes straight
        to the kernel)."""
        e = self._events[s]
        if e.volume is None:   # quotes
            depth, n, spread = _quote_depth_at(e.ts, e.bid, e.ask, e.bid_size, e.ask_size, ts,
                                               self._cost_window, qty >= 0.0)
            half = 1e4 * spread / price
        else:
            depth, n = _depth_at(e.ts, e.volume, e.price, ts, self._cost_window)
            half = self._half_default
        if n == 0 or not depth > 0.0:
            return math.inf
        return half + self._impact_k * math.sqrt(abs(qty) / depth)

    def index(self, symbol: str) -> int:
        """The position of ``symbol`` in :attr:`symbols` (a ``KeyError`` naming it when the
        statistics do not cover it)."""
        s = self._index.get(symbol)
        return s if s is not None else self._symbol(symbol)


__all__ = ["CALM", "HIGHLY_VOLATILE", "NORMAL", "REGIMES", "VOLATILE", "MarketStats",
           "StatsConfig", "SymbolEvents", "history_arrays", "symbol_index"]
