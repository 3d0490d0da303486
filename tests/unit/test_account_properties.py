"""Properties of the account that no hand-written table can cover: a scripted strategy places
random orders (either side, up to several times what equity affords, market, limit or stop,
random cancels) over a random bar walk with gaps, crashes and thin bars, and after every event
the account must hold:

- spot: cash never below zero (after any fill either), no position ever short;
- margin: no approved order opens gross exposure (working orders included, at the decision's
  marks) past ``max_leverage`` x equity; a liquidation happens at exactly the events whose
  equity, before it, is below ``maintenance_margin`` x gross exposure; equity never below zero;
- the hook path and the batch path of a random TARGET_PERCENT strategy give the same order
  events and fills with several rules on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.backtesting import BacktestEngine, Feed
from engine.intents import EventBatch, Intents, percent_targets
from engine.messages import OrderCanceled, OrderDenied, OrderFilled, RiskEvent, SubmitOrder
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.venue import VenueConfig
from tests.kit.scripted import (CAPITAL, MINUTE, SYMBOL, T0, Buy, Cancel, ScriptedStrategy,
                                Sell, bar_table)

HOUR = 60 * MINUTE
VENUE = VenueConfig(maker_fee_bps=2.0, taker_fee_bps=10.0, slippage_bps=5.0,
                    max_volume_share=0.25)
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# --- random markets and scripts ---------------------------------------------------------------

# how a bar opens against the previous close: flat, a gap either way, a crash, a spike
OPENS = {"flat": lambda r: 1.0, "gap": lambda r: 1.0 + 6.0 * r, "crash": lambda r: 0.35,
         "spike": lambda r: 1.6}


@st.composite
def walks(draw: Any, min_bars: int = 6, max_bars: int = 30) -> pd.DataFrame:
    """Hourly bars from 100: each opens flat, gapped (up to +/-30 %), crashed (-65 %) or
    spiked (+60 %) against the previous close and moves up to 5 % to its close; a few are
    thin (the venue's volume cap leaves orders partly filled)."""
    n = draw(st.integers(min_bars, max_bars))
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["flat", "flat", "flat", "gap", "crash", "spike"]),
        st.floats(-0.05, 0.05), st.sampled_from([1e9, 1e9, 40.0])), min_size=n, max_size=n))
    rows, close = [], 100.0
    for kind, r, volume in steps:
        open_ = close * OPENS[kind](r)
        close = open_ * (1.0 + r)
        rows.append((open_, max(open_, close) * (1 + abs(r) / 2),
                     min(open_, close) * (1 - abs(r) / 2), close, volume))
    # hourly, across a UTC midnight (the daily loss rule's day)
    return bar_table(rows, start=T0 - 3 * HOUR, interval=HOUR)


@st.composite
def scripts(draw: Any, bars: pd.DataFrame) -> dict[int, list[Any]]:
    """Random orders: up to three per bar, each a buy or sell of up to 4x what the capital
    buys at 100, market, limit or stop (priced off the bar's close), or a cancel of an
    earlier order."""
    closes = bars["close"].to_numpy()
    script: dict[int, list[Any]] = {}
    tags: list[str] = []
    for i in range(len(bars)):
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["market", "market", "limit", "stop", "cancel"]))
            if kind == "cancel":
                if tags:
                    script.setdefault(i, []).append(Cancel(draw(st.sampled_from(tags))))
                continue
            tag = f"o{len(tags)}"
            tags.append(tag)
            qty = draw(st.floats(0.01, 4.0)) * CAPITAL / 100.0
            side = draw(st.sampled_from([Buy, Sell]))
            offset = draw(st.floats(-0.1, 0.1))
            price = float(closes[i] * (1.0 + offset))
            script.setdefault(i, []).append(
                side(qty, tag=tag) if kind == "market" else
                side(qty, limit=price, tag=tag) if kind == "limit" else
                side(qty, stop=price, tag=tag))
    return script


@st.composite
def scenarios(draw: Any) -> tuple[pd.DataFrame, dict[int, list[Any]], dict[int, list[Any]]]:
    """A walk and two scripts, for two strategies trading the same symbol."""
    bars = draw(walks())
    return bars, draw(scripts(bars)), draw(scripts(bars))


