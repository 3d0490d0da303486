"""Per-strategy risk parameters (``strategy_risk``): a strategy's own order-notional cap,
consecutive-loss breaker and stop-loss, beside the portfolio's; bad entries name the field."""

from __future__ import annotations

import pytest

from engine.config import BacktestConfig
from engine.errors import ConfigError
from engine.messages import BUY, SELL, SubmitOrder
from engine.risk import RiskEngine, RiskLimits

MARKS = {"BTC/USDT": 100.0}


def order(sid: str, n: int, side: str, qty: float, ts: int = 1) -> SubmitOrder:
    return SubmitOrder(sid, "SIM", "BTC/USDT", f"{sid}-{n}", side, "MARKET", float(qty), None,
                       None, "GTC", ts, ts)


def test_a_strategy_s_own_order_notional_cap() -> None:
    limits = RiskLimits(max_order_notional=5_000.0,
                        strategy_risk={"careful": {"max_order_notional": 1_000.0}})
    risk = RiskEngine(limits, 100_000.0)
    # 20 x 100 = 2,000: within the portfolio's 5,000, past careful's own 1,000
    assert risk.check(order("bold:BTC/USDT", 1, BUY, 20), MARKS) == (20.0, None)
    qty, reason = risk.check(order("careful:BTC/USDT", 1, BUY, 20), MARKS)
    assert qty == 0.0 and reason is not None
    assert reason.startswith("max_order_notional: 2000.00, limit 1000")


def test_a_strategy_s_own_consecutive_loss_breaker() -> None:
    # "twitchy" halts after one losing round trip; "calm" (the portfolio's 3) trades on
    limits = RiskLimits(max_consecutive_losses=3, loss_pause="1h",
                        strategy_risk={"twitchy": {"max_consecutive_losses": 1,
                                                   "loss_pause": "2h"}})
    risk = RiskEngine(limits, 100_000.0)
    for sid in ("twitchy:BTC/USDT", "calm:BTC/USDT"):
        risk.on_fill(sid, "BTC/USDT", f"{sid}-1", BUY, 1.0, 0.0, 100.0, 0.0, 10)
        risk.on_fill(sid, "BTC/USDT", f"{sid}-2", SELL, 1.0, 0.0, 90.0, 0.0, 20)
    qty, reason = risk.check(order("twitchy:BTC/USDT", 3, BUY, 1, ts=30), MARKS)
    assert qty == 0.0 and reason is not None and reason.startswith("consecutive_losses")
    assert risk.check(order("calm:BTC/USDT", 3, BUY, 1, ts=30), MARKS) == (1.0, None)
    # its own pause: two hours after the losing fill
    two_hours = 2 * 3_600_000_000_000
    assert risk.check(order("twitchy:BTC/USDT", 4, BUY, 1, ts=20 + two_hours),
                      MARKS) == (1.0, None)


def test_a_strategy_s_own_stop_loss_reaches_the_engine() -> None:
    limits = RiskLimits(stop_loss=0.03, strategy_risk={"tight": {"stop_loss": 0.01}})
    risk = RiskEngine(limits, 100_000.0)
    assert risk.limits_of("tight:ETH/USDT").stop_loss == 0.01
    assert risk.limits_of("loose:ETH/USDT").stop_loss == 0.03
    assert risk.limits_of("loose:ETH/USDT") is limits


@pytest.mark.parametrize("value, named", [
    ({"sma_cross": {"max_drawdown": 0.1}}, "cannot be set per strategy"),
    ({"sma_cross": {"stop_loss": -0.01}}, "stop_loss"),
    ({"sma_cross": 3}, "must be an object"),
    ([1, 2], "must map strategy names"),
])
def test_bad_strategy_risk_names_the_field(value: object, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        BacktestConfig.from_dict({"strategy_risk": value})
    assert named in str(err.value) and "strategy_risk" in str(err.value)


def test_strategy_risk_in_a_run() -> None:
    # momentum alone is capped at 10 units of notional a order: every entry of it is denied,
    # sma_cross trades as the portfolio allows
    result = __import__("engine.run", fromlist=["backtest"]).backtest(
        "sma_cross", strategies=[{"strategy": "sma_cross"}, {"strategy": "momentum"}],
        end="2024-02-01", strategy_risk={"momentum": {"max_order_notional": 10.0}})
    fills = result.fills
    assert (fills["strategy_id"] == "sma_cross:BTC/USDT").any()
    assert not (fills["strategy_id"] == "momentum:BTC/USDT").any()
    assert result.risk["denials"].get("max_order_notional", 0) > 0
