"""The actor graph's cores wired without Ray: the coordinator core plans and loads, a
FeedCore publishes to WorkerCores that push IntentBatch frames to an ExecutionCore, which
streams its risk decisions to a RiskCore, each in a thread, over ZeroMQ on 127.0.0.1. The
result equals the single-process run of the same config: the same trades and fills, whatever
the number of workers, with the risk audit agreeing on every decision."""

from __future__ import annotations

from typing import Any

import pytest

from actors.coordinator.core import audit_verdict
from engine.config import BacktestConfig
from engine.result import BacktestResult
from engine.run import run_config
from tests.kit.actor_cores import run_cores

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
STRATEGIES = [{"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}},
              {"strategy": "momentum", "params": {"lookback": 30, "threshold": 0.002}}]
HOOKS_ONLY = {"strategy": "tests.kit.strategies:RaiseOnBar", "params": {"fail_at": 10**9}}


def spec(**changes: Any) -> BacktestConfig:
    values: dict[str, Any] = {"data": "synthetic:trades", "symbols": SYMBOLS,
                              "start": "2024-01-01", "end": "2024-01-01T06:00",
                              "strategies": STRATEGIES, "capital": 20_000,
                              "max_open_positions": 5}
    values.update(changes)
    return BacktestConfig.from_dict(values)


def comparable(result: BacktestResult) -> dict[str, Any]:
    out = result.to_dict()
    out.pop("timing")
    return out


def assert_same(got: BacktestResult, want: BacktestResult) -> None:
    assert len(want.fills) > 100, "a comparison of runs that barely trade proves little"
    assert got.fills.equals(want.fills)
    assert got.trades.equals(want.trades)
    assert got.equity.equals(want.equity)
    assert comparable(got) == comparable(want)


@pytest.fixture(scope="module")
def trades_reference() -> BacktestResult:
    result = run_config(spec())
    assert result.metrics["n_denied"] > 0, "the spec must make the risk limit deny orders"
    return result


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_cores_equal_the_single_process_run(trades_reference: BacktestResult,
                                            workers: int) -> None:
    # small batches: many of them per stream, and the feed's window of 8 is reached
    outcome = run_cores(spec(), workers, batch_rows=997)
    assert_same(outcome.result, trades_reference)
    events = trades_reference.metrics["events"]
    assert outcome.feed_events == events
    # each worker saw every event of the symbols of its pairs, each symbol's stream once
    assert len(outcome.worker_events) == workers and sum(outcome.worker_events) >= events
    assert outcome.audit is not None
    verdict = audit_verdict(outcome.audit)
    assert verdict["checks"] > 0 and verdict["denied"] == trades_reference.metrics["n_denied"]


def test_bars_with_hook_pairs_in_execution_and_exposure_limits() -> None:
    # bars, a strategy without batch path (its hooks run in the execution core), a gross
    # exposure limit and one batch per day of a symbol
    config = spec(data="synthetic", timeframe="1m", end="2024-01-04",
                  strategies=[*STRATEGIES, HOOKS_ONLY], max_open_positions=None,
                  max_gross_exposure=0.6)
    reference = run_config(config)
    assert reference.metrics["n_denied"] + reference.metrics["n_reduced"] > 0
    outcome = run_cores(config, workers=2, batch_rows=1440)
    assert_same(outcome.result, reference)
    assert {f"raise_on_bar:{s}" for s in SYMBOLS} <= set(outcome.result.fills["strategy_id"])
    assert outcome.audit is not None and audit_verdict(outcome.audit)["checks"] > 0


def test_without_limits_the_account_is_still_audited() -> None:
    config = spec(max_open_positions=None, symbols=SYMBOLS[:2])
    outcome = run_cores(config, workers=2, batch_rows=4096)
    assert outcome.audit is not None and audit_verdict(outcome.audit)["checks"] > 0
    assert_same(outcome.result, run_config(config))


# every rule on, correlation groups included: the audit replays them all
EVERY_RULE: dict[str, Any] = {
    "max_open_positions": 5, "max_gross_exposure": 0.9, "max_net_exposure": 0.8,
    "max_position_share": 0.4, "max_order_notional": 15_000, "max_drawdown": 0.2,
    "max_daily_loss": 0.1, "max_consecutive_losses": 3, "loss_pause": "30m",
    "cooldown": "5m", "cooldown_max": "1h", "correlation_threshold": 0.3,
    "max_group_exposure": 0.5, "block_regime": "HIGHLY_VOLATILE", "volatile_scale": 0.5,
    "max_cost_bps": 8.0, "max_orders_per_minute": 30, "stop_loss": 0.01,
    "market_stats": {"correlation_interval": "5m", "correlation_window": 12,
                     "regime_interval": "5m", "regime_window": 6, "regime_lookback": 48},
}


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_every_rule_on_the_cores_equal_the_single_process_run(workers: int) -> None:
    config = spec(data="synthetic", timeframe="1m", end="2024-01-03", **EVERY_RULE)
    reference = run_config(config)
    risk = reference.risk
    # the rules act: several reason codes, reductions, correlated groups among them
    assert len(risk["denials"]) >= 3 and risk["n_reduced"] > 0, risk
    assert reference.equity["cash"].min() >= 0.0
    outcome = run_cores(config, workers=workers, batch_rows=997)
    assert_same(outcome.result, reference)
    verdict = audit_verdict(outcome.audit)
    assert verdict["mismatches"] == 0 and verdict["checks"] > 0
