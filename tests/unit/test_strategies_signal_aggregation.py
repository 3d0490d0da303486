"""The signal-aggregation strategy: weighted, decaying votes with agreement and confidence
gates pinned on a hand-written bar table; the batch path placing the hooks' orders on bars,
trades and quotes; bad parameters refused with their range."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.errors import ConfigError
from engine.messages import BUY, SELL
from strategies.signal_aggregation import SignalAggregation
from tests.kit.orders import placed_orders
from tests.kit.scripted import bar_table

# Two voters: SMA(2)/SMA(3) cross and ROC(1) beyond +-5%; the others weigh 0. half_life 1:
# a vote halves every event and expires below 1/16, on the 5th event after it was cast.
VOTERS = {"sma_fast": 2, "sma_slow": 3, "roc_period": 1, "roc_threshold": 0.05,
          "w_rsi": 0.0, "w_macd": 0.0, "w_bollinger": 0.0, "half_life": 1.0,
          "min_agree": 2, "min_confidence": 0.5}
CLOSES = [100.0,   # 0
          100.0,   # 1  ROC ready: 0
          100.0,   # 2  SMAs ready, fast = slow: the side is "not above", no vote
          110.0,   # 3  ROC +10%: momentum +1; fast 105 > slow 103.3: sma +1.
                   #    net 2, confidence 1, 2 agree -> buy
          111.0,   # 4  both votes 0.5: confidence 0.5 -> hold
          112.0,   # 5  both 0.25: confidence 0.25 < 0.5 -> sell
          112.5,   # 6  0.125 (the SMAs stay fast > slow on the slow rise: no new cross)
          113.0,   # 7  0.0625
          113.5,   # 8  both votes expire
          125.0,   # 9  ROC +10%: momentum +1 alone: confidence 0.5 but 1 agreeing < 2
          120.0,   # 10 ROC -4%: back inside the band, no vote
          100.0,   # 11 ROC -17%: momentum -1; fast 110 < slow 115: sma -1.
                   #    net -2, confidence 1 -> short, if allowed; else stay flat
          99.0]    # 12


def bars() -> pd.DataFrame:
    return bar_table([(c, c, c, c, 1000.0) for c in CLOSES])


def test_agreeing_votes_enter_and_their_decay_exits() -> None:
    orders = placed_orders(SignalAggregation, VOTERS, bars(), "bar", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(3, BUY), (5, SELL)]
    assert orders[1][2] == orders[0][2]


def test_confident_sell_vote_goes_short_when_allowed() -> None:
    orders = placed_orders(SignalAggregation, {**VOTERS, "allow_short": True}, bars(), "bar",
                           capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(3, BUY), (5, SELL), (11, SELL)]


def test_a_heavy_vote_can_carry_alone() -> None:
    # momentum weighs 3 of 4: alone it gives confidence 0.75 >= 0.7
    params = {**VOTERS, "w_momentum": 3.0, "min_agree": 1, "min_confidence": 0.7}
    orders = placed_orders(SignalAggregation, params, bars(), "bar", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [
        (3, BUY),     # net 4, confidence 1
        (4, SELL),    # halved: 2 / 4 = 0.5 < 0.7
        (9, BUY),     # momentum alone: 3 / 4 = 0.75
        (10, SELL)]   # halved: 0.375


BUSY = {"sma_fast": 5, "sma_slow": 15, "roc_period": 5, "roc_threshold": 0.001,
        "rsi_period": 7, "macd_fast": 5, "macd_slow": 13, "macd_signal": 4, "bb_period": 10,
        "bb_nbdev": 1.5, "half_life": 5.0, "min_agree": 1, "min_confidence": 0.2,
        "allow_short": True}


@pytest.mark.parametrize("values,name,allowed", [
    ({"half_life": 0.1}, "half_life", "[0.5, 1000000.0]"),
    ({"min_agree": 6}, "min_agree", "[1, 5]"),
    ({"w_macd": -1.0}, "w_macd", "[0.0, 10.0]"),
    ({"min_confidence": 1.5}, "min_confidence", "[0.0, 1.0]"),
    ({"rsi_upper": 101.0}, "rsi_upper", "[0.0, 100.0]"),
], ids=repr)
def test_out_of_range_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                                   allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        SignalAggregation.Params.create(values)
    text = str(info.value)
    assert "'signal_aggregation'" in text and repr(name) in text and allowed in text


@pytest.mark.parametrize("values,pattern", [
    ({"sma_fast": 30, "sma_slow": 30}, r"parameter 'sma_fast' \(30\).*'sma_slow' \(30\)"),
    ({"macd_fast": 26, "macd_slow": 12}, r"parameter 'macd_fast' \(26\).*'macd_slow' \(12\)"),
    ({"rsi_lower": 70.0, "rsi_upper": 30.0}, r"parameter 'rsi_lower' \(70.0\).*rsi_upper"),
    ({"w_sma": 0.0, "w_momentum": 0.0, "w_rsi": 0.0, "w_macd": 0.0, "w_bollinger": 0.0},
     r"parameters 'w_sma', 'w_momentum', 'w_rsi', 'w_macd', 'w_bollinger' are all 0"),
    ({"w_rsi": 0.0, "w_macd": 0.0, "min_agree": 4}, r"parameter 'min_agree' = 4 exceeds the 3"),
], ids=repr)
def test_cross_parameter_rules_name_the_parameter(values: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=r"strategy 'signal_aggregation' " + pattern):
        SignalAggregation.Params(**values)
