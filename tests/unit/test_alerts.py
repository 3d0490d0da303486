"""Copilot alert rules on hand-written observations: what fires, what does not, and the
cooldown; the center keeps, publishes and acknowledges alerts; bad rules are refused."""

from __future__ import annotations

import pytest

from engine.alerts import AlertCenter, Rule, default_rules
from engine.errors import ConfigError


def test_price_move_fires_on_a_move_within_its_window_once_per_cooldown() -> None:
    rule = Rule("price_move", {"symbol": "BTC/USDT", "pct": 0.02, "window_s": 60},
                cooldown_s=300)
    assert rule.check("prices", {"BTC/USDT": 100.0}, now=0) == []
    assert rule.check("prices", {"BTC/USDT": 101.5}, now=10) == []       # 1.5 %
    assert rule.check("prices", {"ETH/USDT": 50.0}, now=11) == []        # another symbol
    [(message, data)] = rule.check("prices", {"BTC/USDT": 102.1}, now=20)   # 2.1 %
    assert "BTC/USDT moved up 2.10%" in message and data["price"] == 102.1
    assert rule.check("prices", {"BTC/USDT": 99.0}, now=30) == []        # cooling down
    # a 2 % move spread over more than the window does not fire
    slow = Rule("price_move", {"pct": 0.02, "window_s": 60})
    for t, p in ((0, 100.0), (50, 101.0), (100, 101.9), (150, 102.5)):
        assert slow.check("prices", {"X": p}, now=t) == []


def test_price_level_fires_on_a_crossing_only() -> None:
    rule = Rule("price_level", {"symbol": "BTC/USDT", "above": 30_000}, cooldown_s=0)
    assert rule.check("prices", {"BTC/USDT": 30_100.0}, now=0) == []   # first look: no cross
    assert rule.check("prices", {"BTC/USDT": 29_900.0}, now=1) == []
    assert len(rule.check("prices", {"BTC/USDT": 30_050.0}, now=2)) == 1
    assert rule.check("prices", {"BTC/USDT": 30_060.0}, now=3) == []   # still above


def test_risk_and_signal_rules() -> None:
    state = Rule("risk_state", cooldown_s=0)
    assert state.check("risk", {"kind": "state", "scope": "portfolio", "state": "ACTIVE",
                                "reason": "resumed"}) == []
    [(message, _)] = state.check("risk", {"kind": "state", "scope": "portfolio",
                                          "state": "HALTED", "reason": "daily_loss: 5%"})
    assert message == "portfolio is HALTED: daily_loss: 5%"
    signal = Rule("signal", {"strategy": "sma_cross:BTC/USDT", "side": "BUY"}, cooldown_s=0)
    assert signal.check("signals", {"strategy_id": "momentum:BTC/USDT", "side": "BUY"}) == []
    assert signal.check("signals", {"strategy_id": "sma_cross:BTC/USDT", "side": "SELL"}) == []
    assert len(signal.check("signals", {"strategy_id": "sma_cross:BTC/USDT", "side": "BUY",
                                        "quantity": 0.1, "symbol": "BTC/USDT"})) == 1
    daily = Rule("daily_loss", {"share": 0.8}, cooldown_s=0)
    perf = {"max_daily_loss": 0.05, "day_open": 10_000.0}
    assert daily.check("performance", {**perf, "equity": 9_650.0}) == []     # 3.5 % = 70 %
    assert len(daily.check("performance", {**perf, "equity": 9_590.0})) == 1  # 4.1 % = 82 %
    assert daily.check("performance", {"max_daily_loss": None, "equity": 1.0,
                                       "day_open": 2.0}) == []


def test_the_center_keeps_publishes_and_acknowledges() -> None:
    published = []
    center = AlertCenter(default_rules(), publish=published.append)
    center.observe("risk", {"kind": "kill_switch", "reason": "drill"})
    center.observe("prices", {"BTC/USDT": 1.0})   # no price rule by default
    [alert] = center.list()
    assert alert.kind == "kill_switch" and alert.severity == "critical"
    assert published == [alert.view()]
    assert center.acknowledge(alert.id, by="me") is alert and alert.acknowledged
    assert center.list(unacknowledged=True) == []
    assert center.acknowledge("nope") is None


@pytest.mark.parametrize("kind, params, match", [
    ("price_moves", {}, "unknown alert rule kind"),
    ("price_move", {}, "needs pct"),
    ("price_move", {"pct": -1}, "positive number"),
    ("price_level", {"symbol": "X"}, "above or below"),
    ("signal", {"side": "LONG"}, "BUY or SELL"),
    ("kill_switch", {"pct": 1}, "takes"),
])
def test_bad_rules_are_refused(kind: str, params: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Rule(kind, params)
