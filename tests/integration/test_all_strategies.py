"""Every built-in strategy runs through `raytrader backtest` and through the actor graph, over
the synthetic market and over real data from ../shared, and the graph's result equals the
single-process (per-event hooks) result exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from actors.graph import run_graph  # noqa: E402
from engine.config import BacktestConfig  # noqa: E402
from engine.run import run_config  # noqa: E402
from engine.strategy import BUILTIN_STRATEGIES  # noqa: E402

# a local Ray, shared with the previous module's (see conftest.py)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("shared_ray")]

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
BTC_1H = REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"
REAL_TRADES = REAL / "trades" / "nautilus_btcusdt-trades.csv"
REAL_QUOTES = REAL / "trades" / "nautilus_btcusdt-quotes.csv"

TRADES_ONLY = {"order_flow_imbalance"}
QUOTES_ONLY = {"liquidity_events"}
ON_BARS = sorted(set(BUILTIN_STRATEGIES) - TRADES_ONLY - QUOTES_ONLY)
ON_TRADES = ["order_flow_imbalance", "volume_price_correlation", "sma_cross", "momentum"]
ON_QUOTES = ["liquidity_events", "sma_cross"]


def needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent")


def entries(names: list[str]) -> list[dict]:
    return [{"strategy": name, "params": {}} for name in names]


def comparable(result: Any) -> dict:
    out = result.to_dict()
    out.pop("timing")
    return out


def check_graph_equals_hooks(config: BacktestConfig, names: list[str]) -> Any:
    reference = run_config(config)
    assert reference.faults == [], [f.error for f in reference.faults]
    result = run_graph(config, workers=2)
    assert comparable(result) == comparable(reference)
    traded = {sid.split(":")[0] for sid in result.fills["strategy_id"]}
    assert len(traded) >= len(names) // 2, f"too few strategies traded: {sorted(traded)}"
    return result


def test_every_bar_strategy_on_synthetic_bars() -> None:
    config = BacktestConfig.from_dict({
        "data": "synthetic", "timeframe": "1m", "symbols": ["BTC/USDT", "ETH/USDT"],
        "start": "2024-01-01", "end": "2024-01-04", "capital": 10_000,
        "strategies": entries(ON_BARS), "max_open_positions": 20})
    check_graph_equals_hooks(config, ON_BARS)


def test_trade_strategies_on_synthetic_trades() -> None:
    config = BacktestConfig.from_dict({
        "data": "synthetic:trades", "symbols": ["BTC/USDT", "ETH/USDT"], "start": "2024-01-01",
        "end": "2024-01-02", "capital": 2_000, "strategies": entries(ON_TRADES)})
    check_graph_equals_hooks(config, ON_TRADES)


def test_quote_strategies_on_synthetic_quotes() -> None:
    config = BacktestConfig.from_dict({
        "data": "synthetic:quotes", "symbols": ["BTC/USDT"], "start": "2024-01-01",
        "end": "2024-01-01T06:00", "capital": 2_000, "strategies": entries(ON_QUOTES)})
    check_graph_equals_hooks(config, ON_QUOTES)


@pytest.mark.real_data
def test_every_bar_strategy_on_real_btc_hours_through_the_cli(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    needs(BTC_1H)
    outputs = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}"
        args = ["backtest", "--data", str(BTC_1H), "--start", "2020-01-01", "--end", "2020-07-01",
                "--capital", "10000", "--quiet", "--workers", workers, "--output", str(out)]
        for name in ON_BARS:
            args += ["--strategy", name]
        # in this process, on the module's Ray (the command line leaves it running)
        assert main(args) == 0, capsys.readouterr().err[-3000:]
        result = json.loads((out / "result.json").read_text())
        result.pop("timing")
        outputs[workers] = result
    assert outputs["0"] == outputs["2"]
    assert outputs["0"]["faults"] == []
    traded = {t["strategy_id"].split(":")[0] for t in outputs["0"]["trades"]}
    assert len(traded) >= len(ON_BARS) // 2, sorted(traded)


@pytest.mark.real_data
def test_trade_strategies_on_real_trades() -> None:
    needs(REAL_TRADES)
    config = BacktestConfig.from_dict({"data": str(REAL_TRADES), "symbols": ["BTC/USDT"],
                                       "capital": 1_000, "strategies": entries(ON_TRADES)})
    reference = run_config(config)
    assert reference.faults == []
    assert comparable(run_graph(config, workers=2)) == comparable(reference)


@pytest.mark.real_data
def test_quote_strategies_on_real_quotes() -> None:
    needs(REAL_QUOTES)
    config = BacktestConfig.from_dict({"data": str(REAL_QUOTES), "symbols": ["BTC/USDT"],
                                       "capital": 1_000, "strategies": entries(ON_QUOTES)})
    reference = run_config(config)
    assert reference.faults == []
    assert comparable(run_graph(config, workers=2)) == comparable(reference)


@pytest.mark.parametrize("data,names,extra", [
    ("synthetic", ON_BARS, ["--timeframe", "5m", "--end", "2024-01-04"]),
    ("synthetic:trades", ["order_flow_imbalance"], ["--end", "2024-01-01T12:00"]),
    ("synthetic:quotes", ["liquidity_events"], ["--end", "2024-01-01T03:00"]),
], ids=["bars", "trades", "quotes"])
def test_every_strategy_through_the_cli_on_the_synthetic_market(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, names: list[str],
        extra: list[str]) -> None:
    from engine.cli import main
    outputs = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}"
        args = ["backtest", "--data", data, "--start", "2024-01-01", "--capital", "5000",
                "--quiet", "--workers", workers, "--output", str(out), *extra]
        for name in names:
            args += ["--strategy", name]
        assert main(args) == 0, capsys.readouterr().err
        result = json.loads((out / "result.json").read_text())
        result.pop("timing")
        outputs[workers] = result
    assert outputs["0"] == outputs["2"]
    assert outputs["0"]["faults"] == [] and outputs["0"]["n_fills"] > 0
