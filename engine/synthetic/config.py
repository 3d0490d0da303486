"""Parameters of the synthetic market: one ``RegimeParams`` per regime and a ``SyntheticConfig``.

Units are chosen to be read by a trader: annualized drift and volatility of the log price
(a year is 365 days of 24 h, crypto never closes), durations in minutes, jump rates per day,
spreads in basis points, sizes as quote-currency notional.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

TREND_UP, TREND_DOWN, MEAN_REVERTING, VOLATILE, CRASH = range(5)
REGIME_NAMES: tuple[str, ...] = ("trend_up", "trend_down", "mean_reverting", "volatile", "crash")
MINUTES_PER_YEAR = 365 * 24 * 60
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """How the market behaves while it is in one regime.

    - ``mean_duration_minutes``: mean time spent in the regime per visit (geometric).
    - ``drift_per_year``: drift of the log mid price, annualized (``-0.5`` = -50 %/year).
    - ``volatility``: diffusion volatility of the log mid, annualized (``0.6`` = 60 %).
    - ``reversion_per_day``: pull of the log mid toward a slowly moving anchor (an EMA of
      the mid), in 1/day; 0 turns the Ornstein-Uhlenbeck pull off.
    - ``jumps_per_day``: rate of the compound Poisson jumps.
    - ``jump_mean``, ``jump_scale``: a log jump is ``jump_mean + jump_scale * T`` with T a
      Student-t with 3 degrees of freedom (fat tails), clipped to ``SyntheticConfig.jump_clip``
      and skewed by ``SyntheticConfig.jump_asymmetry`` (its mean stays 0).
    - ``activity``: multiplier of the trade arrival rate.
    - ``size_factor``: multiplier of the trade size.
    - ``spread_factor``: multiplier of the quoted spread.
    - ``buy_probability``: probability that a trade's aggressor is the buyer.
    """

    mean_duration_minutes: float
    drift_per_year: float
    volatility: float
    reversion_per_day: float = 0.0
    jumps_per_day: float = 0.0
    jump_mean: float = 0.0
    jump_scale: float = 0.0
    activity: float = 1.0
    size_factor: float = 1.0
    spread_factor: float = 1.0
    buy_probability: float = 0.5

    def validate(self, name: str) -> None:
        """Raise ``ConfigError`` naming the first invalid field (``name`` prefixes it)."""
        for key in ("mean_duration_minutes", "volatility", "activity", "size_factor",
                    "spread_factor"):
            _require(f"{name}.{key}", getattr(self, key), positive=True)
        for key in ("reversion_per_day", "jumps_per_day", "jump_scale"):
            _require(f"{name}.{key}", getattr(self, key), positive=False)
        for key in ("drift_per_year", "jump_mean"):
            _require_finite(f"{name}.{key}", getattr(self, key))
        if self.mean_duration_minutes < 1.0:
            raise ConfigError(f"{name}.mean_duration_minutes must be >= 1 (the regime chain "
                              f"steps once a minute), got {self.mean_duration_minutes!r}")
        if not 0.0 < self.buy_probability < 1.0:
            raise ConfigError(f"{name}.buy_probability must lie strictly between 0 and 1, "
                              f"got {self.buy_probability!r}")


# Fitted to Binance BTC/USDT and ETH/USDT hourly bars of 2017-2021 (docs/synthetic.md has the
# facts side by side and how they were matched). With BTC's volatility multiplier (0.80-0.90)
# and the stochastic volatility below, a typical year has ~85 % volatility, hourly excess
# kurtosis ~15, skew ~-0.8, a slow decay of the autocorrelation of |returns|, and a long-run
# log drift of ~-0.1 %/year: the trend regimes' drifts and the crashes' (-4 % over 45
# minutes) cancel (no hidden drift). The trends (+-10 a year over 18 h visits) give daily
# returns the momentum of the real years (a 24 h / 1 h variance ratio near 1 despite the
# hourly reversal). The mean-reverting pull is weak (0.2/day): at the old 6/day a trend rule
# lost more than half its capital a year, which no real year of BTC showed.
DEFAULT_TREND_UP = RegimeParams(
    mean_duration_minutes=18 * 60, drift_per_year=10.17, volatility=0.86,
    jumps_per_day=1.0, jump_scale=0.0076, activity=1.0, size_factor=1.0,
    spread_factor=1.0, buy_probability=0.52)
DEFAULT_TREND_DOWN = RegimeParams(
    mean_duration_minutes=18 * 60, drift_per_year=-9.9, volatility=0.91,
    jumps_per_day=1.5, jump_scale=0.0095, activity=1.1, size_factor=1.1,
    spread_factor=1.1, buy_probability=0.48)
DEFAULT_MEAN_REVERTING = RegimeParams(
    mean_duration_minutes=24 * 60, drift_per_year=0.0, volatility=0.70,
    reversion_per_day=0.2, jumps_per_day=0.5, jump_scale=0.0057, activity=0.75,
    size_factor=0.9, spread_factor=0.9, buy_probability=0.5)
DEFAULT_VOLATILE = RegimeParams(
    mean_duration_minutes=6 * 60, drift_per_year=0.0, volatility=1.50,
    jumps_per_day=4.0, jump_scale=0.0152, activity=1.8, size_factor=1.4,
    spread_factor=2.0, buy_probability=0.5)
DEFAULT_CRASH = RegimeParams(
    mean_duration_minutes=45, drift_per_year=-0.04 / 45 * MINUTES_PER_YEAR, volatility=3.0,
    jumps_per_day=24.0, jump_scale=0.019, activity=4.0, size_factor=2.5,
    spread_factor=4.0, buy_probability=0.4)
DEFAULT_DESCRIPTION = "fitted to Binance BTC/USDT and ETH/USDT 1h 2017-2021"

# Row = regime being left, column = next regime (order of REGIME_NAMES); rows are
# normalized, the diagonal must be 0.
DEFAULT_TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.00, 0.17, 0.50, 0.30, 0.03),
    (0.20, 0.00, 0.45, 0.29, 0.06),
    (0.45, 0.33, 0.00, 0.21, 0.01),
    (0.35, 0.25, 0.35, 0.00, 0.05),
    (0.15, 0.00, 0.15, 0.70, 0.00),
)

# Relative trade activity at each UTC hour (interpolated linearly within the hour):
# quiet late-Asia/early-Europe, busiest at the Europe/US overlap.
DEFAULT_HOURLY_ACTIVITY: tuple[float, ...] = (
    0.90, 0.85, 0.80, 0.75, 0.72, 0.72, 0.75, 0.82, 0.92, 1.00, 1.02, 1.03,
    1.08, 1.18, 1.28, 1.30, 1.25, 1.15, 1.08, 1.05, 1.02, 1.00, 0.97, 0.93,
)


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """Everything that shapes a synthetic market besides the symbol, seed and time range.

    - ``trend_up`` .. ``crash``: per-regime behaviour (see ``RegimeParams``).
    - ``transitions``: 5x5 weights of the next regime when one is left (rows normalized).
    - ``trades_per_minute``: long-run average trade rate (default 20).
    - ``mean_trade_notional``: mean trade size in quote currency at calm activity and the
      initial price (2,000); sizes are drawn in base units, so the notional follows the price.
    - ``trade_size_dispersion``: standard deviation of the log trade size (1.0).
    - ``spread_bps``: typical quoted spread of a BTC-like name in a calm regime (2 bps);
      other names scale it by their profile's spread multiplier.
    - ``spread_move_sensitivity``: the spread widens by this fraction per standard deviation
      of the mid's diffusion shock since the previous trade (0.5); the mean stays
      ``spread_bps``.
    - ``depth_notional``: mean resting size at the touch, quote currency (25,000).
    - ``depth_dispersion``: standard deviation of the log resting size (0.8).
    - ``anchor_hours``: time constant of the EMA anchor the mean-reverting pull aims at (24).
    - ``hourly_activity``: 24 relative activity levels by UTC hour (normalized to mean 1);
      they scale the trade rate and the diffusion variance (see ``seasonal_volatility``).
    - ``seasonal_volatility``: w in [0, 1]; the variance follows the seasonal activity a as
      ``a * (1 - w + w * a)``: 0 proportional to activity, 1 to its square (in the real
      data the hourly profile of |returns| is nearly as deep as that of volume) (0.6).
    - ``weekend_activity``: activity on Saturday and Sunday relative to weekdays (0.76).
    - ``price_significant_digits``: the tick is ``10**(e + 1 - digits)`` where ``10**e`` is
      the decade of the initial price, so BTC near 40,000 gets a 0.01 tick (7).
    - ``jump_clip``: largest |T| of a Student-t jump draw, in scale units (8).
    - ``jump_asymmetry``: a in [0, 1); a falling draw T is scaled by 1 + a, a rising one by
      1 - a, and a E|T| is added back so a jump's mean is unchanged: falls are larger and
      rises more frequent, the negative skew of real returns (0.5).
    - ``jump_minutes``: a jump unfolds in five equal steps over this many minutes (a large
      move takes minutes, not one trade: at 0 a month of one-minute returns has an excess
      kurtosis of ~70 against the real files' 10-23; 0 makes jumps instantaneous) (2).
    - ``default_days``: span of a market built without ``end`` (30).
    - ``vol_of_vol_fast``, ``vol_half_life_fast_hours``: stationary standard deviation and
      half-life of the fast log-volatility factor (stochastic volatility: clustering within
      the day, fat tails of minute returns; the fit scales it with the jumps) (0.1, 4 h).
    - ``vol_of_vol_medium``, ``vol_half_life_medium_hours``: the same for the medium factor
      (busy and quiet days: clustering from hours to days) (0.2, 48 h).
    - ``vol_of_vol_slow``, ``vol_half_life_slow_days``: the same for the slow factor (calm
      and turbulent weeks: the slow decay of the autocorrelation of absolute returns, fat
      tails of daily returns) (0.4, 7 days). All factors at 0 turn stochastic volatility off;
      the variance multiplier they make has mean 1, so the long-run volatility is unchanged.
      Longer or stronger slow factors make single years scatter from calm to wild, far
      beyond the real years' spread.
    - ``volume_follows_volatility``: elasticity of the trade rate to the volatility factors
      (trade rate ~ variance multiplier ** this), the volume-volatility correlation (0.45).
    - ``overshoot``, ``overshoot_half_life_minutes``: the quoted mid overshoots each diffusion
      move by this fraction and gives it back with this half-life: the short-term reversal
      of hourly returns (their negative lag-1 autocorrelation) without a pull that would
      undo trends over hours (0.12, 30 minutes).
    - ``description``: one line on what the parameters were fitted to (printed with a run).
    """

    trend_up: RegimeParams = DEFAULT_TREND_UP
    trend_down: RegimeParams = DEFAULT_TREND_DOWN
    mean_reverting: RegimeParams = DEFAULT_MEAN_REVERTING
    volatile: RegimeParams = DEFAULT_VOLATILE
    crash: RegimeParams = DEFAULT_CRASH
    transitions: tuple[tuple[float, ...], ...] = DEFAULT_TRANSITIONS
    trades_per_minute: float = 20.0
    mean_trade_notional: float = 2_000.0
    trade_size_dispersion: float = 1.0
    spread_bps: float = 2.0
    spread_move_sensitivity: float = 0.5
    depth_notional: float = 25_000.0
    depth_dispersion: float = 0.8
    anchor_hours: float = 24.0
    hourly_activity: tuple[float, ...] = DEFAULT_HOURLY_ACTIVITY
    weekend_activity: float = 0.76
    price_significant_digits: int = 7
    jump_clip: float = 8.0
    jump_asymmetry: float = 0.5
    jump_minutes: float = 2.0
    default_days: float = 30.0
    vol_of_vol_fast: float = 0.1
    vol_half_life_fast_hours: float = 4.0
    vol_of_vol_medium: float = 0.2
    vol_half_life_medium_hours: float = 48.0
    vol_of_vol_slow: float = 0.4
    vol_half_life_slow_days: float = 7.0
    volume_follows_volatility: float = 0.45
    overshoot: float = 0.12
    overshoot_half_life_minutes: float = 30.0
    seasonal_volatility: float = 0.6
    description: str = DEFAULT_DESCRIPTION

    def __post_init__(self) -> None:
        for name in REGIME_NAMES:
            params = getattr(self, name)
            if not isinstance(params, RegimeParams):
                raise ConfigError(f"SyntheticConfig.{name} must be a RegimeParams, "
                                  f"got {type(params).__name__}")
            params.validate(f"SyntheticConfig.{name}")
        for key in ("trades_per_minute", "mean_trade_notional", "trade_size_dispersion",
                    "spread_bps", "depth_notional", "anchor_hours", "weekend_activity",
                    "jump_clip", "default_days", "vol_half_life_fast_hours",
                    "vol_half_life_medium_hours", "vol_half_life_slow_days",
                    "overshoot_half_life_minutes"):
            _require(f"SyntheticConfig.{key}", getattr(self, key), positive=True)
        _require_finite("SyntheticConfig.jump_asymmetry", self.jump_asymmetry)
        for key in ("spread_move_sensitivity", "depth_dispersion", "vol_of_vol_fast",
                    "vol_of_vol_medium", "vol_of_vol_slow", "volume_follows_volatility",
                    "seasonal_volatility", "overshoot", "jump_minutes"):
            _require(f"SyntheticConfig.{key}", getattr(self, key), positive=False)
        digits = self.price_significant_digits
        if isinstance(digits, bool) or not isinstance(digits, int) or not 2 <= digits <= 12:
            raise ConfigError(f"SyntheticConfig.price_significant_digits must be an int in "
                              f"2..12, got {digits!r}")
        for key in ("vol_of_vol_fast", "vol_of_vol_medium", "vol_of_vol_slow"):
            if getattr(self, key) > 3.0:
                raise ConfigError(f"SyntheticConfig.{key} must be <= 3 (a log-volatility "
                                  f"standard deviation), got {getattr(self, key)!r}")
        if not 0.0 <= self.jump_asymmetry < 1.0:
            raise ConfigError(f"SyntheticConfig.jump_asymmetry must lie in [0, 1), got "
                              f"{self.jump_asymmetry!r}")
        if not 0.0 <= self.seasonal_volatility <= 1.0:
            raise ConfigError(f"SyntheticConfig.seasonal_volatility must lie in [0, 1], got "
                              f"{self.seasonal_volatility!r}")
        if not isinstance(self.description, str):
            raise ConfigError(f"SyntheticConfig.description must be a string, got "
                              f"{self.description!r}")
        hourly = self.hourly_activity
        if len(hourly) != 24:
            raise ConfigError(f"SyntheticConfig.hourly_activity must hold 24 values, "
                              f"got {len(hourly)}")
        for hour, value in enumerate(hourly):
            _require(f"SyntheticConfig.hourly_activity[{hour}]", value, positive=True)
        self._check_transitions()

    def _check_transitions(self) -> None:
        rows = self.transitions
        n = len(REGIME_NAMES)
        if len(rows) != n or any(len(row) != n for row in rows):
            raise ConfigError(f"SyntheticConfig.transitions must be a {n}x{n} table")
        for i, row in enumerate(rows):
            for j, weight in enumerate(row):
                _require(f"SyntheticConfig.transitions[{i}][{j}]", weight, positive=False)
            if row[i] != 0:
                raise ConfigError(f"SyntheticConfig.transitions[{i}][{i}] must be 0 (leaving "
                                  f"{REGIME_NAMES[i]} means going to another regime)")
            if sum(row) <= 0:
                raise ConfigError(f"SyntheticConfig.transitions[{i}] ({REGIME_NAMES[i]}) "
                                  f"has no way out: all weights are 0")

    @property
    def regimes(self) -> tuple[RegimeParams, ...]:
        """The regime parameters in code order (``REGIME_NAMES``)."""
        return tuple(getattr(self, name) for name in REGIME_NAMES)

    def stationary_distribution(self) -> tuple[float, ...]:
        """Long-run share of time spent in each regime, in code order.

        Computed with plain float arithmetic (power iteration of the jump chain), never
        BLAS, so that every machine derives the same normalization constants.
        """
        durations = tuple(r.mean_duration_minutes for r in self.regimes)
        return _stationary_distribution(self.transitions, durations)

    def long_run_log_drift(self) -> float:
        """Annualized drift of the log price at the stationary regime mix: regime drifts plus
        the mean jump per year (a symbol's volatility multiplier scales the jump part)."""
        pi = self.stationary_distribution()
        return sum(p * (r.drift_per_year + r.jumps_per_day * 365.0 * r.jump_mean)
                   for p, r in zip(pi, self.regimes))

    def replace(self, **changes: Any) -> SyntheticConfig:
        """A copy with some fields changed (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: what :meth:`from_dict` and :meth:`from_file` read back."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, RegimeParams):
                value = dataclasses.asdict(value)
            elif f.name == "transitions":
                value = [list(row) for row in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def to_file(self, path: str | Path) -> None:
        """Write :meth:`to_dict` as indented JSON (``--synthetic-params`` reads it)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_file(cls, path: str | Path) -> SyntheticConfig:
        """Read a JSON params file (as written by ``raytrader synthetic fit``); fields left out
        keep the defaults. Errors name the file and the field."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"synthetic params file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"synthetic params file {path}: cannot read it: "
                              f"{exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a synthetic params file must hold a JSON object")
        # ``facts`` (what the fit matched) and ``fit`` (how) are kept for the reader only.
        values = {k: v for k, v in values.items() if k not in _ANNOTATIONS}
        return cls.from_dict(values, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> SyntheticConfig:
        """Build from a mapping (e.g. a YAML section); regimes may be partial mappings that
        override the defaults. Unknown keys raise ``ConfigError`` naming the key and source."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown synthetic market key {key!r}")
            if key in REGIME_NAMES:
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{source}: {key} must be a mapping of regime "
                                      f"parameters, got {value!r}")
                regime_keys = {f.name for f in dataclasses.fields(RegimeParams)}
                for sub in value:
                    if sub not in regime_keys:
                        raise ConfigError(f"{source}: unknown key {key}.{sub!s}")
                value = dataclasses.replace(getattr(cls(), key), **dict(value))
            elif key in ("transitions", "hourly_activity"):
                value = _number_table(key, value, source)
            elif key == "description" and not isinstance(value, str):
                raise ConfigError(f"{source}: description must be a string, got {value!r}")
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def clipped_t3_second_moment(clip: float) -> float:
    """E[T^2] of a Student-t with 3 degrees of freedom clipped to +-``clip``."""
    # density 6 sqrt(3) / (pi (3 + t^2)^2); integrate t^2 f on [0, c] and add c^2 P(T > c).
    c = clip
    a = math.sqrt(3.0)
    inner = 6.0 * a / math.pi * 0.5 * (math.atan(c / a) / a - c / (3.0 + c * c))
    return 2.0 * inner + 2.0 * c * c * _t3_tail(c)


