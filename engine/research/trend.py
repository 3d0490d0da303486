"""Trend analysis: each symbol's market regime over time (uptrend, downtrend, sideways,
volatile), the current one, and the strategies that did best in that regime in past sweeps.

**Rules** (:class:`TrendRules`, on bars of ``timeframe``, default daily, built from the data):

- ``adx, +DI, -DI = ADX(adx_period)`` (Wilder, ``engine.indicators.adx``), ``sma =
  SMA(close, sma_period)``;
- volatility: the population standard deviation of the last ``vol_window`` log returns of the
  close (``engine.indicators.stddev``), ranked against its own last ``vol_lookback`` values
  (itself included; fewer while the data is young, from ``vol_window * 3`` values on) as a
  percentile ``100 * (#below + #equal / 2) / #values``;
- **uptrend** when ``adx >= adx_threshold``, ``+DI > -DI`` and ``close > sma``;
  **downtrend** when ``adx >= adx_threshold``, ``-DI > +DI`` and ``close < sma``;
  otherwise **volatile** when the volatility percentile is at least ``vol_percentile``;
  otherwise **sideways**; ``unknown`` while an indicator is not ready.

Every label at a bar uses that bar and earlier ones only.

**Suggestions.** A sweep's ``results.csv`` holds one row per run (symbol, strategy,
parameters, metrics, with the run's ``start`` and ``end``). Each run is labelled by the regime
its symbol held longest over that span (from the regimes computed here, so only runs on
symbols and times the data covers count; ``share`` says how much of the span it was). For a
symbol's current regime, the runs labelled with that regime are ranked by the sweep's rank
metric and the best few suggested; with none, no strategy is known for that regime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.config import BacktestConfig
from engine.data.schema import BAR
from engine.errors import ConfigError
from engine.research.results import envelope, read_result, write_result
from engine.timeframes import format_ns, ns_to_timeframe, timeframe_to_ns

REGIMES = ("uptrend", "downtrend", "sideways", "volatile")
SUGGESTIONS = 5


@dataclass(frozen=True)
class TrendRules:
    """The regime rules' settings (see the module docs)."""

    timeframe: str = "1d"
    adx_period: int = 14
    adx_threshold: float = 25.0
    sma_period: int = 50
    vol_window: int = 20
    vol_lookback: int = 365
    vol_percentile: float = 80.0

    def text(self) -> str:
        return (f"On {self.timeframe} bars: uptrend when ADX({self.adx_period}) >= "
                f"{self.adx_threshold:g}, +DI > -DI and close > SMA({self.sma_period}); "
                f"downtrend when ADX >= {self.adx_threshold:g}, -DI > +DI and close < SMA; "
                f"otherwise volatile when the {self.vol_window}-bar volatility of log returns "
                f"ranks at or above the {self.vol_percentile:g}th percentile of its last "
                f"{self.vol_lookback} values; otherwise sideways.")


def regime_table(bars: pd.DataFrame, rules: TrendRules = TrendRules()) -> pd.DataFrame:
    """Per bar of ``bars`` (ts, open, high, low, close): the indicators and the regime."""
    from engine.indicators import adx, sma, stddev

    high, low = bars["high"].to_numpy(np.float64), bars["low"].to_numpy(np.float64)
    close = bars["close"].to_numpy(np.float64)
    strength, plus_di, minus_di = adx(high, low, close, rules.adx_period)
    average = sma(close, rules.sma_period)
    log_returns = np.full(len(close), np.nan)
    log_returns[1:] = np.diff(np.log(close))
    vol = np.full(len(close), np.nan)
    if len(close) > rules.vol_window:
        vol[1:] = stddev(log_returns[1:], rules.vol_window)
    rank = percentile_rank(vol, rules.vol_lookback, 3 * rules.vol_window)
    trending = strength >= rules.adx_threshold
    regime = np.where(trending & (plus_di > minus_di) & (close > average), "uptrend",
             np.where(trending & (minus_di > plus_di) & (close < average), "downtrend",
             np.where(rank >= rules.vol_percentile, "volatile", "sideways")))
    ready = ~(np.isnan(strength) | np.isnan(average) | np.isnan(rank))
    regime = np.where(ready, regime, "unknown")
    return pd.DataFrame({"ts": bars["ts"].to_numpy(np.int64), "close": close, "adx": strength,
                         "plus_di": plus_di, "minus_di": minus_di, "sma": average,
                         "volatility": vol, "volatility_percentile": rank, "regime": regime})


