"""The chaos test: a real ``raytrader live --live`` process trades against the test exchange
while hundreds of random faults land on it (429 and 418 answers, answers held past the
client's timeout after the exchange acted, duplicate acknowledgements, dropped and stalled
sockets, partial fills), and it is killed with SIGKILL mid-session three times, with fills
happening while it is down, then restarted on its journal. At the end: no fill lost, no order
placed twice, and journal, the last process's portfolio and the exchange agree."""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from engine.api import Strategy
from engine.live.journal import Journal
from tests.kit.fake_exchange.app import API_KEY, API_SECRET, DEFAULT_BALANCES
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance, wait_until
from tests.kit.live_process import start_session

pytestmark = pytest.mark.slow

SIDS = ("churner:BTC/USDT", "churner_b:BTC/USDT")
LOT = 0.005


class Churner(Strategy):
    """Keeps the order path busy: one order working at a time, a market order every fifth
    decision and limit orders a few ticks off the market otherwise, buying up to three lots
    and selling down to none; a limit order left working 10 events is canceled."""

    name = "churner"

    def on_start(self) -> None:
        self.n = 0
        self.born: dict[str, int] = {}
        self.canceled: set[str] = set()

    def on_price(self, price: float) -> None:
        self.n += 1
        ctx = self.ctx
        working = ctx.open_orders()
        for order in working:
            coid = order.client_order_id
            if self.n - self.born.setdefault(coid, self.n) >= 10 and coid not in self.canceled:
                self.canceled.add(coid)
                ctx.cancel(coid)
        if working:
            return
        step = self.n % 5
        if ctx.position < 3 * LOT - 1e-9:
            if step == 0:
                ctx.buy(LOT)
            else:
                ctx.buy(LOT, limit=round(price - step, 2))
        else:
            qty = math.floor(min(LOT, ctx.position) * 1e5) / 1e5   # the lot size: 0.00001
            if step == 0:
                ctx.sell(qty)
            else:
                ctx.sell(qty, limit=round(price + step, 2))


class ChurnerB(Churner):
    """A second churner on the same symbol: twice the traffic, one account."""

    name = "churner_b"


class Market(threading.Thread):
    """A seeded random walk: a public trade every 10 ms and a one-tick book around it."""

    def __init__(self, server: FakeBinanceServer, seed: int) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.rng = random.Random(seed)
        self.price = 30_000.0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.price = max(self.price + self.rng.choice((-3.0, -2.0, -1.0, 1.0, 2.0, 3.0)),
                             29_000.0)
            price = round(self.price, 2)
            self.server.set_book("BTCUSDT", bid=f"{price - 0.01:.2f}", ask=f"{price + 0.01:.2f}")
            self.server.push_trade("BTCUSDT", f"{price:.2f}", "0.5")
            time.sleep(0.01)


