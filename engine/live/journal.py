"""The execution journal: every command and every venue event, written to SQLite before it is
passed on, so a restarted execution actor rebuilds its orders, positions and cash from it.

One journal file is one run: its run id is made when the file is created and kept on every
reopen, so the client order ids of a resumed run (``engine.live.ids``) continue where they
stopped, from per-stream sequences that are themselves journaled before use.

Schema (version ``SCHEMA_VERSION``)::

    meta(key TEXT PRIMARY KEY, value TEXT)         application, schema_version
    session(session INTEGER PRIMARY KEY, run_id, initial_cash, config JSON,
            started_ns, ended_ns)                  one row per open; the first is the run's
    records(seq INTEGER PRIMARY KEY, ts_wall, kind, client_order_id, exchange,
            payload BLOB)                          engine.codec frames, in journal order
    sequences(strategy_id, symbol, next)           the next client order sequence per stream
    strategy_state(strategy_id PRIMARY KEY, version, at_seq, ts_wall, state JSON)
    cursor(exchange, symbol, trade_id, ts_event)   how far reconciliation has read fills

Durability: WAL mode with ``synchronous=FULL``, so a record is on disk (fsynced) when
``append`` returns and survives a power loss, not just a process crash (``NORMAL`` survives
``kill -9`` too but may lose the last commits on power loss: an order could then be sent
with no record of it). ``benchmarks/journal.py`` prints what each costs: on the development
container about 0.2 ms per single append with FULL against 0.02-0.035 ms with NORMAL, small
beside an exchange round trip.

``synchronous="NORMAL"`` is accepted for paper trading and benchmarks.

The file is opened in exclusive locking mode: a second process (a second execution actor on
the same journal, which could place every order twice) gets a ``JournalError`` instead.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from engine.clock import Clock, LiveClock
from engine.codec import decode, encode
from engine.errors import CodecError, RaytraderError
from engine.live.ids import client_order_id, new_run_id
from engine.messages import (CancelOrder, OrderAccepted, OrderCanceled, OrderDenied, OrderFilled,
                             OrderRejected, RiskEvent, SubmitOrder)
from engine.portfolio import Portfolio

APPLICATION = "raytrader-journal"
SCHEMA_VERSION = 1

JOURNAL_TYPES: tuple[type, ...] = (SubmitOrder, CancelOrder, OrderAccepted, OrderRejected,
                                   OrderDenied, OrderFilled, OrderCanceled, RiskEvent)
_JOURNAL_TYPES = frozenset(JOURNAL_TYPES)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE session (
    session INTEGER PRIMARY KEY, run_id TEXT NOT NULL, initial_cash REAL NOT NULL,
    config TEXT NOT NULL, started_ns INTEGER NOT NULL, ended_ns INTEGER);
CREATE TABLE records (
    seq INTEGER PRIMARY KEY, ts_wall INTEGER NOT NULL, kind TEXT NOT NULL,
    client_order_id TEXT, exchange TEXT, payload BLOB NOT NULL);
CREATE INDEX records_by_order ON records (client_order_id);
CREATE TABLE sequences (
    strategy_id TEXT NOT NULL, symbol TEXT NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (strategy_id, symbol));
CREATE TABLE strategy_state (
    strategy_id TEXT PRIMARY KEY, version INTEGER NOT NULL, at_seq INTEGER NOT NULL,
    ts_wall INTEGER NOT NULL, state TEXT NOT NULL);
CREATE TABLE cursor (
    exchange TEXT NOT NULL, symbol TEXT NOT NULL, trade_id TEXT NOT NULL,
    ts_event INTEGER NOT NULL, PRIMARY KEY (exchange, symbol));
"""

# order statuses in the rebuilt state
PENDING_NEW = "PENDING_NEW"        # commanded, no acknowledgement journaled: ask the venue
WORKING = "WORKING"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
REJECTED = "REJECTED"              # by the venue
DENIED = "DENIED"                  # by risk, never sent
OPEN_STATUSES = frozenset({PENDING_NEW, WORKING, PARTIALLY_FILLED})
_QTY_EPS = 1e-12


