"""Batch paths: a strategy's fast twin of its per-event hooks.

A strategy may implement ``on_batch(batch)``: it receives a whole chunk of its symbol's
events as numpy columns (an :class:`EventBatch`) and returns the orders its hooks would have
placed on those events, as :class:`Intents` (columns: the row the decision was taken on, what
kind of order, a value and a price). The engine turns each intent into exactly the context
call the hook makes, at that row's place in event time::

    TARGET_PERCENT  ctx.order_target_percent(value, price)
    TARGET_QTY      ctx.order_target(value)
    ORDER_QTY       ctx.buy(value) if value > 0 else ctx.sell(-value)   (market orders)

So sizing (which reads portfolio equity), risk checks and fills are decided by the engine in
event-time order, while the heavy per-event work (indicators, signals) runs vectorized or in
numba, in parallel on the actor graph. Chunks arrive in order; a batch path keeps whatever
state it needs across chunks on ``self`` and must give the same intents whatever the chunk
boundaries are (the tests cut the same data at different sizes).

A batch path fits strategies whose decisions depend on market data and their own signal state
only. A strategy that reacts to its fills or reads the portfolio to decide *whether* to trade
keeps to its hooks; the engine falls back to them.
"""

from __future__ import annotations

import dataclasses
import traceback
from typing import Any

import numpy as np

from engine.data.schema import BAR, QUOTE, TRADE
from engine.errors import InvalidMessageError
from engine.messages import IntentBatch

TARGET_PERCENT = 0
TARGET_QTY = 1
ORDER_QTY = 2


class EventBatch:
    """A chunk of one symbol's market events, as columns, in event-time order.

    ``start`` is the row of the first event in the symbol's whole stream; ``ts`` the events'
    times (a bar's close time); ``price`` the price a strategy usually acts on (a bar's close,
    a trade's price, a quote's mid); ``columns`` every stored column (``engine.data.schema``).
    """

    __slots__ = ("columns", "kind", "price", "start", "symbol", "ts")

    def __init__(self, kind: str, symbol: str, start: int, columns: dict[str, np.ndarray],
                 interval_ns: int = 0) -> None:
        self.kind = kind
        self.symbol = symbol
        self.start = int(start)
        self.columns = columns
        ts = columns["ts"]
        self.ts = ts + interval_ns if kind == BAR else ts
        if kind == BAR:
            self.price = columns["close"]
        elif kind == TRADE:
            self.price = columns["price"]
        elif kind == QUOTE:
            with np.errstate(invalid="ignore", over="ignore"):   # bad prints give NaN mids
                self.price = (columns["bid"] + columns["ask"]) / 2
        else:
            raise ValueError(f"unknown event kind {kind!r}")

    def __len__(self) -> int:
        return len(self.ts)

    def __getattr__(self, name: str) -> Any:
        # batch.close, batch.volume, batch.size ... read the stored columns
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(f"{self.kind} batch has no column {name!r}; it has "
                                 f"{', '.join(self.columns)}") from None


