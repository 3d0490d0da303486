"""The backtest run config: frozen, hashable, and strict about unknown keys.

A config fully describes a run (strategy, parameters, data, dates, costs, seed), so its hash
identifies the result it produced. Load one from a JSON file, a dict, or the command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.risk import PRESET_SIZING, PRESETS, RiskLimits
from engine.settings import coerce_floats
from engine.sizing import SizingPolicy
from engine.timeframes import timeframe_to_ns
from engine.venue import VenueConfig

SYNTHETIC = "synthetic"


def _default_venue() -> VenueConfig:
    return VenueConfig(venue="binance")


def read_json_object(path: Path, what: str, holds: str) -> dict[str, Any]:
    """The JSON object in the file at ``path``; a ``ConfigError`` naming ``what`` (e.g.
    "config file") and the path when it is missing or unreadable, naming the line when the JSON
    is bad, and saying it must be ``holds`` (e.g. "a config file") when it is not an object."""
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: {holds} must hold a JSON object")
    return values


@dataclasses.dataclass(frozen=True)
class BacktestConfig:
    """Everything that determines a backtest's result.

    The simulated venue's settings (its name, fees, slippage, latency and fill rules) are one
    :class:`VenueConfig` in ``execution``; the portfolio limits one :class:`RiskLimits` in
    ``risk``. Config files, :meth:`from_dict`, :meth:`replace` and ``engine.backtest`` take
    their fields as flat keys (``taker_fee_bps``, ``max_open_positions``, ...), the way
    :meth:`to_dict` writes them; ``fee_bps`` sets both fee rates (a rate given beside it wins).
    """

    strategy: str = "sma_cross"
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    data: str = SYNTHETIC
    symbols: tuple[str, ...] | None = None   # None: BTC/USDT for synthetic, else the file's
    start: str | None = None
    end: str | None = None
    timeframe: str | None = None
    capital: float = 100_000.0
    seed: int = 42
    # the venue: its name (for catalog reads and reports), costs and fill rules
    execution: VenueConfig = dataclasses.field(default_factory=_default_venue)
    catalog: str = "catalog"
    skip_bad: bool = False
    periods_per_year: float = 365.0
    risk_free_rate: float = 0.0
    # several strategies per symbol: [{"strategy": ref, "params": {...}}, ...]; when set it
    # replaces ``strategy``/``params``
    strategies: tuple[Mapping[str, Any], ...] | None = None
    risk: RiskLimits = dataclasses.field(default_factory=RiskLimits)
    # equity curve resolution: the last state in each interval (default 1m; "event": every
    # event time). Bars of 1m or longer are unaffected: each closes in its own minute.
    equity_interval: str | None = None
    # how entries are sized (engine.sizing): "target" (default) leaves it to the strategies;
    # a strategy entry's own "sizing" wins over this one
    sizing: SizingPolicy = dataclasses.field(default_factory=SizingPolicy)
    # the synthetic market's parameters (engine.synthetic.SyntheticConfig): a JSON file as
    # written by ``raytrader synthetic fit``, or the same keys as a mapping; None: defaults
    synthetic_params: str | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name} must be a {cls.__name__}, got "
                                  f"{getattr(self, name)!r}; or give its fields as keys: "
                                  f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        object.__setattr__(self, "params", dict(self.params))
        if not isinstance(self.sizing, SizingPolicy):
            object.__setattr__(self, "sizing", SizingPolicy.from_value(self.sizing,
                                                                       source="sizing"))
        if self.symbols is not None:
            symbols = (self.symbols,) if isinstance(self.symbols, str) else tuple(self.symbols)
            if not symbols or any(not isinstance(s, str) or not s.strip() for s in symbols):
                raise ConfigError(f"symbols must be a non-empty list of names, got "
                                  f"{self.symbols!r}")
            if len(set(symbols)) != len(symbols):
                raise ConfigError(f"symbols lists a name twice: {list(symbols)}")
            object.__setattr__(self, "symbols", symbols)
        coerce_floats(self)
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ConfigError(f"capital must be a positive number, got {self.capital!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (self.periods_per_year > 0):
            raise ConfigError(f"periods_per_year must be positive, got {self.periods_per_year!r}")
        self.equity_interval_ns()
        params = self.synthetic_params
        if params is not None and not isinstance(params, (str, Mapping)):
            raise ConfigError(f"synthetic_params must be a params file path or a mapping, "
                              f"got {params!r}")
        if isinstance(params, Mapping):
            object.__setattr__(self, "synthetic_params", dict(params))
        if self.strategies is not None:
            object.__setattr__(self, "strategies", _strategy_entries(self.strategies))

    @property
    def venue(self) -> str:
        """The venue's name (``execution.venue``)."""
        return self.execution.venue

    @classmethod
    def keys(cls) -> list[str]:
        """Every key a config file or :meth:`from_dict` takes: the settings, the fields of the
        venue and risk sections, then the aliases (``fee_bps``) and the sections themselves."""
        out = []
        for f in dataclasses.fields(cls):
            section = _SECTIONS.get(f.name)
            out.extend([g.name for g in dataclasses.fields(section)] if section else [f.name])
        return out + list(_ALIASES) + list(_SECTIONS)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *,
                  source: str | None = None) -> BacktestConfig:
        """Build from a mapping of :meth:`keys`; an unknown key is an error naming it, the
        source and the valid keys."""
        return cls()._with(values, source)

    @classmethod
    def from_file(cls, path: str | Path) -> BacktestConfig:
        """Load a JSON config file."""
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a folder; give a JSON config file")
        values = read_json_object(path, "config file", "a config file")
        return cls.from_dict(values, source=str(path))

    def replace(self, **changes: Any) -> BacktestConfig:
        """A copy with ``changes``, any of :meth:`keys` (validated like a new config)."""
        return self._with(changes, None)

    def _with(self, values: Mapping[str, Any], source: str | None) -> BacktestConfig:
        where = f" in {source}" if source else ""
        keys = self.keys()
        unknown = sorted(set(values) - set(keys))
        if unknown:
            raise ConfigError(f"unknown config key {', '.join(repr(k) for k in unknown)}{where}; "
                              f"valid keys: {', '.join(keys)}")
        top = dict(values)
        preset = top.get("risk_preset")
        if preset is not None:
            if preset not in PRESETS:
                raise ConfigError(f"unknown risk preset {preset!r}{where}; presets: "
                                  f"{', '.join(PRESETS)}")
            for key, value in PRESETS[preset].items():   # keys given beside it win
                top.setdefault(key, value)
            top.setdefault("sizing", SizingPolicy(policy="fixed_fraction",
                                                  fraction=PRESET_SIZING[preset]))
        for alias, names in _ALIASES.items():
            if alias in top:
                value = top.pop(alias)
                for name in names:
                    top.setdefault(name, value)
        # each section's fields, applied to the section given beside them or to this one's
        nested: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        for key in list(top):
            if key in _SECTION_OF:
                nested[_SECTION_OF[key]][key] = top.pop(key)
        try:
            for name, fields in nested.items():
                base: Any = top.get(name, getattr(self, name))
                if fields and isinstance(base, _SECTIONS[name]):   # (else __post_init__ says)
                    top[name] = dataclasses.replace(base, **fields)
            return dataclasses.replace(self, **top)
        except TypeError as exc:
            raise ConfigError(f"invalid config{where}: {exc}") from None
        except ConfigError as exc:
            if source is None:
                raise
            raise ConfigError(f"{source}: {exc}") from None

    def risk_limits(self) -> RiskLimits:
        """The portfolio-level risk limits (``risk``), as the actor graph reads them."""
        return self.risk

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
        """Plain JSON-ready values, under the flat keys a config file uses."""
        out: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            if name in _SECTIONS:
                out.update(value)
            else:
                out[name] = value
        out["symbols"] = list(self.symbols) if self.symbols is not None else None
        if self.sizing.active:
            out["sizing"] = self.sizing.to_dict()
        else:
            del out["sizing"]   # left out while unset, so earlier configs keep their hash
        out["params"] = dict(self.params)
        # settings added later are left out while unset, so earlier configs keep their hash
        for name in ("strategies", "equity_interval", "synthetic_params", *_RISK_FIELDS):
            if out.get(name, 0) is None:
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


