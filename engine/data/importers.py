"""Importers: market-data files and ccxt payloads into the engine's columnar schema.

``load_file`` sniffs a file with ``detect_format`` and dispatches on the format name:

==================  =====  ===============================================================
format              kind   layout
==================  =====  ===============================================================
cdd                 bar    CryptoDataDownload: optional URL line, ``unix,date,symbol,open,
                           high,low,close,Volume <BASE>,Volume <QUOTE>[,tradecount]``
binance_klines      bar    Binance API kline CSV with header ``open_time,open,...,ignore``;
                           times as epoch numbers or ISO text
binance_vision      bar    data.binance.vision kline dump: no header, 12 fields, ms or µs
ohlcv_csv           bar    any CSV with a time column and open/high/low/close/volume
ccxt_ohlcv_json     bar    JSON list of ``[ts_ms, open, high, low, close, volume]`` (freqtrade)
nautilus_trades     trade  ``ts_ms,trade_id,price,quantity,buyer_maker``
ccxt_trades_csv     trade  ccxt/freqtrade ``[,]timestamp,id,type,side,price,amount,cost[,date]``
ccxt_trades_json    trade  JSON list of ``[ts_ms, id, type, side, price, amount, cost]`` or of
                           ccxt ``fetch_trades`` dicts; ``.gz`` accepted for every format
hft_ticks           trade  HFT simulator ticks ``coin,price,volume,timestamp`` (side 0)
quotes_csv          quote  a time column and ``bid,ask,bid_size,ask_size`` (+ ``symbol``)
==================  =====  ===============================================================

Epoch times are read per value by magnitude (s, ms, µs or ns); text times are ISO 8601, and a
time without a zone is UTC. Times outside 1990..2100 count as unparseable. Trade ids that are
not integers become -1 (unknown), as does a missing id; a missing side is 0.

Symbols: a file that names its symbol (CDD ``symbol``, HFT ``coin``, a ``symbol`` column) sets
``ImportResult.symbol``; otherwise it is None. ``symbol=`` selects that symbol from a file
holding several, and otherwise overrides what the file says. ``load_file`` refuses a file with
several symbols unless ``symbol=`` picks one; ``load_all`` returns one result per symbol.

Bad rows: a row with the wrong field count or an unparseable number, time or side raises
``DataFormatError`` naming the file, 1-based line and column; with ``skip_bad=True`` it is
skipped and counted under ``malformed`` in the report. For JSON and in-memory lists, "line" is
the 1-based element number. Everything else (missing values, bad prices, duplicates...) is
handled by the rules in ``engine.data.validate``.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from engine.data.schema import BAR, QUOTE, TRADE
from engine.data.validate import (ImportReport, check_gaps, clean_bars, clean_quotes,
                                  clean_trades, modal_spacing)
from engine.errors import DataError, DataFormatError
from engine.timeframes import NS_PER_SECOND, ns_to_timeframe, parse_time, timeframe_to_ns

FORMAT_KINDS: dict[str, str] = {
    "cdd": BAR, "binance_klines": BAR, "binance_vision": BAR, "ohlcv_csv": BAR,
    "ccxt_ohlcv_json": BAR, "nautilus_trades": TRADE, "ccxt_trades_csv": TRADE,
    "ccxt_trades_json": TRADE, "hft_ticks": TRADE, "quotes_csv": QUOTE,
}
FORMATS = tuple(FORMAT_KINDS)

# Times outside this window are taken as garbage (e.g. "12" would otherwise mean 1970).
PLAUSIBLE_TS = (parse_time("1990-01-01"), parse_time("2100-01-01"))

_NA = frozenset({"", "nan", "NaN", "NAN", "null", "NULL", "Null", "None", "none", "NA", "N/A",
                 "n/a"})
_TIME_COLUMNS = ("timestamp", "ts", "ts_ms", "ts_event", "time", "datetime", "date",
                 "open_time", "unix", "t")
_KLINE_NAMES = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trade_count", "taker_buy_base", "taker_buy_quote", "ignore"]
_SIDES = {"buy": 1, "b": 1, "sell": -1, "s": -1, "1": 1, "-1": -1, "0": 0}
# buyer_maker true: the buyer was the resting order, so the seller was the aggressor (-1).
_BUYER_MAKER_SIDE = {"true": -1, "t": -1, "1": -1, "yes": -1,
                     "false": 1, "f": 1, "0": 1, "no": 1}


@dataclass
class ImportResult:
    """One imported series: ``frame`` has exactly the schema columns and dtypes of ``kind``,
    sorted by ``ts`` (unique for bars; trades and quotes may share a ``ts`` and keep file order).
    ``timeframe`` is set for bars only; ``symbol`` is None when the source does not say it."""

    frame: pd.DataFrame
    kind: str
    timeframe: str | None
    symbol: str | None
    source: str | None
    format: str
    report: ImportReport


# --- reading and sniffing -----------------------------------------------------------------

def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:  # type: ignore[operator]
            return fh.read() if limit is None else fh.read(limit)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"cannot read file: {exc}", path=str(path)) from None


def _read_text(path: Path, limit: int | None = None) -> str:
    return _read_bytes(path, limit).decode("utf-8-sig", errors="replace")


def _split_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _fields(line: str) -> list[str]:
    return [f.strip().strip("\"'") for f in line.split(",")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_data_line(lines: list[str]) -> int:
    """Index of the header (or first row), skipping blank lines and a leading URL line."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].strip().lower().startswith("http"):
        i += 1
    return i


