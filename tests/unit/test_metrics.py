"""Performance metrics: hand-computed cases, agreement with empyrical, drawdown dates, trade
statistics, degenerate inputs and the bar-to-bar fallback."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, DataError
from engine.metrics import (MetricsConfig, compute_metrics, drawdown_series, format_metrics_table,
                            period_returns)

SQRT365 = math.sqrt(365)


def days(values: list[float], start: str = "2021-01-01") -> pd.Series:
    """Daily equity points at UTC midnight."""
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"),
                     dtype=float)


def equity_from_returns(returns: np.ndarray, freq: str = "D", capital: float = 10_000.0,
                        ) -> pd.Series:
    """Initial capital point followed by one point per return."""
    values = capital * np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    index = pd.date_range("2021-01-01", periods=len(values), freq=freq, tz="UTC")
    return pd.Series(values, index=index)


def assert_json_clean(metrics: dict) -> None:
    json.dumps(metrics, allow_nan=False)
    for key, value in metrics.items():
        assert type(value) in (float, int, str, type(None)), (key, type(value))


# ---------------------------------------------------------------------------------------------
# a five-day equity curve worked by hand


def test_five_day_curve_by_hand() -> None:
    # equity 100, 110, 99, 99, 118.8 on five days
    # daily returns r = +0.10, -0.10, 0.00, +0.20 (n = 4)
    m = compute_metrics(days([100, 110, 99, 99, 118.8]), None)
    assert m["start"] == "2021-01-01T00:00:00Z"
    assert m["end"] == "2021-01-05T00:00:00Z"
    assert m["duration_days"] == 4.0
    assert m["returns_basis"] == "1d" and m["n_periods"] == 4 and m["annualization"] == 365.0
    # total = 118.8 / 100 - 1 = 0.188
    assert m["total_return"] == pytest.approx(0.188)
    # CAGR: years = 4 / 365, so (1.188) ** (365 / 4) - 1
    assert m["annual_return"] == pytest.approx(1.188 ** (365 / 4) - 1)
    # mean = 0.05; deviations +0.05 -0.15 -0.05 +0.15; sum of squares 0.05;
    # sample variance 0.05 / 3; std = 0.1290994
    std = math.sqrt(0.05 / 3)
    assert m["annual_volatility"] == pytest.approx(std * SQRT365)          # 2.46644
    assert m["sharpe"] == pytest.approx(0.05 / std * SQRT365)              # 7.39932
    # downside: min(r, 0) = 0, -0.1, 0, 0 -> mean square 0.01 / 4, root 0.05;
    # sortino = 0.05 * 365 / (0.05 * sqrt(365)) = sqrt(365)
    assert m["sortino"] == pytest.approx(SQRT365)
    # peak 110 on day 2, trough 99 on day 3 (first of the two 99s), back above 110 on day 5
    assert m["max_drawdown"] == pytest.approx(-0.1)
    assert m["max_drawdown_peak"] == "2021-01-02T00:00:00Z"
    assert m["max_drawdown_trough"] == "2021-01-03T00:00:00Z"
    assert m["max_drawdown_recovery"] == "2021-01-05T00:00:00Z"
    assert m["max_drawdown_duration_days"] == 3.0
    assert m["longest_drawdown_days"] == 3.0
    assert m["calmar"] == pytest.approx(m["annual_return"] / 0.1)
    # sorted returns -0.1, 0, 0.1, 0.2; the 5th percentile sits at position 3 * 0.05 = 0.15:
    # -0.1 + 0.15 * (0 - -0.1) = -0.085; the 1st at position 0.03: -0.097
    assert m["var_95"] == pytest.approx(-0.085)
    assert m["var_99"] == pytest.approx(-0.097)
    # the tail holds int(3 * 0.05) + 1 = 1 return: -0.1
    assert m["cvar_95"] == pytest.approx(-0.1)
    assert m["cvar_99"] == pytest.approx(-0.1)
    assert_json_clean(m)


def test_cvar_tail_has_a_fixed_size_with_ties() -> None:
    # 21 daily returns: one -5%, twenty 0% (out of the market)
    r = np.array([-0.05] + [0.0] * 20)
    m = compute_metrics(equity_from_returns(r), None)
    # 5th percentile at position 20 * 0.05 = 1.0: the second smallest, 0.0
    assert m["var_95"] == 0.0
    # the tail is the int(20 * 0.05) + 1 = 2 smallest returns: (-0.05 + 0) / 2, not the mean
    # of all 21 returns at or below 0 (-0.05 / 21)
    assert m["cvar_95"] == pytest.approx(-0.025)
    # 1st percentile at position 0.2: -0.05 + 0.2 * 0.05 = -0.04; tail int(0.2) + 1 = 1 return
    assert m["var_99"] == pytest.approx(-0.04)
    assert m["cvar_99"] == pytest.approx(-0.05)


def test_one_week_periods_start_on_the_first_day() -> None:
    # daily points from Wednesday Jan 6 05:00; 1w periods are 7-day blocks from Jan 6 00:00
    index = pd.date_range("2021-01-06 05:00", periods=15, freq="D", tz="UTC")
    equity = pd.Series(100 + np.arange(15.0), index=index)
    cfg = MetricsConfig(returns_period="1w", periods_per_year=365 / 7)
    returns = period_returns(equity, cfg)
    # blocks end with Jan 12 (106), Jan 19 (113) and Jan 20 (114)
    np.testing.assert_allclose(returns.to_numpy(), [106 / 100 - 1, 113 / 106 - 1, 114 / 113 - 1])
    assert list(returns.index.day) == [6, 13, 20]


def test_risk_free_rate_is_compounded_down_to_one_period() -> None:
    r = np.array([0.01, -0.02, 0.015, 0.003, -0.004, 0.02])
    cfg = MetricsConfig(risk_free_rate=0.05)
    m = compute_metrics(equity_from_returns(r), None, config=cfg)
    rf = 1.05 ** (1 / 365) - 1                     # 0.000133681 per day
    excess = r - rf
    assert m["sharpe"] == pytest.approx(excess.mean() / excess.std(ddof=1) * SQRT365)
    downside = math.sqrt(np.mean(np.minimum(excess, 0) ** 2))
    assert m["sortino"] == pytest.approx(excess.mean() * 365 / (downside * SQRT365))
    # volatility ignores the risk-free rate
    assert m["annual_volatility"] == pytest.approx(r.std(ddof=1) * SQRT365)


def test_ddof_is_configurable() -> None:
    r = np.array([0.01, -0.02, 0.015, 0.003])
    m = compute_metrics(equity_from_returns(r), None, config=MetricsConfig(ddof=0))
    assert m["annual_volatility"] == pytest.approx(r.std(ddof=0) * SQRT365)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=0) * SQRT365)


# ---------------------------------------------------------------------------------------------
# agreement with empyrical-reloaded


@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("rf_annual", [0.0, 0.04])
def test_agrees_with_empyrical(seed: int, rf_annual: float) -> None:
    ep = pytest.importorskip("empyrical")
    r = np.random.default_rng(seed).normal(0.001, 0.03, 400)
    equity = equity_from_returns(r)
    m = compute_metrics(equity, None, config=MetricsConfig(risk_free_rate=rf_annual))
    returns = period_returns(equity)
    np.testing.assert_allclose(returns.to_numpy(), r, rtol=1e-9, atol=1e-12)
    rf = (1 + rf_annual) ** (1 / 365) - 1
    ann = 365
    assert m["sharpe"] == pytest.approx(ep.sharpe_ratio(r, risk_free=rf, annualization=ann))
    assert m["sortino"] == pytest.approx(
        ep.sortino_ratio(r, required_return=rf, annualization=ann))
    assert m["annual_return"] == pytest.approx(ep.annual_return(r, annualization=ann))
    assert m["annual_volatility"] == pytest.approx(ep.annual_volatility(r, annualization=ann))
    assert m["max_drawdown"] == pytest.approx(ep.max_drawdown(r))
    assert m["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=ann))
    assert m["var_95"] == pytest.approx(ep.value_at_risk(r, cutoff=0.05))
    assert m["var_99"] == pytest.approx(ep.value_at_risk(r, cutoff=0.01))
    assert m["cvar_95"] == pytest.approx(ep.conditional_value_at_risk(r, cutoff=0.05))
    assert m["cvar_99"] == pytest.approx(ep.conditional_value_at_risk(r, cutoff=0.01))


def test_weekly_bar_fallback_agrees_with_empyrical() -> None:
    ep = pytest.importorskip("empyrical")
    r = np.random.default_rng(3).normal(0.004, 0.06, 80)
    m = compute_metrics(equity_from_returns(r, freq="7D"), None)
    ann = 365 / 7                                   # 52.142857 weeks a year
    assert m["returns_basis"] == "bars" and m["annualization"] == pytest.approx(ann)
    assert m["sharpe"] == pytest.approx(ep.sharpe_ratio(r, annualization=ann))
    assert m["sortino"] == pytest.approx(ep.sortino_ratio(r, annualization=ann))
    assert m["annual_return"] == pytest.approx(ep.annual_return(r, annualization=ann))
    assert m["annual_volatility"] == pytest.approx(ep.annual_volatility(r, annualization=ann))
    assert m["calmar"] == pytest.approx(ep.calmar_ratio(r, annualization=ann))


# ---------------------------------------------------------------------------------------------
# resampling and the bar-to-bar fallback


def test_intraday_bars_are_resampled_to_utc_days_from_the_initial_capital() -> None:
    # hourly bars from 2021-01-01 00:00 (initial capital 100) to 2021-01-03 23:00;
    # equity rises by 1 each hour, so each day's last value is 123, 147, 171
    index = pd.date_range("2021-01-01", periods=72, freq="h", tz="UTC")
    equity = pd.Series(100.0 + np.arange(72), index=index)
    returns = period_returns(equity)
    # day 1 is measured from the initial capital (100), not from its own close
    expected = [123 / 100 - 1, 147 / 123 - 1, 171 / 147 - 1]
    np.testing.assert_allclose(returns.to_numpy(), expected)
    assert list(returns.index) == list(pd.date_range("2021-01-01", periods=3, tz="UTC"))
    m = compute_metrics(equity, None)
    assert m["returns_basis"] == "1d" and m["n_periods"] == 3 and m["annualization"] == 365.0
    assert m["annual_return"] == pytest.approx(1.71 ** (365 / 3) - 1)


def test_initial_capital_alone_in_its_period_is_only_the_base() -> None:
    # capital recorded at 23:00 on Jan 1, then hourly bars through Jan 3:
    # returns are Jan 2 close / 100 - 1 and Jan 3 close / Jan 2 close - 1
    index = pd.date_range("2021-01-01 23:00", periods=49, freq="h", tz="UTC")
    equity = pd.Series(100.0 + np.arange(49), index=index)
    returns = period_returns(equity)
    np.testing.assert_allclose(returns.to_numpy(), [124 / 100 - 1, 148 / 124 - 1])


def test_missing_days_carry_the_last_equity() -> None:
    equity = days([100, 110, 999, 121, 130]).drop(pd.Timestamp("2021-01-03", tz="UTC"))
    # Jan 3 has no point: its equity is Jan 2's (110), a 0 return; Jan 4 is then +10%
    np.testing.assert_allclose(period_returns(equity).to_numpy(),
                               [110 / 100 - 1, 0.0, 121 / 110 - 1, 130 / 121 - 1])


def test_short_run_falls_back_to_hourly_returns() -> None:
    # 30 hourly points span 29 hours, less than two days: bar-to-bar returns,
    # annualized by 365 * 24 = 8760
    r = np.random.default_rng(5).normal(0.0, 0.002, 29)
    equity = equity_from_returns(r, freq="h")
    m = compute_metrics(equity, None)
    assert m["returns_basis"] == "bars"
    assert m["n_periods"] == 29
    assert m["annualization"] == pytest.approx(8760)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(8760))
    np.testing.assert_allclose(period_returns(equity).to_numpy(), r, rtol=1e-9, atol=1e-15)


def test_two_days_is_enough_for_daily_returns() -> None:
    assert compute_metrics(days([100, 101, 102]), None)["returns_basis"] == "1d"
    # one day: bar-to-bar, which for daily bars is the same single return and factor
    m = compute_metrics(days([100, 101]), None)
    assert m["returns_basis"] == "bars" and m["annualization"] == 365.0
    assert m["annual_return"] == pytest.approx(1.01 ** 365 - 1)


def test_weekly_bars_fall_back_to_bar_returns() -> None:
    equity = pd.Series([100.0, 104, 102, 108, 107],
                       index=pd.date_range("2021-01-04", periods=5, freq="7D", tz="UTC"))
    r = np.array([104 / 100, 102 / 104, 108 / 102, 107 / 108]) - 1
    m = compute_metrics(equity, None)
    assert m["returns_basis"] == "bars" and m["n_periods"] == 4
    assert m["annualization"] == pytest.approx(365 / 7)
    # CAGR: 4 weeks are 4 / (365 / 7) years
    assert m["annual_return"] == pytest.approx(1.07 ** ((365 / 7) / 4) - 1)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365 / 7))


def test_pandas_offset_periods() -> None:
    equity = days(list(100 + np.arange(30.0)))     # Jan 1 (a Friday) .. Jan 30
    cfg = MetricsConfig(returns_period="W-MON", periods_per_year=365 / 7)
    returns = period_returns(equity, cfg)
    # weeks end on Mondays Jan 4, 11, 18, 25 and Feb 1 (last point Jan 30 = 129);
    # the first week's close is Jan 4 = 103, measured from the initial 100
    np.testing.assert_allclose(returns.to_numpy(),
                               [103 / 100 - 1, 110 / 103 - 1, 117 / 110 - 1, 124 / 117 - 1,
                                129 / 124 - 1])
    assert compute_metrics(equity, None, config=cfg)["returns_basis"] == "W-MON"
    # 30 daily points are too short for two month-ends: bar-to-bar, 365 / 30.44 * 30.44 per day
    monthly = MetricsConfig(returns_period="ME", periods_per_year=12)
    m = compute_metrics(equity, None, config=monthly)
    assert m["returns_basis"] == "bars"
    assert m["annualization"] == pytest.approx(12 * 30.44, rel=1e-3)


# ---------------------------------------------------------------------------------------------
# drawdowns


def test_drawdown_dates_on_a_constructed_curve() -> None:
    equity = days([100, 105, 100, 102, 104, 106,    # 1st: Jan 2 -> Jan 6, 4 days, -4.76%
                   110, 88, 99, 111,                # 2nd: Jan 7 -> Jan 10, 3 days, -20%
                   108, 109])                       # 3rd: Jan 10 -> end Jan 12, unrecovered
    m = compute_metrics(equity, None)
    assert m["max_drawdown"] == pytest.approx(88 / 110 - 1)
    assert m["max_drawdown_peak"] == "2021-01-07T00:00:00Z"
    assert m["max_drawdown_trough"] == "2021-01-08T00:00:00Z"
    assert m["max_drawdown_recovery"] == "2021-01-10T00:00:00Z"
    assert m["max_drawdown_duration_days"] == 3.0
    assert m["longest_drawdown_days"] == 4.0
    dd = drawdown_series(equity)
    assert dd.iloc[7] == pytest.approx(-0.2)
    assert (dd <= 0).all() and dd.iloc[9] == 0.0


def test_unrecovered_drawdown_runs_to_the_end() -> None:
    m = compute_metrics(days([100, 120, 90, 100]), None)
    assert m["max_drawdown"] == pytest.approx(-0.25)
    assert m["max_drawdown_peak"] == "2021-01-02T00:00:00Z"
    assert m["max_drawdown_trough"] == "2021-01-03T00:00:00Z"
    assert m["max_drawdown_recovery"] is None
    assert m["max_drawdown_duration_days"] == 2.0
    assert m["longest_drawdown_days"] == 2.0
    table = dict(format_metrics_table(m))
    assert table["Max drawdown recovery"] == "not recovered"


def test_drawdown_peak_is_the_last_high_and_equal_high_recovers() -> None:
    m = compute_metrics(days([100, 110, 110, 99, 110]), None)
    assert m["max_drawdown_peak"] == "2021-01-03T00:00:00Z"
    assert m["max_drawdown_recovery"] == "2021-01-05T00:00:00Z"
    assert m["max_drawdown_duration_days"] == 2.0


def test_drawdown_is_measured_on_bars_not_daily_closes() -> None:
    # 6-hourly bars: an intraday dip to 80 recovers to 100 by the day's close
    index = pd.date_range("2021-01-01", periods=9, freq="6h", tz="UTC")
    equity = pd.Series([100.0, 100, 100, 100, 80, 100, 100, 100, 101], index=index)
    m = compute_metrics(equity, None)
    assert m["returns_basis"] == "1d"
    assert m["max_drawdown"] == pytest.approx(-0.2)
    assert m["max_drawdown_trough"] == "2021-01-02T00:00:00Z"
    assert m["max_drawdown_duration_days"] == pytest.approx(0.5)   # 18:00 -> 06:00
    # the daily closes never fall below their peak
    assert (period_returns(equity) >= 0).all()


# ---------------------------------------------------------------------------------------------
# trades and exposure


def test_trade_statistics_on_a_small_table() -> None:
    trades = pd.DataFrame({
        "pnl": [100.0, -50.0, 0.0, 30.0, -20.0],
        "return_pct": [10.0, -5.0, 0.0, 3.0, -2.0],     # percent
    })
    m = compute_metrics(days([100, 101, 102]), trades)
    # wins 100 and 30, losses -50 and -20, one break-even trade (neither)
    assert (m["n_trades"], m["n_wins"], m["n_losses"]) == (5, 2, 2)
    assert m["win_rate"] == pytest.approx(2 / 5)
    assert m["profit_factor"] == pytest.approx(130 / 70)          # 1.857
    assert m["expectancy"] == pytest.approx(60 / 5)               # 12.0
    assert m["avg_win"] == pytest.approx(65.0)
    assert m["avg_loss"] == pytest.approx(-35.0)
    assert m["best_trade"] == pytest.approx(0.10)     # a fraction, as every return metric
    assert m["worst_trade"] == pytest.approx(-0.05)
    assert_json_clean(m)


def test_no_losing_trades_has_no_profit_factor() -> None:
    trades = pd.DataFrame({"pnl": [10.0, 5.0], "return_pct": [1.0, 0.5]})
    m = compute_metrics(days([100, 101, 102]), trades)
    assert m["profit_factor"] is None and m["avg_loss"] is None
    assert dict(format_metrics_table(m))["Profit factor"] == "inf (no losing trades)"
    losers = pd.DataFrame({"pnl": [-10.0], "return_pct": [-1.0]})
    assert compute_metrics(days([100, 99]), losers)["profit_factor"] == 0.0


@pytest.mark.parametrize("trades", [None, pd.DataFrame(),
                                    pd.DataFrame({"pnl": [], "return_pct": []})])
def test_no_trades(trades: pd.DataFrame | None) -> None:
    m = compute_metrics(days([100, 101, 102]), trades)
    assert (m["n_trades"], m["n_wins"], m["n_losses"]) == (0, 0, 0)
    for key in ("win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
                "best_trade", "worst_trade"):
        assert m[key] is None
    assert_json_clean(m)


def test_exposure_from_bools_and_from_gross_fractions() -> None:
    equity = days([100, 101, 102, 103, 104])
    in_market = pd.Series([False, True, True, False, True], index=equity.index)
    m = compute_metrics(equity, None, exposure=in_market)
    assert m["exposure_time"] == pytest.approx(0.6) and m["avg_gross_exposure"] is None
    gross = pd.Series([0.0, 1.5, 0.5, 0.0, 1.0], index=equity.index)
    m = compute_metrics(equity, None, exposure=gross)
    assert m["exposure_time"] == pytest.approx(0.6)
    assert m["avg_gross_exposure"] == pytest.approx(3.0 / 5)
    assert compute_metrics(equity, None)["exposure_time"] is None
    with pytest.raises(DataError, match="same index"):
        compute_metrics(equity, None, exposure=gross.iloc[1:])


# ---------------------------------------------------------------------------------------------
# degenerate and malformed inputs


def test_empty_equity() -> None:
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    m = compute_metrics(empty, None)
    assert m["start"] is None and m["total_return"] is None and m["max_drawdown"] is None
    assert m["n_periods"] == 0 and m["sharpe"] is None and m["var_95"] is None
    assert_json_clean(m)
    assert len(period_returns(empty)) == 0


def test_one_point() -> None:
    m = compute_metrics(days([100]), None)
    assert m["start"] == m["end"] and m["duration_days"] == 0.0
    assert m["total_return"] == 0.0 and m["max_drawdown"] == 0.0
    assert m["n_periods"] == 0 and m["annualization"] is None
    for key in ("annual_return", "annual_volatility", "sharpe", "sortino", "calmar", "var_95",
                "cvar_95"):
        assert m[key] is None
    assert_json_clean(m)


def test_one_period_has_no_volatility_or_ratios() -> None:
    m = compute_metrics(days([100, 102]), None)
    assert m["annual_return"] == pytest.approx(1.02 ** 365 - 1)
    assert m["annual_volatility"] is None and m["sharpe"] is None and m["sortino"] is None
    assert m["var_95"] == pytest.approx(0.02)     # the one return is its own percentile
    assert_json_clean(m)


def test_flat_equity() -> None:
    m = compute_metrics(days([100.0] * 10), None)
    assert m["total_return"] == 0.0 and m["annual_return"] == 0.0
    assert m["annual_volatility"] == 0.0
    assert m["sharpe"] is None and m["sortino"] is None and m["calmar"] is None
    assert m["max_drawdown"] == 0.0 and m["max_drawdown_peak"] is None
    assert m["max_drawdown_duration_days"] == 0.0 and m["longest_drawdown_days"] == 0.0
    assert m["var_95"] == 0.0 and m["cvar_95"] == 0.0
    assert_json_clean(m)


def test_constant_growth_is_zero_volatility_not_a_huge_sharpe() -> None:
    # +1% every day: the returns differ from 0.01 only by rounding (~1e-16)
    m = compute_metrics(days(list(100 * 1.01 ** np.arange(30))), None)
    assert m["annual_volatility"] == 0.0
    assert m["sharpe"] is None
    assert m["sortino"] is None                   # no period below the risk-free rate
    assert m["annual_return"] == pytest.approx(1.01 ** 365 - 1)
    assert m["calmar"] is None                    # no drawdown


def test_equity_wiped_out() -> None:
    m = compute_metrics(days([100, 50, 0, 0]), None)
    assert m["total_return"] == -1.0 and m["annual_return"] == -1.0
    assert m["max_drawdown"] == -1.0 and m["max_drawdown_recovery"] is None
    # returns through zero equity are undefined: no volatility, ratios or VaR
    assert m["annual_volatility"] is None and m["sharpe"] is None and m["var_95"] is None
    assert_json_clean(m)


def test_non_positive_initial_equity() -> None:
    m = compute_metrics(days([0, 10, 20]), None)
    assert m["initial_equity"] == 0.0
    assert m["total_return"] is None and m["max_drawdown"] is None and m["sharpe"] is None
    assert_json_clean(m)


def test_naive_times_are_utc() -> None:
    equity = days([100, 110, 99, 99, 118.8])
    naive = equity.tz_localize(None)
    assert compute_metrics(naive, None) == compute_metrics(equity, None)


def test_other_time_zones_are_converted_to_utc() -> None:
    equity = days([100, 110, 99, 99, 118.8])
    assert compute_metrics(equity.tz_convert("Asia/Tokyo"), None)["start"] == \
        "2021-01-01T00:00:00Z"


@pytest.mark.parametrize("equity, match", [
    (pd.Series([100.0, 101.0]), "DatetimeIndex"),
    ([100.0, 101.0], "Series"),
    (days([100, 101, 102]).iloc[[0, 2, 1]], "strictly increasing"),
    (days([100, float("nan"), 102]), "non-finite"),
])
def test_malformed_equity_raises(equity: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        compute_metrics(equity, None)  # type: ignore[arg-type]


def test_trades_without_pnl_raise() -> None:
    with pytest.raises(DataError, match="'pnl'"):
        compute_metrics(days([100, 101]), pd.DataFrame({"return_pct": [0.1]}))


@pytest.mark.parametrize("kwargs, match", [
    ({"periods_per_year": 0}, "periods_per_year"),
    ({"risk_free_rate": float("nan")}, "risk_free_rate"),
    ({"ddof": -1}, "ddof"),
    ({"returns_period": "fortnight"}, "returns_period"),
    ({"var_levels": (0.95, 1.0)}, "var_levels"),
    ({"var_levels": (0.95, 0.95)}, "var_levels"),
])
def test_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MetricsConfig(**kwargs)


def test_config_is_hashable_and_keys_follow_var_levels() -> None:
    cfg = MetricsConfig(var_levels=[0.975, 0.9])  # type: ignore[arg-type]
    assert cfg.var_levels == (0.975, 0.9)
    assert hash(cfg) == hash(MetricsConfig(var_levels=(0.975, 0.9)))
    m = compute_metrics(days([100, 101, 99, 103, 102]), None, config=cfg)
    assert {"var_97_5", "cvar_97_5", "var_90", "cvar_90"} <= m.keys()
    assert "var_95" not in m
    labels = [label for label, _ in format_metrics_table(m)]
    assert labels.index("VaR 90% (per period)") < labels.index("VaR 97.5% (per period)")


# ---------------------------------------------------------------------------------------------
# output shape


def test_keys_are_stable() -> None:
    expected = {
        "start", "end", "duration_days", "initial_equity", "final_equity", "returns_basis",
        "n_periods", "annualization", "total_return", "annual_return", "annual_volatility",
        "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_peak",
        "max_drawdown_trough", "max_drawdown_recovery", "max_drawdown_duration_days",
        "longest_drawdown_days", "var_95", "var_99", "cvar_95", "cvar_99", "exposure_time",
        "avg_gross_exposure", "win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss",
        "best_trade", "worst_trade", "n_trades", "n_wins", "n_losses",
    }
    assert set(compute_metrics(days([100, 101, 102]), None)) == expected
    empty = pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float)
    assert set(compute_metrics(empty, None)) == expected


def test_format_metrics_table() -> None:
    trades = pd.DataFrame({"pnl": [1234.5, -200.0], "return_pct": [12.34, -2.0]})
    m = compute_metrics(days([100, 110, 99, 99, 118.8]), trades)
    rows = format_metrics_table(m)
    labels = [label for label, _ in rows]
    assert labels[:4] == ["Start", "End", "Duration", "Returns sampled"]
    assert labels.index("Sharpe ratio") < labels.index("Max drawdown") < labels.index("Trades")
    table = dict(rows)
    assert table["Start"] == "2021-01-01 00:00:00 UTC"
    assert table["Duration"] == "4.00 days"
    assert table["Returns sampled"] == "4 returns per 1d, 365 a year"
    assert table["Total return"] == "18.80%"
    assert table["Sharpe ratio"] == "7.40"
    assert table["Sortino ratio"] == "19.10"
    assert table["Max drawdown"] == "-10.00%"
    assert table["Max drawdown recovery"] == "2021-01-05 00:00:00 UTC"
    assert table["Exposure time"] == "n/a"
    assert table["Trades"] == "2"
    assert table["Avg win"] == "1,234.50"
    assert table["Best trade"] == "12.34%"
    assert all(isinstance(value, str) for _, value in rows)


def test_counts_in_the_table_have_thousands_separators() -> None:
    trades = pd.DataFrame({"pnl": [1.0] * 1234 + [-1.0] * 1001,
                           "return_pct": [0.5] * 1234 + [-0.5] * 1001})
    table = dict(format_metrics_table(compute_metrics(days([100, 101]), trades)))
    assert (table["Trades"], table["Wins"], table["Losses"]) == ("2,235", "1,234", "1,001")


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.floats(min_value=1e-3, max_value=1e9), min_size=0, max_size=60),
    hours=st.sampled_from([1, 4, 24, 24 * 7]),
    pnl=st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=8),
)
def test_any_positive_curve_gives_clean_json(values: list[float], hours: int,
                                             pnl: list[float]) -> None:
    index = pd.date_range("2021-01-01", periods=len(values), freq=f"{hours}h", tz="UTC")
    equity = pd.Series(values, index=index, dtype=float)
    trades = pd.DataFrame({"pnl": pnl, "return_pct": [p / 1e4 for p in pnl]})
    exposure = pd.Series(np.arange(len(values)) % 3 == 0, index=index)
    m = compute_metrics(equity, trades, exposure=exposure)
    assert_json_clean(m)
    assert json.dumps(m, sort_keys=True) == json.dumps(
        compute_metrics(equity, trades, exposure=exposure), sort_keys=True)
    if m["max_drawdown"] is not None:
        assert -1.0 <= m["max_drawdown"] <= 0.0
    format_metrics_table(m)


@pytest.mark.parametrize("rule", ["1h", "1D", "7D"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_period_closes_equal_pandas_resample(rule: str, seed: int) -> None:
    from engine.metrics import _last_per_period
    rng = np.random.default_rng(seed)
    ns = np.sort(rng.integers(1_609_459_200_000_000_000, 1_612_000_000_000_000_000, 3000))
    eq = pd.Series(rng.normal(100, 5, len(ns)),
                   index=pd.to_datetime(ns, unit="ns", utc=True))
    period = pd.Timedelta(rule)
    values, labels, first = _last_per_period(eq, eq.index.as_unit("ns").asi8, period)
    expected = eq.resample(period).last().ffill()
    assert np.array_equal(values, expected.to_numpy())
    assert labels.equals(expected.index.as_unit(labels.unit))
    assert first == int(eq.resample(period).count().iloc[0])
