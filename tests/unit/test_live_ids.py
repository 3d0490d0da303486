"""Client order ids: deterministic, valid for every venue we target, distinct for distinct
inputs, and parsed back to their sequence."""

from __future__ import annotations

import itertools
import re

import pytest

from engine.live.ids import (MAX_LEN, MAX_SEQUENCE, client_order_id, is_ours, new_run_id,
                             parse_client_order_id, run_tag)

BINANCE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
OKX = re.compile(r"^[A-Za-z0-9]{1,32}$")


def test_same_inputs_give_the_same_id() -> None:
    a = client_order_id("run1", "sma", "BTC/USDT", 7)
    assert a == client_order_id("run1", "sma", "BTC/USDT", 7)
    assert a != client_order_id("run1", "sma", "BTC/USDT", 8)


def test_ids_are_valid_for_binance_and_okx_up_to_the_largest_sequence() -> None:
    for seq in (1, 9, 10, 12345, MAX_SEQUENCE):
        coid = client_order_id(new_run_id(), "a-long-strategy-name:with/odd chars", "ETH/USDT:USDT",
                               seq)
        assert BINANCE.fullmatch(coid) and OKX.fullmatch(coid), coid
        assert len(coid) <= MAX_LEN == 32


def test_distinct_inputs_never_collide() -> None:
    runs = [new_run_id() for _ in range(5)] + ["r", "r1", "1r"]
    strategies = [f"s{i}" for i in range(12)] + ["s", "s1\x1e"]
    symbols = ["BTC/USDT", "ETH/USDT", "BTCUSDT", "BTC/USDT:USDT", "SOL/USDC"]
    seen: dict[str, tuple] = {}
    for key in itertools.product(runs, strategies, symbols, (1, 2, 11, 21, 111, 1000)):
        coid = client_order_id(*key)
        assert seen.setdefault(coid, key) == key, (coid, key, seen[coid])
    assert len(seen) == len(runs) * len(strategies) * len(symbols) * 6


def test_a_sequence_parses_back_and_the_run_is_recognised() -> None:
    run = new_run_id()
    coid = client_order_id(run, "grid", "BTC/USDT", 4021)
    parsed = parse_client_order_id(coid)
    assert parsed is not None and parsed.sequence == 4021 and parsed.run_tag == run_tag(run)
    assert is_ours(coid) and is_ours(coid, run) and not is_ours(coid, new_run_id())
    for other in ("", "x1", "web_12345", "rtabcdefabcdefghij0", coid.upper()):
        assert parse_client_order_id(other) is None and not is_ours(other)


@pytest.mark.parametrize("seq", [0, -1, MAX_SEQUENCE + 1, 1.0, True])
def test_a_sequence_out_of_range_is_refused(seq: object) -> None:
    with pytest.raises(ValueError, match="sequence"):
        client_order_id("run", "s", "BTC/USDT", seq)  # type: ignore[arg-type]


def test_empty_names_are_refused() -> None:
    with pytest.raises(ValueError, match="strategy_id"):
        client_order_id("run", "", "BTC/USDT", 1)


def test_new_run_ids_differ() -> None:
    assert len({new_run_id() for _ in range(1000)}) == 1000
