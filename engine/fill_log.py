"""The fills a backtest booked, in booking order, kept as compactly as they were booked.

A fill booked on its own (the venue matching a trade, a bar or a quote) is an ``OrderFilled``
event, as the strategy's ``on_fill`` saw it. A run of one order's forecast fills booked by the
compiled kernels (``engine.booking``) is kept as what the kernel had: the order's fields once,
and one row of numbers per fill. Most fills of a large backtest come in runs, so building an
event per fill only to take the columns apart again for the result would cost more than the
booking did. :meth:`FillLog.columns` gives the result's fills table straight from both; reading
the log as a sequence (``for fill in log``, ``log[i]``) gives every fill as its event, the run's
built on the fly with exactly the fields the venue would have given it.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np

from engine.messages import TAKER, OrderFilled

_new = tuple.__new__

# The fills table's columns, and the event field each one comes from.
FILL_COLUMNS = ["ts", "symbol", "strategy_id", "client_order_id", "side", "qty", "price",
                "fee", "liquidity", "slippage_bps", "leaves_qty"]
_SOURCE = {"ts": "ts_event", "qty": "last_qty", "price": "last_price"}
_NUMERIC = {"ts": np.int64, "qty": np.float64, "price": np.float64, "fee": np.float64,
            "slippage_bps": np.float64, "leaves_qty": np.float64}


class FillRun:
    """One order's fills booked as a run: the order's fields (strategy id, venue, symbol,
    client and venue order ids, side), the sequence number of its first fill (fill ids are
    ``F-<seq>``), and per fill a row of ``values`` (qty, price, fee, slippage_bps,
    filled_after, notional_after, leaves_after) at time ``ts``. All taker fills."""

    __slots__ = ("header", "seq", "ts", "values")

    def __init__(self, header: tuple[str, str, str, str, str, str], seq: int,
                 values: np.ndarray, ts: Sequence[int]) -> None:
        self.header = header
        self.seq = seq
        self.values = values
        self.ts = np.asarray(ts, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> np.ndarray:
        """One of the fills table's numeric columns (``qty``, ``price``, ``fee``,
        ``slippage_bps``, ``leaves_qty``) over the run."""
        return self.values[:, _RUN_VALUES[name]]

    def event(self, i: int) -> OrderFilled:
        sid, venue, symbol, coid, voi, side = self.header
        qty, price, fee, slip, filled, _, leaves = self.values[i].tolist()
        t = int(self.ts[i])
        return _new(OrderFilled, (sid, venue, symbol, coid, voi, f"F-{self.seq + i}", side,
                                  qty, price, filled, leaves, TAKER, fee, slip, t, t, 0.0))

    def events(self) -> list[OrderFilled]:
        sid, venue, symbol, coid, voi, side = self.header
        seq = self.seq
        return [_new(OrderFilled, (sid, venue, symbol, coid, voi, f"F-{seq + i}", side, qty,
                                   price, filled, leaves, TAKER, fee, slip, t, t, 0.0))
                for i, ((qty, price, fee, slip, filled, _, leaves), t)
                in enumerate(zip(self.values.tolist(), self.ts.tolist()))]


class FillLog(Sequence[OrderFilled]):
    """Every fill of a run in booking order (see the module's doc): single events appended
    with :meth:`append`, runs with :meth:`add_run`."""

    def __init__(self) -> None:
        self._parts: list[list[OrderFilled] | FillRun] = []
        self._starts: list[int] = []   # the position of each part's first fill
        self._n = 0
        self._columns: tuple[int, dict[str, np.ndarray]] | None = None   # the last columns()

    def __len__(self) -> int:
        return self._n

    def append(self, event: OrderFilled) -> None:
        if not self._parts or type(self._parts[-1]) is not list:
            self._parts.append([])
            self._starts.append(self._n)
        self._parts[-1].append(event)   # type: ignore[union-attr]  # a list, checked above
        self._n += 1

    def extend(self, events: Iterable[OrderFilled]) -> None:
        for event in events:
            self.append(event)

    def add_run(self, run: FillRun) -> None:
        if len(run):
            self._parts.append(run)
            self._starts.append(self._n)
            self._n += len(run)

    def __eq__(self, other: object) -> bool:
        """Equal to a log or a list of the same events, in the same order."""
        if isinstance(other, (FillLog, list)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None   # type: ignore[assignment]  # mutable

    def __iter__(self) -> Iterator[OrderFilled]:
        for part in self._parts:
            yield from (part if type(part) is list else part.events())  # type: ignore[union-attr]

    @overload
    def __getitem__(self, i: int) -> OrderFilled: ...

    @overload
    def __getitem__(self, i: slice) -> list[OrderFilled]: ...

    def __getitem__(self, i: int | slice) -> OrderFilled | list[OrderFilled]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"fill {i} of {self._n}")
        k = bisect.bisect_right(self._starts, i) - 1
        part, offset = self._parts[k], i - self._starts[k]
        return part[offset] if type(part) is list else part.event(offset)  # type: ignore[union-attr]

    def symbols(self) -> np.ndarray:
        """Each fill's symbol (an object array)."""
        return self.columns()["symbol"]

    def columns(self, names: Sequence[str] = FILL_COLUMNS) -> dict[str, np.ndarray]:
        """The fills table (:data:`FILL_COLUMNS`, or the ``names`` of it asked for), one
        array per column: int64 times, float64 numbers, object arrays of text. Built for all
        runs at once (their rows stacked, their order fields repeated), not run by run, and
        kept until the next fill is booked."""
        if self._columns is not None and self._columns[0] == self._n and \
                all(name in self._columns[1] for name in names):
            return {name: self._columns[1][name] for name in names}
        runs = [p for p in self._parts if type(p) is FillRun]
        singles = [e for p in self._parts if type(p) is list for e in p]
        lengths = np.array([len(p) for p in self._parts], dtype=np.int64)
        in_run = np.repeat(np.array([type(p) is FillRun for p in self._parts], dtype=bool),
                           lengths)
        run_at, single_at = np.flatnonzero(in_run), np.flatnonzero(~in_run)
        run_lengths = np.array([len(r) for r in runs], dtype=np.int64)
        values = (np.concatenate([r.values for r in runs]) if runs
                  else np.empty((0, 7)))
        out = {}
        enabled = gc.isenabled()
        gc.disable()   # columns of many fills: many references, none cyclic
        try:
            for name in names:
                column = np.empty(self._n, dtype=_NUMERIC.get(name, object))
                field = OrderFilled._fields.index(_SOURCE.get(name, name))
                column[single_at] = [e[field] for e in singles]
                if name == "ts":
                    column[run_at] = (np.concatenate([r.ts for r in runs]) if runs
                                      else np.empty(0, dtype=np.int64))
                elif name in _RUN_VALUES:
                    column[run_at] = values[:, _RUN_VALUES[name]]
                elif name == "liquidity":
                    column[run_at] = TAKER
                else:
                    k = _HEADER[name]
                    heads = np.empty(len(runs), dtype=object)
                    heads[:] = [r.header[k] for r in runs]
                    column[run_at] = np.repeat(heads, run_lengths)
                out[name] = column
        finally:
            if enabled:
                gc.enable()
        self._columns = (self._n, out)
        return out


# the fills table's numeric columns in a run's rows (as engine.fills.market_fills gives them:
# qty, price, fee, slippage_bps, filled_after, notional_after, leaves_after)
_RUN_VALUES = {"qty": 0, "price": 1, "fee": 2, "slippage_bps": 3, "leaves_qty": 6}
_HEADER = {"strategy_id": 0, "venue": 1, "symbol": 2, "client_order_id": 3, "side": 5}
