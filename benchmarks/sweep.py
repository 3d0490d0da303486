"""A parameter sweep against vectorbt's parameter broadcast, in one run.

The workload: SMA crossover over 1,000 (fast, slow) pairs (fast 5, 10, ..., 100; slow 50, 60,
..., 540) on 100,000 one-minute bars of the seeded synthetic BTC/USDT market, 10 bps fees, no
slippage, no volume cap (vectorbt has none), 100,000 of capital, long only.

- **ours**: ``engine.research`` sweeping the grid on Ray worker actors (1 and 2): each pair a
  full backtest through the engine (batch path, event-time pass, spot account, every metric);
  the data put in Ray's object store once. The 36 pairs whose fast average is not shorter
  than the slow one are refused by the strategy's own rules and not run: 964 backtests.
- **vectorbt** (the ``peers`` extra): ``vbt.MA.run`` over the 1,000 pairs as columns,
  ``Portfolio.from_signals`` on the crossings, total return, Sharpe ratio, max drawdown and
  trade count of every column: 1,000 backtests.

Each variant runs in a process of its own, warmed up first (Ray and its workers started,
numba kernels compiled) and timed on the sweep alone; its peak memory is the highest summed
proportional set size (PSS: a page shared by n processes counts 1/n in each) of its whole
process tree (the driver, Ray's own processes and the workers), sampled every 100 ms.
``ours:0`` runs the sweep in one process without Ray. Prints a line per variant, then a final
line per figure.

    .venv/bin/python benchmarks/sweep.py [--bars 100000] [--variants ours:0 ours:1 ours:2 vectorbt]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from typing import Any

FAST = list(range(5, 101, 5))
SLOW = list(range(50, 541, 10))
FEE_BPS = 10.0
CAPITAL = 100_000.0


def bars(n: int) -> Any:
    """The first ``n`` one-minute bars of the synthetic BTC/USDT market."""
    from engine.config import BacktestConfig
    from engine.research.evaluate import job_frames

    days = n // 1440 + 2
    config = BacktestConfig.from_dict({"data": "synthetic", "timeframe": "1m",
                                       "start": "2024-01-01",
                                       "end": str(_day(days)), "symbols": ["BTC/USDT"]})
    return job_frames(config)["BTC/USDT"].iloc[:n].reset_index(drop=True)


def _day(days: int) -> Any:
    import pandas as pd
    return (pd.Timestamp("2024-01-01") + pd.Timedelta(days=days)).date()


def run_ours(n: int, workers: int) -> dict[str, Any]:
    """The sweep on ``workers`` Ray worker actors; seconds of the warm sweep."""
    import ray

    from actors.graph import ensure_ray
    from actors.research import RayEvaluator
    from engine.config import BacktestConfig
    from engine.research.search import build_spec
    from engine.research.sweep import run_sweep

    frame = bars(n)
    config = BacktestConfig.from_dict({
        "strategy": "sma_cross", "data": "frames", "symbols": ["BTC/USDT"], "fee_bps": FEE_BPS,
        "slippage_bps": 0.0, "max_volume_share": 1.0, "capital": CAPITAL})
    frames = {"BTC/USDT": frame}
    t0 = time.perf_counter()
    evaluator: Any = None
    if workers:
        ensure_ray(num_cpus=max(2, workers))
        evaluator = RayEvaluator(config, frames, workers)
    warm = build_spec(config, ["sma_cross.fast=5:10:5", "sma_cross.slow=50:60:10"])
    run_sweep(warm, frames=frames, evaluator=evaluator)   # workers started, kernels loaded
    started = time.perf_counter() - t0
    spec = build_spec(config, [f"sma_cross.fast={FAST[0]}:{FAST[-1]}:5",
                               f"sma_cross.slow={SLOW[0]}:{SLOW[-1]}:10"])
    t1 = time.perf_counter()
    result = run_sweep(spec, frames=frames, evaluator=evaluator)
    seconds = time.perf_counter() - t1
    if workers:
        evaluator.close()
        ray.shutdown()
    table = result.table
    return {"backtests": len(table), "failed": int(table["error"].notna().sum()),
            "skipped": result.summary["skipped"], "seconds": seconds, "start_seconds": started,
            "best": f"fast={result.best[0]['params']['fast']} "
                    f"slow={result.best[0]['params']['slow']} "
                    f"sharpe={result.best[0]['metrics']['sharpe']:.3f}",
            "mean_trades": float(table["n_trades"].astype(float).mean())}


def run_vectorbt(n: int) -> dict[str, Any]:
    """vectorbt's parameter broadcast over the same pairs; seconds of the warm run."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    frame = bars(n)
    close = pd.Series(frame["close"].to_numpy(),
                      index=pd.to_datetime(frame["ts"].to_numpy(), unit="ns"), name="close")
    pairs = [(f, s) for f in FAST for s in SLOW]

    def sweep(close: pd.Series, pairs: list[tuple[int, int]]) -> dict[str, Any]:
        fast = vbt.MA.run(close, window=[f for f, _ in pairs], short_name="fast")
        slow = vbt.MA.run(close, window=[s for _, s in pairs], short_name="slow")
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        pf = vbt.Portfolio.from_signals(close, entries, exits, fees=FEE_BPS * 1e-4,
                                        init_cash=CAPITAL, freq="1min")
        sharpe = pf.sharpe_ratio().to_numpy()
        best = int(np.nanargmax(sharpe))
        return {"backtests": len(pairs), "total_return": pf.total_return().to_numpy(),
                "max_drawdown": pf.max_drawdown().to_numpy(),
                "mean_trades": float(pf.trades.count().to_numpy().mean()),
                "best": f"fast={pairs[best][0]} slow={pairs[best][1]} "
                        f"sharpe={sharpe[best]:.3f} (annualized per minute)"}

    t0 = time.perf_counter()
    sweep(close.iloc[:2000], pairs[:4])     # compile its kernels
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = sweep(close, pairs)
    seconds = time.perf_counter() - t1
    return {"backtests": out["backtests"], "failed": 0, "skipped": 0, "seconds": seconds,
            "start_seconds": started, "best": out["best"], "mean_trades": out["mean_trades"]}


