"""The risk engine: the account (what an order may spend or sell) and the pre-trade rules every
order passes before it reaches a venue, with the trading states they drive.

The engine keeps its own view of the portfolio from the order flow it is told about: orders it
approved, fills (with price and fee, so it keeps its own cash), cancels and rejections. The
caller supplies what moves with the market: mark prices as of the order's event time and, when
the market rules are on, a :class:`MarketView` of the order's symbol (regime, estimated cost,
correlated symbols). A refusal is an ``OrderDenied`` whose reason starts with a reason code
(``insufficient_buying_power: ...``), never an exception; a reduction, a state change, a
breaker trip, a margin call and a liquidation are ``RiskEvent`` records in ``events``.

The same engine decides in the single-process backtest, inside the actor graph's event-time
pass (the risk actor re-decides every order from the same inputs) and, later, in front of every
live order. Every rule, its formula and its reason code are in ``docs/risk.md``.

Equity-driven rules (drawdown, daily loss) read the equity at each order decision: that is when
they act, since what they do is refuse orders.

This module is compiled with mypyc by ``make`` where the machine has a C compiler (setup.py);
compiled, the check runs about 2.5 times as fast; interpreted otherwise, it decides alike.
Compiled code checks each value against its annotation as it reads it, so what enters from
outside (orders, fills, numpy values) is read as ``Any`` or converted where it may be of
another type, and the limits live apart in ``engine.risk_limits`` (interpreted).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from mypy_extensions import mypyc_attr

from engine.booking import risk_run
from engine.fill_log import FillRun
from engine.messages import (BUY, OrderCanceled, OrderDenied, OrderFilled, OrderRejected,
                             RiskEvent, SubmitOrder)
from engine.risk_limits import (ACCOUNTS, ACTIVE, HALTED, PORTFOLIO, PRESET_SIZING, PRESETS,
                                REASON_CODES, REDUCING, REGIMES, STATES, STRATEGY_FIELDS,
                                RiskLimits)
from engine.timeframes import timeframe_to_ns

_EPS = 1e-12
_new = tuple.__new__
_DAY_NS = 86_400_000_000_000
_MINUTE_NS = 60_000_000_000


class MarketView(NamedTuple):
    """What the market rules read about an order's symbol at its event time."""

    regime: int = 1                      # index into REGIMES
    cost_bps: float = 0.0                # estimated half spread + impact of the order
    group: tuple[str, ...] = ()          # other symbols correlated at or above the threshold


class _Pair:
    """The risk engine's view of one (symbol, strategy) pair."""

    __slots__ = ("avg", "qty", "trade_pnl")

    def __init__(self) -> None:
        self.qty = 0.0
        self.avg = 0.0
        self.trade_pnl = 0.0     # the current round trip's PnL net of fees


