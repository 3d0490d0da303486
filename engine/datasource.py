"""Resolve a backtest's ``data`` setting to feeds: the synthetic market, a CSV file (format
detected), the Parquet catalog, or frames handed in from Python.

``data`` values:

- ``synthetic`` (bars at ``timeframe``, default 1h) or ``synthetic:trades`` /
  ``synthetic:quotes``: each symbol's market is derived from the seed and the symbol name;
  default range 2024-01-01 for one year; ``synthetic_params`` (a params file, as written by
  ``raytrader synthetic fit``, or a mapping) replaces the built-in market parameters;
- a path to a CSV (or JSON/.json.gz trades) file in any format ``engine.data.importers``
  detects; the file holds one instrument, named by ``symbols``, by the file's symbol column, or
  by its file name (``BTCUSDT-1m-2024-01.csv``, see ``engine.data.symbols``); ``symbols``
  that the file or its name contradicts are refused;
- ``catalog`` or ``catalog:DIR``: bars (or trades) from the Parquet catalog.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.backtesting import Feed
from engine.config import SYNTHETIC, BacktestConfig, canonical_json
from engine.data.resample import resample_bars, trades_to_bars
from engine.data.schema import BAR, TRADE
from engine.errors import ConfigError, NoDataError
from engine.timeframes import format_ns, ns_to_timeframe, parse_time, timeframe_to_ns

if TYPE_CHECKING:
    from engine.data.importers import ImportResult
    from engine.synthetic import SyntheticConfig

DEFAULT_SYNTHETIC_START = "2024-01-01"
DEFAULT_SYNTHETIC_DAYS = 365


@dataclasses.dataclass
class LoadedData:
    """Feeds ready for the engine, with what each import dropped or fixed."""

    feeds: list[Feed]
    source: str
    reports: dict[str, Any]
    # symbol -> (times, prices) from before the data, for the market rules' regime and
    # correlation: what a recorded live session was seeded with (``engine.live.stats``)
    market_history: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the data a run used."""
        out: dict[str, Any] = {"source": self.source, "feeds": []}
        for feed in self.feeds:
            ts = feed.frame["ts"].to_numpy()
            marks = feed.mark_prices()
            priced = np.flatnonzero(np.isfinite(marks) & (marks > 0))
            out["feeds"].append({
                "symbol": feed.symbol, "kind": feed.kind,
                "timeframe": ns_to_timeframe(feed.interval_ns) if feed.interval_ns else None,
                "rows": len(ts), "first": format_ns(int(ts[0])), "last": format_ns(int(ts[-1])),
                # the market's own move over the run (what buying and holding earned)
                "first_price": float(marks[priced[0]]) if len(priced) else None,
                "last_price": float(marks[priced[-1]]) if len(priced) else None,
            })
        if self.reports:
            out["import_reports"] = self.reports
        return out


def load_data(config: BacktestConfig,
              frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None) -> LoadedData:
    """Build the feeds a config asks for (``frames``: in-memory bar/trade tables by symbol)."""
    start = parse_time(config.start) if config.start else None
    end = parse_time(config.end) if config.end else None
    if start is not None and end is not None and end <= start:
        raise NoDataError(f"empty date range: end {config.end} is not after start {config.start}")
    if frames is not None:
        return _from_frames(config, frames, start, end)
    data = config.data
    if data == SYNTHETIC or data.startswith(SYNTHETIC + ":"):
        return _synthetic(config, start, end)
    if data == "catalog" or data.startswith("catalog:"):
        return _catalog(config, start, end)
    return _file(config, Path(data), start, end)


def data_identity(config: BacktestConfig) -> tuple[Any, ...]:
    """What :func:`load_data` reads for ``config`` (without in-memory frames), as a key: two
    configs with equal keys load equal data. It holds every config field the loader reads,
    and the path, size and modification time of every file it may read (the catalog's whole
    folder, a data file or folder), so a file written since changes the key. A process that
    keeps loaded data between runs (the graph's coordinator) reuses it only on an equal key.
    """
    fields = (config.data, config.catalog, config.start, config.end, config.seed,
              config.skip_bad, tuple(config.symbols or ()), config.timeframe, config.venue)
    data = config.data
    if data == SYNTHETIC or data.startswith(SYNTHETIC + ":"):
        params = config.synthetic_params
        if params is None:
            return fields, ()
        if isinstance(params, str):
            return fields, _file_keys([Path(params)])
        return fields, (canonical_json(params),)
    if data == "catalog" or data.startswith("catalog:"):
        where = Path(_catalog_root(config))
    else:
        where = Path(data)
    paths = sorted(where.rglob("*")) if where.is_dir() else [where]
    return fields, (str(where.resolve()),), _file_keys(paths)