class Chaos(threading.Thread):
    """Random faults from the issue's list, one tried every 40-100 ms while ``armed``
    (socket faults, which cut the market off for a moment, 0.7 s apart at least)."""

    KINDS = ("429", "418", "hold_order", "hold_cancel", "duplicate_ack", "drop_market",
             "stall_market", "partial_fill", "fill")
    WEIGHTS = (6, 3, 2, 2, 2, 1, 1, 3, 3)

    def __init__(self, server: FakeBinanceServer, seed: int) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.rng = random.Random(seed)
        self.armed = threading.Event()
        self.halt = threading.Event()
        self.injected: Counter[str] = Counter()
        self.last_socket_fault = 0.0
        self.last_status_fault = 0.0

    def open_orders(self) -> list[Any]:
        return [o for o in self.server.orders() if o.is_open]

    # a fault waits for a request to land on: one of a kind at a time, so they do not pile
    # up on a path while nothing uses it
    PENDING: ClassVar[dict[str, str]] = {"429": "429", "418": "418", "hold_order": "hold POST",
                                         "hold_cancel": "hold DELETE",
                                         "duplicate_ack": "duplicate"}

    def inject(self, kind: str) -> bool:
        server, rng = self.server, self.rng
        pending = server.pending()
        if kind in self.PENDING and pending.get(self.PENDING[kind], 0) > 0:
            return False
        if kind in ("429", "418"):
            # one status fault at a time, 0.2 s apart at least: an outage of every request
            # is not what this test is after (the executor's give-up is tested elsewhere)
            if pending.get("429", 0) + pending.get("418", 0) > 0 or \
                    time.monotonic() - self.last_status_fault < 0.2:
                return False
            self.last_status_fault = time.monotonic()
        if kind.endswith("_market"):
            if time.monotonic() - self.last_socket_fault < 0.7:
                return False
            self.last_socket_fault = time.monotonic()
        if kind in ("429", "418"):
            path = rng.choice(("/api/v3/order", "/api/v3/myTrades", None))
            server.fail_next(1, int(kind), path, retry_after=int(rng.random() < 0.1))
        elif kind == "hold_order":   # the order is placed; the client times out (0.6 s)
            server.hold_answer(0.8, "POST", "/api/v3/order")
        elif kind == "hold_cancel":
            server.hold_answer(0.8, "DELETE", "/api/v3/order")
        elif kind == "duplicate_ack":
            server.duplicate_user_events(2)
        elif kind == "drop_market":
            server.drop("market", abrupt=rng.random() < 0.5)
        elif kind == "stall_market":
            server.stall("market")
            threading.Timer(rng.uniform(0.1, 0.5), server.resume, ("market",)).start()
        else:
            orders = [o for o in self.open_orders() if o.type == "LIMIT"]
            if not orders:
                return False
            order = rng.choice(orders)
            qty = None
            if kind == "partial_fill":
                qty = (order.remaining / 2).quantize(Decimal("0.00001"))
                if qty <= 0:
                    return False
            try:
                server.fill_order(order.order_id, qty)
            except ValueError:   # it closed meanwhile
                return False
        return True

    def run(self) -> None:
        while not self.halt.is_set():
            time.sleep(self.rng.uniform(0.04, 0.1))
            if self.armed.is_set():
                kind = self.rng.choices(self.KINDS, self.WEIGHTS)[0]
                if self.inject(kind):
                    self.injected[kind] += 1


def start(server: FakeBinanceServer, tmp: Path, run: int, duration: float) -> subprocess.Popen:
    return start_session(server, tmp, [
        "--live", "--symbols", "BTC/USDT",
        "--strategy", "tests.integration.test_live_chaos:Churner",
        "--strategy", "tests.integration.test_live_chaos:ChurnerB", "--capital", "3000",
        "--journal", str(tmp / "live.db"), "--duration", str(duration), "--heartbeat", "1",
        "--output", str(tmp / f"out{run}"), "--quiet"], log=f"run{run}.log", timeout_ms=600)


def trading(server: FakeBinanceServer, before: int) -> None:
    """Wait until the new process is subscribed and has sent an order."""
    wait_until(lambda: server.subscribers("btcusdt@trade") > 0, 30, "the session subscribed")
    wait_until(lambda: len(server.orders()) > before, 30, "the session's first order")


