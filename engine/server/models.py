"""The request bodies the API validates (pydantic; unknown fields refused). A backtest
request is not here: it is a backtest config, checked by ``BacktestConfig`` itself."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentStart(Strict):
    """Start a paper session: a backtest config's strategy, symbol and risk fields, the
    exchange (a ccxt id) and its ccxt settings (``rest_url`` / ``ws_url`` point it elsewhere;
    keys are never taken)."""

    config: dict[str, Any] = Field(description="backtest config fields (symbols, strategies, "
                                               "risk, capital, ...)")
    exchange: str = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9_]+$")
    exchange_config: dict[str, Any] = Field(default_factory=dict)
    sandbox: bool = False
    feed: Literal["trades", "quotes"] = "trades"
    duration: float | None = Field(default=None, gt=0, le=30 * 86400)
    resume: bool = Field(default=False, description="come back with the strategy set and "
                                                    "states the last session saved")


class Reason(Strict):
    reason: str = Field(default="requested through the API", min_length=1, max_length=200)


class StrategyRegister(Strict):
    strategy: str = Field(min_length=1, max_length=200, description="built-in name or "
                                                                    "module:Class")
    symbol: str = Field(min_length=1, max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(default=None, min_length=1, max_length=120)


class StrategyParams(Strict):
    params: dict[str, Any]


class AlertRuleCreate(Strict):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown_s: float = Field(default=60.0, ge=0, le=86400)


__all__ = ["AgentStart", "AlertRuleCreate", "Reason", "StrategyParams", "StrategyRegister"]