def _file_keys(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """(path, size, modification time) of each file; -1s for one that cannot be read."""
    files = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:   # gone, or not there yet: the loader will say so
            files.append((str(path), -1, -1))
            continue
        if not path.is_dir():
            files.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(files)


def _symbols(config: BacktestConfig, default: str) -> tuple[str, ...]:
    return config.symbols if config.symbols else (default,)


def synthetic_config(config: BacktestConfig) -> SyntheticConfig:
    """The synthetic market's parameters of a backtest config (``synthetic_params``)."""
    from engine.synthetic import SyntheticConfig

    params = config.synthetic_params
    if params is None:
        return SyntheticConfig()
    if isinstance(params, str):
        return SyntheticConfig.from_file(params)
    return SyntheticConfig.from_dict(params, source="synthetic_params")


def describe_market(config: BacktestConfig) -> str | None:
    """One line on the synthetic market a config simulates (what its parameters were fitted
    to, where they came from, the seed); None when its data is not synthetic."""
    if not (config.data == SYNTHETIC or config.data.startswith(SYNTHETIC + ":")):
        return None
    params = config.synthetic_params
    what = synthetic_config(config).description or "custom parameters"
    origin = (f"params {params}" if isinstance(params, str)
              else "params given in the config" if params is not None else "built-in defaults")
    return f"synthetic, {what} ({origin}, seed {config.seed})"


def _synthetic(config: BacktestConfig, start: int | None, end: int | None) -> LoadedData:
    from engine.synthetic import SyntheticMarket

    kind = config.data.partition(":")[2] or "bars"
    if kind not in ("bars", "trades", "quotes"):
        raise ConfigError(f"unknown synthetic data kind {kind!r}: use synthetic, "
                          f"synthetic:trades or synthetic:quotes")
    start = start if start is not None else parse_time(DEFAULT_SYNTHETIC_START)
    end = end if end is not None else start + DEFAULT_SYNTHETIC_DAYS * 86_400 * 1_000_000_000
    timeframe = config.timeframe or "1h"
    market_config = synthetic_config(config)
    feeds = []
    for symbol in _symbols(config, "BTC/USDT"):
        market = SyntheticMarket(symbol, seed=config.seed, start=start, end=end,
                                 config=market_config)
        if kind == "bars":
            interval = timeframe_to_ns(timeframe)
            feeds.append(Feed(symbol, BAR, market.bars(timeframe), interval))
        elif kind == "trades":
            feeds.append(Feed(symbol, TRADE, market.trades(), 0))
        else:
            feeds.append(Feed(symbol, "quote", market.quotes(), 0))
    return LoadedData(feeds, config.data, {})


def _file(config: BacktestConfig, path: Path, start: int | None, end: int | None) -> LoadedData:
    from engine.data.importers import load_all

    if not path.exists():
        raise ConfigError(f"data {str(path)!r} is neither 'synthetic', 'catalog' nor an "
                          f"existing file")
    if config.symbols and len(config.symbols) > 1:
        raise ConfigError(f"{path} is backtested one instrument at a time, but "
                          f"{len(config.symbols)} symbols were given: {', '.join(config.symbols)}")
    results = load_all(path, skip_bad=config.skip_bad)
    result, symbol = _file_symbol(path, results, config.symbols[0] if config.symbols else None)
    feed = _shape_feed(symbol, result.kind, result.frame, result.timeframe, config,
                       source=str(path))
    feed = _clip(feed, start, end, source=str(path))
    return LoadedData([feed], str(path), {symbol: result.report.to_dict()})


def _file_symbol(path: Path, results: list[ImportResult],
                 wanted: str | None) -> tuple[ImportResult, str]:
    """The imported series to run and the symbol to run it as: the one ``wanted`` names (which
    neither the file's symbol column nor its name may contradict), else the one the file or its
    name says."""
    from engine.data.symbols import same_symbol, symbol_from_filename

    named = [r.symbol for r in results if r.symbol is not None]
    by_name = symbol_from_filename(path)
    if wanted is not None:
        if named:
            match = [r for r in results if r.symbol == wanted] or [
                r for r in results if r.symbol is not None and same_symbol(r.symbol, wanted)]
            if not match:
                raise ConfigError(f"{path} holds {', '.join(named)}, not {wanted}: symbols "
                                  f"(--symbols) must name the file's instrument")
            return match[0], wanted
        if by_name is not None and not same_symbol(by_name, wanted):
            raise ConfigError(f"{path} is named for {by_name}, not {wanted}: symbols "
                              f"(--symbols) must name the file's instrument")
        return results[0], wanted
    if len(results) > 1:
        raise ConfigError(f"{path} holds several symbols ({', '.join(named)}); choose one with "
                          f"symbols (--symbols on the command line)")
    (result,) = results
    if result.symbol is not None:
        return result, result.symbol
    if by_name is None:
        raise ConfigError(f"{path} does not say which instrument it holds (no symbol column, "
                          f"and a file name such as BTCUSDT-1m-2024-01.csv would): give symbols "
                          f"(--symbols BTC/USDT on the command line)")
    result.report.symbol = by_name
    result.report.notes.append(f"symbol {by_name} read from the file name")
    return result, by_name


def _catalog_root(config: BacktestConfig) -> str:
    # catalog:DIR, else an explicit catalog setting, else $RAYTRADER_CATALOG (as `raytrader
    # data` uses), else ./catalog
    default = str(BacktestConfig.__dataclass_fields__["catalog"].default)
    return (config.data.partition(":")[2]
            or (config.catalog if config.catalog != default else None)
            or os.environ.get("RAYTRADER_CATALOG") or default)


def _catalog_series(config: BacktestConfig) -> dict[str, pd.DataFrame]:
    """Each configured symbol's stored series (catalog listing rows); a symbol with none is a
    ``NoDataError``."""
    from engine.data.catalog import ParquetCatalog

    root = _catalog_root(config)
    if not config.symbols:
        raise ConfigError("a catalog backtest needs symbols (--symbols)")
    listing = ParquetCatalog(root).list()
    out = {}
    for symbol in config.symbols:
        mine = listing[(listing["venue"] == config.venue) & (listing["symbol"] == symbol)] \
            if len(listing) else listing
        if len(mine) == 0:
            raise NoDataError(f"catalog {root} has no data for {symbol!r} on venue "
                              f"{config.venue!r}")
        out[symbol] = mine
    return out


def known_symbols(config: BacktestConfig) -> tuple[str, ...] | None:
    """The symbols a run will have, checked without loading the data (a catalog symbol without
    data raises ``NoDataError``); None when only loading the data can tell."""
    if config.data == SYNTHETIC or config.data.startswith(SYNTHETIC + ":"):
        return _symbols(config, "BTC/USDT")
    if config.data == "catalog" or config.data.startswith("catalog:"):
        return tuple(_catalog_series(config))
    return None


def _catalog(config: BacktestConfig, start: int | None, end: int | None) -> LoadedData:
    from engine.data.catalog import ParquetCatalog

    root = _catalog_root(config)
    catalog = ParquetCatalog(root)

    def read(symbol: str, mine: pd.DataFrame) -> Feed:
        bars = mine[mine["kind"] == BAR]
        if len(bars):
            timeframes = sorted(bars["timeframe"], key=timeframe_to_ns)
            wanted = config.timeframe
            stored = wanted if wanted in timeframes else timeframes[0]
            frame = catalog.read(config.venue, symbol, BAR, stored, start=start, end=end)
            feed = _shape_feed(symbol, BAR, frame, stored, config, source=f"catalog {root}")
        else:
            frame = catalog.read(config.venue, symbol, TRADE, None, start=start, end=end)
            feed = _shape_feed(symbol, TRADE, frame, None, config, source=f"catalog {root}")
        return _clip(feed, start, end, source=f"catalog {root}")

    # The series are read side by side, one thread a core: decoding and copying into new
    # memory run outside the GIL, so two cores read a year of eight symbols' trades in about
    # half the time. Feeds come back in the config's order, and the first symbol (in that
    # order) that fails raises its own error.
    series = list(_catalog_series(config).items())
    with ThreadPoolExecutor(max(1, min(len(series), os.cpu_count() or 1))) as pool:
        feeds = list(pool.map(lambda item: read(*item), series))
    # a recorded session's market-rule history, where it kept one (only the market rules
    # read it, so only they pay for it)
    history = {}
    if config.risk.market_rules:
        for feed in feeds:
            kept = catalog.read_history(config.venue, feed.symbol)
            if kept is not None:
                # before the first event (a bar's is its close; a --start cuts the data)
                before = kept[0] < int(feed.event_times()[0])
                history[feed.symbol] = (kept[0][before], kept[1][before])
    return LoadedData(feeds, f"catalog:{root}", {}, history or None)


def _from_frames(config: BacktestConfig, frames: pd.DataFrame | Mapping[str, pd.DataFrame],
                 start: int | None, end: int | None) -> LoadedData:
    if isinstance(frames, pd.DataFrame):
        frames = {_symbols(config, "BTC/USDT")[0]: frames}
    feeds = []
    for symbol, frame in frames.items():
        if {"open", "high", "low", "close"} <= set(frame.columns):
            kind = BAR
            ts = frame["ts"].to_numpy(dtype=np.int64)
            tf = ns_to_timeframe(int(np.median(np.diff(ts)))) if len(ts) > 1 else None
            tf = config.timeframe if (tf is None and config.timeframe) else tf
            if tf is None:
                raise ConfigError(f"cannot infer the timeframe of {symbol!r} from one bar; "
                                  f"set timeframe")
        elif {"price", "size"} <= set(frame.columns):
            kind, tf = TRADE, None
        else:
            raise ConfigError(f"frame for {symbol!r} has columns {list(frame.columns)}: expected "
                              f"bars (ts, open, high, low, close, volume) or trades (ts, price, "
                              f"size, side, trade_id)")
        feed = _shape_feed(symbol, kind, frame, tf, config, source="frames")
        feeds.append(_clip(feed, start, end, source="frames"))
    return LoadedData(feeds, "frames", {})


def _shape_feed(symbol: str, kind: str, frame: pd.DataFrame, timeframe: str | None,
                config: BacktestConfig, *, source: str) -> Feed:
    frame = frame.reset_index(drop=True)
    if kind == BAR:
        if timeframe is None:
            raise ConfigError(f"{source}: cannot tell the bars' timeframe; pass timeframe")
        have = timeframe_to_ns(timeframe)
        want = timeframe_to_ns(config.timeframe) if config.timeframe else have
        if want != have:
            if want < have:
                raise ConfigError(f"{source} holds {timeframe} bars; cannot make finer "
                                  f"{config.timeframe} bars from them")
            frame = resample_bars(frame, have, want)
        return Feed(symbol, BAR, frame, want)
    if kind == TRADE:
        if "side" not in frame:
            frame = frame.assign(side=np.zeros(len(frame), dtype=np.int8))
        if "trade_id" not in frame:
            frame = frame.assign(trade_id=np.arange(len(frame), dtype=np.int64))
        if config.timeframe:   # a timeframe turns trades into bars for bar strategies
            interval = timeframe_to_ns(config.timeframe)
            return Feed(symbol, BAR, trades_to_bars(frame, interval), interval)
        return Feed(symbol, TRADE, frame, 0)
    return Feed(symbol, kind, frame, 0)


def _clip(feed: Feed, start: int | None, end: int | None, *, source: str) -> Feed:
    ts = feed.frame["ts"].to_numpy(dtype=np.int64)
    if len(ts) == 0:
        raise NoDataError(f"{source} has no rows for {feed.symbol!r}")
    mask = np.ones(len(ts), dtype=bool)
    if start is not None:
        mask &= ts >= start
    if end is not None:
        mask &= ts < end
    if not mask.any():
        raise NoDataError(
            f"{source} has no {feed.symbol!r} data between "
            f"{format_ns(start) if start is not None else 'the beginning'} and "
            f"{format_ns(end) if end is not None else 'the end'}; it covers "
            f"{format_ns(int(ts[0]))} .. {format_ns(int(ts[-1]))}")
    if not mask.all():
        feed = dataclasses.replace(feed, frame=feed.frame[mask].reset_index(drop=True))
    return feed
