"""Stress tests: each shock's change to the data on hand-written bars, the scenarios planned
from what the data covers, survival judged on the measured span, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.config import BacktestConfig
from engine.data.schema import BAR, TRADE
from engine.errors import ConfigError
from engine.research.stress import (Scenario, measure, parse_shock, plan_scenarios, run_stress,
                                    scenario_config, shocked_frame)
from engine.timeframes import parse_time

HOUR = 3_600_000_000_000
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / \
    "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"


def bars(closes: list[float], start: str = "2024-01-01") -> pd.DataFrame:
    """1h bars opening at the previous close, 1 % above and below it, volume 10."""
    closes_a = np.asarray(closes, dtype=float)
    opens = np.concatenate([[closes_a[0]], closes_a[:-1]])
    return pd.DataFrame({
        "ts": parse_time(start) + HOUR * np.arange(len(closes_a)), "open": opens,
        "high": np.maximum(opens, closes_a) * 1.01, "low": np.minimum(opens, closes_a) * 0.99,
        "close": closes_a, "volume": np.full(len(closes_a), 10.0)})


AT = parse_time("2024-01-01") + 4 * HOUR      # the shock hits the fifth bar


def test_a_gap_scales_every_price_from_the_shock_on() -> None:
    frame = bars([100, 101, 102, 103, 104, 105, 106])
    out = shocked_frame(frame, BAR, parse_shock("gap:size=0.2"), AT)
    cols = ["open", "high", "low", "close"]
    pd.testing.assert_frame_equal(out[cols].iloc[:4], frame[cols].iloc[:4])
    np.testing.assert_allclose(out[cols].iloc[4:].to_numpy(), frame[cols].iloc[4:] * 0.8)
    assert (out["volume"] == frame["volume"]).all()


def test_a_volatility_spike_amplifies_moves_then_carries_on() -> None:
    frame = bars([100, 100, 100, 100, 110, 90, 100, 120, 121])
    out = shocked_frame(frame, BAR, parse_shock("vol_spike:factor=2,duration=3h"), AT)
    # bars 4..6 are inside: log distance from the last close before the shock (100) doubled
    assert out["close"].iloc[4] == pytest.approx(100 * 1.1 ** 2)
    assert out["close"].iloc[5] == pytest.approx(100 * 0.9 ** 2)
    assert out["close"].iloc[6] == pytest.approx(100.0)
    # after it, the market's own moves from the level the spike left (here 100: unchanged)
    np.testing.assert_allclose(out["close"].iloc[7:], [120, 121])
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    pd.testing.assert_frame_equal(out.iloc[:4], frame.iloc[:4])


def test_a_stall_drops_the_data_and_a_liquidity_crisis_thins_it() -> None:
    frame = bars([100, 101, 102, 103, 104, 105, 106, 107])
    stalled = shocked_frame(frame, BAR, parse_shock("stall:duration=2h"), AT)
    assert list(stalled["close"]) == [100, 101, 102, 103, 106, 107]
    thin = shocked_frame(frame, BAR, parse_shock("liquidity:volume=0.1,duration=2h"), AT)
    assert list(thin["volume"]) == [10, 10, 10, 10, 1, 1, 10, 10]
    config = BacktestConfig.from_dict({"slippage_bps": 2.0, "latency_ms": 50.0})
    scenario = Scenario("liq", "shock", "", AT, AT + 10 * HOUR, AT - 4 * HOUR,
                        parse_shock("liquidity:cost=5,latency_ms=1000"))
    changed = scenario_config(config, scenario)
    assert changed.execution.slippage_bps == 10.0
    assert changed.execution.latency_ms == 1050.0
    assert changed.execution.impact_k_bps == config.execution.impact_k_bps * 5


def test_measure_reads_the_span_from_the_equity_before_it() -> None:
    ts = np.arange(6) * HOUR
    equity = pd.DataFrame({"ts": ts, "equity": [100.0, 120, 90, 110, 99, 105]})
    trades = pd.DataFrame({"exit_ts": [HOUR, 3 * HOUR, 5 * HOUR]})
    m = measure(equity, trades, 2 * HOUR)
    assert m["total_return"] == pytest.approx(105 / 120 - 1)    # from 120, the point before
    assert m["max_drawdown"] == pytest.approx(90 / 120 - 1)
    assert m["n_trades"] == 2


@pytest.mark.parametrize("text, message", [
    ("crash", "unknown shock 'crash'; shocks: gap, vol_spike, liquidity, stall"),
    ("gap:depth=0.2", "gap takes size=, got 'depth=0.2'"),
    ("gap:size=big", "size must be a number, got 'big'"),
    ("gap:size=1.5", "size must be a fraction between 0 and 1"),
    ("stall:duration=soon", "invalid timeframe 'soon'"),
])
def test_bad_shocks_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_shock(text)


def test_scenarios_follow_what_the_data_covers() -> None:
    frames = {"BTC/USDT": bars(list(np.linspace(100, 200, 24 * 120)), start="2020-02-01")}
    config = BacktestConfig()
    scenarios, skipped = plan_scenarios(config, frames, windows=None, shocks=["gap"],
                                        shock_at=None, horizon="5d", warmup="5d")
    assert [s.name for s in scenarios] == ["covid_2020", "baseline", "gap size=0.2"]
    assert "may_2021" in {s["window"] for s in skipped}
    covid = scenarios[0]
    assert covid.run_start == parse_time("2020-03-08") - 5 * 24 * HOUR
    with pytest.raises(ConfigError, match=r"--window may_2021: 2021-05-10 \.\. 2021-05-25 is "
                                          r"not covered by the data, which covers "
                                          r"2020-02-01T00:00:00Z \.\. 2020-05-30T23:00:00Z"):
        plan_scenarios(config, frames, windows=["may_2021"], shocks=[], shock_at=None,
                       horizon="5d", warmup="5d")
    with pytest.raises(ConfigError, match="--window lehman: unknown window"):
        plan_scenarios(config, frames, windows=["lehman"], shocks=[], shock_at=None,
                       horizon="5d", warmup="5d")


def test_a_deep_gap_while_invested_fails_and_the_score_counts_it() -> None:
    config = BacktestConfig.from_dict({"strategy": "sma_cross", "params": {"fast": 5,
                                       "slow": 20}, "symbols": ["BTC/USDT"], "seed": 3,
                                       "start": "2024-01-01", "end": "2024-04-01"})
    content, table = run_stress(config, shocks=["gap:size=0.05", "gap:size=0.6"],
                                horizon="10d", warmup="10d", survive_drawdown=0.25)
    rows = {r["name"]: r for r in content["scenarios"]}
    assert list(rows) == ["baseline", "gap size=0.05", "gap size=0.6"]
    deep = rows["gap size=0.6"]
    assert not deep["survived"] and "deeper than 25%" in deep["reason"]
    assert deep["max_drawdown"] < rows["baseline"]["max_drawdown"] - 0.4
    assert rows["gap size=0.05"]["survived"]
    assert content["summary"]["score"] == "survived 1 of 2"    # the baseline is not scored
    assert list(table["name"]) == list(rows)


def test_the_command_refuses_uncovered_windows_and_unknown_shocks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stress"
    assert main(["stress", "--window", "covid_2020", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--window covid_2020: 2020-03-08 .. 2020-03-24 is not covered by the data, which " \
           "covers 2024-01-01T00:00:00Z .. 2024-12-30T23:00:00Z" in err
    assert main(["stress", "--shock", "meteor", "--output", str(out)]) == 2
    assert "unknown shock 'meteor'" in capsys.readouterr().err
    assert main(["stress", "--horizon", "forever", "--output", str(out)]) == 2
    assert "--horizon: invalid timeframe 'forever'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.real_data
def test_covid_and_shocks_on_real_btc(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL.is_file():
        pytest.skip(f"real data not found at {REAL} (../shared/data/real)")
    out = tmp_path / "stress"
    assert main(["stress", "--data", str(REAL), "--window", "covid_2020,may_2021",
                 "--shock", "gap:size=0.3", "--output", str(out)]) == 0
    content = json.loads((out / "result.json").read_text())
    names = [s["name"] for s in content["scenarios"]]
    assert names == ["covid_2020", "may_2021", "baseline", "gap size=0.3"]
    assert content["summary"]["score"] in capsys.readouterr().out
    table = pd.read_csv(out / "results.csv")
    assert list(table["name"]) == names
    assert (out / "report.html").is_file()


def test_shocks_apply_to_trades_too() -> None:
    ts = parse_time("2024-01-01") + HOUR * np.arange(6)
    trades = pd.DataFrame({"ts": ts, "price": [100.0, 101, 102, 103, 104, 105],
                           "size": np.full(6, 2.0), "side": np.zeros(6, np.int8),
                           "trade_id": np.arange(6)})
    gapped = shocked_frame(trades, TRADE, parse_shock("gap:size=0.5"), AT)
    assert list(gapped["price"]) == [100, 101, 102, 103, 52, 52.5]
    thin = shocked_frame(trades, TRADE, parse_shock("liquidity:volume=0.25,duration=1h"), AT)
    assert list(thin["size"]) == [2, 2, 2, 2, 0.5, 2]
    spiked = shocked_frame(trades, TRADE, parse_shock("vol_spike:factor=2,duration=1h"), AT)
    assert spiked["price"].iloc[4] == pytest.approx(103 * (104 / 103) ** 2)
    # the spike leaves the level it reached; the next trade keeps its own move from there
    assert spiked["price"].iloc[5] / spiked["price"].iloc[4] == pytest.approx(105 / 104)
