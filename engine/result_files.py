"""A result's tables on disk: ``trades`` and ``fills`` as CSV or as Parquet, and read back from
whichever a result folder holds.

CSV (times as ISO 8601 text) is for people and spreadsheets, and what a normal run writes.
A year of trading books millions of fills, and formatting millions of CSV rows takes longer
than the backtest that made them: past ``PARQUET_FILLS_THRESHOLD`` fills, ``auto`` writes
``trades.parquet`` and ``fills.parquet`` instead.

A Parquet file is streamed in row groups of ``PARQUET_ROW_GROUP_ROWS`` rows, each taken from
the table's own column arrays (slices of them are views, not copies), so writing holds one
row group's Arrow arrays beside the table, never a second copy of it, and formats no text.
Times are stored as ``timestamp[ns, tz=UTC]``: the same int64 nanoseconds as in memory, typed so
that pandas, polars, DuckDB or Spark show them as times. :func:`read_table` gives them back as
int64 nanoseconds, from either format, so a table read from a folder equals the one written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.timeframes import format_ns

OUTPUT_FORMATS = ("auto", "csv", "parquet", "both")
# fills past which ``auto`` writes Parquet instead of CSV
PARQUET_FILLS_THRESHOLD = 1_000_000
PARQUET_ROW_GROUP_ROWS = 250_000

TABLES = ("trades", "fills")
# int64-nanosecond columns: ISO 8601 text in CSV, timestamp[ns, UTC] in Parquet
TIME_COLUMNS = {"trades": ("entry_ts", "exit_ts"), "fills": ("ts",)}
TABLE_FILES = tuple(f"{table}.{suffix}" for suffix in ("csv", "parquet") for table in TABLES)

# The Parquet type of each known column (the file's schema does not depend on what one run
# happened to hold: an empty table has the same schema as a full one); any other column's type
# follows its dtype.
_TEXT = ("symbol", "strategy_id", "client_order_id", "side", "liquidity", "direction")
_FLOAT = ("qty", "price", "fee", "slippage_bps", "leaves_qty", "entry_price", "exit_price",
          "pnl_gross", "fees", "pnl", "return_pct")
_INT = ("duration_ns", "n_entries")
# Columns of few distinct values, dictionary-encoded; the rest (order ids, prices, sizes) are
# mostly distinct, and trying a dictionary on them first costs a third of the writing time and
# makes the file bigger.
_FEW_VALUES = ("symbol", "strategy_id", "side", "liquidity", "direction")


def table_files(output_format: str, n_fills: int,
                parquet_threshold: int = PARQUET_FILLS_THRESHOLD) -> list[str]:
    """The table files a result with ``n_fills`` fills writes in ``output_format``:
    ``auto`` is CSV up to ``parquet_threshold`` fills and Parquet past it."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format {output_format!r}: expected one of "
                         f"{', '.join(OUTPUT_FORMATS)}")
    if output_format == "auto":
        output_format = "parquet" if n_fills > parquet_threshold else "csv"
    suffixes = ("csv", "parquet") if output_format == "both" else (output_format,)
    return [f"{table}.{suffix}" for suffix in suffixes for table in TABLES]


def write_csv(frame: pd.DataFrame, path: Path, table: str) -> None:
    """Write ``frame`` (the ``trades`` or ``fills`` table) to ``path`` as CSV, times as ISO 8601
    text."""
    with_iso_times(frame, TIME_COLUMNS[table]).to_csv(path, index=False)


def with_iso_times(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A copy of ``frame`` with its int64-nanosecond ``columns`` as ISO 8601 UTC text."""
    frame = frame.copy()
    for col in columns:
        if col in frame:
            frame[col] = [format_ns(int(v)) if v is not None and not pd.isna(v) else None
                          for v in frame[col].tolist()]
    return frame


def write_parquet(frame: pd.DataFrame, path: Path, table: str, *,
                  row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> None:
    """Write ``frame`` (the ``trades`` or ``fills`` table) to ``path`` as Parquet, one row group
    of ``row_group_rows`` rows at a time."""
    import pyarrow.parquet as pq

    if row_group_rows < 1:
        raise ValueError(f"row_group_rows must be 1 or more, got {row_group_rows}")
    schema = pa.schema([(name, _arrow_type(frame[name], name in TIME_COLUMNS[table]))
                        for name in frame.columns])
    columns = [_values(frame[name]) for name in frame.columns]
    dictionary = [name for name in frame.columns if name in _FEW_VALUES]
    with pq.ParquetWriter(path, schema, compression="zstd",
                          use_dictionary=dictionary) as writer:
        for start in range(0, len(frame), row_group_rows):
            stop = start + row_group_rows
            arrays = [pa.array(values[start:stop], type=field.type)
                      for values, field in zip(columns, schema)]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))


def read_table(folder: str | Path, table: str) -> pd.DataFrame:
    """The ``trades`` or ``fills`` table of the result in ``folder``, from its Parquet file if
    there is one, else from its CSV file; times as int64 nanoseconds in either case.

    A folder never holds one format's tables left over from an earlier run beside another
    format's: writing a result removes the tables it does not write (``BacktestResult.write``),
    so whichever file is there is the one ``result.json``'s ``files`` lists, and this needs not
    parse a ``result.json`` that may hold a million trades to find out."""
    if table not in TABLES:
        raise ValueError(f"table {table!r}: expected one of {', '.join(TABLES)}")
    out = Path(folder)
    if (out / f"{table}.parquet").exists():
        return _read_parquet(out / f"{table}.parquet")
    if (out / f"{table}.csv").exists():
        return _read_csv(out / f"{table}.csv", TIME_COLUMNS[table])
    raise FileNotFoundError(f"{out}: no {table}.parquet or {table}.csv in this result folder")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    data = pq.read_table(path)
    for i, field in enumerate(data.schema):
        if pa.types.is_timestamp(field.type):
            data = data.set_column(i, field.name, data.column(i).cast(pa.int64()))
    return data.to_pandas()


def _read_csv(path: Path, time_columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, **_EXACT_FLOATS)
    for name in time_columns:
        if name in frame and len(frame):
            times = pd.to_datetime(frame[name], utc=True, format="ISO8601")
            frame[name] = times.dt.as_unit("ns").astype("int64")
    return frame


# Floats come back exactly as written (pandas writes their shortest repr): pandas 3 parses them
# exactly by default and deprecates the option that earlier versions need for it.
_EXACT_FLOATS: dict[str, Any] = (
    {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"})


def _values(column: pd.Series) -> Any:
    """The column's values, sliceable without copying: its numpy array (a view), or its
    extension array (pandas' Arrow-backed strings slice without copying too)."""
    return column.to_numpy(copy=False) if isinstance(column.dtype, np.dtype) else column.array


def _arrow_type(column: pd.Series, is_time: bool) -> pa.DataType:
    name = column.name
    if is_time:
        return pa.timestamp("ns", tz="UTC")
    if name in _TEXT:
        return pa.string()
    if name in _FLOAT:
        return pa.float64()
    if name in _INT:
        return pa.int64()
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        return pa.string()
    return pa.from_numpy_dtype(column.dtype)
