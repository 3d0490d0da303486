"""Speed of the market statistics behind the pre-trade risk rules: construction over N symbols
of M events each (irregular trades, a random walk from a fixed seed, a few bad prints; one
symbol in four a quote stream), then the cost of each lookup, as the risk engine makes them
(one call per order, at random event times).

Run: ``.venv/bin/python benchmarks/market_stats.py [--symbols 8] [--events 2000000]``. The
numba kernels are compiled (or loaded from their cache) before timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market_stats import MarketStats, StatsConfig, SymbolEvents
from engine.timeframes import NS_PER_SECOND, parse_time


def market(symbols: int, events: int, seed: int = 1) -> list[SymbolEvents]:
    rng = np.random.default_rng(seed)
    start = parse_time("2023-01-01")
    out = []
    for k in range(symbols):
        # a trade every 0.5 s on average: 2M events span about 11.6 days
        ts = start + np.cumsum(rng.exponential(0.5, events) * NS_PER_SECOND).astype(np.int64)
        price = 100.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0.0, 2e-4, events)))
        price[rng.random(events) < 1e-3] = np.nan
        if k % 4 == 3:
            half = price * 1e-4
            out.append(SymbolEvents(f"S{k}", ts, price, bid=price - half, ask=price + half,
                                    bid_size=rng.exponential(2.0, events),
                                    ask_size=rng.exponential(2.0, events)))
        else:
            out.append(SymbolEvents(f"S{k}", ts, price, rng.exponential(0.3, events)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--interval", default="1h", help="regime and correlation grid")
    args = parser.parse_args()
    config = StatsConfig(regime_interval=args.interval, correlation_interval=args.interval)

    MarketStats(market(2, 5_000), config)   # compile or load the kernels
    events = market(args.symbols, args.events)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        stats = MarketStats(events, config)
        best = min(best, time.perf_counter() - t0)
    print(f"construction: {args.symbols} symbols x {args.events:,} events, grid "
          f"{args.interval}: {best:.3f} s (best of 3)")

    rng = np.random.default_rng(2)
    lo = max(int(e.ts[0]) for e in events)
    hi = min(int(e.ts[-1]) for e in events)
    times = rng.integers(lo, hi, args.lookups).tolist()
    names = [stats.symbols[i] for i in rng.integers(0, len(stats.symbols), args.lookups)]
    others = [stats.symbols[i] for i in rng.integers(0, len(stats.symbols), args.lookups)]
    calls = {
        "regime": lambda s, o, t: stats.regime(s, t),
        "regime_percentile": lambda s, o, t: stats.regime_percentile(s, t),
        "correlation": lambda s, o, t: stats.correlation(s, o, t),
        "correlated": lambda s, o, t: stats.correlated(s, t, 0.7),
        "cost_bps": lambda s, o, t: stats.cost_bps(s, t, 1.5, 100.0),
    }
    for name, call in calls.items():
        t0 = time.perf_counter()
        for s, o, t in zip(names, others, times):
            call(s, o, t)
        per = (time.perf_counter() - t0) / args.lookups
        print(f"{name:>18}: {per * 1e6:5.2f} us per lookup")


if __name__ == "__main__":
    main()
