"""The actor graph on a local Ray: results equal the single-process run exactly whatever the
number of workers (risk denials included), a faulting batch path is isolated, a bad spec is
refused before any actor starts, and cancel or a killed worker leave nothing behind."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from actors.graph import GraphCanceled, GraphError, GraphRun, ensure_ray, run_graph  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.errors import NoDataError  # noqa: E402
from engine.run import run_config  # noqa: E402

# a local Ray, shared with the next module's (see conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("shared_ray")]

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
STRATEGIES = [{"strategy": "sma_cross", "params": {"fast": 20, "slow": 100}},
              {"strategy": "momentum", "params": {"lookback": 50, "threshold": 0.002}}]


def spec(**changes: Any) -> BacktestConfig:
    values = {"data": "synthetic:trades", "symbols": SYMBOLS, "start": "2024-01-01",
              "end": "2024-01-03", "strategies": STRATEGIES, "capital": 20_000,
              "max_open_positions": 3}
    values.update(changes)
    return BacktestConfig.from_dict(values)


def comparable(result: Any) -> dict:
    out = result.to_dict()
    out.pop("timing")
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def wait_gone(pids: list[int], deadline_s: float = 20.0) -> list[int]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.fixture(scope="module")
def reference() -> Any:
    """The single-process run through the per-event hooks."""
    result = run_config(spec())
    assert result.metrics["n_denied"] > 0, "the spec must make the risk limit deny orders"
    assert len(result.fills) > 100
    return result


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_graph_equals_single_process(reference: Any, workers: int) -> None:
    result = run_graph(spec(), workers=workers)
    assert result.fills.equals(reference.fills)
    assert result.trades.equals(reference.trades)
    assert result.equity.equals(reference.equity)
    assert comparable(result) == comparable(reference)
    assert result.timing["risk_audit"]["mismatches"] == 0
    assert result.timing["risk_audit"]["checks"] > 0


def test_a_run_reuses_the_warm_graph_s_processes() -> None:
    # the second run (other parameters, same pairs and workers) resets the first run's actors
    # instead of starting processes, and still equals the single-process run of its own spec
    first = GraphRun(spec(), workers=2)
    first.result()
    warm = {name: a["pid"] for name, a in first.actors().items()}
    other = spec(strategies=[{"strategy": "sma_cross", "params": {"fast": 10, "slow": 60}},
                             STRATEGIES[1]], capital=30_000)
    second = GraphRun(other, workers=2)
    result = second.result()
    assert {name: a["pid"] for name, a in second.actors().items()} == warm
    assert comparable(result) == comparable(run_config(other))
    assert result.fills.equals(run_config(other).fills)
    assert result.timing["graph_started"] == []
    # a graph of other worker groups takes over the roles it shares (execution, risk, feed:
    # the same processes, reset) and starts its own workers; the old workers end
    narrower = spec(symbols=SYMBOLS[:2])
    third = GraphRun(narrower, workers=2)
    result = third.result()
    now = {name: a["pid"] for name, a in third.actors().items()}
    shared = ("risk", "execution", "feed")
    assert {name: now[name] for name in shared} == {name: warm[name] for name in shared}
    new_workers = sorted(name for name in now if name.startswith("worker:"))
    assert sorted(result.timing["graph_started"]) == new_workers and len(new_workers) == 2
    old_workers = [pid for name, pid in warm.items() if name.startswith("worker:")]
    assert not set(now.values()) & set(old_workers)
    assert wait_gone(old_workers) == []
    assert result.fills.equals(run_config(narrower).fills)
    assert comparable(result) == comparable(run_config(narrower))


def test_gross_exposure_limit_on_bars_equals_single_process() -> None:
    config = spec(data="synthetic", timeframe="1m", end="2024-01-06", strategies=None,
                  strategy="sma_cross", params={"fast": 5, "slow": 20},
                  max_open_positions=None, max_gross_exposure=0.4)
    reference = run_config(config)
    assert reference.metrics["n_denied"] > 0
    assert comparable(run_graph(config, workers=2)) == comparable(reference)


def test_hook_only_strategy_runs_in_execution_actor() -> None:
    # no batch path: its hooks run in the execution actor's event-time pass
    config = spec(strategies=None, strategy="tests.kit.strategies:RaiseOnBar",
                  data="synthetic", timeframe="1m", params={"fail_at": 10**9},
                  max_open_positions=None)
    assert comparable(run_graph(config, workers=2)) == comparable(run_config(config))


def test_faulting_batch_path_is_isolated() -> None:
    config = spec(end="2024-01-04", strategies=[
        {"strategy": "tests.kit.strategies:FailingBatch",
         "params": {"fast": 20, "slow": 100, "fail_row": 40_000, "fail_symbol": "ETH/USDT"}},
        STRATEGIES[1]])
    result = run_graph(config, workers=2)
    (fault,) = result.faults
    assert fault.strategy_id == "failing_batch:ETH/USDT" and fault.symbol == "ETH/USDT"
    assert fault.hook == "on_batch"
    assert "deliberate failure" in fault.error and "explode_deliberately" in fault.traceback
    # the other pairs finished: same result as the single-process batch run
    assert comparable(result) == comparable(run_config(config, batch=True))
    traded = set(result.fills["strategy_id"])
    assert {"momentum:ETH/USDT", "failing_batch:BTC/USDT", "momentum:SOL/USDT"} <= traded


def test_symbol_without_data_is_refused_before_anything_starts(tmp_path: Any) -> None:
    from engine.data.catalog import ParquetCatalog
    from engine.synthetic import synthetic_trades
    ParquetCatalog(tmp_path).write(synthetic_trades("BTC/USDT", n_trades=1000), venue="SIM",
                                   symbol="BTC/USDT", kind="trade")
    config = spec(data=f"catalog:{tmp_path}", venue="SIM", symbols=["BTC/USDT", "NOPE/USDT"])
    run = GraphRun(config, workers=2)
    with pytest.raises(NoDataError, match="NOPE/USDT"):
        run.result()
    assert run.actors() == {}      # the coordinator started no actor
    run.cancel()


def test_a_run_over_the_same_data_reuses_the_loaded_data_until_a_file_changes(
        tmp_path: Any) -> None:
    from engine.data.catalog import ParquetCatalog
    from engine.synthetic import synthetic_trades
    catalog = ParquetCatalog(tmp_path)
    for i, symbol in enumerate(SYMBOLS[:2]):
        catalog.write(synthetic_trades(symbol, seed=i, n_trades=20_000), venue="SIM",
                      symbol=symbol, kind="trade")
    config = spec(data=f"catalog:{tmp_path}", venue="SIM", symbols=SYMBOLS[:2],
                  start=None, end=None)
    first = run_graph(config, workers=1)
    # the same data under other rules: loaded once
    second = run_graph(config.replace(max_open_positions=1), workers=1)
    assert (first.timing["data_reused"], second.timing["data_reused"]) == (False, True)
    assert comparable(second) == comparable(run_config(config.replace(max_open_positions=1)))
    # a symbol's data rewritten: loaded again, and the run sees the new trades
    catalog.write(synthetic_trades(SYMBOLS[0], seed=99, n_trades=20_000), venue="SIM",
                  symbol=SYMBOLS[0], kind="trade", mode="replace")
    third = run_graph(config, workers=1)
    assert third.timing["data_reused"] is False
    assert comparable(third) == comparable(run_config(config))
    assert not third.fills.equals(first.fills)


def slow_run(**changes: Any) -> GraphRun:
    config = spec(end="2024-01-08", strategies=[
        {"strategy": "tests.kit.strategies:SlowBatch", "params": {"delay_s": 0.3}}],
        max_open_positions=None, **changes)
    return GraphRun(config, workers=2, batch_rows=2_000)


def started_actors(run: GraphRun, deadline_s: float = 60.0) -> dict[str, dict]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        actors = run.actors()
        if actors:
            return actors
        time.sleep(0.2)
    raise AssertionError("the graph did not start")


def test_cancel_stops_every_actor() -> None:
    run = slow_run()
    actors = started_actors(run)
    assert any(name.startswith("worker:") for name in actors)
    # (the account is always audited: the risk actor runs too)
    assert {"risk", "execution", "feed"} <= set(actors)
    coordinator_pid = ray.get(run.coordinator.pid.remote())
    run.cancel()
    with pytest.raises((GraphCanceled, ray.exceptions.RayActorError,
                        ray.exceptions.ActorDiedError)):
        run.result()
    pids = [a["pid"] for a in actors.values()] + [coordinator_pid]
    assert wait_gone(pids) == []


def test_killed_worker_fails_the_run_fast_and_cleans_up() -> None:
    run = slow_run()
    actors = started_actors(run)
    name, where = next((n, w) for n, w in actors.items() if n.startswith("worker:"))
    os.kill(where["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(GraphError, match="lost mid-run") as info:
        run.result()
    assert time.monotonic() - t0 < 15
    assert name.split("@")[0] in str(info.value)
    assert wait_gone([a["pid"] for a in actors.values()]) == []


def test_a_new_ray_session_in_the_same_process_starts_its_own_coordinator() -> None:
    # the coordinator kept idle after a run belongs to its Ray session: after ray.shutdown()
    # and a new session (whose job ids start again at 1), a run starts a coordinator of its
    # own instead of calling the ended session's
    config = spec(symbols=SYMBOLS[:1])
    first = run_graph(config, workers=1)
    ray.shutdown()
    ensure_ray(num_cpus=2)
    again = run_graph(config, workers=1)
    assert again.fills.equals(first.fills)
