"""Scenario tests of the simulated venue: tiny hand-written candle, trade and quote tables, a
scripted strategy, and the exact fills each rule in ``engine/venue.py`` implies.

Reading a scenario: bars are ``(open, high, low, close, volume)`` on a 1-minute grid starting
at 00:00, so bar ``i`` opens at 00:0i and closes at 00:0(i+1). A strategy deciding on bar ``i``
decides at its close, which is bar ``i+1``'s open. ``Fill(event, side, qty, price, liquidity,
fee, at=...)`` says during which bar (or trade) the fill happens and whether it is stamped at
the bar's open (market-like fills at the open) or its close (fills somewhere inside the bar:
resting limits, stops triggered intrabar). Fees and slippage are zero unless the scenario is
about them, so every price is exact.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.messages import BUY, GTC, IOC, LIMIT, MAKER, SELL, STOP, TAKER
from engine.venue import VenueConfig

from tests.kit.scripted import (CAPITAL, MINUTE, SECOND, T0, Buy, Cancel, Run, Script, Sell,
                                 Submit, bar_table, quote_table, run_script, trade_table)

V = 1_000.0          # a volume deep enough that no cap binds where the scenario is not about it
NAN = float("nan")
INF = float("inf")

ZERO = VenueConfig(maker_fee_bps=0.0, taker_fee_bps=0.0, slippage_model="fixed",
                   slippage_bps=0.0, impact_base_bps=0.0, impact_k_bps=0.0, latency_ms=0.0,
                   max_volume_share=1.0, limit_fill="through")


def venue(**changes: Any) -> VenueConfig:
    """The zero-cost venue with a few settings changed."""
    return dataclasses.replace(ZERO, **changes)


@dataclasses.dataclass(frozen=True)
class Fill:
    """An expected fill: during which event, at the bar's ``open`` or ``close`` time."""

    event: int
    side: str
    qty: float
    price: float
    liquidity: str
    fee: float = 0.0
    at: str = "open"
    leaves: float | None = None
    tag: str | None = None
    slip: float | None = None     # expected slippage_bps on the event, when it matters


@dataclasses.dataclass(frozen=True)
class Canceled:
    """An expected OrderCanceled: the order's tag, the event during which it arrived, its ts."""

    tag: str
    event: int
    ts: int | None = None
    reason: str | None = None     # a word the reason must contain


@dataclasses.dataclass(frozen=True)
class Scenario:
    market: pd.DataFrame          # a bar, trade or quote table
    venue: VenueConfig
    script: Script
    fills: tuple[Fill, ...]
    position: float | None = None
    cash: float | None = None
    canceled: tuple[Canceled, ...] = ()
    rejected: tuple[tuple[str, int], ...] = ()     # (tag or client order id, event)
    round_trips: tuple[Mapping[str, Any], ...] | None = None
    state: Mapping[int, Mapping[str, float]] = dataclasses.field(default_factory=dict)


def scenario(id: str, market: pd.DataFrame, venue: VenueConfig, script: Script,
             fills: list[Fill], **expected: Any) -> Any:
    return pytest.param(Scenario(market, venue, script, tuple(fills), **expected), id=id)


def at(minutes: float) -> int:
    """The time ``minutes`` after 00:00 (the first bar's open), ns."""
    return T0 + int(round(minutes * MINUTE))


# --- the scenario tables ----------------------------------------------------------------------

# Opens step up by 1 each bar so the fill price names the bar it happened in.
LADDER = bar_table([
    (100.0, 100.5, 99.5, 100.2, V),   # 0  decide here (00:01)
    (101.0, 101.5, 100.5, 101.2, V),  # 1  opens 00:01
    (102.0, 102.5, 101.5, 102.2, V),  # 2  opens 00:02
    (103.0, 103.5, 102.5, 103.2, V),  # 3  opens 00:03
    (104.0, 104.5, 103.5, 104.2, V),  # 4
])

BUY_LIMIT_98 = bar_table([
    (100.0, 101.0, 99.5, 100.0, V),   # 0  decide: buy limit 98
    (100.0, 100.5, 98.0, 99.0, V),    # 1  low == 98: touches only
    (99.0, 99.5, 97.5, 98.5, V),      # 2  low 97.5 < 98: trades through
    (98.5, 99.0, 96.0, 97.0, V),      # 3
])

SELL_LIMIT_102 = bar_table([
    (100.0, 101.0, 99.5, 100.0, V),   # 0  decide: sell limit 102
    (100.0, 102.0, 99.8, 101.0, V),   # 1  high == 102: touches only
    (101.0, 102.5, 100.5, 102.0, V),  # 2  high 102.5 > 102: trades through
])

MARKETABLE = bar_table([
    (100.0, 100.5, 99.5, 100.0, V),   # 0  decide: buy limit 101 / sell limit 100
    (100.5, 101.5, 100.0, 101.0, V),  # 1  opens 100.5: below 101 and above 100
    (101.0, 101.5, 100.5, 101.0, V),  # 2
])


def buy_stop_103(bar2: tuple[float, float, float, float, float]) -> pd.DataFrame:
    return bar_table([
        (100.0, 101.0, 99.0, 100.0, V),   # 0  decide: buy stop 103
        (100.5, 102.9, 100.0, 101.0, V),  # 1  high 102.9 < 103: not triggered
        bar2,                             # 2
        (104.0, 104.5, 103.0, 104.0, V),  # 3
    ])


def stop_loss_97(bar2: tuple[float, float, float, float, float]) -> pd.DataFrame:
    return bar_table([
        (100.0, 100.5, 99.5, 100.0, V),   # 0  decide: buy 1 at market, sell stop 97
        (100.0, 101.0, 98.0, 99.0, V),    # 1  buy fills at 100; low 98 > 97: stop not reached
        bar2,                             # 2
        (94.0, 95.0, 93.0, 94.0, V),      # 3
    ])


