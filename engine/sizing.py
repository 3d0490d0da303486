"""Position sizing as a policy: a strategy decides the side of an entry, the policy its size.

A :class:`SizingPolicy` is set per strategy (config, command line); :func:`size` turns it and
the facts of one entry decision (:class:`SizingInputs`) into an absolute quantity. Every policy
sizes against the pair's budget, ``equity * capital_share``, and is capped at
``max_fraction * budget / price``. The result is always finite and ``>= 0``: degenerate inputs
(no equity, a price that is zero or not finite, an overflow) give 0, never NaN or an error.

Policies (formulas and fallbacks in ``docs/sizing.md``):

- ``target``: the strategy sizes itself (its own targets); :func:`size` does not apply.
- ``fixed_quantity``: ``quantity``.
- ``fixed_notional``: ``notional / price``.
- ``fixed_fraction``: ``fraction * budget / price``.
- ``risk_per_trade``: ``risk_fraction * budget / stop_distance``.
- ``kelly``: ``clip(kelly_scale * f*, 0, kelly_cap) * budget / price`` from the pair's closed
  trades, after ``kelly_warmup`` of them.
- ``volatility_target``: ``vol_target / sigma_annual * budget / price``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import ConfigError, DataError
from engine.settings import coerce_floats

POLICIES = ("target", "fixed_quantity", "fixed_notional", "fixed_fraction", "risk_per_trade",
            "kelly", "volatility_target")
VOL_METHODS = ("std", "atr")

_YEAR_NS = 365 * 86_400 * 1_000_000_000
# optional fields and the one policy that uses (and needs) each
_OWN_FIELD = {"quantity": "fixed_quantity", "notional": "fixed_notional"}
_INT_FIELDS = {"kelly_warmup": 1, "vol_window": 2}           # name -> smallest allowed value
_UPPER_BOUNDS = {"risk_fraction": 1.0, "kelly_scale": 1.0}   # inclusive
_BELOW_ONE = ("stop_pct",)                                   # a stop 100% away is no stop


@dataclasses.dataclass(frozen=True)
class SizingPolicy:
    """How a strategy's entries are sized; validated on construction, hashable."""

    policy: str = "target"          # "target": the strategy sizes itself; size() is not used
    quantity: float | None = None   # fixed_quantity, base currency
    notional: float | None = None   # fixed_notional, quote currency
    fraction: float = 0.02          # fixed_fraction; the fallback of the other policies
    risk_fraction: float = 0.01     # risk_per_trade: equity share lost when the stop is hit
    stop_pct: float = 0.02          # risk_per_trade: stop distance when the order has none
    kelly_scale: float = 0.5        # fractional Kelly
    kelly_cap: float = 0.25         # cap on the Kelly fraction of the budget
    kelly_warmup: int = 20          # closed trades needed before Kelly is used
    vol_target: float = 0.20        # annualized target volatility of the position
    vol_method: str = "std"         # "std" (rolling std of log returns) or "atr"
    vol_window: int = 20
    max_fraction: float = 1.0       # any policy: the position never exceeds this share of budget

    def __post_init__(self) -> None:
        if not isinstance(self.policy, str) or self.policy not in POLICIES:
            raise ConfigError(f"sizing policy must be one of {', '.join(POLICIES)}; got "
                              f"{self.policy!r}")
        coerce_floats(self, "sizing ")
        for f in dataclasses.fields(self):
            if f.type != "float":
                continue
            value = getattr(self, f.name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"sizing {f.name} must be a positive finite number, got "
                                  f"{value!r}")
            if f.name in _UPPER_BOUNDS and value > _UPPER_BOUNDS[f.name]:
                raise ConfigError(f"sizing {f.name} must be at most {_UPPER_BOUNDS[f.name]:g}, "
                                  f"got {value!r}")
            if f.name in _BELOW_ONE and value >= 1:
                raise ConfigError(f"sizing {f.name} must be below 1, got {value!r}")
        for name, owner in _OWN_FIELD.items():
            value = getattr(self, name)
            if value is None:
                if self.policy == owner:
                    raise ConfigError(f"sizing policy {owner!r} needs {name}")
                continue
            if self.policy != owner:
                raise ConfigError(f"sizing {name} is only used by policy {owner!r}, not "
                                  f"{self.policy!r}")
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not (math.isfinite(value) and value > 0)):
                raise ConfigError(f"sizing {name} must be a positive finite number, got "
                                  f"{value!r}")
            object.__setattr__(self, name, float(value))
        for name, low in _INT_FIELDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"sizing {name} must be an integer >= {low}, got {value!r}")
        if self.vol_method not in VOL_METHODS:
            raise ConfigError(f"sizing vol_method must be one of {', '.join(VOL_METHODS)}; got "
                              f"{self.vol_method!r}")

    @property
    def active(self) -> bool:
        """False for ``target`` (the strategy sizes its own orders), True otherwise."""
        return self.policy != "target"

    @classmethod
    def keys(cls) -> list[str]:
        """The fields a mapping or the ``policy:key=value,...`` form may set."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_value(cls, value: SizingPolicy | str | Mapping[str, Any] | None, *,
                   source: str = "") -> SizingPolicy:
        """A policy from a config or command-line value.

        ``None`` is the default (``target``); a string is a policy name, optionally followed by
        fields: ``"kelly"``, ``"kelly:kelly_scale=0.5,kelly_cap=0.2"``; a mapping gives the
        fields as keys (``{"policy": "kelly", "kelly_cap": 0.2}``). An unknown key is an error
        naming it and the valid keys; ``source`` (a file, ``--sizing``) prefixes every message.
        """
        try:
            if value is None:
                return cls()
            if isinstance(value, SizingPolicy):
                return value
            if isinstance(value, str):
                values = _parse_text(value)
            elif isinstance(value, Mapping):
                values = dict(value)
            else:
                raise ConfigError(f"sizing must be a policy name, 'policy:key=value,...' or a "
                                  f"mapping of {', '.join(cls.keys())}; got {value!r}")
            valid = cls.keys()
            unknown = [k for k in values if k not in valid]
            if unknown:
                raise ConfigError(f"unknown sizing key {', '.join(repr(k) for k in unknown)}; "
                                  f"valid keys: {', '.join(valid)}")
            return cls(**values)
        except ConfigError as exc:
            if not source:
                raise
            raise ConfigError(f"{source}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain JSON value; ``from_value(p.to_dict()) == p``."""
        return dataclasses.asdict(self)

    def to_text(self) -> str:
        """The command-line form, fields that differ from the defaults only:
        ``from_value(p.to_text()) == p``."""
        changed = [f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self)
                   if f.name != "policy" and getattr(self, f.name) != f.default]
        return f"{self.policy}:{','.join(changed)}" if changed else self.policy


