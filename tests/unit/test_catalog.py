"""The Parquet catalog, and the ``data import`` / ``data list`` CLI handlers."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.cli.data import add_data_commands
from engine.data import catalog as catalog_module
from engine.data.catalog import ParquetCatalog, escape_name, unescape_name
from engine.data.schema import COLUMNS
from engine.errors import ConfigError, DataError, NoDataError
from engine.timeframes import NS_PER_HOUR, parse_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
T0 = parse_time("2024-01-01")


def bars(first_hour: int, count: int, price: float = 100.0) -> pd.DataFrame:
    ts = T0 + (first_hour + np.arange(count, dtype=np.int64)) * NS_PER_HOUR
    close = price + np.arange(count, dtype=np.float64)
    return pd.DataFrame({"ts": ts, "open": close - 0.5, "high": close + 1.0,
                         "low": close - 1.0, "close": close, "volume": np.full(count, 2.5)})


def trades() -> pd.DataFrame:
    return pd.DataFrame({
        "ts": np.array([T0, T0, T0 + 5], dtype=np.int64),
        "price": [10.0, 10.5, 10.25], "size": [1.0, 0.5, 2.0],
        "side": np.array([1, -1, 0], dtype=np.int8),
        "trade_id": np.array([7, 8, 9], dtype=np.int64)})


@pytest.fixture
def cat(tmp_path: Path) -> ParquetCatalog:
    return ParquetCatalog(tmp_path / "catalog")


def parts_of(cat: ParquetCatalog, *folders: str) -> list[str]:
    return sorted(p.name for p in cat.root.joinpath(*folders).iterdir())


# --- write and read -----------------------------------------------------------------------

def test_round_trip_is_exact(cat: ParquetCatalog) -> None:
    frame = bars(0, 24)
    written = cat.write(frame, venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    assert written.path == (cat.root / "bar" / "binance" / "BTC%2FUSDT" / "1h"
                            / f"part-{T0:019d}-{T0 + 23 * NS_PER_HOUR:019d}.parquet")
    assert (written.rows, written.first_ts, written.replaced_rows) == (24, T0, 0)
    back = cat.read("binance", "BTC/USDT", "bar", "1h")
    pd.testing.assert_frame_equal(back, frame)
    assert back.dtypes.to_dict() == COLUMNS["bar"]


def test_ticks_round_trip_and_keep_equal_timestamps(cat: ParquetCatalog) -> None:
    cat.write(trades(), venue="binance", symbol="BTC/USDT", kind="trade")
    back = cat.read("binance", "BTC/USDT", "trade")
    pd.testing.assert_frame_equal(back, trades())
    assert back["side"].dtype == np.int8
    assert parts_of(cat, "trade", "binance", "BTC%2FUSDT") == ["tick"]


def test_every_kind_round_trips_exactly_with_its_column_encodings(cat: ParquetCatalog) -> None:
    """Times and trade ids delta-encoded, sides and sizes in a dictionary, the rest plain:
    every value comes back to the bit, extremes included, across row groups."""
    rng = np.random.default_rng(4)
    n = 600_000   # three row groups
    ts = T0 + np.cumsum(rng.integers(0, 2_000_000_000, n)).astype(np.int64)
    ts[5] = ts[4]                     # equal times
    noisy = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    noisy[9] = 1e300
    frames = {
        "bar": pd.DataFrame({"ts": ts, "open": noisy, "high": noisy * 1.01, "low": noisy * 0.99,
                             "close": noisy, "volume": rng.exponential(3.0, n)}),
        "trade": pd.DataFrame({"ts": ts, "price": noisy, "size": rng.integers(1, 50, n) / 100,
                               "side": rng.integers(-1, 2, n).astype(np.int8),
                               "trade_id": 10**12 + np.cumsum(rng.integers(1, 3, n))}),
        "quote": pd.DataFrame({"ts": ts, "bid": noisy, "ask": noisy + 0.5,
                               "bid_size": rng.integers(1, 9, n) * 0.25,
                               "ask_size": rng.exponential(1.0, n)})}
    frames["bar"]["ts"] = T0 + np.arange(n, dtype=np.int64) * 60_000_000_000
    for kind, frame in frames.items():
        timeframe = "1m" if kind == "bar" else None
        written = cat.write(frame, venue="v", symbol="X/Y", kind=kind, timeframe=timeframe)
        pd.testing.assert_frame_equal(cat.read("v", "X/Y", kind, timeframe), frame)
        group = pq.ParquetFile(written.path).metadata.row_group(0)
        encodings = {group.column(i).path_in_schema: set(group.column(i).encodings)
                     for i in range(group.num_columns)}
        assert "DELTA_BINARY_PACKED" in encodings["ts"], encodings
        for name, found in encodings.items():
            dictionary = "RLE_DICTIONARY" in found or "PLAIN_DICTIONARY" in found
            assert dictionary == (name in ("side", "size", "bid_size", "ask_size")), (kind, name)
        if kind == "trade":
            assert "DELTA_BINARY_PACKED" in encodings["trade_id"]


def test_append_then_read_everything(cat: ParquetCatalog) -> None:
    cat.write(bars(0, 10), venue="binance", symbol="ETH/USDT", kind="bar", timeframe="1h")
    cat.write(bars(10, 5, price=200.0), venue="binance", symbol="ETH/USDT", kind="bar",
              timeframe="60m")  # the same timeframe spelled differently
    back = cat.read("binance", "ETH/USDT", "bar", "1h")
    expected = pd.concat([bars(0, 10), bars(10, 5, price=200.0)], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected)
    assert len(parts_of(cat, "bar", "binance", "ETH%2FUSDT", "1h")) == 2


def test_overlap_is_refused_and_nothing_changes(cat: ParquetCatalog) -> None:
    cat.write(bars(0, 10), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    before = parts_of(cat, "bar", "binance", "BTC%2FUSDT", "1h")
    with pytest.raises(DataError, match=r"BTC/USDT bar 1h: the batch 2024-01-01T09:00:00Z "
                                        r"\.\. 2024-01-01T11:00:00Z overlaps stored data "
                                        r"2024-01-01T00:00:00Z \.\. 2024-01-01T09:00:00Z"):
        cat.write(bars(9, 3), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    assert parts_of(cat, "bar", "binance", "BTC%2FUSDT", "1h") == before
    pd.testing.assert_frame_equal(cat.read("binance", "BTC/USDT", "bar", "1h"), bars(0, 10))


def test_replace_swaps_the_overlapping_range(cat: ParquetCatalog) -> None:
    kw = dict(venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    cat.write(bars(0, 10), **kw)
    cat.write(bars(10, 10), **kw)
    new = bars(8, 4, price=500.0)  # hours 8..11 straddle both parts
    written = cat.write(new, mode="replace", **kw)
    assert written.replaced_rows == 4
    back = cat.read("binance", "BTC/USDT", "bar", "1h")
    expected = pd.concat([bars(0, 10).iloc[:8], new, bars(10, 10).iloc[2:]], ignore_index=True)
    pd.testing.assert_frame_equal(back, expected)
    assert parts_of(cat, "bar", "binance", "BTC%2FUSDT", "1h") == [written.path.name]
    with pytest.raises(ConfigError, match="'upsert'"):
        cat.write(new, mode="upsert", **kw)


def test_range_reads_include_start_and_exclude_end(cat: ParquetCatalog) -> None:
    kw = dict(venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    cat.write(bars(0, 10), **kw)
    cat.write(bars(10, 10), **kw)
    back = cat.read("binance", "BTC/USDT", "bar", "1h", start=T0 + 8 * NS_PER_HOUR,
                    end=T0 + 12 * NS_PER_HOUR)
    assert back["ts"].tolist() == [T0 + h * NS_PER_HOUR for h in (8, 9, 10, 11)]
    text = cat.read("binance", "BTC/USDT", "bar", "1h", start="2024-01-01T18:00",
                    end=None)
    assert text["ts"].tolist() == [T0 + 18 * NS_PER_HOUR, T0 + 19 * NS_PER_HOUR]
    assert len(cat.read("binance", "BTC/USDT", "bar", "1h", end=T0 + NS_PER_HOUR)) == 1


@pytest.mark.parametrize(("start", "end"), [
    (None, None), (0, 2500), (999, 1001), (1000, 2000), (1234, 5678), (2999, None),
    (None, 1), (4000, 4001), (5999, 6000)])
def test_range_reads_across_row_groups_and_parts_equal_a_filter_of_the_whole(
        cat: ParquetCatalog, monkeypatch: pytest.MonkeyPatch, start: int | None,
        end: int | None) -> None:
    # parts of several row groups: a read skips the groups out of range, cuts the ones at
    # its edges, and copies the rest into one array per column
    monkeypatch.setattr(catalog_module, "ROW_GROUP_ROWS", 1000)
    kw = dict(venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    whole = pd.concat([bars(0, 3000), bars(3000, 3000, price=7.0)], ignore_index=True)
    cat.write(whole.iloc[:3000], **kw)
    cat.write(whole.iloc[3000:], **kw)
    assert len(parts_of(cat, "bar", "binance", "BTC%2FUSDT", "1h")) == 2
    lo = None if start is None else T0 + start * NS_PER_HOUR
    hi = None if end is None else T0 + end * NS_PER_HOUR
    back = cat.read("binance", "BTC/USDT", "bar", "1h", start=lo, end=hi)
    ts = whole["ts"].to_numpy()
    keep = (ts >= (lo if lo is not None else ts[0])) & (ts < (hi if hi is not None else ts[-1] + 1))
    expected = whole[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)
    assert all(back[c].to_numpy().flags.c_contiguous for c in back.columns)


def test_no_data_messages_say_what_is_missing(cat: ParquetCatalog) -> None:
    cat.write(bars(0, 10), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    with pytest.raises(NoDataError, match=r"symbol 'DOGE/USDT' on binance.*stored symbols: "
                                          r"BTC/USDT"):
        cat.read("binance", "DOGE/USDT", "bar", "1h")
    with pytest.raises(NoDataError, match=r"no 1m bar data for BTC/USDT.*stored timeframes: 1h"):
        cat.read("binance", "BTC/USDT", "bar", "1m")
    with pytest.raises(NoDataError, match=r"venue 'kraken'.*venues with bar data: binance"):
        cat.read("kraken", "BTC/USDT", "bar", "1h")
    with pytest.raises(NoDataError, match="no trade data for venue 'binance'"):
        cat.read("binance", "BTC/USDT", "trade")
    with pytest.raises(NoDataError, match=r"no rows in \[2025-01-01T00:00:00Z, \.\.\.\); "
                                          r"stored data covers 2024-01-01T00:00:00Z \.\. "
                                          r"2024-01-01T09:00:00Z"):
        cat.read("binance", "BTC/USDT", "bar", "1h", start="2025-01-01")
    with pytest.raises(NoDataError, match="start >= end"):
        cat.read("binance", "BTC/USDT", "bar", "1h", start=T0 + 5, end=T0 + 5)


def test_list_and_symbols(cat: ParquetCatalog) -> None:
    assert cat.list().empty and cat.symbols() == []
    cat.write(bars(0, 10), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    cat.write(bars(10, 2), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    cat.write(bars(0, 3), venue="binance", symbol="ETH/USDT", kind="bar", timeframe="1d")
    cat.write(trades(), venue="kraken", symbol="BTC/USD", kind="trade")
    table = cat.list()
    assert table.to_dict("records") == [
        {"venue": "binance", "symbol": "BTC/USDT", "kind": "bar", "timeframe": "1h",
         "rows": 12, "first_ts": T0, "last_ts": T0 + 11 * NS_PER_HOUR, "parts": 2},
        {"venue": "binance", "symbol": "ETH/USDT", "kind": "bar", "timeframe": "1d",
         "rows": 3, "first_ts": T0, "last_ts": T0 + 2 * NS_PER_HOUR, "parts": 1},
        {"venue": "kraken", "symbol": "BTC/USD", "kind": "trade", "timeframe": None,
         "rows": 3, "first_ts": T0, "last_ts": T0 + 5, "parts": 1},
    ]
    assert cat.symbols() == ["BTC/USD", "BTC/USDT", "ETH/USDT"]
    assert cat.symbols(venue="binance", timeframe="1h") == ["BTC/USDT"]
    assert cat.symbols(kind="trade") == ["BTC/USD"]


# --- schema checks, names, atomicity ------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="volume"), r"missing \['volume'\]"),
    (lambda f: f.assign(extra=1), r"unexpected \['extra'\]"),
    (lambda f: f.assign(close=f["close"].astype(str)), "'close' has dtype"),
    (lambda f: f.iloc[::-1], "ts must be strictly increasing"),
    (lambda f: pd.concat([f, f.iloc[[-1]]]), "ts must be strictly increasing"),
    (lambda f: f.iloc[:0], "the batch is empty"),
    (lambda f: f.assign(open=np.nan), "'open' is NaN in row 0"),
])
def test_write_validates_the_schema(cat: ParquetCatalog, change, message: str) -> None:
    with pytest.raises(DataError, match=message):
        cat.write(change(bars(0, 3)), venue="binance", symbol="BTC/USDT", kind="bar",
                  timeframe="1h")
    assert not cat.root.exists() or cat.list().empty


def test_kind_and_timeframe_arguments_are_checked(cat: ParquetCatalog) -> None:
    with pytest.raises(ConfigError, match="unknown data kind 'candle'"):
        cat.write(bars(0, 3), venue="binance", symbol="X", kind="candle", timeframe="1h")
    with pytest.raises(ConfigError, match="bars need a timeframe"):
        cat.write(bars(0, 3), venue="binance", symbol="X", kind="bar")
    with pytest.raises(ConfigError, match="take no timeframe"):
        cat.write(trades(), venue="binance", symbol="X", kind="trade", timeframe="1m")


@pytest.mark.parametrize("name", ["BTC/USDT", "BTC/USDT:USDT", "BTC-USDT", "..", "a%2Fb", "ÄÖ"])
def test_names_escape_reversibly_into_one_folder(name: str) -> None:
    folder = escape_name(name)
    assert "/" not in folder and "." not in folder and ":" not in folder
    assert unescape_name(folder) == name


def test_crash_while_writing_leaves_no_part(cat: ParquetCatalog,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cat.write(bars(0, 3), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(catalog_module.pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        cat.write(bars(3, 3), venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    folder = cat.root / "bar" / "binance" / "BTC%2FUSDT" / "1h"
    assert [p.name for p in folder.iterdir()] == [f"part-{T0:019d}-"
                                                  f"{T0 + 2 * NS_PER_HOUR:019d}.parquet"]


def test_leftover_of_an_interrupted_replace_is_ignored_then_removed(
        cat: ParquetCatalog) -> None:
    kw = dict(venue="binance", symbol="BTC/USDT", kind="bar", timeframe="1h")
    old = cat.write(bars(0, 4), **kw).path
    saved = old.with_name("saved")
    shutil.copy(old, saved)
    new = cat.write(bars(2, 4, price=300.0), mode="replace", **kw)
    shutil.move(saved, old)  # as if the crash came before the old part was deleted
    expected = pd.concat([bars(0, 2), bars(2, 4, price=300.0)], ignore_index=True)
    pd.testing.assert_frame_equal(cat.read("binance", "BTC/USDT", "bar", "1h"), expected)
    assert cat.list()["rows"].tolist() == [6]
    cat.write(bars(6, 1), **kw)
    assert old.name not in parts_of(cat, "bar", "binance", "BTC%2FUSDT", "1h")
    assert new.path.exists()
    assert pq.read_metadata(new.path).num_rows == 6


# --- CLI ----------------------------------------------------------------------------------

def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="raytrader")
    add_data_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_import_overlap_replace_and_list(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "cat")
    fixture = str(FIXTURES / "cdd_spot_1h.csv")
    assert run_cli("data", "import", fixture, "--catalog", root) == 0
    out = capsys.readouterr().out
    assert "duplicate_conflict: 1" in out
    assert "stored 5 rows of binance BTC/USDT bar 1h" in out

    assert run_cli("data", "import", fixture, "--catalog", root) == 2
    assert capsys.readouterr().err.startswith("error: binance BTC/USDT bar 1h: the batch")
    assert run_cli("data", "import", fixture, "--catalog", root, "--replace") == 0
    assert "replacing 5 stored rows" in capsys.readouterr().out

    assert run_cli("data", "list", "--catalog", root) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["venue", "symbol", "kind", "timeframe", "rows", "first", "last",
                              "parts"]
    assert out[1].split() == ["binance", "BTC/USDT", "bar", "1h", "5",
                              "2020-11-20T03:00:00Z", "2020-11-20T08:00:00Z", "1"]


def test_cli_errors_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "from-env"
    monkeypatch.setenv("RAYTRADER_CATALOG", str(root))
    assert run_cli("data", "list") == 0
    assert f"catalog {root} is empty" in capsys.readouterr().out

    assert run_cli("data", "import", str(FIXTURES / "orderbook_depth.csv")) == 2
    assert "error: " in capsys.readouterr().err
    assert run_cli("data", "import", str(FIXTURES / "binance_klines_ms.csv")) == 2
    assert "pass --symbol" in capsys.readouterr().err
    assert run_cli("data", "import", str(FIXTURES / "binance_klines_ms.csv"), "--venue", "bybit",
                   "--symbol", "BTC/USDT", "--timeframe", "4h") == 0
    assert run_cli("data", "import", str(FIXTURES / "hft_ticks.csv"), "--venue", "sim") == 0
    assert ParquetCatalog(root).symbols() == ["BTC", "BTC/USDT", "ETH"]
    assert ParquetCatalog(root).symbols(venue="sim", kind="trade") == ["BTC", "ETH"]


@pytest.mark.real_data
def test_cli_imports_the_real_btc_file(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent")
    root = str(tmp_path / "cat")
    assert run_cli("data", "import", str(path), "--catalog", root) == 0
    assert "36062 rows read, 33413 kept" in capsys.readouterr().out
    assert run_cli("data", "list", "--catalog", root) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == [
        "binance", "BTC/USDT", "bar", "1h", "33413", "2017-08-17T04:00:00Z",
        "2021-06-10T00:00:00Z", "1"]
    frame = ParquetCatalog(root).read("binance", "BTC/USDT", "bar", "1h",
                                      start="2020-11-20 07:00", end="2020-11-20 08:00")
    assert frame[["open", "volume"]].iloc[0].tolist() == [18164.79, 6097.86638]


def test_a_recorded_session_s_market_rule_history_round_trips_beside_the_series(
        tmp_path: Path) -> None:
    store = ParquetCatalog(tmp_path)
    assert store.read_history("SIM", "BTC/USDT") is None
    ts, price = np.array([10, 20, 30]), np.array([1.0, np.nan, 3.0])
    path = store.write_history("SIM", "BTC/USDT", ts, price)
    got = store.read_history("SIM", "BTC/USDT")
    assert got is not None
    assert got[0].tolist() == [10, 20, 30] and np.array_equal(got[1], price, equal_nan=True)
    assert len(store.list()) == 0   # not a series: listings and reads do not see it
    with pytest.raises(DataError, match=r"BTC/USDT.*non-decreasing"):
        store.write_history("SIM", "BTC/USDT", [3, 1], [1.0, 2.0])
    assert store.read_history("SIM", "BTC/USDT") is not None   # the kept one stays
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"prices\.parquet: unreadable market-rule history"):
        store.read_history("SIM", "BTC/USDT")


def test_a_bar_series_keeps_the_history_up_to_its_first_close(tmp_path: Path) -> None:
    # a bar session's history ends at the close before the first bar's close: its last
    # price may fall on the first bar's open time, and the replay must still read it
    from engine.config import BacktestConfig
    from engine.datasource import load_data

    store = ParquetCatalog(tmp_path)
    hour = NS_PER_HOUR
    start = parse_time("2024-01-02")
    bars = pd.DataFrame({"ts": start + hour * np.arange(3), "open": 1.0, "high": 1.0,
                         "low": 1.0, "close": 1.0, "volume": 1.0})
    store.write(bars, venue="SIM", symbol="BTC/USDT", kind="bar", timeframe="1h")
    store.write_history("SIM", "BTC/USDT", start - hour * np.arange(3)[::-1], [1.0, 2.0, 3.0])
    base = {"data": f"catalog:{tmp_path}", "venue": "SIM", "symbols": ["BTC/USDT"],
            "timeframe": "1h", "strategy": "sma_cross"}
    loaded = load_data(BacktestConfig.from_dict({**base, "max_cost_bps": 50.0}))
    assert loaded.market_history is not None
    assert loaded.market_history["BTC/USDT"][0].tolist()[-1] == start
    # without market rules the history is not read
    assert load_data(BacktestConfig.from_dict(base)).market_history is None
