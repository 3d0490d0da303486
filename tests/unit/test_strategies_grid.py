"""The grid strategy: the target inventory follows level crosses on a hand-written table, the
batch path places the hooks' orders, and bad parameters are refused with their range."""

from __future__ import annotations

import math

import pytest

from engine.errors import ConfigError
from engine.messages import BUY, SELL
from strategies.grid import Grid
from tests.kit.orders import placed_orders
from tests.kit.scripted import trade_table

NAN = math.nan


def test_levels_crossed_down_buy_and_the_level_above_sells() -> None:
    # anchor 100, 3 levels 10% apart: 90, 80, 70; 1 unit per level, at most 2 held
    params = {"levels": 3, "spacing_pct": 10.0, "level_size": 1.0, "max_inventory": 2.0,
              "anchor": 100.0}
    prices = [100.0,   # 0  at the anchor: target 0, nothing to do
              95.0,    # 1  above level 1
              90.0,    # 2  touches level 1 (90): depth 1 -> buy 1
              85.0,    # 3  between 90 and 80 (the buy fills here)
              NAN,     # 4  bad print: skipped
              79.0,    # 5  through level 2 (80): depth 2 -> buy 1
              65.0,    # 6  through level 3 (70): depth 3, but the target is capped at 2
              80.0,    # 7  back to level 2, the level above depth 3: depth 2, target still 2
              91.0,    # 8  above level 1, the level above depth 2: depth 1 -> sell 1
              100.0,   # 9  at the anchor, the level above depth 1: depth 0 -> sell 1
              101.0,   # 10 above the anchor: nothing
              60.0,    # 11 a gap through all three levels: target 2 (capped) -> buy 2
              61.0]    # 12 the buy fills
    frame = trade_table([(i, p, 100.0) for i, p in enumerate(prices)])
    assert placed_orders(Grid, params, frame, "trade") == [
        (2, BUY, 1.0), (5, BUY, 1.0), (8, SELL, 1.0), (9, SELL, 1.0), (11, BUY, 2.0)]


def test_first_price_anchors_and_min_inventory_is_bought_at_once() -> None:
    params = {"levels": 2, "spacing_pct": 5.0, "level_size": 0.5, "min_inventory": 0.5}
    prices = [200.0,   # 0  the anchor; levels at 190 and 180; target max(0, 0.5) -> buy 0.5
              190.0,   # 1  depth 1: 0.5, which min_inventory already holds
              180.0,   # 2  depth 2: 1.0 -> buy 0.5
              181.0,   # 3
              190.0,   # 4  the level above depth 2: depth 1 -> back to 0.5, sell 0.5
              200.0,   # 5  depth 0: target stays 0.5
              250.0]   # 6  above the anchor: the grid does not move
    frame = trade_table([(i, p, 100.0) for i, p in enumerate(prices)])
    assert placed_orders(Grid, params, frame, "trade") == [
        (0, BUY, 0.5), (2, BUY, 0.5), (4, SELL, 0.5)]


GRID = {"levels": 20, "spacing_pct": 0.2, "level_size": 0.01, "max_inventory": 0.15,
        "anchor": 26000.0}


@pytest.mark.parametrize("values,name,allowed", [
    ({"levels": 0}, "levels", "[1, 1000]"),
    ({"spacing_pct": 0.0}, "spacing_pct", "[0.01, 50.0]"),
    ({"level_size": -1.0}, "level_size", "[1e-12, 1000000000000.0]"),
    ({"min_inventory": -0.5}, "min_inventory", "[0.0, 1000000000000.0]"),
], ids=repr)
def test_out_of_range_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                                   allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        Grid.Params.create(values)
    text = str(info.value)
    assert "'grid'" in text and repr(name) in text and allowed in text


def test_cross_parameter_rules_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"'grid' parameter 'spacing_pct'.*must be < 100"):
        Grid.Params(levels=20, spacing_pct=5.0)
    with pytest.raises(ConfigError, match=r"'grid' parameter 'min_inventory'.*max_inventory"):
        Grid.Params(min_inventory=2.0, max_inventory=1.0)
