"""The column toolkit of the importers: a source's text fields as a :class:`Table`, coerced
column by column (vectorized) to numbers, epoch-ns timestamps, trade ids and mapped choices,
with every unparseable field flagged by line so a malformed row is named or skipped.

Epoch times are read per value by magnitude (s, ms, µs or ns); text times are ISO 8601, and a
time without a zone is UTC. Times outside 1990..2100 count as unparseable.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from engine.data.sniff import first_data_line, split_fields
from engine.data.validate import ImportReport
from engine.errors import DataFormatError
from engine.timeframes import NS_PER_SECOND, parse_time

# Times outside this window are taken as garbage (e.g. "12" would otherwise mean 1970).
PLAUSIBLE_TS = (parse_time("1990-01-01"), parse_time("2100-01-01"))

# Field texts read as "no value".
NA_TEXT = frozenset({"", "nan", "NaN", "NAN", "null", "NULL", "Null", "None", "none", "NA", "N/A",
                     "n/a"})


class Table:
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
                 lines: tuple[np.ndarray, np.ndarray]) -> Table:
        """Fields of the lines from index ``first`` on; ``lines`` is ``line_index(data)``."""
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
    def from_rows(cls, source: str, rows: Sequence[Any], names: list[str]) -> Table:
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
    def from_dicts(cls, source: str, rows: Sequence[Any], names: list[str]) -> Table:
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
        na = s.isin(NA_TEXT).to_numpy()
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
        na = s.isin(NA_TEXT).to_numpy()
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
        odd = int((~is_int & ~s.isin(NA_TEXT).to_numpy()).sum())
        return ids, odd

    def choice(self, name: str, mapping: Mapping[str, Any], missing: Any) -> np.ndarray:
        """Map lower-cased text through ``mapping``; NA gives ``missing``; others are flagged."""
        s = self.clean(name).str.lower()
        na = s.isin(NA_TEXT | {x.lower() for x in NA_TEXT}).to_numpy()
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


def line_index(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offset and length (without the line break) of every line of ``data``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(buf)]])
    if starts[-1] == len(buf):  # the file ends with a line break
        starts, ends = starts[:-1], ends[:-1]
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13) if len(buf) else ends > 0
    return starts, ends - starts - has_cr


def csv_table(path: Path, data: bytes, headerless_names: list[str] | None = None,
              notes: list[str] | None = None) -> Table:
    """The table of a CSV's rows after its header line (or of every row, named
    ``headerless_names``); a skipped URL line is noted in ``notes``."""
    lines = line_index(data)
    starts, lengths = lines

    def line(i: int) -> str:
        return data[starts[i]:starts[i] + lengths[i]].decode("utf-8", errors="replace")

    i = first_data_line(line, len(starts))
    if i > 0 and notes is not None and line(i - 1).strip():
        notes.append(f"skipped the URL line {i}: {line(i - 1).strip()[:80]!r}")
    if headerless_names is not None:
        return Table.from_csv(path, data, i, headerless_names, lines)
    if i >= len(starts):
        raise DataFormatError("the file has no header line", path=str(path))
    return Table.from_csv(path, data, i + 1, split_fields(line(i)), lines)

