"""Bad input and the import report: malformed rows, dropped values, duplicates, gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.data.importers import from_ccxt_trades, load_file
from engine.data.validate import ISSUES, MAX_EXAMPLES, ImportReport
from engine.errors import DataFormatError
from engine.timeframes import NS_PER_MINUTE, parse_time

HEADER = "timestamp,open,high,low,close,volume\n"
T0 = parse_time("2022-01-01")


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def bar(minute: int, o: str = "10", h: str = "12", lo: str = "9", c: str = "11",
        v: str = "5") -> str:
    return f"2022-01-01 00:{minute:02d}:00,{o},{h},{lo},{c},{v}\n"


# --- malformed rows -----------------------------------------------------------------------

def test_unparseable_number_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + bar(1) + bar(2, c="11.x") + bar(3))
    with pytest.raises(DataFormatError) as err:
        load_file(path)
    assert (err.value.path, err.value.line, err.value.column) == (str(path), 4, "close")
    assert str(err.value).startswith(f"{path}:line 4 (column 'close'): cannot parse '11.x'")


def test_wrong_field_count_line_counts_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + "\n" + bar(1) + "2022-01-01 00:02:00,10,12,9,11\n")
    with pytest.raises(DataFormatError, match=r"bars.csv:line 5: expected 6 fields, got 5"):
        load_file(path)


def test_unparseable_timestamp(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + "2022-13-45 00:00:00,10,12,9,11,5\n")
    with pytest.raises(DataFormatError) as err:
        load_file(path)
    assert (err.value.line, err.value.column) == (3, "timestamp")
    assert "as a timestamp" in str(err.value)


def test_implausible_epoch_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "ts_ms,trade_id,price,quantity,buyer_maker\n"
                           "1610064000278,1,100.0,1.0,true\n12,2,100.0,1.0,false\n")
    with pytest.raises(DataFormatError, match=r"line 3 .*'12'"):
        load_file(path)


def test_malformed_line_after_url_line(tmp_path: Path) -> None:
    path = write(tmp_path, "https://www.CryptoDataDownload.com\n"
                           "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,"
                           "tradecount\n"
                           "1609286400000,2020-12-30 00:00:00,BTC/USDT,1,2,0.5,1.5,3,4,5\n"
                           "1609200000000,2020-12-29 00:00:00,BTC/USDT,1,2,0.5,oops,3,4,5\n")
    with pytest.raises(DataFormatError) as err:
        load_file(path)
    assert (err.value.line, err.value.column) == (4, "close")


def test_bad_side_and_bad_json_element() -> None:
    with pytest.raises(DataFormatError, match=r"line 1 .*'side'.*'sideways'"):
        from_ccxt_trades([[1700000000000, "1", None, "sideways", 1.0, 1.0, 1.0]])
    with pytest.raises(DataFormatError, match="line 2: expected a list of 7 values, got 3"):
        from_ccxt_trades([[1700000000000, "1", None, "buy", 1.0, 1.0, 1.0], [1, 2, 3]])


def test_skip_bad_skips_and_counts_with_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + "garbage\n" + bar(1, h="x") + bar(2)
                 + "2022-01-01 00:03:00,10,12,9,11,5,7\n")
    result = load_file(path, skip_bad=True)
    assert result.frame["ts"].tolist() == [T0, T0 + 2 * NS_PER_MINUTE]
    malformed = result.report.issue("malformed")
    assert malformed.count == 3
    assert [e["line"] for e in malformed.examples] == [3, 4, 6]
    assert "expected 6 fields, got 1" in malformed.examples[0]["detail"]
    assert "column 'high'" in malformed.examples[1]["detail"]
    assert result.report.rows_read == 5 and result.report.rows_kept == 2


def test_examples_are_capped_but_counts_are_not(tmp_path: Path) -> None:
    rows = "".join(bar(m, c="bad") for m in range(15))
    result = load_file(write(tmp_path, HEADER + bar(59) + rows), skip_bad=True, timeframe="1m")
    log = result.report.issue("malformed")
    assert log.count == 15
    assert [e["line"] for e in log.examples] == list(range(3, 3 + MAX_EXAMPLES))


# --- values dropped or kept ---------------------------------------------------------------

def test_invalid_bars_are_dropped_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER
                 + bar(0)                            # line 2: fine
                 + bar(1, o="0")                     # line 3: non-positive price
                 + bar(2, h="10.5")                  # line 4: high < close
                 + bar(3, lo="10.5")                 # line 5: low > open
                 + bar(4, o="9", c="9", h="8", lo="8.5")  # line 6: high < low, high < open
                 + bar(5, v="")                      # line 7: missing volume
                 + bar(6, c="NaN")                   # line 8: NaN close
                 + bar(7, v="0")                     # line 9: zero volume, kept
                 + bar(8, v="-1")                    # line 10: negative volume
                 + bar(9))                           # line 11: fine
    result = load_file(path)
    report = result.report
    assert result.frame["ts"].tolist() == [T0, T0 + 7 * NS_PER_MINUTE, T0 + 9 * NS_PER_MINUTE]
    lines = {name: [e["line"] for e in log.examples] for name, log in report.issues.items()}
    assert lines["non_positive_price"] == [3]
    assert lines["ohlc_violation"] == [4, 5, 6]
    assert lines["missing_value"] == [7, 8]
    assert lines["bad_size"] == [10]
    assert lines["zero_volume"] == [9]
    assert report.issue("missing_value").examples[0]["detail"] == "missing volume"
    assert report.issue("ohlc_violation").examples[0]["detail"] == \
        "open=10.0, high=10.5, low=9.0, close=11.0"
    assert report.rows_kept == 3


def test_duplicates_exact_and_conflicting_first_in_file_wins(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + bar(1) + bar(1) + bar(2, c="11.5") + bar(2)
                 + bar(3))
    result = load_file(path)
    assert result.frame["close"].tolist() == [11.0, 11.0, 11.5, 11.0]
    report = result.report
    assert [e["line"] for e in report.issue("duplicate_exact").examples] == [4]
    conflict = report.issue("duplicate_conflict").examples
    assert [e["line"] for e in conflict] == [6]
    assert conflict[0]["detail"] == ("same ts as line 5, which was kept (first in the file); "
                                     "differs in close 11.5 vs 11.0")


def test_out_of_order_rows_are_sorted(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + bar(2) + bar(1) + bar(3))
    result = load_file(path)
    assert result.frame["ts"].tolist() == [T0 + k * NS_PER_MINUTE for k in range(4)]
    assert [e["line"] for e in result.report.issue("out_of_order").examples] == [4]
    assert not any("newest-first" in n for n in result.report.notes)


def test_gaps_counted_with_largest(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + bar(1) + bar(3) + bar(8) + bar(9))
    report = load_file(path, timeframe="1m").report
    assert (report.count("gap"), report.missing_bars) == (2, 5)
    assert report.largest_gap == (T0 + 4 * NS_PER_MINUTE, 4)
    assert [e["ts"] for e in report.issue("gap").examples] == [T0 + 2 * NS_PER_MINUTE,
                                                               T0 + 4 * NS_PER_MINUTE]


def test_trade_rules(tmp_path: Path) -> None:
    path = write(tmp_path, "ts_ms,trade_id,price,quantity,buyer_maker\n"
                           "1610064000000,1,100.0,1.0,true\n"
                           "1610064000001,2,-5.0,1.0,true\n"      # non-positive price
                           "1610064000002,3,100.0,0.0,false\n"    # zero size
                           "1610064000003,1,100.0,1.0,true\n"     # same id, other ts
                           "1610064000004,4,101.0,2.0,\n", name="trades.csv")
    result = load_file(path)
    assert result.frame["trade_id"].tolist() == [1, 4]
    assert result.frame["side"].tolist() == [-1, 0]
    report = result.report
    assert report.count("non_positive_price") == report.count("bad_size") == 1
    conflict = report.issue("duplicate_conflict").examples[0]
    assert conflict["line"] == 5 and conflict["detail"].startswith("same trade_id as line 2")


def test_crossed_quotes_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "ts_ms,bid,bid_size,ask,ask_size\n"
                           "1610064000000,100.0,1.0,100.5,2.0\n"
                           "1610064000001,101.0,1.0,100.5,2.0\n"
                           "1610064000002,100.5,1.0,100.5,2.0\n", name="quotes.csv")
    result = load_file(path)
    assert result.frame["bid"].tolist() == [100.0, 100.5]
    assert [e["line"] for e in result.report.issue("crossed_quote").examples] == [3]


# --- report rendering ---------------------------------------------------------------------

def test_report_summary_and_dict(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + bar(0) + bar(1, o="-1") + bar(3) + bar(3))
    report = load_file(path, skip_bad=True, timeframe="1m").report
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data["issues"]) == set(ISSUES)
    assert data["rows_read"] == 4 and data["rows_kept"] == 2
    assert data["issues"]["non_positive_price"]["count"] == 1
    assert data["issues"]["non_positive_price"]["examples"][0]["time"] == "2022-01-01T00:01:00Z"
    assert data["gaps"] == {"count": 1, "missing_bars": 2, "largest": {
        "start_ts": T0 + NS_PER_MINUTE, "start": "2022-01-01T00:01:00Z", "missing_bars": 2}}
    text = report.summary()
    assert text.splitlines()[0] == f"{path} (ohlcv_csv, bar, 1m): 4 rows read, 2 kept"
    assert "non_positive_price: 1 rows with a price <= 0 (dropped)" in text
    assert "duplicate_exact: 1" in text and "gap: 1 gaps, 2 missing bars" in text


def test_report_from_its_dict_reads_the_same(tmp_path: Path) -> None:
    # what a result's import_reports hold (after a trip through JSON) gives back the report
    path = write(tmp_path, HEADER + bar(3) + bar(0) + bar(1, o="-1") + bar(1, v="nan") + bar(4)
                 + bar(4, c="11.5") + bar(9))
    report = load_file(path).report
    assert report.largest_gap is not None and report.notes    # the inferred timeframe
    assert sum(1 for log in report.issues.values() if log.count) >= 4
    data = json.loads(json.dumps(report.to_dict()))
    again = ImportReport.from_dict(data)
    assert again.to_dict() == report.to_dict()
    assert again.summary() == report.summary()