def _parse_text(text: str) -> dict[str, Any]:
    """``"policy:key=value,..."`` to a field mapping, each value converted to its field's
    type (a value that does not convert is an error naming the field)."""
    name, _, rest = text.partition(":")
    values: dict[str, Any] = {"policy": name.strip()}
    types = {f.name: f.type for f in dataclasses.fields(SizingPolicy)}
    for item in rest.split(","):
        if not item.strip():
            continue
        key, eq, raw = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise ConfigError(f"sizing: expected key=value after 'policy:', got {item.strip()!r}")
        if key == "policy":
            raise ConfigError("sizing: give the policy before ':', not as policy=...")
        if key in values:
            raise ConfigError(f"sizing key {key!r} is given twice")
        kind = types.get(key)
        if kind is None:
            values[key] = raw   # reported with the valid keys by from_value
            continue
        try:
            values[key] = int(raw) if kind == "int" else raw if kind == "str" else float(raw)
        except ValueError:
            want = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"sizing {key} must be {want}, got {raw!r}") from None
    return values


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SizingInputs:
    """The facts of one entry decision. Nothing here is validated: values that make no sense
    (NaN, infinite, zero or negative where a positive number is meant) make :func:`size` give
    0 or its documented fallback, never an error."""

    equity: float            # portfolio equity now
    capital_share: float     # the pair's share of equity, (0, 1]; above 1 counts as 1
    price: float             # the decision price (> 0)
    stop_price: float | None = None         # the order's protective stop, if any
    closed_returns: Sequence[float] = ()    # the pair's closed trades' returns (fractions of
                                            # entry notional), oldest first
    closes: np.ndarray | None = None        # recent prices up to and including the decision
                                            # event; only the last vol_window + 1 are read
    highs: np.ndarray | None = None         # bars only, aligned with closes, for ATR
    lows: np.ndarray | None = None
    periods_per_year: float = 365.0         # events per year at the spacing of ``closes``
    side: int = 0                           # +1 long, -1 short, 0 unknown: checks the stop side


def size(policy: SizingPolicy, inputs: SizingInputs) -> float:
    """The absolute quantity (finite, ``>= 0``) to hold for an entry; the caller applies the
    side. Raises ``ValueError`` for the ``target`` policy, which sizes in the strategy."""
    return float(explain(policy, inputs)["quantity"])


