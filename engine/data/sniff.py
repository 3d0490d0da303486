"""Reading market-data files and telling their format from the first lines.

``detect_format`` names one of ``FORMAT_KINDS`` (the table of formats is in
``engine.data.importers``); ``read_bytes`` opens plain or gzipped files alike.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

from engine.data.schema import BAR, QUOTE, TRADE
from engine.errors import DataError, DataFormatError

FORMAT_KINDS: dict[str, str] = {
    "cdd": BAR, "binance_klines": BAR, "binance_vision": BAR, "ohlcv_csv": BAR,
    "ccxt_ohlcv_json": BAR, "nautilus_trades": TRADE, "ccxt_trades_csv": TRADE,
    "ccxt_trades_json": TRADE, "hft_ticks": TRADE, "quotes_csv": QUOTE,
}
FORMATS = tuple(FORMAT_KINDS)

# Columns that may hold the time of a row, in order of preference.
TIME_COLUMNS = ("timestamp", "ts", "ts_ms", "ts_event", "time", "datetime", "date",
                "open_time", "unix", "t")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes (all, or the first ``limit``), gunzipped when it is gzip."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, EOFError) as exc:
        raise DataFormatError(f"cannot read file: {exc}", path=str(path)) from None


def read_text(path: Path, limit: int | None = None) -> str:
    """The file as text (UTF-8, a byte-order mark dropped, undecodable bytes replaced)."""
    return read_bytes(path, limit).decode("utf-8-sig", errors="replace")


def _split_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def split_fields(line: str) -> list[str]:
    """The comma-separated fields of one line, stripped of blanks and quotes."""
    return [f.strip().strip("\"'") for f in line.split(",")]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def first_data_line(line: Callable[[int], str], count: int) -> int:
    """Index of the header (or first row) among ``count`` lines read by ``line(i)``: blank
    lines and one leading URL line (CryptoDataDownload's) are skipped."""
    i = 0
    while i < count and not line(i).strip():
        i += 1
    if i < count and line(i).strip().lower().startswith("http"):
        i += 1
    return i


def detect_format(path: str | Path) -> str:
    """Name of the format of a file (a key of ``FORMAT_KINDS``), from its first lines.

    Raises ``DataFormatError`` naming the file and what was seen when no format matches.
    """
    path = Path(path)
    raw = read_bytes(path, 65536)
    if raw.startswith(b"PAR1"):
        raise DataFormatError("unrecognised market-data format: a Parquet file; import CSV "
                              "or JSON, or write Parquet frames with ParquetCatalog.write",
                              path=str(path))
    text = raw.decode("utf-8-sig", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _sniff_json(path, stripped)
    lines = _split_lines(text)
    i = first_data_line(lines.__getitem__, len(lines))
    if i >= len(lines):
        raise DataFormatError("the file is empty", path=str(path))
    fmt = _sniff_csv_header(lines[i])
    if fmt is None:
        raise DataFormatError(
            f"unrecognised market-data format; first line {lines[i][:200]!r}. Known formats: "
            + ", ".join(FORMATS), path=str(path))
    return fmt


def _sniff_json(path: Path, text: str) -> str:
    if re.match(r"\[\s*\{", text) and '"price"' in text[:4096]:
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
    names = split_fields(line)
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
    if {"bid", "ask"} <= have and have & set(TIME_COLUMNS):
        return "quotes_csv"
    if ohlc <= have and have & set(TIME_COLUMNS):
        return "ohlcv_csv"
    return None