def resting_bid_95(bar3_volume: float) -> pd.DataFrame:
    return bar_table([
        (100.0, 100.5, 99.5, 100.0, V),   # 0  decide: buy limit 95 "bid"  (00:01)
        (100.0, 100.5, 96.0, 97.0, V),    # 1  low 96 > 95
        (97.0, 98.0, 96.0, 96.5, V),      # 2  low 96 > 95; decide: cancel "bid"  (00:03)
        (96.0, 96.5, 94.0, 94.5, bar3_volume),  # 3  low 94 < 95: trades through
        (94.5, 95.0, 93.0, 93.5, V),      # 4  trades through again
    ])


BAR_SCENARIOS = [
    # 1. no look-ahead: decided on bar 0 (at its close 100.5), filled at bar 1's open
    scenario(
        "01-market-fills-at-next-open",
        bar_table([
            (100.0, 101.0, 99.0, 100.5, V),   # 0  decide: buy 1
            (102.0, 103.0, 101.0, 102.5, V),  # 1  fills here, at the open
            (104.0, 105.0, 103.0, 104.5, V),  # 2
        ]),
        ZERO, {0: [Buy(1)]},
        [Fill(1, BUY, 1, 102.0, TAKER)],     # bar 1 open, not bar 0's close 100.5
        position=1.0, cash=CAPITAL - 102.0),

    # 2. latency: decided at 00:01 (bar 0's close); active from 00:01 + latency
    scenario("02a-latency-0", LADDER, venue(latency_ms=0), {0: [Buy(1)]},
             [Fill(1, BUY, 1, 101.0, TAKER)]),          # active 00:01 = bar 1 open
    scenario("02b-latency-30s-arrives-inside-bar-1", LADDER, venue(latency_ms=30_000),
             {0: [Buy(1)]},
             [Fill(2, BUY, 1, 102.0, TAKER)]),          # active 00:01:30, inside bar 1 -> bar 2
    scenario("02c-latency-60s-arrives-at-bar-2-open", LADDER, venue(latency_ms=60_000),
             {0: [Buy(1)]},
             [Fill(2, BUY, 1, 102.0, TAKER)]),          # active 00:02:00 = bar 2 open exactly
    scenario("02d-latency-90s-arrives-inside-bar-2", LADDER, venue(latency_ms=90_000),
             {0: [Buy(1)]},
             [Fill(3, BUY, 1, 103.0, TAKER)]),          # active 00:02:30, inside bar 2 -> bar 3

    # 3. resting buy limit, through mode: an equal low is not a fill, a lower low is
    scenario("03a-buy-limit-touch-does-not-fill-through-does", BUY_LIMIT_98, ZERO,
             {0: [Buy(1, limit=98.0)]},
             [Fill(2, BUY, 1, 98.0, MAKER, at="close")],  # bar 2 low 97.5 < 98; at the limit
             position=1.0, cash=CAPITAL - 98.0),
    scenario("03b-sell-limit-touch-does-not-fill-through-does", SELL_LIMIT_102, ZERO,
             {0: [Sell(1, limit=102.0)]},
             [Fill(2, SELL, 1, 102.0, MAKER, at="close")],  # bar 2 high 102.5 > 102
             position=-1.0, cash=CAPITAL + 102.0),
    scenario(
        "03c-resting-buy-limit-gapped-through-fills-at-the-limit",
        bar_table([
            (100.0, 101.0, 99.5, 100.0, V),   # 0  decide: buy limit 98
            (100.0, 100.5, 99.0, 99.5, V),    # 1  low 99 > 98: the order rests at 98
            (96.0, 97.0, 95.5, 96.5, V),      # 2  gaps down through 98
        ]),
        ZERO, {0: [Buy(1, limit=98.0)]},
        # A resting limit fills at its limit even on a gap (sellers reaching 96 would have hit
        # the bid at 98 first), unlike a stop, which fills at the gapped open (06d, 07b).
        [Fill(2, BUY, 1, 98.0, MAKER, at="close")]),

    # 4. limit_fill="touch": the touching bar fills
    scenario("04a-buy-limit-touch-mode", BUY_LIMIT_98, venue(limit_fill="touch"),
             {0: [Buy(1, limit=98.0)]},
             [Fill(1, BUY, 1, 98.0, MAKER, at="close")]),   # bar 1 low == 98
    scenario("04b-sell-limit-touch-mode", SELL_LIMIT_102, venue(limit_fill="touch"),
             {0: [Sell(1, limit=102.0)]},
             [Fill(1, SELL, 1, 102.0, MAKER, at="close")]),  # bar 1 high == 102

    # 5. marketable limits take at the arrival open, never worse than the limit
    scenario("05a-marketable-buy-limit-takes-the-open", MARKETABLE, ZERO,
             {0: [Buy(1, limit=101.0)]},
             [Fill(1, BUY, 1, 100.5, TAKER)]),   # open 100.5 <= 101: the open, not the limit
    scenario("05b-marketable-buy-limit-slippage-below-limit", MARKETABLE,
             venue(slippage_bps=20.0), {0: [Buy(1, limit=101.0)]},
             [Fill(1, BUY, 1, 100.5 * 1.002, TAKER, slip=20.0)],  # 100.701 < 101: kept
             cash=CAPITAL - 100.701),
    scenario("05c-marketable-buy-limit-slippage-capped-at-limit", MARKETABLE,
             venue(slippage_bps=100.0), {0: [Buy(1, limit=101.0)]},
             # 100.5 * 1.01 = 101.505 > 101: capped at the limit; the slippage reported is what
             # was actually paid over the open: (101 / 100.5 - 1) * 1e4 = 49.75 bps
             [Fill(1, BUY, 1, 101.0, TAKER, slip=(101.0 / 100.5 - 1.0) * 1e4)]),
    scenario("05d-marketable-sell-limit-slippage-capped-at-limit", MARKETABLE,
             venue(slippage_bps=100.0), {0: [Sell(1, limit=100.0)]},
             # open 100.5 >= 100 is marketable; 100.5 * 0.99 = 99.495 < 100: capped at 100
             [Fill(1, SELL, 1, 100.0, TAKER, slip=(1.0 - 100.0 / 100.5) * 1e4)]),

    # 6. buy stop: high >= stop triggers, fills at the stop; a gap fills at the open
    scenario("06a-buy-stop-triggers-intrabar-at-stop",
             buy_stop_103((101.0, 104.0, 100.5, 103.5, V)), ZERO,   # bar 2 high 104 >= 103
             {0: [Buy(1, stop=103.0)]},
             [Fill(2, BUY, 1, 103.0, TAKER, at="close")]),
    scenario("06b-buy-stop-high-equal-to-stop-triggers",
             buy_stop_103((101.0, 103.0, 100.5, 102.5, V)), ZERO,   # bar 2 high == 103
             {0: [Buy(1, stop=103.0)]},
             [Fill(2, BUY, 1, 103.0, TAKER, at="close")]),
    scenario("06c-buy-stop-slippage",
             buy_stop_103((101.0, 104.0, 100.5, 103.5, V)), venue(slippage_bps=10.0),
             {0: [Buy(1, stop=103.0)]},
             [Fill(2, BUY, 1, 103.0 * 1.001, TAKER, at="close", slip=10.0)]),  # 103.103
    scenario("06d-buy-stop-gap-fills-at-open",
             buy_stop_103((105.0, 106.0, 104.5, 105.5, V)), ZERO,   # bar 2 opens 105 > 103
             {0: [Buy(1, stop=103.0)]},
             [Fill(2, BUY, 1, 105.0, TAKER, at="open")]),   # the open, not the stop

    # 7. sell stop (stop-loss on a long), mirrored
    scenario("07a-stop-loss-triggers-intrabar-at-stop",
             stop_loss_97((99.0, 99.5, 96.0, 96.5, V)), ZERO,      # bar 2 low 96 <= 97
             {0: [Buy(1), Sell(1, stop=97.0, tag="sl")]},
             [Fill(1, BUY, 1, 100.0, TAKER),
              Fill(2, SELL, 1, 97.0, TAKER, at="close", tag="sl")],
             position=0.0, cash=CAPITAL - 100.0 + 97.0,
             round_trips=({"direction": "LONG", "qty": 1.0, "entry_price": 100.0,
                           "exit_price": 97.0, "pnl": -3.0},)),
    scenario("07b-stop-loss-gap-fills-at-open",
             stop_loss_97((95.0, 96.0, 94.0, 95.5, V)), ZERO,      # bar 2 opens 95 < 97
             {0: [Buy(1), Sell(1, stop=97.0)]},
             [Fill(1, BUY, 1, 100.0, TAKER), Fill(2, SELL, 1, 95.0, TAKER, at="open")],
             position=0.0, cash=CAPITAL - 5.0),
    scenario("07c-stop-loss-slippage",
             stop_loss_97((99.0, 99.5, 96.0, 96.5, V)), venue(slippage_bps=10.0),
             {0: [Buy(1), Sell(1, stop=97.0)]},
             [Fill(1, BUY, 1, 100.1, TAKER, slip=10.0),               # 100 * 1.001
              Fill(2, SELL, 1, 96.903, TAKER, at="close", slip=10.0)],  # 97 * 0.999
             cash=CAPITAL - 100.1 + 96.903),                           # 9996.803

    # 8. volume cap 10%: bar volumes 10, 10, 30 -> caps 1, 1, 3
    scenario(
        "08-partial-fills-carry-to-next-bars",
        bar_table([
            (100.0, 100.0, 100.0, 100.0, V),    # 0  decide: buy 4
            (100.0, 100.5, 99.5, 100.0, 10.0),  # 1  cap 1
            (101.0, 101.5, 100.5, 101.0, 10.0),  # 2  cap 1
            (102.0, 102.5, 101.5, 102.0, 30.0),  # 3  cap 3, only 2 left
            (103.0, 103.5, 102.5, 103.0, 30.0),  # 4  nothing left
        ]),
        venue(max_volume_share=0.1), {0: [Buy(4)]},
        [Fill(1, BUY, 1.0, 100.0, TAKER, leaves=3.0),   # the remainder works as a market
         Fill(2, BUY, 1.0, 101.0, TAKER, leaves=2.0),   # order: each following open
         Fill(3, BUY, 2.0, 102.0, TAKER, leaves=0.0)],
        position=4.0, cash=CAPITAL - 100.0 - 101.0 - 2 * 102.0,   # 9595
        state={0: {"pending": 4.0}, 1: {"pending": 3.0, "position": 1.0},
               2: {"pending": 2.0, "position": 2.0}, 3: {"pending": 0.0, "position": 4.0}}),

    # 9. one cap per bar, shared in time priority
    scenario(
        "09a-two-orders-share-the-cap-in-time-priority",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 1.5 "a", then buy 1.5 "b"
            (100.0, 100.5, 99.5, 100.0, 20.0),  # 1  cap 2: a takes 1.5, b the last 0.5
            (101.0, 101.5, 100.5, 101.0, 20.0),  # 2  cap 2: b takes its last 1.0
        ]),
        venue(max_volume_share=0.1), {0: [Buy(1.5, tag="a"), Buy(1.5, tag="b")]},
        [Fill(1, BUY, 1.5, 100.0, TAKER, leaves=0.0, tag="a"),
         Fill(1, BUY, 0.5, 100.0, TAKER, leaves=1.0, tag="b"),
         Fill(2, BUY, 1.0, 101.0, TAKER, leaves=0.0, tag="b")],
        position=3.0),
    scenario(
        "09b-older-resting-limit-before-newer-market",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy limit 99 x1.5 "lim"
            (100.0, 100.5, 99.5, 100.0, V),     # 1  low 99.5: lim rests; decide: buy 1.5 "mkt"
            (100.0, 100.5, 98.5, 99.0, 20.0),   # 2  cap 2; low 98.5 < 99
            (101.0, 101.5, 100.5, 101.0, 20.0),  # 3
        ]),
        venue(max_volume_share=0.1),
        {0: [Buy(1.5, limit=99.0, tag="lim")], 1: [Buy(1.5, tag="mkt")]},
        # "lim" is older, so it takes its 1.5 of bar 2's cap of 2 first (events come in book
        # order, so this close-stamped fill is reported before the open-stamped one)
        [Fill(2, BUY, 1.5, 99.0, MAKER, at="close", leaves=0.0, tag="lim"),
         Fill(2, BUY, 0.5, 100.0, TAKER, at="open", leaves=1.0, tag="mkt"),
         Fill(3, BUY, 1.0, 101.0, TAKER, leaves=0.0, tag="mkt")]),

    scenario(
        "09c-buys-and-sells-share-one-pool-of-bar-volume",
        bar_table([
            (100.0, 100.0, 100.0, 100.0, V),     # 0  decide: buy 1.5 "b", then sell 1.5 "s"
            (100.0, 100.5, 99.5, 100.0, 20.0),   # 1  cap 2 for both sides: b 1.5, s only 0.5
            (101.0, 101.5, 100.5, 101.0, 20.0),  # 2  s takes its last 1.0
        ]),
        venue(max_volume_share=0.1), {0: [Buy(1.5, tag="b"), Sell(1.5, tag="s")]},
        [Fill(1, BUY, 1.5, 100.0, TAKER, leaves=0.0, tag="b"),
         Fill(1, SELL, 0.5, 100.0, TAKER, leaves=1.0, tag="s"),
         Fill(2, SELL, 1.0, 101.0, TAKER, leaves=0.0, tag="s")],
        position=0.0),
    scenario(
        "09d-marketable-limit-remainder-stays-aggressive",
        bar_table([
            (100.0, 100.0, 100.0, 100.0, V),     # 0  decide: buy limit 105 x3
            (100.0, 100.5, 99.5, 100.0, 10.0),   # 1  open 100 <= 105: taker, cap 1
            (101.0, 101.5, 100.5, 101.0, 10.0),  # 2  still marketable: taker at the open 101
            (106.0, 107.0, 104.0, 106.5, 10.0),  # 3  open 106 > 105: rests; low 104 < 105 fills
        ]),                                      #    the last 1 at the limit as maker
        venue(max_volume_share=0.1), {0: [Buy(3, limit=105.0)]},
        [Fill(1, BUY, 1.0, 100.0, TAKER, leaves=2.0),
         Fill(2, BUY, 1.0, 101.0, TAKER, leaves=1.0),
         Fill(3, BUY, 1.0, 105.0, MAKER, at="close", leaves=0.0)],
        position=3.0),
    scenario(
        "09e-ioc-limit-never-rests",
        bar_table([
            (100.0, 100.0, 100.0, 100.0, V),     # 0  decide: buy limit 99 IOC
            (100.0, 100.5, 98.0, 99.0, V),       # 1  open 100 > 99: not marketable, and an IOC
            (98.0, 98.5, 97.5, 98.0, V),         #    does not rest (the low of 98 is no fill):
        ]),                                      #    canceled after bar 1
        ZERO, {0: [Buy(1, limit=99.0, tif=IOC, tag="ioc")]},
        [], position=0.0, canceled=(Canceled("ioc", 1, reason="IOC"),)),

    # 10. fees: taker 5 bps in, maker 2 bps out
    scenario(
        "10a-maker-and-taker-fees-round-trip",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 2
            (100.0, 101.0, 99.5, 100.5, V),     # 1  buy fills at 100; decide: sell limit 110 x2
            (105.0, 111.0, 104.0, 110.5, V),    # 2  opens 105 < 110 (rests), high 111 > 110
        ]),
        venue(maker_fee_bps=2.0, taker_fee_bps=5.0),
        {0: [Buy(2)], 1: [Sell(2, limit=110.0)]},
        [Fill(1, BUY, 2, 100.0, TAKER, fee=200.0 * 5e-4),            # 0.1
         Fill(2, SELL, 2, 110.0, MAKER, fee=220.0 * 2e-4, at="close")],  # 0.044
        position=0.0, cash=10_000.0 - 200.0 - 0.1 + 220.0 - 0.044,   # 10019.856
        round_trips=({"direction": "LONG", "qty": 2.0, "pnl_gross": 20.0, "fees": 0.144,
                      "pnl": 19.856},)),
    scenario(
        "10b-maker-rebate",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),
            (100.0, 101.0, 99.5, 100.5, V),
            (105.0, 111.0, 104.0, 110.5, V),
        ]),
        venue(maker_fee_bps=-1.0, taker_fee_bps=5.0),
        {0: [Buy(2)], 1: [Sell(2, limit=110.0)]},
        [Fill(1, BUY, 2, 100.0, TAKER, fee=0.1),
         Fill(2, SELL, 2, 110.0, MAKER, fee=-0.022, at="close")],    # 220 * -1 bps: paid to us
        cash=10_000.0 - 200.1 + 220.0 + 0.022,                       # 10019.922
        round_trips=({"direction": "LONG", "pnl": 20.0 - 0.1 + 0.022},)),

    # 11. fixed slippage against the taker; makers get their limit
    scenario(
        "11a-fixed-slippage-both-sides",
        bar_table([
            (200.0, 200.5, 199.5, 200.0, V),    # 0  decide: buy 1
            (200.0, 201.0, 199.0, 200.5, V),    # 1  buy at 200 * (1 + 10e-4) = 200.2; decide: sell
            (210.0, 211.0, 209.0, 210.5, V),    # 2  sell at 210 * (1 - 10e-4) = 209.79
        ]),
        venue(slippage_bps=10.0), {0: [Buy(1)], 1: [Sell(1)]},
        [Fill(1, BUY, 1, 200.2, TAKER, slip=10.0), Fill(2, SELL, 1, 209.79, TAKER, slip=10.0)],
        position=0.0, cash=CAPITAL - 200.2 + 209.79),               # 10009.59
    scenario("11b-no-slippage-on-maker-fills", BUY_LIMIT_98, venue(slippage_bps=10.0),
             {0: [Buy(1, limit=98.0)]},
             [Fill(2, BUY, 1, 98.0, MAKER, at="close", slip=0.0)]),  # exactly the limit

    # 12. sqrt impact: base 0.5 + k 10 * sqrt(fill_qty / bar volume) bps
    scenario(
        "12a-sqrt-impact",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 4
            (100.0, 101.0, 99.0, 100.0, 100.0),  # 1  4/100: 0.5 + 10*0.2 = 2.5 bps; decide: sell 1
            (100.0, 101.0, 99.0, 100.0, 100.0),  # 2  1/100: 0.5 + 10*0.1 = 1.5 bps
        ]),
        venue(slippage_model="sqrt", impact_base_bps=0.5, impact_k_bps=10.0),
        {0: [Buy(4)], 1: [Sell(1)]},
        [Fill(1, BUY, 4, 100.025, TAKER, slip=2.5),     # 100 * (1 + 2.5e-4)
         Fill(2, SELL, 1, 99.985, TAKER, slip=1.5)],    # 100 * (1 - 1.5e-4)
        position=3.0, cash=CAPITAL - 400.1 + 99.985),   # 9699.885
    scenario(
        "12b-sqrt-impact-uses-the-fill-not-the-order",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 4
            (100.0, 101.0, 99.0, 100.0, 4.0),   # 1  cap 25% of 4 = 1; 1/4: 0.5 + 10*0.5 = 5.5 bps
            (100.0, 101.0, 99.0, 100.0, 300.0),  # 2  the other 3 of 300: 0.5 + 10*0.1 = 1.5 bps
        ]),
        venue(slippage_model="sqrt", impact_base_bps=0.5, impact_k_bps=10.0,
              max_volume_share=0.25),
        {0: [Buy(4)]},
        [Fill(1, BUY, 1, 100.055, TAKER, slip=5.5, leaves=3.0),
         Fill(2, BUY, 3, 100.015, TAKER, slip=1.5, leaves=0.0)]),

    # 13. shorting: sell 2 flat, buy back 10 lower; taker 5 bps each way
    scenario(
        "13-short-round-trip",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: sell 2
            (100.0, 100.5, 99.0, 99.5, V),      # 1  sell 2 at 100, fee 0.1; decide: buy 2
            (90.0, 91.0, 89.0, 90.5, V),        # 2  buy 2 at 90, fee 0.09
        ]),
        venue(taker_fee_bps=5.0), {0: [Sell(2)], 1: [Buy(2)]},
        [Fill(1, SELL, 2, 100.0, TAKER, fee=0.1), Fill(2, BUY, 2, 90.0, TAKER, fee=0.09)],
        position=0.0, cash=CAPITAL + 200.0 - 0.1 - 180.0 - 0.09,     # 10019.81
        state={1: {"position": -2.0, "cash": CAPITAL + 200.0 - 0.1}},  # short sale pays in
        round_trips=({"direction": "SHORT", "qty": 2.0, "entry_price": 100.0,
                      "exit_price": 90.0, "pnl_gross": 20.0, "fees": 0.19, "pnl": 19.81,
                      "entry_ts": at(1), "exit_ts": at(2)},)),

    # 14. cancels take effect at decision + latency
    scenario("14a-cancel-latency-0-never-fills", resting_bid_95(V), ZERO,
             {0: [Buy(1, limit=95.0, tag="bid")], 2: [Cancel("bid")]},
             [],                                     # gone at 00:03, before bar 3 trades 94
             position=0.0, cash=CAPITAL,
             canceled=(Canceled("bid", 3, ts=at(3), reason="canceled"),)),
    scenario("14b-cancel-latency-90s-order-fills-first", resting_bid_95(V),
             venue(latency_ms=90_000),
             # the bid, decided 00:01, arrives 00:02:30 (inside bar 2): first works in bar 3.
             # The cancel, decided 00:03, arrives 00:04:30: bar 3 is over by then.
             {0: [Buy(1, limit=95.0, tag="bid")], 2: [Cancel("bid")]},
             [Fill(3, BUY, 1, 95.0, MAKER, at="close")],
             # nothing left for the cancel: the venue answers it with a rejection
             position=1.0, rejected=(("bid", 3),)),
    scenario("14c-cancel-in-flight-during-the-bar-remainder-canceled", resting_bid_95(10.0),
             venue(latency_ms=30_000, max_volume_share=0.1),
             # bid x2 arrives 00:01:30 (works from bar 2); the cancel, decided 00:03, arrives
             # 00:03:30 inside bar 3: bar 3 (cap 1) still fills 1, the other 1 is canceled
             # and bar 4 fills nothing
             {0: [Buy(2, limit=95.0, tag="bid")], 2: [Cancel("bid")]},
             [Fill(3, BUY, 1, 95.0, MAKER, at="close", leaves=1.0)],
             position=1.0,
             canceled=(Canceled("bid", 3, ts=at(3.5), reason="canceled"),)),

    # 16. zero volume and IOC
    scenario(
        "16a-zero-volume-bar-fills-nothing",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 1
            (101.0, 101.0, 101.0, 101.0, 0.0),  # 1  no volume: no fill
            (102.0, 102.5, 101.5, 102.0, V),    # 2  fills at this open
        ]),
        ZERO, {0: [Buy(1)]},
        [Fill(2, BUY, 1, 102.0, TAKER)]),
    scenario(
        "16b-ioc-remainder-canceled-after-first-bar",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 4 IOC
            (100.0, 100.5, 99.5, 100.0, 10.0),  # 1  cap 1: fills 1, the other 3 canceled
            (101.0, 101.5, 100.5, 101.0, V),    # 2  nothing more
        ]),
        venue(max_volume_share=0.1), {0: [Buy(4, tif=IOC, tag="ioc")]},
        [Fill(1, BUY, 1, 100.0, TAKER, leaves=3.0)],
        position=1.0, canceled=(Canceled("ioc", 1, ts=at(2), reason="IOC"),),
        state={1: {"pending": 0.0}}),
    scenario(
        "16c-ioc-on-a-zero-volume-bar-is-canceled",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy 1 IOC
            (101.0, 101.0, 101.0, 101.0, 0.0),  # 1  its first eligible bar: nothing fills
            (102.0, 102.5, 101.5, 102.0, V),    # 2  too late
        ]),
        ZERO, {0: [Buy(1, tif=IOC, tag="ioc")]},
        [], position=0.0, canceled=(Canceled("ioc", 1, ts=at(2), reason="IOC"),)),
    scenario(
        "16d-ioc-limit-not-reached-is-canceled",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: buy limit 95 IOC
            (100.0, 100.5, 96.0, 97.0, V),      # 1  low 96 > 95: canceled after this bar
            (96.0, 96.5, 94.0, 94.5, V),        # 2  trades through, too late
        ]),
        ZERO, {0: [Buy(1, limit=95.0, tif=IOC, tag="ioc")]},
        [], position=0.0, canceled=(Canceled("ioc", 1, ts=at(2), reason="IOC"),)),

    # 17. invalid orders are OrderRejected events in the deciding bar, never exceptions
    scenario(
        "17-invalid-orders-rejected",
        bar_table([
            (100.0, 100.5, 99.5, 100.0, V),     # 0  decide: eight invalid commands
            (101.0, 101.5, 100.5, 101.0, V),    # 1  decide: a valid buy (the strategy lives on)
            (102.0, 102.5, 101.5, 102.0, V),    # 2  it fills; decide: cancel the filled order
        ]),
        ZERO,
        {0: [Buy(0, tag="zero"), Buy(-1, tag="negative"), Buy(NAN, tag="nan"),
             Buy(INF, tag="inf"), Submit(BUY, 1, LIMIT, tag="limit-without-price"),
             Submit(SELL, 1, STOP, tag="stop-without-price"),
             Buy(1, limit=-5.0, tag="negative-limit"), Cancel("never-submitted")],
         1: [Buy(1, tag="ok")],
         2: [Cancel("ok")]},
        [Fill(2, BUY, 1, 102.0, TAKER, tag="ok")],
        position=1.0,
        rejected=(("zero", 0), ("negative", 0), ("nan", 0), ("inf", 0),
                  ("limit-without-price", 0), ("stop-without-price", 0),
                  ("negative-limit", 0), ("no-such-order-never-submitted", 0),
                  ("ok", 2))),     # canceling a filled order is refused, not an error
]