def detect_format(path: str | Path) -> str:
    """Name of the format of a file (a key of ``FORMAT_KINDS``), from its first lines.

    Raises ``DataFormatError`` naming the file and what was seen when no format matches.
    """
    path = Path(path)
    raw = _read_bytes(path, 65536)
    if raw.startswith(b"PAR1"):
        raise DataFormatError("unrecognised market-data format: a Parquet file; import CSV "
                              "or JSON, or write Parquet frames with ParquetCatalog.write",
                              path=str(path))
    text = raw.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _sniff_json(path, stripped)
    lines = _split_lines(text)
    i = _first_data_line(lines)
    if i >= len(lines):
        raise DataFormatError("the file is empty", path=str(path))
    fmt = _sniff_csv_header(lines[i])
    if fmt is None:
        raise DataFormatError(
            f"unrecognised market-data format; first line {lines[i][:200]!r}. Known formats: "
            + ", ".join(FORMATS), path=str(path))
    return fmt


def _sniff_json(path: Path, text: str) -> str:
    if re.match(r"\[\s*\{", text):
        if '"price"' in text[:4096]:
            return "ccxt_trades_json"
    match = re.match(r"\[\s*\[([^\[\]]*)\]", text)
    if match:
        n = len(match.group(1).split(","))
        if n == 6:
            return "ccxt_ohlcv_json"
        if n == 7:
            return "ccxt_trades_json"
    raise DataFormatError(
        f"unrecognised JSON market data; starts {text[:120]!r}: expected a list of 6-value "
        "OHLCV lists, 7-value trade lists, or ccxt trade dicts", path=str(path))


def _sniff_csv_header(line: str) -> str | None:
    names = _fields(line)
    low = [n.lower() for n in names]
    have = set(low)
    ohlc = {"open", "high", "low", "close"}
    if all(_is_number(n) for n in names if n):
        return "binance_vision" if len(names) == 12 and names[0].isdigit() else None
    if ohlc <= have and ("unix" in have or (
            "symbol" in have and any(n.startswith("volume ") for n in low))):
        return "cdd"
    if low[0] == "open_time" and "close_time" in have and ohlc <= have:
        return "binance_klines"
    if {"coin", "price", "volume", "timestamp"} <= have:
        return "hft_ticks"
    if "price" in have and have & {"buyer_maker", "is_buyer_maker"}:
        return "nautilus_trades"
    if {"timestamp", "side", "price", "amount"} <= have:
        return "ccxt_trades_csv"
    if {"bid", "ask"} <= have and have & set(_TIME_COLUMNS):
        return "quotes_csv"
    if ohlc <= have and have & set(_TIME_COLUMNS):
        return "ohlcv_csv"
    return None


# --- vectorized field parsing -------------------------------------------------------------

