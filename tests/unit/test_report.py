"""HTML reports without a browser: one self-contained page per kind with the charts it
promises, thinning that keeps extremes, and ``raytrader report``'s bad input
(tests/integration/test_report_browser.py opens the pages in Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.research.report import write_report
from engine.research.reports.common import thin
from tests.kit.research import backtest_folder, sweep_folder, walkforward_folder


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return backtest_folder(tmp_path_factory.mktemp("report") / "run")


def chart_ids(page: str) -> list[str]:
    return re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "an external resource"
    assert "Plotly.newPlot" in page and len(page) > 3_000_000   # plotly.js is inlined


def test_a_backtest_report_has_its_charts_and_tables(backtest_dir: Path) -> None:
    path = write_report(backtest_dir)
    assert path == backtest_dir / "report.html"
    page = path.read_text()
    assert_self_contained(page)
    assert chart_ids(page) == ["equity", "monthly-returns", "trade-pnl", "trade-duration",
                               "exposure"]
    for table in ("summary", "metrics", "per-symbol", "inputs"):
        assert f'<table id="{table}">' in page
    assert "sma_cross:BTC/USDT" in page


def test_sweep_and_walkforward_reports(tmp_path: Path) -> None:
    sweep = sweep_folder(tmp_path / "sweep")
    page = write_report(sweep).read_text()
    assert_self_contained(page)
    assert chart_ids(page) == ["sweep-heatmap"]
    assert "at the edge of the fast range" in page            # the recommendations
    assert "fast must be below slow" in page                   # the failed run
    wf = walkforward_folder(tmp_path / "wf")
    page = write_report(wf).read_text()
    assert chart_ids(page) == ["walkforward-windows", "oos-equity"]
    assert '<table id="windows">' in page


def test_report_command_writes_elsewhere_and_refuses_bad_folders(
        backtest_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "bt.html"
    assert main(["report", str(backtest_dir), "--output", str(target)]) == 0
    assert target.is_file() and str(target) in capsys.readouterr().out
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert main(["report", str(backtest_dir), "--output", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    old = tmp_path / "old"
    old.mkdir()
    (old / "result.json").write_text(json.dumps({"kind": "backtest"}))
    assert main(["report", str(old)]) == 2
    assert "field 'schema' is missing" in capsys.readouterr().err
    assert not (old / "report.html").exists()
    with pytest.raises(ConfigError, match="no such result file"):
        write_report(tmp_path / "nothing")


def test_thinning_keeps_the_ends_and_the_extremes() -> None:
    values = np.sin(np.arange(100_000) / 500.0)
    values[31_337] = -5.0
    values[77_000] = np.nan
    keep = thin(len(values), values, 400)
    assert len(keep) <= 400 and keep[0] == 0 and keep[-1] == len(values) - 1
    assert 31_337 in keep and np.nanmax(values[keep]) == np.nanmax(values)
    assert list(thin(10, values[:10])) == list(range(10))
