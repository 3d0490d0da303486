"""The Python entry point for backtests::

    import engine
    result = engine.backtest("sma_cross", {"fast": 12, "slow": 40}, data="synthetic",
                             symbols=["BTC/USDT", "ETH/USDT"], capital=50_000, seed=7)
    result.trades, result.equity, result.metrics

``backtest`` takes a strategy (built-in name, ``module:Class`` or a class), its parameters,
the data, capital, costs and seed; ``run_config`` runs a :class:`BacktestConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.backtesting import BacktestEngine, Feed
from engine.config import BacktestConfig
from engine.datasource import LoadedData, load_data
from engine.errors import ConfigError
from engine.fill_log import FILL_COLUMNS, FillLog
from engine.messages import OrderDenied, RiskEvent
from engine.metrics import MetricsConfig, compute_metrics
from engine.plan import PairPlan
from engine.result import BacktestResult
from engine.sizing import SizingPolicy
from engine.strategy import Strategy, load_strategy

_TRADE_COLUMNS = ["symbol", "strategy_id", "direction", "entry_ts", "exit_ts", "duration_ns",
                  "qty", "entry_price", "exit_price", "pnl_gross", "fees", "pnl", "return_pct",
                  "n_entries"]


def backtest(strategy: str | type[Strategy] = "sma_cross",
             params: Mapping[str, Any] | None = None, *,
             data: str | pd.DataFrame | Mapping[str, pd.DataFrame] = "synthetic",
             progress: Callable[[int, int], None] | None = None, batch: bool = False,
             **settings: Any) -> BacktestResult:
    """Backtest ``strategy`` with ``params`` on ``data``, through the strategies' per-event
    hooks, or with ``batch`` through their batch paths where they have one (same result).

    ``settings`` are config keys (:meth:`BacktestConfig.keys`): ``symbols``, ``start``, ``end``,
    ``timeframe``, ``capital``, ``seed``, ``maker_fee_bps``, ``taker_fee_bps``,
    ``slippage_model``, ``slippage_bps``, ``latency_ms``, ``max_volume_share``, ... ;
    ``fee_bps`` sets both fee rates.
    """
    config, strategy_class, frames = backtest_config(strategy, params, data=data, **settings)
    return run_config(config, strategy_class=strategy_class, frames=frames, progress=progress,
                      batch=batch)


def backtest_config(strategy: str | type[Strategy] = "sma_cross",
                    params: Mapping[str, Any] | None = None, *, data: Any = "synthetic",
                    **settings: Any) -> tuple[BacktestConfig, type[Strategy] | None, Any]:
    """The config of a :func:`backtest` call, the strategy class when one was given (else
    None), and the data frames when data was given as frames (else None)."""
    strategy_class = None
    if isinstance(strategy, type):
        strategy_class = strategy
        strategy = f"{strategy.__module__}:{strategy.__qualname__}"
    frames = None
    if not isinstance(data, str):
        frames, data = data, "frames"
    config = BacktestConfig.from_dict({"strategy": strategy, "params": dict(params or {}),
                                       "data": data, **settings})
    return config, strategy_class, frames


def plan_pairs(config: BacktestConfig, symbols: list[str],
               classes: Mapping[str, type[Strategy]] | None = None) -> list[PairPlan]:
    """Every (symbol, strategy) pair in run order: symbols as the data lists them, then the
    strategies as configured. Ids are ``<name>:<symbol>``, or ``<name>#<k>:<symbol>`` when a
    strategy runs with several parameter sets. Parameters are validated here."""
    entries = config.strategy_entries()
    resolved = []
    for entry in entries:
        ref = entry["strategy"]
        cls = _strategy_class(ref, classes)
        params = cls.Params.create(entry["params"], source=f"strategy {ref!r}")
        policy = SizingPolicy.from_value(entry.get("sizing") or config.sizing)
        resolved.append((ref, cls, params, policy if policy.active else None))
    names = [cls.name for _, cls, _, _ in resolved]
    plans = []
    for symbol in symbols:
        seen: dict[str, int] = {}
        for ref, cls, params, sizing in resolved:
            k = seen[cls.name] = seen.get(cls.name, 0) + 1
            name = cls.name if names.count(cls.name) == 1 else f"{cls.name}#{k}"
            plans.append(PairPlan(f"{name}:{symbol}", symbol, ref, params, sizing))
    return plans


def run_config(config: BacktestConfig, *, strategy_class: type[Strategy] | None = None,
               frames: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
               progress: Callable[[int, int], None] | None = None,
               batch: bool = False) -> BacktestResult:
    """Run one backtest config in this process: per-event hooks, or with ``batch`` the
    strategies' batch paths where they have one (same result, faster)."""
    classes = {config.strategy: strategy_class} if strategy_class is not None else None
    # Validate before loading data, and record every parameter, typed and with its default,
    # so the result (and its config hash) says exactly what ran.
    config = complete_params(config, classes)
    loaded = load_data(config, frames)
    plans = plan_pairs(config, [f.symbol for f in loaded.feeds], classes)
    engine = build_engine(config, loaded.feeds, plans, classes,
                          market_history=loaded.market_history)
    if batch:
        engine.run_batch(progress)
    else:
        engine.run(progress)
    return assemble_result(config, engine, loaded)


