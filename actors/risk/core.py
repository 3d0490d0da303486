"""The risk core: portfolio-level pre-trade checks (``engine.risk.RiskEngine``) for the
actor graph.

In a backtest every order is checked where the event-time pass runs: the execution actor
embeds the same ``RiskEngine`` (:class:`AuditedRisk`), because a round trip per order to
another process costs 150-600 µs on a 2-core machine (2-8 s for the standard workload's 14,000
orders) while the check itself takes a few microseconds. The risk actor is the independent
auditor of those decisions: it receives, in batches over ZeroMQ, every input the checks used
(the valuation as of the order's event time, the order, and the order flow since: approvals,
fills, cancels, rejections) and the decision taken, re-decides every order with its own
``RiskEngine``, and reports any disagreement, which fails the run. In paper and live trading,
where orders are rare and a round trip is cheap next to the exchange's, the same core
answers checks directly.

The audit stream is a sequence of records (``engine.codec.encode_many`` frames), in the order
they happened: a check is ``Valuation`` then ``SubmitOrder``, followed immediately by
``OrderDenied`` when it was denied or by the same ``SubmitOrder`` (its approval) when it
passed; venue events (``OrderFilled``, ``OrderCanceled``, ``OrderRejected``) appear as they
happen, a run of consecutive fills as one columnar ``FillBatch`` (a backtest books a fill per
trade an order takes, over a hundred thousand in the standard workload, and decoding each as
a full ``OrderFilled`` cost the auditor more than a CPU-second). An empty frame ends the
stream.
"""

from __future__ import annotations

import dataclasses
import operator
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import zmq

from engine import bus
from engine.codec import decode_many, encode_many
from engine.errors import InvalidMessageError
from engine.fill_log import FillRun as BookedRun   # (engine.messages.FillRun: its message)
from engine.messages import (FillBatch, FillRun, OrderCanceled, OrderDenied, OrderFilled,
                             OrderRejected, RiskEvent, SubmitOrder, Valuation)
from engine.risk import PORTFOLIO, MarketView, RiskEngine, RiskLimits

_VENUE_EVENTS = (OrderFilled, OrderCanceled, OrderRejected)
_MIN_RUN = 3   # shorter runs of one order's fills are replayed one by one
# the OrderFilled fields behind FillBatch's columns, in its order
_pick_fill_batch = operator.itemgetter(*(OrderFilled._fields.index(name) for name in (
    "strategy_id", "symbol", "client_order_id", "side", "last_qty", "leaves_qty", "last_price",
    "fee", "ts_event")))


@dataclasses.dataclass(frozen=True)
class AuditReport:
    """What the auditor found: orders checked, how many it denied, how many of the execution
    side's decisions it disagrees with, and the first of those."""

    checks: int
    denied: int
    mismatches: int
    first_mismatch: str | None


@dataclasses.dataclass(frozen=True)
class RiskSetup:
    """What a risk engine starts from: the rules, the capital and the taker fee (buys
    reserve cash for it)."""

    limits: RiskLimits
    capital: float
    taker_fee_bps: float

    @classmethod
    def of(cls, config: Any) -> RiskSetup:
        """The setup of a ``BacktestConfig``."""
        return cls(config.risk, config.capital, config.execution.taker_fee_bps)

    def engine(self) -> RiskEngine:
        return RiskEngine(self.limits, self.capital, self.taker_fee_bps)


