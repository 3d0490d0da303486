"""Tick-to-order latency of a live session, in one process and through a graph of processes.

From a market event's arrival to its order leaving the engine, excluding the exchange. Two
measurements, printed in this order:

**inprocess** (``--mode inprocess``): the path a paper or live session runs today, all in one
process: ``engine.live.loop.LiveLoop`` (the venue's match, the marks, the strategies' hooks,
sizing, the risk engine with its rules) up to the order handed to the venue. Messages are
Python objects already in memory, processed back to back: no serialization, no sockets. Timed
with ``perf_counter_ns`` from the call of ``LiveLoop.on_message`` to the venue's ``submit``.

**graph** (``--mode graph``): the same engine path between the hops an actor graph adds, as
three OS processes (``multiprocessing``, spawned) over ZeroMQ on loopback TCP, every message a
msgpack frame made by ``engine.codec``:

- the *feed* process publishes ``Trade`` messages on PUB as ``[topic, frame]`` (the topic of
  ``engine.topics.market_data``), each stamped with ``time.monotonic_ns()`` just before it is
  encoded and sent, at least ``--interval-us`` apart so the path is measured unloaded, not
  queued; it starts once the engine's subscription is in place (a probe answered on a REQ/REP
  socket);
- the *engine* process subscribes, decodes each trade and hands it to a ``LiveLoop`` whose
  venue, :class:`ForwardingVenue`, pushes every order and cancel to the execution process,
  then books it in the simulated venue, which fills it on a later trade as a paper session
  does. (A live session's ``ExchangeVenue`` would wait for the exchange's answers, which this
  benchmark leaves out: orders would stay working and the strategy would stop ordering.)
  Positions, fills and orders are therefore those of the in-process mode;
- the *execution* process pulls the frames and, for each decoded ``SubmitOrder``, takes
  ``time.monotonic_ns() - ts_event``: the order's ``ts_event`` is the engine clock at its
  trade, which is the feed's stamp (the loop re-stamps an event only when its time would go
  back, checked never to happen here; ``CLOCK_MONOTONIC`` is one clock for every process).

Live sessions today run the engine and the execution in one process (``engine.live.session``),
so the graph mode measures the hops a live graph would add, with the real engine path in the
middle. Neither mode includes the exchange. The graph's engine sees one trade every few
hundred microseconds, with the processes asleep in between, so its own part costs more than in
the in-process loop's back-to-back run; a full garbage collection in the engine process stalls
every trade behind it (each mode prints the full collections that happened while measuring).

A strategy orders on every ``--every``-th trade (alternately buying and selling a small
quantity), under the same risk limits in both modes, so a sample is one trade that produced
one order; the first ``WARMUP`` orders are left out. Prints, per mode, the number of samples
and p50, p99, p99.9 and max in microseconds. Needs no Ray.

    .venv/bin/python benchmarks/live_latency.py [--mode inprocess|graph|both] [--trades N]
        [--graph-trades N] [--interval-us U] [--every K]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import zmq

from engine import bus, topics
from engine.backtesting import BacktestEngine
from engine.codec import decode, encode
from engine.live.loop import LiveLoop
from engine.messages import CancelOrder, SubmitOrder, Trade
from engine.risk import RiskLimits
from engine.strategy import Strategy
from engine.synthetic import synthetic_trades
from engine.venue import Order, SimulatedVenue

VENUE = "SIM"
SYMBOL = "BTC/USDT"
WARMUP = 100   # orders left out at the start (imports, first connections, caches)
# The order and portfolio rules on, the consecutive-loss limit out of reach: every round trip
# of the strategy loses its fees, and a halt (a day of event time) would end its orders.
LIMITS = RiskLimits(max_gross_exposure=1.0, max_order_notional=1e9, max_drawdown=0.9,
                    max_daily_loss=0.9, max_consecutive_losses=1_000_000,
                    max_orders_per_minute=100_000)
# control messages on the feed's socket, outside the market-data topics
PROBE = b"ctl.probe"   # sent until the engine has subscribed (it answers on the control socket)
END = b"ctl.end"       # no more trades
TIMEOUT_S = 60.0       # a process that says nothing for this long has failed


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


class ForwardingVenue(SimulatedVenue):
    """The simulated venue behind a ZeroMQ PUSH socket: every order and cancel goes out as a
    frame first (what an execution actor receives), then the order is booked and matched here
    as a paper session does, so the engine's books, fills and positions stay the engine's."""

    def __init__(self, engine: BacktestEngine, sock: zmq.Socket) -> None:
        super().__init__(engine.venue_config, engine._on_venue_event, engine._on_fill)
        replaced = engine.venue   # what the engine set on its own venue, kept
        self.cash_available = replaced.cash_available
        self.position = replaced.position
        self.mark = replaced.mark
        self.sock = sock
        self.submitted = 0
        self.canceled = 0

    def submit(self, cmd: SubmitOrder) -> Order | None:
        self.sock.send(encode(cmd))
        self.submitted += 1
        return super().submit(cmd)

    def cancel(self, strategy_id: str, client_order_id: str, ts_event: int) -> None:
        order = self.orders.get(client_order_id)
        if order is not None and order.strategy_id == strategy_id:
            self._forward_cancel(order, ts_event)
        super().cancel(strategy_id, client_order_id, ts_event)

    def cancel_now(self, order: Order, ts_event: int, reason: str) -> None:
        self._forward_cancel(order, ts_event)
        super().cancel_now(order, ts_event, reason)

    def _forward_cancel(self, order: Order, ts_event: int) -> None:
        """Send one cancel per working order, as ``ExchangeVenue`` does."""
        if not order.closed and order.cancel_ns is None:
            self.sock.send(encode(CancelOrder(order.strategy_id, order.command.venue,
                                              order.symbol, order.client_order_id, ts_event,
                                              ts_event)))
            self.canceled += 1


def build(every: int,
          venue: Callable[[BacktestEngine], SimulatedVenue] | None = None
          ) -> tuple[BacktestEngine, LiveLoop]:
    """The engine both modes run (no data, risk rules on, one EveryK strategy on SYMBOL) and its
    live loop; ``venue`` builds a replacement for the engine's simulated venue."""
    engine = BacktestEngine(capital=100_000.0, risk_limits=LIMITS)
    if venue is not None:
        engine.venue = venue(engine)
    loop = LiveLoop(engine, {SYMBOL: ("trade", 0)})
    strategy = EveryK()
    strategy.K = every
    engine.add_strategy(strategy, SYMBOL)
    return engine, loop


