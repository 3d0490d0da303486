"""A Parquet catalog of market data: one folder per series, one file per appended batch.

Layout::

    root/<kind>/<venue>/<symbol>/<timeframe or 'tick'>/part-<first_ts>-<last_ts>.parquet

``kind`` is ``bar``, ``trade`` or ``quote``; timestamps in part names are int ns, zero-padded to
19 digits so names sort by time. Venue and symbol are escaped reversibly: every character
outside ``[A-Za-z0-9_-]`` becomes ``%XX`` (``BTC/USDT`` -> ``BTC%2FUSDT``), so ``BTC/USDT``,
``BTC-USDT`` and ``BTC/USDT:USDT`` stay distinct and no name can climb out of the root.
Putting ``kind`` first keeps each kind a self-contained tree that tools can scan on its own.

Parts of a series never overlap, so a range read opens only the parts it needs (by name) and
filters rows inside them with pyarrow. Every part is written to a temporary file and renamed
into place, so a crash never leaves a half-written part. A replace writes one merged part
covering the old parts it touches, then deletes them; a crash between the two leaves old
parts strictly inside the new one's range, which reads ignore and the next write removes.
One writer per series at a time.
"""

from __future__ import annotations

import builtins

import json
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.data.schema import BAR, COLUMNS, KINDS
from engine.errors import ConfigError, DataError, NoDataError
from engine.timeframes import format_ns, ns_to_timeframe, parse_time, timeframe_to_ns

TICK_DIR = "tick"
HISTORY_DIR = "history"   # the market-rule history of recorded sessions (not a kind)
ROW_GROUP_ROWS = 256_000   # rows per Parquet row group: a read skips the groups out of range
LIST_COLUMNS = ["venue", "symbol", "kind", "timeframe", "rows", "first_ts", "last_ts", "parts"]
_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ARROW_SCHEMAS = {kind: pa.schema([(name, pa.from_numpy_dtype(dtype))
                                   for name, dtype in cols.items()])
                  for kind, cols in COLUMNS.items()}


def escape_name(name: str) -> str:
    """A venue or symbol as a safe, reversible folder name (``BTC/USDT`` -> ``BTC%2FUSDT``)."""
    if not name:
        raise ConfigError("venue and symbol must not be empty")
    return "".join(ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in name)


def unescape_name(folder: str) -> str:
    """The venue or symbol a folder name stands for (inverse of ``escape_name``)."""
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  folder.encode()).decode()


@dataclass(frozen=True)
class Part:
    """One Parquet file of a series, with the time range its name states."""

    path: Path
    first_ts: int
    last_ts: int


@dataclass(frozen=True)
class CatalogWrite:
    """What a write stored: the part written, its rows and range, and rows it replaced."""

    path: Path
    rows: int
    first_ts: int
    last_ts: int
    replaced_rows: int = 0


