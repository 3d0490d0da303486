"""Protective orders through the whole backtest engine: trailing stops, stop-limits, brackets
(one-cancels-other), reduce-only and post-only orders, wrong-side stops and bad input.

Reading a scenario (as in ``test_venue_scenarios``): bars are ``(open, high, low, close,
volume)`` on a 1-minute grid; a strategy deciding on bar ``i`` decides at its close, so its
order can first fill in bar ``i+1``. Each fill is listed as ``(bar, side, qty, price,
liquidity, at)`` where ``at`` is ``open`` or ``close``: the time the fill is stamped with. A
bracket's children are placed when the entry's fill is reported and work from the next bar.
Fees and slippage are zero, so every price is exact.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from engine.messages import (BUY, LIMIT, MAKER, MARKET, SELL, STOP, STOP_LIMIT, TAKER,
                             TRAILING_STOP)
from engine.venue import VenueConfig
from tests.kit.scripted import (CAPITAL, MINUTE, SECOND, T0, Buy, Call, Cancel, Run, Script,
                                Sell, Submit, bar_table, run_script, trade_table)

V = 1_000.0
ZERO = VenueConfig(maker_fee_bps=0.0, taker_fee_bps=0.0, slippage_model="fixed",
                   slippage_bps=0.0, impact_base_bps=0.0, impact_k_bps=0.0, latency_ms=0.0,
                   max_volume_share=1.0, limit_fill="through")


def fills(run: Run) -> list[tuple[int, str, float, float, str, str]]:
    """(event, side, qty, price, liquidity, open|close) of every fill, in order."""
    out = []
    for i, f in run.strategy.fills:
        at = "open" if f.ts_event == run.ts_of(i, "open") else "close"
        assert f.ts_event == run.ts_of(i, at)
        out.append((i, f.side, f.last_qty, round(f.last_price, 9), f.liquidity, at))
    return out


def kind_of(run: Run, coid: str) -> str:
    order = run.engine.venue.orders.get(coid)
    return order.order_type if order is not None else "never sent"


def canceled(run: Run) -> list[tuple[str, int, str]]:
    """(order type or tag, event, reason) of every cancel."""
    s = run.strategy
    return [(s.tag_of.get(e.client_order_id) or kind_of(run, e.client_order_id), i, e.reason)
            for i, e in s.canceled]


def rejected(run: Run) -> list[tuple[str, int, str]]:
    s = run.strategy
    return [(s.tag_of.get(e.client_order_id, e.client_order_id), i, e.reason)
            for i, e in s.rejected]


def submitted(run: Run) -> list[tuple[str, str, float, bool]]:
    """(side, order type, quantity, reduce_only) of every order that reached the venue."""
    return [(o.side, o.order_type, o.quantity, o.reduce_only)
            for o in run.engine.venue.orders.values()]


def bars(script: Script, rows: list[tuple[float, float, float, float, float]],
         venue: VenueConfig = ZERO) -> Run:
    return run_script(script, venue, bars=bar_table(rows))


# --- trailing stops ---------------------------------------------------------------------------

TRAIL_BARS = [
    (100.0, 100.5, 99.5, 100.0, V),   # 0  decide: buy 1 with a trailing stop
    (100.0, 102.0, 99.0, 101.0, V),   # 1  entry fills at the open, 100; the trail is placed
    (102.0, 110.0, 101.0, 108.0, V),  # 2  trail starts at the open 102; high 110 ratchets it
    (108.0, 109.0, 105.0, 106.0, V),  # 3
    (106.0, 107.0, 104.0, 104.5, V),  # 4
    (103.0, 104.0, 100.0, 101.0, V),  # 5
]


def test_trailing_stop_percent_exits_at_the_ratcheted_stop() -> None:
    # 5 %: bar 2 starts the trail at 102 (stop 96.9); its low 101 is checked against 96.9, not
    # against the 104.5 its high 110 gives (a bar does not say whether its high came first);
    # then the stop ratchets to 110 * 0.95 = 104.5. Bar 3: low 105 > 104.5, high 109 < 110.
    # Bar 4: low 104 <= 104.5 -> sells at the stop, inside the bar.
    run = bars({0: [Call(lambda ctx: ctx.buy(1, trailing=0.05))]}, TRAIL_BARS)
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (4, SELL, 1.0, 104.5, TAKER, "close")]
    trail = [o for o in run.engine.venue.orders.values() if o.order_type == TRAILING_STOP]
    assert len(trail) == 1 and trail[0].reduce_only
    assert trail[0].water == 110.0 and trail[0].stop_price == pytest.approx(104.5)
    assert run.strategy.ctx.position == 0.0


def test_trailing_stop_absolute_offset_exits_at_the_ratcheted_stop() -> None:
    # offset 3 (e.g. 3 x ATR computed by the strategy): bar 2 starts at 102 (stop 99), low
    # 101 holds, high 110 ratchets to 107; bar 3's low 105 <= 107 -> sells at 107
    run = bars({0: [Call(lambda ctx: ctx.buy(1, trailing_offset=3.0))]}, TRAIL_BARS)
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (3, SELL, 1.0, 107.0, TAKER, "close")]


def test_trailing_stop_gapped_through_fills_at_the_open() -> None:
    rows = TRAIL_BARS[:3] + [(100.0, 101.0, 99.0, 100.0, V)]  # 3 opens 100, below 104.5
    run = bars({0: [Call(lambda ctx: ctx.buy(1, trailing=0.05))]}, rows)
    assert fills(run)[1] == (3, SELL, 1.0, 100.0, TAKER, "open")


def test_buy_trailing_stop_protects_a_short() -> None:
    # short 1 at 100 (bar 1); ctx.trailing_stop(offset=2) decided at bar 1's close; bar 2
    # starts the trail at its open 99 (stop 101), its low 95 ratchets it to 97; bar 3's high
    # 97.5 >= 97 -> buys at 97
    run = bars({0: [Sell(1)], 1: [Call(lambda ctx: ctx.trailing_stop(offset=2.0), tag="ts")]},
               [(100.0, 100.5, 99.5, 100.0, V),
                (100.0, 100.5, 99.0, 99.5, V),    # 1  short fills at 100
                (99.0, 100.5, 95.0, 96.0, V),     # 2  high 100.5 < 101: holds; low 95 -> 97
                (96.0, 97.5, 95.5, 97.0, V)])     # 3  high 97.5 >= 97: stopped out at 97
    assert fills(run) == [(1, SELL, 1.0, 100.0, TAKER, "open"),
                          (3, BUY, 1.0, 97.0, TAKER, "close")]


def test_trailing_stop_on_trades_ratchets_after_each_trade() -> None:
    # offset 2: the trail starts at trade 2 (101, stop 99), trade 3 lifts it to 102, trade 5
    # prints 101.5 through 102 and fills there: the price met, worse than the stop
    run = run_script({0: [Call(lambda ctx: ctx.buy(1, trailing_offset=2.0))]}, ZERO,
                     trades=trade_table([(0.0, 100.0, 10.0),    # 0  decide
                                         (1.0, 100.0, 10.0),    # 1  entry fills at 100
                                         (2.0, 101.0, 10.0),    # 2  trail starts: stop 99
                                         (3.0, 104.0, 10.0),    # 3  stop -> 102
                                         (4.0, 103.0, 10.0),    # 4  103 > 102
                                         (5.0, 101.5, 10.0),    # 5  through: fills at 101.5
                                         (6.0, 100.0, 10.0)]))
    assert [(i, f.side, f.last_price) for i, f in run.strategy.fills] == [
        (1, BUY, 100.0), (5, SELL, 101.5)]


# --- brackets ---------------------------------------------------------------------------------

def bracket(**kwargs: Any) -> Script:
    return {0: [Call(lambda ctx: ctx.buy(1, **kwargs), tag="entry")]}


ENTRY = [(100.0, 100.5, 99.5, 100.0, V),    # 0  decide: buy 1, stop 97, target 105
         (100.0, 101.0, 99.0, 100.0, V)]    # 1  entry fills at 100; stop and target placed


def test_bracket_stop_hit_cancels_the_target() -> None:
    run = bars(bracket(stop_loss=97.0, take_profit=105.0),
               ENTRY + [(99.0, 100.0, 96.0, 96.5, V),      # 2  low 96 <= 97: stopped out
                        (96.0, 106.0, 95.0, 105.0, V)])    # 3  would reach the target
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (2, SELL, 1.0, 97.0, TAKER, "close")]
    stop_id = run.strategy.fills[1][1].client_order_id
    assert canceled(run) == [(LIMIT, 2, f"oco: {stop_id} filled")]
    assert run.strategy.canceled[0][1].ts_event == T0 + 3 * MINUTE   # the stop's fill time
    assert submitted(run) == [(BUY, MARKET, 1.0, False), (SELL, STOP, 1.0, True),
                              (SELL, LIMIT, 1.0, True)]
    assert run.strategy.ctx.position == 0.0


def test_bracket_target_hit_cancels_the_stop() -> None:
    run = bars(bracket(stop_loss=97.0, take_profit=105.0),
               ENTRY + [(101.0, 105.5, 100.0, 105.0, V),   # 2  high 105.5 > 105: target
                        (100.0, 101.0, 90.0, 95.0, V)])    # 3  would hit the stop
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (2, SELL, 1.0, 105.0, MAKER, "close")]
    assert [(k, i) for k, i, _ in canceled(run)] == [(STOP, 2)]
    assert canceled(run)[0][2].startswith("oco: ")


def test_bracket_relative_prices_refer_to_the_average_fill() -> None:
    # entry at 100: stop 2 % below = 98, target 5 % above = 105
    run = bars(bracket(stop_loss_pct=0.02, take_profit_pct=0.05),
               ENTRY + [(99.0, 100.0, 97.0, 98.0, V)])     # 2  low 97 <= 98
    assert fills(run)[1] == (2, SELL, 1.0, 98.0, TAKER, "close")


def test_bar_reaching_both_legs_fills_the_stop() -> None:
    # bar 2 spans 96..106 from an open between them: which came first is unknown, so the
    # worse one (the stop, placed first) fills and cancels the target
    run = bars(bracket(stop_loss=97.0, take_profit=105.0),
               ENTRY + [(100.0, 106.0, 96.0, 100.0, V)])
    assert fills(run)[1:] == [(2, SELL, 1.0, 97.0, TAKER, "close")]
    assert [k for k, _, _ in canceled(run)] == [LIMIT]


def test_leg_filling_at_the_open_goes_before_a_leg_inside_the_bar() -> None:
    # bar 2 opens 106, above the target: the target takes at the open (certainly first); the
    # stop, whose 97 is only reached later in the bar, is canceled by it
    run = bars(bracket(stop_loss=97.0, take_profit=105.0),
               ENTRY + [(106.0, 107.0, 96.0, 100.0, V)])
    assert fills(run)[1:] == [(2, SELL, 1.0, 106.0, TAKER, "open")]
    assert [k for k, _, _ in canceled(run)] == [STOP]


def test_bracket_stop_gapped_through_fills_at_the_open() -> None:
    run = bars(bracket(stop_loss=97.0, take_profit=105.0),
               ENTRY + [(95.0, 96.0, 94.0, 95.5, V)])      # 2  opens 95, below 97
    assert fills(run)[1:] == [(2, SELL, 1.0, 95.0, TAKER, "open")]


def test_short_bracket_mirrors() -> None:
    run = run_script({0: [Call(lambda ctx: ctx.sell(1, stop_loss=103.0, take_profit=95.0))]},
                     ZERO, bars=bar_table(ENTRY + [(101.0, 103.5, 100.0, 103.0, V)]))
    assert fills(run) == [(1, SELL, 1.0, 100.0, TAKER, "open"),
                          (2, BUY, 1.0, 103.0, TAKER, "close")]
    assert [k for k, _, _ in canceled(run)] == [LIMIT]


def test_children_never_sent_when_the_entry_never_fills() -> None:
    run = bars({0: [Call(lambda ctx: ctx.buy(1, limit=90.0, stop_loss=85.0, take_profit=95.0),
                         tag="entry")],
                2: [Cancel("entry")]},
               ENTRY + [(100.0, 101.0, 99.0, 100.0, V), (100.0, 101.0, 99.0, 100.0, V)])
    assert fills(run) == []
    assert canceled(run) == [("entry", 3, "canceled")]
    assert submitted(run) == [(BUY, LIMIT, 1.0, False)]
    assert run.engine.contingent.entries == {}


def test_rejected_entry_sends_no_children() -> None:
    run = bars({0: [Call(lambda ctx: ctx.buy(-1, stop_loss=85.0), tag="entry")]},
               ENTRY + [(100.0, 101.0, 99.0, 100.0, V)])
    assert [(t, i) for t, i, _ in rejected(run)] == [("entry", 0)]
    assert submitted(run) == []


def test_entry_canceled_after_a_partial_fill_protects_what_filled() -> None:
    # volume cap 10 % of 10 = 1 per bar: the entry of 3 fills 1 in bar 1, then is canceled
    # (decided at bar 1's close); the children cover the 1 that filled and work from bar 2
    run = run_script({0: [Call(lambda ctx: ctx.buy(3, stop_loss=97.0, take_profit=105.0),
                               tag="entry")],
                      1: [Cancel("entry")]},
                     dataclasses.replace(ZERO, max_volume_share=0.1),
                     bars=bar_table([(100.0, 100.5, 99.5, 100.0, V),
                                     (100.0, 101.0, 99.0, 100.0, 10.0),   # 1  fills 1 of 3
                                     (99.0, 100.0, 96.0, 96.5, 10.0)]))  # 2  stop hit
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (2, SELL, 1.0, 97.0, TAKER, "close")]
    assert submitted(run)[1:] == [(SELL, STOP, 1.0, True), (SELL, LIMIT, 1.0, True)]


def test_bracket_on_trades() -> None:
    run = run_script({0: [Call(lambda ctx: ctx.buy(1, stop_loss=98.0, take_profit=103.0))]},
                     ZERO, trades=trade_table([(0.0, 100.0, 10.0),    # 0  decide
                                               (1.0, 100.0, 10.0),    # 1  entry at 100
                                               (2.0, 102.0, 10.0),    # 2  target rests
                                               (3.0, 103.5, 10.0),    # 3  through 103
                                               (4.0, 97.0, 10.0)]))   # 4  stop canceled
    # the target met 102 first and rests: trade 3 trades through it, a maker fill at 103
    assert [(i, f.side, f.last_price, f.liquidity) for i, f in run.strategy.fills] == [
        (1, BUY, 100.0, TAKER), (3, SELL, 103.0, MAKER)]
    assert [(k, i) for k, i, _ in canceled(run)] == [(STOP, 3)]


def test_child_on_the_wrong_side_of_the_entry_is_rejected() -> None:
    # entry fills at 100; a stop at 101 is above it: rejected, the target still goes out
    run = bars(bracket(stop_loss=101.0, take_profit=105.0),
               ENTRY + [(101.0, 105.5, 100.0, 105.0, V)])
    assert [(i, r) for _, i, r in rejected(run)] == [
        (1, "stop_loss 101 is at or above the entry price 100 of a long position")]
    assert fills(run)[1:] == [(2, SELL, 1.0, 105.0, MAKER, "close")]


@pytest.mark.parametrize("kwargs,field", [
    ({"stop_loss": 97.0, "trailing": 0.02}, "stop_loss, trail_percent"),
    ({"take_profit": 105.0, "take_profit_pct": 0.05}, "take_profit_pct"),
    ({"stop_loss_pct": 2.0}, "stop_loss_pct"),
])
def test_contradictory_bracket_is_rejected_unsent(kwargs: dict[str, Any], field: str) -> None:
    run = bars(bracket(**kwargs), ENTRY)
    (tag, i, reason), = rejected(run)
    assert (tag, i) == ("entry", 0) and reason.startswith("bracket: ") and field in reason
    assert submitted(run) == []


# --- stop-limit -------------------------------------------------------------------------------

def stop_limit_bars(bar2: tuple[float, float, float, float, float]) -> list[Any]:
    return [(100.0, 101.0, 99.0, 100.0, V),    # 0  decide: buy stop 103 limit 103.5
            (100.5, 102.9, 100.0, 101.0, V),   # 1  high 102.9 < 103: not triggered
            bar2,
            (104.0, 104.5, 103.0, 103.5, V)]   # 3  low 103 < 103.5


STOP_LIMIT_BUY = {0: [Buy(1, stop=103.0, limit=103.5)]}


def test_stop_limit_gapped_past_its_limit_triggers_then_rests() -> None:
    # bar 2 opens 105: triggered at the open, but 105 > 103.5 so it rests (low 104.5 stays
    # above); bar 3 trades through 103.5: filled as maker at the limit
    run = bars(STOP_LIMIT_BUY, stop_limit_bars((105.0, 106.0, 104.5, 105.5, V)))
    assert fills(run) == [(3, BUY, 1.0, 103.5, MAKER, "close")]
    order, = run.engine.venue.orders.values()
    assert order.order_type == STOP_LIMIT and order.triggered


def test_stop_limit_triggered_inside_the_bar_takes_at_the_stop() -> None:
    run = bars(STOP_LIMIT_BUY, stop_limit_bars((101.0, 104.0, 100.5, 103.5, V)))
    assert fills(run) == [(2, BUY, 1.0, 103.0, TAKER, "close")]


def test_stop_limit_below_its_stop_rests_from_the_next_bar() -> None:
    # sell stop 97 limit 97.5: triggered inside bar 2 at 97, below its limit: it rests from
    # bar 3, whose high 98 trades through 97.5 (bar 2's own high came before or after: unknown)
    run = bars({0: [Sell(1, stop=97.0, limit=97.5)]},
               [(100.0, 100.5, 99.5, 100.0, V),
                (100.0, 100.5, 98.0, 99.0, V),     # 1  low 98 > 97
                (98.0, 99.0, 96.0, 96.5, V),       # 2  low 96: triggered at 97
                (96.5, 98.0, 96.0, 97.0, V)])      # 3  high 98 > 97.5: maker at 97.5
    assert fills(run) == [(3, SELL, 1.0, 97.5, MAKER, "close")]


# --- reduce-only --------------------------------------------------------------------------------

def test_reduce_only_is_capped_and_never_flips() -> None:
    # long 1 (bar 1); a reduce-only sell of 2 fills 1 and the rest is canceled; a reduce-only
    # buy (it would add to the long) is rejected
    run = bars({0: [Buy(1)],
                1: [Call(lambda ctx: ctx.sell(2, reduce_only=True), tag="ro-sell"),
                    Call(lambda ctx: ctx.buy(1, reduce_only=True), tag="ro-buy")]},
               ENTRY + [(101.0, 102.0, 100.0, 101.0, V), (102.0, 103.0, 101.0, 102.0, V)])
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (2, SELL, 1.0, 101.0, TAKER, "open")]
    assert run.strategy.fills[1][1].leaves_qty == 1.0
    assert canceled(run) == [("ro-sell", 2, "reduce_only: position closed")]
    assert rejected(run) == [
        ("ro-buy", 1, "reduce_only: a BUY order would increase the position 1 "
                      "(nothing to reduce)")]
    assert run.strategy.ctx.position == 0.0


def test_reduce_only_with_no_position_is_rejected() -> None:
    run = bars({0: [Call(lambda ctx: ctx.sell(1, reduce_only=True), tag="ro")]}, ENTRY)
    assert rejected(run) == [("ro", 0, "reduce_only: no position to reduce")]


def test_reduce_only_stop_is_canceled_once_the_position_is_closed() -> None:
    # a protective stop on a long closed by a market sell (bar 3): at its next bar it has
    # nothing left to reduce and is canceled, before bar 4 could trigger it into a short
    run = bars({0: [Buy(1)], 1: [Call(lambda ctx: ctx.stop_loss(95.0), tag="sl")],
                2: [Sell(1)]},
               ENTRY + [(100.0, 101.0, 99.0, 100.0, V), (100.0, 101.0, 99.0, 100.0, V),
                        (94.0, 95.0, 93.0, 94.0, V)])   # 4  would have triggered the stop
    assert fills(run) == [(1, BUY, 1.0, 100.0, TAKER, "open"),
                          (3, SELL, 1.0, 100.0, TAKER, "open")]
    assert canceled(run) == [("sl", 4, "reduce_only: position closed")]
    assert run.strategy.canceled[0][1].ts_event == T0 + 4 * MINUTE   # bar 4's open


# --- post-only ----------------------------------------------------------------------------------

def test_post_only_that_would_take_is_canceled() -> None:
    # bar 1 opens 100.5, below the buy limit 101: it would take liquidity
    run = bars({0: [Call(lambda ctx: ctx.buy(1, limit=101.0, post_only=True), tag="po")]},
               [(100.0, 100.5, 99.5, 100.0, V), (100.5, 101.5, 100.0, 101.0, V)])
    assert fills(run) == []
    assert canceled(run) == [("po", 1, "post_only: would take liquidity")]


def test_post_only_resting_fills_as_maker() -> None:
    run = bars({0: [Call(lambda ctx: ctx.buy(1, limit=98.0, post_only=True))]},
               [(100.0, 101.0, 99.5, 100.0, V),
                (100.0, 100.5, 98.0, 99.0, V),     # 1  rests (touch only)
                (99.0, 99.5, 97.5, 98.5, V)])      # 2  through: maker at 98
    assert fills(run) == [(2, BUY, 1.0, 98.0, MAKER, "close")]


# --- wrong-side stops and bad input ---------------------------------------------------------------

@pytest.mark.parametrize("action,reason", [
    (Buy(1, stop=99.0, tag="x"), "stop_price 99 is at or below the market 100 for a BUY stop"),
    (Buy(1, stop=100.0, tag="x"),
     "stop_price 100 is at or below the market 100 for a BUY stop"),
    (Sell(1, stop=101.0, tag="x"),
     "stop_price 101 is at or above the market 100 for a SELL stop"),
    (Buy(1, stop=99.0, limit=99.5, tag="x"),
     "stop_price 99 is at or below the market 100 for a BUY stop"),
], ids=["buy-below", "buy-at", "sell-above", "stop-limit"])
def test_wrong_side_stop_is_rejected(action: Any, reason: str) -> None:
    run = bars({0: [action]}, ENTRY)
    assert rejected(run) == [("x", 0, reason)]
    assert fills(run) == []


@pytest.mark.parametrize("action,field", [
    (Submit(SELL, 1, TRAILING_STOP, tag="x"), "trail_offset"),
    (Call(lambda ctx: ctx.submit_order(SELL, 1, TRAILING_STOP, trail_offset=2.0,
                                       trail_percent=0.02), tag="x"), "not both"),
    (Call(lambda ctx: ctx.submit_order(SELL, 1, TRAILING_STOP, trail_offset=-2.0), tag="x"),
     "trail_offset must be a positive"),
    (Call(lambda ctx: ctx.submit_order(SELL, 1, TRAILING_STOP, trail_percent=2.0), tag="x"),
     "trail_percent must be a fraction"),
    (Call(lambda ctx: ctx.submit_order(SELL, 1, LIMIT, limit_price=101.0, trail_offset=1.0),
          tag="x"), "trail_offset and trail_percent are for TRAILING_STOP"),
    (Submit(SELL, 1, STOP_LIMIT, stop_price=99.0, tag="x"), "limit_price"),
    (Submit(SELL, 1, STOP_LIMIT, limit_price=99.0, tag="x"), "stop_price"),
    (Call(lambda ctx: ctx.submit_order(BUY, 1, MARKET, post_only=True), tag="x"),
     "post_only: only a LIMIT order can be post-only, not MARKET"),
    (Call(lambda ctx: ctx.submit_order(BUY, 1, LIMIT, limit_price=90.0, post_only=True,
                                       time_in_force="IOC"), tag="x"), "post_only"),
    (Call(lambda ctx: ctx.submit_order(BUY, 1, LIMIT, limit_price=90.0, post_only="yes"),
          tag="x"), "post_only must be True or False"),
    (Call(lambda ctx: ctx.submit_order(BUY, 1, oco_group=5), tag="x"), "oco_group"),  # type: ignore[arg-type]
], ids=["trail-missing", "trail-both", "trail-negative", "trail-percent-range",
        "trail-on-limit", "stop-limit-no-limit", "stop-limit-no-stop", "post-only-market",
        "post-only-ioc", "post-only-not-bool", "oco-not-str"])
def test_bad_protective_input_is_rejected_naming_the_field(action: Any, field: str) -> None:
    run = bars({0: [action]}, ENTRY)
    (tag, i, reason), = rejected(run)
    assert (tag, i) == ("x", 0) and field in reason, reason
    assert run.engine.faults == []


# --- OCO groups by hand, and the fast paths left alone ------------------------------------------

def test_oco_group_by_hand_cancels_at_the_first_fill() -> None:
    # a buy stop above and a sell stop below, one group: bar 2 breaks out upwards
    run = bars({0: [Call(lambda ctx: ctx.submit_order(BUY, 1, STOP, stop_price=102.0,
                                                      oco_group="breakout"), tag="up"),
                    Call(lambda ctx: ctx.submit_order(SELL, 1, STOP, stop_price=98.0,
                                                      oco_group="breakout"), tag="down")]},
               ENTRY + [(101.0, 103.0, 100.5, 102.5, V), (97.0, 98.0, 96.0, 97.0, V)])
    assert fills(run)[0] == (2, BUY, 1.0, 102.0, TAKER, "close")
    assert canceled(run) == [("down", 2, f"oco: {run.strategy.coids['up']} filled")]


def test_plain_orders_keep_the_fast_kinds() -> None:
    run = bars({0: [Buy(1), Buy(1, limit=90.0), Sell(1, stop=90.0)]}, ENTRY)
    assert [o.kind for o in run.engine.venue.orders.values()] == [MARKET, LIMIT, STOP]
    assert CAPITAL > 0 and SECOND > 0