def measure(variant: str, n: int) -> dict[str, Any]:
    """Run ``variant`` in a child process; its figures and its tree's peak memory."""
    import psutil

    child = subprocess.Popen([sys.executable, __file__, "--child", variant, "--bars", str(n)],
                             stdout=subprocess.PIPE, text=True)
    peak = 0
    root = psutil.Process(child.pid)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            total = 0
            with contextlib.suppress(psutil.Error):
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_full_info().pss
            peak = max(peak, total)
            stop.wait(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, _ = child.communicate()
    stop.set()
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"{variant} failed (exit {child.returncode})")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["peak_mb"] = peak / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--variants", nargs="+",
                        default=["ours:0", "ours:1", "ours:2", "vectorbt"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, _, workers = args.child.partition(":")
        got = run_ours(args.bars, int(workers)) if kind == "ours" else run_vectorbt(args.bars)
        print(json.dumps(got))
        return
    n = args.bars
    print(f"SMA crossover, {len(FAST) * len(SLOW)} (fast, slow) pairs, {n:,} one-minute bars, "
          f"{FEE_BPS:g} bps fees")
    results = {}
    for variant in args.variants:
        r = results[variant] = measure(variant, n)
        rate = r["backtests"] / r["seconds"]
        print(f"{variant:>9}: {r['backtests']} backtests ({r['failed']} failed, {r['skipped']} "
              f"skipped) in {r['seconds']:.1f} s (start-up {r['start_seconds']:.1f} s): "
              f"{rate:.1f} backtests/s, {rate * n / 1e6:.1f} M bar evaluations/s, peak memory "
              f"{r['peak_mb']:,.0f} MB; {r['mean_trades']:.0f} trades per backtest on average; "
              f"best {r['best']}", flush=True)
    for variant, r in results.items():
        rate = r["backtests"] / r["seconds"]
        print(f"backtests_per_second[{variant}]: {rate:.2f}")
        print(f"bar_evaluations_per_second[{variant}]: {rate * n:.0f}")
        print(f"peak_memory_mb[{variant}]: {r['peak_mb']:.0f}")
    if "vectorbt" in results:
        v = results["vectorbt"]
        for variant, r in results.items():
            if variant != "vectorbt":
                speed = (r["backtests"] / r["seconds"]) / (v["backtests"] / v["seconds"])
                print(f"speed_vs_vectorbt[{variant}]: {speed:.2f}")
                print(f"memory_vs_vectorbt[{variant}]: {r['peak_mb'] / v['peak_mb']:.3f}")


if __name__ == "__main__":
    main()