TICK_SCENARIOS = [
    # 15. trades: an order decided on trade i fills on trade i+1 at the earliest
    scenario(
        "15a-trade-market-fills-on-the-next-trade",
        trade_table([(0.0, 100.0, 10.0),    # 0  decide: buy 1
                     (0.0, 101.0, 10.0),    # 1  same timestamp, but later: fills at 101
                     (1.0, 102.0, 10.0)]),
        ZERO, {0: [Buy(1)]},
        [Fill(1, BUY, 1, 101.0, TAKER)],   # never trade 0's 100
        position=1.0, cash=CAPITAL - 101.0),
    scenario(
        "15b-trade-resting-limit-fills-strictly-below",
        trade_table([(0.0, 100.0, 10.0),    # 0  decide: buy limit 99
                     (1.0, 99.5, 10.0),     # 1  above
                     (2.0, 99.0, 10.0),     # 2  equal: not through
                     (3.0, 98.9, 10.0),     # 3  below: fills at the limit
                     (4.0, 98.0, 10.0)]),
        ZERO, {0: [Buy(1, limit=99.0)]},
        [Fill(3, BUY, 1, 99.0, MAKER)]),
    scenario(
        "15c-trade-resting-limit-touch-mode",
        trade_table([(0.0, 100.0, 10.0), (1.0, 99.5, 10.0), (2.0, 99.0, 10.0),
                     (3.0, 98.9, 10.0)]),
        venue(limit_fill="touch"), {0: [Buy(1, limit=99.0)]},
        [Fill(2, BUY, 1, 99.0, MAKER)]),   # the equal print fills
    scenario(
        "15d-trade-latency",
        trade_table([(0.0, 100.0, 10.0),    # 0  decide at 0 s, arrives at 1.5 s
                     (1.0, 101.0, 10.0),    # 1  still in flight
                     (2.0, 102.0, 10.0),    # 2  first trade at or after 1.5 s
                     (3.0, 103.0, 10.0)]),
        venue(latency_ms=1_500), {0: [Buy(1)]},
        [Fill(2, BUY, 1, 102.0, TAKER)]),
    scenario(
        "15e-trade-size-caps-the-fill",
        trade_table([(0.0, 100.0, 4.0),     # 0  decide: buy 2
                     (1.0, 101.0, 2.0),     # 1  half of 2: fills 1
                     (2.0, 102.0, 10.0)]),  # 2  fills the other 1
        venue(max_volume_share=0.5), {0: [Buy(2)]},
        [Fill(1, BUY, 1, 101.0, TAKER, leaves=1.0), Fill(2, BUY, 1, 102.0, TAKER, leaves=0.0)]),
    scenario(
        "15f-trade-buy-stop-fills-at-the-triggering-print",
        trade_table([(0.0, 100.0, 10.0),    # 0  decide: buy stop 101
                     (1.0, 100.5, 10.0),    # 1  below the stop
                     (2.0, 102.0, 10.0),    # 2  jumps over 101: fills at this print
                     (3.0, 103.0, 10.0)]),
        ZERO, {0: [Buy(1, stop=101.0)]},
        [Fill(2, BUY, 1, 102.0, TAKER)]),
    scenario(
        "15g-trade-latency-arrives-exactly-at-a-print",
        trade_table([(0.0, 100.0, 10.0),    # 0  decide at 0 s, arrives at 1 s
                     (1.0, 101.0, 10.0),    # 1  at 1 s: at or after the arrival, fills
                     (2.0, 102.0, 10.0)]),
        venue(latency_ms=1_000), {0: [Buy(1)]},
        [Fill(1, BUY, 1, 101.0, TAKER)]),

    # 18. quotes: buys take the ask, sells the bid, each capped by the size on its side
    scenario(
        "18a-quote-market-orders-take-the-next-ask-and-bid",
        quote_table([(0.0, 99.9, 100.1, 5.0, 5.0),     # 0  decide: buy 1
                     (1.0, 100.0, 100.2, 5.0, 5.0),    # 1  buy at the ask; decide: sell 1
                     (2.0, 100.1, 100.3, 5.0, 5.0)]),  # 2  sell at the bid
        ZERO, {0: [Buy(1)], 1: [Sell(1)]},
        [Fill(1, BUY, 1, 100.2, TAKER), Fill(2, SELL, 1, 100.1, TAKER)],
        position=0.0, cash=CAPITAL - 100.2 + 100.1),
    scenario(
        "18b-quote-cap-uses-the-size-on-the-side-taken",
        quote_table([(0.0, 99.9, 100.1, 5.0, 5.0),       # 0  decide: buy 2, sell 2
                     (1.0, 100.0, 100.2, 100.0, 2.0),    # 1  ask size 2: buy gets 1; bid 100
                     (2.0, 100.0, 100.2, 100.0, 100.0)]),  # 2  the buy's last 1
        venue(max_volume_share=0.5), {0: [Buy(2), Sell(2)]},
        [Fill(1, BUY, 1, 100.2, TAKER, leaves=1.0),
         Fill(1, SELL, 2, 100.0, TAKER, leaves=0.0),
         Fill(2, BUY, 1, 100.2, TAKER, leaves=0.0)],
        position=0.0),
    scenario(
        "18c-quote-resting-buy-limit-fills-when-the-ask-goes-through",
        quote_table([(0.0, 100.0, 100.2, 5.0, 5.0),    # 0  decide: buy limit 100
                     (1.0, 100.1, 100.3, 5.0, 5.0),    # 1  ask 100.3 > 100: rests
                     (2.0, 99.95, 100.0, 5.0, 5.0),    # 2  ask == 100: not through
                     (3.0, 99.8, 99.9, 5.0, 5.0)]),    # 3  ask 99.9 < 100: fills at 100
        ZERO, {0: [Buy(1, limit=100.0)]},
        [Fill(3, BUY, 1, 100.0, MAKER)]),
    scenario(
        "18d-quote-sell-stop-triggers-on-the-bid",
        quote_table([(0.0, 100.0, 100.2, 5.0, 5.0),    # 0  decide: sell stop 99.5
                     (1.0, 99.6, 99.8, 5.0, 5.0),      # 1  bid 99.6 > 99.5
                     (2.0, 99.4, 99.6, 5.0, 5.0)]),    # 2  bid 99.4 <= 99.5: sells at the bid
        ZERO, {0: [Sell(1, stop=99.5)]},
        [Fill(2, SELL, 1, 99.4, TAKER)]),
]


