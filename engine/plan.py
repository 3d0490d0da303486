"""One (symbol, strategy) pair of a run: the unit the actor graph distributes."""

from __future__ import annotations

import dataclasses

from engine.sizing import SizingPolicy
from engine.strategy import StrategyParams


@dataclasses.dataclass(frozen=True)
class PairPlan:
    """One (symbol, strategy) pair of a run: what runs where, under which id."""

    strategy_id: str
    symbol: str
    strategy_ref: str
    params: StrategyParams
    sizing: SizingPolicy | None = None   # how its entries are sized (None: its own targets)
