"""Speed of every built-in strategy, default parameters, over synthetic one-minute bars of one
symbol (200,000 by default): events per second through the per-event hooks
(``BacktestEngine.run``) and through the batch path (``BacktestEngine.run_batch``), with the
fills of each run and whether the two paths filled alike.

Run: ``.venv/bin/python benchmarks/strategy_speed.py [--bars N] [--only NAME ...]``. Each strategy
first runs both paths on a short warm-up market, so numba kernels are compiled (or loaded from
their cache) before timing. Built-in names whose module does not exist yet, or that fail on a
bar feed, are listed with a note instead of figures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.backtesting import BacktestEngine, Feed
from engine.errors import ConfigError
from engine.strategy import BUILTIN_STRATEGIES, Strategy, load_strategy
from engine.synthetic import synthetic_bars
from engine.timeframes import timeframe_to_ns
from engine.venue import VenueConfig

SYMBOL = "BTC/USDT"
INTERVAL = timeframe_to_ns("1m")


def run(cls: type[Strategy], bars: pd.DataFrame, batch: bool,
        capital: float) -> BacktestEngine:
    """One backtest of ``cls`` with default parameters on ``bars``."""
    engine = BacktestEngine(capital=capital, venue_config=VenueConfig())
    engine.add_feed(Feed(SYMBOL, "bar", bars, INTERVAL))
    engine.add_strategy(cls(), SYMBOL)
    if batch:
        engine.run_batch()
    else:
        engine.run()
    return engine


def rate(engine: BacktestEngine) -> float:
    return engine.events_processed / engine.elapsed_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000, help="one-minute bars (default "
                        "200,000)")
    parser.add_argument("--capital", type=float, default=100_000.0,
                        help="starting cash (default 100,000; the synthetic bars trade about "
                             "1.5 BTC a minute and the venue fills at most a quarter of a "
                             "bar's volume, so large orders fill over several bars)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="built-in strategy names to run (default: all)")
    args = parser.parse_args()
    names = args.only or list(BUILTIN_STRATEGIES)
    unknown = [n for n in names if n not in BUILTIN_STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy {', '.join(unknown)}; built-ins: "
                     f"{', '.join(BUILTIN_STRATEGIES)}")

    bars = synthetic_bars(SYMBOL, seed=42, start="2022-01-01", n_bars=args.bars)
    warm = bars.iloc[:2_000].reset_index(drop=True)
    print(f"{len(bars):,} synthetic one-minute bars of {SYMBOL}, default parameters, "
          f"capital {args.capital:,.0f}, default venue\n")
    header = f"{'strategy':<26}{'hooks ev/s':>14}{'batch ev/s':>14}{'speed-up':>10}" \
             f"{'fills':>9}{'same':>6}"
    print(header)
    print("-" * len(header))
    notes = []
    for name in names:
        try:
            cls = load_strategy(name)
        except ConfigError as exc:
            print(f"{name:<26}{'-':>14}{'-':>14}{'':>10}{'':>9}{'':>6}")
            notes.append(f"{name}: skipped, {exc}")
            continue
        try:
            run(cls, warm, batch=False, capital=args.capital)
            hooks = run(cls, bars, batch=False, capital=args.capital)
            hooks_rate = rate(hooks)
            if cls.has_batch_path():
                run(cls, warm, batch=True, capital=args.capital)
                batch = run(cls, bars, batch=True, capital=args.capital)
                batch_rate = rate(batch)
                batch_text = f"{batch_rate:>14,.0f}{batch_rate / hooks_rate:>9.1f}x"
                same = "yes" if batch.fills == hooks.fills else "NO"
            else:
                batch_text = f"{'(none)':>14}{'':>10}"
                same = ""
        except Exception as exc:  # a strategy that cannot run on bars: say so, go on
            print(f"{name:<26}{'-':>14}{'-':>14}{'':>10}{'':>9}{'':>6}")
            notes.append(f"{name}: failed on a bar feed: {type(exc).__name__}: {exc}")
            continue
        faults = ""
        if hooks.faults:
            faults = "  faulted"
            fault = hooks.faults[0]
            notes.append(f"{name}: faulted in {fault.hook} on a bar feed: {fault.error}")
        print(f"{name:<26}{hooks_rate:>14,.0f}{batch_text}{len(hooks.fills):>9,}{same:>6}"
              f"{faults}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
