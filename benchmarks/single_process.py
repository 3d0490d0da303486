"""Single-process throughput: SMA crossover (10/30, 2 % allocation) over 1,000,000 synthetic
one-minute bars through the per-event hooks, with taker fees (10 bps), fixed slippage and full
accounting (a spot account: cash, reservations, no naked shorts). The allocation keeps the
account solvent over the whole run: the fees of its ~20,000 round trips take about 0.2 % of
each entry's notional, so at full allocation they ruin it early (a ruined account places no
more orders), and at 10 % the account ends near 1 % of its capital, where the every-rule run's
drawdown breaker halts it and the two runs no longer place the same orders.

Each repeat runs twice, alternately: with the account only ("rules off") and with every
pre-trade rule on (``EVERY_RULE``: limits, breakers, cooldowns, the regime filter, the cost
check, correlation groups, the order-rate throttle), set loose enough that they weigh every
order without stopping the strategy, so both runs place about the same orders. Prints each
run's figures, both medians and what the rules cost, and ends with ``events_per_second: N``
(rules off; engine loop only: data generation and result assembly are timed separately).

With ``--batch`` every run is repeated through the batch pass (``BacktestEngine.run_batch``:
the strategy's signals computed over whole chunks, the pass visiting only the events where
something can happen), which must book exactly the hook run's fills (checked); it adds the
batch figures and ends with ``batch_events_per_second: N`` as well (rules off).

    .venv/bin/python benchmarks/single_process.py [--bars N] [--repeat K] [--batch]
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from engine.backtesting import BacktestEngine, Feed
from engine.risk import RiskLimits
from engine.risk import compiled as risk_compiled
from engine.synthetic import synthetic_bars
from engine.timeframes import timeframe_to_ns
from engine.venue import VenueConfig
from strategies.sma_cross import SmaCross


ALLOCATION = 0.02   # of equity per entry (see the module docstring)

# every rule on, loose: each order is weighed by all of them, few are refused
EVERY_RULE = RiskLimits(
    max_open_positions=10, max_gross_exposure=1.0, max_net_exposure=1.0,
    max_position_share=1.0, max_position_qty=1e9, max_position_notional=1e12,
    max_order_notional=1e12, max_drawdown=0.99, max_daily_loss=0.99,
    max_consecutive_losses=1000, cooldown="1s", cooldown_max="1s", correlation_threshold=0.7,
    max_group_exposure=1.0, block_regime="HIGHLY_VOLATILE", volatile_scale=0.999999,
    max_cost_bps=1e6, max_orders_per_minute=1000,
    # the regime is measured and checked on every entry; no percentile reaches 99.99
    market_stats={"regime_thresholds": [25.0, 75.0, 99.99]})


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


def batch_run(bars: pd.DataFrame, interval: int, limits: RiskLimits,
              hooks: BacktestEngine, run: int, label: str) -> float:
    """The same run through the batch pass; its fills must be the hook run's."""
    engine = BacktestEngine(capital=100_000.0, venue_config=VenueConfig(
        maker_fee_bps=10.0, taker_fee_bps=10.0, slippage_model="fixed", slippage_bps=1.0),
        risk_limits=limits)
    engine.add_feed(Feed("BTC/USDT", "bar", bars, interval))
    engine.add_strategy(SmaCross({"fast": 10, "slow": 30, "allocation": ALLOCATION}), "BTC/USDT")
    t0 = time.perf_counter()
    engine.run_batch()
    elapsed = time.perf_counter() - t0
    if engine.fills != hooks.fills:
        raise SystemExit(f"run {run + 1} {label}: the batch pass booked other fills than the "
                         f"hooks ({len(engine.fills):,} vs {len(hooks.fills):,})")
    rate = engine.events_processed / elapsed
    print(f"run {run + 1} {label}, batch pass: {engine.events_processed:,} events in "
          f"{elapsed:.3f} s = {rate:,.0f} events/s (intents included); the same "
          f"{len(engine.fills):,} fills")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", action="store_true",
                        help="also run each configuration through the batch pass")
    args = parser.parse_args()

    interval = timeframe_to_ns("1m")
    t0 = time.perf_counter()
    bars = synthetic_bars("BTC/USDT", seed=42, start="2022-01-01", n_bars=args.bars,
                          timeframe="1m")
    gen_s = time.perf_counter() - t0
    print(f"generated {len(bars):,} one-minute bars in {gen_s:.2f} s; the risk engine runs "
          f"{'compiled' if risk_compiled() else 'interpreted (not built: see setup.py)'}")
    # warm-up, untimed: the first run in a process loads the compiled kernels from numba's
    # cache (the market statistics' too, with the rules on), which no later run pays again
    for limits in (RiskLimits(), EVERY_RULE):
        for batch in (False, True) if args.batch else (False,):
            warm = BacktestEngine(capital=100_000.0, risk_limits=limits)
            warm.add_feed(Feed("BTC/USDT", "bar", bars.iloc[:20_000], interval))
            warm.add_strategy(SmaCross({"fast": 10, "slow": 30, "allocation": ALLOCATION}),
                              "BTC/USDT")
            if batch:
                warm.run_batch()
            else:
                warm.run()

    rates: dict[str, list[float]] = {"rules off": [], "every rule on": []}
    # CPU seconds of each run besides its wall time: on a shared host the wall clock swings
    # with other processes' load, the process's own CPU time much less
    cpu: dict[str, list[float]] = {"rules off": [], "every rule on": []}
    batch_rates: dict[str, list[float]] = {"rules off": [], "every rule on": []}
    for run in range(args.repeat):
        for label, limits in (("rules off", RiskLimits()), ("every rule on", EVERY_RULE)):
            engine = BacktestEngine(capital=100_000.0, venue_config=VenueConfig(
                maker_fee_bps=10.0, taker_fee_bps=10.0, slippage_model="fixed",
                slippage_bps=1.0), risk_limits=limits)
            engine.add_feed(Feed("BTC/USDT", "bar", bars, interval))
            engine.add_strategy(SmaCross({"fast": 10, "slow": 30, "allocation": ALLOCATION}),
                                "BTC/USDT")
            c0 = time.process_time()
            engine.run()
            cpu[label].append(time.process_time() - c0)
            if args.batch:
                batch_rates[label].append(batch_run(bars, interval, limits, engine, run, label))
            t1 = time.perf_counter()
            curve = engine.equity_curve()
            post_s = time.perf_counter() - t1
            rate = engine.events_processed / engine.elapsed_seconds
            rates[label].append(rate)
            risk = engine.risk
            print(f"run {run + 1} {label}: {engine.events_processed:,} events in "
                  f"{engine.elapsed_seconds:.3f} s ({cpu[label][-1]:.3f} s CPU) = {rate:,.0f} "
                  f"events/s; fills "
                  f"{len(engine.fills):,}, round trips {len(engine.portfolio.trades):,}, "
                  f"denied {risk.n_denied:,}, reduced {risk.n_reduced:,}, final equity "
                  f"{curve['equity'].iloc[-1]:,.2f}; equity curve built in {post_s:.3f} s")
    bare = bare_loop_rate(bars["close"].to_numpy().tolist())
    print(f"reference: a bare Python loop with the same incremental SMAs and cross detection, "
          f"no engine, no orders: {bare:,.0f} events/s")
    off, on = (statistics.median(rates[k]) for k in ("rules off", "every rule on"))
    print(f"median over {args.repeat} runs: rules off {off:,.0f} events/s (best "
          f"{max(rates['rules off']):,.0f}); every rule on {on:,.0f} events/s (best "
          f"{max(rates['every rule on']):,.0f}); the rules cost {100 * (1 - on / off):.1f} %")
    cpu_off, cpu_on = (statistics.median(cpu[k]) for k in ("rules off", "every rule on"))
    print(f"CPU time, median over {args.repeat} runs: rules off {cpu_off:.3f} s, every rule "
          f"on {cpu_on:.3f} s; the rules cost {100 * (1 - cpu_off / cpu_on):.1f} % of the "
          f"throughput by CPU time ({100 * (cpu_on / cpu_off - 1):.1f} % more CPU per event)")
    if args.batch:
        b_off, b_on = (statistics.median(batch_rates[k]) for k in ("rules off", "every rule on"))
        print(f"batch pass, median over {args.repeat} runs: rules off {b_off:,.0f} events/s "
              f"({b_off / off:.1f}x the hooks); every rule on {b_on:,.0f} events/s "
              f"({b_on / on:.1f}x); the rules cost {100 * (1 - b_on / b_off):.1f} %")
        print(f"batch_events_per_second_rules_on: {b_on:.0f}")
        print(f"batch_events_per_second: {b_off:.0f}")
    print(f"events_per_second_rules_on: {on:.0f}")
    print(f"events_per_second: {off:.0f}")


if __name__ == "__main__":
    main()
