"""Performance metrics of a run: returns, risk, drawdowns, tail risk, exposure and trade statistics.

``compute_metrics`` turns an equity curve (plus the closed trades and, optionally, the exposure)
into a flat, JSON-friendly dict. Ratios follow empyrical's definitions with an annualization of
``MetricsConfig.periods_per_year`` (365 for crypto: periods are calendar days). Every convention,
and where this module differs from empyrical, is written down in ``docs/metrics.md``.

Undefined values (no trades, flat equity, too few periods) are ``None``; the output never holds
NaN or infinity, so ``json.dumps(metrics, allow_nan=False)`` always works.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset

from engine.errors import ConfigError, DataError
from engine.timeframes import format_ns, timeframe_to_ns

__all__ = [
    "MetricValue",
    "MetricsConfig",
    "compute_metrics",
    "drawdown_series",
    "format_metrics_table",
    "period_returns",
]

MetricValue = float | int | str | None

# Per-period deviations at or below this are rounding noise, not risk: returns computed as
# equity ratios carry errors near 1e-16, so an equity curve growing by exactly 1% a bar has a
# "volatility" of ~1e-18 that would turn the Sharpe ratio into an arbitrary number near 1e15.
ZERO_DISPERSION = 1e-12

_DAY = pd.Timedelta(days=1)


def _level_name(level: float) -> str:
    """Key suffix of a VaR level: 0.95 -> ``95``, 0.975 -> ``97_5``."""
    return f"{level * 100:.10g}".replace(".", "_")


@lru_cache(maxsize=64)
def _parse_returns_period(text: str) -> tuple[pd.Timedelta | BaseOffset, pd.Timedelta]:
    """The resample rule of a returns period and its nominal length."""
    try:
        length = pd.Timedelta(timeframe_to_ns(text), unit="ns")
        return length, length
    except ConfigError:
        pass
    try:
        offset = to_offset(text)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"MetricsConfig.returns_period: {text!r} is neither an engine timeframe "
            f"(1m, 1h, 1d, 1w) nor a pandas offset alias (W-MON, ME): {exc}") from None
    try:
        nominal = pd.Timedelta(offset)
    except (TypeError, ValueError):
        # Calendar offsets (weeks anchored on a weekday, month or quarter ends) have no fixed
        # length; use their mean spacing over a long reference span.
        dates = pd.date_range("2000-01-01", "2028-01-01", freq=offset)
        if len(dates) < 2:
            raise ConfigError(f"MetricsConfig.returns_period: {text!r} is longer than a "
                              f"usable returns period") from None
        nominal = (dates[-1] - dates[0]) / (len(dates) - 1)
    if nominal <= pd.Timedelta(0):
        raise ConfigError(f"MetricsConfig.returns_period: {text!r} must be a positive length")
    return offset, nominal


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """How returns are sampled and annualized.

    ``periods_per_year`` is the number of ``returns_period`` periods in a year (365 for the
    default daily period, since crypto trades every day). ``risk_free_rate`` is annual and
    compounded down to one period. ``returns_period`` is an engine timeframe (``1h``, ``1d``,
    ``1w``) or a pandas offset alias (``W-MON``, ``ME``). ``ddof`` is the delta degrees of
    freedom of the volatility and Sharpe deviations. ``var_levels`` are the confidence levels
    of the historical VaR and CVaR.
    """

    periods_per_year: float = 365.0
    risk_free_rate: float = 0.0
    returns_period: str = "1d"
    ddof: int = 1
    var_levels: tuple[float, ...] = (0.95, 0.99)

    def __post_init__(self) -> None:
        ppy = self.periods_per_year
        if isinstance(ppy, bool) or not isinstance(ppy, numbers.Real) or not (
                math.isfinite(ppy) and ppy > 0):
            raise ConfigError(f"MetricsConfig.periods_per_year must be a positive number, "
                              f"got {ppy!r}")
        rf = self.risk_free_rate
        if isinstance(rf, bool) or not isinstance(rf, numbers.Real) or not (
                math.isfinite(rf) and rf > -1):
            raise ConfigError(f"MetricsConfig.risk_free_rate must be an annual rate above -1, "
                              f"got {rf!r}")
        ddof = self.ddof
        if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral) or ddof < 0:
            raise ConfigError(f"MetricsConfig.ddof must be a non-negative int, got {self.ddof!r}")
        if not isinstance(self.returns_period, str):
            raise ConfigError(f"MetricsConfig.returns_period must be a string, "
                              f"got {self.returns_period!r}")
        _parse_returns_period(self.returns_period)
        try:
            levels = tuple(float(level) for level in self.var_levels)
        except (TypeError, ValueError):
            raise ConfigError(f"MetricsConfig.var_levels must be a sequence of levels in (0, 1), "
                              f"got {self.var_levels!r}") from None
        for level in levels:
            if not 0.0 < level < 1.0:
                raise ConfigError(f"MetricsConfig.var_levels: {level!r} is not in (0, 1)")
        names = [_level_name(level) for level in levels]
        if len(set(names)) != len(names):
            raise ConfigError(f"MetricsConfig.var_levels has duplicate levels: {levels!r}")
        object.__setattr__(self, "var_levels", levels)
        object.__setattr__(self, "periods_per_year", float(ppy))
        object.__setattr__(self, "risk_free_rate", float(rf))
        object.__setattr__(self, "ddof", int(self.ddof))


# --------------------------------------------------------------------------------------------
# public API


def period_returns(equity: pd.Series, config: MetricsConfig = MetricsConfig()) -> pd.Series:
    """Simple returns of an equity curve per ``config.returns_period``, or per bar in the fallback.

    The equity is sampled at the last value of each UTC period; the first return is measured
    from the first equity point (the initial capital). When the bars are coarser than the
    period, or the run spans fewer than two periods, the bar-to-bar returns are returned
    instead (see ``docs/metrics.md``). Equity must be positive for the returns to mean anything.
    """
    returns, _, _ = _returns_and_annualization(_checked_equity(equity), config)
    return returns


def drawdown_series(equity: pd.Series) -> pd.Series:
    """Fractional drawdown of each equity point below its running peak (0 at a new high, <= 0).

    Computed on every bar, not on resampled periods. Points whose running peak is not positive
    are NaN.
    """
    eq = _checked_equity(equity)
    peak = eq.cummax()
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = eq / peak - 1.0
    return dd.where(peak > 0).rename("drawdown")


def compute_metrics(equity: pd.Series, trades: pd.DataFrame | None,
                    exposure: pd.Series | None = None,
                    config: MetricsConfig = MetricsConfig()) -> dict[str, MetricValue]:
    """Performance metrics of one run as a flat dict of JSON-friendly values.

    ``equity`` is the portfolio value per bar on a UTC DatetimeIndex, starting with the initial
    capital. ``trades`` holds closed round trips with at least ``pnl`` and ``return_pct`` (in
    percent; ``None`` or an empty frame means no trades). ``exposure`` is an optional Series on
    the equity's index: bool "in the market", or float gross position value / equity.

    Undefined metrics are ``None``. Raises ``DataError`` only for malformed input (not a
    Series, not a DatetimeIndex, unsorted or duplicate times, non-finite values, missing trade
    columns), never for degenerate but valid runs.
    """
    eq = _checked_equity(equity)
    metrics: dict[str, MetricValue] = {}
    metrics.update(_summary_metrics(eq))
    returns, ann, basis = _returns_and_annualization(eq, config)
    metrics.update(_return_metrics(eq, returns, ann, basis, config))
    metrics.update(_drawdown_metrics(eq))
    metrics["calmar"] = _calmar(metrics["annual_return"], metrics["max_drawdown"])
    metrics.update(_tail_metrics(returns, config.var_levels, usable=_positive(eq)))
    metrics.update(_exposure_metrics(exposure, eq.index))
    metrics.update(_trade_metrics(trades))
    return metrics


def format_metrics_table(metrics: dict[str, MetricValue]) -> list[tuple[str, str]]:
    """Human labels and formatted values of a ``compute_metrics`` result, in reading order.

    Fractions are shown as percentages, ratios to 2 decimals, money with thousands separators,
    times as ``YYYY-MM-DD HH:MM:SS UTC``; undefined values as ``n/a``. Keys missing from
    ``metrics`` are skipped.
    """
    rows: list[tuple[str, str]] = []

    def add(label: str, key: str, fmt: Callable[[float | int | str], str]) -> None:
        if key in metrics:
            value = metrics[key]
            rows.append((label, "n/a" if value is None else fmt(value)))

    add("Start", "start", _fmt_time)
    add("End", "end", _fmt_time)
    add("Duration", "duration_days", _fmt_days)
    if metrics.get("n_periods") and metrics.get("annualization") is not None:
        rows.append(("Returns sampled", _fmt_basis(metrics)))
    add("Initial equity", "initial_equity", _fmt_money)
    add("Final equity", "final_equity", _fmt_money)
    add("Total return", "total_return", _fmt_pct)
    add("Annual return (CAGR)", "annual_return", _fmt_pct)
    add("Annual volatility", "annual_volatility", _fmt_pct)
    add("Sharpe ratio", "sharpe", _fmt_ratio)
    add("Sortino ratio", "sortino", _fmt_ratio)
    add("Calmar ratio", "calmar", _fmt_ratio)
    add("Max drawdown", "max_drawdown", _fmt_pct)
    add("Max drawdown peak", "max_drawdown_peak", _fmt_time)
    add("Max drawdown trough", "max_drawdown_trough", _fmt_time)
    if "max_drawdown_recovery" in metrics:
        recovery = metrics["max_drawdown_recovery"]
        if recovery is not None:
            rows.append(("Max drawdown recovery", _fmt_time(recovery)))
        elif metrics.get("max_drawdown_trough") is not None:
            rows.append(("Max drawdown recovery", "not recovered"))
        else:
            rows.append(("Max drawdown recovery", "n/a"))
    add("Max drawdown duration", "max_drawdown_duration_days", _fmt_days)
    add("Longest drawdown", "longest_drawdown_days", _fmt_days)
    for name in _var_names_in(metrics):
        level = name.replace("_", ".")
        add(f"VaR {level}% (per period)", f"var_{name}", _fmt_pct)
        add(f"CVaR {level}% (per period)", f"cvar_{name}", _fmt_pct)
    add("Exposure time", "exposure_time", _fmt_pct)
    add("Avg gross exposure", "avg_gross_exposure", _fmt_pct)
    add("Trades", "n_trades", _fmt_int)
    add("Wins", "n_wins", _fmt_int)
    add("Losses", "n_losses", _fmt_int)
    add("Win rate", "win_rate", _fmt_pct)
    if "profit_factor" in metrics:
        pf = metrics["profit_factor"]
        if pf is None and metrics.get("n_wins") and metrics.get("n_losses") == 0:
            rows.append(("Profit factor", "inf (no losing trades)"))
        else:
            rows.append(("Profit factor", "n/a" if pf is None else _fmt_ratio(pf)))
    add("Expectancy (per trade)", "expectancy", _fmt_money)
    add("Avg win", "avg_win", _fmt_money)
    add("Avg loss", "avg_loss", _fmt_money)
    add("Best trade", "best_trade", _fmt_pct)
    add("Worst trade", "worst_trade", _fmt_pct)
    return rows


# --------------------------------------------------------------------------------------------
# inputs


def _checked_equity(equity: pd.Series) -> pd.Series:
    if not isinstance(equity, pd.Series):
        raise DataError(f"equity must be a pandas Series, got {type(equity).__name__}")
    index = _utc_index(equity.index, "equity")
    try:
        values = equity.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"equity values must be numbers: {exc}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        at = index[int(np.argmax(bad))]
        raise DataError(f"equity has a non-finite value {values[bad][0]!r} at {at.isoformat()}")
    return pd.Series(values, index=index, name="equity")


def _utc_index(index: pd.Index, what: str) -> pd.DatetimeIndex:
    if not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{what} must be indexed by a DatetimeIndex, got {type(index).__name__}")
    # Naive times are UTC, as everywhere in the engine (engine.timeframes.parse_time).
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if len(index) > 1 and not (index.is_monotonic_increasing and index.is_unique):
        raise DataError(f"{what} index must be strictly increasing in time")
    return index


def _positive(eq: pd.Series) -> bool:
    return bool(len(eq) > 0 and (eq.to_numpy() > 0).all())


# --------------------------------------------------------------------------------------------
# summary and returns


def _summary_metrics(eq: pd.Series) -> dict[str, MetricValue]:
    if len(eq) == 0:
        return {"start": None, "end": None, "duration_days": None, "initial_equity": None,
                "final_equity": None}
    return {
        "start": _iso(eq.index[0]),
        "end": _iso(eq.index[-1]),
        "duration_days": float((eq.index[-1] - eq.index[0]) / _DAY),
        "initial_equity": float(eq.iloc[0]),
        "final_equity": float(eq.iloc[-1]),
    }


def _returns_and_annualization(eq: pd.Series, config: MetricsConfig,
                               ) -> tuple[pd.Series, float | None, str]:
    """Returns used by the ratios, their annualization factor, and what they are sampled on."""
    rule, period = _parse_returns_period(config.returns_period)
    if len(eq) < 2:
        return pd.Series([], index=eq.index[:0], dtype=np.float64, name="returns"), None, "bars"
    index = eq.index
    ns = index.as_unit("ns").asi8
    bar_spacing = pd.Timedelta(int(np.median(np.diff(ns))), unit="ns")
    span = index[-1] - index[0]
    if bar_spacing > period or span < 2 * period:
        values = eq.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            bar_returns = values[1:] / values[:-1] - 1.0
        ann = config.periods_per_year * (period / bar_spacing)
        return pd.Series(bar_returns, index=index[1:], name="returns"), ann, "bars"

    if isinstance(rule, pd.Timedelta):
        values, labels, first_count = _last_per_period(eq, ns, rule)
    else:
        resampled = eq.resample(rule)
        closes = resampled.last().ffill()
        values = closes.to_numpy()
        labels = closes.index
        first_count = int(resampled.count().iloc[0])
    if first_count > 1:
        # Bars after the initial capital fall in its own period: that period's return is
        # measured from the initial capital, not from its own close.
        values = np.concatenate([[eq.iloc[0]], values])
    else:
        labels = labels[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = values[1:] / values[:-1] - 1.0
    return (pd.Series(returns, index=labels, name="returns"), config.periods_per_year,
            config.returns_period)


def _last_per_period(eq: pd.Series, ns: np.ndarray, rule: pd.Timedelta,
                     ) -> tuple[np.ndarray, pd.DatetimeIndex, int]:
    """``eq.resample(rule).last().ffill()`` (bins from midnight of the first day, pandas'
    default origin) in numpy: long tick-level curves resample in a fraction of the time."""
    period = rule.value
    origin = ns[0] - ns[0] % 86_400_000_000_000
    bins = (ns - origin) // period
    ends = np.flatnonzero(np.diff(bins))
    last_rows = np.append(ends, len(ns) - 1)
    n_bins = int(bins[-1] - bins[0]) + 1
    slots = (bins[last_rows] - bins[0]).astype(np.int64)
    filled = np.full(n_bins, -1, dtype=np.int64)
    filled[slots] = last_rows
    filled = np.maximum.accumulate(filled)          # empty periods keep the previous close
    values = eq.to_numpy()[filled]
    labels = pd.DatetimeIndex(origin + (bins[0] + np.arange(n_bins)) * period,
                              tz="UTC").tz_convert(eq.index.tz).as_unit(eq.index.unit)
    first_count = int(last_rows[0]) + 1
    return values, labels, first_count


def _return_metrics(eq: pd.Series, returns: pd.Series, ann: float | None, basis: str,
                    config: MetricsConfig) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {
        "returns_basis": basis,
        "n_periods": len(returns),
        "annualization": _finite(ann),
        "total_return": None,
        "annual_return": None,
        "annual_volatility": None,
        "sharpe": None,
        "sortino": None,
    }
    if len(eq) == 0 or eq.iloc[0] <= 0:
        return out
    growth = float(eq.iloc[-1] / eq.iloc[0])
    out["total_return"] = growth - 1.0
    n = len(returns)
    if n == 0 or ann is None:
        return out
    if growth >= 0:
        with np.errstate(over="ignore"):
            out["annual_return"] = _finite(np.float64(growth) ** (ann / n) - 1.0)
    if n < 2 or not _positive(eq):
        return out

    r = returns.to_numpy()
    rf = (1.0 + config.risk_free_rate) ** (1.0 / ann) - 1.0
    excess = r - rf
    sqrt_ann = math.sqrt(ann)
    if n > config.ddof:
        std = float(np.std(r, ddof=config.ddof))
        out["annual_volatility"] = 0.0 if std <= ZERO_DISPERSION else _finite(std * sqrt_ann)
        excess_std = float(np.std(excess, ddof=config.ddof))
        if excess_std > ZERO_DISPERSION:
            out["sharpe"] = _finite(float(np.mean(excess)) / excess_std * sqrt_ann)
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside > ZERO_DISPERSION:
        out["sortino"] = _finite(float(np.mean(excess)) * ann / (downside * sqrt_ann))
    return out


def _tail_metrics(returns: pd.Series, levels: tuple[float, ...],
                  usable: bool) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {}
    r = returns.to_numpy()
    ok = usable and len(r) > 0 and bool(np.isfinite(r).all())
    for level in levels:
        name = _level_name(level)
        cutoff = round(1.0 - level, 12)  # 1 - 0.95 is 0.050000000000000044 in binary
        var: float | None = None
        cvar: float | None = None
        if ok:
            var = _finite(np.percentile(r, 100.0 * cutoff))
            # empyrical's tail: the floor((n-1)*cutoff)+1 smallest returns.
            k = int((len(r) - 1) * cutoff)
            cvar = _finite(np.mean(np.partition(r, k)[:k + 1]))
        out[f"var_{name}"] = var
        out[f"cvar_{name}"] = cvar
    return out


# --------------------------------------------------------------------------------------------
# drawdowns


def _drawdown_metrics(eq: pd.Series) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {
        "max_drawdown": None,
        "max_drawdown_peak": None,
        "max_drawdown_trough": None,
        "max_drawdown_recovery": None,
        "max_drawdown_duration_days": None,
        "longest_drawdown_days": None,
    }
    if len(eq) == 0 or eq.iloc[0] <= 0:
        return out
    dd = drawdown_series(eq).to_numpy()
    index = eq.index
    underwater = dd < 0
    if not underwater.any():
        out.update(max_drawdown=0.0, max_drawdown_duration_days=0.0, longest_drawdown_days=0.0)
        return out

    trough = int(np.argmin(dd))  # first time the deepest point is reached
    at_high = ~underwater
    peak = int(np.flatnonzero(at_high[:trough + 1])[-1])
    later_highs = np.flatnonzero(at_high[trough + 1:])
    recovery = trough + 1 + int(later_highs[0]) if len(later_highs) else None
    end = recovery if recovery is not None else len(index) - 1
    out["max_drawdown"] = float(dd[trough])
    out["max_drawdown_peak"] = _iso(index[peak])
    out["max_drawdown_trough"] = _iso(index[trough])
    out["max_drawdown_recovery"] = None if recovery is None else _iso(index[recovery])
    out["max_drawdown_duration_days"] = float((index[end] - index[peak]) / _DAY)

    # Each drawdown runs from the last high before it goes underwater to the next high, or to
    # the last point when it has not recovered.
    highs = np.flatnonzero(at_high)
    starts = highs[highs + 1 < len(index)]
    starts = starts[underwater[starts + 1]]
    nxt = np.searchsorted(highs, starts, side="right")
    ends = np.where(nxt < len(highs), highs[np.minimum(nxt, len(highs) - 1)], len(index) - 1)
    longest = (index[ends] - index[starts]).max()
    out["longest_drawdown_days"] = float(longest / _DAY)
    return out


def _calmar(annual_return: MetricValue, max_drawdown: MetricValue) -> float | None:
    if not isinstance(annual_return, float) or not isinstance(max_drawdown, float):
        return None
    if max_drawdown >= 0:
        return None
    return _finite(annual_return / abs(max_drawdown))


# --------------------------------------------------------------------------------------------
# exposure and trades


def _exposure_metrics(exposure: pd.Series | None,
                      index: pd.DatetimeIndex) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {"exposure_time": None, "avg_gross_exposure": None}
    if exposure is None:
        return out
    if not isinstance(exposure, pd.Series):
        raise DataError(f"exposure must be a pandas Series, got {type(exposure).__name__}")
    if not _utc_index(exposure.index, "exposure").equals(index):
        raise DataError("exposure must have the same index as equity")
    if len(exposure) == 0:
        return out
    if pd.api.types.is_bool_dtype(exposure.dtype):
        in_market = exposure.fillna(False).to_numpy(dtype=bool)
        out["exposure_time"] = float(in_market.mean())
        return out
    try:
        gross = np.abs(exposure.to_numpy(dtype=np.float64, na_value=0.0))
    except (TypeError, ValueError) as exc:
        raise DataError(f"exposure values must be bool or numbers: {exc}") from None
    gross = np.where(np.isfinite(gross), gross, 0.0)
    out["exposure_time"] = float((gross > 0).mean())
    out["avg_gross_exposure"] = float(gross.mean())
    return out


def _trade_metrics(trades: pd.DataFrame | None) -> dict[str, MetricValue]:
    out: dict[str, MetricValue] = {
        "n_trades": 0, "n_wins": 0, "n_losses": 0, "win_rate": None, "profit_factor": None,
        "expectancy": None, "avg_win": None, "avg_loss": None, "best_trade": None,
        "worst_trade": None,
    }
    if trades is None or len(trades) == 0:
        return out
    if not isinstance(trades, pd.DataFrame):
        raise DataError(f"trades must be a pandas DataFrame, got {type(trades).__name__}")
    pnl = _trade_column(trades, "pnl")
    ret = _trade_column(trades, "return_pct")
    wins = pnl > 0
    losses = pnl < 0
    n_wins, n_losses = int(wins.sum()), int(losses.sum())
    gross_loss = float(pnl[losses].sum())
    out.update(
        n_trades=len(pnl),
        n_wins=n_wins,
        n_losses=n_losses,
        win_rate=n_wins / len(pnl),
        profit_factor=_finite(float(pnl[wins].sum()) / -gross_loss) if n_losses else None,
        expectancy=float(pnl.mean()),
        avg_win=float(pnl[wins].mean()) if n_wins else None,
        avg_loss=float(pnl[losses].mean()) if n_losses else None,
        best_trade=float(ret.max()) / 100.0,     # a fraction, as every return metric here
        worst_trade=float(ret.min()) / 100.0,
    )
    return out


def _trade_column(trades: pd.DataFrame, column: str) -> np.ndarray:
    if column not in trades.columns:
        raise DataError(f"trades has no column {column!r}")
    try:
        values = trades[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"trades column {column!r} must be numbers: {exc}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"trades column {column!r} has a non-finite value in row "
                        f"{trades.index[int(np.argmax(bad))]!r}")
    return values


# --------------------------------------------------------------------------------------------
# values and formatting


def _finite(value: float | np.floating | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _iso(ts: pd.Timestamp) -> str:
    return format_ns(ts.value)


def _var_names_in(metrics: dict[str, MetricValue]) -> list[str]:
    names = [key[len("var_"):] for key in metrics if key.startswith("var_")]
    return sorted(names, key=lambda name: float(name.replace("_", ".")))


def _fmt_time(value: float | int | str) -> str:
    text = str(value)
    return text.replace("T", " ").removesuffix("Z") + " UTC" if text.endswith("Z") else text


def _fmt_days(value: float | int | str) -> str:
    return f"{float(value):.2f} days"


def _fmt_pct(value: float | int | str) -> str:
    return f"{float(value) * 100:.2f}%"


def _fmt_ratio(value: float | int | str) -> str:
    return f"{float(value):.2f}"


def _fmt_money(value: float | int | str) -> str:
    return f"{float(value):,.2f}"


def _fmt_int(value: float | int | str) -> str:
    return f"{int(value):,}"


def _fmt_basis(metrics: dict[str, MetricValue]) -> str:
    basis, n = metrics.get("returns_basis"), metrics.get("n_periods")
    ann = metrics.get("annualization")
    per = "bar-to-bar" if basis == "bars" else f"per {basis}"
    return f"{n} returns {per}, {float(ann or 0.0):.6g} a year"
