"""Writing a large result: the fills and trades tables as CSV and as Parquet, and the whole
``BacktestResult.write`` in each format, with seconds, rows per second, file sizes and peak
memory, beside the least time a backtest that books that many fills can take.

    python benchmarks/result_writing.py [--fills 3000000] [--dir /path/on/the/output/disk]

The fills are synthesized as the engine books them: ``OrderFilled`` records of 4 symbols x 2
strategies over a year, a long round trip every two fills (taker entries, some maker exits),
prices on a random walk, each order its own id. The engine's own ``_fills_frame`` turns them
into the result's fills table (timed too: it is part of assembling the result, not of writing
it); the trades table has one closed trade per two fills, the equity curve a year of minutes;
config and metrics come from a short real backtest. Synthesizing is the quick way to millions
of fills: a backtest that books them needs at least as many events, which is the budget
printed at the end.

Each measurement runs in a forked process, so its peak memory (the growth of the resident set
over what the process held when it started: ``VmHWM`` after ``clear_refs``, else ``ru_maxrss``)
is its own and no measurement warms the next one's caches.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import multiprocessing
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet  # noqa: F401  (loaded here, so no measurement counts loading it)

import engine
from engine.clock import perf_seconds
from engine.messages import OrderFilled
from engine.result import BacktestResult
from engine.result_files import write_csv, write_parquet
from engine.run import _TRADE_COLUMNS, _fills_frame

SYMBOLS = {"BTC/USDT": 42_000.0, "ETH/USDT": 2_300.0, "SOL/USDT": 95.0, "BNB/USDT": 310.0}
STRATEGIES = ("sma_cross", "momentum")
YEAR_NS = 365 * 86_400 * 10**9
START_NS = 1_704_067_200 * 10**9          # 2024-01-01
TAKER_BPS, MAKER_BPS = 5.0, 2.0
# what the project's benchmarks measure (README, "Benchmarks")
SINGLE_PROCESS_EVENTS_PER_S = 0.6e6
GRAPH_EVENTS_PER_S = 3.5e6


def synthetic_fills(n: int, seed: int = 7) -> list[OrderFilled]:
    """``n`` fills (``n`` even) as the engine books them: fill ``2k`` opens a long round trip of
    one (symbol, strategy) pair, fill ``2k + 1`` closes it."""
    rng = np.random.default_rng(seed)
    pairs = [(s, f"{name}:{s}") for s in SYMBOLS for name in STRATEGIES]
    pair = (np.arange(n) // 2) % len(pairs)
    ts = START_NS + np.sort(rng.integers(0, YEAR_NS, n))
    base = np.array([SYMBOLS[s] for s, _ in pairs])[pair]
    price = base * np.exp(np.cumsum(rng.normal(0.0, 2e-4, n)))
    notional = rng.lognormal(np.log(2_000.0), 0.6, n // 2).repeat(2)
    qty = np.round(notional / price, 6)
    qty[1::2] = qty[::2]                     # the exit sells what the entry bought
    maker = rng.random(n) < 0.3
    maker[::2] = False                       # entries are market orders
    slippage = np.where(maker, 0.0, 1.0)
    fee = qty * price * np.where(maker, MAKER_BPS, TAKER_BPS) / 1e4
    sides = np.tile(["BUY", "SELL"], n // 2)
    liquidity = np.where(maker, "MAKER", "TAKER")
    strategy_ids = [pairs[p][1] for p in pair.tolist()]
    symbols = [pairs[p][0] for p in pair.tolist()]
    order_ids = [f"{sid}-{i // len(pairs) + 1}" for i, sid in enumerate(strategy_ids)]
    ts_list = ts.tolist()
    return list(map(OrderFilled, strategy_ids, ["SIM"] * n, symbols, order_ids,
                    [f"v{i}" for i in range(n)], [f"t{i}" for i in range(n)], sides.tolist(),
                    qty.tolist(), price.tolist(), qty.tolist(), [0.0] * n,
                    liquidity.tolist(), fee.tolist(), slippage.tolist(), ts_list, ts_list))


def trades_from(fills: pd.DataFrame) -> pd.DataFrame:
    """One closed long trade per (entry, exit) pair of fills, in the trades table's columns."""
    entry, exit_ = fills.iloc[::2].reset_index(drop=True), fills.iloc[1::2].reset_index(drop=True)
    qty = entry["qty"].to_numpy()
    gross = (exit_["price"].to_numpy() - entry["price"].to_numpy()) * qty
    fees = entry["fee"].to_numpy() + exit_["fee"].to_numpy()
    trades = pd.DataFrame({
        "symbol": entry["symbol"], "strategy_id": entry["strategy_id"], "direction": "LONG",
        "entry_ts": entry["ts"], "exit_ts": exit_["ts"],
        "duration_ns": exit_["ts"].to_numpy() - entry["ts"].to_numpy(), "qty": qty,
        "entry_price": entry["price"], "exit_price": exit_["price"], "pnl_gross": gross,
        "fees": fees, "pnl": gross - fees,
        "return_pct": 100.0 * (gross - fees) / (entry["price"].to_numpy() * qty),
        "n_entries": 1})
    return trades[_TRADE_COLUMNS]


