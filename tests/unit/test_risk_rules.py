"""The risk rules through the whole backtest engine, one scenario per rule (issue 11).

Reading a scenario (as in ``test_venue_scenarios``): bars are ``(open, high, low, close,
volume)`` on a grid (1 minute unless the rule is about days); a strategy deciding on bar ``i``
decides at its close, which is bar ``i+1``'s open, and a market order it places fills at bar
``i+1``'s open. Every bar below is flat (open = high = low = close) unless said otherwise, so
the mark a decision reads and the price the next bar fills at are the figures in the table.
Fees, slippage and the price buffer are zero unless the rule is about them, so every figure is
exact; the arithmetic is in the comments.

What a rule does is read from the run's ``order_events``: an ``OrderDenied`` whose reason
starts with the reason code, a ``RiskEvent`` ``order_reduced`` whose value is the quantity
sent, ``state`` events (with the time they happened), ``liquidation``, ``margin_call`` and
``kill_switch`` events.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from engine.backtesting import BacktestEngine, Feed
from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.market_stats import MarketStats, StatsConfig, SymbolEvents
from engine.messages import (BUY, LIMIT, MARKET, SELL, OrderCanceled, OrderDenied,
                             RiskEvent, SubmitOrder)
from engine.risk import PORTFOLIO, PRESETS, MarketView, RiskEngine, RiskLimits
from engine.sizing import SizingPolicy
from engine.strategy import Strategy
from engine.venue import VenueConfig
from tests.kit.scripted import (CAPITAL, MINUTE, SYMBOL, T0, Buy, Call, Cancel, Script,
                                ScriptedStrategy, Sell, bar_table)

HOUR = 60 * MINUTE
V = 1_000_000.0   # deep enough that the venue's volume cap never binds
ZERO = VenueConfig(maker_fee_bps=0.0, taker_fee_bps=0.0, slippage_model="fixed",
                   slippage_bps=0.0, impact_base_bps=0.0, impact_k_bps=0.0, latency_ms=0.0,
                   max_volume_share=1.0)
SID = f"scripted:{SYMBOL}"


def spot(**fields: Any) -> RiskLimits:
    """A spot account with no price buffer (so a market buy reserves cash at the mark)."""
    return RiskLimits(**{"account": "spot", "price_buffer_bps": 0.0, **fields})


def margin(**fields: Any) -> RiskLimits:
    return RiskLimits(**{"account": "margin", **fields})


def flat(*closes: float) -> list[tuple[float, float, float, float, float]]:
    """Flat bars: each trades at one price all bar long."""
    return [(c, c, c, c, V) for c in closes]


@dataclasses.dataclass
class Run:
    engine: BacktestEngine
    strategies: dict[str, ScriptedStrategy]
    start: int
    interval: int

    @property
    def strategy(self) -> ScriptedStrategy:
        return self.strategies[SID]

    def decided_at(self, bar: int) -> int:
        """Event time of a decision on bar ``bar``: its close."""
        return self.start + (bar + 1) * self.interval

    def opens(self, bar: int) -> int:
        return self.start + bar * self.interval

    def bar_of(self, ts: int) -> int:
        """The bar whose close (a decision) or open (a fill at the open) is ``ts``."""
        return (ts - self.start) // self.interval

    def denied(self) -> list[tuple[int, str, str]]:
        """(bar decided on, strategy's tag for the order, reason code) of every denial."""
        out = []
        for e in self.engine.order_events:
            if type(e) is OrderDenied:
                s = self.strategies[e.strategy_id]
                out.append((s.decided[e.client_order_id][0], s.tag_of[e.client_order_id],
                            e.reason.split(":", 1)[0]))
        return out

    def fills(self) -> list[tuple[int, str, float, float]]:
        """(bar, side, qty, price) of every fill (stamped at a bar's open or a decision)."""
        return [(self.bar_of(f.ts_event), f.side, f.last_qty, f.last_price)
                for f in self.engine.fills]

    def risk(self, kind: str) -> list[RiskEvent]:
        return [e for e in self.engine.order_events if type(e) is RiskEvent and e.kind == kind]

    def states(self) -> list[tuple[int, str, str, str]]:
        """(event time, scope, new state, reason code) of every state change."""
        return [(e.ts_event, e.scope, e.state, e.reason.split(":", 1)[0])
                for e in self.risk("state")]

    def reduced(self) -> list[tuple[str, float, str]]:
        """(tag, quantity sent, reason code) of every reduced order."""
        s = self.strategy
        return [(s.tag_of[e.client_order_id], e.value, e.reason.split(":", 1)[0])
                for e in self.risk("order_reduced")]

    def sent(self) -> dict[str, float]:
        """Tag -> quantity of every order that reached the venue."""
        s = self.strategy
        return {s.tag_of.get(coid, coid): o.quantity
                for coid, o in self.engine.venue.orders.items()}


def run(script: Script, rows: Sequence[tuple[float, float, float, float, float]],
        limits: RiskLimits, *, venue: VenueConfig = ZERO, interval: int = MINUTE,
        start: int = T0, capital: float = CAPITAL,
        others: Mapping[str, Script] | None = None) -> Run:
    """Run a scripted strategy (``SID``; ``others`` add more on the same symbol, by id) over
    ``rows`` on a grid of ``interval`` from ``start``."""
    engine = BacktestEngine(capital=capital, venue_config=venue, risk_limits=limits)
    engine.add_feed(Feed(SYMBOL, "bar", bar_table(rows, start=start, interval=interval),
                         interval_ns=interval))
    strategies = {}
    for sid, s in {SID: script, **(others or {})}.items():
        strategies[sid] = ScriptedStrategy(s)
        engine.add_strategy(strategies[sid], SYMBOL, strategy_id=sid)
    engine.run()
    assert engine.faults == [], engine.faults
    return Run(engine, strategies, start, interval)


def b(qty: float, tag: str, **kw: Any) -> Buy:
    return Buy(qty, tag=tag, **kw)


def s(qty: float, tag: str, **kw: Any) -> Sell:
    return Sell(qty, tag=tag, **kw)


# --- daily loss -------------------------------------------------------------------------------

# Hourly bars from 19:00 UTC on 31 Dec 2023: bar i opens at 19:00 + i h and is decided on at its
# close, 20:00 + i h. Bar 4 (23:00) closes at 00:00 on 1 Jan: the first decision of the new day.
DAY_START = T0 - 5 * HOUR
DAY_BARS = flat(100.0,   # 0  19:00  decide (20:00): buy 50; the day's open equity 10,000
                100.0,   # 1  20:00  buy fills at 100: cash 5,000, 50 held
                88.0,    # 2  21:00  close 88: equity 5,000 + 50 x 88 = 9,400, down 6 % >= 5 %
                99.0,    # 3  22:00  back to 99 (down 1 %): the day stays halted
                99.0,    # 4  23:00  decided at 00:00 1 Jan: a new UTC day
                99.0,    # 5  00:00  the entry of the new day fills at 99
                99.0)


def test_daily_loss_halts_until_the_next_utc_day() -> None:
    r = run({0: [b(50, "entry")], 2: [b(1, "b2"), s(10, "s2")], 3: [b(1, "b3")],
             4: [b(1, "next day")]}, DAY_BARS, spot(max_daily_loss=0.05),
            interval=HOUR, start=DAY_START)
    # HALTED when the decision on bar 2 (22:00) reads equity 9,400: 600 = 6 % of 10,000 lost
    # (>= the 5 % limit, 500); everything is refused (the sell too) until the day ends
    assert r.denied() == [(2, "b2", "daily_loss"), (2, "s2", "daily_loss"),
                          (3, "b3", "daily_loss")]
    assert r.states() == [(r.decided_at(2), PORTFOLIO, "HALTED", "daily_loss"),
                          (r.decided_at(4), PORTFOLIO, "ACTIVE", "resumed")]
    assert r.decided_at(4) == T0   # 00:00 UTC, 1 Jan 2024
    # the new day's order fills at bar 5's open
    assert r.fills() == [(1, BUY, 50.0, 100.0), (5, BUY, 1.0, 99.0)]


def test_daily_loss_reduce_lets_exits_through_and_denies_entries() -> None:
    r = run({0: [b(50, "entry")], 2: [s(10, "exit"), b(1, "add")],
             4: [b(1, "next day")]}, DAY_BARS,
            spot(max_daily_loss=0.05, daily_loss_action="reduce"), interval=HOUR,
            start=DAY_START)
    assert r.denied() == [(2, "add", "reducing")]
    assert r.states() == [(r.decided_at(2), PORTFOLIO, "REDUCING", "daily_loss"),
                          (r.decided_at(4), PORTFOLIO, "ACTIVE", "resumed")]
    # the exit fills at bar 3's open (99): 40 left; the new day's entry at bar 5's open
    assert r.fills() == [(1, BUY, 50.0, 100.0), (3, SELL, 10.0, 99.0), (5, BUY, 1.0, 99.0)]


# --- drawdown ---------------------------------------------------------------------------------

DD_BARS = flat(100.0,   # 0  decide: buy 50
               100.0,   # 1  fills at 100: cash 5,000
               120.0,   # 2  decide: buy 1; equity 5,000 + 50 x 120 = 11,000: the peak
               96.0,    # 3  the buy fills at 96: cash 4,904, 51 held; equity 4,904 + 51 x 96
                        #    = 9,800: 1,200 = 10.9 % below the peak >= 10 % -> the breaker
               96.0,    # 4  orders decided on bar 3 fill here
               96.0)


def test_drawdown_halts_everything_but_reduce_only() -> None:
    r = run({0: [b(50, "entry")], 2: [b(1, "top")],
             3: [s(10, "sell"), b(1, "buy"),
                 Call(lambda ctx: ctx.sell(10, reduce_only=True), tag="reduce_only")]},
            DD_BARS, spot(max_drawdown=0.10))
    assert r.denied() == [(3, "sell", "max_drawdown"), (3, "buy", "max_drawdown")]
    assert r.states() == [(r.decided_at(3), PORTFOLIO, "HALTED", "max_drawdown")]
    assert "11000.00" in r.risk("state")[0].reason
    assert r.fills() == [(1, BUY, 50.0, 100.0), (3, BUY, 1.0, 96.0), (4, SELL, 10.0, 96.0)]


def test_drawdown_reduce_lets_a_reducing_sell_through() -> None:
    r = run({0: [b(50, "entry")], 2: [b(1, "top")], 3: [s(10, "sell"), b(1, "buy")]},
            DD_BARS, spot(max_drawdown=0.10, drawdown_action="reduce"))
    assert r.denied() == [(3, "buy", "reducing")]
    assert r.states() == [(r.decided_at(3), PORTFOLIO, "REDUCING", "max_drawdown")]
    assert r.fills() == [(1, BUY, 50.0, 100.0), (3, BUY, 1.0, 96.0), (4, SELL, 10.0, 96.0)]


def test_drawdown_is_measured_from_the_peak_not_the_capital() -> None:
    # a buy of 50 fills at 100 (bar 1): cash 5,000. Bar 2's decision (close 130) reads
    # 5,000 + 50 x 130 = 11,500, the peak; its sell of 1 fills at 130 (cash 5,130, 49 held).
    # Bar 4's decision (close 103) reads 5,130 + 49 x 103 = 10,177: above the capital, but
    # 1,323 = 11.5 % below the peak -> HALTED
    rows = flat(100.0, 100.0, 130.0, 130.0, 103.0, 103.0)
    r = run({0: [b(50, "entry")], 2: [s(1, "at the peak")], 4: [b(1, "late")]}, rows,
            spot(max_drawdown=0.10))
    assert r.denied() == [(4, "late", "max_drawdown")]
    assert "11500.00" in r.risk("state")[0].reason


# --- consecutive losses -----------------------------------------------------------------------

def round_trips(*prices: float) -> tuple[Script, list[tuple[float, float, float, float, float]]]:
    """A buy of 1 then a sell of 1 per pair of prices: bar 2k decides the buy (filled at bar
    2k+1's open, ``prices[2k]``), bar 2k+1 the sell (filled at bar 2k+2's open)."""
    script: dict[int, list[Any]] = {}
    closes = [prices[0]]
    for k in range(0, len(prices), 2):
        script[k] = [b(1, f"buy{k // 2}")]
        script[k + 1] = [s(1, f"sell{k // 2}")]
        closes += [prices[k], prices[k + 1]]
    return script, flat(*closes)


def test_consecutive_losses_pause_the_strategy() -> None:
    # two losing round trips: bought at 100 (bar 1), sold at 99 (bar 2): -1; bought at 99
    # (bar 3), sold at 98 (bar 4): -1 -> 2 in a row: the strategy is HALTED at the fill,
    # bar 4's open, for 3 minutes: until bar 7's open (= bar 6's decision)
    script, rows = round_trips(100.0, 99.0, 99.0, 98.0)
    rows += flat(98.0, 98.0, 98.0, 98.0)
    script = {**script, 4: [b(1, "b4")], 5: [b(1, "b5")], 6: [b(1, "after the pause")]}
    r = run(script, rows, spot(max_consecutive_losses=2, loss_pause="3m"))
    assert r.denied() == [(4, "b4", "consecutive_losses"), (5, "b5", "consecutive_losses")]
    # HALTED at the losing fill (bar 4's open); ACTIVE again at the first decision at or
    # after 3 minutes later: bar 6's close
    assert r.states() == [(r.opens(4), SID, "HALTED", "consecutive_losses"),
                          (r.decided_at(6), SID, "ACTIVE", "resumed")]
    assert r.decided_at(6) == r.opens(4) + 3 * MINUTE
    assert r.fills()[-1] == (7, BUY, 1.0, 98.0)
    assert r.engine.risk.trips["consecutive_losses"] == 1


def test_a_win_resets_the_count_of_losses() -> None:
    # loss (100 -> 99), win (99 -> 101), loss (101 -> 100): never 2 in a row; a third loss
    # (100 -> 99) right after makes 2 -> HALTED at bar 8's open
    script, rows = round_trips(100.0, 99.0, 99.0, 101.0, 101.0, 100.0, 100.0, 99.0)
    r = run({**script, 8: [b(1, "halted")]}, rows + flat(99.0),
            spot(max_consecutive_losses=2, loss_pause="1h"))
    assert r.states() == [(r.opens(8), SID, "HALTED", "consecutive_losses")]
    assert r.denied() == [(8, "halted", "consecutive_losses")]
    assert len(r.fills()) == 8


# --- cooldowns --------------------------------------------------------------------------------

def test_cooldown_doubles_after_successive_losses_up_to_the_cap() -> None:
    # cooldown 2 min, cap 5 min. Each loss: bought at p, sold at p - 1.
    # loss 1 closes at bar 2's open (00:02): cool until 00:04 -> the buy decided at 00:03
    #   (bar 2) is denied, the one at 00:04 (bar 3) passes and fills at bar 4's open
    # loss 2 closes at bar 5's open (00:05): 2 x 2 = 4 min, until 00:09 -> denied at bar 7
    #   (00:08), passes at bar 8 (00:09), fills at bar 9
    # loss 3 closes at bar 10 (00:10): 8 min capped at 5, until 00:15 -> denied at bar 13
    #   (00:14), passes at bar 14 (00:15)
    script = {0: [b(1, "e1")], 1: [s(1, "x1")], 2: [b(1, "cool1")], 3: [b(1, "e2")],
              4: [s(1, "x2")], 7: [b(1, "cool2")], 8: [b(1, "e3")], 9: [s(1, "x3")],
              13: [b(1, "cool3")], 14: [b(1, "e4")]}
    rows = flat(100, 100, 99, 99, 99, 98, 98, 98, 98, 98, 97, 97, 97, 97, 97, 97, 97)
    r = run(script, rows, spot(cooldown="2m", cooldown_max="5m"))
    assert r.denied() == [(2, "cool1", "cooldown"), (7, "cool2", "cooldown"),
                          (13, "cool3", "cooldown")]
    assert [f[0] for f in r.fills()] == [1, 2, 4, 5, 9, 10, 15]
    assert r.engine.risk.cool_until[SYMBOL] == T0 + 15 * MINUTE
    assert "00:04" in next(e.reason for e in r.engine.order_events if type(e) is OrderDenied)


def test_a_win_shortens_the_next_cooldown() -> None:
    # cooldown 2 min, cap 1 h. loss at bar 2 (cool 2 min), loss at bar 5 (4 min, until
    # 00:09); a win at bar 10 (bought 98 at bar 9, sold 99) steps back one doubling, so the
    # next loss (bought 99 at bar 11, sold 98 at bar 12, 00:12) cools 4 min (not 8): until
    # 00:16 -> denied at bar 14 (00:15), passes at bar 15 (00:16)
    script = {0: [b(1, "e1")], 1: [s(1, "x1")], 3: [b(1, "e2")], 4: [s(1, "x2")],
              8: [b(1, "e3")], 9: [s(1, "win")], 10: [b(1, "e4")], 11: [s(1, "x4")],
              14: [b(1, "cool")], 15: [b(1, "e5")]}
    rows = flat(100, 100, 99, 99, 99, 98, 98, 98, 98, 98, 99, 99, 98, 98, 98, 98, 98)
    r = run(script, rows, spot(cooldown="2m", cooldown_max="1h"))
    assert r.denied() == [(14, "cool", "cooldown")]
    assert r.engine.risk.cool_until[SYMBOL] == T0 + 16 * MINUTE
    assert r.fills()[-1] == (16, BUY, 1.0, 98.0)


def test_cooldown_is_per_symbol_and_never_blocks_exits() -> None:
    # "holder" buys 5 at 100 (bar 1); "loser" closes a losing trip at bar 3's open (100 ->
    # 99): the symbol cools down for 10 min. On bar 3 the holder's add is denied but its
    # sell (an exit) fills at bar 4.
    holder = {0: [b(5, "hold")], 3: [s(5, "exit"), b(1, "add")]}
    loser = {1: [b(1, "l-in")], 2: [s(1, "l-out")], 3: [b(1, "l-again")]}
    rows = flat(100, 100, 100, 99, 99, 99)
    r = run(holder, rows, spot(cooldown="10m"), others={"loser": loser})
    assert sorted(r.denied()) == [(3, "add", "cooldown"), (3, "l-again", "cooldown")]
    assert (4, SELL, 5.0, 99.0) in r.fills()
    assert r.engine.portfolio.positions[(SYMBOL, SID)].qty == 0.0


# --- position, order and exposure limits ------------------------------------------------------

ONE_PRICE = flat(100.0, 100.0, 100.0, 100.0)


@pytest.mark.parametrize("on_insufficient", ["reduce", "deny"])
def test_max_position_share(on_insufficient: str) -> None:
    # 25 % of equity 10,000 at 100: 25 units; a buy of 40 is cut to 25 (or denied)
    r = run({0: [b(40, "big")]}, ONE_PRICE,
            spot(max_position_share=0.25, on_insufficient=on_insufficient))
    if on_insufficient == "reduce":
        assert r.reduced() == [("big", 25.0, "max_position")]
        assert r.fills() == [(1, BUY, 25.0, 100.0)]
    else:
        assert r.denied() == [(0, "big", "max_position")] and r.fills() == []


def test_max_position_qty_counts_working_orders() -> None:
    # limit 3: a limit buy of 2 (resting below the market) and then a market buy of 5 -> 1
    # (2 working + 1 = 3); next bar a buy of 1 has no room left: denied even when reducing
    r = run({0: [b(2, "resting", limit=90.0), b(5, "market")], 1: [b(1, "more")]}, ONE_PRICE,
            spot(max_position_qty=3.0))
    assert r.reduced() == [("market", 1.0, "max_position")]
    assert r.denied() == [(1, "more", "max_position")]
    assert r.sent() == {"resting": 2.0, "market": 1.0}


def test_max_order_notional_denies_never_reduces() -> None:
    # 11 x 100 = 1,100 > 1,000: denied; 10 x 100 = 1,000 passes
    r = run({0: [b(11, "over"), b(10, "at")]}, ONE_PRICE, spot(max_order_notional=1000.0))
    assert r.denied() == [(0, "over", "max_order_notional")]
    assert r.fills() == [(1, BUY, 10.0, 100.0)]


def test_max_net_exposure() -> None:
    # margin, 0.5 x equity 10,000 = 5,000 net at 100: a buy of 80 -> 50 (net +5,000); then a
    # sell of 120 may take net to -5,000: 100 units (ends short 50)
    r = run({0: [b(80, "long")], 1: [s(120, "flip")]}, ONE_PRICE,
            margin(max_net_exposure=0.5, max_leverage=10.0))
    assert r.reduced() == [("long", 50.0, "max_net_exposure"),
                           ("flip", 100.0, "max_net_exposure")]
    assert r.engine.portfolio.net_qty[SYMBOL] == -50.0


def test_max_gross_exposure() -> None:
    # margin, 0.5 x 10,000 = 5,000 gross: a buy of 80 -> 50; a sell of 120 may close the 50
    # (freeing 5,000) and open 50 short: 100
    r = run({0: [b(80, "long")], 1: [s(120, "flip")]}, ONE_PRICE,
            margin(max_gross_exposure=0.5, max_leverage=10.0))
    assert r.reduced() == [("long", 50.0, "max_gross_exposure"),
                           ("flip", 100.0, "max_gross_exposure")]
    assert r.engine.portfolio.net_qty[SYMBOL] == -50.0


def test_max_orders_per_minute() -> None:
    # 2 a minute: the third order decided on bar 0 is denied; one minute later (bar 1) the
    # two orders of bar 0 are a minute old and no longer count
    r = run({0: [b(1, "1"), b(1, "2"), b(1, "3")], 1: [b(1, "4"), b(1, "5"), b(1, "6")]},
            ONE_PRICE, spot(max_orders_per_minute=2))
    assert r.denied() == [(0, "3", "order_rate"), (1, "6", "order_rate")]
    assert len(r.fills()) == 4


def test_max_open_positions() -> None:
    # one open position at most: the second strategy's entry is denied while the first holds
    r = run({0: [b(1, "first")]}, ONE_PRICE, spot(max_open_positions=1),
            others={"second": {1: [b(1, "second")]}})
    assert r.denied() == [(1, "second", "max_open_positions")]


# --- the spot account -------------------------------------------------------------------------

FEE10 = dataclasses.replace(ZERO, taker_fee_bps=10.0)


@pytest.mark.parametrize("on_insufficient", ["reduce", "deny"])
def test_spot_buy_is_cut_to_what_cash_affords(on_insufficient: str) -> None:
    # a market buy reserves mark x (1 + 50 bps) x (1 + 10 bps fee) a unit:
    # 100 x 1.005 x 1.001 = 100.6005 -> 10,000 / 100.6005 = 99.40308... units
    limits = RiskLimits(account="spot", price_buffer_bps=50.0, on_insufficient=on_insufficient)
    r = run({0: [b(200, "all in")]}, ONE_PRICE, limits, venue=FEE10)
    if on_insufficient == "deny":
        assert r.denied() == [(0, "all in", "insufficient_buying_power")]
        return
    (tag, qty, code), = r.reduced()
    assert (tag, code) == ("all in", "insufficient_buying_power")
    assert qty == pytest.approx(10_000 / 100.6005, rel=1e-12)
    # filled at 100 plus the fee: 99.403 x 100 x 1.001 = 9,950.25 spent, 49.75 left
    assert r.engine.portfolio.cash == pytest.approx(10_000 - qty * 100 * 1.001, rel=1e-12)
    assert r.engine.portfolio.cash == pytest.approx(49.75124, rel=1e-5)


@pytest.mark.parametrize("on_insufficient", ["reduce", "deny"])
@pytest.mark.parametrize("qty", [8.0, 12.0])
def test_spot_sell_past_the_position(on_insufficient: str, qty: float) -> None:
    # holds 5: a sell of 8 (or 12: past twice the position) is cut to 5, or denied
    r = run({0: [b(5, "in")], 1: [s(qty, "too much")]}, ONE_PRICE,
            spot(on_insufficient=on_insufficient))
    if on_insufficient == "reduce":
        assert r.reduced() == [("too much", 5.0, "insufficient_position")]
        assert r.fills()[-1] == (2, SELL, 5.0, 100.0)
    else:
        assert r.denied() == [(1, "too much", "insufficient_position")]
    assert all(p.qty >= 0 for p in r.engine.portfolio.positions.values())


def test_spot_sell_counts_sells_already_working() -> None:
    # holds 5 with a limit sell of 4 working (at 110, above the market): a market sell of 3
    # may take only the 1 not yet on sale; with nothing held a sell is denied
    r = run({0: [b(5, "in")], 1: [s(4, "limit", limit=110.0), s(3, "market")]}, ONE_PRICE,
            spot(), others={"empty": {1: [s(1, "naked")]}})
    assert r.reduced() == [("market", 1.0, "insufficient_position")]
    assert r.denied() == [(1, "naked", "insufficient_position")]


def test_a_working_buy_reserves_cash() -> None:
    # a limit buy of 60 at 90 (rests: the market is at 100) holds 60 x 90 = 5,400; a market
    # buy of 100 then gets (10,000 - 5,400) / 100 = 46; canceling the limit frees its cash
    # and a buy of 54 passes on the next bar (10,000 - 4,600 = 5,400 = 54 x 100)
    r = run({0: [b(60, "limit", limit=90.0), b(100, "market")],
             1: [Cancel("limit")], 2: [b(54, "after cancel")]}, ONE_PRICE + flat(100.0),
            spot())
    assert r.reduced() == [("market", 46.0, "insufficient_buying_power")]
    assert r.fills() == [(1, BUY, 46.0, 100.0), (3, BUY, 54.0, 100.0)]
    assert r.engine.portfolio.cash == pytest.approx(0.0, abs=1e-9)


def test_a_working_market_buy_reserves_cash_too() -> None:
    # no buffer: a market buy of 60 holds 60 x 100 = 6,000 until it fills, so a second one
    # decided on the same bar gets (10,000 - 6,000) / 100 = 40 and a third nothing
    r = run({0: [b(60, "first"), b(60, "second"), b(1, "third")]}, ONE_PRICE, spot())
    assert r.reduced() == [("second", 40.0, "insufficient_buying_power")]
    assert r.denied() == [(0, "third", "insufficient_buying_power")]
    assert r.fills() == [(1, BUY, 60.0, 100.0), (1, BUY, 40.0, 100.0)]


def test_a_spot_sell_cannot_count_on_a_working_buy() -> None:
    # a market buy of 10 is working (it may never fill): a sell of 5 decided with it has
    # nothing to sell yet
    r = run({0: [b(10, "buy"), s(5, "sell")]}, ONE_PRICE, spot())
    assert r.denied() == [(0, "sell", "insufficient_position")]


def test_closing_one_strategy_cannot_push_the_account_past_its_leverage() -> None:
    # margin, 2x: "short" sells 50 (bar 0); "long" buys 200 on bar 1 (the account: net +150,
    # gross 15,000 of 20,000). On bar 2 the short's buy of 100 closes its 50 and opens 50
    # long for itself, but the account would hold +250 (25,000): cut to
    # (20,000 - 15,000) / 100 = 50, which only closes the short
    r = run({0: [s(50, "short")], 2: [b(100, "close and flip")]}, ONE_PRICE + flat(100.0),
            margin(max_leverage=2.0), others={"long": {1: [b(200, "long")]}})
    assert r.reduced() == [("close and flip", 50.0, "max_leverage")]
    assert r.engine.portfolio.net_qty[SYMBOL] == 200.0


def test_a_gap_up_never_spends_cash_the_account_lacks() -> None:
    # approved at mark 100 with a 50 bps buffer: 10,000 / 100.5 = 99.50 units; the next bar
    # gaps up to 120, where they would cost 11,940. The venue fills what 10,000 buys at 120,
    # 83.33 units, and cancels the rest.
    rows = [(100.0, 100.0, 100.0, 100.0, V), (120.0, 121.0, 119.0, 120.0, V),
            (120.0, 120.0, 120.0, 120.0, V)]
    r = run({0: [b(1000, "all in")]}, rows, spot(price_buffer_bps=50.0))
    assert r.sent() == {"all in": pytest.approx(10_000 / 100.5)}
    (bar, side, qty, price), = r.fills()
    assert (bar, side, price) == (1, BUY, 120.0)
    assert qty == pytest.approx(10_000 / 120, rel=1e-9)
    cancels = [e for e in r.engine.order_events if type(e) is OrderCanceled]
    assert len(cancels) == 1 and cancels[0].reason.startswith("insufficient_buying_power")
    assert 0.0 <= r.engine.portfolio.cash < 1e-6
    assert r.engine.risk.cash >= 0.0 and r.engine.risk.reserved == 0.0


# --- the margin account -----------------------------------------------------------------------

def test_margin_short_opens() -> None:
    r = run({0: [s(10, "short")]}, ONE_PRICE, margin())
    assert r.fills() == [(1, SELL, 10.0, 100.0)]
    assert r.engine.portfolio.net_qty[SYMBOL] == -10.0


def test_leverage_cap_reduces_to_max_leverage_times_equity() -> None:
    # 2 x 10,000 / 100 = 200 units; then, holding 200, a short of 300 may close the long and
    # open 200 short: 400 (the long's exposure is freed first)
    r = run({0: [b(300, "long")], 1: [s(700, "flip")]}, ONE_PRICE,
            margin(max_leverage=2.0))
    assert r.reduced() == [("long", 200.0, "max_leverage"), ("flip", 400.0, "max_leverage")]
    assert r.engine.portfolio.net_qty[SYMBOL] == -200.0


def test_symbol_leverage_caps_one_symbol() -> None:
    # 0.5 x 10,000 / 100 = 50 units of BTCUSDT, though the account allows 3x
    r = run({0: [b(300, "long")]}, ONE_PRICE, margin(symbol_leverage={SYMBOL: 0.5}))
    assert r.reduced() == [("long", 50.0, "max_leverage")]


def test_liquidation_at_the_first_bar_below_the_maintenance_margin() -> None:
    # max leverage 3, maintenance 10 %. Long 250 at 100 (gross 25,000): equity
    # 10,000 + 250 (p - 100) = 250 p - 15,000.
    #   margin call (equity < gross / 3):        250 p - 15,000 < 83.3 p   <=> p < 90
    #   liquidation (equity < 0.1 x gross):      250 p - 15,000 < 25 p     <=> p < 66.67
    rows = flat(100.0,   # 0  decide: buy 250
                100.0,   # 1  fills at 100
                95.0,    # 2  equity 8,750 >= 7,916.67: nothing
                85.0,    # 3  equity 6,250 < 7,083.33: margin call (once)
                70.0,    # 4  equity 2,500 >= 1,750: still only the call
                65.0,    # 5  equity 1,250 < 1,625: liquidated at 65 -> cash 1,250
                65.0)
    r = run({0: [b(250, "long")], 6: [b(1, "after")]}, rows,
            margin(max_leverage=3.0, maintenance_margin=0.1))
    calls, liqs = r.risk("margin_call"), r.risk("liquidation")
    assert [r.bar_of(e.ts_event) - 1 for e in calls] == [3]     # stamped at bar 3's close
    assert [r.bar_of(e.ts_event) - 1 for e in liqs] == [5]
    assert liqs[0].value == pytest.approx(1250.0)
    liq_fills = [f for f in r.engine.fills if f.client_order_id.startswith("LIQ-")]
    assert [(f.side, f.last_qty, f.last_price) for f in liq_fills] == [(SELL, 250.0, 65.0)]
    assert r.engine.portfolio.cash == pytest.approx(1250.0)
    assert r.engine.portfolio.net_qty[SYMBOL] == 0.0
    # a liquidation does not halt an account with equity left: the next order goes out
    assert r.denied() == []


def test_a_gap_past_zero_is_written_off_and_halts_the_account() -> None:
    # long 250 at 100 as above; a gap to 50: equity 250 x 50 - 15,000 = -2,500. Liquidated at
    # 50 (cash -2,500), the deficit written off: cash and equity 0, HALTED bankrupt.
    rows = flat(100.0, 100.0, 50.0, 50.0)
    r = run({0: [b(250, "long")], 3: [b(1, "after")]}, rows,
            margin(max_leverage=3.0, maintenance_margin=0.1))
    assert len(r.risk("liquidation")) == 1
    assert r.engine.portfolio.cash == 0.0 and r.engine.portfolio.equity() == 0.0
    assert r.states() == [(r.decided_at(2), PORTFOLIO, "HALTED", "bankrupt")]
    assert r.denied() == [(3, "after", "bankrupt")]
    curve = r.engine.equity_curve(interval_ns=0)
    assert (curve["equity"] >= 0.0).all() and curve["equity"].iloc[-1] == 0.0


# --- the kill switch --------------------------------------------------------------------------

class KillingStrategy(Strategy):
    """Buys 5 on its first bar, places a limit buy below the market on its second, and pulls
    the kill switch on its fourth; asks for another buy on its fifth."""

    name = "killer"

    def __init__(self) -> None:
        super().__init__()
        self.i = 0

    def on_bar(self, bar: Any) -> None:
        if self.i == 0:
            self.ctx.buy(5)
        elif self.i == 1:
            self.ctx.buy(1, limit=50.0)
        elif self.i == 3:
            self.ctx._engine.kill_switch("operator")
        elif self.i == 4:
            self.ctx.buy(1)
        self.i += 1


def kill_checks(engine: BacktestEngine, kill_ts: int) -> None:
    events = engine.order_events
    kills = [e for e in events if type(e) is RiskEvent and e.kind == "kill_switch"]
    assert [e.ts_event for e in kills] == [kill_ts]
    cancels = [e for e in events if type(e) is OrderCanceled]
    assert [(e.ts_event, e.reason.split(":")[0]) for e in cancels] == [(kill_ts, "kill_switch")]
    # the position is flattened by a reduce-only market order, filled at the next open
    flatten = [o for o in engine.venue.orders.values() if o.reduce_only]
    assert [(o.side, o.order_type, o.quantity) for o in flatten] == [(SELL, MARKET, 5.0)]
    assert engine.portfolio.positions[(SYMBOL, engine.contexts[0].strategy_id)].qty == 0.0
    denied = [e for e in events if type(e) is OrderDenied]
    assert len(denied) == 1 and denied[0].reason.startswith("kill_switch")
    assert engine.risk.state(PORTFOLIO) == 2   # HALTED


def test_kill_switch_from_a_strategy() -> None:
    engine = BacktestEngine(capital=CAPITAL, venue_config=ZERO, risk_limits=spot())
    engine.add_feed(Feed(SYMBOL, "bar", bar_table(flat(100, 100, 100, 100, 100, 100)),
                         interval_ns=MINUTE))
    engine.add_strategy(KillingStrategy(), SYMBOL)
    engine.run()
    kill_checks(engine, T0 + 4 * MINUTE)   # bar 3's close


def test_kill_switch_from_the_config() -> None:
    # kill_at 00:04: the same run, pulled by the clock rather than the strategy; the limit
    # buy of bar 1 is canceled and the 5 held are sold at bar 4's open
    class Quiet(KillingStrategy):
        def on_bar(self, bar: Any) -> None:
            if self.i != 3:
                super().on_bar(bar)
            else:
                self.i += 1

    engine = BacktestEngine(capital=CAPITAL, venue_config=ZERO,
                            risk_limits=spot(kill_at="2024-01-01T00:04"))
    engine.add_feed(Feed(SYMBOL, "bar", bar_table(flat(100, 100, 100, 100, 100, 100)),
                         interval_ns=MINUTE))
    engine.add_strategy(Quiet(), SYMBOL)
    engine.run()
    kill_checks(engine, T0 + 4 * MINUTE)


# --- market rules: regime, cost, correlated groups --------------------------------------------

def _events(symbol: str, prices: np.ndarray, start: int = T0,
            interval: int = HOUR) -> SymbolEvents:
    n = len(prices)
    return SymbolEvents(symbol, start + (np.arange(n, dtype=np.int64) + 1) * interval,
                        prices, volume=np.full(n, 100.0))


def test_block_regime_through_the_engine() -> None:
    # hourly statistics over a window of 2 returns ranked among the last 4: 8 calm hours
    # (+0.1 % a bar, volatility 0), then +/-10 % swings. At bar 10's close the last 4
    # volatilities are about [0, 0.047, 0.10, 0.105]: the last ranks (3 + 1/2) / 4 = 87.5 ->
    # VOLATILE (75 to 95). An entry decided then is refused; an exit passes.
    calm = [100.0 * 1.001 ** i for i in range(8)]
    wild = [calm[-1] * f for f in (1.1, 0.99, 1.1, 0.99)]
    rows = flat(*calm, *wild)
    last = len(rows) - 1
    engine = BacktestEngine(capital=CAPITAL, venue_config=ZERO,
                            risk_limits=spot(block_regime="VOLATILE"))
    engine.add_feed(Feed(SYMBOL, "bar", bar_table(rows, interval=HOUR), interval_ns=HOUR))
    strategy = ScriptedStrategy({0: [b(5, "calm entry")], last - 1: [b(1, "wild entry"),
                                                                        s(1, "wild exit")]})
    engine.add_strategy(strategy, SYMBOL)
    engine.market = MarketStats([_events(SYMBOL, np.array([r[3] for r in rows]))],
                                StatsConfig(regime_window=2, regime_lookback=4))
    assert engine.market.regime(SYMBOL, T0 + last * HOUR) == 2   # VOLATILE
    engine.run()
    denied = [e for e in engine.order_events if type(e) is OrderDenied]
    assert [(strategy.tag_of[e.client_order_id], e.reason.split(":")[0]) for e in denied] == \
        [("wild entry", "regime")]
    assert [f.side for f in engine.fills] == [BUY, SELL]


def _cmd(side: str, qty: float, symbol: str = SYMBOL, ts: int = T0, coid: str = "c-1",
         limit: float | None = None) -> SubmitOrder:
    return SubmitOrder(SID, "SIM", symbol, coid, side, LIMIT if limit else MARKET, float(qty),
                       limit, None, "GTC", ts, ts)


def test_pre_trade_cost_and_volatile_scale_on_the_check() -> None:
    risk = RiskEngine(spot(max_cost_bps=10.0, volatile_scale=0.5), CAPITAL)
    marks = {SYMBOL: 100.0}
    assert risk.check(_cmd(BUY, 10), marks, MarketView(1, 10.0))[0] == 10.0   # at the limit
    qty, reason = risk.check(_cmd(BUY, 10), marks, MarketView(1, 10.5))
    assert qty == 0.0 and reason is not None and reason.startswith("pre_trade_cost")
    # VOLATILE (2): entries scaled by 0.5; the reduction is reported
    qty, reason = risk.check(_cmd(BUY, 10), marks, MarketView(2, 1.0))
    assert qty == 5.0 and reason is not None and reason.startswith("regime")
    assert [e.kind for e in risk.events] == ["order_reduced"]


def test_correlated_group_exposure_on_the_check() -> None:
    # ETH held worth 4,000 (40 at 100); BTC correlates with it: the group may reach
    # 0.6 x 10,000 = 6,000, so a BTC buy of 50 (5,000) is cut to 20 (2,000). An uncorrelated
    # symbol gets its full 50 (5,000 < 6,000).
    risk = RiskEngine(margin(max_group_exposure=0.6), CAPITAL)
    risk.on_fill("eth", "ETHUSDT", "e-1", BUY, 40.0, 0.0, 100.0)
    marks = {SYMBOL: 100.0, "ETHUSDT": 100.0}
    qty, reason = risk.check(_cmd(BUY, 50), marks, MarketView(1, 0.0, ("ETHUSDT",)))
    assert qty == pytest.approx(20.0) and reason.startswith("correlation_exposure")
    assert risk.check(_cmd(BUY, 50, coid="c-2"), marks, MarketView(1, 0.0, ()))[0] == 50.0


# --- bad input --------------------------------------------------------------------------------

def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ConfigError) as err:
        BacktestConfig.from_dict({"risk_preset": "x"})
    for name in PRESETS:
        assert name in str(err.value)