class JournalError(RaytraderError):
    """The journal file cannot be used (not a journal, another schema version, corrupt, or
    open in another process): stop and call a human; never trade without the journal."""


class Entry(NamedTuple):
    """One journaled record with its journal sequence and wall time (ns)."""

    seq: int
    ts_wall: int
    record: Any


class Cursor(NamedTuple):
    """The last exchange fill reconciliation has seen for one (exchange, symbol)."""

    trade_id: str
    ts_event: int


# --- the rebuilt state -------------------------------------------------------------------------


@dataclasses.dataclass
class OrderState:
    """One order as the journal knows it."""

    command: SubmitOrder
    status: str = PENDING_NEW
    venue_order_id: str = ""
    filled_qty: float = 0.0
    avg_price: float = 0.0
    trade_ids: set[str] = dataclasses.field(default_factory=set)
    cancel_requested: bool = False
    reason: str = ""

    @property
    def client_order_id(self) -> str:
        return self.command.client_order_id

    @property
    def leaves_qty(self) -> float:
        return max(self.command.quantity - self.filled_qty, 0.0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Anomaly(NamedTuple):
    """A journaled record that does not fit the orders before it (an event for an order never
    commanded, a fill after the order was complete); kept, never silently dropped."""

    seq: int
    client_order_id: str
    detail: str


@dataclasses.dataclass
class JournalState:
    """What replaying a journal gives: orders by client order id, the portfolio (cash,
    positions, round trips), and what did not fit."""

    run_id: str
    portfolio: Portfolio
    orders: dict[str, OrderState] = dataclasses.field(default_factory=dict)
    risk_events: list[RiskEvent] = dataclasses.field(default_factory=list)
    duplicate_fills: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)
    anomalies: list[Anomaly] = dataclasses.field(default_factory=list)
    last_seq: int = 0
    cursors: dict[tuple[str, str], Cursor] = dataclasses.field(default_factory=dict)

    def pending_new(self) -> list[OrderState]:
        """Orders commanded but never acknowledged: the venue must be asked whether they exist
        before anything is sent again."""
        return [o for o in self.orders.values() if o.status == PENDING_NEW]

    def open_orders(self) -> list[OrderState]:
        """Orders pending, working or partly filled, in journal order."""
        return [o for o in self.orders.values() if o.is_open]

    def apply(self, seq: int, record: Any) -> None:
        """Replay one journaled record."""
        cls = type(record)
        self.last_seq = seq
        if cls is RiskEvent:
            self.risk_events.append(record)
            return
        coid = record.client_order_id
        order = self.orders.get(coid)
        if cls is SubmitOrder:
            if order is None:
                self.orders[coid] = OrderState(record)
            # else: the same order sent again (a retry): one order, same id
            return
        if order is None:
            self.anomalies.append(Anomaly(seq, coid, f"{cls.__name__} for an order never "
                                                     f"commanded"))
            if cls is not OrderFilled:
                return
            order = self.orders[coid] = OrderState(_command_from_fill(record))
        if cls is OrderAccepted:
            order.venue_order_id = record.venue_order_id
            if order.status == PENDING_NEW:
                order.status = WORKING
        elif cls is OrderFilled:
            self._fill(seq, order, record)
        elif cls is OrderCanceled:
            if order.status != FILLED:
                order.status = CANCELED
                order.reason = record.reason
        elif cls is OrderRejected and record.reason.startswith("cancel rejected"):
            pass   # a cancel refused (the order had filled): the order's state stands
        elif cls is OrderRejected or cls is OrderDenied:
            if order.filled_qty > 0:
                self.anomalies.append(Anomaly(seq, coid, f"{cls.__name__} after fills"))
            order.status = REJECTED if cls is OrderRejected else DENIED
            order.reason = record.reason
        elif cls is CancelOrder:
            order.cancel_requested = True

    def _fill(self, seq: int, order: OrderState, fill: OrderFilled) -> None:
        if fill.trade_id in order.trade_ids:
            self.duplicate_fills.append((seq, fill.client_order_id, fill.trade_id))
            return
        order.trade_ids.add(fill.trade_id)
        if order.status in (FILLED, CANCELED, REJECTED, DENIED):
            self.anomalies.append(Anomaly(seq, fill.client_order_id,
                                          f"fill {fill.trade_id} after the order was "
                                          f"{order.status.lower()}"))
        new_qty = order.filled_qty + fill.last_qty
        order.avg_price = (order.avg_price * order.filled_qty
                           + fill.last_price * fill.last_qty) / new_qty if new_qty else 0.0
        order.filled_qty = new_qty
        if fill.venue_order_id:
            order.venue_order_id = fill.venue_order_id
        if order.status in (PENDING_NEW, WORKING, PARTIALLY_FILLED):
            order.status = FILLED if fill.leaves_qty <= _QTY_EPS else PARTIALLY_FILLED
        self.portfolio.apply_fill(fill)

    def summary(self) -> dict[str, Any]:
        """Everything the state holds as plain values, for comparing two rebuilds."""
        pf = self.portfolio
        return {
            "run_id": self.run_id, "last_seq": self.last_seq, "cash": pf.cash,
            "positions": {f"{k[0]}|{k[1]}": (p.qty, p.avg_price, p.realized_pnl, p.fees)
                          for k, p in sorted(pf.positions.items())},
            "trades": pf.trades, "total_fees": pf.total_fees,
            "orders": {k: (o.command, o.status, o.venue_order_id, o.filled_qty, o.avg_price,
                           sorted(o.trade_ids), o.cancel_requested, o.reason)
                       for k, o in self.orders.items()},
            "risk_events": self.risk_events, "duplicate_fills": self.duplicate_fills,
            "anomalies": self.anomalies,
        }