class _Table:
    """Text fields of a source (one str column per field) with their 1-based line numbers.

    Parsers flag unparseable values; ``resolve`` then raises for the first bad line or, with
    ``skip_bad``, records every bad line in the report and says which rows to keep.
    """

    def __init__(self, source: str, fields: Mapping[int, pd.Series] | pd.DataFrame,
                 lines: np.ndarray, names: list[str], rows_read: int) -> None:
        self.source = source
        self.fields = fields
        self.lines = lines
        self.names = names
        self.rows_read = rows_read
        self._col: dict[str, int] = {}
        for pos, name in enumerate(names):
            self._col.setdefault(name.lower(), pos)
        self._bad: list[pd.DataFrame] = []
        self._clean_cache: dict[int, pd.Series] = {}

    @classmethod
    def from_csv(cls, path: Path, data: bytes, first: int, names: list[str],
                 lines: tuple[np.ndarray, np.ndarray]) -> _Table:
        """Fields of the lines from index ``first`` on; ``lines`` is ``_line_index(data)``."""
        starts, lengths = lines
        # pyarrow numbers rows among non-empty lines only, so map them back to physical lines.
        physical = np.flatnonzero(lengths[first:] > 0) + first + 1
        wrong: list[tuple[int, int]] = []
        blank: list[int] = []

        def invalid(row: Any) -> str:  # called for rows with the wrong field count only
            if row.text.strip():
                wrong.append((row.number, row.actual_columns))
            else:
                blank.append(row.number)
            return "skip"

        keys = [f"c{i}" for i in range(len(names))]
        body = data[starts[first]:] if first < len(starts) else b""
        if len(physical):
            arrow = pcsv.read_csv(
                io.BytesIO(body),
                read_options=pcsv.ReadOptions(column_names=keys, use_threads=False),
                parse_options=pcsv.ParseOptions(quote_char=False, invalid_row_handler=invalid),
                convert_options=pcsv.ConvertOptions(
                    column_types={k: pa.string() for k in keys}, strings_can_be_null=False,
                    quoted_strings_can_be_null=False))
            fields = {i: pd.Series(pd.arrays.ArrowStringArray(arrow.column(k)))
                      for i, k in enumerate(keys)}
        else:
            fields = {i: pd.Series([], dtype="string[pyarrow]") for i in range(len(names))}
        skipped = np.array([n for n, _ in wrong] + blank, dtype=np.int64)
        good = np.delete(physical, skipped - 1)
        if len(good) != len(fields[0]):
            raise DataFormatError(f"cannot map {len(fields[0])} parsed rows onto "
                                  f"{len(good)} lines", path=str(path))
        table = cls(str(path), fields, good, names, len(physical) - len(blank))
        if wrong:
            table._bad.append(pd.DataFrame({
                "line": physical[np.array([n for n, _ in wrong]) - 1], "pos": -1,
                "value": [str(c) for _, c in wrong],
                "template": f"expected {len(names)} fields, got {{value}}"}))
        return table

    @classmethod
    def from_rows(cls, source: str, rows: Sequence[Any], names: list[str]) -> _Table:
        """Rows given as lists (JSON or ccxt); the line number is the element number."""
        lengths = np.fromiter(
            (len(r) if isinstance(r, (list, tuple, np.ndarray)) else -1 for r in rows),
            dtype=np.int64, count=len(rows))
        numbers = np.arange(1, len(rows) + 1, dtype=np.int64)
        good = lengths == len(names)
        kept = [r for r, ok in zip(rows, good) if ok]
        fields = pd.DataFrame(kept, columns=list(range(len(names))), dtype=object).astype(str) \
            if kept else pd.DataFrame({i: pd.Series([], dtype=str) for i in range(len(names))})
        table = cls(source, fields, numbers[good], names, len(rows))
        if (~good).any():
            table._bad.append(pd.DataFrame({
                "line": numbers[~good], "pos": -1, "value": lengths[~good].astype(str),
                "template": f"expected a list of {len(names)} values, got {{value}}"}))
        return table

    @classmethod
    def from_dicts(cls, source: str, rows: Sequence[Any], names: list[str]) -> _Table:
        """Rows given as dicts (ccxt ``fetch_trades``); keys absent from a dict read as NA."""
        is_dict = np.fromiter((isinstance(r, Mapping) for r in rows), dtype=bool,
                              count=len(rows))
        numbers = np.arange(1, len(rows) + 1, dtype=np.int64)
        kept = [r for r, ok in zip(rows, is_dict) if ok]
        frame = pd.DataFrame.from_records(kept) if kept else pd.DataFrame()
        fields = pd.DataFrame({i: (frame[n].astype(object).astype(str) if n in frame
                                   else pd.Series(["None"] * len(frame), dtype=str))
                               for i, n in enumerate(names)})
        table = cls(source, fields, numbers[is_dict], names, len(rows))
        if (~is_dict).any():
            table._bad.append(pd.DataFrame({"line": numbers[~is_dict], "pos": -1, "value": "",
                                            "template": "expected a dict"}))
        return table

    def has(self, name: str) -> bool:
        return name.lower() in self._col

    def pos(self, name: str) -> int:
        return self._col[name.lower()]

    def clean(self, name: str) -> pd.Series:
        pos = self.pos(name)
        if pos not in self._clean_cache:
            self._clean_cache[pos] = self.fields[pos].fillna("").str.strip().str.strip("\"'")
        return self._clean_cache[pos]

    def _flag(self, name: str, mask: np.ndarray, values: pd.Series, template: str) -> None:
        if mask.any():
            self._bad.append(pd.DataFrame({
                "line": self.lines[mask], "pos": self.pos(name),
                "value": values.to_numpy()[mask], "template": template}))

    def number(self, name: str) -> np.ndarray:
        """Float64 values; NaN where the field is NA; unparseable or infinite ones flagged."""
        s = self.clean(name)
        na = s.isin(_NA).to_numpy()
        values = _to_float(s.where(~na) if na.any() else s)
        bad = ~na & ~np.isfinite(values)
        values[bad] = np.nan
        self._flag(name, bad, s, "cannot parse {value!r} as a number")
        return values

    def timestamp(self, name: str, formats: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
        """``(ns, missing, precise)``: int64 ns UTC, a mask of NA fields, and a mask of the
        values written as integer ms or finer (the newer style in mixed CDD files)."""
        s = self.clean(name)
        n = len(s)
        na = s.isin(_NA).to_numpy()
        exact = s.str.fullmatch(r"[+-]?\d{1,18}").to_numpy(dtype=bool) & ~na
        ns = np.zeros(n, dtype=np.int64)
        ok = np.zeros(n, dtype=bool)
        precise = exact.copy()
        if exact.any():
            ints = s[exact].astype("int64").to_numpy()
            ns[exact], ok[exact] = _int_epoch_ns(ints)
            precise[exact] = np.abs(ints) >= 10**11
        rest = np.flatnonzero(~na & ~exact)
        if len(rest):
            floats = pd.to_numeric(s.iloc[rest], errors="coerce").to_numpy(dtype=np.float64)
            numeric = np.isfinite(floats)
            ns[rest[numeric]], ok[rest[numeric]] = _float_epoch_ns(floats[numeric])
            text_at = rest[~numeric]
            if len(text_at):
                ns[text_at], ok[text_at] = _text_ns(s.iloc[text_at], formats)
        bad = ~na & ~ok
        self._flag(name, bad, s, "cannot parse {value!r} as a timestamp (or it is outside "
                                 "1990..2100)")
        return ns, na, precise

    def trade_ids(self, name: str) -> tuple[np.ndarray, int]:
        """Int64 ids, -1 where missing or not an integer; also how many were not integers."""
        s = self.clean(name)
        is_int = s.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
        ids = np.full(len(s), -1, dtype=np.int64)
        if is_int.any():
            ids[is_int] = s[is_int].astype("int64").to_numpy()
        odd = int((~is_int & ~s.isin(_NA).to_numpy()).sum())
        return ids, odd

    def choice(self, name: str, mapping: Mapping[str, Any], missing: Any) -> np.ndarray:
        """Map lower-cased text through ``mapping``; NA gives ``missing``; others are flagged."""
        s = self.clean(name).str.lower()
        na = s.isin(_NA | {x.lower() for x in _NA}).to_numpy()
        mapped = s.map(dict(mapping))
        bad = ~na & mapped.isna().to_numpy()
        self._flag(name, bad, self.clean(name),
                   "cannot parse {value!r}; expected one of " + ", ".join(sorted(mapping)))
        out = mapped.to_numpy(dtype=object)
        out[na | bad] = missing
        return out

    def text(self, name: str) -> np.ndarray:
        return self.clean(name).to_numpy(dtype=object)

    def resolve(self, report: ImportReport, skip_bad: bool) -> np.ndarray:
        """Raise for the first malformed row, or record them all and return the rows to keep."""
        if not self._bad:
            return np.ones(len(self.lines), dtype=bool)
        bad = pd.concat(self._bad, ignore_index=True).sort_values(["line", "pos"], kind="stable")
        bad = bad.drop_duplicates("line").reset_index(drop=True)

        def message(i: int) -> str:
            row = bad.iloc[i]
            return row["template"].format(value=row["value"])

        def column(i: int) -> str | None:
            pos = int(bad["pos"].iloc[i])
            return None if pos < 0 else self.names[pos]

        if not skip_bad:
            raise DataFormatError(message(0) + "; pass skip_bad=True (--skip-bad) to skip "
                                  "malformed rows", path=self.source,
                                  line=int(bad["line"].iloc[0]), column=column(0))
        report.issue("malformed").add(
            bad["line"].to_numpy(), None,
            lambda i: message(i) + (f" (column {column(i)!r})" if column(i) else ""))
        return ~np.isin(self.lines, bad["line"].to_numpy())


def _to_float(s: pd.Series) -> np.ndarray:
    """Float64 values of text; NaN for nulls and for anything unparseable."""
    try:  # fast path: the whole column parses
        arr = pc.cast(pa.array(s, type=pa.string(), from_pandas=True), pa.float64())
        return arr.to_numpy(zero_copy_only=False).copy()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, copy=True)