# --- checking ---------------------------------------------------------------------------------


def check_scenario(run: Run, sc: Scenario) -> None:
    s = run.strategy
    got = s.fills
    listing = "\n".join(
        f"  event {i}: {f.side} {f.last_qty} @ {f.last_price} {f.liquidity} fee={f.fee} "
        f"leaves={f.leaves_qty} ts=+{(f.ts_event - T0) / SECOND}s "
        f"tag={s.tag_of.get(f.client_order_id)}"
        for i, f in got)
    assert len(got) == len(sc.fills), f"expected {len(sc.fills)} fills, got:\n{listing}"
    for k, ((i, f), exp) in enumerate(zip(got, sc.fills)):
        where = f"fill #{k}, got:\n{listing}"
        assert i == exp.event, where
        assert f.side == exp.side, where
        assert f.last_qty == pytest.approx(exp.qty, rel=1e-12), where
        assert f.last_price == pytest.approx(exp.price, rel=1e-12), where
        assert f.liquidity == exp.liquidity, where
        assert f.fee == pytest.approx(exp.fee, rel=1e-9, abs=1e-12), where
        assert f.ts_event == run.ts_of(exp.event, exp.at), where
        if exp.leaves is not None:
            assert f.leaves_qty == pytest.approx(exp.leaves, abs=1e-12), where
        if exp.tag is not None:
            assert s.tag_of[f.client_order_id] == exp.tag, where
        if exp.slip is not None:
            assert f.slippage_bps == pytest.approx(exp.slip, rel=1e-9, abs=1e-9), where

    got_canceled = [(s.tag_of.get(e.client_order_id, e.client_order_id), i, e)
                    for i, e in s.canceled]
    assert [(t, i) for t, i, _ in got_canceled] == [(c.tag, c.event) for c in sc.canceled]
    for (_, _, event), exp in zip(got_canceled, sc.canceled):
        if exp.ts is not None:
            assert event.ts_event == exp.ts
        if exp.reason is not None:
            assert exp.reason in event.reason

    got_rejected = [(s.tag_of.get(e.client_order_id, e.client_order_id), i)
                    for i, e in s.rejected]
    assert got_rejected == list(sc.rejected)

    ctx = s.ctx
    if sc.position is not None:
        assert ctx.position == pytest.approx(sc.position, abs=1e-12)
    if sc.cash is not None:
        assert run.engine.portfolio.cash == pytest.approx(sc.cash, rel=1e-12)
    for i, fields in sc.state.items():
        snap = s.snapshots[i]
        for name, value in fields.items():
            assert getattr(snap, name) == pytest.approx(value, rel=1e-12, abs=1e-12), \
                f"{name} after event {i}"
    if sc.round_trips is not None:
        trades = run.engine.portfolio.trades
        assert len(trades) == len(sc.round_trips), trades
        for trade, exp in zip(trades, sc.round_trips):
            for key, value in exp.items():
                if isinstance(value, float):
                    assert trade[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
                else:
                    assert trade[key] == value, key

    check_ledger(run)


def check_ledger(run: Run) -> None:
    """Accounting identities every run must satisfy, whatever the scenario."""
    fills = run.engine.fills
    signed = [f.last_qty if f.side == BUY else -f.last_qty for f in fills]
    cash = CAPITAL - sum(q * f.last_price + f.fee for q, f in zip(signed, fills))
    portfolio = run.engine.portfolio
    assert portfolio.cash == pytest.approx(cash, rel=1e-12)
    assert run.strategy.ctx.position == pytest.approx(sum(signed), abs=1e-12)
    curve = run.engine.equity_curve()
    assert curve["equity"].iloc[-1] == pytest.approx(portfolio.equity(), rel=1e-12)
    assert curve["cash"].iloc[-1] == pytest.approx(portfolio.cash, rel=1e-12)
    for f in fills:   # a sim fill never reports more filled than ordered, nor a negative rest
        assert f.leaves_qty >= 0.0 and f.cum_qty > 0.0


@pytest.mark.parametrize("path", ["single-feed", "merged"])
@pytest.mark.parametrize("sc", BAR_SCENARIOS)
def test_bar_scenario(sc: Scenario, path: str) -> None:
    # The engine has a fast loop for one bar feed and a general loop for several feeds;
    # every scenario must come out the same through both.
    run = run_script(sc.script, sc.venue, bars=sc.market, merged=path == "merged")
    check_scenario(run, sc)


@pytest.mark.parametrize("sc", TICK_SCENARIOS)
def test_tick_scenario(sc: Scenario) -> None:
    if "price" in sc.market.columns:
        run = run_script(sc.script, sc.venue, trades=sc.market)
    else:
        run = run_script(sc.script, sc.venue, quotes=sc.market)
    check_scenario(run, sc)


# --- no look-ahead, on random markets ------------------------------------------------------------

LATENCIES_MS = [0.0, 1.0, 30_000.0, 60_000.0, 90_000.0, 150_000.0]


@st.composite
def random_market(draw: Any) -> tuple[pd.DataFrame, VenueConfig, Script]:
    """A random OHLCV path with gaps and empty bars, a venue, and a strategy that buys at market
    on every bar and adds random limit and stop orders around the deciding bar's close."""
    n = draw(st.integers(3, 25))
    unit = st.floats(-0.02, 0.02, allow_nan=False)
    wick = st.floats(0.0, 0.01, allow_nan=False)
    rows = []
    price = 100.0
    for _ in range(n):
        gap, ret, up, down = draw(unit), draw(unit), draw(wick), draw(wick)
        volume = draw(st.sampled_from([0.0, 2.0, 10.0, 1_000.0]))
        o = price * (1 + gap)
        c = o * (1 + ret)
        rows.append((o, max(o, c) * (1 + up), min(o, c) * (1 - down), c, volume))
        price = c
    bars = bar_table(rows)
    config = venue(latency_ms=draw(st.sampled_from(LATENCIES_MS)),
                   max_volume_share=draw(st.sampled_from([0.1, 0.5, 1.0])),
                   limit_fill=draw(st.sampled_from(["through", "touch"])))
    script: dict[int, list[Any]] = {}
    for i, (_, _, _, close, _) in enumerate(rows):
        actions: list[Any] = [Buy(1)]
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["buy-limit", "sell-limit", "buy-stop", "sell-stop"]))
            price_ = close * (1 + draw(st.floats(-0.03, 0.03, allow_nan=False)))
            tif = draw(st.sampled_from([GTC, IOC]))
            side, key = kind.split("-")
            cls = Buy if side == "buy" else Sell
            actions.append(cls(1, tif=tif, **{key: price_}))
        script[i] = actions
    return bars, config, script


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_market())
def test_no_fill_before_the_bar_after_the_decision(market: Any) -> None:
    bars, config, script = market
    run = run_script(script, config, bars=bars)
    s = run.strategy
    latency = config.latency_ns
    for i, f in s.fills:
        decided_bar, decided_ts = s.decided[f.client_order_id]
        assert decided_ts == at(decided_bar + 1)          # a bar is decided on at its close
        assert i > decided_bar
        assert f.ts_event >= at(decided_bar + 1)         # the open of the bar after the decision
        # and it arrived no later than the open of the bar it filled in
        assert at(i) >= decided_ts + latency
        order = run.engine.venue.orders[f.client_order_id]
        if f.liquidity == MAKER:                          # resting limits get exactly their limit
            assert f.last_price == order.limit_price
        else:                                             # zero slippage: a price the bar traded
            assert bars["low"].iloc[i] <= f.last_price <= bars["high"].iloc[i]
        assert at(i) <= f.ts_event <= at(i + 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_market(), st.data())