@pytest.mark.parametrize("fields, named", [
    ({"max_drawdown": -0.1}, "max_drawdown"),
    ({"max_daily_loss": 1.5}, "max_daily_loss"),
    ({"max_position_share": 0.0}, "max_position_share"),
    ({"max_leverage": math.inf}, "max_leverage"),
    ({"max_orders_per_minute": 2.5}, "max_orders_per_minute"),
    ({"cooldown": "2d", "cooldown_max": "1d"}, "cooldown_max"),
    ({"account": "margin", "maintenance_margin": 0.4, "max_leverage": 3.0},
     "maintenance_margin"),
    ({"symbol_leverage": {SYMBOL: -1.0}}, "symbol_leverage"),
    ({"drawdown_action": "panic"}, "drawdown_action"),
    ({"kill_at": "someday"}, "kill_at"),
    ({"loss_pause": "soon"}, "loss_pause"),
])
def test_bad_limits_name_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        RiskLimits(**fields)


def test_bad_limits_through_the_config_name_the_field() -> None:
    with pytest.raises(ConfigError, match="max_drawdown"):
        BacktestConfig.from_dict({"max_drawdown": -0.1})


class SizedEntry(Strategy):
    """``enter_long`` (sized by the pair's policy) on its fifth bar, when a volatility window
    of 3 returns is full."""

    name = "sized"

    def __init__(self) -> None:
        super().__init__()
        self.i = 0

    def on_bar(self, bar: Any) -> None:
        self.i += 1
        if self.i == 5:
            self.ctx.enter_long()


