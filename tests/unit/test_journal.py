"""The execution journal: records round-trip exactly, a rebuild gives back orders and portfolio
(a fill journaled twice counts once, an unacknowledged order is pending-new), sequences and
strategy state survive a reopen, a bad file is refused naming it, and a writer killed with
SIGKILL at random points never loses a record it reported committed."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from engine.live.ids import parse_client_order_id
from engine.live.journal import (CANCELED, DENIED, FILLED, PARTIALLY_FILLED, PENDING_NEW,
                                 REJECTED, SCHEMA_VERSION, WORKING, Entry, Journal, JournalError,
                                 replay)
from engine.messages import (CancelOrder, OrderAccepted, OrderCanceled, OrderDenied, OrderFilled,
                             OrderRejected, RiskEvent, SubmitOrder)

REPO = Path(__file__).resolve().parents[2]
V, SYM, S = "binance", "BTC/USDT", "sma"


def submit(coid: str, side: str = "BUY", qty: float = 1.0, ts: int = 1,
           limit: float | None = 100.0) -> SubmitOrder:
    return SubmitOrder(S, V, SYM, coid, side, "LIMIT" if limit else "MARKET", qty, limit, None,
                       "GTC", ts, ts, reduce_only=False, oco_group="g1")


def fill(coid: str, trade_id: str, qty: float, price: float, cum: float, leaves: float,
         side: str = "BUY", ts: int = 3) -> OrderFilled:
    return OrderFilled(S, V, SYM, coid, "v-" + coid, trade_id, side, qty, price, cum, leaves,
                       "MAKER", 0.1, 0.0, ts, ts)


def every_record_type() -> list[Any]:
    return [
        submit("c1"),
        CancelOrder(S, V, SYM, "c1", 5, 6),
        OrderAccepted(S, V, SYM, "c1", "v-c1", 2, 2),
        OrderRejected(S, V, SYM, "c2", "insufficient balance", 3, 3),
        OrderDenied(S, V, SYM, "c3", "max_position: 2 > 1", 4, 4),
        fill("c1", "t1", 0.4, 100.5, 0.4, 0.6),
        OrderCanceled(S, V, SYM, "c1", "by request", 7, 7),
        RiskEvent("state", "portfolio", "", "", "REDUCING", "max_drawdown: 16%", 0.16, 8, 8),
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run.journal"


def test_every_record_type_round_trips(path: Path) -> None:
    records = every_record_type()
    with Journal(path, initial_cash=10_000.0) as j:
        seqs = [j.append(r) for r in records[:3]] + j.append_many(records[3:])
        assert seqs == list(range(1, len(records) + 1))
    with Journal(path) as j:
        entries = list(j.records())
        assert [e.record for e in entries] == records
        assert [type(e.record) for e in entries] == [type(r) for r in records]
        assert [e.record for e in j.records(since_seq=5)] == records[5:]
        assert j.last_seq() == len(records)


def test_only_commands_and_venue_events_are_journaled(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j, pytest.raises(TypeError, match="Bar"):
        from engine.messages import Bar
        j.append(Bar(V, SYM, 60, 1.0, 1.0, 1.0, 1.0, 1.0, 60, 60))


def test_the_file_is_in_wal_mode_with_full_sync(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j:
        conn = j._db   # the settings are per connection: read them on the journal's own
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL


def test_rebuild_gives_orders_statuses_and_the_portfolio(path: Path) -> None:
    with Journal(path, initial_cash=10_000.0) as j:
        j.append_many([
            submit("filled"), OrderAccepted(S, V, SYM, "filled", "v-filled", 2, 2),
            fill("filled", "t1", 0.25, 100.0, 0.25, 0.75),
            fill("filled", "t2", 0.75, 102.0, 1.0, 0.0),
            submit("partial", qty=2.0), OrderAccepted(S, V, SYM, "partial", "v-p", 2, 2),
            fill("partial", "t3", 0.5, 101.0, 0.5, 1.5),
            submit("working"), OrderAccepted(S, V, SYM, "working", "v-w", 2, 2),
            CancelOrder(S, V, SYM, "working", 4, 4),
            submit("canceled"), OrderAccepted(S, V, SYM, "canceled", "v-c", 2, 2),
            OrderCanceled(S, V, SYM, "canceled", "by request", 5, 5),
            submit("rejected"), OrderRejected(S, V, SYM, "rejected", "min notional", 3, 3),
            submit("denied"), OrderDenied(S, V, SYM, "denied", "halted", 3, 3),
            submit("pending"),
        ])
        state = j.rebuild()
    o = state.orders
    assert {k: v.status for k, v in o.items()} == {
        "filled": FILLED, "partial": PARTIALLY_FILLED, "working": WORKING,
        "canceled": CANCELED, "rejected": REJECTED, "denied": DENIED, "pending": PENDING_NEW}
    assert o["filled"].filled_qty == 1.0 and o["filled"].avg_price == pytest.approx(101.5)
    assert o["partial"].filled_qty == 0.5 and o["partial"].leaves_qty == 1.5
    assert o["working"].cancel_requested and o["rejected"].reason == "min notional"
    assert [x.client_order_id for x in state.pending_new()] == ["pending"]
    assert [x.client_order_id for x in state.open_orders()] == ["partial", "working", "pending"]
    # cash: 0.25*100 + 0.75*102 + 0.5*101 paid, plus three fees of 0.1
    assert state.portfolio.cash == pytest.approx(10_000 - 25 - 76.5 - 50.5 - 0.3)
    assert state.portfolio.positions[(SYM, S)].qty == pytest.approx(1.5)
    assert state.last_seq == 18 and not state.anomalies


def test_a_fill_journaled_twice_is_applied_once(path: Path) -> None:
    f = fill("c1", "t1", 1.0, 100.0, 1.0, 0.0)
    with Journal(path, initial_cash=1_000.0) as j:
        j.append_many([submit("c1"), OrderAccepted(S, V, SYM, "c1", "v-c1", 2, 2),
                       OrderAccepted(S, V, SYM, "c1", "v-c1", 2, 2), f, f])
        state = j.rebuild()
    assert state.portfolio.cash == pytest.approx(1_000 - 100 - 0.1)
    assert state.portfolio.positions[(SYM, S)].qty == 1.0
    assert state.orders["c1"].status == FILLED and state.orders["c1"].filled_qty == 1.0
    assert state.duplicate_fills == [(5, "c1", "t1")]


def test_a_round_trip_closes_in_the_rebuilt_portfolio(path: Path) -> None:
    with Journal(path, initial_cash=1_000.0) as j:
        j.append_many([submit("b"), fill("b", "t1", 1.0, 100.0, 1.0, 0.0),
                       submit("s", side="SELL"),
                       fill("s", "t2", 1.0, 110.0, 1.0, 0.0, side="SELL", ts=9)])
        state = j.rebuild()
    (trade,) = state.portfolio.trades
    assert trade["pnl"] == pytest.approx(10.0 - 0.2)
    assert state.portfolio.cash == pytest.approx(1_000 + 10 - 0.2)


def test_events_that_do_not_fit_are_kept_as_anomalies(path: Path) -> None:
    with Journal(path, initial_cash=1_000.0) as j:
        j.append_many([fill("ghost", "t9", 1.0, 100.0, 1.0, 0.0),
                       OrderCanceled(S, V, SYM, "nobody", "x", 1, 1)])
        state = j.rebuild()
    assert [a.client_order_id for a in state.anomalies] == ["ghost", "nobody"]
    assert state.portfolio.positions[(SYM, S)].qty == 1.0   # money moved: it is booked


def test_run_id_and_sequences_continue_after_reopen(path: Path) -> None:
    with Journal(path, initial_cash=500.0) as j:
        run = j.run_id
        first = [j.next_client_order_id(S, SYM) for _ in range(3)]
        assert j.next_sequence(S, "ETH/USDT") == 1
    with Journal(path, initial_cash=500.0) as j:
        assert j.run_id == run and j.initial_cash == 500.0
        nxt = j.next_client_order_id(S, SYM)
    seqs = [parse_client_order_id(c).sequence for c in first + [nxt]]  # type: ignore[union-attr]
    assert seqs == [1, 2, 3, 4]
    with closing(sqlite3.connect(path)) as conn, conn:
        sessions = conn.execute("SELECT run_id, started_ns, ended_ns FROM session").fetchall()
    assert [s[0] for s in sessions] == [run, run] and all(s[2] for s in sessions)


def test_a_reopen_may_not_change_the_initial_capital(path: Path) -> None:
    Journal(path, initial_cash=500.0).close()
    with pytest.raises(JournalError, match=rf"{path.name}.*initial_cash 500.0, not 600"):
        Journal(path, initial_cash=600.0)


def test_a_new_journal_needs_initial_cash(path: Path) -> None:
    with pytest.raises(JournalError, match=rf"{path.name}: a new journal needs initial_cash"):
        Journal(path)


def test_strategy_state_persists_with_its_version(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j:
        assert j.load_state(S) is None
        assert j.save_state(S, {"grid": [1.0, 2.0], "armed": True}) == 1
        j.append(submit("c1"))
        assert j.save_state(S, {"grid": [3.0], "armed": False}) == 2
    with Journal(path) as j:
        assert j.load_state(S) == {"grid": [3.0], "armed": False}
        assert j.state_version(S) == (2, 1)
        with pytest.raises(ValueError):
            j.save_state(S, {"x": float("nan")})


def test_cursors_persist(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j:
        j.set_cursor(V, SYM, "t100", 1_000)
        j.set_cursor(V, SYM, "t101", 2_000)
    with Journal(path) as j:
        assert j.cursor(V, SYM) == ("t101", 2_000) and j.cursor(V, "ETH/USDT") is None
        assert j.rebuild().cursors == {(V, SYM): ("t101", 2_000)}


def test_a_second_opener_is_refused_while_the_journal_is_open(path: Path) -> None:
    with Journal(path, initial_cash=1.0), pytest.raises(JournalError,
                                                        match="open in another process"):
        Journal(path)
    Journal(path).close()   # free again once closed


# --- bad files ---------------------------------------------------------------------------------


def test_a_file_that_is_not_sqlite_is_refused_naming_it(path: Path) -> None:
    path.write_bytes(b"timestamp,price\n" * 500)
    with pytest.raises(JournalError, match=rf"{path.name}: not a raytrader journal"):
        Journal(path)


def test_another_sqlite_database_is_refused_naming_it(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE trades (id INTEGER)")
    with pytest.raises(JournalError, match=rf"{path.name}: not a raytrader journal.*trades"):
        Journal(path)


def test_a_future_schema_version_is_refused_naming_it(path: Path) -> None:
    Journal(path, initial_cash=1.0).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match=rf"{path.name}: journal schema version 99, this "
                                           rf"engine reads version {SCHEMA_VERSION}"):
        Journal(path)


def test_a_corrupt_record_is_refused_naming_the_file_and_seq(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j:
        j.append_many([submit("c1"), submit("c2")])
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE records SET payload = x'c1ff00' WHERE seq = 2")
    with Journal(path) as j, pytest.raises(JournalError, match=rf"{path.name}: record 2 "):
        j.rebuild()


def test_a_file_with_corrupt_pages_is_refused_naming_it(path: Path) -> None:
    with Journal(path, initial_cash=1.0) as j:
        j.append_many([submit(f"c{i}") for i in range(2_000)])
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[3 * page:6 * page] = bytes(random.Random(7).randbytes(3 * page))
    path.write_bytes(bytes(data))
    with (pytest.raises(JournalError, match=rf"{path.name}: .*(corrupt|malformed)"),
          Journal(path) as j):
        list(j.records())


# --- crash: SIGKILL at random points -----------------------------------------------------------


def scripted_records(start: int, count: int) -> list[Any]:
    """Records ``start`` .. ``start + count - 1`` of an endless deterministic order flow: each
    order is commanded, acknowledged, filled in two parts (the second fill journaled twice)
    and every third one closes the position with a sell."""
    out = []
    for i in range(start, start + count):
        n, step = divmod(i, 6)
        coid = f"o{n}"
        side = "SELL" if n % 3 == 2 else "BUY"
        price = 100.0 + (n % 7)
        rec: Any
        if step == 0:
            rec = submit(coid, side=side, qty=2.0, ts=n)
        elif step == 1:
            rec = OrderAccepted(S, V, SYM, coid, f"v{n}", n, n)
        elif step == 2:
            rec = fill(coid, f"t{n}a", 0.5, price, 0.5, 1.5, side=side, ts=n)
        elif step in (3, 4):   # a duplicated acknowledgement of the same fill
            rec = fill(coid, f"t{n}b", 1.5, price + 1, 2.0, 0.0, side=side, ts=n)
        else:
            rec = RiskEvent("state", "portfolio", SYM, coid, "ACTIVE", "ok", float(n), n, n)
        out.append(rec)
    return out


def child_main(path: str, seed: int) -> None:
    """The writer the crash test kills: resumes the flow where the journal stops, appending
    singly or in batches, and prints each committed seq after ``append`` returns."""
    rng = random.Random(seed)
    with Journal(path, initial_cash=1_000_000.0) as j:
        nxt = j.last_seq()
        while True:
            batch = rng.choice((1, 1, 1, 3, 7))
            records = scripted_records(nxt, batch)
            seqs = j.append_many(records) if batch > 1 else [j.append(records[0])]
            nxt += batch
            sys.stdout.write("".join(f"{s}\n" for s in seqs))
            sys.stdout.flush()
            if rng.random() < 0.05:
                j.save_state(S, {"next": nxt})


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_acknowledged(path: Path) -> None:
    rng = random.Random(20240611)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    acked = 0
    for round_ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from tests.unit.test_journal import child_main; "
                                   "child_main(sys.argv[1], int(sys.argv[2]))",
             str(path), str(round_)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)
        assert proc.stdout is not None
        want = rng.randint(1, 150)
        seen = 0
        while seen < want:
            line = proc.stdout.readline()
            assert line, f"writer exited early: {proc.communicate()[1].decode()[-2000:]}"
            seq = int(line)
            assert seq == acked + 1, (seq, acked)   # seqs are dense and in order
            acked = seq
            seen += 1
        os.kill(proc.pid, signal.SIGKILL)   # the process this test started, nothing else
        proc.wait()
        # drain what it printed after our count but before the kill: acknowledged too
        for line in proc.stdout.read().splitlines():
            acked = int(line)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()

        with Journal(path) as j:
            entries = list(j.records())
            assert len(entries) >= acked, f"round {round_}: lost acknowledged records"
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
            # the journal holds exactly a prefix of the flow: nothing torn, reordered or extra
            assert [e.record for e in entries] == scripted_records(0, len(entries))
            state = j.rebuild()
            saved = j.load_state(S)
        expected = replay(state.run_id, 1_000_000.0,
                          (Entry(i + 1, 0, r) for i, r in enumerate(
                              scripted_records(0, len(entries)))))
        assert state.summary() == expected.summary()
        assert saved is None or saved["next"] <= len(entries)
        acked = len(entries)   # the next writer resumes from what is there
    assert acked > 20


def test_normal_sync_is_available_and_nothing_else(path: Path) -> None:
    with Journal(path, initial_cash=1.0, synchronous="NORMAL") as j:
        assert j._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(ValueError, match="synchronous"):
        Journal(path, synchronous="OFF")