# (an interpreted subclass, the graph's audited engine, extends it: actors/risk/core.py)
@mypyc_attr(allow_interpreted_subclasses=True)
class RiskEngine:
    """The account and the pre-trade rules, with the portfolio view they need."""

    def __init__(self, limits: RiskLimits, capital: float = 100_000.0,
                 taker_fee_bps: float = 0.0) -> None:
        self.limits = limits
        self.capital = float(capital)
        self.cash = float(capital)
        self.fee_rate = taker_fee_bps * 1e-4
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.sym_qty: dict[str, float] = {}
        # coid -> (pair, signed leaves, reserve price of a buy)
        self.working: dict[str, tuple[tuple[str, str], float, float]] = {}
        self.reserved = 0.0          # cash held by working buys (spot)
        self.last_equity: float | None = None   # the equity the last decided order saw
        self.events: list[RiskEvent] = []
        self.n_denied = 0
        self.denials: collections.Counter[str] = collections.Counter()
        self.trips: collections.Counter[str] = collections.Counter()
        self.n_reduced = 0
        self.reductions: collections.Counter[str] = collections.Counter()
        # trading states: scope -> (state, reason code, until ts or None)
        self.states: dict[str, tuple[int, str, int | None]] = {}
        self.peak = float(capital)
        self.day = -1
        self.day_open = float(capital)
        self.losses: dict[str, int] = {}           # strategy -> consecutive losing trades
        self.sym_losses: dict[str, int] = {}       # symbol -> cooldown multiplier exponent
        self.cool_until: dict[str, int] = {}       # symbol -> end of its cooldown
        self.recent: collections.deque[int] = collections.deque()
        self._kill_ns = limits.kill_at_ns()
        self._margin = limits.account == "margin"
        self._cooldown_ns = timeframe_to_ns(limits.cooldown) if limits.cooldown else 0
        self._cooldown_max = timeframe_to_ns(limits.cooldown_max)
        self._pause_ns = timeframe_to_ns(limits.loss_pause)
        self._by_strategy: dict[str, RiskLimits] = {}
        self._good: dict[str, float] = {}   # symbol -> its last mark that was a price
        self._block_at = (REGIMES.index(limits.block_regime) if limits.block_regime is not None
                          else None)
        self._scaled: dict[tuple[str, int], str] = {}   # reasons of regime-scaled entries
        self._codes: dict[str, str] = {}   # a reduction's reason -> its code
        # a market buy reserves mark x (1 + buffer) x (1 + fee), as _reserve_price says
        self._unit: tuple[str, float] = ("", 0.0)   # the last buy's reserve price, by id
        self._reserve_factor = (1.0 + limits.price_buffer_bps * 1e-4) * (1.0 + self.fee_rate)
        self._text = {   # reasons of the position caps, written once
            "qty": f"max_position: quantity limit {limits.max_position_qty}",
            "notional": f"max_position: notional limit {limits.max_position_notional}",
            "share": f"max_position: {(limits.max_position_share or 0.0):.2%} of equity"}
        self.last_increases = False          # whether the last order checked adds exposure

    # --- the portfolio view -------------------------------------------------------------

    def on_approved(self, cmd: SubmitOrder) -> None:
        """An approved order goes to the venue: it counts as working from now on."""
        if not _well_formed(cmd) or cmd.reduce_only:
            return   # a reduce-only order only ever closes: it adds no exposure to weigh
        buy = cmd.side == BUY
        reserve = 0.0
        if buy and not self._margin:
            # at the price the check weighed it (a market order has no price of its own)
            unit = self._unit
            reserve = unit[1] if unit[0] == cmd.client_order_id else self._reserve_price(
                cmd, self._good.get(cmd.symbol))
            self.reserved += cmd.quantity * reserve
        self.working[cmd.client_order_id] = ((cmd.symbol, cmd.strategy_id),
                                             cmd.quantity if buy else -cmd.quantity, reserve)
        if self.limits.max_orders_per_minute is not None:
            self.recent.append(cmd.ts_event)

    def on_event(self, event: Any) -> None:
        """Apply a venue event (fills, cancels, rejections; others are ignored)."""
        cls = type(event)
        if cls is OrderFilled:
            self.on_fill(event.strategy_id, event.symbol, event.client_order_id, event.side,
                         event.last_qty, event.leaves_qty, event.last_price, event.fee,
                         event.ts_event, event.fee_qty)
        elif cls is OrderCanceled or cls is OrderRejected or cls is OrderDenied:
            # (an exchange may deny an order risk approved: it works no more)
            self._release(event.client_order_id)

    def _release(self, coid: str) -> None:
        entry = self.working.pop(coid, None)
        if entry is not None and entry[2]:
            self.reserved -= entry[1] * entry[2]
            if self.reserved < 1e-9:
                self.reserved = 0.0

    def on_fill(self, strategy_id: str, symbol: str, client_order_id: str, side: str,
                last_qty: float, leaves_qty: float, price: float = 0.0, fee: float = 0.0,
                ts: int = 0, fee_qty: float = 0.0) -> None:
        """Apply one fill (the fields of ``OrderFilled`` the view uses)."""
        key = (symbol, strategy_id)
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = _Pair()
        buy = side == BUY
        signed = last_qty if buy else -last_qty
        self.cash -= signed * price + fee
        if fee_qty:   # a fee kept in the base asset (see Portfolio.apply_fill)
            fee += fee_qty * price
            last_qty = last_qty - fee_qty if buy else last_qty + fee_qty
            signed = last_qty if buy else -last_qty
        entry = self.working.get(client_order_id)
        if entry is not None:
            if leaves_qty > _EPS:
                leaves = leaves_qty if buy else -leaves_qty
                if entry[2]:
                    self.reserved -= (entry[1] - leaves) * entry[2]
                self.working[client_order_id] = (entry[0], leaves, entry[2])
            else:
                self._release(client_order_id)
        self.sym_qty[symbol] = self.sym_qty.get(symbol, 0.0) + signed
        old = pair.qty
        new = old + signed
        if abs(new) <= _EPS * max(1.0, abs(old)):
            new = 0.0
        if old == 0.0:
            pair.avg = price
            pair.trade_pnl = -fee
        elif (old > 0) == (signed > 0):
            pair.avg = (old * pair.avg + signed * price) / new
            pair.trade_pnl -= fee
        else:
            closed = min(abs(signed), abs(old))
            part = fee * closed / last_qty if last_qty else fee
            pair.trade_pnl += closed * (price - pair.avg) * (1.0 if old > 0 else -1.0) - part
            if new == 0.0 or (new > 0) != (old > 0):
                self._trade_closed(strategy_id, symbol, pair.trade_pnl, ts)
                pair.trade_pnl = -(fee - part)
                pair.avg = price if new else 0.0
        pair.qty = new

    # --- runs of fills booked compiled (engine.booking) -----------------------------------

    def run_state(self, symbol: str, strategy_id: str, client_order_id: str) -> np.ndarray | None:
        """The state ``engine.booking`` books a pair's fills of one order into (``R_*``),
        None for a pair that has never traded (its first fill creates it)."""
        pair = self.pairs.get((symbol, strategy_id))
        if pair is None:
            return None
        entry = self.working.get(client_order_id)
        return np.array([self.cash, pair.qty, pair.avg, pair.trade_pnl,
                         self.sym_qty.get(symbol, 0.0), entry is not None,
                         entry[1] if entry is not None else 0.0,
                         entry[2] if entry is not None else 0.0, self.reserved])

    def set_run_state(self, symbol: str, strategy_id: str, client_order_id: str,
                      state: np.ndarray, closed: tuple[float, int] | None = None) -> None:
        """Take back what ``engine.booking`` booked into :meth:`run_state`'s state; ``closed``:
        the run's last fill closed the round trip (its PnL and time), which the loss breaker
        and the cooldowns learn of."""
        pair = self.pairs[(symbol, strategy_id)]
        (self.cash, pair.qty, pair.avg, pair.trade_pnl, self.sym_qty[symbol], has_entry,
         leaves, _, self.reserved) = state.tolist()
        if has_entry:
            key, _, reserve = self.working[client_order_id]
            self.working[client_order_id] = (key, leaves, reserve)
        else:
            self.working.pop(client_order_id, None)
        if closed is not None:
            self._trade_closed(strategy_id, symbol, *closed)

    def on_fill_run(self, strategy_id: str, symbol: str, client_order_id: str, side: str,
                    qty: np.ndarray, leaves: np.ndarray, price: np.ndarray, fee: np.ndarray,
                    ts: Any) -> int:
        """Apply the leading fills of a run of one order's fills compiled
        (``engine.booking.risk_run``), as :meth:`on_fill` would one by one; returns how many
        (it stops before a fill that flips the pair, and after one that closes its round
        trip). ``ts``: the fills' event times, any sequence of integers (numpy's too)."""
        state = self.run_state(symbol, strategy_id, client_order_id)
        if state is None:
            return 0
        info = np.zeros(2)
        booked = int(risk_run(1 if side == BUY else -1, qty, price, fee, leaves, state, info))
        if booked:
            self.set_run_state(symbol, strategy_id, client_order_id, state,
                               (float(info[1]), int(ts[booked - 1])) if info[0] else None)
        return booked

    def run_booked(self, run: FillRun) -> None:
        """A run of one order's fills (``engine.fill_log.FillRun``) was booked into this
        engine's state (:meth:`set_run_state`): a subclass that keeps the flow of events (the
        audit) takes it here."""

    def _trade_closed(self, strategy_id: str, symbol: str, pnl: float, ts: int) -> None:
        """A round trip closed: the consecutive-loss breaker and the cooldowns learn of it."""
        limits = self.limits_of(strategy_id)
        if pnl < 0:
            n = self.losses[strategy_id] = self.losses.get(strategy_id, 0) + 1
            if limits.max_consecutive_losses is not None and n >= limits.max_consecutive_losses:
                self.losses[strategy_id] = 0
                self.trips["consecutive_losses"] += 1
                self._set_state(strategy_id, HALTED, "consecutive_losses",
                                f"{n} losing trades in a row; paused {limits.loss_pause}", ts,
                                until=ts + (self._pause_ns if limits is self.limits
                                            else timeframe_to_ns(limits.loss_pause)))
            if self._cooldown_ns:
                k = self.sym_losses[symbol] = self.sym_losses.get(symbol, 0) + 1
                self.cool_until[symbol] = ts + min(self._cooldown_ns << min(k - 1, 40),
                                                   self._cooldown_max)
        else:
            self.losses[strategy_id] = 0
            if self._cooldown_ns and self.sym_losses.get(symbol):
                self.sym_losses[symbol] -= 1      # a win shortens the next cooldown

    def limits_of(self, strategy_id: str) -> RiskLimits:
        """The limits a strategy's orders meet (``RiskLimits.for_strategy``), kept per id."""
        limits = self._by_strategy.get(strategy_id)
        if limits is None:
            limits = self._by_strategy[strategy_id] = self.limits.for_strategy(strategy_id)
        return limits

    # --- states -------------------------------------------------------------------------

    def state(self, scope: str) -> int:
        entry = self.states.get(scope)
        return entry[0] if entry is not None else ACTIVE

    def _set_state(self, scope: str, state: int, code: str, detail: str, ts: int,
                   until: int | None = None) -> None:
        old = self.states.get(scope)
        if old is not None and old[0] == state and old[1] == code:
            return
        if state == ACTIVE:
            self.states.pop(scope, None)
        else:
            self.states[scope] = (state, code, until)
        self.events.append(RiskEvent("state", scope, "", "", STATES[state],
                                     f"{code}: {detail}", 0.0, ts, ts))

    def _expire(self, ts: int) -> None:
        """States with an end time that has passed return to ACTIVE."""
        for scope, (_, code, until) in list(self.states.items()):
            if until is not None and ts >= until:
                self._set_state(scope, ACTIVE, "resumed", f"{code} ended", ts)

    def kill(self, ts: int, reason: str = "kill switch") -> None:
        """Halt the portfolio (the caller cancels working orders and flattens positions)."""
        self.trips["kill_switch"] += 1
        self.events.append(RiskEvent("kill_switch", PORTFOLIO, "", "", "HALTED", reason, 0.0,
                                     ts, ts))
        self._set_state(PORTFOLIO, HALTED, "kill_switch", reason, ts)

    def bankrupt(self, ts: int) -> None:
        self.trips["bankrupt"] += 1
        self._set_state(PORTFOLIO, HALTED, "bankrupt", "equity reached zero", ts)

    def apply(self, event: RiskEvent) -> None:
        """Replay a risk event decided outside the checks (kill switch, liquidation, margin
        call, a deficit written off): the auditor learns of them this way."""
        if event.kind == "kill_switch":
            self.kill(event.ts_event, event.reason)
        elif event.kind == "bankrupt":
            self.cash += event.value       # the deficit a liquidation left, written off
            self.bankrupt(event.ts_event)
        elif event.kind in ("liquidation", "margin_call"):
            self.trips[event.kind] += 1

    def note(self, event: RiskEvent) -> None:
        """A risk event the engine decided (liquidation, margin call, write-off): apply it and
        keep it with the run's events."""
        self.apply(event)
        if event.kind != "bankrupt":
            self.events.append(event)

    # --- valuation ----------------------------------------------------------------------

    def equity(self, marks: Mapping[str, float]) -> float:
        """Cash plus every position at its mark (the last good mark where the data printed
        something that is not a price)."""
        value = self.cash
        good = self._good
        for symbol, qty in self.sym_qty.items():
            if qty:
                m = marks.get(symbol)
                if m is not None and 0.0 < m < math.inf:
                    good[symbol] = m
                else:
                    m = good.get(symbol, 0.0)
                value += qty * m
        return value

    def _mark(self, symbol: str, marks: Mapping[str, float]) -> float:
        m = marks.get(symbol)
        if m is not None and 0.0 < m < math.inf:
            self._good[symbol] = m
            return m
        return self._good.get(symbol, 0.0)

    def _reserve_price(self, cmd: SubmitOrder, mark: float | None) -> float:
        """The price a buy's cash is reserved at: its limit, else the mark (or its stop, when
        higher) plus the buffer, plus the taker fee."""
        if cmd.limit_price is not None:
            px = cmd.limit_price
        else:
            px = mark if mark is not None and mark > 0 else (cmd.stop_price or 0.0)
            if cmd.stop_price is not None and cmd.stop_price > px:
                px = cmd.stop_price
            px *= 1.0 + self.limits.price_buffer_bps * 1e-4
        return px * (1.0 + self.fee_rate)

    # --- the check ------------------------------------------------------------------------

    def check(self, cmd: SubmitOrder, marks: Mapping[str, float],
              market: Any = None) -> tuple[Any, str | None]:
        """Decide ``cmd`` as of its event time: ``(quantity, reason)``.

        The full quantity and no reason: approved as is; a smaller quantity and a reason:
        reduced to fit (a ``RiskEvent`` says so); quantity 0 and a reason: denied. An order
        whose quantity or prices are not numbers comes back as it is, with no reason: the
        venue rejects it, naming the field.
        ``marks`` (symbol -> price) are the portfolio's as of ``cmd.ts_event``; ``market``
        is a :class:`MarketView` (or any object with its fields) when market rules are on.
        """
        # read untyped: a malformed order's fields may be anything (compiled, this module
        # checks a value against its annotation as it reads it)
        order: Any = cmd
        q = order.quantity
        if not (type(q) is float and 0.0 < q < math.inf and order.limit_price is None
                and order.stop_price is None) and not _well_formed(order):
            return q, None   # not an order at all: the venue rejects it with why
        qty, reason = self._decide(cmd, marks, market)
        if qty <= 0.0:
            self.n_denied += 1
            self.denials[reason.split(":", 1)[0] if reason else "denied"] += 1
            return 0.0, reason
        if reason is not None:
            self.n_reduced += 1
            code = self._codes.get(reason)
            if code is None:
                code = self._codes[reason] = reason.split(":", 1)[0]
            self.reductions[code] += 1
            self.events.append(_new(RiskEvent, (
                "order_reduced", cmd.strategy_id, cmd.symbol, cmd.client_order_id, "", reason,
                qty, cmd.ts_event, cmd.ts_event)))
        return qty, reason

    def _decide(self, cmd: SubmitOrder, marks: Mapping[str, float],
                market: Any) -> tuple[float, str | None]:
        limits = self.limits_of(cmd.strategy_id)
        ts = cmd.ts_event
        symbol, sid = cmd.symbol, cmd.strategy_id
        key = (symbol, sid)
        buy = cmd.side == BUY
        qty = cmd.quantity
        signed = qty if buy else -qty
        mark: float | None = self._mark(symbol, marks) or None
        px = mark if mark is not None else (cmd.limit_price or cmd.stop_price or 0.0)
        if self._kill_ns is not None and ts >= self._kill_ns and self.state(PORTFOLIO) != HALTED:
            self.kill(ts, "kill_at reached")
        if self.states:
            self._expire(ts)
        equity = self.last_equity = self.equity(marks)

        # -- equity breakers (portfolio)
        if equity > self.peak:
            self.peak = equity
        if limits.max_daily_loss is not None:
            day = ts // _DAY_NS
            if day != self.day:
                self.day = day
                self.day_open = equity
                entry = self.states.get(PORTFOLIO)
                if entry is not None and entry[1] == "daily_loss":
                    self._set_state(PORTFOLIO, ACTIVE, "resumed", "new UTC day", ts)
            if self.day_open > 0 and (self.day_open - equity) >= limits.max_daily_loss * \
                    self.day_open and self.state(PORTFOLIO) == ACTIVE:
                self.trips["daily_loss"] += 1
                self._set_state(PORTFOLIO, HALTED if limits.daily_loss_action == "halt"
                                else REDUCING, "daily_loss",
                                f"equity {equity:.2f} is {(1 - equity / self.day_open):.2%} "
                                f"below the day's open {self.day_open:.2f}, limit "
                                f"{limits.max_daily_loss:.2%}", ts)
        if limits.max_drawdown is not None and self.peak > 0 and \
                (self.peak - equity) >= limits.max_drawdown * self.peak:
            entry = self.states.get(PORTFOLIO)
            if entry is None or (entry[0] < HALTED and entry[1] != "max_drawdown"):
                self.trips["max_drawdown"] += 1
                self._set_state(PORTFOLIO, HALTED if limits.drawdown_action == "halt"
                                else REDUCING, "max_drawdown",
                                f"equity {equity:.2f} is {(1 - equity / self.peak):.2%} below "
                                f"the peak {self.peak:.2f}, limit {limits.max_drawdown:.2%}", ts)

        # -- exposure of this order's pair, working orders included
        pair = self.pairs.get(key)
        held = pair.qty if pair is not None else 0.0
        pending = 0.0       # this pair's working orders
        on_sale = 0.0       # its working sells only (a working buy may never fill)
        sym_working = 0.0   # every working order on the symbol
        working_pair = False
        for p, leaves, _ in self.working.values():
            if p[0] == symbol:
                sym_working += leaves
                if p[1] == sid:
                    pending += leaves
                    working_pair = True
                    if leaves < 0.0:
                        on_sale -= leaves
        before = held + pending
        after = before + signed
        increases = abs(after) > abs(before) + _EPS

        self.last_increases = increases
        if cmd.reduce_only:
            # only ever closes (the venue caps it at the position): it passes every rule and
            # every state, so stops, targets and the kill switch's flattening always go out
            self.last_increases = False
            return qty, None
        # -- trading states
        for scope in (PORTFOLIO, sid) if self.states else ():
            entry = self.states.get(scope)
            if entry is None:
                continue
            state, code, _ = entry
            if state == HALTED:
                return 0.0, f"{code}: trading is HALTED" + (
                    "" if scope == PORTFOLIO else f" for {sid}")
            if state == REDUCING and increases:
                return 0.0, f"reducing: {code}; only orders that reduce exposure pass"
        if equity <= self.capital * 1e-9:
            if self.state(PORTFOLIO) != HALTED:
                self.bankrupt(ts)
            return 0.0, "bankrupt: equity is zero; trading is HALTED"

        if increases:
            # -- entries only: cooldown, market rules, rate
            until = self.cool_until.get(symbol)
            if until is not None and ts < until:
                return 0.0, (f"cooldown: {symbol} cools down after a loss until "
                             f"{_iso(until)}")
            if market is not None:
                if self._block_at is not None and market.regime >= self._block_at:
                    return 0.0, (f"regime: {symbol} is {REGIMES[market.regime]}, entries "
                                 f"refused from {limits.block_regime}")
                if limits.max_cost_bps is not None and not (market.cost_bps
                                                            <= limits.max_cost_bps):
                    return 0.0, (f"pre_trade_cost: estimated cost {market.cost_bps:.4g} bps, "
                                 f"limit {limits.max_cost_bps:g} bps")
        if limits.max_orders_per_minute is not None:
            recent = self.recent
            while recent and recent[0] <= ts - _MINUTE_NS:
                recent.popleft()
            if len(recent) >= limits.max_orders_per_minute:
                return 0.0, (f"order_rate: {len(recent)} orders in the last minute, limit "
                             f"{limits.max_orders_per_minute}")
        if limits.max_order_notional is not None and qty * px > limits.max_order_notional:
            return 0.0, (f"max_order_notional: {qty * px:.2f}, limit "
                         f"{limits.max_order_notional:g}")
        if limits.max_open_positions is not None and not (abs(held) > _EPS or working_pair) \
                and len(self.pairs) + len(self.working) >= limits.max_open_positions:
            # (pairs with a position, plus working orders, bound the open pairs from above)
            n_open = len({p for p, v in self.pairs.items() if abs(v.qty) > _EPS}
                         | {p for p, _, _ in self.working.values()})
            if n_open >= limits.max_open_positions:
                return 0.0, (f"max_open_positions: {n_open} of {limits.max_open_positions} "
                             f"positions already open")

        reason: str | None = None
        # the symbol's position over every strategy, working orders included
        sym_before = self.sym_qty.get(symbol, 0.0) + sym_working
        if not increases:
            # reducing: spot still needs the position it sells, what it holds less what is
            # already on sale (working buys may never fill); cut to it or denied as
            # on_insufficient says
            if not buy and not self._margin:
                fits = max(held - on_sale, 0.0)
                if fits < qty - _EPS:
                    reason = (f"insufficient_position: {sid} holds {held:.8g} with "
                              f"{on_sale:.8g} already on sale")
                    if fits <= _EPS * max(1.0, qty) or limits.on_insufficient == "deny":
                        return 0.0, reason
                    return fits, reason
            if not (self._margin and abs(sym_before + signed) > abs(sym_before) + _EPS):
                return qty, None
            # it reduces its strategy's position but adds to the symbol's (another strategy
            # holds the other side): the account's exposure grows, so its caps still apply
        scale = 1.0
        if increases and market is not None and limits.volatile_scale < 1.0 and \
                market.regime >= 2:
            scale = limits.volatile_scale
            reason = self._scaled.get((symbol, market.regime))
            if reason is None:
                reason = self._scaled[symbol, market.regime] = (
                    f"regime: {symbol} is {REGIMES[market.regime]}, entry scaled by {scale:g}")
        # the most this order may add (in its own direction), from every cap
        room = qty * scale
        # the symbol's position in this order's direction may reach each cap
        mine = sym_before if buy else -sym_before
        if limits.max_position_qty is not None:
            fits = limits.max_position_qty - mine
            if fits < room - _EPS:
                room, reason = max(fits, 0.0), self._text["qty"]
        if px > 0:
            if limits.max_position_notional is not None:
                fits = limits.max_position_notional / px - mine
                if fits < room - _EPS:
                    room, reason = max(fits, 0.0), self._text["notional"]
            if limits.max_position_share is not None:
                fits = limits.max_position_share * max(equity, 0.0) / px - mine
                if fits < room - _EPS:
                    room, reason = max(fits, 0.0), (
                        self._text["share"] if limits is self.limits else
                        f"max_position: {limits.max_position_share:.2%} of equity")
        if self._margin:
            # leverage: gross exposure (working included) over equity, overall and per symbol
            gross = 0.0
            for s, q in self._exposure_by_symbol().items():
                gross += abs(q) * (px if s == symbol else self._mark(s, marks))
            # an order that first closes the other direction frees that exposure (counted in
            # ``gross``) before it adds its own: it may close it and open as much again
            opposite = max(0.0, -sym_before if buy else sym_before)
            fits_gross = max(opposite, (limits.max_leverage * equity - gross) / px
                             + 2.0 * opposite) if px > 0 else 0.0
            if fits_gross < room - _EPS:
                room = max(fits_gross, 0.0)
                reason = f"max_leverage: gross exposure would pass {limits.max_leverage:g}x equity"
            sym_cap = (limits.symbol_leverage or {}).get(symbol)
            if sym_cap is not None and px > 0:
                fits = sym_cap * equity / px - (sym_before if buy else -sym_before)
                if fits < room - _EPS:
                    room = max(fits, 0.0)
                    reason = f"max_leverage: {symbol} exposure would pass {sym_cap:g}x equity"
        else:
            if buy:
                unit = (mark * self._reserve_factor if cmd.order_type == "MARKET"
                        and mark is not None else self._reserve_price(cmd, mark))
                self._unit = (cmd.client_order_id, unit)   # what on_approved reserves
                free = self.cash - self.reserved
                fits = free / unit if unit > 0 else 0.0
                if fits < room - _EPS:
                    room = max(fits, 0.0)
                    reason = (f"insufficient_buying_power: {qty * unit:.2f} needed, "
                              f"{max(free, 0.0):.2f} free")
            else:
                fits = max(held - on_sale, 0.0)
                if fits < room - _EPS:
                    room = fits
                    reason = (f"insufficient_position: {sid} holds {held:.8g} with "
                              f"{on_sale:.8g} already on sale; no naked shorts on a "
                              f"spot account")
        # gross / net exposure and correlated groups: caps on the order's notional
        if limits.max_gross_exposure is not None or limits.max_net_exposure is not None or (
                market is not None and limits.max_group_exposure is not None):
            # each symbol's value, positions and working orders (this one's at ``px``)
            value = {symbol: sym_before * px}
            gross = abs(sym_before * px)
            net = sym_before * px
            sym_qty = self.sym_qty
            if self.working or len(sym_qty) > (symbol in sym_qty):   # others to value
                exposure = self._exposure_by_symbol()
                for s, q in exposure.items():
                    if s != symbol and q:
                        v = value[s] = q * self._mark(s, marks)
                        gross += abs(v)
                        net += v
            d = 1.0 if buy else -1.0
            cap = limits.max_gross_exposure
            if cap is not None:
                v = value[symbol]
                if px <= 0 or equity <= 0 or (gross - abs(v) + abs(v + d * room * px)
                                              > cap * equity + _EPS * max(1.0, equity)):
                    room, reason = self._cap_value(room, reason, px, equity, d, value,
                                                   (symbol,), gross, cap,
                                                   "max_gross_exposure", "gross exposure")
            if limits.max_net_exposure is not None:
                fits = ((limits.max_net_exposure * equity - d * net) / px) if px > 0 else 0.0
                if abs(net + d * room * px) > limits.max_net_exposure * equity and \
                        fits < room - _EPS:
                    room, reason = max(fits, 0.0), (f"max_net_exposure: net exposure would "
                                                    f"pass {limits.max_net_exposure:g}x equity")
            if market is not None and limits.max_group_exposure is not None and (
                    gross + room * px > limits.max_group_exposure * equity):
                # (a group's exposure is part of the gross: below the cap it cannot bind,
                # and the correlations are not looked up)
                others = market.group
                group = (symbol, *others)
                total = abs(value[symbol])
                for s in others:
                    total += abs(value.get(s, 0.0))
                room, reason = self._cap_value(
                    room, reason, px, equity, d, value, group, total,
                    limits.max_group_exposure, "correlation_exposure", "")
        if room >= qty - _EPS:
            return qty, None if scale == 1.0 else reason
        if room <= _EPS * max(1.0, qty) or limits.on_insufficient == "deny":
            return 0.0, reason
        return room, reason

    def _cap_value(self, room: float, reason: str | None, px: float, equity: float, d: float,
                   value: dict[str, float], group: tuple[str, ...], total: float, limit: float,
                   code: str, what: str) -> tuple[float, str | None]:
        """Cut ``room`` so the gross value of ``group`` stays within ``limit`` x equity."""
        if px <= 0:
            return room, reason
        v = value.get(group[0], 0.0)
        after = total - abs(v) + abs(v + d * room * px)
        if equity <= 0 or after > limit * equity + _EPS * max(1.0, abs(equity)):
            # adding in direction d first nets against an opposite position: closing it frees
            # its value (counted in ``total``), then as much again may open
            opposite = max(0.0, -d * v / px)
            fits = max(opposite, (limit * equity - total) / px + 2.0 * opposite)
            ratio = after / equity if equity > 0 else math.inf
            if fits < room - _EPS:
                if not what:   # a correlated group: named only when it binds
                    what = (f"exposure of the group {'/'.join(group)} (correlation >= "
                            f"{self.limits.correlation_threshold:g})")
                return max(fits, 0.0), (f"{code}: {what} would be {ratio:.4g}x equity, limit "
                                        f"{limit:g}x")
        return room, reason

    def _exposure_by_symbol(self) -> dict[str, float]:
        out = dict(self.sym_qty)
        for (symbol, _), leaves, _ in self.working.values():
            out[symbol] = out.get(symbol, 0.0) + leaves
        return out

    def _is_open(self, key: tuple[str, str]) -> bool:
        pair = self.pairs.get(key)
        if pair is not None and abs(pair.qty) > _EPS:
            return True
        return any(p == key for p, _, _ in self.working.values())

    # --- the report -----------------------------------------------------------------------

    def report(self, events: list[RiskEvent], start_ts: int, end_ts: int) -> dict[str, Any]:
        """The risk section of a result: denials and reductions by reason, time in each
        state, breaker trips (``events``: every risk event of the run, in order)."""
        return risk_report(self.limits, events, self.denials, self.trips, self.reductions,
                           start_ts, end_ts)