def test_future_bars_do_not_change_past_fills(market: Any, data: Any) -> None:
    bars, config, script = market
    cut = data.draw(st.integers(1, len(bars) - 1))
    full = run_script(script, config, bars=bars)
    prefix = run_script(script, config, bars=bars.iloc[:cut].reset_index(drop=True))

    def before_cut(run: Run) -> list[tuple[Any, ...]]:
        return [(i, f.client_order_id, f.side, f.last_qty, f.last_price, f.liquidity, f.fee,
                 f.ts_event) for i, f in run.strategy.fills if i < cut]

    assert before_cut(prefix) == before_cut(full)


# --- regressions: bugs these scenarios found ---------------------------------------------------


def one_order_market() -> pd.DataFrame:
    return bar_table([(100.0, 100.5, 99.5, 100.0, V), (101.0, 101.5, 100.5, 101.0, V),
                      (102.0, 102.5, 101.5, 102.0, V)])


@pytest.mark.parametrize("qty", [np.int64(2), np.float32(2.0)], ids=["int64", "float32"])
def test_numpy_quantity_is_accepted(qty: Any) -> None:
    # was rejected as "not a positive finite number" (the venue checked isinstance int/float)
    run = run_script({0: [Buy(qty)]}, ZERO, bars=one_order_market())
    assert run.strategy.rejected == []
    assert [(i, f.last_qty, f.last_price) for i, f in run.strategy.fills] == [(1, 2.0, 101.0)]


