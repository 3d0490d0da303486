"""Markets shared by the built-in strategy tests: synthetic bars and trades of two symbols
(built once per test session), and a helper to read back the orders a run placed.

The hooks-versus-batch comparisons run on these with a small capital, so market orders fill
in one event and the strategies trade often.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pandas as pd

from engine.backtesting import BacktestEngine
from engine.strategy import Strategy
from engine.synthetic import synthetic_bars, synthetic_trades
from tests.kit.harness import MINUTE_NS, OrderLog, make_engine

SYMBOLS = ("BTC/USDT", "ETH/USDT")
N_BARS = 3000
N_TRADES = 4000
SMALL_CAPITAL = 1_000.0
"""Small enough that an order for the whole allocation fills within one synthetic event."""


@functools.cache
def _bars() -> tuple[pd.DataFrame, ...]:
    return tuple(synthetic_bars(s, seed=11 + i, start="2024-01-01", n_bars=N_BARS)
                 for i, s in enumerate(SYMBOLS))


@functools.cache
def _trades() -> tuple[pd.DataFrame, ...]:
    return tuple(synthetic_trades(s, seed=21 + i, start="2024-01-01", n_trades=N_TRADES)
                 for i, s in enumerate(SYMBOLS))


def two_symbol_bars() -> dict[str, pd.DataFrame]:
    """A few thousand one-minute bars of two symbols (shared; do not modify)."""
    return dict(zip(SYMBOLS, _bars()))


def two_symbol_trades() -> dict[str, pd.DataFrame]:
    """A few thousand trades of two symbols (shared; do not modify)."""
    return dict(zip(SYMBOLS, _trades()))


def two_symbol_quotes() -> dict[str, pd.DataFrame]:
    """Quotes made from the trades: a one-tick spread around each trade price."""
    out = {}
    for symbol, trades in two_symbol_trades().items():
        out[symbol] = pd.DataFrame({"ts": trades["ts"], "bid": trades["price"] - 0.01,
                                    "ask": trades["price"] + 0.01, "bid_size": trades["size"],
                                    "ask_size": trades["size"]})
    return out


def logged_run(cls: type[Strategy], params: Mapping[str, Any], frame: pd.DataFrame,
               kind: str = "bar", batch: bool = False, capital: float = 100_000.0,
               symbol: str = "BTCUSDT", **kwargs: Any) -> tuple[BacktestEngine, OrderLog]:
    """One symbol's run through the hooks (or the batch path), recording every order."""
    engine = make_engine(cls, params, {symbol: frame}, kind, interval_ns=MINUTE_NS,
                         capital=capital, **kwargs)
    log = OrderLog(engine)
    if batch:
        engine.run_batch(chunk_rows=3)
    else:
        engine.run()
    return engine, log


def order_rows(log: OrderLog, frame: pd.DataFrame, kind: str = "bar") -> list[tuple[int, str]]:
    """(row of the event the order was decided on, side) of each order in ``log``."""
    ts = frame["ts"].to_numpy()
    if kind == "bar":
        ts = ts + MINUTE_NS
    rows = {int(t): i for i, t in enumerate(ts)}
    return [(rows[o.ts_event], o.side) for o in log.orders]


def cash_after(engine: BacktestEngine, n_fills: int) -> float:
    """Cash after the first ``n_fills`` fills of a run: initial capital, trades and fees."""
    cash = engine.portfolio.initial_cash
    for fill in engine.fills[:n_fills]:
        sign = 1.0 if fill.side == "BUY" else -1.0
        cash -= sign * fill.last_qty * fill.last_price + fill.fee
    return cash
