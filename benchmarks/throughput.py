"""Actor-graph throughput: the standard workload, end to end.

8 symbols x 2,000,000 synthetic trades each (16 M unique market events, read from a Parquet
catalog), SMA crossover and momentum on every symbol (16 (symbol, strategy) pairs, batch
paths), taker fees, fixed slippage, a 25% volume cap and full accounting (a spot account),
timed from the coordinator receiving the spec to the assembled result (Ray already started,
data already in the catalog). Each configuration runs twice, alternately: "rules off" (the
account only) and "every rule on" (``EVERY_RULE``: position, order and exposure limits,
breakers, cooldowns, correlation groups, the regime filter, the cost check, the order-rate
throttle, loose enough to weigh every order without stopping the strategies); the table says
what the rules cost.

Prints a table for 1 and 2 strategy-worker processes (and any ``--workers`` given): seconds,
unique market events per second, event deliveries per second (each pair's events), fills,
denials, the machine's peak memory in use above the pre-run baseline, and "host": millions
of iterations per second of a fixed Python loop just before the run (a shared machine's speed
swings by up to 2x within minutes; compare figures taken at similar host speeds). A run is
"cold" when actor processes started for it (the coordinator keeps the last run's graph and
resets the actors a new run shares with it: a run of another worker count starts only its
workers) or its data was read from the catalog, "warm" when it reused every process and the
data kept from the previous run. Ends with
``cold_start_unique_events_per_second`` (the best cold run) and
``unique_events_per_second: N`` (the best warm run), after ``pass_events_per_second`` (the
execution pass's own rate), ``two_vs_one_worker`` and ``cold_vs_warm_time``; with
``--peers``, last, ``ratio_vs_vectorbt: R`` (ours, best warm, over vectorbt end to end).

    .venv/bin/python benchmarks/throughput.py [--symbols 8] [--events 2000000] [--workers 1 2]
        [--repeat 1] [--single] [--peers]
    (--single also times the single-process batch and hook runs; --peers runs vectorbt and
    backtrader on the same data, from the ``peers`` extra)
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

from engine.config import BacktestConfig
from engine.data.catalog import ParquetCatalog

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT",
           "DOGE/USDT", "AVAX/USDT"]
STRATEGIES = [{"strategy": "sma_cross", "params": {"fast": 500, "slow": 2000}},
              {"strategy": "momentum", "params": {"lookback": 2000, "threshold": 0.01}}]


def prepare_catalog(root: Path, symbols: list[str], events: int) -> None:
    """Write the synthetic trades once; later runs reuse them."""
    from engine.synthetic import synthetic_trades

    catalog = ParquetCatalog(root)
    have = set(catalog.symbols(venue="SIM", kind="trade")) if root.exists() else set()
    for i, symbol in enumerate(symbols):
        if symbol in have:
            continue
        t0 = time.perf_counter()
        frame = synthetic_trades(symbol, seed=100 + i, n_trades=events)
        catalog.write(frame, venue="SIM", symbol=symbol, kind="trade", mode="replace")
        print(f"  catalog: {symbol} {len(frame):,} trades written in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)


# every rule on, loose: each order is weighed by all of them, few are refused
EVERY_RULE = {
    "max_open_positions": 16, "max_gross_exposure": 1.0, "max_net_exposure": 1.0,
    "max_position_share": 0.5, "max_order_notional": 1e9, "max_drawdown": 0.9,
    "max_daily_loss": 0.9, "max_consecutive_losses": 1000, "cooldown": "1s",
    "cooldown_max": "1s", "correlation_threshold": 0.9, "max_group_exposure": 0.95,
    "block_regime": "HIGHLY_VOLATILE", "volatile_scale": 0.999999, "max_cost_bps": 1e6,
    "max_orders_per_minute": 10_000,
    "market_stats": {"regime_thresholds": [25.0, 75.0, 99.99]},
}


def spec(root: Path, symbols: list[str], rules: bool = False) -> BacktestConfig:
    return BacktestConfig.from_dict({
        "data": f"catalog:{root}", "venue": "SIM", "symbols": symbols,
        "strategies": STRATEGIES, "capital": 100_000, "taker_fee_bps": 5.0,
        "slippage_bps": 1.0, "max_volume_share": 0.25, **(EVERY_RULE if rules else {})})


class PeakMemory:
    """Peak of the machine's memory in use (MemTotal - MemAvailable) above a baseline."""

    def __init__(self) -> None:
        self.baseline = self.peak = _used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, _used())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def above_baseline_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