def clipped_t3_mean_abs(clip: float) -> float:
    """E|T| of a Student-t with 3 degrees of freedom clipped to +-``clip``."""
    # integrate t f on [0, c] in closed form and add c P(T > c).
    c = clip
    inner = 3.0 * math.sqrt(3.0) / math.pi * (1.0 / 3.0 - 1.0 / (3.0 + c * c))
    return 2.0 * inner + 2.0 * c * _t3_tail(c)


def _t3_tail(c: float) -> float:
    a = math.sqrt(3.0)
    return 0.5 - (math.atan(c / a) + a * c / (3.0 + c * c)) / math.pi


@functools.lru_cache(maxsize=64)
def _stationary_distribution(transitions: tuple[tuple[float, ...], ...],
                             durations: tuple[float, ...]) -> tuple[float, ...]:
    n = len(durations)
    rows = [[w / sum(row) for w in row] for row in transitions]
    # Averaging with the identity makes the jump chain aperiodic without moving its fixed
    # point; a fixed number of steps keeps the result identical everywhere.
    nu = [1.0 / n] * n
    for _ in range(2_000):
        nu = [0.5 * nu[j] + 0.5 * sum(nu[i] * rows[i][j] for i in range(n)) for j in range(n)]
    weights = [nu[i] * durations[i] for i in range(n)]
    total = sum(weights)
    return tuple(w / total for w in weights)


_ANNOTATIONS = ("facts", "fit")


def _number_table(key: str, value: Any, source: str) -> Any:
    """``transitions`` (rows of numbers) or ``hourly_activity`` (numbers) as tuples."""
    try:
        if key == "transitions":
            return tuple(tuple(float(w) for w in row) for row in value)
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        shape = "a table of numbers" if key == "transitions" else "a list of numbers"
        raise ConfigError(f"{source}: {key} must be {shape}, got {value!r}") from None


def _require(name: str, value: Any, *, positive: bool) -> None:
    _require_finite(name, value)
    if (positive and value <= 0) or (not positive and value < 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")


def _require_finite(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
