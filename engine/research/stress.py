"""Stress tests: a strategy's backtest through named historical crises and through synthetic
shocks applied to any data, with a survival table and a score ("survived 9 of 10").

**Scenarios.**

- Historical windows (:data:`WINDOWS`): the strategy runs from ``warmup`` before the window's
  start (as far back as the data goes) to its end; the window alone is measured. Only windows
  the data covers run; naming one it does not cover is an error saying what the data covers.
- Synthetic shocks, applied at ``shock_at`` to every symbol (default: the middle of the data,
  moved on to the first time the strategy then holds a position, :func:`invested_time`):

  - ``gap:size=X`` every price from ``shock_at`` on times ``1 - X`` (a gap down of X);
  - ``vol_spike:factor=K,duration=D`` for ``D``, each price's log distance from the last close
    before the shock times K (highs stay highs, lows lows); later prices keep their own moves
    from the level the spike left;
  - ``liquidity:volume=V,cost=C,latency_ms=L,duration=D`` for ``D``, volume (trade sizes)
    times V; for the whole run (the venue takes one setting a run) slippage and impact times
    C (the spread a taker pays) and ``L`` ms more order latency;
  - ``stall:duration=D`` no market data for ``D`` from ``shock_at`` (the feed resumes at the
    price the market reached meanwhile).

  Each runs from ``warmup`` before the shock to ``horizon`` after it, and ``[shock_at,
  shock_at + horizon)`` is measured. A ``baseline`` run of that span without a shock is
  shown beside them for comparison; it does not count in the score.

**Survival.** A scenario is survived when, over its measured span, the portfolio's max drawdown
(from its equity at the span's start and every later peak) is no deeper than
``survive_drawdown`` (default 25 %), its equity stays above zero, and no strategy faulted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.config import BacktestConfig
from engine.data.schema import BAR, TRADE
from engine.errors import ConfigError
from engine.research.results import envelope, write_result
from engine.timeframes import format_ns, parse_time, timeframe_to_ns


@dataclass(frozen=True)
class Window:
    """A named historical crisis: ``[start, end)`` UTC."""

    name: str
    start: str
    end: str
    description: str


WINDOWS = {w.name: w for w in (
    Window("china_ban_2017", "2017-09-01", "2017-09-16",
           "China bans ICOs and orders exchanges shut: BTC falls about 35 % in two weeks"),
    Window("crash_2018", "2018-01-06", "2018-02-07",
           "the January 2018 unwinding of the 2017 bubble: BTC falls about 65 %"),
    Window("hashwar_2018", "2018-11-14", "2018-12-16",
           "the Bitcoin Cash hash war and capitulation: BTC from 6,300 to 3,200"),
    Window("covid_2020", "2020-03-08", "2020-03-24",
           "the COVID crash: BTC loses half its price on 12-13 March 2020"),
    Window("may_2021", "2021-05-10", "2021-05-25",
           "May 2021: Tesla stops taking BTC, China bans mining; BTC falls about 50 %"),
    Window("luna_2022", "2022-05-05", "2022-05-19", "the Terra/LUNA collapse"),
    Window("winter_2022", "2022-06-08", "2022-06-22",
           "the 2022 winter: Celsius freezes withdrawals, 3AC fails, BTC below 18,000"),
    Window("ftx_2022", "2022-11-06", "2022-11-15", "the FTX collapse"),
)}


@dataclass(frozen=True)
class Shock:
    """A synthetic shock: its name and settings (see the module docs)."""

    name: str
    settings: Mapping[str, Any]

    @property
    def label(self) -> str:
        return self.name + "".join(f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}"
                                   for k, v in self.settings.items())


# each shock's settings and their defaults; durations are timeframes (6h, 3d)
SHOCKS: dict[str, dict[str, Any]] = {
    "gap": {"size": 0.2},
    "vol_spike": {"factor": 3.0, "duration": "3d"},
    "liquidity": {"volume": 0.1, "cost": 10.0, "latency_ms": 1000.0, "duration": "3d"},
    "stall": {"duration": "12h"},
}
DEFAULT_SHOCKS = ("gap:size=0.1", "gap:size=0.3", "vol_spike", "liquidity", "stall")


def parse_shock(text: str) -> Shock:
    """``NAME[:KEY=VALUE,...]`` as a :class:`Shock`; ``ConfigError`` naming the shock, the key
    or the value at fault."""
    name, _, rest = text.strip().partition(":")
    if name not in SHOCKS:
        raise ConfigError(f"--shock {text}: unknown shock {name!r}; shocks: "
                          f"{', '.join(SHOCKS)}")
    settings = dict(SHOCKS[name])
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in settings:
            raise ConfigError(f"--shock {text}: {name} takes {', '.join(f'{k}=' for k in settings)}"
                              f", got {item!r}")
        if key == "duration":
            timeframe_to_ns(value)   # an invalid timeframe is an error naming it
            settings[key] = value
            continue
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"--shock {text}: {key} must be a number, got {value!r}") from None
        settings[key] = number
    _check_shock(text, name, settings)
    return Shock(name, settings)


def _check_shock(text: str, name: str, s: Mapping[str, Any]) -> None:
    bad = None
    if name == "gap" and not 0.0 < s["size"] < 1.0:
        bad = "size must be a fraction between 0 and 1"
    elif name == "vol_spike" and not s["factor"] > 0:
        bad = "factor must be positive"
    elif name == "liquidity" and not (0.0 < s["volume"] <= 1.0 and s["cost"] >= 1.0
                                      and s["latency_ms"] >= 0.0):
        bad = "volume must be in (0, 1], cost at least 1, latency_ms at least 0"
    if bad:
        raise ConfigError(f"--shock {text}: {bad}")


@dataclass
class Scenario:
    """One run of the stress test: its data change, the span it is measured on, and the span
    it runs."""

    name: str
    kind: str                     # window, shock or baseline
    description: str
    start: int                    # measured span [start, end)
    end: int
    run_start: int
    shock: Shock | None = None


def plan_scenarios(config: BacktestConfig, frames: Mapping[str, pd.DataFrame], *,
                   windows: Sequence[str] | None, shocks: Sequence[str] | None,
                   shock_at: str | int | None, horizon: str, warmup: str,
                   ) -> tuple[list[Scenario], list[dict[str, str]]]:
    """The scenarios to run and the historical windows left out (not covered by the data)
    when none were named. ``ConfigError`` for an unknown window or shock, a named window the
    data does not cover, or a shock span outside the data."""
    horizon_ns, warmup_ns = timeframe_to_ns(horizon), timeframe_to_ns(warmup)
    first = min(int(f["ts"].iloc[0]) for f in frames.values())
    last = max(int(f["ts"].iloc[-1]) for f in frames.values())
    covers = f"{format_ns(first)} .. {format_ns(last)}"
    unknown = [w for w in windows or () if w not in WINDOWS]
    if unknown:
        raise ConfigError(f"--window {', '.join(unknown)}: unknown window; windows: "
                          f"{', '.join(WINDOWS)}")
    parsed = [parse_shock(s) for s in (shocks if shocks is not None else DEFAULT_SHOCKS)]
    scenarios, skipped = [], []
    for name in windows if windows is not None else list(WINDOWS):
        w = WINDOWS[name]
        start, end = parse_time(w.start), parse_time(w.end)
        if start < first or end > last + 1:
            if windows is not None:
                raise ConfigError(f"--window {name}: {w.start} .. {w.end} is not covered by "
                                  f"the data, which covers {covers}")
            skipped.append({"window": name, "span": f"{w.start} .. {w.end}",
                            "reason": f"the data covers {covers}"})
            continue
        scenarios.append(Scenario(name, "window", w.description, start, end,
                                  max(first, start - warmup_ns)))
    if parsed:
        at = parse_time(shock_at) if isinstance(shock_at, str) else (
            shock_at if shock_at is not None else first + (last - first) // 2)
        end = at + horizon_ns
        if at <= first or end > last + 1:
            raise ConfigError(f"--shock-at {format_ns(at)} with --horizon {horizon}: the "
                              f"shocks' span {format_ns(at)} .. {format_ns(end)} is not "
                              f"inside the data, which covers {covers}")
        run_start = max(first, at - warmup_ns)
        scenarios.append(Scenario("baseline", "baseline", "the shocks' span without a shock",
                                  at, end, run_start))
        for shock in parsed:
            scenarios.append(Scenario(shock.label, "shock", _describe(shock), at, end,
                                      run_start, shock))
    if not scenarios:
        raise ConfigError(f"no scenario to run: the data ({covers}) covers none of the "
                          f"historical windows and no shock was asked for")
    return scenarios, skipped


def _describe(shock: Shock) -> str:
    s = shock.settings
    if shock.name == "gap":
        return f"prices gap down {s['size']:.0%} and stay there"
    if shock.name == "vol_spike":
        return f"moves {s['factor']:g} times as large for {s['duration']}"
    if shock.name == "liquidity":
        return (f"volume x{s['volume']:g} for {s['duration']}; slippage and impact "
                f"x{s['cost']:g} and latency +{s['latency_ms']:g} ms for the run")
    return f"no market data for {s['duration']}"


_PRICES = {BAR: ("open", "high", "low", "close"), TRADE: ("price",)}
_VOLUMES = {BAR: ("volume",), TRADE: ("size",)}


def shocked_frame(frame: pd.DataFrame, kind: str, shock: Shock, at: int) -> pd.DataFrame:
    """``frame`` (bars or trades) with ``shock`` applied from ``at``."""
    ts = frame["ts"].to_numpy(np.int64)
    s = shock.settings
    out = frame.copy()
    prices = [c for c in _PRICES[kind] if c in out.columns]
    if shock.name == "gap":
        after = ts >= at
        for col in prices:
            out.loc[after, col] = out.loc[after, col].to_numpy() * (1.0 - s["size"])
        return out
    end = at + timeframe_to_ns(s["duration"])
    inside = (ts >= at) & (ts < end)
    if shock.name == "stall":
        return out[~inside].reset_index(drop=True)
    if shock.name == "liquidity":
        for col in _VOLUMES[kind]:
            if col in out.columns:
                out.loc[inside, col] = out.loc[inside, col].to_numpy() * s["volume"]
        return out
    # vol_spike: amplify log distances from the last price before the shock
    before = np.flatnonzero(ts < at)
    ref_col = "close" if kind == BAR else "price"
    ref = float(out[ref_col].iloc[before[-1]]) if len(before) else float(out[prices[0]].iloc[0])
    k = s["factor"]
    last_inside = np.flatnonzero(inside)
    if len(last_inside) == 0:
        return out
    old_last = float(out[ref_col].iloc[last_inside[-1]])
    for col in prices:
        values = out.loc[inside, col].to_numpy(np.float64)
        out.loc[inside, col] = ref * np.exp(k * np.log(values / ref))
    shift = float(out[ref_col].iloc[last_inside[-1]]) / old_last
    later = ts >= end
    for col in prices:
        out.loc[later, col] = out.loc[later, col].to_numpy() * shift
    return out


def invested_time(config: BacktestConfig, frames: Mapping[str, pd.DataFrame], horizon: str,
                  warmup: str) -> int:
    """The default shock time: the middle of the data, moved on to the first time the strategy
    holds a position in a run from ``warmup`` before it (a shock while flat tests nothing);
    the middle itself when it holds none within ``horizon``."""
    from engine.run import run_config

    first = min(int(f["ts"].iloc[0]) for f in frames.values())
    last = max(int(f["ts"].iloc[-1]) for f in frames.values())
    middle = first + (last - first) // 2
    span = config.replace(start=format_ns(max(first, middle - timeframe_to_ns(warmup))),
                          end=format_ns(min(last + 1, middle + timeframe_to_ns(horizon))))
    curve = run_config(span, frames=frames).equity
    held = curve[(curve["ts"] >= middle) & (curve["gross_exposure"] > 0)]
    return int(held["ts"].iloc[0]) if len(held) else middle


def scenario_config(config: BacktestConfig, scenario: Scenario) -> BacktestConfig:
    """The config of a scenario's run: its span, and a liquidity shock's costs and latency."""
    changes: dict[str, Any] = {"start": format_ns(scenario.run_start),
                               "end": format_ns(scenario.end)}
    if scenario.shock is not None and scenario.shock.name == "liquidity":
        s = scenario.shock.settings
        ex = config.execution
        changes.update(slippage_bps=ex.slippage_bps * s["cost"],
                       impact_base_bps=ex.impact_base_bps * s["cost"],
                       impact_k_bps=ex.impact_k_bps * s["cost"],
                       latency_ms=ex.latency_ms + s["latency_ms"])
    return config.replace(**changes)


def measure(equity: pd.DataFrame, trades: pd.DataFrame, start: int,
            ) -> dict[str, Any]:
    """Return, max drawdown, equity floor and closed trades of a run over ``[start, ...)``:
    from its equity just before ``start`` (the last point before it, so a shock at ``start``
    is inside the span)."""
    ts = equity["ts"].to_numpy(np.int64)
    values = equity["equity"].to_numpy(np.float64)
    first = max(int(np.searchsorted(ts, start, side="left")) - 1, 0)
    span_ts, span = ts[first:], values[first:]
    peak = np.maximum.accumulate(span)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = float(np.nanmin(np.where(peak > 0, span / peak - 1.0, -1.0)))
    closed = int((trades["exit_ts"].to_numpy(np.int64) >= start).sum()) if len(trades) else 0
    return {"total_return": float(span[-1] / span[0] - 1.0) if span[0] > 0 else None,
            "max_drawdown": drawdown, "min_equity": float(span.min()), "n_trades": closed,
            "ts": span_ts, "equity": span}


def run_stress(config: BacktestConfig, *, windows: Sequence[str] | None = None,
               shocks: Sequence[str] | None = None, shock_at: str | None = None,
               horizon: str = "30d", warmup: str = "30d", survive_drawdown: float = 0.25,
               progress: Callable[[str], None] | None = None,
               ) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run every scenario of ``config``'s strategy and data: the ``result.json`` content (kind
    ``stress``) and the survival table."""
    from engine.datasource import load_data
    from engine.run import complete_params, run_config

    if not 0.0 < survive_drawdown < 1.0:
        raise ConfigError(f"--survive-drawdown must be a fraction between 0 and 1, got "
                          f"{survive_drawdown}")
    for flag, value in (("--horizon", horizon), ("--warmup", warmup)):
        try:
            timeframe_to_ns(value)
        except ConfigError as exc:
            raise ConfigError(f"{flag}: {exc}") from None
    for shock in shocks or ():
        parse_shock(shock)
    config = complete_params(config)   # strategy and parameters checked before the data loads
    loaded = load_data(config)
    kinds = {f.symbol: f.kind for f in loaded.feeds}
    if any(k not in _PRICES for k in kinds.values()):
        raise ConfigError(f"data {config.data}: stress tests run on bars or trades, not "
                          f"{', '.join(sorted(set(kinds.values()) - set(_PRICES)))}")
    frames = {f.symbol: f.frame for f in loaded.feeds}
    at: str | int | None = shock_at
    if shock_at is None and (shocks is None or shocks):
        at = invested_time(config, frames, horizon, warmup)
    scenarios, skipped = plan_scenarios(config, frames, windows=windows, shocks=shocks,
                                        shock_at=at, horizon=horizon, warmup=warmup)
    records = []
    for scenario in scenarios:
        if progress is not None:
            progress(scenario.name)
        data = frames
        if scenario.shock is not None:
            data = {sym: shocked_frame(f, kinds[sym], scenario.shock, scenario.start)
                    for sym, f in frames.items()}
        result = run_config(scenario_config(config, scenario), frames=data)
        m = measure(result.equity, result.trades, scenario.start)
        reasons = []
        if result.faults:
            reasons.append(f"strategy {result.faults[0].strategy_id} faulted")
        if m["min_equity"] <= 0:
            reasons.append("equity fell to zero")
        if m["max_drawdown"] < -survive_drawdown:
            reasons.append(f"drawdown {-m['max_drawdown']:.1%} deeper than "
                           f"{survive_drawdown:.0%}")
        keep = _thin(len(m["equity"]), 500)
        records.append({
            "name": scenario.name, "kind": scenario.kind, "description": scenario.description,
            "start": format_ns(scenario.start), "end": format_ns(scenario.end),
            "run_start": format_ns(scenario.run_start),
            "total_return": m["total_return"], "max_drawdown": m["max_drawdown"],
            "n_trades": m["n_trades"], "survived": not reasons,
            "reason": "; ".join(reasons) or "within limits",
            "equity": {"ts": [format_ns(int(t)) for t in m["ts"][keep]],
                       "equity": m["equity"][keep].tolist()}})
    scored = [r for r in records if r["kind"] != "baseline"]
    survived = sum(r["survived"] for r in scored)
    worst = min(scored, key=lambda r: math.inf if r["total_return"] is None
                else r["total_return"], default=None)
    criterion = {"max_drawdown": survive_drawdown,
                 "text": f"A scenario is survived when over its measured span the max drawdown "
                         f"is no deeper than {survive_drawdown:.0%}, equity stays above zero "
                         f"and no strategy faulted. The baseline does not count in the score."}
    summary = {"scenarios": len(scored), "survived": survived,
               "score": f"survived {survived} of {len(scored)}",
               "worst_scenario": worst["name"] if worst else None,
               "worst_return": worst["total_return"] if worst else None}
    inputs = {"config": config.to_dict(), "windows": list(windows) if windows is not None
              else None, "shocks": list(shocks) if shocks is not None else None,
              "shock_at": shock_at, "horizon": horizon, "warmup": warmup,
              "survive_drawdown": survive_drawdown}
    content = envelope("stress", inputs, summary, files=["results.csv", "report.html"],
                       scenarios=records, criterion=criterion, skipped=skipped,
                       data=loaded.describe())
    table = pd.DataFrame([{k: v for k, v in r.items() if k != "equity"} for r in records])
    return content, table


def _thin(n: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spread indices of ``n`` points, the first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))


def write_stress(output: str | Path, content: Mapping[str, Any], table: pd.DataFrame) -> Path:
    """``results.csv`` and ``result.json`` into ``output``."""
    return write_result(output, content,
                        {"results.csv": lambda p: table.to_csv(p, index=False)})


__all__ = ["DEFAULT_SHOCKS", "SHOCKS", "WINDOWS", "Scenario", "Shock", "Window",
           "measure", "parse_shock", "plan_scenarios", "run_stress", "scenario_config",
           "shocked_frame", "write_stress"]