def trade_rows(n: int) -> list[tuple[int, float, float]]:
    """(ts, price, size) of ``n`` synthetic trades."""
    frame = synthetic_trades(SYMBOL, seed=11, n_trades=n)
    return [(int(t), float(p), float(s))
            for t, p, s in zip(frame["ts"], frame["price"], frame["size"])]


class FullCollections:
    """Watches this process's full (generation 2) garbage collections: each stops the
    process, so one during a stream holds every message behind it."""

    def __init__(self) -> None:
        self.pauses_ns: list[int] = []
        self._start = 0
        gc.callbacks.append(self._watch)

    def _watch(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._start = time.monotonic_ns()
            else:
                self.pauses_ns.append(time.monotonic_ns() - self._start)

    def close(self) -> None:
        gc.callbacks.remove(self._watch)

    def describe(self, where: str) -> str:
        if not self.pauses_ns:
            return f"full garbage collections in {where} while measuring: none"
        return (f"full garbage collections in {where} while measuring: {len(self.pauses_ns)}, "
                f"the longest {max(self.pauses_ns) / 1e6:.1f} ms")


def report(title: str, path: str, lines: list[str], samples_ns: list[int]) -> None:
    lat = np.asarray(samples_ns, dtype=np.float64)[WARMUP:] / 1000.0
    print(f"== {title} ==")
    print(f"path: {path}")
    for line in lines:
        print(line)
    if not len(lat):
        print("no samples")
        return
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
    print(f"samples: {len(lat):,} (the first {WARMUP} orders left out)")
    print(f"p50: {p50:.1f} us   p99: {p99:.1f} us   p99.9: {p999:.1f} us   "
          f"max: {lat.max():.1f} us")
    print(f"tick_to_order_p99_us.{title.split()[0]}: {p99:.1f}")


# --- in-process ---------------------------------------------------------------------------------

def run_inprocess(n_trades: int, every: int) -> None:
    messages = [Trade(VENUE, SYMBOL, p, s, 1, str(i), t, t)
                for i, (t, p, s) in enumerate(trade_rows(n_trades))]
    engine, loop = build(every)
    sent: list[int] = []
    submit = engine.venue.submit

    def timed(cmd: Any) -> Any:
        sent.append(time.perf_counter_ns())
        return submit(cmd)

    engine.venue.submit = timed  # type: ignore[method-assign]
    loop.start(messages[0].ts_event)
    samples = []
    gc.collect()   # the set-up's garbage, not the stream's
    collections = FullCollections()
    for msg in messages:
        before = len(sent)
        t0 = time.perf_counter_ns()
        loop.on_message(msg)
        if len(sent) > before:
            samples.append(sent[before] - t0)
    collections.close()
    loop.stop()
    report("inprocess (one process)",
           "LiveLoop.on_message (venue match, marks, strategy hook, sizing, risk) -> order "
           "handed to the venue; Python objects in memory, no serialization, no sockets",
           [f"{len(messages):,} trades, {len(samples):,} orders (one every {every} trades), "
            f"simulated venue", collections.describe("the process")], samples)


# --- graph: the three processes -----------------------------------------------------------------

def _child(out: Connection, body: Callable[..., None], *args: Any) -> None:
    """A process: runs ``body``; a failure goes to the parent, which raises it."""
    try:
        body(out, *args)
    except BaseException:
        out.send(("error", traceback.format_exc()))
        raise SystemExit(1) from None
    finally:
        out.close()


def _close(*socks: zmq.Socket) -> None:
    """Close the sockets (each with the bus's LINGER of 1 s: what is queued still goes out,
    never longer) and end the process's ZeroMQ context."""
    for sock in socks:
        sock.close()
    bus.context().term()


def _feed(out: Connection, n_trades: int, interval_ns: int) -> None:
    rows = trade_rows(n_trades)
    pub, pub_endpoint = bus.bind(zmq.PUB)
    ctl, ctl_endpoint = bus.bind(zmq.REP)
    out.send(("ready", (pub_endpoint, ctl_endpoint)))
    # the engine answers a probe once its subscription is in place: from then on the PUB
    # socket delivers every trade (probes it sees later, it ignores)
    give_up = time.monotonic() + TIMEOUT_S
    while not ctl.poll(10):
        if time.monotonic() > give_up:
            raise TimeoutError("the engine process never subscribed")
        pub.send_multipart([PROBE, b""])
    ctl.recv()
    ctl.send(b"")
    topic = topics.market_data("trade", VENUE, SYMBOL).encode()
    send = pub.send_multipart
    mono = time.monotonic_ns
    gc.collect()
    first = ts = mono()
    for i, (_, price, size) in enumerate(rows):
        # at least interval_ns after the last send, even after a stall, so trades never queue.
        # A sleep, not a spin: a spinning feed would take a core from the processes measured
        # (the kernel wakes the sleeper some tens of microseconds late: the gaps come out a
        # little longer, and the report gives their mean)
        wait = ts + interval_ns - mono()
        if wait > 0:
            time.sleep(wait / 1e9)
        ts = mono()
        send([topic, encode(Trade(VENUE, SYMBOL, price, size, 1, str(i), ts, ts))])
    pub.send_multipart([END, b""])
    out.send(("done", (len(rows), ts - first)))
    _close(pub, ctl)


def _engine(out: Connection, feed_endpoint: str, ctl_endpoint: str, exec_endpoint: str,
            every: int) -> None:
    push = bus.connect(zmq.PUSH, exec_endpoint)
    engine, loop = build(every, lambda engine: ForwardingVenue(engine, push))
    venue = engine.venue
    assert isinstance(venue, ForwardingVenue)
    topic = topics.market_data("trade", VENUE, SYMBOL).encode()
    sub = bus.connect(zmq.SUB, feed_endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, topic)
    sub.setsockopt(zmq.SUBSCRIBE, b"ctl.")
    ctl = bus.connect(zmq.REQ, ctl_endpoint)
    out.send(("ready", None))
    gc.collect()   # the set-up's garbage, not the stream's
    collections = FullCollections()
    subscribed = started = False
    trades = restamped = 0
    recv = sub.recv_multipart
    while True:
        kind, frame = recv()
        if kind == topic:
            msg = decode(frame)
            if not started:
                loop.start(msg.ts_event)
                started = True
            loop.on_message(msg)
            trades += 1
            # the orders' ts_event is the feed's stamp unless the loop moved the event's time
            restamped += loop.last_ts != msg.ts_event
        elif kind == END:
            break
        elif kind == PROBE and not subscribed:
            ctl.send(b"")
            ctl.recv()
            subscribed = True
    if started:
        loop.stop()
    push.send(b"")   # the end, for the execution process
    collections.close()
    out.send(("done", (trades, restamped, venue.submitted, venue.canceled, len(engine.fills),
                       len(engine.faults), collections.describe("the engine process"))))
    _close(push, sub, ctl)


def _execution(out: Connection) -> None:
    pull, endpoint = bus.bind(zmq.PULL)
    out.send(("ready", endpoint))
    gc.collect()
    samples: list[int] = []
    canceled = 0
    mono = time.monotonic_ns
    while True:
        frame = pull.recv()
        if not frame:
            break
        cmd = decode(frame)
        now = mono()
        if type(cmd) is SubmitOrder:
            samples.append(now - cmd.ts_event)
        else:
            canceled += 1
    out.send(("done", (samples, canceled)))
    _close(pull)


class Graph:
    """The three processes, started with the spawn method, and their reports."""

    def __init__(self) -> None:
        self.mp = multiprocessing.get_context("spawn")
        self.procs: list[tuple[str, Any, Connection]] = []

    def start(self, name: str, body: Callable[..., None], *args: Any) -> Connection:
        receive, send = self.mp.Pipe(duplex=False)
        proc = self.mp.Process(target=_child, args=(send, body, *args), name=name, daemon=True)
        proc.start()
        send.close()   # the child holds its own end: EOF here when it exits
        self.procs.append((name, proc, receive))
        return receive

    def expect(self, conn: Connection, what: str, timeout: float) -> Any:
        name = next(n for n, _, c in self.procs if c is conn)
        if not conn.poll(timeout):
            raise TimeoutError(f"the {name} process did not report {what!r} in {timeout:.0f} s")
        try:
            tag, value = conn.recv()
        except EOFError:
            raise RuntimeError(f"the {name} process ended without reporting {what!r}") from None
        if tag == "error":
            raise RuntimeError(f"the {name} process failed:\n{value}")
        assert tag == what, (tag, what)
        return value

    def stop(self, wait: float = 10.0) -> None:
        """Join every process; one still running after ``wait`` seconds is terminated."""
        for name, proc, conn in self.procs:
            proc.join(wait)
            if proc.is_alive():
                if wait:
                    print(f"warning: the {name} process did not end; terminating it")
                proc.terminate()
                proc.join(5.0)
            conn.close()


def run_graph(n_trades: int, every: int, interval_us: float) -> None:
    graph = Graph()
    try:
        execution = graph.start("execution", _execution)
        feed = graph.start("feed", _feed, n_trades, int(interval_us * 1000))
        exec_endpoint = graph.expect(execution, "ready", TIMEOUT_S)
        feed_endpoint, ctl_endpoint = graph.expect(feed, "ready", TIMEOUT_S)
        engine = graph.start("engine", _engine, feed_endpoint, ctl_endpoint,
                             exec_endpoint, every)
        graph.expect(engine, "ready", TIMEOUT_S)
        stream = n_trades * interval_us / 1e6 + TIMEOUT_S
        sent, elapsed_ns = graph.expect(feed, "done", stream)
        trades, restamped, submitted, canceled, fills, faults, collections = graph.expect(
            engine, "done", TIMEOUT_S)
        samples, cancels_seen = graph.expect(execution, "done", TIMEOUT_S)
    except BaseException:
        graph.stop(wait=0.0)   # one process failed: the others may wait forever
        raise
    graph.stop()
    if (trades != sent or len(samples) != submitted or cancels_seen != canceled or faults
            or restamped):
        raise RuntimeError(f"the graph run is not what was measured: feed sent {sent} trades, "
                           f"engine saw {trades} ({restamped} re-stamped), engine sent "
                           f"{submitted} orders and {canceled} cancels, execution saw "
                           f"{len(samples)} and {cancels_seen}, {faults} strategy faults")
    report("graph (three processes)",
           "feed process -> ZeroMQ -> engine process (LiveLoop: venue match, marks, strategy "
           "hook, sizing, risk) -> ZeroMQ -> execution process, loopback TCP, msgpack frames",
           [f"{sent:,} trades, one every {elapsed_ns / max(sent - 1, 1) / 1000:.0f} us on "
            f"average (at least {interval_us:g} us apart), {submitted:,} orders (one every "
            f"{every} trades), {canceled:,} cancels, {fills:,} fills",
            collections], samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("inprocess", "graph", "both"), default="both")
    parser.add_argument("--trades", type=int, default=200_000, help="in-process mode's trades")
    parser.add_argument("--graph-trades", type=int, default=100_000,
                        help="graph mode's trades (at least --interval-us apart)")
    parser.add_argument("--interval-us", type=float, default=200.0,
                        help="graph mode: the least time between two trades the feed sends")
    parser.add_argument("--every", type=int, default=10, help="one order every K trades")
    args = parser.parse_args()
    if args.mode in ("inprocess", "both"):
        run_inprocess(args.trades, args.every)
    if args.mode == "both":
        print()
    if args.mode in ("graph", "both"):
        run_graph(args.graph_trades, args.every, args.interval_us)


if __name__ == "__main__":
    main()