# the nested sections, and which of them each flat key belongs to
_SECTIONS: dict[str, type[Any]] = {"execution": VenueConfig, "risk": RiskLimits}
_RISK_FIELDS = tuple(f.name for f in dataclasses.fields(RiskLimits))
_SECTION_OF = {f.name: name for name, cls in _SECTIONS.items() for f in dataclasses.fields(cls)}
# keys that stand for several: a value given under the alias goes to each name not given itself
_ALIASES = {"fee_bps": ("maker_fee_bps", "taker_fee_bps")}


def _strategy_entries(entries: Any) -> tuple[dict[str, Any], ...]:
    """``strategies`` checked: a non-empty list of ``{"strategy": ref, "params": {...}}``."""
    if isinstance(entries, Mapping) or not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError("strategies must be a non-empty list of "
                          "{\"strategy\": ..., \"params\": {...}} entries")
    clean = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "strategy" not in entry or set(entry) - {
                "strategy", "params", "sizing"}:
            raise ConfigError(f"strategies[{i}] must be an object with keys 'strategy' "
                              f"and optionally 'params' and 'sizing', got {entry!r}")
        if not isinstance(entry["strategy"], str):
            raise ConfigError(f"strategies[{i}].strategy must be a name or "
                              f"'module:Class', got {entry['strategy']!r}")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"strategies[{i}].params must be an object, got "
                              f"{params!r}")
        item = {"strategy": entry["strategy"], "params": dict(params)}
        if entry.get("sizing") is not None:
            policy = SizingPolicy.from_value(entry["sizing"], source=f"strategies[{i}].sizing")
            if policy.active:
                item["sizing"] = policy.to_dict()
        clean.append(item)
    return tuple(clean)
