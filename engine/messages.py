"""Message types carried between the parts of the engine (and, in the actor graph, over ZeroMQ).

Three kinds, named by grammar:

- data are nouns: ``Bar``, ``Trade``, ``Quote``, ``OrderBookSnapshot`` and the columnar
  ``MarketBatch`` used on the fast path;
- commands are imperative: ``SubmitOrder``, ``CancelOrder``;
- events are past tense: ``OrderAccepted``, ``OrderRejected``, ``OrderDenied``,
  ``OrderFilled`` (partial fills carry ``leaves_qty > 0``), ``OrderCanceled``.

Every message carries ``ts_event`` (when it happened, exchange/event time) and ``ts_init``
(when the engine created it), both int nanoseconds UTC.

Records are immutable typed NamedTuples: construction costs a fraction of a frozen dataclass,
which matters because one ``Bar`` is built per event on the hook path. Equality also compares
the type, so a ``Bar`` never equals a ``Trade`` holding the same values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from engine.errors import InvalidMessageError

# Order sides, types, time in force and liquidity, as plain strings: readable on the wire and
# in reports, cheap to compare on the hot path.
BUY = "BUY"
SELL = "SELL"
SIDES = (BUY, SELL)

MARKET = "MARKET"
LIMIT = "LIMIT"
STOP = "STOP"
STOP_LIMIT = "STOP_LIMIT"
TRAILING_STOP = "TRAILING_STOP"
ORDER_TYPES = (MARKET, LIMIT, STOP, STOP_LIMIT, TRAILING_STOP)

GTC = "GTC"
IOC = "IOC"
TIME_IN_FORCE = (GTC, IOC)

MAKER = "MAKER"
TAKER = "TAKER"


def _typed_eq(self: tuple, other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _typed_ne(self: tuple, other: object) -> bool:
    return not _typed_eq(self, other)


def _typed_hash(self: tuple) -> int:
    return hash((type(self).__name__, tuple(self)))


# --- data -------------------------------------------------------------------------------------


class Bar(NamedTuple):
    """An OHLCV bar. ``ts_event`` is the bar's close time (when it became known)."""

    venue: str
    symbol: str
    interval_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts_event: int
    ts_init: int

    @property
    def ts_open(self) -> int:
        """The bar's open time, ns."""
        return self.ts_event - self.interval_ns


class Trade(NamedTuple):
    """A public trade print. ``aggressor`` is +1 buyer-initiated, -1 seller-initiated, 0 unknown."""

    venue: str
    symbol: str
    price: float
    size: float
    aggressor: int
    trade_id: str
    ts_event: int
    ts_init: int


class Quote(NamedTuple):
    """Top of book."""

    venue: str
    symbol: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts_event: int
    ts_init: int


class OrderBookSnapshot(NamedTuple):
    """Price levels of one book: bids best (highest) first, asks best (lowest) first."""

    venue: str
    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    ts_event: int
    ts_init: int


# --- commands ---------------------------------------------------------------------------------


class SubmitOrder(NamedTuple):
    """Place an order (the rules of each type: ``engine.venue`` and ``docs/orders.md``).

    ``limit_price`` is set for LIMIT and STOP_LIMIT, ``stop_price`` for STOP and STOP_LIMIT;
    a TRAILING_STOP takes ``trail_offset`` (a price distance) or ``trail_percent`` (a
    fraction: 0.02 trails 2 % behind the best price). ``reduce_only`` orders may only reduce
    the strategy's position; ``post_only`` limits never take liquidity; orders sharing an
    ``oco_group`` cancel each other when one of them fills.

    Field order is part of the wire format (``engine.codec`` frames the fields in declaration
    order): fields are only ever appended, with defaults, after ``ts_init``, so the first
    twelve keep their positions.
    """

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    quantity: float
    limit_price: float | None
    stop_price: float | None
    time_in_force: str
    ts_event: int
    ts_init: int
    reduce_only: bool = False
    post_only: bool = False
    trail_offset: float | None = None
    trail_percent: float | None = None
    oco_group: str | None = None


class CancelOrder(NamedTuple):
    """Cancel a working order."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    ts_event: int
    ts_init: int


# --- events -----------------------------------------------------------------------------------


class OrderAccepted(NamedTuple):
    """The venue accepted an order; it is working."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str
    ts_event: int
    ts_init: int


