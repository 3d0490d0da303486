"""The coordinator core without Ray: a spec checked before anything starts, one plan of
pairs and worker groups, the streams it loads, the warm-graph decision and the audit verdict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from actors.coordinator.core import (Graph, GraphData, GraphError, GraphShape, Phases, Reuse,
                                     WarmGraph, audit_verdict, check_spec, load_streams, plan_graph,
                                     worker_groups)
from actors.risk.core import AuditReport
from actors.stream import DataInfo
from engine.config import BacktestConfig
from engine.datasource import load_data
from engine.errors import ConfigError

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
HOOKS_ONLY = "tests.kit.strategies:RaiseOnBar"   # no batch path: runs in execution


def spec(**changes: Any) -> BacktestConfig:
    values: dict[str, Any] = {
        "data": "synthetic", "timeframe": "1m", "symbols": SYMBOLS, "start": "2024-01-01",
        "end": "2024-01-02",
        "strategies": [{"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}},
                       {"strategy": "momentum", "params": {}},
                       {"strategy": HOOKS_ONLY, "params": {}}],
        "max_open_positions": 4}
    values.update(changes)
    return BacktestConfig.from_dict(values)


def plan(workers: int = 2, batch_rows: int = 1000, symbols: list[str] = SYMBOLS,
         **changes: Any) -> Any:
    return plan_graph(check_spec(spec(**changes), workers, batch_rows), workers, symbols,
                      batch_rows)


# -- the spec ------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [0, -1, True, 2.0, "2"])
def test_a_bad_worker_count_is_refused(workers: Any) -> None:
    with pytest.raises(ConfigError, match=f"workers must be a positive integer for the actor "
                                          f"graph, got {workers!r}"):
        check_spec(spec(), workers, 1000)


@pytest.mark.parametrize("batch_rows", [0, False, 1.5])
def test_a_bad_batch_size_is_refused(batch_rows: Any) -> None:
    with pytest.raises(ConfigError, match="batch_rows must be a positive integer"):
        check_spec(spec(), 2, batch_rows)


def test_a_bad_parameter_is_refused_and_the_checked_spec_is_complete() -> None:
    bad = spec(strategies=[{"strategy": "sma_cross", "params": {"fast": 5, "slowest": 20}}])
    with pytest.raises(ConfigError, match="slowest"):
        check_spec(bad, 2, 1000)
    checked = check_spec(spec(), 2, 1000)
    assert checked.strategies is not None
    first = checked.strategies[0]["params"]
    assert first["fast"] == 5 and first["slow"] == 20 and len(first) > 2   # defaults filled


# -- the plan ------------------------------------------------------------------------------

def test_the_plan_groups_batch_pairs_contiguously_and_leaves_hook_pairs_to_execution() -> None:
    p = plan(workers=4)
    assert [x.strategy_id for x in p.pairs] == [
        f"{name}:{s}" for s in SYMBOLS for name in ("sma_cross", "momentum", "raise_on_bar")]
    assert p.batch_ids == {f"{name}:{s}" for s in SYMBOLS for name in ("sma_cross", "momentum")}
    # every batch pair in exactly one group, in run order; four near-equal groups
    assert [x for g in p.groups for x in g] == [x for x in p.pairs if x.strategy_id in p.batch_ids]
    sizes = [len(g) for g in p.groups]
    assert len(sizes) == 4 and max(sizes) - min(sizes) <= 1
    assert p.symbols == tuple(SYMBOLS) and p.fed_symbols == tuple(SYMBOLS)
    assert p.risk


def test_more_workers_than_pairs_gives_one_pair_a_worker_with_a_readable_name() -> None:
    p = plan(workers=50)
    assert [len(g) for g in p.groups] == [1] * 6
    assert p.worker_name(0, "r1") == "worker:BTC/USDT:sma_cross@r1"
    assert p.worker_name(5, "r1") == "worker:SOL/USDT:momentum@r1"
    three = plan(workers=3, symbols=SYMBOLS[:2])   # four pairs: groups of 1, 2 and 1
    assert [three.worker_name(i, "r1") for i in range(3)] == [
        "worker:BTC/USDT:sma_cross@r1", "worker:1[BTC/USDT:momentum,ETH/USDT:sma_cross]@r1",
        "worker:ETH/USDT:momentum@r1"]


def test_without_batch_pairs_there_is_no_worker_and_no_feed() -> None:
    p = plan(strategies=[{"strategy": HOOKS_ONLY, "params": {}}])
    assert p.groups == () and p.fed_symbols == () and p.batch_ids == frozenset()
    assert p.shape.workers == ()


@pytest.mark.parametrize("pairs, workers, sizes", [
    (0, 3, []), (1, 3, [1]), (6, 4, [2, 1, 1, 2]), (7, 2, [4, 3]), (5, 5, [1] * 5)])
def test_worker_groups_are_contiguous_and_near_equal(pairs: int, workers: int,
                                                     sizes: list[int]) -> None:
    items = list(range(pairs))
    groups = worker_groups(items, workers)   # any items will do
    assert [len(g) for g in groups] == sizes
    assert [x for g in groups for x in g] == items


def test_the_shape_ignores_parameters_but_not_what_the_actors_are() -> None:
    base = plan().shape
    other_params = plan(strategies=[{"strategy": "sma_cross", "params": {"fast": 8, "slow": 40}},
                                    {"strategy": "momentum", "params": {"lookback": 10}},
                                    {"strategy": HOOKS_ONLY, "params": {"fail_at": 3}}],
                        capital=1_000, end="2024-01-03").shape
    assert other_params == base
    assert plan(symbols=SYMBOLS[:2]).shape != base              # other worker groups
    assert plan(workers=3).shape != base
    assert plan(venue="BINANCE").shape != base
    assert plan(batch_rows=2000).shape != base


def test_data_of_other_symbols_than_planned_is_refused() -> None:
    p = plan(symbols=SYMBOLS[:2])
    data = load_streams(spec(symbols=SYMBOLS[1::-1]))   # the same two, in the other order
    with pytest.raises(GraphError, match=r"symbols \['ETH/USDT', 'BTC/USDT'\], but the graph "
                                         r"was planned for \['BTC/USDT', 'ETH/USDT'\]"):
        p.check_data(data)
    p.check_data(load_streams(spec(symbols=SYMBOLS[:2])))


# -- the streams ---------------------------------------------------------------------------

def test_streams_hold_the_loaded_columns_contiguous_with_kind_and_bar_length() -> None:
    config = spec(symbols=SYMBOLS[:2])
    data = load_streams(config)
    loaded = load_data(config)
    assert data.symbols == tuple(SYMBOLS[:2])
    assert data.kinds() == {s: "bar" for s in SYMBOLS[:2]}
    assert data.info == DataInfo("synthetic", {})
    for feed in loaded.feeds:
        stream = data.streams[feed.symbol]
        assert stream.interval_ns == 60 * 10**9
        assert list(stream.columns) == list(feed.frame.columns)
        for name, column in stream.columns.items():
            assert column.flags.c_contiguous
            np.testing.assert_array_equal(column, feed.frame[name].to_numpy())
    assert data.total_events == sum(len(f.frame) for f in loaded.feeds) == 2 * 1440


def test_trade_streams_have_no_bar_length() -> None:
    data = load_streams(spec(data="synthetic:trades", timeframe=None, end="2024-01-01T01:00"))
    assert set(data.kinds().values()) == {"trade"}
    assert {s.interval_ns for s in data.streams.values()} == {0}
    assert isinstance(data, GraphData) and data.total_events > 0


# -- the warm graph ------------------------------------------------------------------------

SHAPE = GraphShape("SIM", True, 1000, ("BTC/USDT:sma_cross", "ETH/USDT:sma_cross"))
A, B = SHAPE.workers   # the labels of the kept graph's workers a and b


def graph(shape: GraphShape = SHAPE) -> Graph[str]:
    return Graph(shape, "execution-handle", risk="risk-handle", feed="feed-handle",
                 workers={"worker:a@r1": "w1", "worker:b@r1": "w2"})


def test_the_graph_lists_its_actors_in_start_order() -> None:
    assert list(graph().actors().items()) == [
        ("risk", "risk-handle"), ("execution", "execution-handle"), ("feed", "feed-handle"),
        ("worker:a@r1", "w1"), ("worker:b@r1", "w2")]
    bare: Graph[str] = Graph(SHAPE, "execution-handle")
    assert bare.actors() == {"execution": "execution-handle"}


def test_nothing_warm_starts_a_new_graph() -> None:
    assert WarmGraph[str]().take(SHAPE, spread=False) == Reuse()


def test_a_run_of_the_same_shape_resets_every_warm_actor_once() -> None:
    warm: WarmGraph[str] = WarmGraph()
    warm.keep(graph())
    reuse = warm.take(GraphShape("SIM", True, 1000, SHAPE.workers), spread=False)
    assert reuse == Reuse("execution-handle", "risk-handle", "feed-handle",
                          {A: ("worker:a@r1", "w1"), B: ("worker:b@r1", "w2")})
    assert reuse.actors() == graph().actors()
    assert warm.take(SHAPE, spread=False) == Reuse()   # handed over: not kept twice


@pytest.mark.parametrize(("shape", "kept", "ended"), [
    # another batch size: every role is reset with it
    (GraphShape("SIM", True, 500, SHAPE.workers),
     ["risk", "execution", "feed", "worker:a@r1", "worker:b@r1"], []),
    # no risk limits: the risk actor ends, the rest is reset
    (GraphShape("SIM", False, 1000, SHAPE.workers),
     ["execution", "feed", "worker:a@r1", "worker:b@r1"], ["risk"]),
    # one of the two worker groups: the other worker ends
    (GraphShape("SIM", True, 1000, (A,)),
     ["risk", "execution", "feed", "worker:a@r1"], ["worker:b@r1"]),
    # other worker groups: the workers end (a worker's name says what it runs), the rest stays
    (GraphShape("SIM", True, 1000, ("c", "d", "e")), ["risk", "execution", "feed"],
     ["worker:a@r1", "worker:b@r1"]),
    # no worker at all (hook strategies only): the feed and the workers end
    (GraphShape("SIM", True, 1000, ()), ["risk", "execution"],
     ["feed", "worker:a@r1", "worker:b@r1"]),
    # another venue: everything ends
    (GraphShape("BINANCE", True, 1000, SHAPE.workers), [],
     ["risk", "execution", "feed", "worker:a@r1", "worker:b@r1"]),
])
def test_a_run_of_another_shape_takes_over_the_roles_it_shares(
        shape: GraphShape, kept: list[str], ended: list[str]) -> None:
    warm: WarmGraph[str] = WarmGraph()
    warm.keep(graph())
    reuse = warm.take(shape, spread=False)
    assert list(reuse.actors()) == kept
    assert sorted(reuse.stale) == sorted(ended)
    # between them, every kept actor is either reset or ended, once
    assert sorted([*reuse.actors().values(), *reuse.stale.values()]) == sorted(
        graph().actors().values())
    assert warm.release() is None


def test_a_spread_run_ends_even_a_warm_graph_of_its_shape() -> None:
    warm: WarmGraph[str] = WarmGraph()
    kept = graph()
    warm.keep(kept)
    assert warm.take(SHAPE, spread=True) == Reuse(stale=kept.actors())


def test_release_hands_the_warm_graph_over_to_be_ended() -> None:
    warm: WarmGraph[str] = WarmGraph()
    kept = graph()
    warm.keep(kept)
    assert warm.release() is kept
    assert warm.release() is None
    assert warm.take(SHAPE, spread=False) == Reuse()


# -- the audit verdict and the phases -------------------------------------------------------

def test_an_audit_without_disagreement_passes_as_the_report() -> None:
    report = AuditReport(checks=120, denied=7, mismatches=0, first_mismatch=None)
    assert audit_verdict(report) == {"checks": 120, "denied": 7, "mismatches": 0,
                                     "first_mismatch": None}


def test_an_audit_disagreement_fails_the_run_naming_the_count_and_the_first() -> None:
    first = "order 's1-3' at 1700: execution decided None, risk decides 'max_open_positions'"
    report = AuditReport(checks=120, denied=7, mismatches=2, first_mismatch=first)
    with pytest.raises(GraphError) as info:
        audit_verdict(report)
    assert str(info.value) == f"risk audit: 2 of 120 decisions differ; first: {first}"


def test_phases_are_seconds_since_the_start_in_order() -> None:
    phases = Phases()
    phases.mark("prepare")
    phases.mark("total")
    assert list(phases) == ["prepare", "total"]
    assert 0 <= phases["prepare"] <= phases["total"]
