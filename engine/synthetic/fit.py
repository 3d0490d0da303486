"""Fit the synthetic market's parameters to a data set's stylized facts.

The method (docs/synthetic.md has the long form) starts from a template (the built-in
defaults) and matches, in order:

1. **Seasonality and activity, by direct moments**: the hourly activity table is the data's
   mean volume by UTC hour, ``weekend_activity`` its weekend/weekday volume ratio (data of 1h
   or finer); from trades, the trade rate, the mean trade notional and the dispersion of its
   log; from quotes, the median spread.
2. **Tails, by simulated method of moments**: one tail parameter theta scales the fast
   volatility-of-volatility and every regime's jump scale together; it is bisected until
   the median excess kurtosis of simulated markets (common random numbers: the same seeds at
   every step) at the data's finest resolution matches the data's. With a year of data or
   more, the slow volatility-of-volatility is first bisected the same way against the daily
   kurtosis (it moves the hourly kurtosis too, so it goes first).
   Two shape parameters are bisected the same way: before the tails, the overshoot (the
   fraction of each diffusion move the price gives back within the hour) against the lag-1
   autocorrelation of returns (at the data's autocorrelation resolution, 1h when there is
   enough of it); after them, the jump asymmetry (falls larger than rises) against the skew
   at the finest resolution, followed by the tails once more. Each is 0 when the data shows
   no reversal or no downside skew.
3. **Volatility**: every regime volatility, jump scale and drift is scaled by one factor,
   first in closed form so the model's long-run volatility (regime mix, jumps, the symbol's
   volatility multiplier) equals the data's, then once more by the ratio of the data's
   volatility to the median of the simulated markets' over the data's span (the realized
   volatility of a short span sits below the long-run mean, since the slow volatility factor
   is skewed).
   Log returns are linear in that factor, so one step is exact for the simulated seeds;
   kurtosis does not depend on it, so step 2 never has to redo it.
   A data set shorter than ten half-lives of the slow factor cannot show how much that factor
   varies: its volatility-of-volatility is scaled down in proportion to the span.
4. **Drift**: the trend-up drift is set so the long-run log drift is 0, or the data's own
   with ``keep_drift``. Regime durations, transitions and the mean-reverting pull stay at the
   template's (the data's one realized path identifies them poorly).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import DataError
from engine.synthetic.config import (REGIME_NAMES, SyntheticConfig, clipped_t3_mean_abs,
                                     clipped_t3_second_moment)
from engine.synthetic.facts import measure_facts
from engine.synthetic.market import SyntheticMarket
from engine.synthetic.profile import typical_vol_multiplier
from engine.timeframes import NS_PER_DAY, parse_time, timeframe_to_ns

FIT_SEEDS = (101, 102, 103, 104, 105, 106)
# Short data sets (under 90 days) are fitted on three times the seeds: a month's kurtosis hinges on
# a few large moves, so fewer simulated months give a noisy median.
SHORT_FIT_SEEDS = tuple(range(101, 113))
SHORT_DAYS = 90.0
_THETA_RANGE = (0.05, 3.0)
# A slow vol-of-vol near 1 would match a daily kurtosis made by one crash (BTC 2017-2021:
# March 2020) at the price of simulated years scattering from calm to wild; capped below.
_SLOW_RANGE = (0.05, 0.8)
_BISECTIONS = 7
# Half-lives of the slow volatility factor a span must hold to show how much it varies (a
# month holds four of seven days: its volatility is one draw of the factor, not its spread).
SLOW_HALF_LIVES = 10.0
_OVERSHOOT_RANGE = (0.005, 0.5)
_ASYMMETRY_RANGE = (0.01, 0.9)


@dataclass(frozen=True)
class FitResult:
    """A fitted config, the data's facts it was fitted to, and what the fit achieved."""

    config: SyntheticConfig
    facts: dict[str, Any]
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The params file: the config's keys, plus ``fit`` (method, targets, achieved) and
        ``facts`` (the data's headline facts), which ``SyntheticConfig.from_file`` skips."""
        out = self.config.to_dict()
        out["fit"] = self.report
        out["facts"] = {k: v for k, v in self.facts.items()
                        if k not in ("seasonality", "acf_returns", "acf_abs_returns")}
        return out


def fit_config(facts: Mapping[str, Any], *, symbol: str = "BTC/USDT",
               template: SyntheticConfig | None = None, keep_drift: bool = False,
               description: str | None = None, seeds: tuple[int, ...] | None = None,
               progress: Callable[[str], None] | None = None) -> FitResult:
    """Fit a ``SyntheticConfig`` to ``facts`` (from ``measure_facts``) of ``symbol``'s data."""
    say = progress or (lambda _: None)
    cfg = template or SyntheticConfig()
    cfg = _fit_seasonality(cfg, facts)
    cfg = _fit_microstructure(cfg, facts)
    target_vol = float(facts["annual_volatility"])
    if not (target_vol > 0 and math.isfinite(target_vol)):
        raise DataError("the data's volatility is not positive: nothing to fit")
    finest = _finest(facts)
    days = max(float(facts["days"]), 7.0)
    sim_days = min(days, 730.0)
    if seeds is None:
        seeds = SHORT_FIT_SEEDS if days < SHORT_DAYS else FIT_SEEDS
    tpm = 10.0 if finest == "1m" else 1.0
    base = cfg
    vol_mult = typical_vol_multiplier(symbol)

    def with_tails(theta: float, slow: float) -> SyntheticConfig:
        c = _scale_tails(base, theta).replace(vol_of_vol_slow=slow)
        return _scale_volatility(c, target_vol / vol_mult)

    def median_fact(c: SyntheticConfig, fact: Callable[[Mapping[str, Any]], float]) -> float:
        return float(np.nanmedian([fact(_simulated(c, symbol, seed, sim_days, tpm, finest))
                                   for seed in seeds]))

    def kurtosis_of(c: SyntheticConfig, resolution: str) -> float:
        values = [_simulated(c, symbol, seed, sim_days, tpm, finest)["returns"]
                  .get(resolution, {}).get("excess_kurtosis", math.nan) for seed in seeds]
        return float(np.nanmedian(values))

    report: dict[str, Any] = {"method": "moments + simulated method of moments",
                              "symbol": symbol, "seeds": list(seeds),
                              "simulated_days": sim_days, "targets": {}, "achieved": {}}
    theta, slow = 1.0, base.vol_of_vol_slow
    # A span shorter than ten half-lives of the slow volatility factor cannot show how much it
    # varies; left at the template's, it would make simulated spans of that length scatter
    # far around the data's volatility. Scaled down in proportion to the span instead.
    identified = days / (SLOW_HALF_LIVES * base.vol_half_life_slow_days)
    if identified < 1.0:
        slow = max(base.vol_of_vol_slow * identified, 0.0)
        say(f"slow volatility: vol-of-vol {slow:.3f} ({days:g} days show "
            f"{identified:.0%} of {SLOW_HALF_LIVES:g} {base.vol_half_life_slow_days:g}-day "
            f"half-lives)")
    # The reversal before the tails, bisected on common random numbers like them (the
    # autocorrelation decreases as the overshoot grows).
    target_r = _lag_one_acf(facts)
    if math.isfinite(target_r):
        overshoot = _bisect_down(lambda o: median_fact(
            with_tails(theta, slow).replace(overshoot=o), _lag_one_acf), target_r,
            _OVERSHOOT_RANGE)
        base = base.replace(overshoot=round(overshoot, 4))
        say(f"reversal: overshoot {base.overshoot:.3f} for lag-1 autocorrelation "
            f"{target_r:+.3f}")
    fit_daily = days >= 365 and "1d" in facts["returns"] and finest != "1d"
    # Daily tails first (the slow factor moves hourly kurtosis too), then the finest ones.
    if fit_daily:
        target_d = float(facts["returns"]["1d"]["excess_kurtosis"])
        slow = _bisect(lambda s: kurtosis_of(with_tails(theta, s), "1d"), target_d,
                       _SLOW_RANGE)
        say(f"slow volatility: vol-of-vol {slow:.3f} for 1d excess kurtosis {target_d:.2f}")
    target_k = float(facts["returns"][finest]["excess_kurtosis"])
    theta = _bisect(lambda t: kurtosis_of(with_tails(t, slow), finest), target_k, _THETA_RANGE)
    say(f"tails: theta {theta:.3f} for {finest} excess kurtosis {target_k:.2f}")
    # The skew comes from the jumps, which the tails just scaled: the asymmetry is bisected on
    # them, then the tails once more (larger falls fatten them a little).
    target_s = _skew(facts, finest)
    if math.isfinite(target_s):
        asymmetry = _bisect_down(lambda a: median_fact(
            with_tails(theta, slow).replace(jump_asymmetry=a),
            lambda f: _skew(f, finest)), target_s, _ASYMMETRY_RANGE)
        base = base.replace(jump_asymmetry=round(asymmetry, 4))
        theta = _bisect(lambda t: kurtosis_of(with_tails(t, slow), finest), target_k,
                        _THETA_RANGE)
        say(f"skew: jump asymmetry {base.jump_asymmetry:.3f} for {finest} skew "
            f"{target_s:+.2f}, then theta {theta:.3f}")
    cfg = with_tails(theta, slow)
    drift = float(facts.get("annual_log_drift", 0.0)) if keep_drift else 0.0
    cfg = _set_drift(cfg, drift)
    cfg = cfg.replace(description=description or f"fitted to {facts.get('source') or 'data'}")
    realized = float(np.nanmedian([_simulated(cfg, symbol, seed, sim_days, tpm, finest)
                                   ["annual_volatility"] for seed in seeds]))
    cfg = _scale_volatility(cfg, long_run_volatility(cfg) * target_vol / realized)
    cfg = _set_drift(cfg, drift)
    sims = [_simulated(cfg, symbol, seed, sim_days, tpm, finest) for seed in seeds]
    for name, fact in (("annual_volatility", lambda f: f["annual_volatility"]),
                       (f"{finest}_excess_kurtosis",
                        lambda f: f["returns"][finest]["excess_kurtosis"])):
        report["targets"][name] = float(fact(facts))
        report["achieved"][name] = float(np.nanmedian([fact(s) for s in sims]))
    if math.isfinite(target_s):
        report["targets"][f"{finest}_skew"] = target_s
        report["achieved"][f"{finest}_skew"] = float(np.nanmedian(
            [_skew(s, finest) for s in sims]))
    if math.isfinite(target_r):
        report["targets"]["acf_returns_lag_1"] = target_r
        report["achieved"]["acf_returns_lag_1"] = float(np.nanmedian(
            [_lag_one_acf(s) for s in sims]))
    if fit_daily:
        report["targets"]["1d_excess_kurtosis"] = float(
            facts["returns"]["1d"]["excess_kurtosis"])
        report["achieved"]["1d_excess_kurtosis"] = float(np.nanmedian(
            [s["returns"]["1d"]["excess_kurtosis"] for s in sims]))
    report["tail_scale"] = theta
    report["long_run_log_drift"] = cfg.long_run_log_drift()
    return FitResult(cfg, dict(facts), report)


# -- steps ---------------------------------------------------------------------------------

def _fit_seasonality(cfg: SyntheticConfig, facts: Mapping[str, Any]) -> SyntheticConfig:
    season = facts.get("seasonality") or {}
    by_hour = season.get("volume_by_hour")
    changes: dict[str, Any] = {}
    if by_hour and all(math.isfinite(v) and v > 0 for v in by_hour.values()):
        table = [float(by_hour[str(h)]) for h in range(24)]
        mean = sum(table) / 24.0
        changes["hourly_activity"] = tuple(round(v / mean, 4) for v in table)
    by_day = season.get("volume_by_weekday")
    if by_day and all(math.isfinite(v) and v > 0 for v in by_day.values()):
        weekday = sum(by_day[d] for d in ("mon", "tue", "wed", "thu", "fri")) / 5.0
        weekend = (by_day["sat"] + by_day["sun"]) / 2.0
        changes["weekend_activity"] = round(min(max(weekend / weekday, 0.2), 2.0), 4)
    return cfg.replace(**changes) if changes else cfg


def _fit_microstructure(cfg: SyntheticConfig, facts: Mapping[str, Any]) -> SyntheticConfig:
    changes: dict[str, Any] = {}
    sizes = facts.get("trade_size")
    if sizes:
        changes["trades_per_minute"] = float(sizes["trades_per_minute"])
        changes["mean_trade_notional"] = float(sizes["mean_notional"])
        if sizes["log_notional_sd"] > 0:
            changes["trade_size_dispersion"] = float(sizes["log_notional_sd"])
    spread = facts.get("spread_bps")
    if spread and spread["q50"] > 0:
        changes["spread_bps"] = float(spread["q50"])
    return cfg.replace(**changes) if changes else cfg


def _lag_one_acf(facts: Mapping[str, Any]) -> float:
    acf = facts.get("acf_returns") or []
    return float(acf[0]) if acf and acf[0] is not None else math.nan


def _skew(facts: Mapping[str, Any], resolution: str) -> float:
    value = (facts.get("returns") or {}).get(resolution, {}).get("skew")
    return float(value) if value is not None else math.nan


def _finest(facts: Mapping[str, Any]) -> str:
    returns = facts.get("returns") or {}
    if not returns:
        raise DataError("the data holds too few returns at 1m, 1h or 1d to fit")
    return next(iter(returns))


def _scale_tails(cfg: SyntheticConfig, theta: float) -> SyntheticConfig:
    """Fast vol-of-vol and every jump scale times ``theta`` (relative to ``cfg``)."""
    regimes = {name: dataclasses.replace(getattr(cfg, name),
                                         jump_scale=getattr(cfg, name).jump_scale * theta)
               for name in REGIME_NAMES}
    return cfg.replace(vol_of_vol_fast=min(cfg.vol_of_vol_fast * theta, 3.0), **regimes)


def long_run_volatility(cfg: SyntheticConfig) -> float:
    """Annualized long-run volatility of the log price for a volatility multiplier of 1:
    diffusion at the stationary regime mix (stochastic volatility and seasonality have mean 1)
    plus the jumps' variance."""
    pi = cfg.stationary_distribution()
    # A jump's T has variance t2 (1 + a^2) - (a E|T|)^2 after the asymmetry a.
    a = cfg.jump_asymmetry
    t2 = (clipped_t3_second_moment(cfg.jump_clip) * (1.0 + a * a)
          - (a * clipped_t3_mean_abs(cfg.jump_clip)) ** 2)
    var = sum(p * (r.volatility ** 2 + r.jumps_per_day * 365.0
                   * (r.jump_scale ** 2 * t2 + r.jump_mean ** 2))
              for p, r in zip(pi, cfg.regimes))
    return math.sqrt(var)


def _scale_volatility(cfg: SyntheticConfig, target: float) -> SyntheticConfig:
    """Every regime's volatility, jump mean and scale, and drift times one factor so that
    ``long_run_volatility`` is ``target``: a calmer market has proportionally gentler trends
    and crashes (a crash of the defaults' 4 % in a market of 30 % volatility would be a
    days-long one-way run at the minute scale)."""
    k = target / long_run_volatility(cfg)
    regimes = {name: dataclasses.replace(r, volatility=r.volatility * k,
                                         jump_scale=r.jump_scale * k,
                                         jump_mean=r.jump_mean * k,
                                         drift_per_year=r.drift_per_year * k)
               for name, r in zip(REGIME_NAMES, cfg.regimes)}
    return cfg.replace(**regimes)


def _set_drift(cfg: SyntheticConfig, drift: float) -> SyntheticConfig:
    """Shift the trend-up drift so the long-run log drift is ``drift`` per year."""
    share = cfg.stationary_distribution()[0]
    up = cfg.trend_up
    shifted = up.drift_per_year + (drift - cfg.long_run_log_drift()) / share
    return cfg.replace(trend_up=dataclasses.replace(up, drift_per_year=shifted))


def _simulated(cfg: SyntheticConfig, symbol: str, seed: int, days: float,
               trades_per_minute: float, timeframe: str) -> dict[str, Any]:
    start = parse_time("2024-01-01")
    market = SyntheticMarket(symbol, seed=seed, start=start, end=start + int(days * NS_PER_DAY),
                             trades_per_minute=trades_per_minute, config=cfg)
    return measure_facts(market.bars(timeframe), interval_ns=timeframe_to_ns(timeframe))


def _bisect_down(measure: Callable[[float], float], target: float,
                 bounds: tuple[float, float]) -> float:
    """The x in ``bounds`` where the decreasing ``measure(x)`` meets ``target``; 0 when the
    target lies above the measure at the lower bound (nothing to add)."""
    x = _bisect(lambda v: -measure(v), -target, bounds)
    return 0.0 if x <= bounds[0] else x


def _bisect(measure: Callable[[float], float], target: float,
            bounds: tuple[float, float]) -> float:
    """The x in ``bounds`` where the increasing ``measure(x)`` meets ``target``, bisected on
    log x; a bound when the target lies beyond it."""
    lo, hi = bounds
    if not math.isfinite(target):
        return 1.0
    if measure(lo) >= target:
        return lo
    if measure(hi) <= target:
        return hi
    for _ in range(_BISECTIONS):
        mid = math.sqrt(lo * hi)
        if measure(mid) < target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)