def _int_epoch_ns(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.abs(v)
    ns = np.zeros_like(v)
    for low, high, scale in ((10**17, None, 1), (10**14, 10**17, 1_000),
                             (10**11, 10**14, 1_000_000), (0, 9_000_000_000, NS_PER_SECOND)):
        m = (a >= low) if high is None else (a >= low) & (a < high)
        ns[m] = v[m] * scale
    ok = (ns >= PLAUSIBLE_TS[0]) & (ns < PLAUSIBLE_TS[1])
    return ns, ok


def _float_epoch_ns(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.abs(f)
    # Round to whole microseconds first: float64 is exact there, not at ns resolution.
    us = np.where(a >= 1e17, f / 1e3,
                  np.where(a >= 1e14, f, np.where(a >= 1e11, f * 1e3, f * 1e6)))
    ok = (us * 1e3 >= PLAUSIBLE_TS[0]) & (us * 1e3 < PLAUSIBLE_TS[1])
    ns = np.zeros(len(f), dtype=np.int64)
    ns[ok] = np.round(us[ok]).astype(np.int64) * 1_000
    return ns, ok


def _text_ns(s: pd.Series, formats: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    parsed = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
    for fmt in formats:
        missing = parsed.isna()
        if missing.any():
            parsed[missing] = pd.to_datetime(s[missing], format=fmt, utc=True, errors="coerce")
    ok = parsed.notna().to_numpy().copy()
    ns = pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
    ok &= (ns >= PLAUSIBLE_TS[0]) & (ns < PLAUSIBLE_TS[1])
    ns[~ok] = 0
    return ns, ok


# --- parsed sources -----------------------------------------------------------------------

@dataclass
class _Parsed:
    """A source parsed into a raw frame (schema columns + ``_line``, optional ``_rank``,
    ``_symbol``, and ``_ts_na``), before the cleaning rules run."""

    kind: str
    raw: pd.DataFrame
    report: ImportReport
    timeframe_ns: int | None = None  # when the format states it
    notes: list[str] = field(default_factory=list)


def _parse(table: _Table, kind: str, report: ImportReport, skip_bad: bool,
           columns: dict[str, Any], ts: tuple[np.ndarray, np.ndarray, np.ndarray],
           symbols: np.ndarray | None = None, rank: np.ndarray | None = None) -> _Parsed:
    raw = pd.DataFrame({"ts": ts[0], **columns, "_line": table.lines, "_ts_na": ts[1]})
    if rank is not None:
        raw["_rank"] = rank
    if symbols is not None:
        raw["_symbol"] = symbols
    report.rows_read = table.rows_read
    keep = table.resolve(report, skip_bad)
    return _Parsed(kind, raw[keep], report)


def _time_column(table: _Table) -> str:
    for name in _TIME_COLUMNS:
        if table.has(name):
            return name
    raise DataFormatError(f"no time column; expected one of {', '.join(_TIME_COLUMNS)}",
                          path=table.source)


def _symbol_column(table: _Table, *names: str) -> np.ndarray | None:
    for name in names:
        if table.has(name):
            return table.text(name)
    return None


def _line_index(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and length (without the line break) of every line of ``data``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(buf)]])
    if starts[-1] == len(buf):  # the file ends with a line break
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13) if len(buf) else ends > 0
    return starts, ends - starts - has_cr


