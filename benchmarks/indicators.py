"""Speed of every indicator in both forms over 1,000,000 synthetic one-minute bars (a random
walk from a fixed seed): updates per second of the incremental form (one ``update`` call per
bar, as a strategy hook makes them) and values per second of the vectorized form.

Run: ``.venv/bin/python benchmarks/indicators.py [--n N]``. The numba kernels are compiled (or
loaded from their cache) before timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine.indicators as ind
from engine.timeframes import NS_PER_MINUTE, parse_time

# name, incremental factory, fields it reads, vectorized call
CASES: list[tuple[str, Callable[[], object], tuple[str, ...], Callable[[dict], object]]] = [
    ("SMA(20)", lambda: ind.SMA(20), ("close",), lambda m: ind.sma(m["close"], 20)),
    ("EMA(20)", lambda: ind.EMA(20), ("close",), lambda m: ind.ema(m["close"], 20)),
    ("WMA(20)", lambda: ind.WMA(20), ("close",), lambda m: ind.wma(m["close"], 20)),
    ("RSI(14)", lambda: ind.RSI(14), ("close",), lambda m: ind.rsi(m["close"], 14)),
    ("MACD(12,26,9)", lambda: ind.MACD(), ("close",), lambda m: ind.macd(m["close"])),
    ("BBANDS(20,2,2)", lambda: ind.BollingerBands(), ("close",),
     lambda m: ind.bbands(m["close"])),
    ("STDDEV(20)", lambda: ind.StdDev(20), ("close",), lambda m: ind.stddev(m["close"], 20)),
    ("ZSCORE(20)", lambda: ind.ZScore(20), ("close",), lambda m: ind.zscore(m["close"], 20)),
    ("ROC(10)", lambda: ind.ROC(10), ("close",), lambda m: ind.roc(m["close"], 10)),
    ("MOM(10)", lambda: ind.MOM(10), ("close",), lambda m: ind.mom(m["close"], 10)),
    ("ATR(14)", lambda: ind.ATR(14), ("high", "low", "close"),
     lambda m: ind.atr(m["high"], m["low"], m["close"], 14)),
    ("ADX(14)", lambda: ind.ADX(14), ("high", "low", "close"),
     lambda m: ind.adx(m["high"], m["low"], m["close"], 14)),
    ("STOCH(5,3,3)", lambda: ind.Stochastic(), ("high", "low", "close"),
     lambda m: ind.stoch(m["high"], m["low"], m["close"])),
    ("DONCHIAN(20)", lambda: ind.Donchian(20), ("high", "low"),
     lambda m: ind.donchian(m["high"], m["low"], 20)),
    ("OBV", lambda: ind.OBV(), ("close", "volume"),
     lambda m: ind.obv(m["close"], m["volume"])),
    ("VWAP trades", lambda: ind.VWAP(), ("ts", "close", "volume"),
     lambda m: ind.vwap(m["ts"], m["close"], m["volume"])),
]


def market(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    return {
        "ts": parse_time("2024-01-01") + NS_PER_MINUTE * np.arange(n, dtype=np.int64),
        "high": close * (1.0 + rng.exponential(0.0005, n)),
        "low": close * (1.0 - rng.exponential(0.0005, n)),
        "close": close,
        "volume": rng.exponential(2.0, n),
    }


def per_second(count: int, fn: Callable[..., object], *args: object, repeat: int = 1) -> float:
    """Values per second of the fastest of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - began)
    return count / best


def run_incremental(make: Callable[[], object], columns: list[list]) -> None:
    update = make().update
    if len(columns) == 1:
        for x in columns[0]:
            update(x)
    else:
        for row in zip(*columns):
            update(*row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="bars (default 1,000,000)")
    n = parser.parse_args().n
    data = market(n)
    warm = market(100)
    for _, _, _, batch in CASES:
        batch(warm)   # compile or load the numba kernels outside the timings
    lists = {name: column.tolist() for name, column in data.items()}
    print(f"{n:,} synthetic 1m bars (random walk, seed 7)\n")
    print(f"{'indicator':<16} {'incremental updates/s':>22} {'vectorized values/s':>20}")
    for name, make, fields, batch in CASES:
        columns = [lists[f] for f in fields]
        incremental = per_second(n, run_incremental, make, columns)
        vectorized = per_second(n, batch, data, repeat=3)
        print(f"{name:<16} {incremental:>22,.0f} {vectorized:>20,.0f}")


if __name__ == "__main__":
    main()