def risk_report(limits: RiskLimits, events: list[RiskEvent], denials: Mapping[str, int],
                trips: Mapping[str, int], reductions: Mapping[str, int], start_ts: int,
                end_ts: int) -> dict[str, Any]:
    """The risk section: what the rules did over a run from ``start_ts`` to ``end_ts``."""
    # time in each portfolio state, from the state events
    spent = dict.fromkeys(STATES, 0)
    state, since = "ACTIVE", start_ts
    for e in events:
        if e.kind == "state" and e.scope == PORTFOLIO:
            spent[state] += max(0, e.ts_event - since)
            state, since = e.state, e.ts_event
    spent[state] += max(0, end_ts - since)
    total = max(1, end_ts - start_ts)
    strategies: dict[str, int] = collections.Counter(
        e.scope for e in events if e.kind == "state" and e.scope != PORTFOLIO
        and e.state != "ACTIVE")
    return {
        "account": limits.account,
        "preset": limits.risk_preset,
        "rules": limits.rules_on(),
        "denials": dict(sorted(denials.items())),
        "n_denied": sum(denials.values()),
        "reductions": dict(sorted(reductions.items())),
        "n_reduced": sum(reductions.values()),
        "breaker_trips": dict(sorted(trips.items())),
        "time_in_state": {k: v / total for k, v in spent.items()},
        "final_state": state,
        "strategy_halts": dict(sorted(strategies.items())),
        "margin_calls": sum(1 for e in events if e.kind == "margin_call"),
        "liquidations": sum(1 for e in events if e.kind == "liquidation"),
        "state_changes": [{"ts": _iso(e.ts_event), "scope": e.scope, "state": e.state,
                           "reason": e.reason} for e in events if e.kind == "state"][:200],
    }


def _well_formed(cmd: Any) -> bool:
    """Whether the order's quantity and prices are numbers the checks can weigh (anything
    else goes on to the venue, which rejects it naming the field)."""
    qty = cmd.quantity
    if type(qty) is not float or not (0.0 < qty < math.inf):
        return False
    for price in (cmd.limit_price, cmd.stop_price):
        if price is not None and (type(price) is not float or not (0.0 < price < math.inf)):
            return False
    return True


def _iso(ts: int) -> str:
    from engine.timeframes import format_ns
    return format_ns(ts)


def compiled() -> bool:
    """Whether this module runs compiled (mypyc) rather than from its source."""
    return not __file__.endswith(".py")


__all__ = ["ACCOUNTS", "ACTIVE", "HALTED", "PORTFOLIO", "PRESETS", "PRESET_SIZING",
           "REASON_CODES", "REDUCING", "REGIMES", "STATES", "STRATEGY_FIELDS", "MarketView",
           "RiskEngine", "RiskLimits", "compiled", "risk_report"]
