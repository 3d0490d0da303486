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

The work is split by idea: ``engine.data.sniff`` reads files and tells the format,
``engine.data.columns`` coerces text fields column by column, ``engine.data.loaders`` holds one
loader per format; this module turns what a loader parsed into cleaned, per-symbol results.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.data.loaders import LOADERS, Parsed, ohlcv_from_rows, trades_from_records
from engine.data.schema import BAR, TRADE
from engine.data.sniff import FORMAT_KINDS, FORMATS, detect_format, read_text
from engine.data.validate import (ISSUES, ImportReport, check_gaps, clean_bars, clean_quotes,
                                  clean_trades, modal_spacing)
from engine.errors import DataError, DataFormatError
from engine.timeframes import ns_to_timeframe, timeframe_to_ns

__all__ = ["FORMATS", "FORMAT_KINDS", "ImportResult", "detect_format", "from_ccxt_ohlcv",
           "from_ccxt_trades", "load_all", "load_file"]


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


# --- from parsed to results ---------------------------------------------------------------

def _split_symbols(parsed: Parsed, source: str | None, symbol: str | None,
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


def _results(parsed: Parsed, source: str | None, fmt: str, symbol: str | None,
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
    if len(frame) == 0:
        if report.rows_read == 0:
            raise DataError(f"{source}: the file has no data rows")
        dropped = "; ".join(f"{log.count} {ISSUES[name][0]}"
                            for name, log in report.issues.items() if log.count)
        raise DataError(f"{source}: none of its {report.rows_read} rows is a usable bar "
                        f"({dropped})")
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
    data = read_text(path).encode("utf-8")
    report = ImportReport(source=str(path), format=fmt, kind=FORMAT_KINDS[fmt])
    parsed = LOADERS[fmt](path, data, report, skip_bad)
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
    parsed = ohlcv_from_rows("<ccxt ohlcv>", list(rows), report, skip_bad)
    return _results(parsed, None, "ccxt_ohlcv", symbol, timeframe, every=False)[0]


def from_ccxt_trades(trades: Sequence[Any], symbol: str | None = None, *,
                     skip_bad: bool = False) -> ImportResult:
    """Trades from ccxt ``fetch_trades`` dicts, or freqtrade's
    ``[timestamp_ms, id, type, side, price, amount, cost]`` lists."""
    report = ImportReport(source=None, format="ccxt_trades", kind=TRADE)
    parsed = trades_from_records("<ccxt trades>", list(trades), report, skip_bad)
    return _results(parsed, None, "ccxt_trades", symbol, None, every=False)[0]
