"""Stylized facts of a market, measured on any bars or trades (real or synthetic).

``measure_facts`` returns a JSON-ready dict; ``facts_table`` renders it for a terminal. The
same measures run on a real file and on the synthetic market, so the two can be compared
fact by fact (``docs/synthetic.md``) and the synthetic market fitted to the real one
(``engine.synthetic.fit``).

Returns are close-to-close log returns between bars exactly one interval apart (a gap in
the data never makes a return). Coarser resolutions (1h, 1d) are folded from the data's own
bars on the UTC grid; a resolution is measured when the data is at least that fine and holds
enough of it (``MIN_RETURNS``). Annualization uses 365 days: crypto never closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.data.resample import resample_bars, trades_to_bars
from engine.errors import DataError
from engine.timeframes import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE

RESOLUTIONS: dict[str, int] = {"1m": NS_PER_MINUTE, "1h": NS_PER_HOUR, "1d": NS_PER_DAY}
ACF_LAGS = 24
MIN_RETURNS = 30
NS_PER_YEAR = 365 * NS_PER_DAY
_DRAWDOWN_QUANTILES = (0.5, 0.9, 0.99)
_SIZE_QUANTILES = (0.1, 0.5, 0.9, 0.99)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def measure_facts(data: pd.DataFrame, *, interval_ns: int | None = None,
                  quotes: pd.DataFrame | None = None, source: str = "") -> dict[str, Any]:
    """The stylized facts of ``data``: bars (``ts, open, high, low, close, volume`` with
    ``interval_ns``, inferred from the most common step when omitted) or trades
    (``ts, price, size[, side]``, folded into 1m bars first). ``quotes`` (``bid, ask``) add
    the spread distribution. Raises ``DataError`` when there are too few bars to measure."""
    trades = None
    if "price" in data.columns:
        trades = data
        bars = trades_to_bars(data, NS_PER_MINUTE)
        interval_ns = NS_PER_MINUTE
    else:
        bars = data
        if interval_ns is None:
            interval_ns = _infer_interval(bars)
    bars = bars.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
    if trades is not None and len(bars) < MIN_RETURNS + 1 and len(trades) >= MIN_RETURNS:
        # Too short for returns (a few minutes of ticks), long enough for trade sizes.
        ts = trades["ts"].to_numpy(np.int64)
        out_short: dict[str, Any] = {
            "source": source, "kind": "trades", "trades": len(trades),
            "first": str(pd.Timestamp(int(ts[0]), unit="ns")),
            "last": str(pd.Timestamp(int(ts[-1]), unit="ns")),
            "trade_size": _trade_sizes(trades)}
        if quotes is not None and len(quotes):
            out_short["spread_bps"] = _spreads(quotes)
        return out_short
    if len(bars) < MIN_RETURNS + 1:
        raise DataError(f"{source or 'data'}: {len(bars)} bars are too few to measure "
                        f"stylized facts (need {MIN_RETURNS + 1})")
    ts = bars["ts"].to_numpy(np.int64)
    span_ns = int(ts[-1] - ts[0]) + interval_ns
    out: dict[str, Any] = {
        "source": source,
        "kind": "trades" if trades is not None else "bars",
        "resolution": _label(interval_ns),
        "bars": len(bars),
        "first": str(pd.Timestamp(int(ts[0]), unit="ns")),
        "last": str(pd.Timestamp(int(ts[-1]), unit="ns")),
        "days": round(span_ns / NS_PER_DAY, 3),
    }
    base = _returns(bars, interval_ns)
    out["annual_volatility"] = _annual_vol(base, interval_ns)
    out["annual_log_drift"] = (float(base.sum()) * NS_PER_YEAR / span_ns
                               if len(base) else math.nan)
    by_resolution: dict[str, Any] = {}
    folded: dict[str, pd.DataFrame] = {}
    for name, step in RESOLUTIONS.items():
        if step < interval_ns or step % interval_ns:
            continue
        coarse = bars if step == interval_ns else resample_bars(bars, interval_ns, step)
        r = _returns(coarse, step)
        if len(r) < MIN_RETURNS:
            continue
        folded[name] = coarse
        by_resolution[name] = {
            "returns": len(r),
            "annual_volatility": _annual_vol(r, step),
            "skew": _skew(r),
            "excess_kurtosis": _excess_kurtosis(r),
        }
    out["returns"] = by_resolution
    # Autocorrelations at 1h (the strategies' usual bar) when the data allows, else at its own.
    acf_name = "1h" if "1h" in folded and by_resolution["1h"]["returns"] >= 4 * ACF_LAGS else (
        next(iter(folded)) if folded else _label(interval_ns))
    acf_bars = folded.get(acf_name, bars)
    acf_step = RESOLUTIONS.get(acf_name, interval_ns)
    r_acf = _returns_on_grid(acf_bars, acf_step)
    out["acf_resolution"] = acf_name
    out["acf_returns"] = [_acf(r_acf, lag) for lag in range(1, ACF_LAGS + 1)]
    out["acf_abs_returns"] = [_acf(np.abs(r_acf), lag) for lag in range(1, ACF_LAGS + 1)]
    out["acf_abs_returns_long"] = {str(lag): _acf(np.abs(r_acf), lag)
                                   for lag in (48, 96, 168) if 4 * lag < len(r_acf)}
    out["abs_acf_half_life"] = _half_life(out["acf_abs_returns"])
    out["variance_ratio_24"] = _variance_ratio(r_acf, 24)
    # Drawdown episodes depend on the resolution (a 1m series has many tiny ones): 1h when
    # the data allows.
    dd_bars = folded.get("1h", bars)
    out["drawdown_resolution"] = "1h" if "1h" in folded else _label(interval_ns)
    out["drawdowns"] = _drawdowns(dd_bars["close"].to_numpy(np.float64), span_ns)
    vv_bars = folded.get("1h", bars)
    vv = _returns_with_volume(vv_bars, RESOLUTIONS.get("1h", interval_ns)
                              if "1h" in folded else interval_ns)
    out["volume_volatility_correlation"] = _rank_corr(np.abs(vv[0]), vv[1])
    out["seasonality"] = _seasonality(bars, interval_ns)
    if trades is not None:
        out["trade_size"] = _trade_sizes(trades)
    if quotes is not None and len(quotes):
        out["spread_bps"] = _spreads(quotes)
    return out


def measure_quotes(quotes: pd.DataFrame, *, source: str = "") -> dict[str, Any]:
    """The facts a quotes-only data set allows: the spread distribution."""
    ts = quotes["ts"].to_numpy(np.int64)
    return {"source": source, "kind": "quotes", "quotes": len(quotes),
            "first": str(pd.Timestamp(int(ts[0]), unit="ns")),
            "last": str(pd.Timestamp(int(ts[-1]), unit="ns")),
            "spread_bps": _spreads(quotes)}


def json_ready(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python ones (strict
    JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- returns and moments -----------------------------------------------------------------

def _infer_interval(bars: pd.DataFrame) -> int:
    steps = np.diff(np.sort(bars["ts"].to_numpy(np.int64)))
    steps = steps[steps > 0]
    if not len(steps):
        raise DataError("cannot tell the bars' timeframe: fewer than two distinct times")
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def _returns(bars: pd.DataFrame, step: int) -> np.ndarray:
    """Log returns between bars exactly ``step`` apart."""
    ts = bars["ts"].to_numpy(np.int64)
    close = bars["close"].to_numpy(np.float64)
    adjacent = np.diff(ts) == step
    r = np.diff(np.log(close))
    return r[adjacent & np.isfinite(r)]


def _returns_on_grid(bars: pd.DataFrame, step: int) -> np.ndarray:
    """Log returns on the full grid, NaN where a bar is missing (keeps lags honest)."""
    return _returns_with_volume(bars, step)[0]


def _returns_with_volume(bars: pd.DataFrame, step: int) -> tuple[np.ndarray, np.ndarray]:
    ts = bars["ts"].to_numpy(np.int64)
    index = (ts - ts[0]) // step
    n = int(index[-1]) + 1
    close = np.full(n, np.nan)
    volume = np.full(n, np.nan)
    close[index] = bars["close"].to_numpy(np.float64)
    volume[index] = bars["volume"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(close))
    return r, volume[1:]


def _annual_vol(r: np.ndarray, step: int) -> float:
    if len(r) < 2:
        return math.nan
    return float(np.std(r, ddof=1) * math.sqrt(NS_PER_YEAR / step))


def _skew(r: np.ndarray) -> float:
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d ** 3) / m2 ** 1.5) if m2 > 0 else math.nan


def _excess_kurtosis(r: np.ndarray) -> float:
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    return float(np.mean(d ** 4) / (m2 * m2) - 3.0) if m2 > 0 else math.nan


def _acf(x: np.ndarray, lag: int) -> float:
    """Autocorrelation at ``lag`` over the pairs where both values exist."""
    if lag >= len(x):
        return math.nan
    a, b = x[:-lag], x[lag:]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_RETURNS:
        return math.nan
    finite = x[np.isfinite(x)]
    mean = finite.mean()
    var = float(np.mean((finite - mean) ** 2))
    if var <= 0:
        return math.nan
    return float(np.mean((a[ok] - mean) * (b[ok] - mean)) / var)


def _half_life(acf: list[float]) -> float | None:
    """First lag at which the absolute-return autocorrelation falls below half its lag-1
    value, interpolated; None if it stays above within the measured lags."""
    first = acf[0]
    if not (first > 0):
        return None
    half = first / 2.0
    for k in range(1, len(acf)):
        if acf[k] <= half:
            prev = acf[k - 1]
            return float(k + (prev - half) / (prev - acf[k])) if prev != acf[k] else float(k + 1)
    return None


def _variance_ratio(r: np.ndarray, k: int) -> float:
    """Var of k-period sums over k times the one-period variance (1 for a random walk, below
    1 under mean reversion, above under trending)."""
    x = np.where(np.isfinite(r), r, 0.0)
    n = len(x) // k
    if n < MIN_RETURNS:
        return math.nan
    sums = x[: n * k].reshape(n, k).sum(axis=1)
    one = float(np.var(x, ddof=1))
    return float(np.var(sums, ddof=1) / (k * one)) if one > 0 else math.nan


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation over the pairs where both exist."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_RETURNS:
        return math.nan
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:     # a constant (e.g. volume-less data): undefined
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


# -- drawdowns, seasonality, microstructure ---------------------------------------------

def _drawdowns(close: np.ndarray, span_ns: int) -> dict[str, Any]:
    """Depth of each drawdown episode (peak to trough before a new high), as fractions."""
    peak = np.maximum.accumulate(close)
    dd = 1.0 - close / peak
    new_high = dd == 0.0
    episode = np.cumsum(new_high)
    depths = pd.Series(dd).groupby(episode).max().to_numpy()
    depths = depths[depths > 0]
    years = span_ns / NS_PER_YEAR
    out: dict[str, Any] = {"max": float(dd.max()) if len(dd) else 0.0,
                           "episodes_per_year": len(depths) / years if years > 0 else math.nan,
                           "deeper_than_10pct_per_year":
                               float((depths > 0.10).sum() / years) if years > 0 else math.nan}
    for q in _DRAWDOWN_QUANTILES:
        out[f"q{int(q * 100)}"] = float(np.quantile(depths, q)) if len(depths) else 0.0
    return out


def _seasonality(bars: pd.DataFrame, step: int) -> dict[str, Any]:
    """Mean volume and mean |return| by UTC hour (data finer than 1h) and by weekday (finer
    than 1d), each relative to its overall mean; plus the peak-to-trough ratios."""
    ts = bars["ts"].to_numpy(np.int64)
    r, volume = _returns_with_volume(bars, step)
    t = ts[0] + step * np.arange(1, len(r) + 1, dtype=np.int64)
    abs_r = np.abs(r)
    out: dict[str, Any] = {}
    keys: list[tuple[str, np.ndarray, int, list[str]]] = []
    if step <= NS_PER_HOUR:
        keys.append(("hour", (t % NS_PER_DAY) // NS_PER_HOUR, 24, [str(h) for h in range(24)]))
    if step <= NS_PER_DAY:
        keys.append(("weekday", (t // NS_PER_DAY + 3) % 7, 7, list(_WEEKDAYS)))
    for name, key, n, labels in keys:
        for what, values in (("volume", volume), ("abs_return", abs_r)):
            ok = np.isfinite(values)
            sums = np.bincount(key[ok], weights=values[ok], minlength=n)
            counts = np.bincount(key[ok], minlength=n)
            means = np.divide(sums, counts, out=np.full(n, np.nan), where=counts > 0)
            overall = np.nanmean(means)
            rel = means / overall if overall > 0 else means
            out[f"{what}_by_{name}"] = {lab: round(float(v), 4) for lab, v in zip(labels, rel)}
            out[f"{what}_{name}_peak_to_trough"] = (float(np.nanmax(rel) / np.nanmin(rel))
                                                    if np.nanmin(rel) > 0 else math.nan)
    return out


def _trade_sizes(trades: pd.DataFrame) -> dict[str, Any]:
    notional = (trades["price"] * trades["size"]).to_numpy(np.float64)
    ts = trades["ts"].to_numpy(np.int64)
    minutes = max((int(ts[-1]) - int(ts[0])) / NS_PER_MINUTE, 1e-9)
    out: dict[str, Any] = {"trades": len(trades), "trades_per_minute": len(trades) / minutes,
                           "mean_notional": float(notional.mean()),
                           "log_notional_sd": float(np.std(np.log(notional[notional > 0])))}
    for q in _SIZE_QUANTILES:
        out[f"notional_q{int(q * 100)}"] = float(np.quantile(notional, q))
    if "side" in trades.columns:
        out["buy_share"] = float((trades["side"].to_numpy() > 0).mean())
    return out


def _spreads(quotes: pd.DataFrame) -> dict[str, Any]:
    bid = quotes["bid"].to_numpy(np.float64)
    ask = quotes["ask"].to_numpy(np.float64)
    ok = (bid > 0) & (ask >= bid)
    bps = (ask[ok] - bid[ok]) / ((ask[ok] + bid[ok]) / 2.0) * 10_000.0
    out: dict[str, Any] = {"quotes": int(ok.sum()), "mean": float(bps.mean())}
    for q in _SIZE_QUANTILES:
        out[f"q{int(q * 100)}"] = float(np.quantile(bps, q))
    return out


def _label(step: int) -> str:
    for name, value in RESOLUTIONS.items():
        if value == step:
            return name
    if step % NS_PER_MINUTE == 0:
        return f"{step // NS_PER_MINUTE}m"
    return f"{step / 1e9:g}s"


# -- presentation ------------------------------------------------------------------------

def facts_table(facts: Mapping[str, Any], others: Mapping[str, Mapping[str, Any]] | None = None
                ) -> str:
    """The headline facts as aligned text; ``others`` adds columns (e.g. a synthetic market
    beside the real one), keyed by their heading."""
    columns = {facts.get("source") or "data": facts, **(others or {})}
    names: list[str] = []
    for column in columns.values():
        names += [name for name, _ in headline_rows(column) if name not in names]
    width = max(len(n) for n in names) + 2
    heads = list(columns)
    col_w = max(14, *(len(h) + 2 for h in heads))
    lines = ["fact".ljust(width) + "".join(h.rjust(col_w) for h in heads)]
    for name in names:
        cells = [_fmt(dict(headline_rows(f)).get(name)) for f in columns.values()]
        lines.append(name.ljust(width) + "".join(c.rjust(col_w) for c in cells))
    return "\n".join(lines)


def headline_rows(facts: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, value) pairs of the facts worth a line each, in a stable order."""
    rows: list[tuple[str, Any]] = [
        ("resolution", facts.get("resolution")),
        ("days", facts.get("days")),
        ("annual volatility", facts.get("annual_volatility")),
        ("annual log drift", facts.get("annual_log_drift")),
    ]
    for name, r in facts.get("returns", {}).items():
        rows += [(f"{name} volatility", r["annual_volatility"]),
                 (f"{name} skew", r["skew"]),
                 (f"{name} excess kurtosis", r["excess_kurtosis"])]
    acf = facts.get("acf_returns") or []
    abs_acf = facts.get("acf_abs_returns") or []
    res = facts.get("acf_resolution", "")
    if acf:
        rows += [(f"acf r lag 1 ({res})", acf[0]),
                 ("acf r mean lags 1-24", float(np.nanmean(acf)))]
    if abs_acf:
        rows += [(f"acf |r| lag 1 ({res})", abs_acf[0]),
                 ("acf |r| lag 6", abs_acf[5] if len(abs_acf) > 5 else None),
                 ("acf |r| lag 24", abs_acf[23] if len(abs_acf) > 23 else None)]
    for lag, value in (facts.get("acf_abs_returns_long") or {}).items():
        rows.append((f"acf |r| lag {lag}", value))
    rows += [("variance ratio 24", facts.get("variance_ratio_24")),
             ("volume-|r| rank corr", facts.get("volume_volatility_correlation"))]
    dd = facts.get("drawdowns") or {}
    rows += [("max drawdown", dd.get("max")), ("drawdown q50", dd.get("q50")),
             ("drawdown q90", dd.get("q90")),
             ("drawdowns >10%/year", dd.get("deeper_than_10pct_per_year"))]
    season = facts.get("seasonality") or {}
    for key in ("volume_hour_peak_to_trough", "abs_return_hour_peak_to_trough",
                "volume_weekday_peak_to_trough", "abs_return_weekday_peak_to_trough"):
        if key in season:
            rows.append((key.replace("_", " "), season[key]))
    if "sat" in season.get("volume_by_weekday", {}):
        wk = season["volume_by_weekday"]
        rows.append(("weekend/weekday volume",
                     (wk["sat"] + wk["sun"]) / 2 / (sum(wk[d] for d in _WEEKDAYS[:5]) / 5)))
    sizes = facts.get("trade_size") or {}
    if sizes:
        rows += [("trades per minute", sizes["trades_per_minute"]),
                 ("trade notional q50", sizes["notional_q50"]),
                 ("log notional sd", sizes["log_notional_sd"])]
    spread = facts.get("spread_bps") or {}
    if spread:
        rows += [("spread bps q50", spread["q50"]), ("spread bps mean", spread["mean"])]
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)