def run(bars: pd.DataFrame, a: dict[int, list[Any]], b: dict[int, list[Any]],
        limits: RiskLimits) -> tuple[BacktestEngine, list[ScriptedStrategy], list[Any]]:
    """Two scripted strategies on one symbol; also returns every order as it was approved:
    (command, gross exposure before, gross after, equity, marks) from the account's side."""
    engine = BacktestEngine(capital=CAPITAL, venue_config=VENUE, risk_limits=limits)
    engine.add_feed(Feed(SYMBOL, "bar", bars, interval_ns=HOUR))
    strategies = [ScriptedStrategy(a), ScriptedStrategy(b)]
    for k, s in enumerate(strategies):
        engine.add_strategy(s, SYMBOL, strategy_id=f"s{k}")
    decisions: list[Any] = []
    submit = engine.submit

    def recording(cmd: SubmitOrder) -> None:
        before = gross_exposure(engine)
        n = len(engine.order_events)
        submit(cmd)
        denied = any(type(e) is OrderDenied and e.client_order_id == cmd.client_order_id
                     for e in engine.order_events[n:])
        if not denied:
            decisions.append((cmd, before, gross_exposure(engine), engine.portfolio.equity()))

    engine.submit = recording  # type: ignore[method-assign]
    engine.run()
    assert engine.faults == []
    return engine, strategies, decisions


def gross_exposure(engine: BacktestEngine) -> float:
    """Gross exposure at the current marks: positions plus every working order that adds to
    them (reduce-only orders only ever close), from the portfolio and the venue's book."""
    mark = engine.portfolio.last_price.get(SYMBOL)
    if mark is None:
        return 0.0
    qty = engine.portfolio.net_qty.get(SYMBOL, 0.0)
    for order in engine.venue.working[SYMBOL]:
        if not order.closed and not order.reduce_only:
            qty += order.sign * order.leaves_qty
    return abs(qty) * mark


# --- spot -------------------------------------------------------------------------------------

@PROPERTY
@given(scenarios(), st.sampled_from(["reduce", "deny"]), st.sampled_from([0.0, 50.0]))
def test_spot_cash_and_positions_never_go_negative(scenario: Any, on_insufficient: str,
                                                   buffer: float) -> None:
    bars, a, b = scenario
    limits = RiskLimits(account="spot", on_insufficient=on_insufficient,
                        price_buffer_bps=buffer)
    engine, strategies, _ = run(bars, a, b, limits)
    for s in strategies:
        for snap in s.snapshots:   # after each event
            assert snap.cash >= 0.0
            assert snap.position >= -1e-9
    assert all(cash >= 0.0 for cash in engine._fill_cash)   # after each fill
    assert all(p.qty >= -1e-9 for p in engine.portfolio.positions.values())
    assert engine.risk.cash >= -1e-6 and engine.risk.reserved >= 0.0
    event("cut by cash" if any(e.reason.startswith("insufficient_buying_power")
                               for e in engine.order_events if type(e) is OrderCanceled)
          else "never cut")


# --- margin -----------------------------------------------------------------------------------

@PROPERTY
@given(scenarios(), st.sampled_from([2.0, 3.0, 5.0]), st.sampled_from([0.05, 0.1]))
def test_margin_never_opens_past_the_leverage_cap(scenario: Any, leverage: float,
                                                  maintenance: float) -> None:
    bars, a, b = scenario
    limits = RiskLimits(account="margin", max_leverage=leverage,
                        maintenance_margin=maintenance)
    _, _, decisions = run(bars, a, b, limits)
    for cmd, before, after, equity in decisions:
        # an approved order never takes gross exposure past the cap; one that reduces it (a
        # close, a reduce-only order) may leave it above a cap the market already broke
        assert after <= max(leverage * max(equity, 0.0), before) * (1 + 1e-9) + 1e-6, cmd