def build_engine(config: BacktestConfig, feeds: Iterable[Feed], plans: Iterable[PairPlan],
                 classes: Mapping[str, type[Strategy]] | None = None, *,
                 market_history: dict[str, Any] | None = None) -> BacktestEngine:
    """The engine of one run: ``feeds``, then one strategy per planned (symbol, strategy) pair,
    with the config's capital, venue and risk limits. The single-process run and the
    execution actor both build theirs here. ``classes`` resolves strategy references that are
    not importable names (a class handed to :func:`backtest`); ``market_history`` seeds the
    market rules' regime and correlation with prices from before the data (a recorded live
    session's, kept in its catalog)."""
    engine = BacktestEngine(capital=config.capital, venue_config=config.execution,
                            risk_limits=config.risk)
    engine.market_history = market_history
    for feed in feeds:
        engine.add_feed(feed)
    add_strategies(engine, plans, classes)
    return engine


def add_strategies(engine: BacktestEngine, plans: Iterable[PairPlan],
                   classes: Mapping[str, type[Strategy]] | None = None) -> None:
    """One strategy per planned (symbol, strategy) pair, with its sizing policy."""
    for plan in plans:
        cls = _strategy_class(plan.strategy_ref, classes)
        ctx = engine.add_strategy(cls(plan.params), plan.symbol, plan.strategy_id)
        ctx.sizing = plan.sizing


def complete_params(config: BacktestConfig,
                    classes: Mapping[str, type[Strategy]] | None = None) -> BacktestConfig:
    """The config with every strategy's parameters validated, typed and complete."""
    entries = []
    for entry in config.strategy_entries():
        ref = entry["strategy"]
        cls = _strategy_class(ref, classes)
        params = cls.Params.create(entry["params"], source=f"strategy {ref!r}")
        entries.append({"strategy": ref, "params": params.to_dict(),
                        **({"sizing": entry["sizing"]} if "sizing" in entry else {})})
    if config.strategies is None:
        return config.replace(params=entries[0]["params"])
    return config.replace(strategies=tuple(entries))


def _strategy_class(ref: str, classes: Mapping[str, type[Strategy]] | None) -> type[Strategy]:
    """The class a strategy reference names: one handed in, else a built-in or import."""
    return (classes or {}).get(ref) or load_strategy(ref)


