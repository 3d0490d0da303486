"""The backtest run config: frozen, hashable, and strict about unknown keys.

A config fully describes a run (strategy, parameters, data, dates, costs, seed), so its hash
identifies the result it produced. Load one from a JSON file, a dict, or the command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ConfigError
from engine.risk import RiskLimits
from engine.timeframes import timeframe_to_ns
from engine.venue import VenueConfig

SYNTHETIC = "synthetic"


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """Everything that determines a backtest's result."""

    strategy: str = "sma_cross"
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: str = SYNTHETIC
    symbols: tuple[str, ...] | None = None   # None: BTC/USDT for synthetic, else the file's
    start: str | None = None
    end: str | None = None
    timeframe: str | None = None
    capital: float = 100_000.0
    seed: int = 42
    venue: str = "binance"               # venue name for catalog reads and reports
    catalog: str = "catalog"
    skip_bad: bool = False
    maker_fee_bps: float = 2.0
    taker_fee_bps: float = 5.0
    slippage_model: str = "fixed"
    slippage_bps: float = 1.0
    impact_base_bps: float = 0.5
    impact_k_bps: float = 10.0
    latency_ms: float = 0.0
    max_volume_share: float = 0.25
    limit_fill: str = "through"
    periods_per_year: float = 365.0
    risk_free_rate: float = 0.0
    # several strategies per symbol: [{"strategy": ref, "params": {...}}, ...]; when set it
    # replaces ``strategy``/``params``
    strategies: tuple[Mapping[str, Any], ...] | None = None
    max_open_positions: int | None = None
    max_gross_exposure: float | None = None
    # equity curve resolution: the last state in each interval (default 1m; "event": every
    # event time). Bars of 1m or longer are unaffected: each closes in its own minute.
    equity_interval: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        if self.symbols is not None:
            symbols = (self.symbols,) if isinstance(self.symbols, str) else tuple(self.symbols)
            if not symbols or any(not isinstance(s, str) or not s.strip() for s in symbols):
                raise ConfigError(f"symbols must be a non-empty list of names, got "
                                  f"{self.symbols!r}")
            if len(set(symbols)) != len(symbols):
                raise ConfigError(f"symbols lists a name twice: {list(symbols)}")
            object.__setattr__(self, "symbols", symbols)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", float):
                # 100000 and 100000.0 are the same setting and must hash the same
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
                object.__setattr__(self, f.name, float(value))
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ConfigError(f"capital must be a positive number, got {self.capital!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (self.periods_per_year > 0):
            raise ConfigError(f"periods_per_year must be positive, got {self.periods_per_year!r}")
        self.venue_config()  # validates the cost fields
        self.risk_limits()
        self.equity_interval_ns()
        if self.strategies is not None:
            entries = self.strategies
            if isinstance(entries, Mapping) or not isinstance(entries, (list, tuple)) or not entries:
                raise ConfigError("strategies must be a non-empty list of "
                                  "{\"strategy\": ..., \"params\": {...}} entries")
            clean = []
            for i, entry in enumerate(entries):
                if not isinstance(entry, Mapping) or "strategy" not in entry or set(entry) - {
                        "strategy", "params"}:
                    raise ConfigError(f"strategies[{i}] must be an object with keys 'strategy' "
                                      f"and optionally 'params', got {entry!r}")
                if not isinstance(entry["strategy"], str):
                    raise ConfigError(f"strategies[{i}].strategy must be a name or "
                                      f"'module:Class', got {entry['strategy']!r}")
                params = entry.get("params") or {}
                if not isinstance(params, Mapping):
                    raise ConfigError(f"strategies[{i}].params must be an object, got "
                                      f"{params!r}")
                clean.append({"strategy": entry["strategy"], "params": dict(params)})
            object.__setattr__(self, "strategies", tuple(clean))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str | None = None) -> "BacktestConfig":
        """Build from a mapping; an unknown key is an error naming it, the source and valid keys."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            where = f" in {source}" if source else ""
            raise ConfigError(f"unknown config key {', '.join(repr(k) for k in unknown)}{where}; "
                              f"valid keys: {', '.join(names)}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid config{f' in {source}' if source else ''}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "BacktestConfig":
        """Load a JSON config file."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a config file must hold a JSON object")
        return cls.from_dict(values, source=str(path))

    def replace(self, **changes: Any) -> "BacktestConfig":
        return dataclasses.replace(self, **changes)

    def venue_config(self) -> VenueConfig:
        """The simulated venue's cost and fill settings."""
        return VenueConfig(
            venue=self.venue, maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps,
            slippage_model=self.slippage_model, slippage_bps=self.slippage_bps,
            impact_base_bps=self.impact_base_bps, impact_k_bps=self.impact_k_bps,
            latency_ms=self.latency_ms, max_volume_share=self.max_volume_share,
            limit_fill=self.limit_fill)

    def risk_limits(self) -> RiskLimits:
        """The portfolio-level risk limits."""
        return RiskLimits(max_open_positions=self.max_open_positions,
                          max_gross_exposure=self.max_gross_exposure)

    def equity_interval_ns(self) -> int:
        """The equity curve's resolution in ns (0: every event time)."""
        value = self.equity_interval
        if value is None:
            return 60_000_000_000
        if value == "event":
            return 0
        try:
            return timeframe_to_ns(value)
        except (ConfigError, TypeError, ValueError):
            raise ConfigError(f"equity_interval must be 'event' or a timeframe such as 1s, 1m, "
                              f"1h, got {value!r}") from None

    def strategy_entries(self) -> list[dict[str, Any]]:
        """Every strategy to run on each symbol: ``{"strategy": ref, "params": {...}}``."""
        if self.strategies is not None:
            return [dict(e) for e in self.strategies]
        return [{"strategy": self.strategy, "params": dict(self.params)}]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = dataclasses.asdict(self)
        out["symbols"] = list(self.symbols) if self.symbols is not None else None
        out["params"] = dict(self.params)
        # settings added later are left out while unset, so earlier configs keep their hash
        for name in ("strategies", "max_open_positions", "max_gross_exposure",
                     "equity_interval"):
            if out[name] is None:
                del out[name]
        if self.strategies is not None:
            out["strategies"] = [dict(e) for e in self.strategies]
        return out

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the config: identifies what produced a result."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """Deterministic compact JSON (sorted keys) used for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