class ParquetCatalog:
    """Market data stored as Parquet under ``root``; see the module docstring for the layout."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # --- paths ----------------------------------------------------------------------------

    def _series_dir(self, venue: str, symbol: str, kind: str, timeframe: str | None) -> Path:
        return (self.root / _check_kind(kind) / escape_name(venue) / escape_name(symbol)
                / _timeframe_dir(kind, timeframe))

    @staticmethod
    def _parts(folder: Path) -> list[Part]:
        """The live parts of a series, oldest first; leftovers of a crashed replace excluded."""
        parts = []
        if folder.is_dir():
            for path in folder.iterdir():
                match = _PART.match(path.name)
                if match:
                    parts.append(Part(path, int(match.group(1)), int(match.group(2))))
        parts.sort(key=lambda p: (p.first_ts, -p.last_ts))
        live, reach = [], -1
        for part in parts:
            if part.last_ts > reach:
                live.append(part)
                reach = part.last_ts
        return live

    @staticmethod
    def _stale(folder: Path, live: list[Part]) -> list[Path]:
        keep = {p.path for p in live}
        return [p for p in folder.iterdir() if _PART.match(p.name) and p not in keep] \
            if folder.is_dir() else []

    # --- write ----------------------------------------------------------------------------

    def write(self, frame: pd.DataFrame, *, venue: str, symbol: str, kind: str,
              timeframe: str | None = None, mode: str = "append") -> CatalogWrite:
        """Store a batch of one series (schema columns of ``kind``, sorted by ``ts``).

        ``mode="append"`` refuses a batch whose time range overlaps stored data (``DataError``
        naming both ranges); ``mode="replace"`` drops the stored rows inside the batch's range
        ``[first ts, last ts]`` and stores the batch in their place.
        """
        if mode not in ("append", "replace"):
            raise ConfigError(f"write mode must be 'append' or 'replace', not {mode!r}")
        folder = self._series_dir(venue, symbol, kind, timeframe)
        label = _label(venue, symbol, kind, timeframe)
        batch = _validated(frame, kind, label)
        ts = batch["ts"].to_numpy()
        first, last = int(ts[0]), int(ts[-1])
        parts = self._parts(folder)
        stale = self._stale(folder, parts)
        touched = [p for p in parts if p.first_ts <= last and p.last_ts >= first]
        replaced = 0
        if touched and mode == "append":
            raise DataError(
                f"{label}: the batch {format_ns(first)} .. {format_ns(last)} overlaps stored "
                f"data {format_ns(touched[0].first_ts)} .. {format_ns(touched[-1].last_ts)} "
                f"({len(touched)} part(s)); pass mode='replace' (--replace) to replace it")
        if touched:
            old = pd.concat([pq.read_table(p.path).to_pandas() for p in touched],
                            ignore_index=True)
            old_ts = old["ts"].to_numpy()
            before, after = old[old_ts < first], old[old_ts > last]
            replaced = len(old) - len(before) - len(after)
            batch = pd.concat([before, batch, after], ignore_index=True)
        meta = {"venue": venue, "symbol": symbol, "kind": kind,
                "timeframe": _timeframe_dir(kind, timeframe) if kind == BAR else None}
        path = _write_part(folder, batch, kind, meta)
        for old_path in [p.path for p in touched] + stale:
            if old_path != path:
                old_path.unlink(missing_ok=True)
        ts = batch["ts"].to_numpy()
        return CatalogWrite(path, len(batch), int(ts[0]), int(ts[-1]), replaced)

    # --- read -----------------------------------------------------------------------------

    def read(self, venue: str, symbol: str, kind: str, timeframe: str | None = None,
             start: int | str | None = None, end: int | str | None = None) -> pd.DataFrame:
        """Rows of one series with ``start <= ts < end`` (int ns, or text for ``parse_time``).

        Raises ``NoDataError`` saying whether the series is absent (and what is stored
        instead) or the range holds no rows (and what range is stored).
        """
        folder = self._series_dir(venue, symbol, kind, timeframe)
        label = _label(venue, symbol, kind, timeframe)
        parts = self._parts(folder)
        if not parts:
            raise NoDataError(self._absent(venue, symbol, kind, timeframe))
        lo, hi = _to_ns(start), _to_ns(end)
        window = f"[{_show(lo)}, {_show(hi)})"
        if lo is not None and hi is not None and lo >= hi:
            raise NoDataError(f"{label}: the range {window} is empty (start >= end)")
        chosen = [p for p in parts if (hi is None or p.first_ts < hi)
                  and (lo is None or p.last_ts >= lo)]
        frame = _read_parts([p.path for p in chosen], kind, lo, hi)
        if not len(frame):
            raise NoDataError(
                f"{label}: no rows in {window}; stored data covers "
                f"{format_ns(parts[0].first_ts)} .. {format_ns(parts[-1].last_ts)}")
        return frame

    def _absent(self, venue: str, symbol: str, kind: str, timeframe: str | None) -> str:
        where = f"in catalog {self.root}"
        table = self.list()
        same_kind = table[table["kind"] == kind]
        on_venue = same_kind[same_kind["venue"] == venue]
        if on_venue.empty:
            venues = sorted(set(same_kind["venue"]))
            return (f"no {kind} data for venue {venue!r} {where}"
                    + (f"; venues with {kind} data: {', '.join(venues)}" if venues else ""))
        of_symbol = on_venue[on_venue["symbol"] == symbol]
        if of_symbol.empty:
            return (f"no {kind} data for symbol {symbol!r} on {venue} {where}; stored symbols: "
                    + ", ".join(sorted(set(on_venue["symbol"]))))
        stored = ", ".join(sorted(str(t) for t in set(of_symbol["timeframe"])))
        return (f"no {_timeframe_dir(kind, timeframe)} {kind} data for {symbol} on {venue} "
                f"{where}; stored timeframes: {stored}")

    # --- market-rule history --------------------------------------------------------------

    def _history_path(self, venue: str, symbol: str) -> Path:
        return self.root / HISTORY_DIR / escape_name(venue) / escape_name(symbol) / \
            "prices.parquet"

    def write_history(self, venue: str, symbol: str, ts: Any, price: Any) -> Path:
        """Keep the prices a live session's market rules were seeded with before its first
        event (``engine.live.stats``): a backtest over the recording reads them back
        (:meth:`read_history`) so its regime and correlation start where the session's did.
        Replaces what was kept for the series; written atomically. Not a series: ``list``
        and ``read`` do not see it."""
        from engine.market_stats import history_arrays

        times, prices = history_arrays(symbol, ts, price)
        frame = pd.DataFrame({"ts": times, "price": prices})
        path = self._history_path(venue, symbol)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, pa.Table.from_pandas(frame, preserve_index=False))
        return path

    def read_history(self, venue: str, symbol: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The market-rule history kept for the series (:meth:`write_history`), or None."""
        from engine.market_stats import history_arrays

        path = self._history_path(venue, symbol)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            return history_arrays(symbol, table.column("ts").to_numpy(),
                                  table.column("price").to_numpy())
        except (OSError, KeyError, pa.ArrowException) as exc:
            raise DataError(f"{path}: unreadable market-rule history ({exc})") from None

    # --- inventory ------------------------------------------------------------------------

    def list(self) -> pd.DataFrame:
        """One row per stored series: venue, symbol, kind, timeframe (None for ticks), rows,
        first_ts, last_ts (int ns) and parts."""
        rows: list[dict[str, Any]] = []
        for kind in KINDS:
            for folder in sorted(self.root.glob(f"{kind}/*/*/*")):
                parts = self._parts(folder)
                if not parts:
                    continue
                venue_dir, symbol_dir = folder.parent.parent.name, folder.parent.name
                rows.append({
                    "venue": unescape_name(venue_dir), "symbol": unescape_name(symbol_dir),
                    "kind": kind, "timeframe": None if folder.name == TICK_DIR else folder.name,
                    "rows": sum(pq.read_metadata(p.path).num_rows for p in parts),
                    "first_ts": parts[0].first_ts, "last_ts": parts[-1].last_ts,
                    "parts": len(parts)})
        table = pd.DataFrame(rows, columns=LIST_COLUMNS)
        table = table.astype({"rows": "int64", "first_ts": "int64", "last_ts": "int64",
                              "parts": "int64"})
        # object dtype keeps None (ticks) as None; a str column would turn it into NaN.
        table["timeframe"] = pd.Series([r["timeframe"] for r in rows], dtype=object)
        return table.sort_values(["venue", "symbol", "kind", "timeframe"],
                                 na_position="first", ignore_index=True)

    def symbols(self, venue: str | None = None, kind: str | None = None,
                timeframe: str | None = None) -> builtins.list[str]:
        """Sorted symbols stored, optionally only on one venue, of one kind or timeframe."""
        table = self.list()
        if venue is not None:
            table = table[table["venue"] == venue]
        if kind is not None:
            table = table[table["kind"] == _check_kind(kind)]
        if timeframe is not None:
            table = table[table["timeframe"] == _timeframe_dir(BAR, timeframe)]
        return sorted(set(table["symbol"]))