def _command_from_fill(fill: OrderFilled) -> SubmitOrder:
    """A stand-in command for a fill of an order the journal never saw commanded."""
    return SubmitOrder(fill.strategy_id, fill.venue, fill.symbol, fill.client_order_id,
                       fill.side, "MARKET", fill.cum_qty + fill.leaves_qty, None, None, "GTC",
                       fill.ts_event, fill.ts_init)


def replay(run_id: str, initial_cash: float, entries: Iterable[Entry]) -> JournalState:
    """The state a sequence of journaled records leads to, from an empty portfolio holding
    ``initial_cash``."""
    state = JournalState(run_id, Portfolio(initial_cash))
    for entry in entries:
        state.apply(entry.seq, entry.record)
    return state


# --- the journal file --------------------------------------------------------------------------


class Journal:
    """An open journal file. ``initial_cash`` is required to create one and, when given on a
    reopen, must equal the stored one (a resumed run keeps its capital). ``config`` is recorded
    with the session; ``check`` runs SQLite's ``quick_check`` on open; ``synchronous`` is
    ``FULL`` (live) or ``NORMAL``. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path, *, initial_cash: float | None = None,
                 config: Mapping[str, Any] | None = None, clock: Clock | None = None,
                 check: bool = True, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self.synchronous = synchronous
        self.path = Path(path)
        self._clock = clock or LiveClock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=0.0)
            self._open(initial_cash, dict(config or {}), check)
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise self._error(exc) from None
        except BaseException:
            self._abandon()
            raise

    # -- opening

    def _open(self, initial_cash: float | None, config: dict[str, Any], check: bool) -> None:
        conn = self._db
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise JournalError(f"{self.path}: cannot switch to WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("BEGIN IMMEDIATE")   # takes the exclusive lock now, not at the first write
        try:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            created = not tables
            if created:
                if initial_cash is None:
                    raise JournalError(f"{self.path}: a new journal needs initial_cash")
                self._create(initial_cash)
            else:
                self._check_schema(tables)
            if check:
                problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise JournalError(f"{self.path}: journal file is corrupt: "
                                       f"{'; '.join(problems[:5])}")
            row = conn.execute("SELECT run_id, initial_cash FROM session "
                               "ORDER BY session LIMIT 1").fetchone()
            if row is None and not created:
                raise JournalError(f"{self.path}: journal has no session row")
            self.run_id: str = row[0] if row else new_run_id()
            self.initial_cash: float = row[1] if row else float(initial_cash or 0.0)
            if initial_cash is not None and float(initial_cash) != self.initial_cash:
                raise JournalError(f"{self.path}: journal of run {self.run_id} was started with "
                                   f"initial_cash {self.initial_cash}, not {initial_cash}")
            self.session: int = conn.execute(
                "INSERT INTO session (run_id, initial_cash, config, started_ns) "
                "VALUES (?, ?, ?, ?)", (self.run_id, self.initial_cash,
                                        json.dumps(config, sort_keys=True),
                                        self._clock.now_ns())).lastrowid or 0
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _create(self, initial_cash: float) -> None:
        if not (isinstance(initial_cash, (int, float)) and math.isfinite(initial_cash)
                and initial_cash > 0):
            raise JournalError(f"{self.path}: initial_cash must be a positive number, got "
                               f"{initial_cash!r}")
        conn = self._db
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))])

    def _check_schema(self, tables: set[str]) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("application") != APPLICATION:
            raise JournalError(f"{self.path}: not a raytrader journal (an SQLite database "
                               f"with tables {', '.join(sorted(tables))})")
        version = meta.get("schema_version")
        if version != str(SCHEMA_VERSION):
            raise JournalError(f"{self.path}: journal schema version {version}, this engine "
                               f"reads version {SCHEMA_VERSION}")

    def _error(self, exc: sqlite3.DatabaseError) -> JournalError:
        text = str(exc)
        if "locked" in text:
            return JournalError(f"{self.path}: journal is open in another process (or "
                                f"connection): one execution actor per journal ({text})")
        if "not a database" in text:
            return JournalError(f"{self.path}: not a raytrader journal (not an SQLite file)")
        return JournalError(f"{self.path}: journal file is unreadable or corrupt: {text}")

    def _abandon(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"{self.path}: journal is closed")
        return self._conn

    def close(self) -> None:
        """Record the session's end and close the file."""
        if self._conn is None:
            return
        try:
            self._conn.execute("UPDATE session SET ended_ns = ? WHERE session = ?",
                               (self._clock.now_ns(), self.session))
        finally:
            self._abandon()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records

    def _row(self, record: Any, ts_wall: int) -> tuple[int, str, str | None, str | None, bytes]:
        cls = type(record)
        if cls not in _JOURNAL_TYPES:
            raise TypeError(f"the journal keeps commands and venue events "
                            f"({', '.join(t.__name__ for t in JOURNAL_TYPES)}), not "
                            f"{cls.__name__}")
        coid = record.client_order_id or None
        venue = getattr(record, "venue", None)
        return ts_wall, cls.__name__, coid, venue, encode(record)

    def append(self, record: Any) -> int:
        """Write one command or venue event; it is committed (on disk) when this returns.
        Returns its journal sequence."""
        row = self._row(record, self._clock.now_ns())
        try:
            cur = self._db.execute("INSERT INTO records (ts_wall, kind, client_order_id, "
                                   "exchange, payload) VALUES (?, ?, ?, ?, ?)", row)
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None
        return cur.lastrowid or 0

    def append_many(self, records: Iterable[Any]) -> list[int]:
        """Write several records in one transaction: all of them or none are journaled."""
        now = self._clock.now_ns()
        rows = [self._row(r, now) for r in records]
        conn = self._db
        seqs = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    seqs.append(conn.execute(
                        "INSERT INTO records (ts_wall, kind, client_order_id, exchange, "
                        "payload) VALUES (?, ?, ?, ?, ?)", row).lastrowid or 0)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None
        return seqs

    def records(self, since_seq: int = 0) -> Iterator[Entry]:
        """The journaled records after ``since_seq``, decoded to their message types."""
        last = since_seq
        while True:   # in pages, so no read stays open while the caller works
            try:
                rows = self._db.execute("SELECT seq, ts_wall, payload FROM records WHERE seq > ? "
                                        "ORDER BY seq LIMIT 1000", (last,)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
            if not rows:
                return
            for seq, ts_wall, payload in rows:
                try:
                    record = decode(payload)
                except CodecError as exc:
                    raise JournalError(f"{self.path}: record {seq} does not decode: "
                                       f"{exc}") from None
                yield Entry(seq, ts_wall, record)
            last = rows[-1][0]

    def last_seq(self) -> int:
        """The sequence of the last journaled record (0 when there is none)."""
        return self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]

    def rebuild(self) -> JournalState:
        """Replay every record into orders, portfolio and cursors."""
        state = replay(self.run_id, self.initial_cash, self.records())
        state.cursors = self.cursors()
        return state

    # -- client order ids

    def next_sequence(self, strategy_id: str, symbol: str) -> int:
        """Reserve the next order sequence of (strategy, symbol), from 1; committed before it is
        returned, so no restart ever hands it out again."""
        conn = self._db
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT next FROM sequences WHERE strategy_id = ? AND symbol = ?",
                               (strategy_id, symbol)).fetchone()
            seq = row[0] if row else 1
            conn.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?, ?)",
                         (strategy_id, symbol, seq + 1))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return seq

    def next_client_order_id(self, strategy_id: str, symbol: str) -> str:
        """The client order id of the next order of (strategy, symbol) in this run."""
        return client_order_id(self.run_id, strategy_id, symbol,
                               self.next_sequence(strategy_id, symbol))

    # -- strategy state and reconciliation cursors

    def save_state(self, strategy_id: str, state: Mapping[str, Any]) -> int:
        """Persist a strategy's state (JSON-serialisable); returns its new version (from 1)."""
        blob = json.dumps(state, sort_keys=True, allow_nan=False)
        conn = self._db
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT version FROM strategy_state WHERE strategy_id = ?",
                               (strategy_id,)).fetchone()
            version = (row[0] if row else 0) + 1
            conn.execute("INSERT OR REPLACE INTO strategy_state VALUES (?, ?, "
                         "(SELECT COALESCE(MAX(seq), 0) FROM records), ?, ?)",
                         (strategy_id, version, self._clock.now_ns(), blob))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return version

    def load_state(self, strategy_id: str) -> dict[str, Any] | None:
        """A strategy's last saved state, or None if it never saved one."""
        row = self._db.execute("SELECT state FROM strategy_state WHERE strategy_id = ?",
                               (strategy_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def state_version(self, strategy_id: str) -> tuple[int, int] | None:
        """(version, journal seq when saved) of a strategy's state, or None."""
        row = self._db.execute("SELECT version, at_seq FROM strategy_state WHERE strategy_id "
                               "= ?", (strategy_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def set_cursor(self, exchange: str, symbol: str, trade_id: str, ts_event: int) -> None:
        """Record the last exchange fill seen for (exchange, symbol)."""
        self._db.execute("INSERT OR REPLACE INTO cursor VALUES (?, ?, ?, ?)",
                         (exchange, symbol, trade_id, ts_event))

    def cursor(self, exchange: str, symbol: str) -> Cursor | None:
        """The last exchange fill seen for (exchange, symbol), or None."""
        row = self._db.execute("SELECT trade_id, ts_event FROM cursor WHERE exchange = ? AND "
                               "symbol = ?", (exchange, symbol)).fetchone()
        return None if row is None else Cursor(row[0], row[1])

    def cursors(self) -> dict[tuple[str, str], Cursor]:
        """Every (exchange, symbol) cursor."""
        return {(r[0], r[1]): Cursor(r[2], r[3])
                for r in self._db.execute("SELECT * FROM cursor ORDER BY exchange, symbol")}
