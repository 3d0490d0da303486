"""The volume-price correlation strategy: accumulation entries and distribution exits pinned on
a hand-written bar table; bars and trades, not quotes; the batch path placing the hooks'
orders; the rolling correlation staying exact over long runs; bad parameters refused with
their range."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.messages import BUY, SELL, Trade
from engine.synthetic import SyntheticMarket
from strategies.volume_price_correlation import VolumePriceCorrelation
from tests.kit.orders import faults, placed_orders
from tests.kit.scripted import SYMBOL, bar_table

PARAMS = {"period": 3, "entry_corr": 0.5, "exit_corr": -0.5}

# (close, volume); pairs are (volume, close - previous close), the window the last 3 pairs
BARS = [(100.0, 1.0),   # 0  no pair yet
        (101.0, 2.0),   # 1  (2, +1)
        (100.0, 1.0),   # 2  (1, -1)
        (102.0, 3.0),   # 3  pairs (2,+1) (1,-1) (3,+2): corr 0.98, close 102 > 100 (row 0):
                        #    accumulation -> buy
        (101.0, 1.0),   # 4  corr 1.0 but close 101 = row 1: no new signal (already long)
        (99.0, 4.0),    # 5  (3,+2) (1,-1) (4,-2): corr -0.05: hold
        (97.0, 5.0),    # 6  (1,-1) (4,-2) (5,-2): corr -0.97, close 97 < 102 (row 3):
                        #    distribution -> sell
        (98.0, 1.0),    # 7
        (96.0, 1.0),    # 8
        (97.0, 3.0),    # 9
        (94.0, 1.0),    # 10 (1,-2) (3,+1) (1,-3): corr 0.97, but 94 < 98 (row 7): no entry
        (96.0, 3.0),    # 11 corr 0.98, but 96 = row 8: no entry
        (98.0, 2.0),    # 12 (1,-3) (3,+2) (2,+2): corr 0.87, 98 > 97 (row 9) -> buy
        (98.0, 1.0)]    # 13


def test_accumulation_enters_and_distribution_exits() -> None:
    frame = bar_table([(c, c, c, c, v) for c, v in BARS])
    orders = placed_orders(VolumePriceCorrelation, PARAMS, frame, "bar", capital=10.0)
    assert [(row, side) for row, side, _ in orders] == [(3, BUY), (6, SELL), (12, BUY)]
    assert orders[1][2] == orders[0][2]


def test_quotes_are_refused_with_a_clear_error() -> None:
    quotes = SyntheticMarket(SYMBOL, seed=1, start="2024-01-01", end="2024-01-01T00:05").quotes()
    hook_faults, batch_faults = faults(VolumePriceCorrelation, PARAMS, quotes, "quote")
    for fault in (*hook_faults, *batch_faults):
        assert "'volume_price_correlation' needs bars or trades" in fault.error
    assert [f.hook for f in hook_faults] == ["on_quote"]
    assert [f.hook for f in batch_faults] == ["on_batch"]


class _NoOrders:
    """Stands in for the context where the orders do not matter."""

    def order_target_percent(self, fraction: float, price: float) -> None:
        pass


def test_rolling_correlation_matches_an_exact_recomputation() -> None:
    # A long walk whose volume sits far from zero (1e6 +- 1): plain running sums of squares
    # would lose every digit of the volume's variance to cancellation.
    rng = np.random.default_rng(7)
    n, period = 20_000, 50
    volume = 1e6 + rng.standard_normal(n)
    price = 1e4 + np.cumsum(rng.standard_normal(n))
    strategy = VolumePriceCorrelation({"period": period})
    strategy.ctx = _NoOrders()  # type: ignore[assignment]
    strategy.on_start()
    got = []
    for p, v in zip(price.tolist(), volume.tolist()):
        strategy.on_trade(Trade("SIM", SYMBOL, p, v, 1, "1", 0, 0))
        got.append(strategy.corr)
    x, y = volume[1:], np.diff(price)           # pair i is (volume[i + 1], price change)
    for i in range(period - 1, n - 1, 997):
        expected = np.corrcoef(x[i - period + 1:i + 1], y[i - period + 1:i + 1])[0, 1]
        assert got[i + 1] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("values,name,allowed", [
    ({"period": 2}, "period", "[3, 100000]"),
    ({"entry_corr": 1.5}, "entry_corr", "[-1.0, 1.0]"),
    ({"allocation": 0.0}, "allocation", "[0.01, 1.0]"),
], ids=repr)
def test_out_of_range_parameter_names_strategy_parameter_and_range(values: dict, name: str,
                                                                   allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        VolumePriceCorrelation.Params.create(values)
    text = str(info.value)
    assert "'volume_price_correlation'" in text and repr(name) in text and allowed in text


def test_exit_level_above_the_entry_level_is_refused() -> None:
    with pytest.raises(ConfigError,
                       match=r"'volume_price_correlation' parameter 'exit_corr'.*entry_corr"):
        VolumePriceCorrelation.Params(entry_corr=0.2, exit_corr=0.4)