# --- helpers ------------------------------------------------------------------------------

def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ConfigError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def _timeframe_dir(kind: str, timeframe: str | None) -> str:
    if kind != BAR:
        if timeframe not in (None, TICK_DIR):
            raise ConfigError(f"{kind}s are ticks and take no timeframe (got {timeframe!r})")
        return TICK_DIR
    if timeframe is None:
        raise ConfigError("bars need a timeframe, e.g. '1h'")
    return ns_to_timeframe(timeframe_to_ns(timeframe))


def _label(venue: str, symbol: str, kind: str, timeframe: str | None) -> str:
    tf = _timeframe_dir(kind, timeframe)
    return f"{venue} {symbol} {kind}" + ("" if tf == TICK_DIR else f" {tf}")


def _to_ns(value: int | str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return parse_time(value)


def _show(ts: int | None) -> str:
    return "..." if ts is None else format_ns(ts)


def _validated(frame: pd.DataFrame, kind: str, label: str) -> pd.DataFrame:
    """The frame in schema order and dtypes, or a DataError saying what is wrong with it."""
    columns = COLUMNS[_check_kind(kind)]
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{label}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    extra = [str(c) for c in frame.columns if c not in columns]
    if missing or extra:
        raise DataError(f"{label}: columns do not match the {kind} schema "
                        f"{list(columns)}; missing {missing}, unexpected {extra}")
    if frame.empty:
        raise DataError(f"{label}: the batch is empty")
    out = {}
    for name, dtype in columns.items():
        values = frame[name].to_numpy()
        ok = (values.dtype == dtype
              or (dtype.kind == "i" and values.dtype.kind in "iu")
              or (dtype.kind == "f" and values.dtype.kind in "fiu"))
        if not ok:
            raise DataError(f"{label}: column {name!r} has dtype {values.dtype}, "
                            f"expected {dtype}")
        cast = values.astype(dtype)
        if dtype.kind == "i" and not np.array_equal(cast, values):
            raise DataError(f"{label}: column {name!r} does not fit {dtype}")
        if dtype.kind == "f" and np.isnan(cast).any():
            at = int(np.flatnonzero(np.isnan(cast))[0])
            raise DataError(f"{label}: column {name!r} is NaN in row {at}")
        out[name] = cast
    ts = out["ts"]
    step = np.diff(ts)
    if (step < 0).any() or (kind == BAR and (step == 0).any()):
        at = int(np.flatnonzero(step < 0 if (step < 0).any() else step == 0)[0]) + 1
        need = "strictly increasing" if kind == BAR else "sorted"
        raise DataError(f"{label}: ts must be {need}; row {at} ({format_ns(int(ts[at]))}) "
                        f"follows {format_ns(int(ts[at - 1]))}")
    if ts[0] < 0:
        raise DataError(f"{label}: negative timestamp {int(ts[0])}")
    return pd.DataFrame(out)


def _read_parts(paths: list[Path], kind: str, lo: int | None, hi: int | None) -> pd.DataFrame:
    """The rows of the parts (in order) with ``lo <= ts < hi``, as a frame over one numpy
    array per column.

    Read row group by row group, each copied into columns allocated once for the whole
    series: the decoder's buffers are the same few megabytes again and again, and the frame
    takes the columns as they are. (Reading whole tables and converting them would allocate
    every byte twice, and on a fresh process touching new memory costs as much as decoding.)
    """
    schema = _ARROW_SCHEMAS[kind]
    names = schema.names
    files = [pq.ParquetFile(path) for path in paths]
    # row groups to read, and how many rows of each could be in range (their ts statistics)
    groups: list[tuple[pq.ParquetFile, int]] = []
    capacity = 0
    for f in files:
        meta = f.metadata
        ts_col = meta.schema.to_arrow_schema().get_field_index("ts")
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(ts_col).statistics
            if stats is not None and stats.has_min_max and (
                    (lo is not None and stats.max < lo) or (hi is not None and stats.min >= hi)):
                continue
            groups.append((f, g))
            capacity += meta.row_group(g).num_rows
    out = {name: np.empty(capacity, dtype=schema.field(name).type.to_pandas_dtype())
           for name in names}
    n = 0
    for f, g in groups:
        table = f.read_row_group(g, columns=names)
        if table.schema.remove_metadata() != schema:
            table = table.select(names).cast(schema)
        ts = table.column("ts").to_numpy()
        keep = None
        if (lo is not None and ts[0] < lo) or (hi is not None and ts[-1] >= hi):
            keep = np.ones(len(ts), dtype=bool)
            if lo is not None:
                keep &= ts >= lo
            if hi is not None:
                keep &= ts < hi
        k = len(ts) if keep is None else int(keep.sum())
        for name in names:
            values = table.column(name).to_numpy()
            out[name][n:n + k] = values if keep is None else values[keep]
        n += k
    return pd.DataFrame({name: out[name][:n] for name in names}, copy=False)


# How a part's columns are encoded. Event times and trade ids rise in small steps: delta
# encoding stores each in a few bits. Sides and sizes repeat: a dictionary pays. Prices and
# the rest are stored plain (a dictionary of prices outgrows its page and falls back to plain
# anyway, after costing the writer the attempt). On the benchmark's synthetic trades a series
# takes 60 % of the bytes of pyarrow's defaults (a dictionary for every column) and reads
# with a quarter less CPU; every Parquet reader reads these encodings.
_DELTA_COLUMNS = ("ts", "trade_id")
_DICTIONARY_COLUMNS = ("side", "size", "bid_size", "ask_size")
_ENCODINGS = {kind: ({name: "DELTA_BINARY_PACKED" for name in schema.names
                      if name in _DELTA_COLUMNS},
                     [name for name in schema.names if name in _DICTIONARY_COLUMNS])
              for kind, schema in _ARROW_SCHEMAS.items()}


def _write_part(folder: Path, frame: pd.DataFrame, kind: str, meta: dict[str, Any]) -> Path:
    """Write a part atomically: a temporary file in the same folder, fsynced, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    ts = frame["ts"].to_numpy()
    path = folder / f"part-{int(ts[0]):019d}-{int(ts[-1]):019d}.parquet"
    schema = _ARROW_SCHEMAS[kind].with_metadata({"raytrader": json.dumps(meta)})
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    delta, dictionary = _ENCODINGS[kind]
    _write_atomically(path, table, compression="zstd", row_group_size=ROW_GROUP_ROWS,
                      use_dictionary=dictionary, column_encoding=delta)
    return path


def _write_atomically(path: Path, table: pa.Table, **options: Any) -> None:
    """Write ``table`` to ``path``: a temporary file in the same folder, fsynced, renamed
    over it, the folder fsynced; a reader sees the old file or the new one, never part."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{uuid.uuid4().hex}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (e.g. Windows); the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