def _csv_table(path: Path, data: bytes, headerless_names: list[str] | None = None,
               notes: list[str] | None = None) -> _Table:
    lines = _line_index(data)
    starts, lengths = lines

    def line(i: int) -> str:
        return data[starts[i]:starts[i] + lengths[i]].decode("utf-8", errors="replace")

    i = 0
    while i < len(starts) and not line(i).strip():
        i += 1
    if i < len(starts) and line(i).strip().lower().startswith("http"):
        if notes is not None:
            notes.append(f"skipped the URL line {i + 1}: {line(i).strip()[:80]!r}")
        i += 1
    if headerless_names is not None:
        return _Table.from_csv(path, data, i, headerless_names, lines)
    if i >= len(starts):
        raise DataFormatError("the file has no header line", path=str(path))
    return _Table.from_csv(path, data, i + 1, _fields(line(i)), lines)


def _bars(table: _Table, report: ImportReport, skip_bad: bool, ts_name: str,
          volume: str = "volume", extra: dict[str, Any] | None = None,
          symbols: np.ndarray | None = None) -> _Parsed:
    columns = {c: table.number(c) for c in ("open", "high", "low", "close")}
    columns["volume"] = table.number(volume)
    columns.update(extra or {})
    return _parse(table, BAR, report, skip_bad, columns, table.timestamp(ts_name),
                  symbols=symbols)