class RiskCore:
    """Re-decides every audited check with its own risk engine."""

    def __init__(self, setup: RiskSetup, host: str = "127.0.0.1") -> None:
        self.engine = setup.engine()
        self.sock, self.endpoint = bus.bind(zmq.PULL, host)
        self.checks = 0
        self.mismatches = 0
        self.first_mismatch: str | None = None
        # an order and my decision (quantity, reason)
        self._check: tuple[SubmitOrder, float, str | None] | None = None
        self._valuation: Valuation | None = None
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def serve(self) -> AuditReport:
        """Audit until the stream ends; returns checks, denials and disagreements."""
        while True:
            if self._stop.is_set():
                raise InterruptedError("risk stopped")
            if not self.sock.poll(200, zmq.POLLIN):
                continue
            frame = self.sock.recv()
            if not frame:
                if self._check is not None:
                    raise InvalidMessageError("audit stream ended inside a check")
                return self.report()
            self.audit(decode_many(frame))

    def report(self) -> AuditReport:
        return AuditReport(self.checks, self.engine.n_denied, self.mismatches,
                           self.first_mismatch)

    def _disagree(self, cmd: SubmitOrder, theirs: str, mine: str) -> None:
        self.mismatches += 1
        if self.first_mismatch is None:
            self.first_mismatch = (f"order {cmd.client_order_id!r} at {cmd.ts_event}: "
                                   f"execution decided {theirs}, risk decides {mine}")

    def audit(self, records: list[Any]) -> None:
        """Replay records of the audit stream (see the module docs)."""
        engine = self.engine
        for record in records:
            cls = type(record)
            pending = self._check
            if pending is not None:
                cmd, my_qty, mine = pending
                self._check = None
                engine.events.clear()
                if cls is OrderDenied and record.client_order_id == cmd.client_order_id:
                    if my_qty > 0.0 or record.reason != mine:
                        self._disagree(cmd, f"denied ({record.reason!r})",
                                       f"{my_qty!r} ({mine!r})")
                elif cls is SubmitOrder and record.client_order_id == cmd.client_order_id:
                    if record != cmd._replace(quantity=record.quantity) or \
                            record.quantity != my_qty:
                        self._disagree(cmd, f"quantity {record.quantity!r}",
                                       f"{my_qty!r} ({mine!r})")
                    engine.on_approved(record)
                else:
                    raise InvalidMessageError(f"audit stream: the check of "
                                              f"{cmd.client_order_id!r} is not followed by its "
                                              f"decision (got {cls.__name__})")
                continue
            if cls is Valuation:
                self._valuation = record
            elif cls is SubmitOrder:
                valuation = self._valuation
                if valuation is None or valuation.ts_event != record.ts_event:
                    raise InvalidMessageError(f"audit stream: order {record.client_order_id!r} "
                                              f"has no valuation as of its time")
                self._valuation = None
                marks = dict(zip(valuation.symbols, valuation.marks))
                market = MarketView(valuation.regime, valuation.cost_bps, valuation.group)
                self.checks += 1
                qty, reason = engine.check(record, marks, market)
                self._check = (record, qty, reason)
            elif cls is FillBatch:
                n = len(record.strategy_ids)
                if any(len(column) != n for column in record):
                    raise InvalidMessageError(
                        "audit stream: FillBatch columns differ in length ("
                        + ", ".join(f"{name} {len(column)}"
                                    for name, column in zip(FillBatch._fields, record)) + ")")
                self._replay_fills(record)
                engine.events.clear()
            elif cls is FillRun:
                n = len(record.last_qtys) // 8
                self._replay(n * (record.strategy_id,), n * (record.symbol,),
                             n * (record.client_order_id,), n * (record.side,),
                             *record.columns())
                engine.events.clear()
            elif cls is RiskEvent:
                engine.apply(record)
                engine.events.clear()
            elif cls in _VENUE_EVENTS:
                engine.on_event(record)
            else:
                raise InvalidMessageError(f"audit stream: unexpected {cls.__name__}")

    def _replay_fills(self, batch: FillBatch) -> None:
        qty, leaves, price, fee = (np.array(column, dtype=np.float64) for column in batch[4:8])
        self._replay(batch.strategy_ids, batch.symbols, batch.client_order_ids, batch.sides,
                     qty, leaves, price, fee, batch.ts_events)

    def _replay(self, sids: Sequence[str], symbols: Sequence[str], coids: Sequence[str],
                sides: Sequence[str], qty: np.ndarray, leaves: np.ndarray, price: np.ndarray,
                fee: np.ndarray, ts: Sequence[int]) -> None:
        """Apply fills in booking order: runs of one order's fills compiled
        (``RiskEngine.on_fill_run``), the fills it leaves (a flip, a pair's first fill) one
        by one."""
        engine = self.engine
        on_fill = engine.on_fill
        n = len(sids)
        k = 0
        while k < n:
            coid = coids[k]
            end = k + 1
            while end < n and coids[end] == coid:
                end += 1
            while k < end:
                booked = engine.on_fill_run(sids[k], symbols[k], coid, sides[k],
                                            qty[k:end], leaves[k:end], price[k:end],
                                            fee[k:end], ts[k:end]) if end - k >= _MIN_RUN else 0
                k += booked
                if k < end:   # the fill the run stopped at
                    on_fill(sids[k], symbols[k], coid, sides[k], float(qty[k]),
                            float(leaves[k]), float(price[k]), float(fee[k]), int(ts[k]))
                    k += 1

    def close(self) -> None:
        self.sock.close(0)


