"""Peers on the standard workload's data: vectorbt and backtrader (the ``peers`` extra).

Figures to read beside ``benchmarks/throughput.py``'s, not equal workloads. The peers run the
same strategies' signals on the same trades, each trade taken as a one-price bar:

- **vectorbt**: SMA crossover (500/2000) and momentum (2000-trade rate of change beyond
  +-1%, long only) on all 8 symbols x 2,000,000 trades, ``Portfolio.from_signals`` with the
  same fee and slippage. Signals and fills are vectorized over whole columns: no volume cap
  (an order fills in full at one price), no portfolio-level risk limits, no shared cash across
  symbols, no event-time interleaving. Timed warm (its kernels compiled by a first run), from
  the catalog read to the portfolios' total returns, and for the compute alone.
- **backtrader**: the SMA crossover on one symbol's first ``--backtrader-events`` trades
  (its per-event Python loop would take many minutes on all 16 M), with the same commission
  and slippage.

    .venv/bin/pip install -e '.[peers]'
    .venv/bin/python benchmarks/peers.py [--events 2000000] [--backtrader-events 200000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd

from engine.data.catalog import ParquetCatalog

FEE = 0.0005        # 5 bps taker fee, as the standard workload
SLIPPAGE = 0.0001   # 1 bp
CAPITAL = 100_000.0


def load_prices(root: Path, symbols: list[str]) -> pd.DataFrame:
    """Each symbol's trade prices as one column (rows are trade numbers, not times)."""
    catalog = ParquetCatalog(root)
    columns = {s: catalog.read("SIM", s, "trade")["price"].to_numpy() for s in symbols}
    n = min(len(c) for c in columns.values())
    return pd.DataFrame({s: c[:n] for s, c in columns.items()})


def vectorbt_run(close: pd.DataFrame) -> dict[str, Any]:
    """SMA crossover and momentum portfolios over every column; returns orders and returns."""
    import vectorbt as vbt

    share = CAPITAL / (2 * close.shape[1])
    fast, slow = vbt.MA.run(close, 500), vbt.MA.run(close, 2000)
    sma = vbt.Portfolio.from_signals(close, fast.ma_crossed_above(slow),
                                     fast.ma_crossed_below(slow), fees=FEE, slippage=SLIPPAGE,
                                     init_cash=share, freq="1s")
    roc = close / close.shift(2000) - 1.0
    momentum = vbt.Portfolio.from_signals(close, roc > 0.01, roc < -0.01, fees=FEE,
                                          slippage=SLIPPAGE, init_cash=share, freq="1s")
    return {"orders": int(sma.orders.count().sum() + momentum.orders.count().sum()),
            "mean_return": float((sma.total_return().mean() + momentum.total_return().mean())
                                 / 2)}


def time_vectorbt(root: Path, symbols: list[str]) -> dict[str, Any]:
    close = load_prices(root, symbols)
    vectorbt_run(close.iloc[:5000])            # compile its kernels first
    t0 = time.perf_counter()
    close = load_prices(root, symbols)
    t1 = time.perf_counter()
    out = vectorbt_run(close)
    t2 = time.perf_counter()
    events = close.size
    return {"events": events, "seconds": t2 - t0, "compute_seconds": t2 - t1, **out}


def time_backtrader(root: Path, symbol: str, events: int) -> dict[str, Any]:
    import backtrader as bt

    trades = ParquetCatalog(root).read("SIM", symbol, "trade").iloc[:events]
    frame = pd.DataFrame({"open": trades["price"].to_numpy(), "high": trades["price"].to_numpy(),
                          "low": trades["price"].to_numpy(), "close": trades["price"].to_numpy(),
                          "volume": trades["size"].to_numpy()},
                         index=pd.to_datetime(trades["ts"].to_numpy() // 1000, unit="us"))

    class SmaCross(bt.Strategy):
        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=500), bt.ind.SMA(period=2000))

        def next(self) -> None:
            if self.cross > 0:
                self.order_target_percent(target=0.95)
            elif self.cross < 0:
                self.order_target_percent(target=0.0)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(CAPITAL)
    cerebro.broker.setcommission(commission=FEE)
    cerebro.broker.set_slippage_perc(SLIPPAGE)
    t0 = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - t0
    return {"events": len(frame), "seconds": seconds, "value": cerebro.broker.getvalue()}


def report(root: Path, symbols: list[str], backtrader_events: int) -> list[str]:
    """Lines for the peers that are installed (and a line saying which are not)."""
    return measure(root, symbols, backtrader_events)[0]


def measure(root: Path, symbols: list[str],
            backtrader_events: int) -> tuple[list[str], dict[str, float]]:
    """:func:`report`'s lines, and the figures behind them: ``vectorbt_events_per_second``
    (end to end, the catalog read included) and ``vectorbt_compute_events_per_second``, for
    the peers that are installed."""
    lines = []
    figures: dict[str, float] = {}
    try:
        import vectorbt
        v = time_vectorbt(root, symbols)
        figures["vectorbt_events_per_second"] = v["events"] / v["seconds"]
        figures["vectorbt_compute_events_per_second"] = v["events"] / v["compute_seconds"]
        lines.append(f"vectorbt {vectorbt.__version__}, sma_cross + momentum signals, "
                     f"{len(symbols)} x {v['events'] // len(symbols):,} trades: "
                     f"{v['seconds']:.2f}s with the catalog read "
                     f"({v['events'] / v['seconds']:,.0f} events/s), compute alone "
                     f"{v['compute_seconds']:.2f}s ({v['events'] / v['compute_seconds']:,.0f} "
                     f"events/s); {v['orders']:,} orders, each filled whole")
    except ImportError:
        lines.append("vectorbt: not installed (pip install -e '.[peers]')")
    try:
        import backtrader
        b = time_backtrader(root, symbols[0], backtrader_events)
        lines.append(f"backtrader {backtrader.__version__}, sma_cross on {symbols[0]}'s first "
                     f"{b['events']:,} trades: {b['seconds']:.2f}s "
                     f"({b['events'] / b['seconds']:,.0f} events/s)")
    except ImportError:
        lines.append("backtrader: not installed (pip install -e '.[peers]')")
    return lines, figures


def main() -> None:
    from throughput import SYMBOLS, prepare_catalog

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--symbols", type=int, default=8)
    ap.add_argument("--events", type=int, default=2_000_000, help="trades per symbol")
    ap.add_argument("--backtrader-events", type=int, default=200_000)
    ap.add_argument("--catalog", default=None)
    args = ap.parse_args()
    symbols = SYMBOLS[:args.symbols]
    root = Path(args.catalog or Path(__file__).parent / ".data" / f"catalog-{args.events}")
    prepare_catalog(root, symbols, args.events)
    for line in report(root, symbols, args.backtrader_events):
        print(line)


if __name__ == "__main__":
    main()