def _load_cdd(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    notes: list[str] = []
    table = _csv_table(path, data, notes=notes)
    volume = next((n for n in table.names if n.lower().startswith("volume")), None)
    if volume is None:
        raise DataFormatError("CDD file without a 'Volume <BASE>' column", path=str(path))
    if table.has("unix"):
        ts = table.timestamp("unix")
    else:  # the oldest CDD exports only have a date, some on a 12-hour clock
        ts = table.timestamp("date", formats=("%Y-%m-%d %I-%p",))
    columns = {c: table.number(c) for c in ("open", "high", "low", "close")}
    columns["volume"] = table.number(volume)
    # Old-style rows (seconds, rounded volumes, no tradecount) lose duplicates to new-style
    # rows (integer ms, tradecount).
    rank = ts[2].astype(np.int64) * 2
    if table.has("tradecount"):
        rank += ~np.isnan(table.number("tradecount"))
    parsed = _parse(table, BAR, report, skip_bad, columns, ts,
                    symbols=_symbol_column(table, "symbol"), rank=rank)
    parsed.notes += notes
    return parsed


def _load_klines(path: Path, data: bytes, report: ImportReport, skip_bad: bool,
                 header: bool) -> _Parsed:
    table = _csv_table(path, data, None if header else _KLINE_NAMES)
    if not table.has("close_time"):
        return _bars(table, report, skip_bad, "open_time")
    close, close_na, _ = table.timestamp("close_time")
    parsed = _bars(table, report, skip_bad, "open_time",
                   extra={"_close": close, "_close_na": close_na})
    raw = parsed.raw
    # close_time = open_time + interval - 1 ms (or 1 µs): round the span to whole seconds.
    span = raw["_close"].to_numpy() - raw["ts"].to_numpy()
    span = span[~raw["_close_na"].to_numpy() & ~raw["_ts_na"].to_numpy() & (span > 0)]
    if len(span):
        span = (span + NS_PER_SECOND // 2) // NS_PER_SECOND * NS_PER_SECOND
        values, counts = np.unique(span, return_counts=True)
        parsed.timeframe_ns = int(values[np.argmax(counts)])
        parsed.notes.append(f"timeframe {ns_to_timeframe(parsed.timeframe_ns)} stated by "
                            "close_time")
    return parsed


def _load_ohlcv_csv(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    table = _csv_table(path, data)
    for name in ("open", "high", "low", "close", "volume"):
        if not table.has(name):
            raise DataFormatError(f"OHLCV file without a {name!r} column", path=str(path))
    return _bars(table, report, skip_bad, _time_column(table),
                 symbols=_symbol_column(table, "symbol", "pair", "market"))


def _trades(table: _Table, report: ImportReport, skip_bad: bool, ts_name: str, price: str,
            size: str, side: np.ndarray, id_name: str | None,
            symbols: np.ndarray | None) -> _Parsed:
    ids = np.full(len(table.lines), -1, dtype=np.int64)
    odd = 0
    if id_name is not None and table.has(id_name):
        ids, odd = table.trade_ids(id_name)
    columns = {"price": table.number(price), "size": table.number(size),
               "side": side.astype(np.int8), "trade_id": ids}
    parsed = _parse(table, TRADE, report, skip_bad, columns, table.timestamp(ts_name),
                    symbols=symbols)
    if odd:
        parsed.notes.append(f"{odd} trade ids are not integers; stored as -1 (unknown)")
    return parsed


def _load_nautilus_trades(path: Path, data: bytes, report: ImportReport,
                          skip_bad: bool) -> _Parsed:
    table = _csv_table(path, data)
    maker = "buyer_maker" if table.has("buyer_maker") else "is_buyer_maker"
    side = table.choice(maker, _BUYER_MAKER_SIDE, 0).astype(np.int8)
    size = next(n for n in ("quantity", "qty", "size", "amount") if table.has(n))
    return _trades(table, report, skip_bad, _time_column(table), "price", size, side,
                   "trade_id", _symbol_column(table, "symbol"))


def _load_ccxt_trades_csv(path: Path, data: bytes, report: ImportReport,
                          skip_bad: bool) -> _Parsed:
    table = _csv_table(path, data)
    side = table.choice("side", _SIDES, 0).astype(np.int8)
    return _trades(table, report, skip_bad, "timestamp", "price", "amount", side, "id",
                   _symbol_column(table, "symbol"))


def _load_hft_ticks(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    table = _csv_table(path, data)
    side = np.zeros(len(table.lines), dtype=np.int8)
    return _trades(table, report, skip_bad, "timestamp", "price", "volume", side, None,
                   table.text("coin"))


def _load_quotes(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    table = _csv_table(path, data)

    def pick(*names: str) -> str:
        for name in names:
            if table.has(name):
                return name
        raise DataFormatError(f"quotes file without a {names[0]!r} column", path=str(path))

    columns = {"bid": table.number("bid"), "ask": table.number("ask"),
               "bid_size": table.number(pick("bid_size", "bid_qty", "bid_amount")),
               "ask_size": table.number(pick("ask_size", "ask_qty", "ask_amount"))}
    return _parse(table, QUOTE, report, skip_bad, columns, table.timestamp(_time_column(table)),
                  symbols=_symbol_column(table, "symbol"))


_TRADE_LIST = ["timestamp", "id", "type", "side", "price", "amount", "cost"]
_OHLCV_LIST = ["timestamp", "open", "high", "low", "close", "volume"]


def _trades_from_records(source: str, rows: Sequence[Any], report: ImportReport,
                         skip_bad: bool) -> _Parsed:
    dicts = len(rows) > 0 and isinstance(rows[0], Mapping)
    table = (_Table.from_dicts(source, rows, _TRADE_LIST + ["symbol"]) if dicts
             else _Table.from_rows(source, rows, _TRADE_LIST))
    side = table.choice("side", _SIDES, 0).astype(np.int8)
    symbols = None
    if dicts:
        symbols = table.text("symbol")
        symbols[np.isin(symbols, list(_NA))] = ""
    return _trades(table, report, skip_bad, "timestamp", "price", "amount", side, "id", symbols)


def _load_json(path: Path, data: bytes) -> list[Any]:
    try:
        rows = json.loads(data)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) \
            from None
    if not isinstance(rows, list):
        raise DataFormatError("expected a JSON list of rows", path=str(path))
    return rows


def _load_trades_json(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    return _trades_from_records(str(path), _load_json(path, data), report, skip_bad)


def _load_ohlcv_json(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> _Parsed:
    table = _Table.from_rows(str(path), _load_json(path, data), _OHLCV_LIST)
    return _bars(table, report, skip_bad, "timestamp")


_Loader = Callable[[Path, str, ImportReport, bool], _Parsed]
_LOADERS: dict[str, _Loader] = {
    "cdd": _load_cdd,
    "binance_klines": lambda p, t, r, s: _load_klines(p, t, r, s, header=True),
    "binance_vision": lambda p, t, r, s: _load_klines(p, t, r, s, header=False),
    "ohlcv_csv": _load_ohlcv_csv,
    "ccxt_ohlcv_json": _load_ohlcv_json,
    "nautilus_trades": _load_nautilus_trades,
    "ccxt_trades_csv": _load_ccxt_trades_csv,
    "ccxt_trades_json": _load_trades_json,
    "hft_ticks": _load_hft_ticks,
    "quotes_csv": _load_quotes,
}


# --- from parsed to results ---------------------------------------------------------------

def _split_symbols(parsed: _Parsed, source: str | None, symbol: str | None,
                   every: bool) -> list[tuple[str | None, pd.DataFrame]]:
    raw = parsed.raw
    if "_symbol" not in raw:
        return [(symbol, raw)]
    names = raw["_symbol"].to_numpy(dtype=object)
    present = sorted({str(s) for s in pd.unique(names) if s})
    if symbol is not None:
        if symbol in present:
            return [(symbol, raw[names == symbol])]
        if len(present) > 1:
            raise DataFormatError(f"symbol {symbol!r} is not in the file; it holds "
                                  + ", ".join(present), path=source)
        if present:
            parsed.notes.append(f"the file says symbol {present[0]!r}; "
                                f"imported as {symbol!r}")
        return [(symbol, raw)]
    if len(present) > 1 and not every:
        raise DataFormatError("the file holds several symbols (" + ", ".join(present)
                              + "); pass symbol= to pick one, or use load_all", path=source)
    if not present:
        return [(None, raw)]
    return [(s, raw[names == s]) for s in present]


def _results(parsed: _Parsed, source: str | None, fmt: str, symbol: str | None,
             timeframe: str | None, every: bool) -> list[ImportResult]:
    given_ns = timeframe_to_ns(timeframe) if timeframe is not None else None
    results = []
    for sym, raw in _split_symbols(parsed, source, symbol, every):
        report = copy.deepcopy(parsed.report)
        report.symbol = sym
        report.notes += parsed.notes
        missing_ts = raw["_ts_na"].to_numpy()
        if missing_ts.any():
            report.issue("missing_value").add(raw["_line"].to_numpy()[missing_ts], None,
                                              "missing timestamp")
            raw = raw[~missing_ts]
        tf = None
        if parsed.kind == BAR:
            frame = clean_bars(raw, report)
            tf_ns = _bar_timeframe(frame, given_ns, parsed.timeframe_ns, report, source)
            check_gaps(frame, tf_ns, report)
            tf = ns_to_timeframe(tf_ns)
        else:
            if given_ns is not None:
                report.notes.append(f"timeframe {timeframe!r} ignored: {parsed.kind}s are ticks")
            frame = (clean_trades if parsed.kind == TRADE else clean_quotes)(raw, report)
        report.timeframe = tf
        results.append(ImportResult(frame, parsed.kind, tf, sym, source, fmt, report))
    return results


def _bar_timeframe(frame: pd.DataFrame, given: int | None, stated: int | None,
                   report: ImportReport, source: str | None) -> int:
    spacing = modal_spacing(frame["ts"].to_numpy())
    if given is not None and stated is not None and given != stated:
        raise DataError(f"{source}: timeframe {ns_to_timeframe(given)} was given but the file "
                        f"states {ns_to_timeframe(stated)}")
    chosen = given if given is not None else stated
    if chosen is None:
        if spacing is None:
            raise DataError(f"{source}: cannot infer the timeframe from {len(frame)} bar(s); "
                            "pass timeframe=")
        report.notes.append(f"timeframe {ns_to_timeframe(spacing)} inferred from the modal "
                            "spacing of timestamps")
        return spacing
    if spacing is not None and spacing % chosen:
        raise DataError(f"{source}: timeframe {ns_to_timeframe(chosen)} does not fit the bars, "
                        f"which are mostly {ns_to_timeframe(spacing)} apart")
    if spacing is not None and spacing != chosen:
        report.notes.append(f"bars are mostly {ns_to_timeframe(spacing)} apart, more than the "
                            f"timeframe {ns_to_timeframe(chosen)}: a sparse series")
    return chosen


# --- public entry points ------------------------------------------------------------------

def _load(path: str | Path, skip_bad: bool, symbol: str | None, timeframe: str | None,
          every: bool) -> list[ImportResult]:
    path = Path(path)
    fmt = detect_format(path)
    data = _read_text(path).encode("utf-8")
    report = ImportReport(source=str(path), format=fmt, kind=FORMAT_KINDS[fmt])
    parsed = _LOADERS[fmt](path, data, report, skip_bad)
    return _results(parsed, str(path), fmt, symbol, timeframe, every)


def load_file(path: str | Path, *, skip_bad: bool = False, symbol: str | None = None,
              timeframe: str | None = None) -> ImportResult:
    """Import one file of any format in ``FORMAT_KINDS`` (detected from its content).

    ``symbol`` picks one symbol from a file holding several, else overrides the file's;
    ``timeframe`` (bars only) must agree with the file's bars. Raises ``DataFormatError`` for an
    unknown format or a malformed row (unless ``skip_bad``), ``DataError`` for data that cannot
    form a series, ``ConfigError`` for an invalid timeframe string.
    """
    return _load(path, skip_bad, symbol, timeframe, every=False)[0]


def load_all(path: str | Path, *, skip_bad: bool = False, symbol: str | None = None,
             timeframe: str | None = None) -> list[ImportResult]:
    """Like ``load_file``, but a file holding several symbols gives one result per symbol."""
    return _load(path, skip_bad, symbol, timeframe, every=True)


def from_ccxt_ohlcv(rows: Sequence[Sequence[Any]], timeframe: str, symbol: str | None = None,
                    *, skip_bad: bool = False) -> ImportResult:
    """Bars from ccxt ``fetch_ohlcv`` output: ``[[ts_ms, open, high, low, close, volume], ...]``."""
    report = ImportReport(source=None, format="ccxt_ohlcv", kind=BAR)
    table = _Table.from_rows("<ccxt ohlcv>", list(rows), _OHLCV_LIST)
    parsed = _bars(table, report, skip_bad, "timestamp")
    return _results(parsed, None, "ccxt_ohlcv", symbol, timeframe, every=False)[0]


def from_ccxt_trades(trades: Sequence[Any], symbol: str | None = None, *,
                     skip_bad: bool = False) -> ImportResult:
    """Trades from ccxt ``fetch_trades`` dicts, or freqtrade's
    ``[timestamp_ms, id, type, side, price, amount, cost]`` lists."""
    report = ImportReport(source=None, format="ccxt_trades", kind=TRADE)
    parsed = _trades_from_records("<ccxt trades>", list(trades), report, skip_bad)
    return _results(parsed, None, "ccxt_trades", symbol, None, every=False)[0]