class Intents:
    """Orders a batch path decided: parallel columns, rows non-decreasing (several intents
    may share a row; they are placed in order).

    ``row`` counts in the symbol's whole stream (``batch.start + i``).
    """

    __slots__ = ("kind", "price", "row", "value")

    def __init__(self, row: np.ndarray, kind: np.ndarray, value: np.ndarray,
                 price: np.ndarray) -> None:
        self.row = np.ascontiguousarray(row, dtype=np.int64)
        self.kind = np.ascontiguousarray(kind, dtype=np.int8)
        self.value = np.ascontiguousarray(value, dtype=np.float64)
        self.price = np.ascontiguousarray(price, dtype=np.float64)
        n = len(self.row)
        if not (len(self.kind) == len(self.value) == len(self.price) == n):
            raise ValueError(f"Intents columns differ in length: row {n}, kind "
                             f"{len(self.kind)}, value {len(self.value)}, price {len(self.price)}")

    def __len__(self) -> int:
        return len(self.row)

    @classmethod
    def empty(cls) -> Intents:
        return cls(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0), np.empty(0))

    @classmethod
    def concat(cls, parts: list[Intents]) -> Intents:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.row for p in parts]),
                   np.concatenate([p.kind for p in parts]),
                   np.concatenate([p.value for p in parts]),
                   np.concatenate([p.price for p in parts]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Intents):
            return NotImplemented
        return (np.array_equal(self.row, other.row) and np.array_equal(self.kind, other.kind)
                and np.array_equal(self.value, other.value, equal_nan=True)
                and np.array_equal(self.price, other.price, equal_nan=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Intents({len(self)} rows)"


def target_percent(batch: EventBatch, index: np.ndarray, fraction: np.ndarray,
                   price: np.ndarray | None = None) -> Intents:
    """``ctx.order_target_percent(fraction, price)`` at batch positions ``index`` (price
    defaults to the batch's price at those positions)."""
    index = np.asarray(index, dtype=np.int64)
    px = batch.price[index] if price is None else price
    return Intents(index + batch.start, np.full(len(index), TARGET_PERCENT, np.int8),
                   np.broadcast_to(np.asarray(fraction, dtype=np.float64), index.shape), px)


def target_qty(batch: EventBatch, index: np.ndarray, qty: np.ndarray) -> Intents:
    """``ctx.order_target(qty)`` at batch positions ``index``."""
    index = np.asarray(index, dtype=np.int64)
    return Intents(index + batch.start, np.full(len(index), TARGET_QTY, np.int8),
                   np.broadcast_to(np.asarray(qty, dtype=np.float64), index.shape),
                   batch.price[index])


def order_qty(batch: EventBatch, index: np.ndarray, signed_qty: np.ndarray) -> Intents:
    """A market buy (positive) or sell (negative) of ``signed_qty`` at batch positions ``index``."""
    index = np.asarray(index, dtype=np.int64)
    return Intents(index + batch.start, np.full(len(index), ORDER_QTY, np.int8),
                   np.broadcast_to(np.asarray(signed_qty, dtype=np.float64), index.shape),
                   batch.price[index])


def percent_targets(batch: EventBatch, targets: np.ndarray) -> Intents:
    """``ctx.order_target_percent(targets[i], price)`` at every position ``i`` of the batch
    where ``targets`` is not NaN: the dense form a batch kernel fills (NaN meaning "no order
    on this event")."""
    index = np.flatnonzero(targets == targets)
    return target_percent(batch, index, targets[index])


def qty_targets(batch: EventBatch, targets: np.ndarray) -> Intents:
    """``ctx.order_target(targets[i])`` at every position ``i`` where ``targets`` is not NaN."""
    index = np.flatnonzero(targets == targets)
    return target_qty(batch, index, targets[index])


def apply_intent(ctx: Any, kind: int, value: float, price: float) -> None:
    """Place one intent through a strategy context: the very call the hook would make."""
    if kind == TARGET_PERCENT:
        ctx.order_target_percent(value, price)
    elif kind == TARGET_QTY:
        ctx.order_target(value)
    elif kind == ORDER_QTY:
        if value > 0:
            ctx.buy(value)
        elif value < 0:
            ctx.sell(-value)
    else:
        raise ValueError(f"unknown intent kind {kind!r}")


class IntentSource:
    """Where a batch-mode run gets its intents: per strategy id, intents in row order, how far
    each has got (a watermark row: every intent up to that row is delivered), and faults."""

    strategy_ids: frozenset[str] = frozenset()

    def poll(self, block: bool) -> list[IntentUpdate]:
        """Updates available now; with ``block``, wait until at least one arrives."""
        raise NotImplementedError


@dataclasses.dataclass
class IntentUpdate:
    """Intents of one strategy up to ``upto_row`` of its symbol's stream (inclusive)."""

    strategy_id: str
    intents: Intents
    upto_row: int
    done: bool = False
    fault: tuple[int, str, str] | None = None   # (row, error, traceback)


def to_message(update: IntentUpdate, symbol: str) -> IntentBatch:
    """The wire form of an update (one ``IntentBatch`` frame)."""
    it = update.intents
    row, error, tb = update.fault if update.fault is not None else (-1, "", "")
    return IntentBatch(update.strategy_id, symbol, int(update.upto_row), int(update.done),
                       int(row), error, tb, it.row.astype("<i8").tobytes(),
                       it.kind.astype("|i1").tobytes(), it.value.astype("<f8").tobytes(),
                       it.price.astype("<f8").tobytes())


def from_message(msg: IntentBatch) -> IntentUpdate:
    """Rebuild an update from its wire form; inconsistent columns raise ``InvalidMessageError``."""
    sizes = {"rows": (msg.rows, 8), "kinds": (msg.kinds, 1), "values": (msg.values, 8),
             "prices": (msg.prices, 8)}
    counts = set()
    for name, (data, item) in sizes.items():
        if len(data) % item:
            raise InvalidMessageError(f"IntentBatch.{name} of {msg.strategy_id!r} holds "
                                      f"{len(data)} bytes, not a multiple of {item}")
        counts.add(len(data) // item)
    if len(counts) != 1:
        raise InvalidMessageError(f"IntentBatch columns of {msg.strategy_id!r} differ in "
                                  f"length")
    intents = Intents(np.frombuffer(msg.rows, "<i8"), np.frombuffer(msg.kinds, "|i1"),
                      np.frombuffer(msg.values, "<f8"), np.frombuffer(msg.prices, "<f8"))
    fault = (msg.fault_row, msg.error, msg.traceback) if msg.fault_row >= 0 else None
    return IntentUpdate(msg.strategy_id, intents, msg.upto_row, bool(msg.done), fault)


def batch_intents(strategy: Any, strategy_id: str, kind: str, symbol: str,
                  columns: dict[str, np.ndarray], interval_ns: int, chunk_rows: int,
                  start: int = 0) -> IntentUpdate:
    """Run ``strategy.on_batch`` over ``columns`` (rows from ``start`` of the symbol's stream)
    in chunks. A raising batch path faults the strategy at its chunk's first row; the intents
    of earlier chunks stand."""
    n = len(columns["ts"])
    parts: list[Intents] = []
    for lo in range(0, n, chunk_rows):
        chunk = {k: v[lo:lo + chunk_rows] for k, v in columns.items()}
        try:
            out = strategy.on_batch(EventBatch(kind, symbol, start + lo, chunk, interval_ns))
            if out is not None and not isinstance(out, Intents):
                raise TypeError(f"on_batch must return Intents or None, got "
                                f"{type(out).__name__}")
        except Exception as exc:  # the guard around user code
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return IntentUpdate(strategy_id, Intents.concat(parts), start + n - 1, done=True,
                                fault=(start + lo, f"{type(exc).__name__}: {exc}", tb))
        if out is not None:
            parts.append(out)
    return IntentUpdate(strategy_id, Intents.concat(parts), start + n - 1, done=True)
