"""Tick-to-order latency of a live session: from a market event's arrival to its order leaving
the engine for the venue, excluding the exchange.

This first version measures the in-process path a paper or live session runs
(``engine.live.loop.LiveLoop``: the venue's match, the marks, the strategies' hooks, sizing, the
risk engine with its rules, the order handed to the venue), over loopback-free messages; the
actor graph's hops (feed actor -> worker -> execution over ZeroMQ) are not in it yet. A strategy
orders on every ``--every``-th trade (alternately buying and selling), so a sample is one
event that produced one order. Prints p50, p99 and p99.9 in microseconds.

    .venv/bin/python benchmarks/live_latency.py [--trades N] [--every K]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from engine.backtesting import BacktestEngine
from engine.live.loop import LiveLoop
from engine.messages import Trade
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.synthetic import synthetic_trades


class EveryK(Strategy):
    """Buys then sells a small quantity on every k-th trade."""

    name = "every_k"
    K = 10

    def on_start(self) -> None:
        self.n = 0

    def on_price(self, price: float) -> None:
        self.n += 1
        if self.n % self.K == 0:
            self.ctx.order_target(0.01 if (self.n // self.K) % 2 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    EveryK.K = args.every

    frame = synthetic_trades("BTC/USDT", seed=11, n_trades=args.trades)
    messages = [Trade("SIM", "BTC/USDT", float(p), float(s), 1, str(i), int(t), int(t))
                for i, (t, p, s) in enumerate(zip(frame["ts"], frame["price"], frame["size"]))]
    limits = RiskLimits(max_gross_exposure=1.0, max_order_notional=1e9, max_drawdown=0.9,
                        max_daily_loss=0.9, max_consecutive_losses=1000,
                        max_orders_per_minute=100_000)
    engine = BacktestEngine(capital=100_000.0, risk_limits=limits)
    loop = LiveLoop(engine, {"BTC/USDT": ("trade", 0)})
    engine.add_strategy(EveryK(), "BTC/USDT")
    sent: list[int] = []
    submit = engine.venue.submit

    def timed(cmd: Any) -> Any:
        sent.append(time.perf_counter_ns())
        return submit(cmd)

    engine.venue.submit = timed  # type: ignore[method-assign]
    loop.start(messages[0].ts_event)
    samples = []
    for msg in messages:
        before = len(sent)
        t0 = time.perf_counter_ns()
        loop.on_message(msg)
        if len(sent) > before:
            samples.append((sent[before] - t0) / 1000.0)
    loop.stop()
    lat = np.array(samples[100:])   # past the strategies' warm-up
    print(f"{len(messages):,} trades, {len(lat):,} orders (one every {args.every} trades), "
          f"in one process (live loop, risk rules on, simulated venue)")
    for q in (50, 99, 99.9):
        print(f"p{q}: {np.percentile(lat, q):.1f} us")
    print(f"tick_to_order_p99_us: {np.percentile(lat, 99):.1f}")


if __name__ == "__main__":
    main()
