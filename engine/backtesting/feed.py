"""Market data as a backtest reads it: one instrument's feed, the event-time merge of several
feeds, and what each row means (the message a hook receives, the venue's match against it),
one reader for both event loops."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.data.schema import BAR, COLUMNS, QUOTE, TRADE
from engine.errors import ConfigError, NoDataError
from engine.messages import Bar, Quote, Trade

if TYPE_CHECKING:
    from engine.venue import SimulatedVenue

_new = tuple.__new__


@dataclasses.dataclass
class Feed:
    """One instrument's market data of one kind, as columns (see ``engine.data.schema``)."""

    symbol: str
    kind: str
    frame: pd.DataFrame
    interval_ns: int = 0

    def __post_init__(self) -> None:
        if self.kind not in (BAR, TRADE, QUOTE):
            raise ConfigError(f"feed kind must be bar, trade or quote, got {self.kind!r}")
        if self.kind == BAR and self.interval_ns <= 0:
            raise ConfigError(f"bar feed {self.symbol!r} needs a positive interval_ns")
        if len(self.frame) == 0:
            raise NoDataError(f"feed {self.symbol!r} ({self.kind}) has no rows")

    def event_times(self) -> np.ndarray:
        """When each row becomes known: bar close time, or the trade/quote time."""
        ts = self.frame["ts"].to_numpy(dtype=np.int64)
        return ts + self.interval_ns if self.kind == BAR else ts

    def mark_prices(self) -> np.ndarray:
        """The price positions are marked at after each row: close, trade price, or mid."""
        f = self.frame
        if self.kind == BAR:
            return f["close"].to_numpy(dtype=np.float64)
        if self.kind == TRADE:
            return f["price"].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):   # bad prints give NaN mids
            return (f["bid"].to_numpy(dtype=np.float64)
                    + f["ask"].to_numpy(dtype=np.float64)) / 2

    def arrays(self) -> dict[str, np.ndarray]:
        """Every stored column as a numpy array (what a batch path or a sparse visit reads)."""
        return {name: self.frame[name].to_numpy() for name in self.frame.columns}

    def row_columns(self, every_row: bool) -> dict[str, Sequence[Any]]:
        """The columns an event loop reads row by row, each item a plain Python value: the
        schema's columns in its types, except that ``ts`` gives way to ``ts_event``
        (:meth:`event_times`), plus ``mark`` (:meth:`mark_prices`).

        With ``every_row`` (a loop that builds each row's message) they are lists: an item is
        the cheapest read once they exist. Otherwise they are memoryviews over the arrays,
        which cost nothing to make and give each item as it is read (a loop that iterates two
        columns and looks up the others only for the few rows with working orders).
        """
        arrays = {name: self.frame[name].to_numpy(dtype=None if name == "trade_id" else dtype)
                  for name, dtype in COLUMNS[self.kind].items()
                  if name != "ts" and name in self.frame}   # (trade ids as stored: text later)
        arrays["ts_event"] = self.event_times()
        arrays["mark"] = self.mark_prices()
        return {name: _rows(array, every_row) for name, array in arrays.items()}


def _rows(array: np.ndarray, as_list: bool) -> Sequence[Any]:
    """``array``'s items as Python values: a list, or a memoryview (numbers only)."""
    if as_list or array.dtype.kind not in "biuf":
        return array.tolist()
    return np.ascontiguousarray(array).data


RowMessage = Callable[[int], Any]
RowMatch = Callable[[int], None]


def row_readers(feed: Feed, columns: dict[str, Sequence[Any]], venue_name: str,
                venue: SimulatedVenue) -> tuple[RowMessage, RowMatch]:
    """What row ``r`` of ``feed`` means to a backtest, read from ``columns``
    (:meth:`Feed.row_columns`): ``message(r)``, the ``Bar`` (stamped with its close time),
    ``Trade`` or ``Quote`` a hook receives; ``match(r)``, the venue matching its working orders
    of the feed's symbol against that event."""
    symbol = feed.symbol
    ts = columns["ts_event"]
    if feed.kind == BAR:
        interval = feed.interval_ns
        o, h, lo, c, v = (columns[k] for k in ("open", "high", "low", "close", "volume"))
        on_bar = venue.on_bar

        def bar(r: int) -> Bar:
            t = ts[r]
            return _new(Bar, (venue_name, symbol, interval, o[r], h[r], lo[r], c[r], v[r], t, t))

        def match_bar(r: int) -> None:
            t = ts[r]
            on_bar(symbol, o[r], h[r], lo[r], c[r], v[r], t - interval, t)
        return bar, match_bar
    if feed.kind == TRADE:
        price, size, side, trade_id = (columns[k] for k in ("price", "size", "side",
                                                            "trade_id"))
        on_trade = venue.on_trade

        def trade(r: int) -> Trade:
            t = ts[r]
            return _new(Trade, (venue_name, symbol, price[r], size[r], side[r],
                                str(trade_id[r]), t, t))

        def match_trade(r: int) -> None:
            on_trade(symbol, price[r], size[r], ts[r])
        return trade, match_trade
    bid, ask, bid_size, ask_size = (columns[k] for k in ("bid", "ask", "bid_size", "ask_size"))
    on_quote = venue.on_quote

    def quote(r: int) -> Quote:
        t = ts[r]
        return _new(Quote, (venue_name, symbol, bid[r], ask[r], bid_size[r], ask_size[r], t, t))

    def match_quote(r: int) -> None:
        on_quote(symbol, bid[r], ask[r], bid_size[r], ask_size[r], ts[r])
    return quote, match_quote


def merged_events(feeds: list[Feed]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every feed's rows in event-time order, ties broken by feed order: per event its feed
    index, row, time (``ts_event``) and mark price."""
    times = [f.event_times() for f in feeds]
    feed_ids = np.concatenate([np.full(len(t), i, dtype=np.int64) for i, t in enumerate(times)])
    rows = np.concatenate([np.arange(len(t), dtype=np.int64) for t in times])
    ts = np.concatenate(times)
    order = np.lexsort((rows, feed_ids, ts))
    marks = np.concatenate([f.mark_prices() for f in feeds])
    return feed_ids[order], rows[order], ts[order], marks[order]
