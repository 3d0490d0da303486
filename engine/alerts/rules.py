"""Alert rules: each looks at one kind of observation and says when it fires.

Observations (what the agent's watcher hands over): ``prices`` ({symbol: price}),
``signals`` (an order a strategy placed), ``risk`` (a ``RiskEvent``), ``orders`` (an order
event), ``performance`` (equity, the day's opening equity, the daily-loss limit) and
``agent`` (its state).

- ``price_move`` (symbol, ``*`` for any; pct, a fraction; window_s): the price moved by
  ``pct`` or more within ``window_s`` seconds;
- ``price_level`` (symbol; above and/or below): the price crossed a level;
- ``signal`` (strategy, ``*`` for any; side): a strategy placed an order (on ``side`` only);
- ``risk_state`` (scope): the portfolio or a strategy left ACTIVE (REDUCING, HALTED);
- ``kill_switch``: the kill switch was pulled;
- ``daily_loss`` (share, default 0.8): the day's loss reached ``share`` of its limit;
- ``order_rejected``: the venue rejected an order;
- ``agent_failed``: the agent's session failed.

A rule fires at most once per ``cooldown_s`` (per symbol or strategy where it has one).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import deque
from typing import Any

from engine.errors import ConfigError

SEVERITIES = ("info", "warning", "critical")
RULE_KINDS: dict[str, tuple[str, ...]] = {   # kind -> the params it takes
    "price_move": ("symbol", "pct", "window_s"),
    "price_level": ("symbol", "above", "below"),
    "signal": ("strategy", "side"),
    "risk_state": ("scope",),
    "kill_switch": (),
    "daily_loss": ("share",),
    "order_rejected": (),
    "agent_failed": (),
}
_OBSERVES = {"price_move": "prices", "price_level": "prices", "signal": "signals",
             "risk_state": "risk", "kill_switch": "risk", "daily_loss": "performance",
             "order_rejected": "orders", "agent_failed": "agent"}


@dataclasses.dataclass
class Rule:
    """One alert rule; ``check(kind, data, now)`` returns the messages it fires."""

    kind: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    severity: str = "warning"
    cooldown_s: float = 60.0
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    _last: dict[str, float] = dataclasses.field(default_factory=dict, repr=False)
    _history: dict[str, deque[tuple[float, float]]] = dataclasses.field(
        default_factory=dict, repr=False)
    _side: dict[str, float] = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in RULE_KINDS:
            raise ConfigError(f"unknown alert rule kind {self.kind!r}; kinds: "
                              f"{', '.join(RULE_KINDS)}")
        unknown = set(self.params) - set(RULE_KINDS[self.kind])
        if unknown:
            raise ConfigError(f"alert rule {self.kind!r} takes {list(RULE_KINDS[self.kind])}, "
                              f"not {sorted(unknown)}")
        if self.severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {', '.join(SEVERITIES)}")
        if not self.cooldown_s >= 0:
            raise ConfigError("cooldown_s must be 0 or more seconds")
        p = self.params
        for name in ("pct", "window_s", "above", "below", "share"):
            if name in p and not (isinstance(p[name], (int, float)) and p[name] > 0):
                raise ConfigError(f"alert rule {self.kind!r}: {name} must be a positive "
                                  f"number, got {p[name]!r}")
        if self.kind == "price_move" and "pct" not in p:
            raise ConfigError("alert rule 'price_move' needs pct (e.g. 0.02 for 2 %)")
        if self.kind == "price_level" and not ({"above", "below"} & set(p)):
            raise ConfigError("alert rule 'price_level' needs above or below")
        if "side" in p and p["side"] not in ("BUY", "SELL"):
            raise ConfigError("side must be BUY or SELL")

    @property
    def observes(self) -> str:
        return _OBSERVES[self.kind]

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "params": dict(self.params),
                "severity": self.severity, "cooldown_s": self.cooldown_s}

    def _ready(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self.cooldown_s:
            return False
        self._last[key] = now
        return True

    def check(self, kind: str, data: Any, now: float | None = None) -> list[tuple[str, Any]]:
        """The (message, details) pairs this observation fires."""
        if kind != self.observes:
            return []
        now = time.time() if now is None else now
        return getattr(self, f"_{self.kind}")(data, now)

    def _wanted(self, name: str, value: Any) -> bool:
        want = self.params.get(name, "*")
        return want in ("*", None) or want == value

    def _price_move(self, prices: dict[str, float], now: float) -> list[tuple[str, Any]]:
        out = []
        window = float(self.params.get("window_s", 60.0))
        pct = float(self.params["pct"])
        for symbol, price in prices.items():
            if not self._wanted("symbol", symbol) or not price > 0:
                continue
            history = self._history.setdefault(symbol, deque())
            history.append((now, price))
            while history and now - history[0][0] > window:
                history.popleft()
            low = min(p for _, p in history)
            high = max(p for _, p in history)
            move = max(price / low - 1.0, 1.0 - price / high)
            if move >= pct and self._ready(symbol, now):
                direction = "up" if price / low - 1.0 >= pct else "down"
                out.append((f"{symbol} moved {direction} {move:.2%} within {window:g} s "
                            f"(now {price:g})", {"symbol": symbol, "price": price,
                                                 "move": move}))
                history.clear()
                history.append((now, price))
        return out

    def _price_level(self, prices: dict[str, float], now: float) -> list[tuple[str, Any]]:
        out = []
        for symbol, price in prices.items():
            if not self._wanted("symbol", symbol):
                continue
            previous = self._side.get(symbol)
            self._side[symbol] = price
            if previous is None:
                continue
            for name in ("above", "below"):
                level = self.params.get(name)
                if level is None:
                    continue
                crossed = previous <= level < price if name == "above" else \
                    previous >= level > price
                if crossed and self._ready(f"{symbol}{name}", now):
                    out.append((f"{symbol} crossed {name} {level:g} (now {price:g})",
                                {"symbol": symbol, "price": price, "level": level}))
        return out

    def _signal(self, signal: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        sid = signal.get("strategy_id")
        if not self._wanted("strategy", sid) or not self._wanted("side", signal.get("side")):
            return []
        if not self._ready(str(sid), now):
            return []
        return [(f"{sid} placed {signal.get('side')} {signal.get('quantity')} "
                 f"{signal.get('symbol')} ({signal.get('order_type', 'order')})", signal)]

    def _risk_state(self, event: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        if event.get("kind") != "state" or event.get("state") == "ACTIVE":
            return []
        scope = event.get("scope")
        if not self._wanted("scope", scope) or not self._ready(f"{scope}{event.get('state')}",
                                                               now):
            return []
        return [(f"{scope} is {event.get('state')}: {event.get('reason')}", event)]

    def _kill_switch(self, event: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        if event.get("kind") != "kill_switch" or not self._ready("kill", now):
            return []
        return [(f"kill switch pulled: {event.get('reason')}", event)]

    def _daily_loss(self, perf: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        limit, day_open, equity = perf.get("max_daily_loss"), perf.get("day_open"), \
            perf.get("equity")
        if not limit or not day_open or equity is None:
            return []
        loss = max(day_open - equity, 0.0) / day_open
        share = float(self.params.get("share", 0.8))
        if loss >= share * limit and self._ready("day", now):
            return [(f"daily loss {loss:.2%} is {loss / limit:.0%} of its {limit:.2%} limit",
                     {"loss": loss, "limit": limit, "equity": equity})]
        return []

    def _order_rejected(self, event: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        if event.get("type") != "OrderRejected" or not self._ready(
                str(event.get("strategy_id")), now):
            return []
        return [(f"order {event.get('client_order_id')} of {event.get('strategy_id')} "
                 f"rejected: {event.get('reason')}", event)]

    def _agent_failed(self, status: dict[str, Any], now: float) -> list[tuple[str, Any]]:
        if status.get("state") != "failed" or not self._ready("failed", now):
            return []
        return [(f"the agent's session failed: {status.get('error')}", status)]


def default_rules() -> list[Rule]:
    """What the copilot watches without being told: states leaving ACTIVE, the kill switch,
    the daily loss at 80 % of its limit, rejected orders, a failed session."""
    return [Rule("risk_state", severity="warning", cooldown_s=0),
            Rule("kill_switch", severity="critical", cooldown_s=0),
            Rule("daily_loss", {"share": 0.8}, severity="critical", cooldown_s=3600),
            Rule("order_rejected", severity="warning", cooldown_s=60),
            Rule("agent_failed", severity="critical", cooldown_s=0)]


__all__ = ["RULE_KINDS", "SEVERITIES", "Rule", "default_rules"]
