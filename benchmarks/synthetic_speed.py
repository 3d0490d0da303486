"""Generation speed of the synthetic market: 1,000,000 one-minute bars, 2,000,000 trades for
one symbol and for 8 symbols, and the quotes of 2,000,000 trades.

Run: ``.venv/bin/python benchmarks/synthetic_speed.py``. The first call compiles (or loads)
the numba kernels and is timed apart.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.synthetic import SyntheticMarket, synthetic_bars, synthetic_trades

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "DOGE/USDT", "ADA/USDT",
           "AVAX/USDT", "PEPE/USDT")


def timed(label: str, rows_label: str, fn: Callable[[], int]) -> None:
    began = time.perf_counter()
    rows = fn()
    seconds = time.perf_counter() - began
    print(f"{label:<44} {seconds:8.2f} s  {rows / seconds:14,.0f} {rows_label}/s  ({rows:,} rows)")


def main() -> None:
    began = time.perf_counter()
    synthetic_bars("BTC/USDT", seed=1, n_bars=10)
    print(f"{'warm-up (numba compile or cache load)':<44} {time.perf_counter() - began:8.2f} s")

    timed("1,000,000 x 1m bars (BTC/USDT, 20 trades/min)", "bars",
          lambda: len(synthetic_bars("BTC/USDT", seed=1, n_bars=1_000_000, timeframe="1m")))
    timed("2,000,000 trades (BTC/USDT)", "trades",
          lambda: len(synthetic_trades("BTC/USDT", seed=1, n_trades=2_000_000)))
    timed("8 symbols x 2,000,000 trades", "trades",
          lambda: sum(len(synthetic_trades(s, seed=1, n_trades=2_000_000)) for s in SYMBOLS))
    end_ns = SyntheticMarket("BTC/USDT").start + 100_000 * 60 * 1_000_000_000
    timed("quotes of ~2,000,000 trades (BTC/USDT)", "quotes",
          lambda: len(SyntheticMarket("BTC/USDT", seed=1, end=end_ns).quotes()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