@pytest.mark.parametrize("action", [Buy(1, limit="100"),  # type: ignore[arg-type]
                                    Sell(1, stop="99")],  # type: ignore[arg-type]
                         ids=["limit", "stop"])
def test_non_numeric_price_is_rejected_not_raised(action: Any) -> None:
    # was a TypeError from math.isfinite out of ctx.buy, which faulted the strategy
    run = run_script({0: [action], 1: [Buy(1)]}, ZERO, bars=one_order_market(),
                     allow_faults=True)
    assert run.engine.faults == []
    assert [i for i, _ in run.strategy.rejected] == [0]
    assert [(i, f.last_price) for i, f in run.strategy.fills] == [(2, 102.0)]


def test_equity_curve_of_a_run_without_fills_is_flat() -> None:
    # was an IndexError: the cash column indexed the (empty) per-fill cash array
    run = run_script({0: [Buy(1, limit=50.0)]}, ZERO, bars=one_order_market())
    assert run.engine.fills == []
    curve = run.engine.equity_curve()
    assert list(curve["ts"]) == [at(1), at(2), at(3)]           # one point per bar close
    assert list(curve["equity"]) == [CAPITAL] * 3
    assert list(curve["cash"]) == [CAPITAL] * 3
    assert list(curve["gross_exposure"]) == [0.0] * 3
