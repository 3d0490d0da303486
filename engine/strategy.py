"""The Strategy API: what a quant writes (strategies import it from ``engine.api``).

A strategy is a class with a frozen, typed parameter config and ``on_*`` hooks::

    class SmaCross(Strategy):
        name = "sma_cross"

        class Params(StrategyParams):
            fast: int = param(10, low=2, high=200, doc="fast SMA length, in events")
            slow: int = param(30, low=3, high=1000, doc="slow SMA length, in events")

        def on_start(self) -> None:
            self.fast, self.slow = SMA(self.params.fast), SMA(self.params.slow)
            self.long = False

        def on_price(self, price: float) -> None:
            above = self.fast.update(price) > self.slow.update(price)
            if self.slow.ready and above != self.long:
                self.long = above
                self.ctx.order_target_percent(0.95 if above else 0.0, price)

One instance runs per (symbol, strategy); it places orders and reads its position, cash and
equity through ``self.ctx`` (a :class:`StrategyContext`), never does I/O and never reads the
wall clock (``self.ctx.now_ns()`` is event time). The same class runs unchanged in a backtest,
on the actor graph, and in paper and live trading.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from engine.errors import ConfigError
from engine.messages import (Bar, OrderCanceled, OrderDenied, OrderFilled, OrderRejected, Quote,
                             Trade)

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One parameter's declaration: type, default, allowed range or choices, and meaning."""

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def describe_range(self) -> str:
        """Human text of the allowed values, e.g. ``[2, 200]`` or ``one of 'a', 'b'``."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else repr(self.low)
            high = "inf" if self.high is None else repr(self.high)
            return f"[{low}, {high}]"
        return "any"


def param(default: Any, *, low: float | None = None, high: float | None = None,
          choices: tuple[Any, ...] | list[Any] | None = None, doc: str = "") -> Any:
    """Declare a strategy parameter with its default and the range an optimizer may search."""
    meta = {"low": low, "high": high, "choices": tuple(choices) if choices is not None else None,
            "doc": doc}
    return dataclasses.field(default=default, metadata=meta)


def allocation_param(default: float = 0.95) -> Any:
    """The ``allocation`` parameter most built-ins take: the share of the strategy's equity a
    position is worth, in [0.01, 1]."""
    return param(default, low=0.01, high=1.0, doc="share of equity to hold when in a position")


class StrategyParams:
    """Base class of strategy parameter configs; subclasses become frozen dataclasses.

    Construction validates types and ranges; :meth:`create` also rejects unknown keys and
    converts text values (from the command line or a config file).
    """

    _strategy_name: ClassVar[str] = "strategy"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)

    def __post_init__(self) -> None:
        for spec in self.specs():
            value = getattr(self, spec.name)
            checked = _check_value(type(self)._strategy_name, spec, value)
            if checked is not value:
                object.__setattr__(self, spec.name, checked)
        self.check()

    def check(self) -> None:
        """Cross-parameter rules (e.g. fast < slow); raise ``ConfigError`` naming the strategy."""

    def require_below(self, low: str, high: str, relation: str = "shorter than") -> None:
        """``ConfigError`` naming the strategy and both parameters unless parameter ``low`` is
        below parameter ``high`` (for :meth:`check`)."""
        a, b = getattr(self, low), getattr(self, high)
        if not a < b:
            raise ConfigError(f"strategy {type(self)._strategy_name!r} parameter {low!r} "
                              f"({a!r}) must be {relation} {high!r} ({b!r})")

    @classmethod
    def specs(cls) -> list[ParamSpec]:
        """The declared parameters in declaration order."""
        if not dataclasses.is_dataclass(cls):
            return []
        hints = _resolved_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            out.append(ParamSpec(name=f.name, type=hints[f.name], default=f.default,
                                 low=meta.get("low"), high=meta.get("high"),
                                 choices=meta.get("choices"), doc=meta.get("doc", "")))
        return out

    @classmethod
    def create(cls, values: Mapping[str, Any] | None = None, *,
               source: str | None = None) -> StrategyParams:
        """Build validated params from a mapping; an unknown key is an error naming the valid
        ones."""
        values = dict(values or {})
        specs = {s.name: s for s in cls.specs()}
        unknown = sorted(set(values) - set(specs))
        if unknown:
            where = f" in {source}" if source else ""
            raise ConfigError(
                f"unknown parameter {', '.join(repr(u) for u in unknown)} for strategy "
                f"{cls._strategy_name!r}{where}; valid parameters: "
                f"{', '.join(specs) if specs else '(none)'}")
        converted = {k: _convert_text(cls._strategy_name, specs[k], v) for k, v in values.items()}
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        """The parameter values, in declaration order."""
        if not dataclasses.is_dataclass(self):
            return {}   # a strategy without parameters
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _resolved_hints(cls: type) -> dict[str, type]:
    import typing
    hints = typing.get_type_hints(cls)
    return {k: v for k, v in hints.items() if not k.startswith("_")}


def _convert_text(strategy: str, spec: ParamSpec, value: Any) -> Any:
    if not isinstance(value, str) or spec.type is str:
        return value
    text = value.strip()
    try:
        if spec.type is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if spec.type is int:
            try:
                return int(text)
            except ValueError:
                number = float(text)    # "7.0" is 7; "7.5" is an error
                if not number.is_integer():
                    raise
                return int(number)
        if spec.type is float:
            return float(text)
    except ValueError:
        raise ConfigError(f"strategy {strategy!r} parameter {spec.name!r}: {value!r} is not "
                          f"a valid {spec.type.__name__}; allowed "
                          f"{spec.describe_range()}") from None
    return value


def _check_value(strategy: str, spec: ParamSpec, value: Any) -> Any:
    expected = spec.type
    ok = True
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = math.isfinite(value)
    elif expected is str:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"strategy {strategy!r} parameter {spec.name!r} must be a finite "
                          f"{getattr(expected, '__name__', expected)}, got {value!r}; allowed "
                          f"{spec.describe_range()}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"strategy {strategy!r} parameter {spec.name!r} = {value!r} is not "
                          f"allowed; allowed {spec.describe_range()}")
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise ConfigError(f"strategy {strategy!r} parameter {spec.name!r} = {value!r} is out of "
                          f"range; allowed {spec.describe_range()}")
    return value


class StrategyContext(Protocol):
    """What a strategy can see and do. The engine supplies one per (symbol, strategy).

    ``position`` is the signed quantity held by this strategy in its symbol (negative when
    short); ``avg_price`` its average entry price. ``cash`` and ``equity`` are portfolio-wide;
    ``capital_share`` is the share of equity this strategy should size against (1/N when N
    (symbol, strategy) pairs run, unless configured), so N strategies sized at
    ``allocation * equity * capital_share`` never lever the portfolio past ``allocation``.
    Order methods return the client order id; the order types and their fill rules are in
    ``docs/orders.md``.
    """

    strategy_id: str
    venue: str
    symbol: str
    position: float
    avg_price: float
    capital_share: float

    def now_ns(self) -> int: ...
    @property
    def cash(self) -> float: ...
    @property
    def equity(self) -> float: ...
    @property
    def last_price(self) -> float: ...
    def buy(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
            time_in_force: str = "GTC", reduce_only: bool = False, post_only: bool = False,
            stop_loss: float | None = None, take_profit: float | None = None,
            trailing: float | None = None, trailing_offset: float | None = None,
            stop_loss_pct: float | None = None, take_profit_pct: float | None = None) -> str: ...
    def sell(self, quantity: float, *, limit: float | None = None, stop: float | None = None,
             time_in_force: str = "GTC", reduce_only: bool = False, post_only: bool = False,
             stop_loss: float | None = None, take_profit: float | None = None,
             trailing: float | None = None, trailing_offset: float | None = None,
             stop_loss_pct: float | None = None, take_profit_pct: float | None = None) -> str: ...
    def submit_order(self, side: str, quantity: float, order_type: str = "MARKET", *,
                     limit_price: float | None = None, stop_price: float | None = None,
                     time_in_force: str = "GTC", reduce_only: bool = False,
                     post_only: bool = False, trail_offset: float | None = None,
                     trail_percent: float | None = None,
                     oco_group: str | None = None) -> str: ...
    def stop_loss(self, price: float, quantity: float | None = None, *,
                  oco_group: str | None = None) -> str | None: ...
    def take_profit(self, price: float, quantity: float | None = None, *,
                    oco_group: str | None = None) -> str | None: ...
    def trailing_stop(self, percent: float | None = None, *, offset: float | None = None,
                      quantity: float | None = None,
                      oco_group: str | None = None) -> str | None: ...
    def order_target(self, quantity: float) -> str | None: ...
    def order_target_percent(self, fraction: float, price: float) -> str | None: ...
    def cancel(self, client_order_id: str) -> None: ...
    def cancel_all(self) -> None: ...
    def open_orders(self) -> list[Any]: ...
    @property
    def pending_quantity(self) -> float: ...


class Strategy:
    """Base class of every strategy. Override the hooks you need; the rest cost nothing."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    # Whether the strategy only ever holds longs. None: decided by an ``allow_short``
    # parameter when it has one (long-only while it is False), else not long-only.
    LONG_ONLY: ClassVar[bool | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            cls.name = cls.__name__
        if "Params" in cls.__dict__:
            cls.Params._strategy_name = cls.name

    def __init__(self, params: StrategyParams | Mapping[str, Any] | None = None) -> None:
        if params is None or isinstance(params, Mapping):
            params = self.Params.create(params or {})
        elif not isinstance(params, self.Params):
            raise ConfigError(f"strategy {self.name!r} expects {self.Params.__qualname__} "
                              f"params, got {type(params).__name__}")
        self.params = params
        self.ctx: StrategyContext = None  # type: ignore[assignment]  # bound by the engine

    # --- hooks (all optional) ---
    def on_start(self) -> None:
        """Called once before the first event; create indicators here."""

    def on_bar(self, bar: Bar) -> None:
        """A bar of this strategy's symbol closed."""

    def on_trade(self, trade: Trade) -> None:
        """A public trade of this strategy's symbol printed."""

    def on_quote(self, quote: Quote) -> None:
        """The top of book of this strategy's symbol changed."""

    def on_price(self, price: float) -> None:
        """A new price of this strategy's symbol: a bar's close, a trade's price or a quote's
        mid, whatever its feed carries. Runs after ``on_bar`` / ``on_trade`` / ``on_quote``
        on the same event. Only finite prices arrive: an event whose price is NaN or
        infinite skips this hook, so a strategy's state is left as it was."""

    def on_fill(self, fill: OrderFilled) -> None:
        """One of this strategy's orders (partly) filled; ``self.ctx.position`` is updated."""

    def on_order_rejected(self, event: OrderRejected) -> None:
        """The venue refused one of this strategy's orders."""

    def on_order_denied(self, event: OrderDenied) -> None:
        """Risk refused one of this strategy's orders."""

    def on_order_canceled(self, event: OrderCanceled) -> None:
        """One of this strategy's orders was canceled."""

    def on_stop(self) -> None:
        """Called once after the last event."""

    def save_state(self) -> dict[str, Any] | None:
        """Live sessions: what this strategy must remember across a restart (JSON values),
        journaled as the session runs; None (the default) keeps nothing."""
        return None

    def load_state(self, state: dict[str, Any]) -> None:
        """Live sessions: take back what :meth:`save_state` kept, before the first event of a
        resumed session (after ``on_start``)."""

    def on_batch(self, batch: Any) -> Any:
        """Optional batch path: the orders the hooks would place on a chunk of events.

        Takes an ``engine.intents.EventBatch`` and returns ``engine.intents.Intents`` (or
        None). Implement it only when it yields exactly the hooks' orders; see
        ``engine.intents``. Chunks arrive in order, after ``on_start``.
        """
        return None

    @property
    def long_only(self) -> bool:
        """A long-only strategy's targets are never short, whatever its signal says."""
        if self.LONG_ONLY is not None:
            return self.LONG_ONLY
        allow = getattr(self.params, "allow_short", None)
        return allow is False

    @classmethod
    def has_batch_path(cls) -> bool:
        """Whether this strategy provides ``on_batch``."""
        return cls.overrides("on_batch")

    @classmethod
    def overrides(cls, hook: str) -> bool:
        """Whether this class implements ``hook`` (the engine skips hooks left as no-ops)."""
        return getattr(cls, hook) is not getattr(Strategy, hook)


BUILTIN_STRATEGIES: dict[str, str] = {
    "sma_cross": "strategies.sma_cross:SmaCross",
    "momentum": "strategies.momentum:Momentum",
    "bollinger_reversion": "strategies.bollinger_reversion:BollingerReversion",
    "breakout": "strategies.breakout:Breakout",
    "ema_trend": "strategies.ema_trend:EmaTrend",
    "rsi_divergence": "strategies.rsi_divergence:RsiDivergence",
    "vwap_reversion": "strategies.vwap_reversion:VwapReversion",
    "grid": "strategies.grid:Grid",
    "dca": "strategies.dca:Dca",
    "rsi_bounds": "strategies.rsi_bounds:RsiBounds",
    "bollinger_bands": "strategies.bollinger_bands:BollingerBandsStrategy",
    "macd": "strategies.macd:MacdStrategy",
    "macd_bollinger": "strategies.macd_bollinger:MacdBollinger",
    "order_flow_imbalance": "strategies.order_flow_imbalance:OrderFlowImbalance",
    "liquidity_events": "strategies.liquidity_events:LiquidityEvents",
    "volume_price_correlation": "strategies.volume_price_correlation:VolumePriceCorrelation",
    "signal_aggregation": "strategies.signal_aggregation:SignalAggregation",
}

# Names from the documentation this project follows (Atlas, Velocitas), each an alias of the
# built-in that implements it: accepted wherever a built-in name is.
STRATEGY_ALIASES: dict[str, str] = {
    "mean_reversion": "bollinger_reversion",
    "trend_following": "ema_trend",
    "sma_crossover": "sma_cross",
}


def builtin_name(ref: str) -> str:
    """The built-in name an alias stands for; any other reference unchanged."""
    return STRATEGY_ALIASES.get(ref, ref)


def load_strategy(ref: str) -> type[Strategy]:
    """Resolve a built-in name (``sma_cross``), an alias of one (``sma_crossover``) or a
    ``module:Class`` reference to a class."""
    target = BUILTIN_STRATEGIES.get(builtin_name(ref), ref)
    if ":" not in target:
        raise ConfigError(f"unknown strategy {ref!r}: use a built-in name "
                          f"({', '.join(sorted(BUILTIN_STRATEGIES))}), an alias "
                          f"({', '.join(sorted(STRATEGY_ALIASES))}) or 'module:Class'")
    module_name, _, class_name = target.partition(":")
    if not module_name or module_name.startswith("."):
        raise ConfigError(f"strategy {ref!r}: expected 'package.module:Class' with an absolute "
                          f"module path")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while importing user code
        raise ConfigError(f"strategy {ref!r}: cannot import module {module_name!r}: "
                          f"{type(exc).__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategy {ref!r}: {module_name!r} has no Strategy subclass "
                          f"{class_name!r}")
    return cls
