"""Columnar layouts of market data, shared by importers, the catalog, synthetic markets and
the backtest loop. Every table is sorted by ``ts`` ascending; ``ts`` is int64 ns UTC.

- bars: ``ts`` is the bar's **open** time; the bar becomes known at ``ts + interval`` (its
  close), which is the ``ts_event`` of the ``Bar`` message built from the row.
- trades: ``side`` is the aggressor: +1 buyer-initiated, -1 seller-initiated, 0 unknown.
- quotes: top of book.
"""

from __future__ import annotations

import numpy as np

BAR = "bar"
TRADE = "trade"
QUOTE = "quote"
KINDS = (BAR, TRADE, QUOTE)

BAR_COLUMNS: dict[str, np.dtype] = {
    "ts": np.dtype("int64"),
    "open": np.dtype("float64"),
    "high": np.dtype("float64"),
    "low": np.dtype("float64"),
    "close": np.dtype("float64"),
    "volume": np.dtype("float64"),
}

TRADE_COLUMNS: dict[str, np.dtype] = {
    "ts": np.dtype("int64"),
    "price": np.dtype("float64"),
    "size": np.dtype("float64"),
    "side": np.dtype("int8"),
    "trade_id": np.dtype("int64"),
}

QUOTE_COLUMNS: dict[str, np.dtype] = {
    "ts": np.dtype("int64"),
    "bid": np.dtype("float64"),
    "ask": np.dtype("float64"),
    "bid_size": np.dtype("float64"),
    "ask_size": np.dtype("float64"),
}

COLUMNS: dict[str, dict[str, np.dtype]] = {BAR: BAR_COLUMNS, TRADE: TRADE_COLUMNS,
                                           QUOTE: QUOTE_COLUMNS}