@PROPERTY
@given(scenarios(), st.sampled_from([2.0, 3.0, 5.0]), st.sampled_from([0.05, 0.1]))
def test_liquidation_exactly_below_the_maintenance_margin(scenario: Any, leverage: float,
                                                          maintenance: float) -> None:
    bars, a, b = scenario
    limits = RiskLimits(account="margin", max_leverage=leverage,
                        maintenance_margin=maintenance)
    engine, _, _ = run(bars, a, b, limits)
    closes = bars["close"].to_numpy()
    fills = engine.fills
    seq = engine._fill_event_seq
    liquidated = {seq[k] for k, f in enumerate(fills) if f.client_order_id.startswith("LIQ-")}
    # the account before each event's margin check: after the fills of earlier events and
    # the fills matched in this event (liquidation fills come after those)
    cash, qty, k = CAPITAL, 0.0, 0
    equities = []
    for i, close in enumerate(closes):
        while k < len(fills) and seq[k] == i and not fills[k].client_order_id.startswith("LIQ"):
            cash, qty = engine._fill_cash[k], engine._fill_net_qty[k]
            k += 1
        gross = abs(qty) * close
        equity = cash + qty * close
        below = gross > 0 and equity < maintenance * gross
        assert (i in liquidated) == below, (i, equity, gross)
        while k < len(fills) and seq[k] == i:   # the liquidation's fills
            cash, qty = engine._fill_cash[k], engine._fill_net_qty[k]
            k += 1
        if i in liquidated:
            assert qty == 0.0
        equities.append(cash + qty * close)
    assert min(equities) >= 0.0
    curve = engine.equity_curve(interval_ns=0)
    assert (curve["equity"] >= 0.0).all()
    liqs = [e for e in engine.order_events if type(e) is RiskEvent and e.kind == "liquidation"]
    assert len(liqs) == len(liquidated)
    event("liquidated" if liquidated else "not liquidated")


# --- the hook path and the batch path ---------------------------------------------------------

class RandomTargets(Strategy):
    """``order_target_percent(targets[row], close)`` on every row whose target is not NaN,
    through its hooks or its batch path."""

    name = "random_targets"

    def __init__(self, targets: np.ndarray) -> None:
        super().__init__()
        self.targets = targets
        self.row = 0

    def on_bar(self, bar: Any) -> None:
        target = self.targets[self.row]
        self.row += 1
        if target == target:
            self.ctx.order_target_percent(float(target), bar.close)

    def on_batch(self, batch: EventBatch) -> Intents:
        return percent_targets(batch, self.targets[batch.start:batch.start + len(batch)])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walks(min_bars=10, max_bars=40), st.data(), st.integers(1, 9))
def test_hooks_and_batch_path_agree_with_the_rules_on(bars: pd.DataFrame, data: Any,
                                                      chunk_rows: int) -> None:
    n = len(bars)
    targets = np.array(data.draw(st.lists(
        st.one_of(st.just(float("nan")), st.floats(-0.5, 1.5)), min_size=n, max_size=n)))
    kill = data.draw(st.one_of(st.none(), st.integers(0, n - 1)))
    limits = RiskLimits(
        account="spot", price_buffer_bps=25.0, max_position_share=0.8, max_drawdown=0.25,
        drawdown_action=data.draw(st.sampled_from(["halt", "reduce"])), max_daily_loss=0.1,
        max_consecutive_losses=2, loss_pause="3h", cooldown="1h", cooldown_max="4h",
        max_orders_per_minute=1,
        kill_at=None if kill is None else pd.Timestamp(
            int(bars["ts"].iloc[kill]) + HOUR // 2, tz="UTC").isoformat())
    engines = []
    for batch in (False, True):
        engine = BacktestEngine(capital=CAPITAL, venue_config=VENUE, risk_limits=limits)
        engine.add_feed(Feed(SYMBOL, "bar", bars, interval_ns=HOUR))
        engine.add_strategy(RandomTargets(targets), SYMBOL)
        if batch:
            engine.run_batch(chunk_rows=chunk_rows)
        else:
            engine.run()
        assert engine.faults == []
        engines.append(engine)
    hooks, batch = engines
    assert batch.order_events == hooks.order_events
    assert batch.fills == hooks.fills
    assert batch.portfolio.cash == hooks.portfolio.cash
    assert all(type(f) is OrderFilled for f in hooks.fills)
    event("traded" if hooks.fills else "no fills")
    event("killed" if any(type(e) is RiskEvent and e.kind == "kill_switch"
                          for e in hooks.order_events) else "not killed")