def explain(policy: SizingPolicy, inputs: SizingInputs) -> dict[str, Any]:
    """How :func:`size` got its quantity: plain values for reports and tests.

    Keys: ``policy``; ``branch``, the formula used (the policy's own, ``fixed_fraction`` for a
    fallback, ``none`` when the budget or price rules out any size); ``reason``, why a fallback
    or a zero was chosen (``""`` on the policy's own path; codes in ``docs/sizing.md``);
    ``budget``; ``fraction``, the position's share of the budget before the cap; ``uncapped``,
    ``cap`` and ``quantity``; ``capped``; plus the policy's own figures (``stop_distance``,
    ``n_trades``, ``p``, ``b``, ``f_star``, ``sigma_annual``).
    """
    if policy.policy == "target":
        raise ValueError("sizing policy 'target': the strategy sizes its own orders; "
                         "size() does not apply")
    out: dict[str, Any] = {"policy": policy.policy, "branch": "none", "reason": "",
                           "budget": 0.0, "fraction": 0.0, "uncapped": 0.0, "cap": 0.0,
                           "quantity": 0.0, "capped": False}
    equity = _number(inputs.equity)
    share = min(_number(inputs.capital_share), 1.0)
    price = _number(inputs.price)
    if not (math.isfinite(price) and price > 0):
        out["reason"] = "bad_price"
        return out
    budget = equity * share
    if not (math.isfinite(budget) and budget > 0):
        out["reason"] = "no_budget"
        return out
    cap = policy.max_fraction * budget / price
    out.update(budget=budget, cap=cap)
    if not (math.isfinite(cap) and cap > 0):
        out["reason"] = "overflow"
        return out
    out["branch"] = policy.policy
    qty = _POLICY_SIZERS[policy.policy](policy, inputs, price, budget, out)
    if qty is None:   # the policy's fallback
        out["branch"] = "fixed_fraction"
        qty = policy.fraction * budget / price
    capped = qty > cap   # +inf included: e.g. a stop at a vanishing distance
    quantity = cap if capped else qty if qty > 0 else 0.0   # (NaN and the policy's zero: 0)
    out.update(fraction=qty * price / budget, uncapped=qty, quantity=quantity, capped=capped)
    return out


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# Each sizer returns the uncapped quantity, or None for the fallback (``fraction``); it sets
# ``out["reason"]`` when it falls back or gives 0, and records its own figures in ``out``.

def _fixed_quantity(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
                    out: dict[str, Any]) -> float | None:
    assert p.quantity is not None   # (__post_init__)
    return p.quantity


def _fixed_notional(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
                    out: dict[str, Any]) -> float | None:
    assert p.notional is not None
    return p.notional / price


def _fixed_fraction(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
                    out: dict[str, Any]) -> float | None:
    return p.fraction * budget / price


def _risk_per_trade(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
                    out: dict[str, Any]) -> float | None:
    stop = _number(inputs.stop_price) if inputs.stop_price is not None else math.nan
    side = inputs.side if isinstance(inputs.side, int) else 0
    usable = (math.isfinite(stop) and stop > 0
              and not (side > 0 and stop > price) and not (side < 0 and stop < price))
    if usable:
        distance, out["stop_source"] = abs(price - stop), "order"
    else:
        distance, out["stop_source"] = price * p.stop_pct, "stop_pct"
        if inputs.stop_price is not None:
            out["reason"] = "stop_ignored"   # not a price, or on the wrong side of the entry
    out["stop_distance"] = distance
    if distance == 0:
        out["reason"] = "zero_stop_distance"
        return None
    return p.risk_fraction * budget / distance


