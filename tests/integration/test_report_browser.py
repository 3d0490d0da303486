"""Every kind of HTML report opened in a real headless Chromium with the network cut off: the
page loads with no console or page error and no request leaving the file, and each chart holds
the numbers of the result it was drawn from (read back from the plotly figures on the page).

Needs Playwright (the ``test`` extra) and a Chromium: ``$RAYTRADER_CHROMIUM``, or ``chromium``
/ ``chromium-browser`` / ``google-chrome`` on the PATH (Debian: ``apt-get install chromium``).
Without them the test skips, saying which is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.config import BacktestConfig
from engine.research.montecarlo import run_montecarlo, write_montecarlo
from engine.research.report import write_report
from engine.research.stress import run_stress, write_stress
from engine.research.trend import run_trend, write_trend
from tests.kit.research import backtest_folder, sweep_folder, walkforward_folder

KINDS = ("backtest", "sweep", "walkforward", "montecarlo", "stress", "trend")

# every trace of a chart as plain lists, from the figure plotly.js drew (``_fullData``: its
# ``data`` keeps the base64 arrays plotly.py wrote; heatmaps hold 2-D arrays)
READ_CHART = """id => {
  const plain = v => v == null ? null
    : (typeof v === 'object' && typeof v.length === 'number')
      ? Array.from(v, plain) : v;
  const gd = document.getElementById(id);
  if (!gd || !gd._fullData) return null;
  return gd._fullData.map(t => ({name: t.name, x: plain(t.x), y: plain(t.y), z: plain(t.z)}));
}"""


def chromium() -> str:
    path = os.environ.get("RAYTRADER_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))),
        None)
    if path is None:
        pytest.skip("no Chromium: install one (Debian: apt-get install chromium) or set "
                    "RAYTRADER_CHROMIUM to its path")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e "
                                          "'.[test]')")
    path = chromium()
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    out = {"backtest": backtest_folder(root / "backtest"),
           "sweep": sweep_folder(root / "sweep"),
           "walkforward": walkforward_folder(root / "walkforward")}
    content, table, paths = run_montecarlo(out["backtest"], paths=500, seed=1)
    out["montecarlo"] = write_montecarlo(root / "montecarlo", content, table, paths)
    config = BacktestConfig.from_dict({"strategy": "sma_cross", "params": {"fast": 5,
                                       "slow": 20}, "symbols": ["BTC/USDT"], "seed": 3,
                                       "start": "2024-01-01", "end": "2024-04-01"})
    content, table = run_stress(config, shocks=["gap:size=0.2", "stall"], horizon="10d",
                                warmup="10d")
    out["stress"] = write_stress(root / "stress", content, table)
    content, table = run_trend(BacktestConfig.from_dict({"symbols": ["BTC/USDT", "ETH/USDT"]}),
                               sweeps=[out["sweep"]])
    out["trend"] = write_trend(root / "trend", content, table)
    for folder in out.values():
        write_report(folder)
    return out


def open_report(browser: Any, path: Path) -> tuple[Any, list[str]]:
    """The loaded page and what went wrong on it (console errors, page errors, requests
    that tried to leave the file)."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            problems.append(f"network request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0 && "
                           "Array.from(document.querySelectorAll('.js-plotly-plot'))"
                           ".every(d => d._fullLayout)")
    return page, problems


@pytest.mark.parametrize("kind", KINDS)
def test_each_report_opens_offline_without_errors(browser: Any, folders: dict[str, Path],
                                                  kind: str) -> None:
    page, problems = open_report(browser, folders[kind] / "report.html")
    try:
        assert problems == []
        ids = page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot'), "
                            "d => d.id)")
        assert ids, f"{kind}: no chart on the page"
        check = CHECKS[kind]
        content = json.loads((folders[kind] / "result.json").read_text())
        check(lambda div: page.evaluate(READ_CHART, div), content, folders[kind])
    finally:
        page.close()


def check_backtest(chart: Any, content: dict[str, Any], folder: Path) -> None:
    equity, drawdown = chart("equity")
    assert equity["y"][-1] == pytest.approx(content["summary"]["final_equity"])
    assert equity["x"][-1] == content["equity_curve"]["ts"][-1]
    assert min(drawdown["y"]) == pytest.approx(content["metrics"]["max_drawdown"])
    (heat,) = chart("monthly-returns")
    months = np.array(heat["z"], dtype=float)
    compounded = np.prod(1 + months[np.isfinite(months)]) - 1
    assert compounded == pytest.approx(content["summary"]["total_return"])
    (pnl,) = chart("trade-pnl")
    trades = pd.read_csv(folder / "trades.csv")
    assert sorted(pnl["x"]) == pytest.approx(sorted(trades["pnl"]))
    assert chart("exposure")[0]["y"]


def check_sweep(chart: Any, content: dict[str, Any], folder: Path) -> None:
    (heat,) = chart("sweep-heatmap")
    z = np.array(heat["z"], dtype=float)
    assert np.nanmax(z) == pytest.approx(content["summary"]["best_value"])
    assert heat["x"] == ["5", "10", "20"] and heat["y"] == ["40", "80"]
    # fast=5, slow=80: the best over the two symbols is BTC's 0.5 - 0.8 + 0.5
    assert z[1][0] == pytest.approx(0.2)


def check_walkforward(chart: Any, content: dict[str, Any], folder: Path) -> None:
    (line,) = chart("oos-equity")
    assert line["y"] == pytest.approx(content["oos_equity"]["equity"])
    assert line["x"] == content["oos_equity"]["ts"]
    in_sample, out_of_sample = chart("walkforward-windows")
    assert in_sample["y"] == pytest.approx([w["in_sample"]["sharpe"] for w in content["windows"]])
    assert out_of_sample["y"] == pytest.approx(
        [w["out_of_sample"]["sharpe"] for w in content["windows"]])


def check_montecarlo(chart: Any, content: dict[str, Any], folder: Path) -> None:
    for method in content["methods"]:
        name = method["method"]
        traces = {t["name"]: t for t in chart(f"fan-{name}")}
        assert traces["median"]["y"] == pytest.approx(method["fan"]["p50"])
        assert traces["P5 .. P95"]["y"] == pytest.approx(method["fan"]["p5"])
        (hist,) = chart(f"hist-{name}-max_drawdown")
        assert hist["y"] == method["histograms"]["max_drawdown"]["counts"]
        assert sum(hist["y"]) == method["paths"]


def check_stress(chart: Any, content: dict[str, Any], folder: Path) -> None:
    (bars,) = chart("stress-returns")
    assert bars["x"] == [s["name"] for s in content["scenarios"]]
    assert bars["y"] == pytest.approx([s["total_return"] for s in content["scenarios"]])
    (dd,) = chart("stress-drawdowns")
    assert dd["y"] == pytest.approx([s["max_drawdown"] for s in content["scenarios"]])


def check_trend(chart: Any, content: dict[str, Any], folder: Path) -> None:
    for s in content["symbols"]:
        traces = chart("regime-" + s["symbol"].replace("/", "-"))
        assert traces[0]["y"] == pytest.approx(s["series"]["close"])
        current = next(t for t in traces if t["name"] == s["current_regime"])
        assert current["x"][-1] == s["series"]["ts"][-1]


CHECKS = {"backtest": check_backtest, "sweep": check_sweep, "walkforward": check_walkforward,
          "montecarlo": check_montecarlo, "stress": check_stress, "trend": check_trend}