def year_of_equity(capital: float, seed: int = 7) -> pd.DataFrame:
    """The equity curve of a year at the default one-minute resolution (result.json holds it)."""
    n = 365 * 24 * 60
    equity = capital * np.exp(np.cumsum(np.random.default_rng(seed).normal(0.0, 1e-4, n)))
    exposure = equity * 0.5
    return pd.DataFrame({"ts": START_NS + np.arange(n, dtype=np.int64) * 60 * 10**9,
                         "equity": equity, "cash": equity - exposure,
                         "gross_exposure": exposure, "leverage": exposure / equity,
                         "margin_used": 0.0})


def build_result(n: int) -> tuple[BacktestResult, float]:
    """A result holding ``n`` synthetic fills, and the seconds ``_fills_frame`` took."""
    records = synthetic_fills(n)
    start = perf_seconds()
    fills = _fills_frame(records)
    frame_seconds = perf_seconds() - start
    del records
    gc.collect()
    small = engine.backtest("sma_cross", {"fast": 3, "slow": 8}, data="synthetic",
                            start="2024-01-01", end="2024-01-15")
    result = dataclasses.replace(small, fills=fills, trades=trades_from(fills),
                                 equity=year_of_equity(small.config.capital))
    result.metrics["n_fills"] = len(fills)
    return result, frame_seconds


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _measure(job: Callable[[Path], Path], out: Path, conn: Any) -> None:
    """In the forked child: run ``job(out)``, send back seconds and peak memory growth."""
    try:
        Path("/proc/self/clear_refs").write_text("5")    # VmHWM restarts from VmRSS
        before, peak_field = _rss_kb("VmRSS"), "VmHWM"
    except OSError:
        before, peak_field = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, ""
    start = perf_seconds()
    written = job(out)
    seconds = perf_seconds() - start
    peak = _rss_kb(peak_field) if peak_field else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = [written] if written.is_file() else sorted(written.iterdir())
    conn.send((seconds, (peak - before) / 1024, sum(p.stat().st_size for p in files)))
    conn.close()


def measure(job: Callable[[Path], Path], out: Path) -> tuple[float, float, int]:
    """(seconds, peak memory growth in MB, bytes written) of ``job(out)`` in a forked child."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_measure, args=(job, out, child))
    proc.start()
    figures = parent.recv()
    proc.join()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=3_000_000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    n = args.fills - args.fills % 2
    result, frame_seconds = build_result(n)
    fills, trades = result.fills, result.trades
    held = fills.memory_usage(deep=True).sum() / 2**20
    print(f"{n:,} fills, {len(trades):,} trades; the fills table holds {held:,.0f} MB; "
          f"_fills_frame built it in {frame_seconds:.2f} s")

    def table(frame: pd.DataFrame, name: str, writer: Callable[..., None]) -> Callable[..., Path]:
        def job(out: Path) -> Path:
            path = out / name
            writer(frame, path, name.partition(".")[0])
            return path
        return job

    jobs: list[tuple[str, int, Callable[[Path], Path]]] = [
        ("fills.csv", n, table(fills, "fills.csv", write_csv)),
        ("fills.parquet", n, table(fills, "fills.parquet", write_parquet)),
        ("trades.csv", len(trades), table(trades, "trades.csv", write_csv)),
        ("trades.parquet", len(trades), table(trades, "trades.parquet", write_parquet)),
        ("result.json", len(trades), lambda out: _write_json(result, out)),
        ("write() csv", n, lambda out: result.write(out / "csv", "csv")),
        ("write() auto", n, lambda out: result.write(out / "auto", "auto")),
    ]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'what':<16} {'rows':>11} {'seconds':>8} {'rows/s':>12} {'MB':>8} "
              f"{'peak MB':>8}")
        seconds = {}
        for what, rows, job in jobs:
            secs, peak_mb, size = measure(job, Path(tmp))
            seconds[what] = secs
            print(f"{what:<16} {rows:>11,} {secs:>8.2f} {rows / secs:>12,.0f} "
                  f"{size / 2**20:>8.1f} {peak_mb:>8.0f}")
    single = n / SINGLE_PROCESS_EVENTS_PER_S
    graph = n / GRAPH_EVENTS_PER_S
    print(f"a backtest booking {n:,} fills handles at least as many events: "
          f"{single:.1f} s single-process (0.6 M events/s), {graph:.1f} s on the graph "
          f"(3.5 M events/s)")
    for what in ("write() csv", "write() auto"):
        print(f"{what}: {seconds[what] / single:.2f} x the single-process budget, "
              f"{seconds[what] / graph:.2f} x the graph's")


def _write_json(result: BacktestResult, out: Path) -> Path:
    path = out / "result.json"
    result._write_json(path, result.table_files())     # what write() does
    return path


if __name__ == "__main__":
    main()
