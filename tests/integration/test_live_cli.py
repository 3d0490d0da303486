"""``raytrader paper`` and ``raytrader live`` against the test exchange on 127.0.0.1, pointed
at it by ``--exchange-config`` (rest_url / ws_url): a paper session writes a backtest's result
files; live refuses to start without --live; a live session's keys appear in no line it
printed and no file it wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.cli import main
from engine.config import BacktestConfig
from tests.kit.actor_cores import run_cores
from tests.kit.fake_exchange.app import API_KEY, API_SECRET
from tests.kit.fake_exchange.clients import SPOT_ONLY
from tests.kit.fake_exchange.runner import FakeBinanceServer, running_fake_binance
from tests.kit.live_process import pushing_market, wave

pytestmark = pytest.mark.slow


@pytest.fixture()
def server() -> Iterator[FakeBinanceServer]:
    with (running_fake_binance() as server,
          pushing_market(server, price=wave, every=0.01, delay=1.0, spread=0.5)):
        yield server


def exchange_config(tmp_path: Path, server: FakeBinanceServer, **extra: object) -> Path:
    path = tmp_path / "exchange.json"
    path.write_text(json.dumps({"options": SPOT_ONLY, "enableRateLimit": False,
                                "timeout": 3000, "rest_url": server.rest_url,
                                "ws_url": server.ws_url, **extra}))
    return path


ARGS = ["--exchange", "binance", "--symbols", "BTC/USDT", "--strategy", "sma_cross",
        "--param", "fast=3", "--param", "slow=8", "--param", "allocation=0.2",
        "--capital", "5000", "--duration", "4", "--quiet"]


def test_paper_writes_the_backtest_result_files(tmp_path: Path, server: FakeBinanceServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["paper", *ARGS, "--exchange-config", str(exchange_config(tmp_path, server)),
                 "--output", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["metrics"]["events"] > 100 and result["n_fills"] > 2
    assert result["data"]["source"] == "paper:binance"


def test_live_refuses_to_start_without_live(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["live", "--exchange", "binance", "--symbols", "BTC/USDT"])
    assert code == 2
    assert "add --live to mean it" in capsys.readouterr().err


def test_keys_in_an_exchange_config_are_refused(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "exchange.json"
    path.write_text(json.dumps({"apiKey": API_KEY}))
    code = main(["paper", *ARGS, "--exchange-config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "'apiKey' does not belong in a config file" in err
    assert API_KEY not in err


def test_a_live_session_leaves_its_keys_nowhere(tmp_path: Path, server: FakeBinanceServer,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", API_SECRET)
    monkeypatch.chdir(tmp_path)
    code = main(["live", "--live", *ARGS, "--exchange-config",
                 str(exchange_config(tmp_path, server)), "--journal",
                 str(tmp_path / "live.db"), "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "result.json").read_text())["n_fills"] > 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "live.db" for p in written)
    for secret in (API_KEY, API_SECRET):
        assert secret not in out and secret not in err
        for path in written:
            assert secret.encode() not in path.read_bytes(), path


def test_a_paper_session_s_recording_replays_to_its_orders(
        tmp_path: Path, server: FakeBinanceServer, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = tmp_path / "catalog"
    code = main(["paper", *ARGS, "--exchange-config", str(exchange_config(tmp_path, server)),
                 "--output", str(tmp_path / "paper"), "--record", str(catalog)])
    assert code == 0, capsys.readouterr().err
    assert "recorded trade BTC/USDT" in capsys.readouterr().out
    replay_args = [a for a in ARGS if a not in ("--exchange", "binance", "--duration", "4")]
    code = main(["backtest", *replay_args, "--data", f"catalog:{catalog}",
                 "--output", str(tmp_path / "replay")])
    assert code == 0, capsys.readouterr().err
    paper = (tmp_path / "paper" / "fills.csv").read_text()
    replay = (tmp_path / "replay" / "fills.csv").read_text()
    assert paper == replay and paper.count("\n") > 3


def test_a_recording_with_the_market_rules_replays_to_its_orders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--risk aggressive turns the market rules on: --record keeps the hourly history they
    were seeded with beside the data, so the replay (one process, and the actor graph's
    cores) decides as the session did. The history ends in a storm, so the session's regime
    is HIGHLY_VOLATILE from its first trade and its entries are halved; a replay without the
    history would see NORMAL and buy twice as much."""
    catalog = tmp_path / "catalog"
    hour = 3_600_000
    with running_fake_binance() as server:
        now = int(time.time() * 1000)
        moves = np.random.default_rng(9).normal(0, 0.002, 800)
        moves[-30:] *= 25
        walk = 30_000 * np.exp(np.cumsum(moves))
        for k, p in zip(range(800, 0, -1), walk):
            server.push_trade("BTCUSDT", f"{p:.2f}", "1", time_ms=now - k * hour)
        # eight seconds: fetching the history comes first, and a loaded machine (CI) once
        # left a four-second session too few trades to enter
        args = [a if a != "4" else "8" for a in ARGS]
        with pushing_market(server, price=wave, every=0.01, delay=1.0, spread=0.5):
            code = main(["paper", *args, "--risk", "aggressive", "--exchange-config",
                         str(exchange_config(tmp_path, server)), "--output",
                         str(tmp_path / "paper"), "--record", str(catalog)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "recorded market-rule history BTC/USDT: 745 prices" in out
    replay_args = [a for a in ARGS if a not in ("--exchange", "binance", "--duration", "4")]
    code = main(["backtest", *replay_args, "--risk", "aggressive", "--data",
                 f"catalog:{catalog}", "--output", str(tmp_path / "replay")])
    assert code == 0, capsys.readouterr().err
    paper = pd.read_csv(tmp_path / "paper" / "fills.csv")
    replay = pd.read_csv(tmp_path / "replay" / "fills.csv")
    session = json.loads((tmp_path / "paper" / "result.json").read_text())
    assert len(paper) > 0, (session["metrics"]["events"], session["risk"])
    pd.testing.assert_frame_equal(paper, replay)
    assert session["risk"]["reductions"]["regime"] > 0
    result = json.loads((tmp_path / "replay" / "result.json").read_text())
    assert result["risk"]["reductions"] == session["risk"]["reductions"]
    # the actor graph's cores load the same history with the data
    config = BacktestConfig.from_dict({
        "data": f"catalog:{catalog}", "symbols": ["BTC/USDT"], "strategy": "sma_cross",
        "params": {"fast": 3, "slow": 8, "allocation": 0.2}, "capital": 5000,
        "risk_preset": "aggressive"})
    graph = run_cores(config, workers=2, batch_rows=64).result
    assert len(graph.fills) == len(paper)
    assert graph.fills["price"].tolist() == paper["price"].tolist()
    assert graph.fills["qty"].tolist() == pytest.approx(paper["qty"].tolist(), rel=1e-9)
