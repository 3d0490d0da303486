"""Cleaning rules for imported market data, and the report of everything they dropped or fixed.

The importers parse a file into a *raw* frame: the schema columns (values may be NaN) plus
``_line`` (1-based line in the file, or element number for JSON/lists) and, for bars, ``_rank``
(how precise the source row is; higher wins a duplicate). The ``clean_*`` functions turn it
into a frame with exactly the schema columns, recording every decision in an ``ImportReport``.

Rules (the safe choice everywhere is to drop a row rather than guess a fix):

- a row missing a required value (NaN, empty, ``NULL``) is dropped;
- a price <= 0 is dropped; a negative volume or size, or a trade size of 0, is dropped;
- a bar breaking ``low <= min(open, close) <= max(open, close) <= high`` is dropped, not fixed:
  which of the four prices is wrong cannot be known;
- a quote with ``bid > ask`` (crossed) is dropped; a locked quote (``bid == ask``) is kept;
- a file that runs mostly newest-first is reversed (a note, not an issue); rows that are still
  earlier than a row above them are counted as out of order, then everything is sorted;
- bars: one bar per ``ts``. Of rows sharing a ``ts`` the highest ``_rank`` is kept, then the
  first in the file. Identical rows count as exact duplicates, others as conflicts;
- trades: rows sharing a known ``trade_id`` (>= 0) are duplicates, the first is kept; trades
  and quotes may share a ``ts`` (several events in one millisecond) and keep file order;
- quotes: identical rows (same ``ts`` and values) are exact duplicates;
- bars with zero volume are counted and kept; gaps in a bar series are reported, not filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.data.schema import BAR, BAR_COLUMNS, COLUMNS, QUOTE, TRADE
from engine.timeframes import format_ns

MAX_EXAMPLES = 10

# category -> (what it counts, what was done); the keys are the stable names in to_dict().
ISSUES: dict[str, tuple[str, str]] = {
    "malformed": ("malformed rows (wrong field count, unparseable value)", "skipped"),
    "missing_value": ("rows missing a required value (NaN, empty, NULL)", "dropped"),
    "non_positive_price": ("rows with a price <= 0", "dropped"),
    "bad_size": ("rows with a negative volume/size or a trade size of 0", "dropped"),
    "ohlc_violation": ("bars breaking low <= open, close <= high", "dropped"),
    "crossed_quote": ("quotes with bid > ask", "dropped"),
    "duplicate_exact": ("exact duplicate rows", "dropped"),
    "duplicate_conflict": ("rows sharing a key with different values", "resolved, one kept"),
    "out_of_order": ("rows earlier than a row above them", "sorted"),
    "zero_volume": ("bars with zero volume", "kept"),
    "gap": ("gaps in the bar series", "reported, not filled"),
}

Detail = str | Callable[[int], str] | None
RowDetail = str | Callable[[pd.Series], str] | None   # of a dropped row


@dataclass
class IssueLog:
    """How many rows one rule caught, with the first few as examples (by line)."""

    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, lines: np.ndarray | None, ts: np.ndarray | None,
            detail: Detail = None) -> None:
        """Record rows at ``lines`` / ``ts`` (parallel arrays; one of them may be None).

        ``detail`` is a fixed text or a function of a row's position in the arrays; it is
        called only for the rows kept as examples (the first by line, else by time).
        """
        line_arr = None if lines is None else np.asarray(lines, dtype=np.int64)
        ts_arr = None if ts is None else np.asarray(ts, dtype=np.int64)
        key = line_arr if line_arr is not None else ts_arr
        if key is None or len(key) == 0:
            return
        self.count += len(key)
        for i in np.argsort(key, kind="stable")[:MAX_EXAMPLES]:
            self.examples.append({
                "line": None if line_arr is None else int(line_arr[i]),
                "ts": None if ts_arr is None else int(ts_arr[i]),
                "detail": detail(int(i)) if callable(detail) else detail,
            })
        self.examples.sort(key=lambda e: (e["line"] is None, e["line"] or 0, e["ts"] or 0))
        del self.examples[MAX_EXAMPLES:]


@dataclass
class ImportReport:
    """Everything an import dropped, fixed or noticed, with counts and examples.

    ``rows_read`` counts the data rows in the source (all symbols of a multi-symbol file);
    ``rows_kept`` the rows in the result.
    ``issues`` maps each category of ``ISSUES`` to its log; ``notes`` holds file-level facts
    (reversed order, skipped URL line, how the timeframe was found). For bar series,
    ``missing_bars`` totals the bars absent inside gaps and ``largest_gap`` is
    ``(first missing bar ts, missing bars)``.
    """

    source: str | None
    format: str
    kind: str
    symbol: str | None = None
    timeframe: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    issues: dict[str, IssueLog] = field(default_factory=lambda: {k: IssueLog() for k in ISSUES})
    notes: list[str] = field(default_factory=list)
    missing_bars: int = 0
    largest_gap: tuple[int, int] | None = None

    def issue(self, name: str) -> IssueLog:
        """The log of one category (a key of ``ISSUES``)."""
        return self.issues[name]

    def count(self, name: str) -> int:
        """How many rows (or gaps) one category caught."""
        return self.issues[name].count

    def summary(self) -> str:
        """A few lines for a human: what was read, kept, dropped and why, with examples."""
        what = ", ".join(x for x in (self.format, self.kind, self.timeframe, self.symbol) if x)
        lines = [f"{self.source or '<memory>'} ({what}): {self.rows_read} rows read, "
                 f"{self.rows_kept} kept"]
        for name, (meaning, action) in ISSUES.items():
            log = self.issues[name]
            if not log.count:
                continue
            if name == "gap":
                head = f"  gap: {log.count} gaps, {self.missing_bars} missing bars"
                if self.largest_gap:
                    head += (f"; largest {self.largest_gap[1]} missing bars from "
                             f"{format_ns(self.largest_gap[0])}")
            else:
                head = f"  {name}: {log.count} {meaning} ({action})"
            lines.append(head)
            for ex in log.examples[:3]:
                lines.append(f"    e.g. {_where(ex)}: {ex['detail']}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; timestamps appear both as int ns (``ts``) and ISO text (``time``)."""
        def example(ex: dict[str, Any]) -> dict[str, Any]:
            return {**ex, "time": None if ex["ts"] is None else format_ns(ex["ts"])}

        return {
            "source": self.source, "format": self.format, "kind": self.kind,
            "symbol": self.symbol, "timeframe": self.timeframe,
            "rows_read": self.rows_read, "rows_kept": self.rows_kept,
            "issues": {name: {"count": log.count, "action": ISSUES[name][1],
                              "examples": [example(e) for e in log.examples]}
                       for name, log in self.issues.items()},
            "gaps": {"count": self.issues["gap"].count, "missing_bars": self.missing_bars,
                     "largest": None if self.largest_gap is None else {
                         "start_ts": self.largest_gap[0],
                         "start": format_ns(self.largest_gap[0]),
                         "missing_bars": self.largest_gap[1]}},
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImportReport:
        """The report ``to_dict`` described (as a result's ``import_reports`` hold it)."""
        largest = values["gaps"]["largest"]
        report = cls(source=values["source"], format=values["format"], kind=values["kind"],
                     symbol=values["symbol"], timeframe=values["timeframe"],
                     rows_read=values["rows_read"], rows_kept=values["rows_kept"],
                     notes=list(values["notes"]), missing_bars=values["gaps"]["missing_bars"],
                     largest_gap=None if largest is None else (largest["start_ts"],
                                                               largest["missing_bars"]))
        for name, log in values["issues"].items():
            report.issues[name] = IssueLog(log["count"], [
                {"line": e["line"], "ts": e["ts"], "detail": e["detail"]}
                for e in log["examples"]])
        return report


def _where(ex: dict[str, Any]) -> str:
    parts = []
    if ex["line"] is not None:
        parts.append(f"line {ex['line']}")
    if ex["ts"] is not None:
        parts.append(format_ns(ex["ts"]))
    return " ".join(parts) or "?"


# --- shared steps -------------------------------------------------------------------------

def _drop(raw: pd.DataFrame, mask: np.ndarray, log: IssueLog,
          detail: RowDetail) -> pd.DataFrame:
    if not mask.any():
        return raw
    hit = raw[mask]
    lines = hit["_line"].to_numpy()
    ts = hit["ts"].to_numpy()
    log.add(lines, ts, (lambda i: detail(hit.iloc[i])) if callable(detail) else detail)
    return raw[~mask]


def _show(value: Any) -> str:
    """A value as it would read in the file (numpy scalars as plain numbers)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _row_text(row: pd.Series, cols: list[str]) -> str:
    return ", ".join(f"{c}={_show(row[c])}" for c in cols)


def _drop_missing(raw: pd.DataFrame, cols: list[str], report: ImportReport) -> pd.DataFrame:
    missing = raw[cols].isna().to_numpy().any(axis=1)
    return _drop(raw, missing, report.issue("missing_value"),
                 lambda r: "missing " + ", ".join(c for c in cols if pd.isna(r[c])))


def _orient(raw: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Reverse a mostly newest-first file, then count the rows still out of order."""
    ts = raw["ts"].to_numpy()
    step = np.diff(ts)
    if (step < 0).sum() > (step > 0).sum():
        raw = raw.iloc[::-1]
        ts = ts[::-1]
        report.notes.append("rows are newest-first in the file; read in reverse")
    if len(ts) > 1:
        behind = np.zeros(len(ts), dtype=bool)
        behind[1:] = ts[1:] < np.maximum.accumulate(ts)[:-1]
        if behind.any():
            hit = raw[behind]
            report.issue("out_of_order").add(hit["_line"].to_numpy(), hit["ts"].to_numpy(),
                                             "earlier than a row above it")
    return raw


def _log_duplicates(keyed: pd.DataFrame, dup: np.ndarray, kept_pos: np.ndarray, key: str,
                    value_cols: list[str], report: ImportReport,
                    why: Callable[[pd.Series, pd.Series], str] | None = None) -> None:
    """Log the rows flagged by ``dup`` as exact or conflicting copies of the row kept at
    ``kept_pos`` (positions in ``keyed``, which has a fresh RangeIndex)."""
    values = keyed[value_cols].to_numpy()
    d = np.flatnonzero(dup)
    same = (values[d] == values[kept_pos[d]]).all(axis=1)
    lines, ts = keyed["_line"].to_numpy(), keyed["ts"].to_numpy()
    for mask, name in ((same, "duplicate_exact"), (~same, "duplicate_conflict")):
        sel = d[mask]
        if len(sel) == 0:
            continue

        def detail(i: int, sel: np.ndarray = sel) -> str:
            dropped, kept = keyed.iloc[sel[i]], keyed.iloc[kept_pos[sel[i]]]
            text = f"same {key} as line {int(kept['_line'])}, which was kept"
            if why is not None:
                text += f" ({why(kept, dropped)})"
            diffs = [f"{c} {_show(kept[c])} vs {_show(dropped[c])}" for c in value_cols
                     if kept[c] != dropped[c]]
            return text + ("; differs in " + ", ".join(diffs) if diffs else "")

        report.issue(name).add(lines[sel], ts[sel], detail)


def _first_of_group(keys: list[np.ndarray]) -> np.ndarray:
    """For every row, the position of the first row with the same key values."""
    pos = pd.Series(np.arange(len(keys[0])))
    return pos.groupby(keys, sort=False).transform("min").to_numpy()


def _finish(raw: pd.DataFrame, kind: str, report: ImportReport) -> pd.DataFrame:
    columns = COLUMNS[kind]
    frame = pd.DataFrame({name: raw[name].to_numpy().astype(dtype, copy=False)
                          for name, dtype in columns.items()})
    report.rows_kept = len(frame)
    return frame


# --- bars ---------------------------------------------------------------------------------

def clean_bars(raw: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Drop invalid bars, sort, and keep one bar per ``ts``; see the module rules."""
    prices = ["open", "high", "low", "close"]
    raw = _drop_missing(raw, prices + ["volume"], report)
    o, h, lo, c = (raw[p].to_numpy() for p in prices)
    raw = _drop(raw, (np.minimum(np.minimum(o, h), np.minimum(lo, c)) <= 0),
                report.issue("non_positive_price"), lambda r: _row_text(r, prices))
    raw = _drop(raw, raw["volume"].to_numpy() < 0, report.issue("bad_size"),
                lambda r: _row_text(r, ["volume"]))
    o, h, lo, c = (raw[p].to_numpy() for p in prices)
    bad = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
    raw = _drop(raw, bad, report.issue("ohlc_violation"), lambda r: _row_text(r, prices))
    raw = _orient(raw, report)

    rank = raw["_rank"].to_numpy() if "_rank" in raw else np.zeros(len(raw), dtype=np.int64)
    order = np.lexsort((raw["_line"].to_numpy(), -rank, raw["ts"].to_numpy()))
    raw = raw.iloc[order]
    ts = raw["ts"].to_numpy()
    dup = np.zeros(len(ts), dtype=bool)
    dup[1:] = ts[1:] == ts[:-1]

    def why(kept: pd.Series, dropped: pd.Series) -> str:
        if "_rank" in raw and kept["_rank"] > dropped["_rank"]:
            return "the more precise row"
        return "first in the file"

    if dup.any():
        raw = raw.reset_index(drop=True)
        kept_pos = np.maximum.accumulate(np.where(dup, 0, np.arange(len(dup))))
        _log_duplicates(raw, dup, kept_pos, "ts", list(BAR_COLUMNS)[1:], report, why)
        raw = raw[~dup]
    zero = raw["volume"].to_numpy() == 0
    if zero.any():
        report.issue("zero_volume").add(raw["_line"].to_numpy()[zero], raw["ts"].to_numpy()[zero],
                                        "volume 0")
    return _finish(raw, BAR, report)


def modal_spacing(ts: np.ndarray) -> int | None:
    """The most common step between consecutive sorted unique timestamps (smallest on a tie)."""
    if len(ts) < 2:
        return None
    steps = np.diff(ts)
    steps = steps[steps > 0]
    if len(steps) == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def check_gaps(frame: pd.DataFrame, timeframe_ns: int, report: ImportReport) -> None:
    """Record the gaps in a sorted, unique bar series of the given timeframe."""
    ts = frame["ts"].to_numpy()
    if len(ts) < 2:
        return
    step = np.diff(ts)
    at = np.flatnonzero(step > timeframe_ns)
    if len(at) == 0:
        return
    missing = step[at] // timeframe_ns - 1 + (step[at] % timeframe_ns > 0)
    starts = ts[at] + timeframe_ns

    def detail(i: int) -> str:
        plural = "s" if missing[i] > 1 else ""
        return (f"{int(missing[i])} missing bar{plural} "
                f"(next bar at {format_ns(int(ts[at[i] + 1]))})")

    report.issue("gap").add(None, starts, detail)
    report.missing_bars += int(missing.sum())
    big = int(np.argmax(missing))
    report.largest_gap = (int(starts[big]), int(missing[big]))


# --- trades and quotes --------------------------------------------------------------------

def clean_trades(raw: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Drop invalid trades, sort by ``ts`` (stable), drop repeated trade ids."""
    raw = _drop_missing(raw, ["price", "size"], report)
    raw = _drop(raw, raw["price"].to_numpy() <= 0, report.issue("non_positive_price"),
                lambda r: _row_text(r, ["price"]))
    raw = _drop(raw, raw["size"].to_numpy() <= 0, report.issue("bad_size"),
                lambda r: _row_text(r, ["size"]))
    raw = _orient(raw, report)
    raw = raw.iloc[np.argsort(raw["ts"].to_numpy(), kind="stable")]
    raw = raw.reset_index(drop=True)
    ids = raw["trade_id"].to_numpy()
    known = ids >= 0
    dup = pd.Series(ids).duplicated(keep="first").to_numpy() & known
    if dup.any():
        _log_duplicates(raw, dup, _first_of_group([ids]), "trade_id",
                        ["ts", "price", "size", "side"], report)
        raw = raw[~dup]
    return _finish(raw, TRADE, report)


def clean_quotes(raw: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Drop invalid or crossed quotes, sort by ``ts`` (stable), drop identical repeats."""
    cols = ["bid", "ask", "bid_size", "ask_size"]
    raw = _drop_missing(raw, cols, report)
    raw = _drop(raw, np.minimum(raw["bid"].to_numpy(), raw["ask"].to_numpy()) <= 0,
                report.issue("non_positive_price"), lambda r: _row_text(r, ["bid", "ask"]))
    raw = _drop(raw, np.minimum(raw["bid_size"].to_numpy(), raw["ask_size"].to_numpy()) < 0,
                report.issue("bad_size"), lambda r: _row_text(r, ["bid_size", "ask_size"]))
    raw = _drop(raw, raw["bid"].to_numpy() > raw["ask"].to_numpy(),
                report.issue("crossed_quote"), lambda r: _row_text(r, ["bid", "ask"]))
    raw = _orient(raw, report)
    raw = raw.iloc[np.argsort(raw["ts"].to_numpy(), kind="stable")].reset_index(drop=True)
    dup = raw.duplicated(subset=["ts"] + cols, keep="first").to_numpy()
    if dup.any():
        first = _first_of_group([raw[c].to_numpy() for c in ["ts"] + cols])
        _log_duplicates(raw, dup, first, "ts", cols, report)
        raw = raw[~dup]
    return _finish(raw, QUOTE, report)
