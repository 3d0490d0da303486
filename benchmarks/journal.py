"""Journal append cost: appends per second and microseconds per append with SQLite
``synchronous=FULL`` (what live trading uses) and ``NORMAL``, for single appends (each its own
fsynced transaction) and ``append_many`` batches. The figures depend on the disk: run it on
the machine that will trade.

    python benchmarks/journal.py [--n 2000] [--dir /path/on/the/trading/disk]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from engine.clock import perf_seconds
from engine.live.journal import Journal
from engine.messages import OrderFilled


def fill(i: int) -> OrderFilled:
    return OrderFilled("sma", "binance", "BTC/USDT", f"rt{i:020d}", f"v{i}", f"t{i}", "BUY",
                       0.01, 65_000.0 + i, 0.01, 0.0, "TAKER", 0.65, 0.0, i, i)


def measure(directory: Path, synchronous: str, n: int, batch: int) -> float:
    path = directory / f"bench-{synchronous}-{batch}.journal"
    records = [fill(i) for i in range(n)]
    with Journal(path, initial_cash=1e6, synchronous=synchronous) as j:
        start = perf_seconds()
        if batch == 1:
            for r in records:
                j.append(r)
        else:
            for i in range(0, n, batch):
                j.append_many(records[i:i + batch])
        return n / (perf_seconds() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'synchronous':>11} {'batch':>5} {'appends/s':>11} {'us/append':>10}")
        for synchronous in ("FULL", "NORMAL"):
            for batch in (1, 10):
                rate = measure(Path(tmp), synchronous, args.n, batch)
                print(f"{synchronous:>11} {batch:>5} {rate:>11,.0f} {1e6 / rate:>10.1f}")


if __name__ == "__main__":
    main()