class OrderRejected(NamedTuple):
    """The venue refused an order (invalid quantity, price, ...)."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    reason: str
    ts_event: int
    ts_init: int


class OrderDenied(NamedTuple):
    """Risk refused an order before it reached the venue."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    reason: str
    ts_event: int
    ts_init: int


class OrderFilled(NamedTuple):
    """An order (partly) filled. ``leaves_qty > 0`` means a partial fill: the rest keeps working.
    ``last_qty``, ``cum_qty`` and ``leaves_qty`` are the order's traded quantities."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    venue_order_id: str
    trade_id: str
    side: str
    last_qty: float
    last_price: float
    cum_qty: float
    leaves_qty: float
    liquidity: str
    fee: float
    slippage_bps: float
    ts_event: int
    ts_init: int
    # the part of the traded quantity the venue kept as its fee, in the base asset (Binance
    # takes a buy's commission in the coin bought): the position moves by ``last_qty -
    # fee_qty`` on a buy and by ``-(last_qty + fee_qty)`` on a sell; ``fee`` is then the part
    # paid in the quote currency
    fee_qty: float = 0.0


class OrderCanceled(NamedTuple):
    """A working order was canceled; ``reason`` says why (by request, IOC remainder, strategy
    fault)."""

    strategy_id: str
    venue: str
    symbol: str
    client_order_id: str
    reason: str
    ts_event: int
    ts_init: int


# --- actor graph: strategy workers and the risk actor -----------------------------------------


class IntentBatch(NamedTuple):
    """A strategy worker's batch-path output for one (symbol, strategy): the intents it
    decided on rows up to ``upto_row`` of the symbol's stream (see ``engine.intents``).

    The columns travel as raw little-endian bytes: ``rows`` int64, ``kinds`` int8, ``values``
    and ``prices`` float64. ``done`` is 1 on the strategy's last batch. ``fault_row`` is -1, or
    the row where the batch path raised, with ``error`` and ``traceback``.
    """

    strategy_id: str
    symbol: str
    upto_row: int
    done: int
    fault_row: int
    error: str
    traceback: str
    rows: bytes
    kinds: bytes
    values: bytes
    prices: bytes


class Valuation(NamedTuple):
    """The portfolio's equity and mark prices as of ``ts_event``, sent with an order to risk,
    and what the market rules read about the order's symbol (``engine.risk.MarketView``):
    its regime, the order's estimated cost in bps and the symbols correlated with it."""

    ts_event: int
    equity: float
    symbols: tuple[str, ...]
    marks: tuple[float, ...]
    regime: int
    cost_bps: float
    group: tuple[str, ...]


class FillBatch(NamedTuple):
    """A run of fills in booking order, as columns: the risk audit's compact form of
    ``OrderFilled`` events, carrying only what the risk engine's portfolio view uses."""

    strategy_ids: tuple[str, ...]
    symbols: tuple[str, ...]
    client_order_ids: tuple[str, ...]
    sides: tuple[str, ...]
    last_qtys: tuple[float, ...]
    leaves_qtys: tuple[float, ...]
    last_prices: tuple[float, ...]
    fees: tuple[float, ...]
    ts_events: tuple[int, ...]


