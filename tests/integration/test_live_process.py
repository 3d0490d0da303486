"""``raytrader live --live`` as a real process: Ctrl-C (SIGINT) and SIGTERM end it gracefully,
its working orders canceled and its results written; ``--flatten`` closes its position on the
way out; a heartbeat line shows it alive."""

from __future__ import annotations

import json
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from engine.api import Strategy
from engine.live.journal import Journal
from tests.kit.fake_exchange.app import DEFAULT_BALANCES
from tests.kit.fake_exchange.runner import running_fake_binance, wait_until
from tests.kit.live_process import pushing_market, start_session

pytestmark = pytest.mark.slow


class BuyOnce(Strategy):
    """Buys 0.01 at market on its first price, once (and not again after a restart)."""

    name = "buy_once"

    def on_start(self) -> None:
        self.done = False

    def on_price(self, price: float) -> None:
        if not self.done and self.ctx.position == 0.0 and not self.ctx.open_orders():
            self.done = True
            self.ctx.buy(0.01)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_session_gracefully(tmp_path: Path, signum: int) -> None:
    # a flat market: the bid 100 below it rests
    with running_fake_binance() as server, pushing_market(server, lambda k: 30_000.0 + k % 3,
                                                          delay=0.5):
        proc = start_session(server, tmp_path, [
            "--live", "--symbols", "BTC/USDT", "--capital", "5000",
            "--strategy", "tests.integration.test_live_resume:RestingBid",
            "--journal", str(tmp_path / "live.db"), "--heartbeat", "0.5",
            "--output", str(tmp_path / "out")])
        try:
            wait_until(lambda: any(o.is_open for o in server.orders()), 30, "a resting bid")
            wait_until(lambda: "heartbeat 2:" in (tmp_path / "session.log").read_text(), 10,
                       "two heartbeats")
            proc.send_signal(signum)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        orders = server.orders()
    log = (tmp_path / "session.log").read_text()
    assert code == 0, log
    # its bid was canceled on the way out, and the journal says so
    [order] = orders
    assert not order.is_open and order.status == "CANCELED"
    with Journal(tmp_path / "live.db") as journal:
        state = journal.rebuild()
    assert state.open_orders() == [] and state.orders[order.client_order_id].status == "CANCELED"
    assert json.loads((tmp_path / "out" / "result.json").read_text())["metrics"]["events"] > 0
    beats = [line for line in log.splitlines() if line.startswith("heartbeat ")]
    assert len(beats) >= 2 and "1 working" in beats[-1] and "ACTIVE" in beats[-1]


def test_flatten_closes_the_position_on_the_way_out(tmp_path: Path) -> None:
    with running_fake_binance() as server, pushing_market(server, delay=0.5):
        proc = start_session(server, tmp_path, [
            "--live", "--flatten", "--symbols", "BTC/USDT", "--capital", "5000",
            "--strategy", "tests.integration.test_live_process:BuyOnce",
            "--journal", str(tmp_path / "live.db"), "--duration", "4", "--heartbeat", "0",
            "--output", str(tmp_path / "out")])
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        orders = server.orders()
        btc = sum(server.balance("BTC"), Decimal(0))
    assert code == 0, (tmp_path / "session.log").read_text()
    # bought 0.01 (0.00999 after the commission kept in BTC), sold 0.00999 on the way out
    assert [(o.side, o.type, o.executed_qty) for o in orders] == [
        ("BUY", "MARKET", Decimal("0.01")), ("SELL", "MARKET", Decimal("0.00999"))]
    assert btc == Decimal(DEFAULT_BALANCES["BTC"])
    with Journal(tmp_path / "live.db") as journal:
        state = journal.rebuild()
    assert state.portfolio.positions[("BTC/USDT", "buy_once:BTC/USDT")].qty == 0.0
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["open_positions"] == []


def test_live_refuses_a_bad_heartbeat(tmp_path: Path) -> None:
    with running_fake_binance() as server:
        proc = start_session(server, tmp_path, [
            "--live", "--symbols", "BTC/USDT", "--strategy", "sma_cross",
            "--journal", str(tmp_path / "live.db"), "--heartbeat", "-1"])
        code = proc.wait(60)
    assert code == 2
    assert "--heartbeat must be a positive number of seconds" in \
        (tmp_path / "session.log").read_text()