def _used() -> int:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            info[name] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


def _risk_build() -> str:
    from engine.risk import compiled
    return "compiled" if compiled() else "interpreted (not built: see setup.py)"


def host_speed() -> float:
    """Millions of iterations per second of a fixed pure-Python loop: this machine's speed
    at the moment (shared hosts swing by 2x within minutes), to read the figures against."""
    t0 = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return 2.0 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", type=int, default=8)
    ap.add_argument("--events", type=int, default=2_000_000, help="trades per symbol")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--single", action="store_true",
                    help="also time the single-process runs (batch paths, and hooks)")
    ap.add_argument("--catalog", default=None, help="where to keep the benchmark data")
    ap.add_argument("--peers", action="store_true",
                    help="also run vectorbt and backtrader on the same data (benchmarks/peers.py; "
                         "the 'peers' extra)")
    args = ap.parse_args()

    symbols = SYMBOLS[:args.symbols]
    root = Path(args.catalog or Path(__file__).parent / ".data" / f"catalog-{args.events}")
    prepare_catalog(root, symbols, args.events)
    configs = {"rules off": spec(root, symbols), "every rule on": spec(root, symbols, True)}
    n_pairs = len(symbols) * len(STRATEGIES)

    import ray
    from actors.graph import GraphRun, ensure_ray, run_graph

    ensure_ray(num_cpus=os.cpu_count())
    # warm-up: actor processes import the engine and load compiled kernels once (the market
    # statistics' kernels too: the rules are on)
    run_graph(spec(root, symbols[:1], True), workers=1)

    rows = []
    reference: dict[str, Any] = {}
    for workers in args.workers:
        # the first run of a shape starts its actors (cold); the rules off / on pairs after it
        # reuse them (warm), so the two are timed alike
        plan = [("rules off", configs["rules off"])]
        for _ in range(args.repeat):
            plan.extend(configs.items())
        for rules, config in plan:
            speed = host_speed()
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                run = GraphRun(config, workers=workers)
                result = run.result()
                elapsed = time.perf_counter() - t0
            # warm: no actor process started for the run and its data was kept from the last
            # one; cold otherwise (the first run of a worker count starts its own workers,
            # the first one over this data reads the catalog)
            started = result.timing.get("graph_started", [])
            loaded = not result.timing.get("data_reused", False)
            start = "cold" if started or loaded else "warm"
            events = result.metrics["events"]
            rows.append((f"graph, {workers}w, {start}, {rules}", elapsed, events,
                         n_pairs * events / len(symbols), result, mem, speed))
            ref = reference.setdefault(rules, result)
            if ref is not result and not (result.fills.equals(ref.fills)
                                          and result.equity.equals(ref.equity)):
                raise SystemExit(f"{rules}: results differ between worker counts")
            print(f"  {workers} worker(s), {rules}, {start} ({len(started)} actor processes "
                  f"started, data {'loaded' if loaded else 'kept'}): {elapsed:.2f}s; phases "
                  + ", ".join(f"{k.split('[')[0]} {v:.2f}" for k, v in
                              result.timing.get("graph_phases", {}).items())
                  + f"; execution pass {result.timing.get('execution_pass_seconds', 0):.2f}"
                  + f" (waiting on workers "
                    f"{result.timing.get('execution_wait_seconds', 0):.2f})"
                  + f", assemble {result.timing.get('assemble_seconds', 0):.2f}", flush=True)
    config = configs["rules off"]
    if args.single:
        from engine.run import run_config
        for label, batch in (("single process, batch paths", True),
                             ("single process, hooks", False)):
            speed = host_speed()
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                result = run_config(config, batch=batch)
                elapsed = time.perf_counter() - t0
            events = result.metrics["events"]
            rows.append((label, elapsed, events, n_pairs * events / len(symbols), result, mem,
                         speed))
            if not result.fills.equals(reference["rules off"].fills):
                raise SystemExit(f"{label}: result differs from the actor graph")

    print(f"\nworkload: {len(symbols)} symbols x {args.events:,} trades = "
          f"{len(symbols) * args.events:,} unique events; {n_pairs} pairs (sma_cross 500/2000, "
          f"momentum 2000/1%); fees, slippage, volume cap, spot account; "
          f"{os.cpu_count()} cores; the risk engine {_risk_build()}")
    print(f"{'configuration':<38}{'seconds':>9}{'unique ev/s':>14}{'deliveries/s':>15}"
          f"{'fills':>9}{'denied':>8}{'reduced':>8}{'peak MiB':>10}{'host':>7}")
    best = best_cold = 0.0
    by_rules: dict[tuple[str, str], float] = {}
    passes: dict[tuple[str, str], list[float]] = {}
    for label, elapsed, events, deliveries, result, mem, speed in rows:
        rate = events / elapsed
        if label.startswith("graph") and label.endswith("rules off"):
            best = max(best, rate)
            if ", cold," in label:
                best_cold = max(best_cold, rate)
        if label.startswith("graph") and ", warm," in label:
            workers_label, rules = label.split(", ")[1], label.split(", ")[-1]
            key = (workers_label, rules)
            by_rules[key] = max(by_rules.get(key, 0.0), rate)
            passes.setdefault(key, []).append(result.timing.get("execution_pass_seconds", 0.0))
        n_denied = int(result.metrics["n_denied"])
        n_reduced = int(result.metrics.get("n_reduced", 0))
        print(f"{label:<38}{elapsed:>9.2f}{rate:>14,.0f}{deliveries / elapsed:>15,.0f}"
              f"{len(result.fills):>9,}{n_denied:>8,}{n_reduced:>8,}"
              f"{mem.above_baseline_mib:>10,.0f}{speed:>7.1f}")
    for workers in args.workers:
        off = by_rules.get((f"{workers}w", "rules off"))
        on = by_rules.get((f"{workers}w", "every rule on"))
        if off and on:
            print(f"{workers} worker(s), best warm run each: rules off {off:,.0f}, every rule on "
                  f"{on:,.0f} unique events/s; the rules cost {100 * (1 - on / off):.1f} %")
            p_off = min(passes[(f"{workers}w", "rules off")])
            p_on = min(passes[(f"{workers}w", "every rule on")])
            print(f"{workers} worker(s), the execution pass (where the rules decide), best each: "
                  f"rules off {p_off:.2f} s, every rule on {p_on:.2f} s "
                  f"(+{100 * (p_on / p_off - 1):.1f} %)")
    figures: dict[str, float] = {}
    if args.peers:
        from peers import measure
        print("\npeers on the same trades (signals only: whole fills, no volume cap, no portfolio "
              "risk limits; see benchmarks/peers.py):")
        lines, figures = measure(root, symbols, 200_000)
        for line in lines:
            print("  " + line)
    unique = len(symbols) * args.events
    warm = {w: by_rules.get((f"{w}w", "rules off"), 0.0) for w in args.workers}
    best_warm = max(warm.values(), default=0.0)
    if best_warm == 0.0:   # a single configuration ran: no warm run to report
        best_warm = best
    pass_seconds = [s for (w, rules), ss in passes.items() if rules == "rules off" for s in ss]
    if pass_seconds:
        print(f"pass_events_per_second: {unique / min(pass_seconds):.0f}   (the execution "
              f"pass alone, best warm run, rules off)")
    if warm.get(1) and warm.get(2):
        print(f"two_vs_one_worker: {warm[2] / warm[1]:.2f}   (best warm, rules off)")
    if best_cold and best_warm:
        print(f"cold_vs_warm_time: {best_warm / best_cold:.2f}   (a cold run's time over a "
              f"warm one's, best each)")
    print(f"cold_start_unique_events_per_second: {best_cold:.0f}")
    print(f"unique_events_per_second: {best_warm:.0f}")
    vbt = figures.get("vectorbt_events_per_second")
    if vbt:
        print(f"ratio_vs_vectorbt: {best_warm / vbt:.2f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