def _kelly(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
           out: dict[str, Any]) -> float | None:
    try:
        returns = np.asarray(inputs.closed_returns, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        returns = np.empty(0)
    returns = returns[np.isfinite(returns)]
    n = len(returns)
    out["n_trades"] = n
    if n < p.kelly_warmup:
        out["reason"] = "warmup"
        return None
    wins, losses = returns[returns > 0], returns[returns < 0]
    win_rate = len(wins) / n   # a breakeven trade counts in n, as a non-win
    out["p"] = win_rate
    if len(wins) == 0:
        # p = 0: f* = -(1 - p) / b is negative (or undefined), so no edge: no entry
        out.update(b=0.0, f_star=-math.inf, reason="no_wins")
        return 0.0
    if len(losses) == 0:
        # b unbounded: f* = p - (1 - p) / b = p (1 unless there were breakeven trades)
        f_star = win_rate
        out.update(b=math.inf, f_star=f_star, reason="no_losses")
    else:
        with np.errstate(over="ignore", invalid="ignore"):   # absurd returns: caught below
            b = float(wins.mean() / -losses.mean())
        # wins too small against the losses to register (b underflows to 0): no edge
        f_star = win_rate - (1 - win_rate) / b if b != 0.0 else -math.inf
        out.update(b=b, f_star=f_star)
        if math.isnan(f_star):
            out["reason"] = "bad_returns"
            return None
    if f_star <= 0:
        out["reason"] = "no_edge"
        return 0.0
    out["kelly_fraction"] = fraction = min(p.kelly_scale * f_star, p.kelly_cap)
    return fraction * budget / price


def _volatility_target(p: SizingPolicy, inputs: SizingInputs, price: float, budget: float,
                       out: dict[str, Any]) -> float | None:
    periods = _number(inputs.periods_per_year)
    if not (math.isfinite(periods) and periods > 0):
        out["reason"] = "bad_periods_per_year"
        return None
    per_period, reason = (_std_vol if p.vol_method == "std" else _atr_vol)(p.vol_window, inputs,
                                                                          price)
    if per_period is None:
        out["reason"] = reason
        return None
    sigma = per_period * math.sqrt(periods)
    out["sigma_annual"] = sigma
    if sigma == 0:
        out["reason"] = "flat"
        return None
    if not math.isfinite(sigma):
        out["reason"] = "bad_prices"
        return None
    return p.vol_target / sigma * budget / price


def _window(values: Any, n: int) -> np.ndarray | None:
    """The last ``n`` values as floats, or None when there are fewer or they are not numbers."""
    if values is None:
        return None
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    return array[-n:] if len(array) >= n else None


def _std_vol(window: int, inputs: SizingInputs, price: float) -> tuple[float | None, str]:
    """Per-period volatility: sample std (ddof 1) of the last ``window`` log returns."""
    closes = _window(inputs.closes, window + 1)
    if closes is None:
        return None, "short_window"
    if not (np.isfinite(closes).all() and (closes > 0).all()):
        return None, "bad_prices"
    return float(np.std(np.diff(np.log(closes)), ddof=1)), ""


def _atr_vol(window: int, inputs: SizingInputs, price: float) -> tuple[float | None, str]:
    """Per-period volatility as ATR / price: the simple mean of the last ``window`` true
    ranges (each needs the previous close, so ``window + 1`` bars)."""
    if inputs.highs is None or inputs.lows is None:
        return None, "no_ranges"
    closes = _window(inputs.closes, window + 1)
    highs = _window(inputs.highs, window + 1)
    lows = _window(inputs.lows, window + 1)
    if closes is None or highs is None or lows is None:
        return None, "short_window"
    if not (np.isfinite(closes).all() and np.isfinite(highs).all() and np.isfinite(lows).all()
            and (highs >= lows).all()):
        return None, "bad_prices"
    prev = closes[:-1]
    high, low = highs[1:], lows[1:]
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow is caught by the caller
        true_range = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
        return float(true_range.mean()) / price, ""


_POLICY_SIZERS = {
    "fixed_quantity": _fixed_quantity,
    "fixed_notional": _fixed_notional,
    "fixed_fraction": _fixed_fraction,
    "risk_per_trade": _risk_per_trade,
    "kelly": _kelly,
    "volatility_target": _volatility_target,
}


def periods_per_year(interval_ns: int) -> float:
    """Bars per year (365 days) at a bar interval of ``interval_ns``: 525,600 for 1m."""
    if isinstance(interval_ns, bool) or not isinstance(interval_ns, (int, np.integer)) \
            or interval_ns <= 0:
        raise ConfigError(f"interval_ns must be a positive integer, got {interval_ns!r}")
    return _YEAR_NS / int(interval_ns)


def periods_per_year_from_times(ts: np.ndarray) -> float:
    """Events per year (365 days) at the median spacing of the event times ``ts`` (ns, not
    decreasing), for irregular data such as trades. When more than half the events share
    their predecessor's time (median spacing 0) the mean spacing is used instead."""
    times = np.asarray(ts, dtype=np.int64).ravel()
    if len(times) < 2:
        raise DataError(f"periods_per_year_from_times needs at least 2 event times, got "
                        f"{len(times)}")
    gaps = np.diff(times)
    if (gaps < 0).any():
        raise DataError("periods_per_year_from_times: event times must not decrease")
    spacing = float(np.median(gaps))
    if spacing == 0:
        spacing = float(times[-1] - times[0]) / (len(times) - 1)
    if spacing == 0:
        raise DataError("periods_per_year_from_times: every event has the same time")
    return _YEAR_NS / spacing
