"""Position sizing policies: each policy's size on hand-computed figures, each fallback and
its reason, the cap, degenerate inputs giving 0, a property over arbitrary inputs (finite,
>= 0, never past the cap), parsing of the config and command-line forms with errors naming the
key / field / policies, and the round trips of to_dict and to_text."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.errors import ConfigError, DataError
from engine.sizing import (POLICIES, SizingInputs, SizingPolicy, explain, periods_per_year,
                           periods_per_year_from_times, size)

MINUTE_NS = 60_000_000_000
DAY_NS = 1440 * MINUTE_NS


def approx(x: float) -> Any:
    return pytest.approx(x, rel=1e-12, abs=0.0)


def inputs(**kw: Any) -> SizingInputs:
    """Equity 10,000, the whole of it for this pair, price 100, unless given."""
    return SizingInputs(**{"equity": 10_000.0, "capital_share": 1.0, "price": 100.0, **kw})


def alternating_closes(n_returns: int, step: float, start: float = 100.0) -> np.ndarray:
    """Closes whose log returns alternate +step, -step (mean 0 for an even count)."""
    signs = np.where(np.arange(n_returns) % 2 == 0, 1.0, -1.0)
    return start * np.exp(np.concatenate([[0.0], np.cumsum(signs * step)]))


# --- the fixed policies -----------------------------------------------------------------------


def test_fixed_quantity_is_the_quantity() -> None:
    p = SizingPolicy(policy="fixed_quantity", quantity=3)
    assert size(p, inputs()) == 3.0


def test_fixed_quantity_is_capped_at_max_fraction_of_the_budget() -> None:
    # budget 10,000 x 0.5 = 5,000; cap 0.2 x 5,000 / 100 = 10 units
    p = SizingPolicy(policy="fixed_quantity", quantity=80, max_fraction=0.2)
    info = explain(p, inputs(capital_share=0.5))
    assert info["quantity"] == approx(10.0) and info["capped"] and info["uncapped"] == 80.0


def test_fixed_notional_divides_by_price() -> None:
    p = SizingPolicy(policy="fixed_notional", notional=1_000)
    assert size(p, inputs(price=250.0)) == 4.0   # 1,000 / 250


def test_fixed_fraction_of_the_pairs_budget() -> None:
    # budget 20,000 x 0.5 = 10,000; 5% of it = 500 at 250 -> 2 units
    p = SizingPolicy(policy="fixed_fraction", fraction=0.05)
    info = explain(p, inputs(equity=20_000.0, capital_share=0.5, price=250.0))
    assert info["quantity"] == approx(2.0)
    assert info["branch"] == "fixed_fraction" and info["reason"] == ""
    assert info["budget"] == 10_000.0 and info["fraction"] == approx(0.05)


def test_capital_share_above_one_counts_as_one() -> None:
    p = SizingPolicy(policy="fixed_fraction", fraction=0.05)
    assert size(p, inputs(capital_share=3.0)) == size(p, inputs(capital_share=1.0))


# --- risk per trade ---------------------------------------------------------------------------


def test_risk_per_trade_uses_the_orders_stop() -> None:
    # 1% of 10,000 = 100 at risk; stop 95 under 100 -> 5 per unit -> 20 units (20% of budget)
    p = SizingPolicy(policy="risk_per_trade", risk_fraction=0.01)
    info = explain(p, inputs(stop_price=95.0, side=1))
    assert info["quantity"] == approx(20.0)
    assert info["stop_distance"] == 5.0 and info["stop_source"] == "order"


def test_risk_per_trade_short_stop_above_the_price() -> None:
    p = SizingPolicy(policy="risk_per_trade", risk_fraction=0.01)
    assert size(p, inputs(stop_price=104.0, side=-1)) == approx(25.0)   # 100 / 4


def test_risk_per_trade_without_a_stop_uses_stop_pct() -> None:
    # stop 2% of 100 = 2 per unit; 100 at risk -> 50 units
    p = SizingPolicy(policy="risk_per_trade", risk_fraction=0.01, stop_pct=0.02)
    info = explain(p, inputs())
    assert info["quantity"] == approx(50.0) and info["stop_source"] == "stop_pct"
    assert info["reason"] == ""


@pytest.mark.parametrize("stop, side", [(105.0, 1), (95.0, -1), (math.nan, 0), (-3.0, 0),
                                        (0.0, 1), (math.inf, -1)])
def test_risk_per_trade_ignores_a_stop_on_the_wrong_side_or_not_a_price(stop: float,
                                                                       side: int) -> None:
    p = SizingPolicy(policy="risk_per_trade", risk_fraction=0.01, stop_pct=0.04)
    info = explain(p, inputs(stop_price=stop, side=side))
    assert info["quantity"] == approx(25.0)   # 100 / (100 x 4%)
    assert info["stop_source"] == "stop_pct" and info["reason"] == "stop_ignored"


def test_risk_per_trade_side_unknown_takes_a_stop_on_either_side() -> None:
    p = SizingPolicy(policy="risk_per_trade", risk_fraction=0.01)
    assert size(p, inputs(stop_price=105.0)) == approx(20.0)


def test_risk_per_trade_zero_stop_distance_falls_back_to_fraction() -> None:
    p = SizingPolicy(policy="risk_per_trade", fraction=0.03)
    info = explain(p, inputs(stop_price=100.0, side=1))
    assert info["branch"] == "fixed_fraction" and info["reason"] == "zero_stop_distance"
    assert info["quantity"] == approx(3.0)   # 3% of 10,000 / 100


def test_risk_per_trade_tight_stop_is_capped() -> None:
    # 100 at risk over 0.1 per unit = 1,000 units; cap 0.5 x 10,000 / 100 = 50
    p = SizingPolicy(policy="risk_per_trade", max_fraction=0.5)
    info = explain(p, inputs(stop_price=99.9, side=1))
    assert info["quantity"] == approx(50.0) and info["capped"]


def test_risk_per_trade_vanishing_stop_distance_gives_the_cap_not_inf() -> None:
    p = SizingPolicy(policy="risk_per_trade")
    price = 1e300
    info = explain(p, SizingInputs(equity=1e300, capital_share=1.0, price=price,
                                   stop_price=math.nextafter(price, 0.0)))
    assert info["quantity"] == approx(info["cap"]) and info["capped"]


# --- Kelly ------------------------------------------------------------------------------------


def kelly(**kw: Any) -> SizingPolicy:
    return SizingPolicy(policy="kelly", **kw)


# 12 wins of +2%, 8 losses of -1%: p = 0.6, b = 2, f* = 0.6 - 0.4 / 2 = 0.4
EDGE = [0.02] * 12 + [-0.01] * 8


def test_kelly_fractional() -> None:
    # 0.5 x 0.4 = 0.2 of the budget (under the 0.25 cap): 2,000 at 100 -> 20 units
    info = explain(kelly(kelly_scale=0.5), inputs(closed_returns=EDGE))
    assert info["p"] == approx(0.6) and info["b"] == approx(2.0)
    assert info["f_star"] == approx(0.4) and info["kelly_fraction"] == approx(0.2)
    assert info["quantity"] == approx(20.0) and info["reason"] == ""


def test_kelly_capped_at_kelly_cap() -> None:
    # full Kelly 0.4, cap 0.25 -> 25 units
    assert size(kelly(kelly_scale=1.0, kelly_cap=0.25), inputs(closed_returns=EDGE)) \
        == approx(25.0)


def test_kelly_uses_every_closed_trade_given() -> None:
    # 4 losses of -1% before the 20 above: n = 24, p = 0.5, b = 2 -> f* = 0.25 -> 0.125
    info = explain(kelly(), inputs(closed_returns=[-0.01] * 4 + EDGE))
    assert info["n_trades"] == 24 and info["f_star"] == approx(0.25)
    assert info["quantity"] == approx(12.5)


@pytest.mark.parametrize("returns", [[], EDGE[:19]])
def test_kelly_warmup_falls_back_to_fraction(returns: list[float]) -> None:
    info = explain(kelly(fraction=0.04), inputs(closed_returns=returns))
    assert info["branch"] == "fixed_fraction" and info["reason"] == "warmup"
    assert info["quantity"] == approx(4.0) and info["n_trades"] == len(returns)


def test_kelly_warmup_is_configurable() -> None:
    info = explain(kelly(kelly_warmup=5), inputs(closed_returns=[0.02, 0.02, 0.02, -0.01, -0.01]))
    assert info["branch"] == "kelly" and info["f_star"] == approx(0.6 - 0.4 / 2)


def test_kelly_all_wins_takes_scale_up_to_the_cap() -> None:
    # no losses: b unbounded, f* = p = 1; 0.5 x 1 capped at 0.25 -> 25 units
    info = explain(kelly(), inputs(closed_returns=[0.01] * 20))
    assert info["reason"] == "no_losses" and info["f_star"] == 1.0
    assert info["quantity"] == approx(25.0)
    # a scale below the cap is kept: 0.1 -> 10 units
    assert size(kelly(kelly_scale=0.1), inputs(closed_returns=[0.01] * 20)) == approx(10.0)


def test_kelly_all_losses_gives_no_entry() -> None:
    info = explain(kelly(), inputs(closed_returns=[-0.01] * 20))
    assert info["branch"] == "kelly" and info["reason"] == "no_wins"
    assert info["quantity"] == 0.0


def test_kelly_negative_edge_gives_no_entry() -> None:
    # p = 0.4, b = 1: f* = 0.4 - 0.6 = -0.2
    info = explain(kelly(), inputs(closed_returns=[0.01] * 8 + [-0.01] * 12))
    assert info["f_star"] == approx(-0.2) and info["reason"] == "no_edge"
    assert info["quantity"] == 0.0


def test_kelly_breakeven_trades_count_as_non_wins() -> None:
    # 10 wins +2%, 5 losses -1%, 5 at 0: p = 0.5, b = 2, f* = 0.25 -> 0.125 -> 12.5 units
    info = explain(kelly(), inputs(closed_returns=[0.02] * 10 + [-0.01] * 5 + [0.0] * 5))
    assert info["p"] == 0.5 and info["quantity"] == approx(12.5)


def test_kelly_returns_too_large_to_average_fall_back_to_fraction() -> None:
    info = explain(kelly(), inputs(closed_returns=[1e308] * 10 + [-1e308] * 10))
    assert info["branch"] == "fixed_fraction" and info["reason"] == "bad_returns"
    assert info["quantity"] == approx(2.0)


def test_kelly_ignores_non_finite_returns() -> None:
    noisy = [math.nan, *EDGE, math.inf]
    assert size(kelly(), inputs(closed_returns=noisy)) == size(kelly(),
                                                              inputs(closed_returns=EDGE))


# --- volatility target ------------------------------------------------------------------------


def test_volatility_target_std() -> None:
    # 20 log returns of +-1%: sample std 0.01 x sqrt(20/19) per day, x sqrt(365) a year
    # (~0.1962); target 0.1 -> ~0.5096 of the budget -> ~50.96 units at 100
    closes = alternating_closes(20, 0.01)
    sigma = 0.01 * math.sqrt(20 / 19) * math.sqrt(365)
    p = SizingPolicy(policy="volatility_target", vol_target=0.1)
    info = explain(p, inputs(closes=closes, periods_per_year=365.0))
    assert info["sigma_annual"] == approx(sigma)
    assert info["quantity"] == approx(0.1 / sigma * 10_000 / 100)
    assert info["branch"] == "volatility_target" and not info["capped"]


def test_volatility_target_reads_only_the_last_window() -> None:
    window = alternating_closes(20, 0.01)
    older = np.array([1.0, 1000.0, 3.0])   # wild history before the window changes nothing
    p = SizingPolicy(policy="volatility_target", vol_target=0.1)
    assert size(p, inputs(closes=np.concatenate([older, window]))) \
        == size(p, inputs(closes=window))


def test_volatility_target_scales_with_periods_per_year() -> None:
    # the same returns read as hourly bars: sigma x sqrt(24), a position sqrt(24) x smaller
    p = SizingPolicy(policy="volatility_target", vol_target=0.05)
    closes = alternating_closes(20, 0.01)
    daily = size(p, inputs(closes=closes, periods_per_year=365.0))
    hourly = size(p, inputs(closes=closes, periods_per_year=365.0 * 24))
    assert hourly == approx(daily / math.sqrt(24))


def test_volatility_target_capped_when_volatility_is_low() -> None:
    # sigma ~0.0196 a year: 0.2 / 0.0196 ~ 10x the budget, capped at max_fraction 1 -> 100
    p = SizingPolicy(policy="volatility_target", vol_target=0.2)
    info = explain(p, inputs(closes=alternating_closes(20, 0.001)))
    assert info["capped"] and info["quantity"] == approx(100.0)


def test_volatility_target_atr() -> None:
    # closes 100, every bar 99-101: true range 2, ATR / price = 0.02 per day;
    # sigma 0.02 x sqrt(365) ~ 0.382; target 0.2 -> ~0.523 of the budget
    n = 21
    closes, highs, lows = np.full(n, 100.0), np.full(n, 101.0), np.full(n, 99.0)
    p = SizingPolicy(policy="volatility_target", vol_method="atr")
    info = explain(p, inputs(closes=closes, highs=highs, lows=lows))
    sigma = 0.02 * math.sqrt(365)
    assert info["sigma_annual"] == approx(sigma)
    assert info["quantity"] == approx(0.2 / sigma * 10_000 / 100)


def test_atr_true_range_takes_the_gap_from_the_previous_close() -> None:
    # 2 bars in the window (vol_window 2): ranges 2 and a gap 100 -> 104-106: max(2, 6, 4) = 6
    closes = np.array([100.0, 100.0, 105.0])
    highs = np.array([101.0, 101.0, 106.0])
    lows = np.array([99.0, 99.0, 104.0])
    p = SizingPolicy(policy="volatility_target", vol_method="atr", vol_window=2)
    info = explain(p, inputs(closes=closes, highs=highs, lows=lows, price=105.0))
    assert info["sigma_annual"] == approx((2 + 6) / 2 / 105.0 * math.sqrt(365))


@pytest.mark.parametrize("kw, reason", [
    ({"closes": np.full(21, 100.0)}, "flat"),
    ({"closes": alternating_closes(19, 0.01)}, "short_window"),   # 20 prices, 20 returns needed
    ({"closes": None}, "short_window"),
    ({"closes": np.r_[alternating_closes(19, 0.01), np.nan]}, "bad_prices"),
    ({"closes": np.r_[alternating_closes(19, 0.01), 0.0]}, "bad_prices"),
    ({"closes": alternating_closes(20, 0.01), "periods_per_year": 0.0}, "bad_periods_per_year"),
])
def test_volatility_target_std_fallbacks(kw: dict[str, Any], reason: str) -> None:
    p = SizingPolicy(policy="volatility_target", fraction=0.05)
    info = explain(p, inputs(**kw))
    assert info["branch"] == "fixed_fraction" and info["reason"] == reason
    assert info["quantity"] == approx(5.0)   # 5% of 10,000 / 100


@pytest.mark.filterwarnings("error")
def test_volatility_target_atr_overflow_falls_back_without_a_warning() -> None:
    closes, highs, lows = np.zeros(21), np.full(21, 1e308), np.full(21, -1e308)
    p = SizingPolicy(policy="volatility_target", vol_method="atr", fraction=0.05)
    info = explain(p, inputs(closes=closes, highs=highs, lows=lows))
    assert info["reason"] == "bad_prices" and info["quantity"] == approx(5.0)


@pytest.mark.parametrize("kw, reason", [
    ({"closes": np.full(21, 100.0)}, "no_ranges"),   # trades: no highs and lows
    ({"closes": np.full(21, 100.0), "highs": np.full(21, 100.0), "lows": np.full(21, 100.0)},
     "flat"),
    ({"closes": np.full(21, 100.0), "highs": np.full(20, 101.0), "lows": np.full(21, 99.0)},
     "short_window"),
    ({"closes": np.full(21, 100.0), "highs": np.full(21, 99.0), "lows": np.full(21, 101.0)},
     "bad_prices"),   # high under low
])
def test_volatility_target_atr_fallbacks(kw: dict[str, Any], reason: str) -> None:
    p = SizingPolicy(policy="volatility_target", vol_method="atr", fraction=0.05)
    info = explain(p, inputs(**kw))
    assert info["branch"] == "fixed_fraction" and info["reason"] == reason
    assert info["quantity"] == approx(5.0)


# --- degenerate inputs and the target policy -------------------------------------------------


@pytest.mark.parametrize("kw, reason", [
    ({"equity": 0.0}, "no_budget"), ({"equity": -5.0}, "no_budget"),
    ({"equity": math.nan}, "no_budget"), ({"equity": math.inf}, "no_budget"),
    ({"capital_share": 0.0}, "no_budget"), ({"capital_share": math.nan}, "no_budget"),
    ({"price": 0.0}, "bad_price"), ({"price": -1.0}, "bad_price"),
    ({"price": math.nan}, "bad_price"), ({"price": math.inf}, "bad_price"),
    ({"equity": 1e300, "price": 1e-300}, "overflow"),
])
def test_no_budget_or_no_price_gives_zero(kw: dict[str, Any], reason: str) -> None:
    for policy in POLICIES[1:]:
        p = SizingPolicy.from_value({"policy": policy, "quantity": 1.0}
                                    if policy == "fixed_quantity" else
                                    {"policy": policy, "notional": 100.0}
                                    if policy == "fixed_notional" else policy)
        info = explain(p, inputs(**kw))
        assert info["quantity"] == 0.0 and info["branch"] == "none" and info["reason"] == reason


def test_target_policy_is_not_sized_here() -> None:
    assert not SizingPolicy().active and SizingPolicy(policy="kelly").active
    with pytest.raises(ValueError, match="target"):
        size(SizingPolicy(), inputs())


# --- property: finite, >= 0, never past the cap -----------------------------------------------

ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
POSITIVE = st.floats(min_value=1e-6, max_value=1e6)
PRICES = hnp.arrays(np.float64, st.integers(0, 30), elements=ANY_FLOAT)

POLICY_VALUES = st.one_of(
    st.builds(SizingPolicy, policy=st.just("fixed_quantity"), quantity=POSITIVE,
              max_fraction=POSITIVE),
    st.builds(SizingPolicy, policy=st.just("fixed_notional"), notional=POSITIVE,
              max_fraction=POSITIVE),
    st.builds(SizingPolicy, policy=st.sampled_from(["fixed_fraction", "risk_per_trade",
                                                    "kelly", "volatility_target"]),
              fraction=POSITIVE, risk_fraction=st.floats(1e-6, 1.0),
              stop_pct=st.floats(1e-6, 0.999), kelly_scale=st.floats(1e-6, 1.0),
              kelly_cap=POSITIVE, kelly_warmup=st.integers(1, 5),
              vol_target=POSITIVE, vol_method=st.sampled_from(["std", "atr"]),
              vol_window=st.integers(2, 10), max_fraction=POSITIVE),
)


@st.composite
def sizing_inputs(draw: Any) -> SizingInputs:
    closes = draw(st.none() | PRICES)
    n = 0 if closes is None else len(closes)
    same_length = hnp.arrays(np.float64, n, elements=ANY_FLOAT)
    return SizingInputs(
        equity=draw(ANY_FLOAT), capital_share=draw(ANY_FLOAT), price=draw(ANY_FLOAT),
        stop_price=draw(st.none() | ANY_FLOAT),
        closed_returns=draw(st.lists(ANY_FLOAT, max_size=12)),
        closes=closes, highs=draw(st.none() | same_length), lows=draw(st.none() | same_length),
        periods_per_year=draw(ANY_FLOAT), side=draw(st.sampled_from([-1, 0, 1])))


@pytest.mark.filterwarnings("error")   # no numpy overflow or invalid-value warnings either
@settings(max_examples=400, deadline=None)
@given(policy=POLICY_VALUES, data=sizing_inputs())
def test_size_is_finite_non_negative_and_never_past_the_cap(policy: SizingPolicy,
                                                            data: SizingInputs) -> None:
    qty = size(policy, data)
    assert math.isfinite(qty) and qty >= 0
    budget = data.equity * min(data.capital_share, 1.0)
    cap = policy.max_fraction * budget / data.price if data.price else math.nan
    if math.isfinite(cap) and cap > 0 and math.isfinite(data.price) and data.price > 0:
        assert qty <= cap
    else:
        assert qty == 0.0


# --- parsing: from_value, to_dict, to_text ---------------------------------------------------


def test_from_value_none_is_the_target_default() -> None:
    assert SizingPolicy.from_value(None) == SizingPolicy() == SizingPolicy(policy="target")


def test_from_value_passes_a_policy_through() -> None:
    p = SizingPolicy(policy="kelly")
    assert SizingPolicy.from_value(p) is p


def test_from_value_string_forms() -> None:
    assert SizingPolicy.from_value("kelly") == SizingPolicy(policy="kelly")
    p = SizingPolicy.from_value(" kelly : kelly_scale=0.3, kelly_cap = 0.2, kelly_warmup=10, ")
    assert p == SizingPolicy(policy="kelly", kelly_scale=0.3, kelly_cap=0.2, kelly_warmup=10)
    assert SizingPolicy.from_value("volatility_target:vol_method=atr,vol_window=14") \
        == SizingPolicy(policy="volatility_target", vol_method="atr", vol_window=14)
    assert SizingPolicy.from_value("fixed_quantity:quantity=2").quantity == 2.0


def test_from_value_mapping_form_and_int_floats_are_the_same_setting() -> None:
    p = SizingPolicy.from_value({"policy": "fixed_fraction", "fraction": 1, "max_fraction": 1})
    assert p == SizingPolicy(policy="fixed_fraction", fraction=1.0)
    assert isinstance(p.fraction, float) and hash(p) == hash(SizingPolicy(
        policy="fixed_fraction", fraction=1.0))


def test_unknown_key_is_named_with_the_valid_keys_and_the_source() -> None:
    valid = ", ".join(f.name for f in dataclasses.fields(SizingPolicy))
    for value in ("kelly:kelly_scal=0.5", {"policy": "kelly", "kelly_scal": 0.5}):
        with pytest.raises(ConfigError) as info:
            SizingPolicy.from_value(value, source="run.json")
        text = str(info.value)
        assert text.startswith("run.json: ") and "'kelly_scal'" in text
        assert f"valid keys: {valid}" in text


def test_unknown_policy_lists_the_policies() -> None:
    with pytest.raises(ConfigError, match="kely") as info:
        SizingPolicy.from_value("kely", source="--sizing")
    assert ", ".join(POLICIES) in str(info.value) and str(info.value).startswith("--sizing: ")


@pytest.mark.parametrize("value, field", [
    ("fixed_fraction:fraction=0", "fraction"),
    ("fixed_fraction:fraction=-0.1", "fraction"),
    ("fixed_fraction:fraction=nan", "fraction"),
    ("kelly:kelly_cap=inf", "kelly_cap"),
    ("kelly:kelly_cap=lots", "kelly_cap"),
    ("kelly:kelly_scale=1.5", "kelly_scale"),
    ("risk_per_trade:risk_fraction=2", "risk_fraction"),
    ("risk_per_trade:stop_pct=1", "stop_pct"),
    ("kelly:kelly_warmup=0", "kelly_warmup"),
    ("kelly:kelly_warmup=2.5", "kelly_warmup"),
    ("volatility_target:vol_window=1", "vol_window"),
    ("volatility_target:vol_method=range", "vol_method"),
    ("volatility_target:vol_target=0", "vol_target"),
    ("fixed_fraction:max_fraction=0", "max_fraction"),
    ({"policy": "fixed_fraction", "fraction": True}, "fraction"),
    ({"policy": "fixed_fraction", "fraction": "0.1"}, "fraction"),
    ({"policy": "kelly", "kelly_warmup": 20.0}, "kelly_warmup"),
    ("fixed_quantity", "quantity"),                                 # needs it
    ("fixed_notional", "notional"),
    ("fixed_quantity:quantity=0", "quantity"),
    ({"policy": "fixed_notional", "notional": math.nan}, "notional"),
    ({"policy": "kelly", "quantity": 1.0}, "quantity"),             # not this policy's field
    ("fixed_fraction:notional=100", "notional"),
])
def test_invalid_values_name_the_field(value: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"\b{field}\b"):
        SizingPolicy.from_value(value)


@pytest.mark.parametrize("value, match", [
    ("kelly:kelly_cap", "key=value"),
    ("kelly:=0.2", "key=value"),
    ("kelly:kelly_cap=0.2,kelly_cap=0.3", "'kelly_cap' is given twice"),
    ("kelly:policy=fixed_fraction", "before ':'"),
    ("", "one of target"),
    (3, "policy name"),
    ({"policy": 3}, "one of target"),
])
def test_malformed_values(value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SizingPolicy.from_value(value)


ROUND_TRIP = [
    SizingPolicy(),
    SizingPolicy(policy="fixed_quantity", quantity=0.125),
    SizingPolicy(policy="fixed_notional", notional=2_500.0, max_fraction=0.1),
    SizingPolicy(policy="fixed_fraction", fraction=0.07),
    SizingPolicy(policy="risk_per_trade", risk_fraction=0.005, stop_pct=0.015),
    SizingPolicy(policy="kelly", kelly_scale=0.25, kelly_cap=0.1, kelly_warmup=30),
    SizingPolicy(policy="volatility_target", vol_target=0.35, vol_method="atr", vol_window=14,
                 fraction=1e-5),
]


@pytest.mark.parametrize("policy", ROUND_TRIP, ids=lambda p: p.policy)
def test_to_dict_round_trip_through_json(policy: SizingPolicy) -> None:
    values = json.loads(json.dumps(policy.to_dict(), allow_nan=False))
    assert values == policy.to_dict()
    assert SizingPolicy.from_value(values) == policy


@pytest.mark.parametrize("policy", ROUND_TRIP, ids=lambda p: p.policy)
def test_to_text_round_trip(policy: SizingPolicy) -> None:
    assert SizingPolicy.from_value(policy.to_text()) == policy


def test_to_text_names_only_changed_fields() -> None:
    assert SizingPolicy(policy="kelly").to_text() == "kelly"
    assert SizingPolicy(policy="kelly", kelly_cap=0.2).to_text() == "kelly:kelly_cap=0.2"


# --- periods per year -------------------------------------------------------------------------


@pytest.mark.parametrize("interval_ns, expected", [
    (MINUTE_NS, 525_600.0), (60 * MINUTE_NS, 8_760.0), (DAY_NS, 365.0), (7 * DAY_NS, 365 / 7)])
def test_periods_per_year_of_a_bar_interval(interval_ns: int, expected: float) -> None:
    assert periods_per_year(interval_ns) == approx(expected)


@pytest.mark.parametrize("bad", [0, -MINUTE_NS, 1.5, True])
def test_periods_per_year_rejects_a_non_positive_interval(bad: Any) -> None:
    with pytest.raises(ConfigError, match="interval_ns"):
        periods_per_year(bad)


def test_periods_per_year_from_times_uses_the_median_spacing() -> None:
    # 1-minute spacing with one 3-hour gap: the median ignores the gap
    ts = np.cumsum([0] + [MINUTE_NS] * 50 + [180 * MINUTE_NS] + [MINUTE_NS] * 50)
    assert periods_per_year_from_times(ts) == approx(525_600.0)


def test_periods_per_year_from_times_with_mostly_equal_times_uses_the_mean_spacing() -> None:
    # trades: 3 of every 4 share their predecessor's time; 4 events a minute on average
    ts = np.repeat(np.arange(0, 10) * MINUTE_NS, 4)
    assert periods_per_year_from_times(ts) == approx(525_600.0 * 39 / 9)


@pytest.mark.parametrize("ts, match", [
    (np.array([5]), "at least 2"),
    (np.array([3, 2, 4]), "must not decrease"),
    (np.array([7, 7, 7]), "same time"),
])
def test_periods_per_year_from_times_errors(ts: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        periods_per_year_from_times(ts)
