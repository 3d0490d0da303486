"""The execution core over real ZeroMQ sockets, through its public methods (load, connect_risk,
run, stop, close, release): pairs without a batch path run their hooks in its event-time pass
and give the single-process result; a frame from an unknown strategy, a corrupt frame, a frame
of another type, inconsistent intent columns and a stop request end the run with the error the
core promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from actors.coordinator.core import check_spec, load_streams, plan_graph
from actors.execution.core import ExecutionCore
from engine import bus
from engine.codec import encode
from engine.config import BacktestConfig
from engine.errors import CorruptFrameError, InvalidMessageError
from engine.intents import Intents, IntentUpdate, to_message
from engine.messages import Valuation
from engine.run import run_config
from tests.kit.actor_cores import finishes, threads

BTC = "BTC/USDT"


def spec(strategies: list[dict[str, Any]]) -> BacktestConfig:
    return BacktestConfig.from_dict({"data": "synthetic", "timeframe": "1m",
                                     "symbols": [BTC, "ETH/USDT"], "start": "2024-01-01",
                                     "end": "2024-01-02", "strategies": strategies,
                                     "max_open_positions": 1})


def loaded_core(config: BacktestConfig) -> ExecutionCore:
    """An execution core of ``config``'s plan, loaded with its data, as the actor has it
    before ``run``."""
    checked = check_spec(config, 1, 1000)
    data = load_streams(checked)
    plan = plan_graph(checked, 1, data.symbols, 1000)
    core = ExecutionCore(checked, list(plan.pairs), plan.batch_ids)
    core.load(data.streams, data.info)
    core.connect_risk(None)
    return core


def test_hook_pairs_run_in_the_pass_and_equal_the_single_process_run() -> None:
    # no batch path: nothing to wait for from workers; one pair faults in its hook (the
    # reference is the same pass in one process: a fault's traceback names the pass)
    config = spec([{"strategy": "tests.kit.strategies:RaiseOnBar",
                    "params": {"fail_at": 10**9}},
                   {"strategy": "tests.kit.strategies:RaiseOnBar", "params": {"fail_at": 30}}])
    core = loaded_core(config)
    try:
        assert core.progress == (0, 2 * 1440)
        result = core.run()
    finally:
        core.close()
        core.release()
    reference = run_config(config, batch=True)
    assert len(reference.faults) == 2 and reference.metrics["n_denied"] > 0
    got, want = result.to_dict(), reference.to_dict()
    got.pop("timing"), want.pop("timing")
    assert got == want
    assert result.fills.equals(reference.fills)
    assert core.progress == (2 * 1440, 2 * 1440)
    assert result.timing["execution_wait_seconds"] == 0.0


@pytest.fixture
def batch_core() -> Iterator[tuple[ExecutionCore, zmq.Socket]]:
    """An execution core waiting for one batch pair's intents, and a worker's PUSH socket."""
    core = loaded_core(spec([{"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}}]))
    push = bus.connect(zmq.PUSH, core.endpoint)
    yield core, push
    push.close(0)
    core.close()
    core.release()


def intents(strategy_id: str, upto_row: int = 10) -> Any:
    return to_message(IntentUpdate(strategy_id, Intents.empty(), upto_row), BTC)


def test_intents_from_an_unknown_strategy_are_refused(batch_core: Any) -> None:
    core, push = batch_core
    bus.send(push, intents("ghost:BTC/USDT"))
    with pytest.raises(ValueError, match="IntentBatch from unknown strategy 'ghost:BTC/USDT'"):
        core.run()


def test_a_corrupt_frame_names_the_strategy_workers(batch_core: Any) -> None:
    core, push = batch_core
    push.send(b"\x92\x01")     # a msgpack array of two, cut after one
    with pytest.raises(CorruptFrameError, match="from a strategy worker: frame of 2 bytes is "
                                                "truncated"):
        core.run()


def test_a_frame_of_another_type_is_refused(batch_core: Any) -> None:
    core, push = batch_core
    push.send(encode(Valuation(1, 100.0, (BTC,), (1.0,), 1, 0.0, ())))
    with pytest.raises(TypeError, match="execution expected IntentBatch frames, got Valuation"):
        core.run()


def test_intent_columns_of_a_bad_length_are_refused(batch_core: Any) -> None:
    core, push = batch_core
    bus.send(push, intents("sma_cross:BTC/USDT")._replace(rows=b"\x00" * 3))
    with pytest.raises(InvalidMessageError, match=r"IntentBatch\.rows of 'sma_cross:BTC/USDT' "
                                                  r"holds 3 bytes, not a multiple of 8"):
        core.run()


def test_a_stop_request_ends_the_run_waiting_for_intents(batch_core: Any) -> None:
    core, push = batch_core
    bus.send(push, intents("sma_cross:BTC/USDT", upto_row=99))   # a first watermark
    with threads() as start:
        run = start(core.run)
        core.stop()
        with pytest.raises(InterruptedError, match="execution stopped"):
            finishes(run)
