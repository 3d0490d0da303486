"""The risk limits: every field of the risk engine's configuration (``RiskLimits``), checked as
it is made so that a bad value is a ``ConfigError`` naming its field, the presets, and the
names the engine and its reports share (trading states, regimes, reason codes).

``engine.risk`` re-exports all of it; the engine itself lives there. The two are apart because
``engine/risk.py`` is compiled (mypyc) where the machine has a C compiler, and compiled code
checks every value against its annotation as it reads it: a mistyped field would fail there
with a bare ``TypeError`` before its check could name it. Here nothing is compiled, so every
field reaches its check.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from engine.errors import ConfigError
from engine.market_stats import StatsConfig
from engine.timeframes import timeframe_to_ns

# trading states, in order of severity
ACTIVE, REDUCING, HALTED = 0, 1, 2
STATES = ("ACTIVE", "REDUCING", "HALTED")
PORTFOLIO = "portfolio"
ACCOUNTS = ("spot", "margin")
REGIMES = ("CALM", "NORMAL", "VOLATILE", "HIGHLY_VOLATILE")

# every reason code an order can be denied (or reduced) with
REASON_CODES = (
    "insufficient_buying_power", "insufficient_position", "max_leverage", "max_position",
    "max_order_notional", "max_open_positions", "max_gross_exposure", "max_net_exposure",
    "max_drawdown", "daily_loss", "consecutive_losses", "cooldown", "correlation_exposure",
    "regime", "pre_trade_cost", "order_rate", "halted", "reducing", "kill_switch", "bankrupt",
)


# The presets: each sets these risk fields (and the sizing policy, ``PRESET_SIZING``); keys
# given beside a preset win. Ranges as traders state them: max drawdown 10-20 %, position
# size 2-10 %, stop 1-3 %, daily loss 2-10 %.
PRESETS: dict[str, dict[str, Any]] = {
    "conservative": {
        "max_drawdown": 0.10, "max_daily_loss": 0.02, "stop_loss": 0.01,
        "max_position_share": 0.10, "max_gross_exposure": 0.5, "max_consecutive_losses": 3,
        "loss_pause": "1d", "cooldown": "4h", "cooldown_max": "2d",
        "correlation_threshold": 0.7, "max_group_exposure": 0.3, "block_regime": "VOLATILE",
        "max_cost_bps": 25.0, "max_orders_per_minute": 20,
    },
    "medium": {
        "max_drawdown": 0.15, "max_daily_loss": 0.05, "stop_loss": 0.02,
        "max_position_share": 0.25, "max_gross_exposure": 1.0, "max_consecutive_losses": 5,
        "loss_pause": "12h", "cooldown": "1h", "cooldown_max": "1d",
        "correlation_threshold": 0.7, "max_group_exposure": 0.6,
        "block_regime": "HIGHLY_VOLATILE", "max_cost_bps": 50.0, "max_orders_per_minute": 60,
    },
    "aggressive": {
        "max_drawdown": 0.20, "max_daily_loss": 0.10, "stop_loss": 0.03,
        "max_position_share": 0.5, "max_gross_exposure": 1.0, "max_consecutive_losses": 8,
        "loss_pause": "4h", "cooldown": "15m", "cooldown_max": "12h",
        "correlation_threshold": 0.8, "max_group_exposure": 1.0, "volatile_scale": 0.5,
        "max_cost_bps": 100.0, "max_orders_per_minute": 120,
    },
}
# the share of equity a preset's entries are sized at (``engine.sizing`` fixed_fraction)
PRESET_SIZING = {"conservative": 0.02, "medium": 0.05, "aggressive": 0.10}


# the fields a strategy may set for itself (``strategy_risk``)
STRATEGY_FIELDS = ("max_consecutive_losses", "loss_pause", "stop_loss", "max_order_notional",
                   "on_insufficient", "max_position_share")


def _positive(name: str, value: Any, *, integer: bool = False, at_most: float | None = None,
              allow_zero: bool = False) -> None:
    if value is None:
        return
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool) and (
            value >= 0 if allow_zero else value >= 1)
        what = "a positive integer"
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and (value >= 0 if allow_zero else value > 0))
        what = "a non-negative number" if allow_zero else "a positive number"
    if ok and at_most is not None and value > at_most:
        ok = False
        what += f" at most {at_most:g}"
    if not ok:
        raise ConfigError(f"risk field {name} must be {what}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RiskLimits:
    """The account and the portfolio rules; ``None`` switches a rule off.

    Fields are documented one by one in ``docs/risk.md``.
    """

    # the account
    account: str = "spot"                       # "spot" or "margin"
    on_insufficient: str = "reduce"             # past buying power or a cap: "deny" or "reduce"
    price_buffer_bps: float = 50.0              # market orders reserve cash at mark x (1 + buffer)
    max_leverage: float = 3.0                   # margin: gross exposure / equity
    symbol_leverage: Mapping[str, float] | None = None   # margin: per-symbol caps
    maintenance_margin: float = 0.05            # margin: liquidation below this x gross exposure
    # limits
    max_open_positions: int | None = None
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_position_qty: float | None = None       # per symbol, position plus working orders
    max_position_notional: float | None = None
    max_position_share: float | None = None     # of equity
    max_order_notional: float | None = None
    # breakers and states
    max_drawdown: float | None = None           # from the peak equity
    drawdown_action: str = "halt"               # "halt" or "reduce"
    max_daily_loss: float | None = None         # of the UTC day's opening equity
    daily_loss_action: str = "halt"
    max_consecutive_losses: int | None = None   # per strategy
    loss_pause: str = "1d"                      # how long a strategy halts after them
    cooldown: str | None = None                 # per symbol after a losing trade, e.g. "1h"
    cooldown_max: str = "1d"
    # market rules
    correlation_threshold: float = 0.7          # symbols at or above it form a group
    max_group_exposure: float | None = None     # gross exposure of a group / equity
    block_regime: str | None = None             # entries refused in this regime and above
    volatile_scale: float = 1.0                 # entries in VOLATILE and above are scaled so
    max_cost_bps: float | None = None           # estimated half spread + impact
    max_orders_per_minute: int | None = None    # approved orders per minute of event time
    # how the market rules measure regime, correlation and cost (engine.market_stats
    # StatsConfig fields, e.g. {"correlation_interval": "15m", "correlation_window": 96})
    market_stats: Mapping[str, Any] | None = None
    kill_at: str | None = None                  # kill switch at this time (ISO), from config
    stop_loss: float | None = None              # every entry gets a protective stop this far
    # per-strategy overrides, by the strategy's name in its ids (``sma_cross`` for
    # ``sma_cross:BTC/USDT``): {"sma_cross": {"stop_loss": 0.01, "max_consecutive_losses": 2}}
    strategy_risk: Mapping[str, Mapping[str, Any]] | None = None
    risk_preset: str | None = None              # the preset these values came from (reports)

    def __post_init__(self) -> None:
        if self.account not in ACCOUNTS:
            raise ConfigError(f"risk field account must be one of {', '.join(ACCOUNTS)}, got "
                              f"{self.account!r}")
        for name in ("on_insufficient",):
            if getattr(self, name) not in ("deny", "reduce"):
                raise ConfigError(f"risk field {name} must be 'deny' or 'reduce', got "
                                  f"{getattr(self, name)!r}")
        for name in ("drawdown_action", "daily_loss_action"):
            if getattr(self, name) not in ("halt", "reduce"):
                raise ConfigError(f"risk field {name} must be 'halt' or 'reduce', got "
                                  f"{getattr(self, name)!r}")
        _positive("price_buffer_bps", self.price_buffer_bps, allow_zero=True)
        _positive("max_leverage", self.max_leverage)
        _positive("maintenance_margin", self.maintenance_margin, at_most=1.0)
        if self.account == "margin" and self.maintenance_margin * self.max_leverage >= 1.0:
            raise ConfigError(f"risk fields maintenance_margin ({self.maintenance_margin:g}) and "
                              f"max_leverage ({self.max_leverage:g}) contradict: at full "
                              f"leverage the account would be liquidated on opening "
                              f"(maintenance_margin x max_leverage must be below 1)")
        if self.symbol_leverage is not None:
            if not isinstance(self.symbol_leverage, Mapping):
                raise ConfigError(f"risk field symbol_leverage must map symbols to leverage "
                                  f"caps, got {self.symbol_leverage!r}")
            for symbol, cap in self.symbol_leverage.items():
                _positive(f"symbol_leverage[{symbol!r}]", cap)
            object.__setattr__(self, "symbol_leverage", dict(sorted(
                (str(k), float(v)) for k, v in self.symbol_leverage.items())))
        _positive("max_open_positions", self.max_open_positions, integer=True)
        _positive("max_consecutive_losses", self.max_consecutive_losses, integer=True)
        _positive("max_orders_per_minute", self.max_orders_per_minute, integer=True)
        for name in ("max_gross_exposure", "max_net_exposure", "max_position_qty",
                     "max_position_notional", "max_position_share", "max_order_notional",
                     "max_group_exposure", "max_cost_bps"):
            _positive(name, getattr(self, name))
        if self.risk_preset is not None and self.risk_preset not in PRESETS:
            raise ConfigError(f"unknown risk preset {self.risk_preset!r}; presets: "
                              f"{', '.join(PRESETS)}")
        for name in ("max_drawdown", "max_daily_loss", "stop_loss"):
            _positive(name, getattr(self, name), at_most=1.0)
        _positive("volatile_scale", self.volatile_scale, at_most=1.0)
        c = self.correlation_threshold
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not (-1 < c <= 1):
            raise ConfigError(f"risk field correlation_threshold must be in (-1, 1], got "
                              f"{c!r}")
        object.__setattr__(self, "correlation_threshold", float(c))
        if self.market_stats is not None:
            if not isinstance(self.market_stats, Mapping):
                raise ConfigError(f"risk field market_stats must be an object of "
                                  f"engine.market_stats.StatsConfig fields, got "
                                  f"{self.market_stats!r}")
            try:
                self.stats_config()
            except ConfigError as exc:
                raise ConfigError(f"risk field market_stats: {exc}") from None
            object.__setattr__(self, "market_stats", dict(sorted(self.market_stats.items())))
        if self.block_regime is not None and self.block_regime not in REGIMES:
            raise ConfigError(f"risk field block_regime must be one of {', '.join(REGIMES)}, "
                              f"got {self.block_regime!r}")
        for name in ("loss_pause", "cooldown", "cooldown_max"):
            value = getattr(self, name)
            if value is not None:
                try:
                    timeframe_to_ns(value)
                except ConfigError as exc:
                    raise ConfigError(f"risk field {name}: {exc}") from None
        if self.cooldown is not None and (timeframe_to_ns(self.cooldown)
                                          > timeframe_to_ns(self.cooldown_max)):
            raise ConfigError(f"risk fields cooldown ({self.cooldown}) and cooldown_max "
                              f"({self.cooldown_max}) contradict: the base is longer than the "
                              f"cap")
        if self.kill_at is not None:
            self.kill_at_ns()
        if self.strategy_risk is not None:
            if not isinstance(self.strategy_risk, Mapping):
                raise ConfigError(f"risk field strategy_risk must map strategy names to "
                                  f"their fields, got {self.strategy_risk!r}")
            clean = {}
            for name, fields in self.strategy_risk.items():
                where = f"risk field strategy_risk[{name!r}]"
                if not isinstance(fields, Mapping):
                    raise ConfigError(f"{where} must be an object of fields, got {fields!r}")
                unknown = sorted(set(fields) - set(STRATEGY_FIELDS))
                if unknown:
                    raise ConfigError(f"{where}: {', '.join(map(repr, unknown))} cannot be set "
                                      f"per strategy; these can: {', '.join(STRATEGY_FIELDS)}")
                try:
                    dataclasses.replace(RiskLimits(), **fields)
                except ConfigError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
                clean[str(name)] = dict(sorted(fields.items()))
            object.__setattr__(self, "strategy_risk", dict(sorted(clean.items())))

    def for_strategy(self, strategy_id: str) -> RiskLimits:
        """The limits a strategy's orders meet: these, with its overrides (by the name its
        id starts with)."""
        fields = (self.strategy_risk or {}).get(strategy_id.split(":", 1)[0])
        if not fields:
            return self
        return dataclasses.replace(self, strategy_risk=None, **fields)

    def stats_config(self) -> StatsConfig:
        """How the market statistics behind the market rules are measured."""
        values = dict(self.market_stats or {})
        if "regime_thresholds" in values:
            values["regime_thresholds"] = tuple(values["regime_thresholds"])
        return StatsConfig.from_dict(values)

    def kill_at_ns(self) -> int | None:
        if self.kill_at is None:
            return None
        import pandas as pd
        try:
            return int(pd.Timestamp(self.kill_at, tz="UTC").value) if pd.Timestamp(
                self.kill_at).tzinfo is None else int(pd.Timestamp(self.kill_at).value)
        except (ValueError, TypeError):
            raise ConfigError(f"risk field kill_at must be a time such as 2024-03-01T12:00, "
                              f"got {self.kill_at!r}") from None

    @property
    def active(self) -> bool:
        """The engine always keeps the account; kept for callers that ask."""
        return True

    @property
    def market_rules(self) -> bool:
        """Whether a rule needs market statistics (regime, correlation, cost)."""
        return (self.max_group_exposure is not None or self.block_regime is not None
                or self.volatile_scale < 1.0 or self.max_cost_bps is not None)

    def rules_on(self) -> list[str]:
        """The names of the rules switched on (for reports)."""
        names = [f.name for f in dataclasses.fields(self) if f.name.startswith("max_")
                 and f.name not in ("max_leverage",) and getattr(self, f.name) is not None]
        for name in ("cooldown", "block_regime", "kill_at", "stop_loss"):
            if getattr(self, name) is not None:
                names.append(name)
        if self.volatile_scale < 1.0:
            names.append("volatile_scale")
        return names