def percentile_rank(values: np.ndarray, lookback: int, minimum: int) -> np.ndarray:
    """Each value's percentile among the last ``lookback`` finite values up to it (itself
    included): ``100 * (#below + #equal / 2) / #values``; NaN with fewer than ``minimum``."""
    out = np.full(len(values), np.nan)
    good = np.flatnonzero(np.isfinite(values))
    finite = values[good]
    for j, i in enumerate(good):
        window = finite[max(0, j - lookback + 1):j + 1]
        if len(window) < minimum:
            continue
        x = finite[j]
        out[i] = 100.0 * ((window < x).sum() + (window == x).sum() / 2.0) / len(window)
    return out


def current_since(table: pd.DataFrame) -> tuple[str, int | None]:
    """The last bar's regime and the open time of the run of bars it has held."""
    labels = table["regime"].to_numpy()
    if len(labels) == 0:
        return "unknown", None
    last = labels[-1]
    changes = np.flatnonzero(labels != last)
    start = changes[-1] + 1 if len(changes) else 0
    return str(last), int(table["ts"].iloc[start])


def shares(labels: np.ndarray) -> dict[str, float]:
    """The share of classified bars in each regime."""
    known = labels[labels != "unknown"]
    return {r: float((known == r).mean()) if len(known) else 0.0 for r in REGIMES}


def regime_bars(config: BacktestConfig, rules: TrendRules) -> dict[str, pd.DataFrame]:
    """Each symbol's bars at ``rules.timeframe`` from the data ``config`` names."""
    from engine.data.resample import resample_bars, trades_to_bars
    from engine.datasource import load_data

    want = timeframe_to_ns(rules.timeframe)
    out = {}
    for feed in load_data(config).feeds:
        if feed.kind == BAR:
            if feed.interval_ns > want:
                raise ConfigError(f"--timeframe {rules.timeframe}: {feed.symbol} has "
                                  f"{ns_to_timeframe(feed.interval_ns)} bars; choose a "
                                  f"timeframe of at least that")
            bars = feed.frame if feed.interval_ns == want else resample_bars(
                feed.frame, feed.interval_ns, want)
        elif feed.kind == "trade":
            bars = trades_to_bars(feed.frame, want)
        else:
            raise ConfigError(f"data {config.data}: trend analysis reads bars or trades, not "
                              f"{feed.kind}s")
        out[feed.symbol] = bars.reset_index(drop=True)
    return out