@pytest.mark.parametrize("policy", [
    # flat prices: volatility 0
    SizingPolicy(policy="volatility_target", vol_window=3),
    SizingPolicy(policy="volatility_target", vol_method="atr", vol_window=3),
    # the stop the risk engine attaches (1e-300 below the price) is at the price: distance 0
    SizingPolicy(policy="risk_per_trade"),
    # no closed trades yet: Kelly's warm-up
    SizingPolicy(policy="kelly"),
])
def test_a_sizing_policy_that_would_divide_by_zero_falls_back(policy: SizingPolicy) -> None:
    # the fallback is fixed_fraction: 2 % of equity 10,000 at 100 = 2 units
    limits = spot(stop_loss=1e-300) if policy.policy == "risk_per_trade" else spot()
    engine = BacktestEngine(capital=CAPITAL, venue_config=ZERO, risk_limits=limits)
    engine.add_feed(Feed(SYMBOL, "bar", bar_table(flat(*[100.0] * 6)), interval_ns=MINUTE))
    engine.add_strategy(SizedEntry(), SYMBOL).sizing = policy
    engine.run()
    sent = [o for o in engine.venue.orders.values() if not o.reduce_only]
    assert [o.quantity for o in sent] == [pytest.approx(2.0)]
    assert all(math.isfinite(o.quantity) for o in engine.venue.orders.values())
    assert [f.last_qty for f in engine.fills] == [pytest.approx(2.0)]
