"""The compiled fills of market-order books (``engine.fills``) against the venue matching
each trade in turn.

In the sparse batch pass a trade symbol whose book holds only GTC market orders gets its fills
from a compiled forecast, booked in event-time order among the other symbols' events and
recomputed whenever the book changes. These tests run scripted intents both ways (the
per-event hooks go through the Python venue, trade by trade) on random markets with the cases
that touch the forecast: several symbols filling at once, two strategies sharing a symbol's
volume cap, targets that flip while an order is still filling (a cancel in flight makes the
book ineligible for a while), order latency, square-root slippage, NaN and infinite prices,
zero, negative and NaN sizes, a batch path that faults, and the risk limits; everything the
engine records must be identical.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from engine import venue as venue_module
from engine.backtesting import BacktestEngine, Feed
from engine.fills import market_fills
from engine.intents import ORDER_QTY, TARGET_PERCENT, TARGET_QTY, EventBatch, Intents
from engine.messages import Trade
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.venue import VenueConfig

T0 = 1_704_067_200 * 1_000_000_000
SYMBOLS = ["AAA/USDT", "BBB/USDT", "CCC/USDT"]


def market(rng: np.random.Generator, n: int, bad: bool) -> pd.DataFrame:
    ts = T0 + np.cumsum(rng.integers(0, 3_000_000_000, n)).astype(np.int64)   # ties too
    price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    size = rng.exponential(0.5, n)
    if bad:
        at = rng.choice(n, 12, replace=False)
        price[at[:3]] = np.nan
        price[at[3:5]] = np.inf
        size[at[5:8]] = 0.0
        size[at[8:10]] = -1.0
        size[at[10:]] = np.nan
    return pd.DataFrame({"ts": ts, "price": price, "size": size,
                         "side": np.ones(n, dtype=np.int8),
                         "trade_id": np.arange(n, dtype=np.int64)})


class Scripted(Strategy):
    """Places scripted intents: the hooks on the n-th trade, the batch path as intents on
    the same rows. ``script``: row -> list of (kind, value); ``fault_row`` raises there."""

    name = "scripted"
    script: ClassVar[dict[str, dict[int, list[tuple[int, float]]]]] = {}
    fault_rows: ClassVar[dict[str, int]] = {}

    def on_start(self) -> None:
        self.seen = 0
        self.mine = self.script[self.ctx.strategy_id]

    def on_trade(self, trade: Trade) -> None:
        row = self.seen
        self.seen += 1
        if row == self.fault_rows.get(self.ctx.strategy_id):
            raise RuntimeError(f"scripted fault at row {row}")
        for kind, value in self.mine.get(row, ()):
            if kind == TARGET_PERCENT:
                self.ctx.order_target_percent(value, trade.price)
            elif kind == TARGET_QTY:
                self.ctx.order_target(value)
            elif value > 0:
                self.ctx.buy(value)
            else:
                self.ctx.sell(-value)

    def on_batch(self, batch: EventBatch) -> Intents:
        sid = self.ctx.strategy_id
        fault = self.fault_rows.get(sid)
        lo, hi = batch.start, batch.start + len(batch)
        if fault is not None and lo <= fault < hi:
            raise RuntimeError(f"scripted fault at row {fault}")
        rows, kinds, values = [], [], []
        for row in sorted(r for r in self.mine if lo <= r < hi):
            for kind, value in self.mine[row]:
                rows.append(row)
                kinds.append(kind)
                values.append(value)
        index = np.array(rows, dtype=np.int64) - lo
        return Intents(np.array(rows, dtype=np.int64), np.array(kinds, dtype=np.int8),
                       np.array(values, dtype=np.float64), batch.price[index])


def script(rng: np.random.Generator, n: int) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    for row in np.sort(rng.choice(n, 40, replace=False)):
        kind = int(rng.choice([TARGET_PERCENT, TARGET_PERCENT, TARGET_QTY, ORDER_QTY]))
        if kind == TARGET_PERCENT:
            value = float(rng.choice([-0.9, -0.4, 0.0, 0.3, 0.9]))
        elif kind == TARGET_QTY:
            value = float(rng.choice([-30.0, 0.0, 12.0, 40.0]))
        else:
            value = float(rng.choice([-8.0, -2.5, 3.0, 9.0]))
        out.setdefault(int(row), []).append((kind, value))
    return out


def engine_for(frames: dict[str, pd.DataFrame], venue: VenueConfig,
               limits: RiskLimits | None) -> BacktestEngine:
    engine = BacktestEngine(capital=50_000.0, venue_config=venue, risk_limits=limits)
    for symbol, frame in frames.items():
        engine.add_feed(Feed(symbol, "trade", frame))
    for symbol in frames:
        for k in range(2):   # two strategies share each symbol's volume cap
            engine.add_strategy(Scripted(), symbol, f"scripted#{k}:{symbol}")
    return engine


CASES = [
    # (seed, venue, risk limits, bad prints, fault)
    (1, VenueConfig(), None, False, False),
    (2, VenueConfig(max_volume_share=0.05), None, True, False),
    (3, VenueConfig(slippage_model="sqrt", max_volume_share=0.1), None, True, False),
    (4, VenueConfig(latency_ms=4_000.0, max_volume_share=0.2), None, False, False),
    (5, VenueConfig(max_volume_share=0.1), RiskLimits(max_open_positions=3,
                                                      max_gross_exposure=1.2), True, False),
    (6, VenueConfig(latency_ms=1_500.0, max_volume_share=0.08), None, True, True),
    # a margin account (no cash or position cuts), and one with every pre-trade rule on
    (7, VenueConfig(max_volume_share=0.05), RiskLimits(account="margin"), False, False),
    (8, VenueConfig(max_volume_share=0.05, taker_fee_bps=10.0),
     RiskLimits(max_open_positions=5, max_gross_exposure=1.5, max_position_share=0.6,
                max_order_notional=40_000.0, max_consecutive_losses=3, loss_pause="1h",
                cooldown="10s", max_drawdown=0.5), True, False),
]


def test_runs_of_fills_stop_where_the_cash_cuts_a_buy(monkeypatch: Any) -> None:
    """One symbol whose price climbs while near-all-in buys fill slowly under a 30% volume
    cap: the fills run long (booked compiled, ``engine.booking``) until the cash no longer
    covers the next one, which the venue cuts and cancels the rest; the same as matching
    trade by trade."""
    rng = np.random.default_rng(11)
    n = 6000
    ts = T0 + np.cumsum(rng.integers(1, 2_000_000_000, n)).astype(np.int64)
    price = 100.0 * np.exp(np.cumsum(rng.normal(0.0004, 0.0005, n)))   # a steady climb
    frame = pd.DataFrame({"ts": ts, "price": price, "size": rng.exponential(2.0, n),
                          "side": np.ones(n, dtype=np.int8),
                          "trade_id": np.arange(n, dtype=np.int64)})
    sid = f"scripted#0:{SYMBOLS[0]}"
    rows = range(10, n - 1500, 1500)
    Scripted.script = {sid: {row: [(TARGET_PERCENT, 0.99 if k % 2 == 0 else 0.0)]
                             for k, row in enumerate(rows)}}
    Scripted.fault_rows = {}

    def engine() -> BacktestEngine:
        out = BacktestEngine(capital=50_000.0, venue_config=VenueConfig(max_volume_share=0.3))
        out.add_feed(Feed(SYMBOLS[0], "trade", frame))
        out.add_strategy(Scripted(), SYMBOLS[0], sid)
        return out

    hooks, batch = engine(), engine()
    hooks.run()
    batch.run_batch(chunk_rows=512)
    cut = [e for e in hooks.order_events
           if type(e).__name__ == "OrderCanceled" and "insufficient_buying_power" in e.reason]
    assert len(cut) >= 2                          # the cash cut the buys
    assert batch.run_fills > len(hooks.fills) / 2  # most fills were booked in runs
    assert batch.fills == hooks.fills
    assert batch.order_events == hooks.order_events
    assert batch.portfolio.trades == hooks.portfolio.trades
    assert (batch.portfolio.cash, batch.risk.cash, batch.risk.reserved) == \
        (hooks.portfolio.cash, hooks.risk.cash, hooks.risk.reserved)
    assert batch.equity_curve().equals(hooks.equity_curve())


@pytest.mark.parametrize("seed,venue,limits,bad,fault", CASES)
def test_compiled_fills_equal_trade_by_trade_matching(seed: int, venue: VenueConfig,
                                                      limits: Any, bad: bool, fault: bool,
                                                      monkeypatch: Any) -> None:
    forecast = []   # the compiled path must carry the run, not the trade-by-trade fallback

    def counted(*args: Any) -> Any:
        out = market_fills(*args)
        forecast.append(len(out[0]))
        return out

    monkeypatch.setattr(venue_module, "market_fills", counted)
    rng = np.random.default_rng(seed)
    n = 1500
    frames = {s: market(rng, n, bad) for s in SYMBOLS}
    Scripted.script = {f"scripted#{k}:{s}": script(rng, n) for s in SYMBOLS for k in range(2)}
    # a batch path's fault takes effect at the first row of its chunk: raise on a chunk's
    # first row so the hooks fault on the same event
    Scripted.fault_rows = {f"scripted#1:{SYMBOLS[1]}": 3 * 256} if fault else {}
    hooks = engine_for(frames, venue, limits)
    hooks.run()
    batch = engine_for(frames, venue, limits)
    batch.run_batch(chunk_rows=256)

    assert len(hooks.fills) > 300            # many partial fills under the volume cap
    assert sum(forecast) > len(hooks.fills) / 2
    # most forecast fills are booked compiled, in runs (engine.booking)
    assert batch.run_fills > 0
    assert hooks.run_fills == 0
    assert batch.fills == hooks.fills
    assert batch.order_events == hooks.order_events
    assert batch.portfolio.trades == hooks.portfolio.trades
    assert batch.portfolio.cash == hooks.portfolio.cash
    assert batch.portfolio.total_fees == hooks.portfolio.total_fees
    assert {k: (p.qty, p.avg_price, p.realized_pnl, p.fees, p.n_fills, p.trade)
            for k, p in batch.portfolio.positions.items()} == \
        {k: (p.qty, p.avg_price, p.realized_pnl, p.fees, p.n_fills, p.trade)
         for k, p in hooks.portfolio.positions.items()}
    assert batch.portfolio.net_qty == hooks.portfolio.net_qty
    risk, ref = batch.risk, hooks.risk
    assert (risk.cash, risk.reserved, risk.sym_qty, risk.working) == \
        (ref.cash, ref.reserved, ref.sym_qty, ref.working)
    assert {k: (p.qty, p.avg, p.trade_pnl) for k, p in risk.pairs.items()} == \
        {k: (p.qty, p.avg, p.trade_pnl) for k, p in ref.pairs.items()}
    assert (risk.losses, risk.states) == (ref.losses, ref.states)
    assert [f.strategy_id for f in batch.faults] == [f.strategy_id for f in hooks.faults]
    assert batch.equity_curve().equals(hooks.equity_curve())
    # the cases reach what they are for
    canceled = sum(type(e).__name__ == "OrderCanceled" for e in hooks.order_events)
    assert canceled > 0                      # a flip canceled an order still filling
    if limits is not None and limits.account == "spot":
        assert any(type(e).__name__ == "OrderDenied" for e in hooks.order_events)
    if fault:
        assert [f.strategy_id for f in hooks.faults] == [f"scripted#1:{SYMBOLS[1]}"]


@pytest.mark.parametrize("ordered", [True, False])
def test_global_indices_place_keys_in_the_merged_order(ordered: bool) -> None:
    """The fills' events placed among every feed's events (ties: the earlier feed first), as
    the one-key search places them: walked once per feed when the keys come in event-time
    order (as a run books them), searched otherwise."""
    from engine.backtesting.batch_pass import FillKeys, global_index, global_indices

    rng = np.random.default_rng(5)
    times = [np.sort(rng.integers(0, 400, n)).astype(np.int64) for n in (300, 1, 250, 420)]
    keys = [(int(times[f][r]), f, r) for f in range(4) for r in
            rng.choice(len(times[f]), min(len(times[f]), 60), replace=False)]
    if ordered:
        keys.sort()
    else:
        rng.shuffle(keys)
    columns = FillKeys()
    for key in keys:
        columns.append(key)
    assert global_indices(times, columns) == [global_index(times, *key) for key in keys]
    # a run's keys appended as slices are the same keys
    runs = FillKeys()
    runs.extend_run([int(t) for t in times[0][:5]], 0, [0, 1, 2, 3, 4])
    assert global_indices(times, runs) == [global_index(times, int(times[0][r]), 0, r)
                                           for r in range(5)]
