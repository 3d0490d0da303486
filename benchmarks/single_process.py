"""Single-process throughput: SMA crossover (10/30) over 1,000,000 synthetic one-minute bars
through the per-event hooks, with taker fees (10 bps), fixed slippage and full accounting.

Prints the run's figures and ends with ``events_per_second: N`` (engine loop only: data
generation and result assembly are timed separately and printed above it).

    .venv/bin/python benchmarks/single_process.py [--bars N] [--repeat K]
"""

from __future__ import annotations

import argparse
import statistics
import time

from engine.backtesting import BacktestEngine, Feed
from engine.synthetic import synthetic_bars
from engine.timeframes import timeframe_to_ns
from engine.venue import VenueConfig
from strategies.sma_cross import SmaCross


def bare_loop_rate(closes: list[float]) -> float:
    """The floor of per-event cost: SMA 10/30 crossover detection in a plain loop."""
    from engine.indicators import SMA

    fast, slow = SMA(10), SMA(30)
    update_fast, update_slow = fast.update, slow.update
    above = None
    crosses = 0
    t0 = time.perf_counter()
    for close in closes:
        now = update_fast(close) > update_slow(close)
        if now is not above:
            above = now
            crosses += 1
    return len(closes) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    interval = timeframe_to_ns("1m")
    t0 = time.perf_counter()
    bars = synthetic_bars("BTC/USDT", seed=42, start="2022-01-01", n_bars=args.bars,
                          timeframe="1m")
    gen_s = time.perf_counter() - t0
    print(f"generated {len(bars):,} one-minute bars in {gen_s:.2f} s")

    rates = []
    for run in range(args.repeat):
        engine = BacktestEngine(capital=100_000.0, venue_config=VenueConfig(
            maker_fee_bps=10.0, taker_fee_bps=10.0, slippage_model="fixed", slippage_bps=1.0))
        engine.add_feed(Feed("BTC/USDT", "bar", bars, interval))
        engine.add_strategy(SmaCross({"fast": 10, "slow": 30}), "BTC/USDT")
        engine.run()
        t1 = time.perf_counter()
        curve = engine.equity_curve()
        post_s = time.perf_counter() - t1
        rate = engine.events_processed / engine.elapsed_seconds
        rates.append(rate)
        print(f"run {run + 1}: {engine.events_processed:,} events in "
              f"{engine.elapsed_seconds:.3f} s = {rate:,.0f} events/s; fills "
              f"{len(engine.fills):,}, round trips {len(engine.portfolio.trades):,}, final "
              f"equity {curve['equity'].iloc[-1]:,.2f}; equity curve built in {post_s:.3f} s")
    bare = bare_loop_rate(bars["close"].to_numpy().tolist())
    print(f"reference: a bare Python loop with the same incremental SMAs and cross detection, "
          f"no engine, no orders: {bare:,.0f} events/s")
    print(f"median over {args.repeat} runs; best {max(rates):,.0f}")
    print(f"events_per_second: {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