def assemble_result(config: BacktestConfig, engine: BacktestEngine,
                    loaded: LoadedData) -> BacktestResult:
    """Turn a finished engine's state into a :class:`BacktestResult`."""
    fills = _fills_frame(engine.fills)
    trades = pd.DataFrame(engine.portfolio.trades, columns=_TRADE_COLUMNS)
    # The curve starts with the capital at the first event's opening time.
    first_open = min(int(f.frame["ts"].iloc[0]) for f in loaded.feeds)
    curve = engine.equity_curve(start_ts=first_open, interval_ns=config.equity_interval_ns())
    # what the account carries at each point: margin in use and leverage (gross / equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve["leverage"] = np.where(curve["equity"] > 0,
                                     curve["gross_exposure"] / curve["equity"], 0.0)
    curve["margin_used"] = (curve["gross_exposure"] / config.risk.max_leverage
                            if config.risk.account == "margin" else 0.0)
    index = pd.to_datetime(curve["ts"].to_numpy(), unit="ns", utc=True)
    equity = pd.Series(curve["equity"].to_numpy(), index=index)
    with np.errstate(divide="ignore", invalid="ignore"):
        exposure = pd.Series(np.where(curve["equity"] > 0,
                                      curve["gross_exposure"] / curve["equity"], 0.0), index=index)
    metrics = compute_metrics(equity, trades, exposure,
                              MetricsConfig(periods_per_year=config.periods_per_year,
                                            risk_free_rate=config.risk_free_rate))
    attribution, open_positions = _attribution(engine, trades)
    metrics["events"] = int(engine.events_processed)
    metrics["n_fills"] = len(fills)
    metrics["total_fees"] = float(engine.portfolio.total_fees)
    metrics["n_faults"] = len(engine.faults)
    metrics["n_denied"] = sum(1 for e in engine.order_events if type(e) is OrderDenied)
    risk_events = [e for e in engine.order_events if type(e) is RiskEvent]
    risk = engine.risk.report(risk_events, first_open,
                              int(curve["ts"].iloc[-1]) if len(curve) else first_open)
    risk["peak_leverage"] = float(curve["leverage"].max()) if len(curve) else 0.0
    risk["min_equity"] = float(curve["equity"].min()) if len(curve) else config.capital
    metrics["n_reduced"] = risk["n_reduced"]
    elapsed = engine.elapsed_seconds
    timing = {"elapsed_seconds": elapsed,
              "events_per_second": engine.events_processed / elapsed if elapsed > 0 else 0.0}
    return BacktestResult(config=config, metrics=metrics, trades=trades, fills=fills,
                          equity=curve, attribution=attribution, open_positions=open_positions,
                          faults=list(engine.faults), data=loaded.describe(), timing=timing,
                          risk=risk, risk_events=risk_events)


def _fills_frame(fills: FillLog) -> pd.DataFrame:
    """The fills table, built column by column (a run can book hundreds of thousands)."""
    if not len(fills):
        return pd.DataFrame(columns=FILL_COLUMNS)
    return pd.DataFrame(fills.columns(), copy=False)


def _attribution(engine: BacktestEngine,
                 trades: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, open_rows = [], []
    last = engine.portfolio.last_price
    faulted = {f.strategy_id for f in engine.faults}
    for ctx in engine.contexts:
        pos = engine.portfolio.positions.get((ctx.symbol, ctx.strategy_id))
        mine = trades[(trades["strategy_id"] == ctx.strategy_id) & (trades["symbol"] == ctx.symbol)]
        qty = pos.qty if pos else 0.0
        unrealized = pos.unrealized_pnl(last.get(ctx.symbol, 0.0)) if pos else 0.0
        realized = pos.realized_pnl if pos else 0.0
        fees = pos.fees if pos else 0.0
        rows.append({"symbol": ctx.symbol, "strategy_id": ctx.strategy_id,
                     "realized_pnl": realized, "unrealized_pnl": unrealized, "fees": fees,
                     "net_pnl": realized + unrealized - fees, "n_trades": len(mine),
                     "n_fills": pos.n_fills if pos else 0, "final_qty": qty,
                     "faulted": ctx.strategy_id in faulted})
        if pos is not None and qty:
            open_rows.append({"symbol": ctx.symbol, "strategy_id": ctx.strategy_id, "qty": qty,
                              "avg_price": pos.avg_price, "last_price": last.get(ctx.symbol),
                              "unrealized_pnl": unrealized})
    return (pd.DataFrame(rows),
            pd.DataFrame(open_rows, columns=["symbol", "strategy_id", "qty", "avg_price",
                                             "last_price", "unrealized_pnl"]))


__all__ = ["ConfigError", "add_strategies", "assemble_result", "backtest", "backtest_config",
           "build_engine", "run_config"]
