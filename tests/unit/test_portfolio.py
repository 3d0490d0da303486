"""Portfolio accounting worked by hand: cash, fees, average entry price, realized PnL, closed
round trips (including a flip in one fill), equity at the last price, and attribution of
positions to (symbol, strategy) while cash is shared."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.messages import BUY, SELL, OrderFilled
from engine.portfolio import Portfolio

CAPITAL = 10_000.0
SEC = 1_000_000_000


def fill(side: str, qty: float, price: float, *, fee: float = 0.0, ts: int = 0,
         symbol: str = "BTC", strategy: str = "s1") -> OrderFilled:
    """A complete fill of ``qty`` at ``price``."""
    return OrderFilled(strategy, "SIM", symbol, f"{strategy}-{ts}", "V-1", f"F-{ts}", side,
                       qty, price, qty, 0.0, "TAKER", fee, 0.0, ts, ts)


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-9)


def test_capital_must_be_positive_and_finite() -> None:
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="initial capital"):
            Portfolio(bad)


def test_buy_then_sell_at_a_profit() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 2, 100.0, fee=0.2, ts=1 * SEC))
    # cash = 10000 - 2*100 - 0.2 = 9799.8; the position is marked at the fill price
    assert pf.cash == approx(9799.8)
    pos = pf.positions[("BTC", "s1")]
    assert (pos.qty, pos.avg_price) == (2.0, 100.0)
    assert pf.equity() == approx(9999.8)
    assert pf.trades == []

    pos = pf.apply_fill(fill(SELL, 2, 110.0, fee=0.22, ts=5 * SEC))
    # cash = 9799.8 + 2*110 - 0.22 = 10019.58
    assert pf.cash == approx(10019.58)
    assert pf.equity() == approx(10019.58)
    # realized 2 * (110 - 100) = 20 gross; fees 0.2 + 0.22 = 0.42
    assert pos.realized_pnl == approx(20.0)
    assert pos.fees == approx(0.42) and pf.total_fees == approx(0.42)
    assert (pos.qty, pos.avg_price, pos.n_fills, pos.trade) == (0.0, 0.0, 2, None)
    assert pf.net_qty == {"BTC": 0.0}
    assert pf.open_trades() == []

    (trade,) = pf.trades
    assert trade == {
        "symbol": "BTC", "strategy_id": "s1", "direction": "LONG",
        "entry_ts": 1 * SEC, "exit_ts": 5 * SEC, "duration_ns": 4 * SEC,
        "qty": 2.0, "entry_price": 100.0, "exit_price": 110.0,
        "pnl_gross": approx(20.0), "fees": approx(0.42),
        "pnl": approx(19.58),                 # 20 - 0.42, net of fees
        "return_pct": approx(100 * 19.58 / 200.0),  # percent of the entry notional: 9.79
        "n_entries": 1,
    }


def test_scaling_in_averages_the_entry_price() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 1, 100.0, ts=0))
    pos = pf.apply_fill(fill(BUY, 3, 120.0, ts=1))
    # avg = (1*100 + 3*120) / 4 = 460 / 4 = 115
    assert pos.qty == 4.0 and pos.avg_price == approx(115.0)
    assert pf.cash == approx(CAPITAL - 460.0)
    (open_trade,) = pf.open_trades()
    assert open_trade["n_entries"] == 2 and open_trade["entry_qty"] == 4.0
    assert open_trade["entry_notional"] == approx(460.0)
    # last price is the first fill's (100) until something marks the symbol
    assert open_trade["unrealized_pnl"] == approx(4 * (100.0 - 115.0))

    pf.apply_fill(fill(SELL, 4, 125.0, ts=9))
    (trade,) = pf.trades
    # pnl = 4 * (125 - 115) = 40 on 460 invested
    assert trade["entry_price"] == approx(115.0) and trade["exit_price"] == approx(125.0)
    assert trade["pnl"] == approx(40.0) and trade["return_pct"] == approx(100 * 40.0 / 460.0)
    assert trade["qty"] == 4.0 and trade["n_entries"] == 2 and trade["duration_ns"] == 9


def test_partial_close_keeps_the_trade_open() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 4, 100.0, fee=0.4, ts=0))
    pos = pf.apply_fill(fill(SELL, 1, 110.0, fee=0.11, ts=1))
    # 1 of 4 closed: realized 1 * (110 - 100) = 10; avg entry unchanged
    assert (pos.qty, pos.avg_price) == (3.0, 100.0)
    assert pos.realized_pnl == approx(10.0)
    assert pf.trades == []
    (open_trade,) = pf.open_trades()
    assert open_trade["exit_qty"] == 1.0 and open_trade["qty"] == 3.0
    assert open_trade["fees"] == approx(0.51)

    pf.apply_fill(fill(SELL, 3, 90.0, fee=0.27, ts=2))
    # the rest closes at a loss: 3 * (90 - 100) = -30; gross 10 - 30 = -20
    # fees 0.4 + 0.11 + 0.27 = 0.78; exit price (110 + 3*90) / 4 = 95
    (trade,) = pf.trades
    assert trade["pnl_gross"] == approx(-20.0)
    assert trade["fees"] == approx(0.78)
    assert trade["pnl"] == approx(-20.78)
    assert trade["entry_price"] == approx(100.0) and trade["exit_price"] == approx(95.0)
    assert trade["return_pct"] == approx(100 * -20.78 / 400.0)
    # cash = 10000 - 400.4 + 109.89 + 269.73 = 9979.22 = 10000 - 20.78
    assert pf.cash == approx(9979.22)


def test_flip_long_to_short_in_one_fill() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 2, 100.0, fee=0.2, ts=10))
    pos = pf.apply_fill(fill(SELL, 5, 110.0, fee=0.55, ts=20))
    # 2 of the 5 close the long, 3 open a short at 110; the fee splits 2/5 = 0.22, 3/5 = 0.33
    (long_trade,) = pf.trades
    assert long_trade["direction"] == "LONG"
    assert (long_trade["entry_ts"], long_trade["exit_ts"]) == (10, 20)
    assert long_trade["qty"] == 2.0 and long_trade["exit_price"] == approx(110.0)
    assert long_trade["pnl_gross"] == approx(20.0)
    assert long_trade["fees"] == approx(0.42)   # 0.2 + 0.22
    assert long_trade["pnl"] == approx(19.58)

    assert (pos.qty, pos.avg_price) == (-3.0, 110.0)
    (short,) = pf.open_trades()
    assert short["direction"] == "SHORT" and short["entry_ts"] == 20
    assert short["entry_qty"] == 3.0 and short["entry_notional"] == approx(330.0)
    assert short["fees"] == approx(0.33)
    # cash = 10000 - 200.2 + 550 - 0.55 = 10349.25
    assert pf.cash == approx(10349.25)
    assert pf.net_qty["BTC"] == -3.0

    pf.apply_fill(fill(BUY, 3, 100.0, fee=0.3, ts=50))
    # short pnl 3 * (110 - 100) = 30; fees 0.33 + 0.3 = 0.63
    _, short_trade = pf.trades
    assert short_trade["direction"] == "SHORT" and short_trade["duration_ns"] == 30
    assert short_trade["entry_price"] == approx(110.0)
    assert short_trade["exit_price"] == approx(100.0)
    assert short_trade["fees"] == approx(0.63)
    assert short_trade["pnl"] == approx(29.37)
    assert short_trade["return_pct"] == approx(100 * 29.37 / 330.0)
    # all in all 19.58 + 29.37 = 48.95 made: cash = 10000 + 48.95
    assert pf.cash == approx(10048.95)
    assert pf.total_fees == approx(1.05)
    assert pos.realized_pnl == approx(50.0) and pos.qty == 0.0


def test_flip_short_to_long_in_one_fill() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(SELL, 1, 50.0, ts=0))
    pos = pf.apply_fill(fill(BUY, 3, 40.0, fee=0.12, ts=1))
    # short closes with 1 * (50 - 40) = 10, fee share 1/3 * 0.12 = 0.04; long 2 @ 40 opens
    (trade,) = pf.trades
    assert trade["direction"] == "SHORT" and trade["pnl"] == approx(9.96)
    assert (pos.qty, pos.avg_price) == (2.0, 40.0)
    (long_trade,) = pf.open_trades()
    assert long_trade["direction"] == "LONG" and long_trade["fees"] == approx(0.08)


def test_short_round_trip() -> None:
    pf = Portfolio(CAPITAL)
    pos = pf.apply_fill(fill(SELL, 1, 200.0, fee=0.1, ts=0))
    # a short sale receives 200 - 0.1
    assert pf.cash == approx(10199.9)
    assert (pos.qty, pos.avg_price) == (-1.0, 200.0)
    assert pf.equity() == approx(9999.9)          # 10199.9 - 1 * 200
    pf.last_price["BTC"] = 210.0
    assert pf.equity() == approx(9989.9)          # 10199.9 - 1 * 210
    assert pf.open_trades()[0]["unrealized_pnl"] == approx(-10.0)

    pf.apply_fill(fill(BUY, 1, 180.0, fee=0.09, ts=7))
    (trade,) = pf.trades
    # (200 - 180) = 20 gross, 0.19 fees
    assert trade["direction"] == "SHORT"
    assert trade["entry_price"] == 200.0 and trade["exit_price"] == 180.0
    assert trade["pnl"] == approx(19.81)
    assert trade["return_pct"] == approx(100 * 19.81 / 200.0)
    assert trade["duration_ns"] == 7
    assert pf.cash == approx(10019.81)


def test_equity_marks_open_positions_at_the_last_price() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 2, 100.0, fee=0.2))
    pf.apply_fill(fill(BUY, 10, 5.0, symbol="ETH"))
    # cash = 10000 - 200.2 - 50 = 9749.8
    assert pf.cash == approx(9749.8)
    assert pf.equity() == approx(9749.8 + 200.0 + 50.0)
    pf.last_price.update({"BTC": 130.0, "ETH": 4.0})
    # 9749.8 + 2*130 + 10*4 = 10049.8
    assert pf.equity() == approx(10049.8)
    pf.apply_fill(fill(SELL, 10, 4.0, symbol="ETH"))
    # ETH is flat: it no longer counts, whatever its price
    pf.last_price["ETH"] = 1e9
    assert pf.equity() == approx(9789.8 + 260.0)


def test_two_strategies_on_one_symbol_are_attributed_separately() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 2, 100.0, strategy="trend"))
    pf.apply_fill(fill(SELL, 1, 105.0, strategy="revert"))
    trend = pf.positions[("BTC", "trend")]
    revert = pf.positions[("BTC", "revert")]
    assert (trend.qty, trend.avg_price) == (2.0, 100.0)
    assert (revert.qty, revert.avg_price) == (-1.0, 105.0)
    # one cash balance: 10000 - 200 + 105 = 9905; net 2 - 1 = 1 BTC
    assert pf.cash == approx(9905.0)
    assert pf.net_qty == {"BTC": 1.0}
    pf.last_price["BTC"] = 110.0
    # trend +20, revert -5: equity 9905 + 110 = 10015
    assert pf.equity() == approx(10015.0)
    assert trend.unrealized_pnl(110.0) == approx(20.0)
    assert revert.unrealized_pnl(110.0) == approx(-5.0)

    pf.apply_fill(fill(SELL, 2, 110.0, strategy="trend", ts=3))
    (trade,) = pf.trades
    assert trade["strategy_id"] == "trend" and trade["pnl"] == approx(20.0)
    assert trend.realized_pnl == approx(20.0) and revert.realized_pnl == 0.0
    assert revert.qty == -1.0 and revert.trade is not None
    assert pf.net_qty == {"BTC": -1.0}
    assert pf.cash == approx(10125.0)
    (still_open,) = pf.open_trades()
    assert still_open["strategy_id"] == "revert" and still_open["unrealized_pnl"] == approx(-5.0)


def test_net_qty_per_symbol() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 1.5, 100.0, strategy="a"))
    pf.apply_fill(fill(BUY, 0.5, 100.0, strategy="b"))
    pf.apply_fill(fill(SELL, 3.0, 10.0, symbol="ETH", strategy="a"))
    assert pf.net_qty == {"BTC": 2.0, "ETH": -3.0}
    pf.apply_fill(fill(SELL, 1.5, 100.0, strategy="a"))
    assert pf.net_qty == {"BTC": 0.5, "ETH": -3.0}
    assert pf.position("XRP", "a").qty == 0.0  # looking a position up creates it flat
    assert pf.net_qty["XRP"] == 0.0


def test_float_dust_closes_the_round_trip() -> None:
    pf = Portfolio(CAPITAL)
    pf.apply_fill(fill(BUY, 0.1, 100.0))
    pf.apply_fill(fill(BUY, 0.2, 100.0))
    pos = pf.apply_fill(fill(SELL, 0.3, 100.0))   # 0.1 + 0.2 - 0.3 = 5.6e-17 in floats
    assert pos.qty == 0.0 and len(pf.trades) == 1
    assert pf.net_qty["BTC"] == 0.0


def test_net_qty_is_the_sum_of_the_positions_after_float_dust() -> None:
    pf = Portfolio(1e9)
    for qty in (33333.1, 33333.2, 33333.3):   # sums to 99999.59999999999 in floats
        pf.apply_fill(fill(BUY, qty, 1.0))
    pos = pf.apply_fill(fill(SELL, 99999.6, 1.0))
    assert pos.qty == 0.0 and len(pf.trades) == 1
    assert pf.net_qty["BTC"] == sum(p.qty for p in pf.positions.values())


def test_equity_curve_segments_give_the_single_walk() -> None:
    # tick-level curves are walked in parallel segments cut at event times; the result must
    # equal one walk, including ties across feeds and the start row
    from engine.equity import equity_curve
    rng = np.random.default_rng(0)
    times = [np.sort(rng.integers(0, 10_000, n)) for n in (3000, 5000, 1)]
    marks = [rng.random(len(t)) + 1 for t in times]
    total = sum(len(t) for t in times)
    seq = np.sort(rng.integers(0, total, 300))
    feed, cash, qty = rng.integers(0, 3, 300), rng.random(300), rng.random(300)
    one = equity_curve(times, marks, seq, feed, cash, qty, 100.0, start_ts=-5, segments=1)
    assert one.iloc[0].tolist() == [-5, 100.0, 100.0, 0.0]
    assert (np.diff(one["ts"].to_numpy()) > 0).all()
    for segments in (2, 3, 7):
        assert equity_curve(times, marks, seq, feed, cash, qty, 100.0, start_ts=-5,
                            segments=segments).equals(one)


def test_equity_interval_keeps_the_last_point_of_each_interval() -> None:
    from engine.equity import equity_curve
    rng = np.random.default_rng(1)
    times = [np.sort(rng.integers(0, 100_000, n)) for n in (4000, 3000)]
    marks = [rng.random(len(t)) + 1 for t in times]
    seq = np.sort(rng.integers(0, 7000, 200))
    feed, cash, qty = rng.integers(0, 2, 200), rng.random(200), rng.random(200)
    every = equity_curve(times, marks, seq, feed, cash, qty, 100.0, segments=1)
    bucket = every["ts"] // 1000
    expected = every[bucket.ne(bucket.shift(-1))].reset_index(drop=True)
    for segments in (1, 3):
        sampled = equity_curve(times, marks, seq, feed, cash, qty, 100.0, segments=segments,
                               interval_ns=1000)
        assert sampled.equals(expected)


@pytest.mark.parametrize("seed", range(6))
def test_equity_interval_points_equal_the_walk_with_ties_gaps_and_a_start_row(seed) -> None:
    # the sampled curve is computed by binary searches, not by walking the events: it must
    # give the walk's points bit for bit, with ties across feeds (same time, several feeds),
    # intervals where a feed has no event, fills on untraded-later feeds and the start row
    from engine.equity import equity_curve
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.integers(-50_000, 50_000, n) // 7 * 7) for n in (2500, 900, 1)]
    times.append(np.sort(rng.integers(20_000, 30_000, 400)))   # a feed that starts late
    marks = [rng.random(len(t)) * 100 + 1 for t in times]
    total = sum(len(t) for t in times)
    n_fills = int(rng.integers(1, 400)) if seed else 0   # seed 0: a run without fills
    seq = np.sort(rng.integers(0, total, n_fills))
    feed = rng.integers(0, len(times), n_fills)
    cash, qty = rng.normal(size=n_fills) * 1e3, rng.normal(size=n_fills)
    interval = int(rng.choice([1, 7, 1000, 12_345]))
    every = equity_curve(times, marks, seq, feed, cash, qty, 100.0, start_ts=-10**6,
                         segments=1)
    body = every.iloc[1:]
    bucket = body["ts"] // interval
    expected = pd.concat([every.iloc[:1], body[bucket.ne(bucket.shift(-1))]],
                         ignore_index=True)
    sampled = equity_curve(times, marks, seq, feed, cash, qty, 100.0, start_ts=-10**6,
                           interval_ns=interval)
    assert sampled.equals(expected)


def test_equity_kernel_equals_the_numpy_reference_on_a_traded_run() -> None:
    # the numba walk against the plain-numpy curve it replaced, on two feeds that both trade
    from engine.backtesting import BacktestEngine, Feed
    from engine.synthetic import synthetic_bars
    from strategies.sma_cross import SmaCross

    engine = BacktestEngine(capital=10_000.0)
    for seed, symbol in enumerate(["A", "B"]):
        engine.add_feed(Feed(symbol, "bar", synthetic_bars(symbol, seed=seed, n_bars=3000,
                                                           timeframe="1m"),
                             interval_ns=60_000_000_000))
        engine.add_strategy(SmaCross({"fast": 5, "slow": 20}), symbol)
    engine.run()
    assert len({f.symbol for f in engine.fills}) == 2
    assert engine.equity_curve().equals(engine.equity_curve_reference())


def test_a_fee_kept_in_the_base_asset_shrinks_the_position() -> None:
    """Binance takes a buy's commission out of the coin bought: 2 BTC bought at 100 with a
    0.1 % fee leaves 1.998 BTC, and the quote paid is the full 200."""
    pf = Portfolio(CAPITAL)
    bought = fill(BUY, 2, 100.0, ts=1 * SEC)._replace(fee_qty=0.002)
    pos = pf.apply_fill(bought)
    assert pf.cash == approx(CAPITAL - 200.0)
    assert (pos.qty, pos.avg_price) == (approx(1.998), 100.0)
    assert pf.net_qty == {"BTC": approx(1.998)}
    # the fee's value (0.002 * 100) is a fee, and equity shows it
    assert pf.total_fees == approx(0.2) and pf.equity() == approx(CAPITAL - 0.2)
    # selling what is held (its fee in the quote coin) closes the round trip
    pf.apply_fill(fill(SELL, 1.998, 110.0, fee=0.21978, ts=2 * SEC))
    assert pos.qty == 0.0
    (trade,) = pf.trades
    # 1.998 * (110 - 100) = 19.98 gross; fees 0.2 + 0.21978
    assert trade["pnl_gross"] == approx(19.98)
    assert trade["fees"] == approx(0.41978)
    assert pf.cash == approx(CAPITAL - 200.0 + 1.998 * 110.0 - 0.21978)
    assert pf.equity() == approx(CAPITAL + 19.98 - 0.41978)