def test_hundreds_of_faults_and_three_kills_lose_nothing(tmp_path: Path) -> None:
    kills = 3
    with running_fake_binance() as server:
        market = Market(server, seed=7)
        chaos = Chaos(server, seed=11)
        market.start()
        chaos.start()
        down_fills = 0
        procs: list[subprocess.Popen] = []
        try:
            for run in range(kills):
                proc = start(server, tmp_path, run, 600)
                procs.append(proc)
                trading(server, len(server.orders()))
                chaos.armed.set()
                time.sleep(13 + 2 * run)
                chaos.armed.clear()
                # killed with an order working, so the market can fill it while it is down
                wait_until(lambda: any(o.is_open and o.type == "LIMIT"
                                       for o in server.orders()), 30, "a working limit order")
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(10) == -signal.SIGKILL
                # while it is down, the market trades through what it left working
                for order in [o for o in server.orders() if o.is_open and o.type == "LIMIT"]:
                    server.fill_order(order.order_id)
                    down_fills += 1
                time.sleep(0.5)
            last = start(server, tmp_path, kills, 19)
            procs.append(last)
            trading(server, len(server.orders()))
            chaos.armed.set()
            time.sleep(15)
            chaos.armed.clear()   # the last seconds quiet, so its end (cancels) is checked
            code = last.wait(60)
        finally:
            chaos.halt.set()
            market.halt.set()
            for proc in procs:   # a failed test leaves no session behind
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            for proc_log in sorted(tmp_path.glob("run*.log")):
                print(proc_log.name, proc_log.read_text()[-3000:])
        orders = server.orders()
        fills = server.my_fills("BTCUSDT")
        btc = sum(server.balance("BTC"), Decimal(0)) - Decimal(DEFAULT_BALANCES["BTC"])
        usdt = sum(server.balance("USDT"), Decimal(0)) - Decimal(DEFAULT_BALANCES["USDT"])
        requests = server.request_log()

    assert code == 0, (tmp_path / f"run{kills}.log").read_text()[-3000:]
    injected = sum(chaos.injected.values())
    print(f"faults injected: {injected} {dict(chaos.injected)}; kills: {kills}; "
          f"fills while down: {down_fills}; orders: {len(orders)}; fills: {len(fills)}; "
          f"requests: {sum(requests.values())}")

    # 0 duplicate orders: every order on the exchange has its own client id, each one a
    # command the journal holds
    with Journal(tmp_path / "live.db") as journal:
        state = journal.rebuild()
    by_client = Counter(o.client_order_id for o in orders)
    assert [c for c, n in by_client.items() if n > 1] == []
    assert set(by_client) <= set(state.orders)
    # 0 lost fills: every trade on the exchange is journaled once, in its order
    journaled = Counter(t for o in state.orders.values() for t in o.trade_ids)
    assert set(journaled) == {str(f.trade_id) for f in fills}
    assert max(journaled.values()) == 1 and state.duplicate_fills == []
    assert state.anomalies == []
    for order in orders:
        assert state.orders[order.client_order_id].filled_qty == pytest.approx(
            float(order.executed_qty), abs=1e-9), order.client_order_id
    # nothing left working: the last run canceled what it had on the way out
    assert [o.client_order_id for o in orders if o.is_open] == []
    assert state.open_orders() == []
    # journal, portfolio and exchange agree on the positions and the cash
    positions = {sid: state.portfolio.positions[("BTC/USDT", sid)].qty for sid in SIDS}
    assert sum(positions.values()) == pytest.approx(float(btc), abs=1e-9)
    assert state.portfolio.net_qty["BTC/USDT"] == pytest.approx(float(btc), abs=1e-9)
    assert state.portfolio.cash - 3000 == pytest.approx(float(usdt), abs=1e-6)
    result = json.loads((tmp_path / f"out{kills}" / "result.json").read_text())
    held = {p["strategy_id"]: p["qty"] for p in result["open_positions"]}
    for sid in SIDS:
        assert held.get(sid, 0.0) == pytest.approx(positions[sid], abs=1e-9), sid
    assert result["metrics"]["final_equity"] == pytest.approx(
        state.portfolio.cash + float(btc) * float(fills[-1].price), rel=1e-3)
    # the keys are in no file the sessions wrote (logs, journal, results)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert API_KEY.encode() not in data and API_SECRET.encode() not in data, path
    # and it was chaos: hundreds of faults of every kind, on a busy order path
    assert injected >= 200 and all(chaos.injected[k] > 0 for k in Chaos.KINDS)
    assert down_fills > 0 and len(orders) > 50 and len(fills) > 50
