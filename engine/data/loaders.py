"""Per-format loaders: each turns a file's bytes (or in-memory rows) into a :class:`Parsed`
raw frame, the schema columns plus the line of each row, before the cleaning rules of
``engine.data.validate`` run. ``LOADERS`` maps a format name of ``FORMAT_KINDS`` to its loader.

Trade ids that are not integers become -1 (unknown), as does a missing id; a missing side is 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.data.columns import NA_TEXT, Table, csv_table
from engine.data.schema import BAR, QUOTE, TRADE
from engine.data.sniff import TIME_COLUMNS
from engine.data.validate import ImportReport
from engine.errors import DataFormatError
from engine.timeframes import NS_PER_SECOND, ns_to_timeframe

_KLINE_NAMES = ["open_time", "open", "high", "low", "close", "volume", "close_time",
                "quote_volume", "trade_count", "taker_buy_base", "taker_buy_quote", "ignore"]
_SIDES = {"buy": 1, "b": 1, "sell": -1, "s": -1, "1": 1, "-1": -1, "0": 0}
# buyer_maker true: the buyer was the resting order, so the seller was the aggressor (-1).
_BUYER_MAKER_SIDE = {"true": -1, "t": -1, "1": -1, "yes": -1,
                     "false": 1, "f": 1, "0": 1, "no": 1}


@dataclass
class Parsed:
    """A source parsed into a raw frame (schema columns + ``_line``, optional ``_rank``,
    ``_symbol``, and ``_ts_na``), before the cleaning rules run."""

    kind: str
    raw: pd.DataFrame
    report: ImportReport
    timeframe_ns: int | None = None  # when the format states it
    notes: list[str] = field(default_factory=list)


def _parse(table: Table, kind: str, report: ImportReport, skip_bad: bool,
           columns: dict[str, Any], ts: tuple[np.ndarray, np.ndarray, np.ndarray],
           symbols: np.ndarray | None = None, rank: np.ndarray | None = None) -> Parsed:
    raw = pd.DataFrame({"ts": ts[0], **columns, "_line": table.lines, "_ts_na": ts[1]})
    if rank is not None:
        raw["_rank"] = rank
    if symbols is not None:
        raw["_symbol"] = symbols
    report.rows_read = table.rows_read
    keep = table.resolve(report, skip_bad)
    return Parsed(kind, raw[keep], report)


def _time_column(table: Table) -> str:
    for name in TIME_COLUMNS:
        if table.has(name):
            return name
    raise DataFormatError(f"no time column; expected one of {', '.join(TIME_COLUMNS)}",
                          path=table.source)


def _symbol_column(table: Table, *names: str) -> np.ndarray | None:
    for name in names:
        if table.has(name):
            return table.text(name)
    return None


def _bars(table: Table, report: ImportReport, skip_bad: bool,
          ts: tuple[np.ndarray, np.ndarray, np.ndarray], volume: str = "volume",
          extra: dict[str, Any] | None = None, symbols: np.ndarray | None = None,
          rank: np.ndarray | None = None) -> Parsed:
    columns = {c: table.number(c) for c in ("open", "high", "low", "close")}
    columns["volume"] = table.number(volume)
    columns.update(extra or {})
    return _parse(table, BAR, report, skip_bad, columns, ts, symbols=symbols, rank=rank)


def _load_cdd(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    notes: list[str] = []
    table = csv_table(path, data, notes=notes)
    volume = next((n for n in table.names if n.lower().startswith("volume")), None)
    if volume is None:
        raise DataFormatError("CDD file without a 'Volume <BASE>' column", path=str(path))
    if table.has("unix"):
        ts = table.timestamp("unix")
    else:  # the oldest CDD exports only have a date, some on a 12-hour clock
        ts = table.timestamp("date", formats=("%Y-%m-%d %I-%p",))
    # Old-style rows (seconds, rounded volumes, no tradecount) lose duplicates to new-style
    # rows (integer ms, tradecount).
    rank = ts[2].astype(np.int64) * 2
    if table.has("tradecount"):
        rank += ~np.isnan(table.number("tradecount"))
    parsed = _bars(table, report, skip_bad, ts, volume=volume,
                   symbols=_symbol_column(table, "symbol"), rank=rank)
    parsed.notes += notes
    return parsed


def _load_klines(path: Path, data: bytes, report: ImportReport, skip_bad: bool,
                 header: bool) -> Parsed:
    table = csv_table(path, data, None if header else _KLINE_NAMES)
    if not table.has("close_time"):
        return _bars(table, report, skip_bad, table.timestamp("open_time"))
    close, close_na, _ = table.timestamp("close_time")
    parsed = _bars(table, report, skip_bad, table.timestamp("open_time"),
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


def _load_ohlcv_csv(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    table = csv_table(path, data)
    for name in ("open", "high", "low", "close", "volume"):
        if not table.has(name):
            raise DataFormatError(f"OHLCV file without a {name!r} column", path=str(path))
    return _bars(table, report, skip_bad, table.timestamp(_time_column(table)),
                 symbols=_symbol_column(table, "symbol", "pair", "market"))


def _trades(table: Table, report: ImportReport, skip_bad: bool, ts_name: str, price: str,
            size: str, side: np.ndarray, id_name: str | None,
            symbols: np.ndarray | None) -> Parsed:
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
                          skip_bad: bool) -> Parsed:
    table = csv_table(path, data)
    maker = "buyer_maker" if table.has("buyer_maker") else "is_buyer_maker"
    side = table.choice(maker, _BUYER_MAKER_SIDE, 0).astype(np.int8)
    size = next(n for n in ("quantity", "qty", "size", "amount") if table.has(n))
    return _trades(table, report, skip_bad, _time_column(table), "price", size, side,
                   "trade_id", _symbol_column(table, "symbol"))


def _load_ccxt_trades_csv(path: Path, data: bytes, report: ImportReport,
                          skip_bad: bool) -> Parsed:
    table = csv_table(path, data)
    side = table.choice("side", _SIDES, 0).astype(np.int8)
    return _trades(table, report, skip_bad, "timestamp", "price", "amount", side, "id",
                   _symbol_column(table, "symbol"))


def _load_hft_ticks(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    table = csv_table(path, data)
    side = np.zeros(len(table.lines), dtype=np.int8)
    return _trades(table, report, skip_bad, "timestamp", "price", "volume", side, None,
                   table.text("coin"))


def _load_quotes(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    table = csv_table(path, data)

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


def trades_from_records(source: str, rows: Sequence[Any], report: ImportReport,
                        skip_bad: bool) -> Parsed:
    """Trades from ccxt ``fetch_trades`` dicts or ``[ts_ms, id, type, side, price, amount,
    cost]`` lists."""
    dicts = len(rows) > 0 and isinstance(rows[0], Mapping)
    table = (Table.from_dicts(source, rows, _TRADE_LIST + ["symbol"]) if dicts
             else Table.from_rows(source, rows, _TRADE_LIST))
    side = table.choice("side", _SIDES, 0).astype(np.int8)
    symbols = None
    if dicts:
        symbols = table.text("symbol")
        symbols[np.isin(symbols, list(NA_TEXT))] = ""
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


def _load_trades_json(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    return trades_from_records(str(path), _load_json(path, data), report, skip_bad)


def ohlcv_from_rows(source: str, rows: Sequence[Any], report: ImportReport,
                    skip_bad: bool) -> Parsed:
    """Bars from ``[ts_ms, open, high, low, close, volume]`` lists (ccxt, freqtrade JSON)."""
    table = Table.from_rows(source, rows, _OHLCV_LIST)
    return _bars(table, report, skip_bad, table.timestamp("timestamp"))


def _load_ohlcv_json(path: Path, data: bytes, report: ImportReport, skip_bad: bool) -> Parsed:
    return ohlcv_from_rows(str(path), _load_json(path, data), report, skip_bad)


Loader = Callable[[Path, bytes, ImportReport, bool], Parsed]
LOADERS: dict[str, Loader] = {
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