def sweep_runs(folder: str | Path) -> tuple[pd.DataFrame, str, bool, list[str]]:
    """A sweep's runs without errors, its rank metric, whether lower ranks better, and its
    parameter columns. ``ConfigError`` naming the file at fault."""
    content = read_result(folder, kind="sweep")
    path = Path(folder) / "results.csv"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (the sweep's results table)")
    runs = pd.read_csv(path)
    rank_by = str(content.get("rank_by") or content["summary"].get("rank_by"))
    missing = [c for c in ("symbol", "strategy", rank_by) if c not in runs.columns]
    if missing:
        raise ConfigError(f"{path}: column {', '.join(repr(c) for c in missing)} is missing")
    if "error" in runs.columns:
        runs = runs[runs["error"].isna()]
    inputs = content.get("inputs") or {}
    for col in ("start", "end"):
        if col not in runs.columns:
            runs[col] = inputs.get(col)
    return (runs.reset_index(drop=True), rank_by, bool(content.get("ascending", False)),
            list(content.get("parameters") or []))


def suggest(tables: Mapping[str, pd.DataFrame], sweeps: Sequence[str | Path],
            ) -> list[dict[str, Any]]:
    """For each symbol's current regime, the best runs of ``sweeps`` labelled with it."""
    labelled = []
    for folder in sweeps:
        runs, rank_by, ascending, parameters = sweep_runs(folder)
        for row in runs.to_dict("records"):
            table = tables.get(str(row["symbol"]))
            if table is None:
                continue
            ts = table["ts"].to_numpy(np.int64)
            start = _ns(row.get("start"), int(ts[0]))
            end = _ns(row.get("end"), int(ts[-1]) + 1)
            inside = table["regime"].to_numpy()[(ts >= start) & (ts <= end)]
            share = shares(inside)
            if not any(share.values()):
                continue
            dominant = max(REGIMES, key=lambda r: share[r])
            strategy = str(row["strategy"])
            params = {p.partition(".")[2]: row[p] for p in parameters
                      if p.startswith(f"{strategy}.") and p in row and pd.notna(row[p])}
            labelled.append({"regime": dominant, "share": share[dominant],
                             "symbol": row["symbol"], "strategy": strategy, "params": params,
                             "metric": rank_by, "value": row[rank_by],
                             "ascending": ascending, "sweep": str(folder),
                             "span": f"{format_ns(start)[:10]} .. {format_ns(end)[:10]}"})
    out = []
    for symbol, table in tables.items():
        regime, _ = current_since(table)
        mine = [r for r in labelled if r["regime"] == regime and pd.notna(r["value"])]
        mine.sort(key=lambda r: r["value"] if r["ascending"] else -r["value"])
        best, seen = [], set()
        for r in mine:
            key = (r["strategy"], tuple(sorted(r["params"].items())))
            if key not in seen:
                seen.add(key)
                best.append({k: r[k] for k in ("strategy", "params", "metric", "value",
                                               "symbol", "span", "share", "sweep")})
            if len(best) == SUGGESTIONS:
                break
        if not sweeps:
            note = "no sweep given (--sweep DIR): no strategy is known for this regime"
        elif not best:
            note = f"no run of the sweeps given was longest {regime}: none known"
        else:
            note = (f"the best of {len(mine)} sweep runs whose span was longest {regime}, by "
                    f"{best[0]['metric']}")
        out.append({"symbol": symbol, "regime": regime, "strategies": best, "note": note})
    return out


def _ns(value: Any, default: int) -> int:
    from engine.timeframes import parse_time

    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return default
    return parse_time(str(value))


def run_trend(config: BacktestConfig, *, rules: TrendRules = TrendRules(),
              sweeps: Sequence[str | Path] = ()) -> tuple[dict[str, Any], pd.DataFrame]:
    """The regimes of every symbol of ``config``'s data: the ``result.json`` content (kind
    ``trend``) and the per-bar table."""
    for folder in sweeps:     # a bad sweep folder fails before the data loads
        sweep_runs(folder)
    tables = {symbol: regime_table(bars, rules)
              for symbol, bars in regime_bars(config, rules).items()}
    symbols: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for symbol, table in tables.items():
        regime, since = current_since(table)
        symbols.append({
            "symbol": symbol, "timeframe": rules.timeframe, "current_regime": regime,
            "current_since": format_ns(since) if since is not None else None,
            "shares": shares(table["regime"].to_numpy()),
            "series": {"ts": [format_ns(int(t)) for t in table["ts"]],
                       "close": table["close"].tolist(),
                       "regime": table["regime"].tolist()}})
        summary[f"{symbol} regime"] = regime
    suggestions = suggest(tables, sweeps)
    summary["symbols"] = len(tables)
    inputs = {"data": config.data, "symbols": list(config.symbols) if config.symbols else None,
              "start": config.start, "end": config.end, "seed": config.seed,
              "rules": asdict(rules), "sweeps": [str(s) for s in sweeps]}
    content = envelope("trend", inputs, summary, files=["results.csv", "report.html"],
                       symbols=symbols, suggestions=suggestions,
                       rules={**asdict(rules), "text": rules.text()})
    table = pd.concat([t.assign(symbol=s) for s, t in tables.items()], ignore_index=True)
    table.insert(0, "time", [format_ns(int(t)) for t in table["ts"]])
    return content, table.drop(columns=["ts"])


def write_trend(output: str | Path, content: Mapping[str, Any], table: pd.DataFrame) -> Path:
    """``results.csv`` and ``result.json`` into ``output``."""
    return write_result(output, content,
                        {"results.csv": lambda p: table.to_csv(p, index=False)})


__all__ = ["REGIMES", "TrendRules", "current_since", "percentile_rank", "regime_table",
           "run_trend", "shares", "suggest", "sweep_runs", "write_trend"]
