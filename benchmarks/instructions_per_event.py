"""CPU instructions per event of the single-process benchmark workload, counted by
``perf stat``: unlike events per second, the count barely moves with other load on the
machine (about 0.1% between runs), so it shows what a code change did to the hot path.

    .venv/bin/python benchmarks/instructions_per_event.py [--bars N]

Runs the workload of ``single_process.py`` (SMA 10/30, 1m bars, fees, slippage) in child
processes with and without the engine run and prints the difference per event, split into
the engine floor (a strategy that does nothing), the SMA computation, and the order and
fill chain. Needs Linux ``perf`` (Debian package linux-perf).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys
import pandas as pd
from engine.backtesting import BacktestEngine, Feed
from engine.strategy import Strategy
from engine.venue import VenueConfig
from strategies.sma_cross import SmaCross

class Noop(Strategy):
    name = "noop"
    def on_bar(self, bar): pass

class SignalsOnly(SmaCross):
    name = "signals_only"
    def on_bar(self, bar):
        close = bar.close
        above = self._update_fast(close) > self._update_slow(close)
        if above is not self.above:
            self.above = above

mode, path = sys.argv[1], sys.argv[2]
bars = pd.read_parquet(path)
engine = BacktestEngine(capital=100_000.0, venue_config=VenueConfig(
    maker_fee_bps=10.0, taker_fee_bps=10.0, slippage_model="fixed", slippage_bps=1.0))
engine.add_feed(Feed("BTC/USDT", "bar", bars, 60_000_000_000))
cls = {"load": SmaCross, "noop": Noop, "signals": SignalsOnly, "full": SmaCross}[mode]
engine.add_strategy(cls() if mode == "noop" else cls({"fast": 10, "slow": 30}), "BTC/USDT")
if mode != "load":
    engine.run()
"""


def count(mode: str, data: Path, script: Path) -> int:
    # this checkout's code, whatever the environment's editable install points at
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", sys.executable,
                           str(script), mode, str(data)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    for line in proc.stderr.splitlines():
        if line.endswith(",instructions") or ",instructions," in line:
            value = line.split(",")[0]
            if not value.isdigit():   # a virtual machine without the hardware counter
                raise SystemExit(f"perf cannot count instructions here (it says {value!r}): "
                                 f"this machine does not expose the CPU's counters; compare "
                                 f"events per second instead (single_process.py)")
            return int(value)
    raise RuntimeError(f"perf printed no instruction count: {proc.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (apt-get install linux-perf)")
    sys.path.insert(0, str(ROOT))
    from engine.synthetic import synthetic_bars

    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "bars.parquet", Path(tmp) / "child.py"
        synthetic_bars("BTC/USDT", seed=42, start="2022-01-01", n_bars=args.bars,
                       timeframe="1m").to_parquet(data)
        script.write_text(CHILD)
        load, noop, signals, full = (count(m, data, script)
                                     for m in ("load", "noop", "signals", "full"))
    per = lambda a, b: (a - b) / args.bars  # noqa: E731
    print(f"engine floor (no-op strategy):   {per(noop, load):8,.0f} instructions per event")
    print(f"SMA 10/30 signals:             + {per(signals, noop):8,.0f}")
    print(f"orders, fills and accounting:  + {per(full, signals):8,.0f}")
    print(f"instructions_per_event: {per(full, load):.0f}")


if __name__ == "__main__":
    main()
