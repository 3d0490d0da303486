"""Importers: every format from a tiny hand-written fixture, then the real files in ../shared."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.importers import (FORMAT_KINDS, detect_format, from_ccxt_ohlcv,
                                   from_ccxt_trades, load_all, load_file)
from engine.data.schema import BAR, COLUMNS, QUOTE, TRADE
from engine.errors import DataError, DataFormatError
from engine.timeframes import NS_PER_HOUR, NS_PER_MINUTE, parse_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def ms(value: int) -> int:
    return value * 1_000_000


def assert_schema(frame: pd.DataFrame, kind: str) -> None:
    assert list(frame.columns) == list(COLUMNS[kind])
    assert frame.dtypes.to_dict() == COLUMNS[kind]
    assert isinstance(frame.index, pd.RangeIndex)
    assert (np.diff(frame["ts"].to_numpy()) >= 0).all()


# --- detection ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, fmt", [
    ("cdd_spot_1h.csv", "cdd"),
    ("cdd_futures_1d.csv", "cdd"),
    ("binance_klines_iso.csv", "binance_klines"),
    ("binance_klines_ms.csv", "binance_klines"),
    ("binance_vision_us.csv", "binance_vision"),
    ("ohlcv_generic.csv", "ohlcv_csv"),
    ("ccxt_ohlcv.json", "ccxt_ohlcv_json"),
    ("nautilus_trades.csv", "nautilus_trades"),
    ("ccxt_trades.csv", "ccxt_trades_csv"),
    ("ccxt_trades.json", "ccxt_trades_json"),
    ("hft_ticks.csv", "hft_ticks"),
    ("quotes.csv", "quotes_csv"),
])
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name) == fmt
    assert fmt in FORMAT_KINDS


def test_unknown_format_names_the_file_and_header() -> None:
    path = FIXTURES / "orderbook_depth.csv"
    with pytest.raises(DataFormatError, match=r"orderbook_depth\.csv") as err:
        load_file(path)
    assert "first_update_id" in str(err.value)
    assert err.value.path == str(path)


def test_empty_and_binary_files_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(DataFormatError, match=r"empty\.csv: the file is empty"):
        detect_format(empty)
    parquet = tmp_path / "x.parquet"
    parquet.write_bytes(b"PAR1\x00\x00")
    with pytest.raises(DataFormatError, match=r"x\.parquet: .*Parquet"):
        load_file(parquet)
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "missing.csv")


# --- bars ---------------------------------------------------------------------------------

def test_cdd_newest_first_mixed_units_duplicates_gap() -> None:
    result = load_file(FIXTURES / "cdd_spot_1h.csv")
    frame, report = result.frame, result.report
    assert_schema(frame, BAR)
    assert (result.kind, result.timeframe, result.symbol, result.format) == \
        (BAR, "1h", "BTC/USDT", "cdd")
    assert result.source == str(FIXTURES / "cdd_spot_1h.csv")
    hour = parse_time("2020-11-20 03:00")
    assert frame["ts"].tolist() == [hour + k * NS_PER_HOUR for k in (0, 1, 2, 4, 5)]
    # 07:00 exists twice: the ms/tradecount row (line 3) beats the seconds/NULL row (line 4).
    assert frame.iloc[3].tolist() == [hour + 4 * NS_PER_HOUR, 18164.79, 18260.0, 18100.0,
                                      18212.0, 6097.86638]
    assert frame.iloc[0].tolist() == [hour, 18100.0, 18190.0, 18050.0, 18150.5, 812.5]
    assert report.rows_read == 6 and report.rows_kept == 5
    conflict = report.issue("duplicate_conflict")
    assert conflict.count == 1 and conflict.examples[0]["line"] == 4
    assert "line 3, which was kept (the more precise row)" in conflict.examples[0]["detail"]
    assert report.issue("out_of_order").examples[0]["line"] == 6
    assert report.count("zero_volume") == 1
    assert (report.count("gap"), report.missing_bars) == (1, 1)
    assert report.largest_gap == (hour + 3 * NS_PER_HOUR, 1)
    assert any("newest-first" in n for n in report.notes)


def test_cdd_with_url_line_and_integer_seconds() -> None:
    result = load_file(FIXTURES / "cdd_futures_1d.csv")
    assert (result.timeframe, result.symbol) == ("1d", "ETH/USDT")
    assert result.frame["ts"].tolist() == [parse_time(d) for d in
                                           ("2020-12-28", "2020-12-29", "2020-12-30")]
    assert result.frame["volume"].tolist() == [3897001.5, 4261041.716, 10030.264]
    assert any("URL line 1" in n for n in result.report.notes)


def test_binance_klines_iso_text_times() -> None:
    result = load_file(FIXTURES / "binance_klines_iso.csv")
    assert_schema(result.frame, BAR)
    assert (result.timeframe, result.symbol) == ("1m", None)
    start = parse_time("2025-08-01")
    assert result.frame["ts"].tolist() == [start, start + NS_PER_MINUTE, start + 2 * NS_PER_MINUTE]
    assert result.frame.iloc[1].tolist() == [start + NS_PER_MINUTE, 101.0, 101.5, 100.75,
                                             100.875, 0.0]
    assert result.report.count("zero_volume") == 1


def test_binance_klines_ms_states_timeframe_from_close_time() -> None:
    result = load_file(FIXTURES / "binance_klines_ms.csv")
    assert result.timeframe == "4h"
    assert result.frame["ts"].tolist() == [ms(1704067200000), ms(1704081600000)]
    assert result.frame["volume"].tolist() == [1271.68108, 1196.37856]


def test_binance_vision_microseconds() -> None:
    result = load_file(FIXTURES / "binance_vision_us.csv")
    assert result.format == "binance_vision"
    assert result.timeframe == "5m"
    assert result.frame["ts"].tolist() == [1735689600000000000, 1735689900000000000]
    assert result.frame["low"].tolist() == [0.00000949, 0.00000950]


def test_generic_ohlcv_zoneless_text_is_utc() -> None:
    result = load_file(FIXTURES / "ohlcv_generic.csv")
    assert result.timeframe == "1m"
    start = parse_time("2022-01-01T00:00:00Z")
    assert result.frame["ts"].tolist() == [start, start + NS_PER_MINUTE,
                                           start + 3 * NS_PER_MINUTE]
    assert result.frame["close"].tolist() == [46240.0, 46290.0, 46210.0]
    assert result.report.missing_bars == 1


def test_ccxt_ohlcv_json_file() -> None:
    result = load_file(FIXTURES / "ccxt_ohlcv.json")
    assert result.timeframe == "1h"
    assert result.frame.iloc[2].tolist() == [ms(1704074400000), 42613.56, 42800.0, 42500.0,
                                             42700.0, 900.5]


def test_from_ccxt_ohlcv_lists() -> None:
    rows = [[1704067200000, 1.0, 2.0, 0.5, 1.5, 10.0],
            [1704070800000, 1.5, 2.5, 1.0, 2.0, 0.0],
            [1704074400000, 2.0, None, 1.5, 2.5, 3.0]]
    result = from_ccxt_ohlcv(rows, "1h", symbol="BTC/USDT")
    assert_schema(result.frame, BAR)
    assert (result.timeframe, result.symbol, result.format, result.source) == \
        ("1h", "BTC/USDT", "ccxt_ohlcv", None)
    assert result.frame["ts"].tolist() == [ms(1704067200000), ms(1704070800000)]
    assert result.report.issue("missing_value").examples[0]["line"] == 3
    with pytest.raises(DataFormatError, match=r"line 2.*expected a list of 6 values, got 5"):
        from_ccxt_ohlcv([rows[0], rows[1][:5]], "1h")


def test_timeframe_given_must_fit_the_bars() -> None:
    path = FIXTURES / "cdd_spot_1h.csv"
    assert load_file(path, timeframe="1h").timeframe == "1h"
    with pytest.raises(DataError, match="timeframe 1d does not fit"):
        load_file(path, timeframe="1d")
    with pytest.raises(DataError, match="states 4h"):
        load_file(FIXTURES / "binance_klines_ms.csv", timeframe="1h")
    sparse = load_file(path, timeframe="30m")
    assert sparse.timeframe == "30m" and any("sparse" in n for n in sparse.report.notes)


def test_symbol_overrides_what_the_file_says() -> None:
    result = load_file(FIXTURES / "cdd_spot_1h.csv", symbol="BTC/USDT:USDT")
    assert result.symbol == "BTC/USDT:USDT"
    assert any("'BTC/USDT'" in n for n in result.report.notes)
    assert load_file(FIXTURES / "binance_klines_ms.csv", symbol="BTC/USDT").symbol == "BTC/USDT"


# --- trades and quotes --------------------------------------------------------------------

def test_nautilus_trades_buyer_maker_is_a_sell() -> None:
    result = load_file(FIXTURES / "nautilus_trades.csv")
    assert_schema(result.frame, TRADE)
    assert (result.kind, result.timeframe, result.symbol) == (TRADE, None, None)
    frame = result.frame
    assert frame["side"].tolist() == [-1, 1, 1, -1]
    assert frame["trade_id"].tolist() == [553287559, 553287560, 553287561, 553287562]
    # Two trades in the same millisecond keep their file order.
    assert frame["ts"].tolist()[1:3] == [ms(1610064000310)] * 2
    assert frame["price"].tolist()[1:3] == [39439.44, 39439.22]


def test_ccxt_trades_csv() -> None:
    frame = load_file(FIXTURES / "ccxt_trades.csv").frame
    assert_schema(frame, TRADE)
    assert frame.to_dict("list") == {
        "ts": [ms(1675329600138), ms(1675329600214), ms(1675329600228)],
        "price": [1666.8, 1666.79, 1666.8], "size": [26.062, 0.152, 0.25],
        "side": [1, -1, 0], "trade_id": [1206419187, 1206419188, 1206419189]}


@pytest.mark.parametrize("compress", [False, True])
def test_ccxt_trades_json_plain_and_gzip(tmp_path: Path, compress: bool) -> None:
    path = FIXTURES / "ccxt_trades.json"
    if compress:
        path = tmp_path / "XRP_ETH-trades.json.gz"
        with open(FIXTURES / "ccxt_trades.json", "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    result = load_file(path)
    assert result.format == "ccxt_trades_json"
    assert result.frame.to_dict("list") == {
        "ts": [ms(1570752011620), ms(1570752011620), ms(1570752017964)],
        "price": [0.00141342, 0.00141266, 0.001413], "size": [23.0, 54.0, 8.0],
        "side": [-1, -1, 1], "trade_id": [13519807, 13519808, 13519809]}


def test_from_ccxt_trades_dicts() -> None:
    trades = [
        {"timestamp": 1700000000000, "id": "42", "side": "buy", "price": 100.5, "amount": 0.25,
         "symbol": "BTC/USDT", "takerOrMaker": "taker"},
        {"timestamp": 1700000000100, "id": "abc", "side": None, "price": 100.0, "amount": 1.0,
         "symbol": "BTC/USDT"},
    ]
    result = from_ccxt_trades(trades)
    assert result.symbol == "BTC/USDT"
    assert result.frame.to_dict("list") == {
        "ts": [ms(1700000000000), ms(1700000000100)], "price": [100.5, 100.0],
        "size": [0.25, 1.0], "side": [1, 0], "trade_id": [42, -1]}
    assert any("not integers" in n for n in result.report.notes)


def test_hft_ticks_one_result_per_coin() -> None:
    path = FIXTURES / "hft_ticks.csv"
    with pytest.raises(DataFormatError, match=r"several symbols.*BTC, ETH"):
        load_file(path)
    results = {r.symbol: r for r in load_all(path)}
    assert sorted(results) == ["BTC", "ETH"]
    eth = load_file(path, symbol="ETH")
    assert_schema(eth.frame, TRADE)
    assert eth.frame.to_dict("list") == results["ETH"].frame.to_dict("list") == {
        "ts": [ms(1704067200500), ms(1704067202250)], "price": [2300.1, 2300.2],
        "size": [1.5, 2.0], "side": [0, 0], "trade_id": [-1, -1]}
    # Epoch seconds and ISO text in one column.
    assert results["BTC"].frame["ts"].tolist() == [ms(1704067200000), ms(1704067201000)]
    with pytest.raises(DataFormatError, match="'SOL' is not in the file"):
        load_file(path, symbol="SOL")


def test_quotes_csv() -> None:
    result = load_file(FIXTURES / "quotes.csv")
    assert_schema(result.frame, QUOTE)
    assert (result.kind, result.symbol) == (QUOTE, "BTC/USDT")
    assert result.frame.to_dict("list") == {
        "ts": [ms(1610064001076), ms(1610064001157), ms(1610064001157)],
        "bid": [39432.99, 39432.33, 39433.0], "ask": [39433.62, 39433.6, 39433.6],
        "bid_size": [0.0031, 2.0, 1.0], "ask_size": [0.066851, 0.018027, 0.5]}
    assert result.report.issue("duplicate_exact").examples[0]["line"] == 4


# --- real data (../shared/data/real) ------------------------------------------------------

@pytest.fixture
def real() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real data folder {REAL} is absent")
    return REAL


@pytest.mark.real_data
def test_real_cdd_btc_1h(real: Path) -> None:
    result = load_file(real / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv")
    frame, report = result.frame, result.report
    assert_schema(frame, BAR)
    assert (result.timeframe, result.symbol) == ("1h", "BTC/USDT")
    assert report.rows_read == 36062 and len(frame) == 33413 == report.rows_kept
    assert frame["ts"].is_unique
    assert report.count("duplicate_exact") + report.count("duplicate_conflict") == 2649
    assert (report.count("gap"), report.missing_bars) == (8, 16)
    assert report.largest_gap == (parse_time("2017-09-22 20:00"), 4)
    assert report.count("zero_volume") == 117
    assert frame["ts"].iloc[0] == parse_time("2017-08-17 04:00")
    assert frame["ts"].iloc[-1] == parse_time("2021-06-10 00:00")
    assert frame.iloc[0][["open", "high", "close"]].tolist() == [16199.91, 16199.91, 4308.83]
    dup_hour = frame[frame["ts"] == parse_time("2020-11-20 07:00")].iloc[0]
    assert dup_hour[["open", "close", "volume"]].tolist() == [18164.79, 18212.0, 6097.86638]


@pytest.mark.real_data
def test_real_cdd_btc_daily_one_duplicate(real: Path) -> None:
    result = load_file(real / "binance_spot_1h_cdd" / "Binance_BTCUSDT_d.csv")
    assert (result.report.rows_read, len(result.frame), result.timeframe) == (1396, 1395, "1d")
    assert result.report.count("duplicate_conflict") == 1


@pytest.mark.real_data
@pytest.mark.parametrize("name, rows, first, last", [
    ("BTCUSDT_Binance_futures_data_hour.csv", 3599, "2020-08-02 02:00", "2020-12-30 00:00"),
    ("BTCUSDT_Binance_futures_data_day.csv", 480, "2019-09-08", "2020-12-30"),
])
def test_real_cdd_futures_with_url_line(real: Path, name: str, rows: int, first: str,
                                        last: str) -> None:
    result = load_file(real / "binance_futures_1h_cdd" / name)
    assert len(result.frame) == rows == result.report.rows_read
    assert result.frame["ts"].iloc[[0, -1]].tolist() == [parse_time(first), parse_time(last)]
    assert result.report.count("gap") == 0
    assert result.report.count("duplicate_conflict") == 0


@pytest.mark.real_data
def test_real_binance_1m_api_file(real: Path) -> None:
    result = load_file(real / "binance_spot_1m" / "BTCUSDT_1m.csv")
    assert (result.format, result.timeframe, len(result.frame)) == ("binance_klines", "1m", 14401)
    assert result.frame["ts"].iloc[[0, -1]].tolist() == [parse_time("2025-08-01"),
                                                         parse_time("2025-08-11")]
    assert all(log.count == 0 for log in result.report.issues.values())


@pytest.mark.real_data
@pytest.mark.parametrize("day, rows", [("27", 10), ("28", 11)])
def test_real_data_vision(real: Path, day: str, rows: int) -> None:
    result = load_file(real / "binance_klines_datavision" / f"ADABTC-1m-2021-11-{day}.csv")
    assert (result.format, result.timeframe, len(result.frame)) == ("binance_vision", "1m", rows)
    assert result.frame["ts"].iloc[0] == parse_time(f"2021-11-{day}")


@pytest.mark.real_data
def test_real_ftx_perp(real: Path) -> None:
    result = load_file(real / "ftx_perp_1m" / "btc-perp-20211231-20220201_1m.csv")
    assert (result.format, result.timeframe, len(result.frame)) == ("ohlcv_csv", "1m", 45031)
    assert result.frame["ts"].iloc[[0, -1]].tolist() == [parse_time("2021-12-31 23:01"),
                                                         parse_time("2022-02-01 05:31")]
    assert result.report.count("gap") == 0


@pytest.mark.real_data
def test_real_trade_files(real: Path) -> None:
    nautilus = load_file(real / "trades" / "nautilus_btcusdt-trades.csv").frame
    assert len(nautilus) == 2001
    assert (np.diff(nautilus["trade_id"].to_numpy()) == 1).all()
    assert nautilus["ts"].iloc[0] == parse_time("2021-01-08 00:00:00.278")
    assert set(nautilus["side"]) == {-1, 1}

    freqtrade = load_file(real / "trades" / "freqtrade_public_trades_list.csv").frame
    assert len(freqtrade) == 1000
    assert freqtrade["ts"].iloc[[0, -1]].tolist() == [parse_time("2023-02-02 09:20:00.138"),
                                                      parse_time("2023-02-02 09:23:27.493")]

    xrp = load_file(real / "trades" / "freqtrade_XRP_ETH-trades.json.gz")
    assert (xrp.format, len(xrp.frame)) == ("ccxt_trades_json", 12477)
    assert xrp.frame["ts"].iloc[0] // 1_000_000_000 == parse_time("2019-10-11 00:00:11") \
        // 1_000_000_000
    assert xrp.frame["ts"].iloc[-1] // 1_000_000_000 == parse_time("2019-10-13 11:19:28") \
        // 1_000_000_000


@pytest.mark.real_data
def test_real_quotes(real: Path) -> None:
    result = load_file(real / "trades" / "nautilus_btcusdt-quotes.csv")
    assert (result.kind, result.symbol, len(result.frame)) == (QUOTE, "BTC/USDT", 451)
    assert (result.frame["bid"] <= result.frame["ask"]).all()


@pytest.mark.real_data
def test_real_order_books_are_not_importable(real: Path) -> None:
    for path in sorted((real / "binance_orderbook").glob("*.csv")):
        with pytest.raises(DataFormatError, match=path.name):
            detect_format(path)