class AuditedRisk(RiskEngine):
    """The execution core's risk engine: decides locally, streams every decision with its
    inputs to the risk actor for audit (batched, off the critical path)."""

    def __init__(self, setup: RiskSetup, endpoint: str, batch: int = 4096) -> None:
        super().__init__(setup.limits, setup.capital, setup.taker_fee_bps)
        self.sock = bus.connect(zmq.PUSH, endpoint)
        self.batch = batch
        self._records: list[Any] = []
        self._fills: list[OrderFilled] = []   # the current run of fills, not yet a FillBatch
        self._keys: set[str] = set()            # the symbols of the last marks checked
        self._symbols: tuple[str, ...] = ()     # the same, sorted

    def on_approved(self, cmd: SubmitOrder) -> None:
        super().on_approved(cmd)
        self._close_fills()
        self._records.append(cmd)

    def on_event(self, event: Any) -> None:
        cls = type(event)
        if cls is OrderFilled:
            super().on_event(event)
            self._fills.append(event)
            if len(self._fills) >= self.batch:
                self.flush()
        elif cls in _VENUE_EVENTS:
            super().on_event(event)
            self._close_fills()
            self._records.append(event)

    def run_booked(self, run: BookedRun) -> None:
        self._close_fills()
        sid, _, symbol, coid, _, side = run.header
        qty, leaves, price, fee = (run.column(name).astype("<f8").tobytes()
                                   for name in ("qty", "leaves_qty", "price", "fee"))
        self._records.append(FillRun(sid, symbol, coid, side, qty, leaves, price, fee,
                                     run.ts.astype("<i8").tobytes()))
        if len(self._records) >= self.batch:
            self.flush()

    def kill(self, ts: int, reason: str = "kill switch") -> None:
        super().kill(ts, reason)
        self._record_event(RiskEvent("kill_switch", PORTFOLIO, "", "", "HALTED", reason, 0.0,
                                     ts, ts))

    def note(self, event: RiskEvent) -> None:
        super().note(event)
        self._record_event(event)

    def _record_event(self, event: RiskEvent) -> None:
        self._close_fills()
        self._records.append(event)

    def _close_fills(self) -> None:
        fills = self._fills
        if fills:
            self._records.append(FillBatch(*zip(*map(_pick_fill_batch, fills))))
            self._fills = []

    def check(self, cmd: SubmitOrder, marks: Mapping[str, float],
              market: Any = None) -> tuple[float, str | None]:
        keys = marks.keys()
        if keys != self._keys:   # the symbols priced so far (a run's only ever grow)
            self._keys = set(keys)
            self._symbols = tuple(sorted(keys))
        symbols = self._symbols
        values = tuple(map(float, map(marks.__getitem__, symbols)))
        # the check reads the very numbers the auditor gets (floats, looked up by symbol)
        same = all(type(v) is float for v in marks.values())
        self.last_equity = None
        qty, reason = super().check(cmd, marks if same else dict(zip(symbols, values)), market)
        # the equity the decision saw (an order that is not one at all was not decided)
        equity = float(self.last_equity if self.last_equity is not None
                       else self.equity(marks))
        # what the checks read of the market (a lazy view looks up only that)
        view = market.view() if hasattr(market, "view") else (market or MarketView())
        valuation = Valuation(cmd.ts_event, equity, symbols, values, int(view.regime),
                              float(view.cost_bps), tuple(view.group))
        self._close_fills()
        records = self._records
        records.append(valuation)
        records.append(cmd)
        if qty <= 0.0:
            records.append(OrderDenied(cmd.strategy_id, cmd.venue, cmd.symbol,
                                       cmd.client_order_id, reason or "", cmd.ts_event,
                                       cmd.ts_event))
        if len(records) >= self.batch:
            self.flush()
        return qty, reason

    def flush(self) -> None:
        self._close_fills()
        if self._records:
            self.sock.send(encode_many(self._records))
            self._records = []

    def finish(self) -> None:
        """Send what is left and end the stream."""
        self.flush()
        self.sock.send(b"")
        self.sock.close(5000)