class FillRun(NamedTuple):
    """A run of one order's fills in booking order: the risk audit's form of the fills a
    backtest books compiled (``engine.booking``). The order's ids and side appear once; the
    numbers travel as raw little-endian bytes, ``last_qtys``, ``leaves_qtys``,
    ``last_prices`` and ``fees`` float64 and ``ts_events`` int64, one value per fill."""

    strategy_id: str
    symbol: str
    client_order_id: str
    side: str
    last_qtys: bytes
    leaves_qtys: bytes
    last_prices: bytes
    fees: bytes
    ts_events: bytes

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The numbers as arrays (qty, leaves, price, fee, ts); columns that are not whole
        values or differ in length raise ``InvalidMessageError``."""
        counts = set()
        for name in ("last_qtys", "leaves_qtys", "last_prices", "fees", "ts_events"):
            data = getattr(self, name)
            if len(data) % 8:
                raise InvalidMessageError(f"FillRun.{name} of {self.client_order_id!r} holds "
                                          f"{len(data)} bytes, not a multiple of 8")
            counts.add(len(data) // 8)
        if len(counts) != 1:
            raise InvalidMessageError(f"FillRun columns of {self.client_order_id!r} differ in "
                                      f"length")
        return (np.frombuffer(self.last_qtys, "<f8"), np.frombuffer(self.leaves_qtys, "<f8"),
                np.frombuffer(self.last_prices, "<f8"), np.frombuffer(self.fees, "<f8"),
                np.frombuffer(self.ts_events, "<i8"))


class RiskEvent(NamedTuple):
    """Something the risk engine did besides approving or denying an order: ``kind`` is
    ``state`` (a trading state changed: ``state`` is the new one), ``order_reduced`` (an order
    cut to fit: ``value`` is the quantity sent), ``kill_switch``, ``margin_call``,
    ``liquidation`` (``value``: the equity then) or ``bankrupt``. ``scope`` is ``portfolio``
    or a strategy id; ``reason`` starts with a reason code (``docs/risk.md``)."""

    kind: str
    scope: str
    symbol: str
    client_order_id: str
    state: str
    reason: str
    value: float
    ts_event: int
    ts_init: int


RECORD_TYPES: tuple[type, ...] = (
    Bar, Trade, Quote, OrderBookSnapshot,
    SubmitOrder, CancelOrder,
    OrderAccepted, OrderRejected, OrderDenied, OrderFilled, OrderCanceled,
    IntentBatch, Valuation, FillBatch, RiskEvent,
)

for _cls in RECORD_TYPES:
    _cls.__eq__ = _typed_eq  # type: ignore[method-assign, assignment]
    _cls.__ne__ = _typed_ne  # type: ignore[method-assign, assignment]
    _cls.__hash__ = _typed_hash  # type: ignore[method-assign, assignment]


# --- columnar batches (fast path) --------------------------------------------------------------


class MarketSlice(NamedTuple):
    """Rows ``start`` to ``stop`` (exclusive) of a symbol's market-data stream, which the
    receiver already holds: the actor graph places every stream in Ray's object store once,
    and its feed paces and numbers the batches while the workers map the rows zero-copy.
    ``start == stop`` ends the stream."""

    kind: str
    venue: str
    symbol: str
    start: int
    stop: int
    interval_ns: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


class MarketBatch:
    """A batch of market events of one kind for one instrument, as numpy columns.

    ``kind`` is ``"bar"``, ``"trade"`` or ``"quote"``; ``columns`` follow
    ``engine.data.schema``. Batches, not single events, cross process boundaries.
    """

    __slots__ = ("columns", "interval_ns", "kind", "symbol", "ts_init", "venue")

    def __init__(self, kind: str, venue: str, symbol: str, columns: dict[str, np.ndarray],
                 *, interval_ns: int = 0, ts_init: int = 0) -> None:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"MarketBatch columns differ in length: "
                             f"{ {k: len(v) for k, v in columns.items()} }")
        self.kind = kind
        self.venue = venue
        self.symbol = symbol
        self.interval_ns = int(interval_ns)
        self.columns = columns
        self.ts_init = int(ts_init)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def ts_event(self) -> int:
        """Event time of the batch: the time its last event became known."""
        ts = self.columns.get("ts")
        if ts is None or len(ts) == 0:
            return 0
        return int(ts[-1]) + self.interval_ns

    def __eq__(self, other: object) -> bool:
        if type(other) is not MarketBatch:
            return NotImplemented
        return (self.kind == other.kind and self.venue == other.venue
                and self.symbol == other.symbol and self.interval_ns == other.interval_ns
                and self.ts_init == other.ts_init
                and list(self.columns) == list(other.columns)
                and all(a.dtype == other.columns[k].dtype and np.array_equal(
                    a, other.columns[k], equal_nan=a.dtype.kind == "f")
                    for k, a in self.columns.items()))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"MarketBatch(kind={self.kind!r}, venue={self.venue!r}, symbol={self.symbol!r}, "
                f"rows={len(self)}, columns={list(self.columns)})")


Message = Any  # any of RECORD_TYPES or MarketBatch
