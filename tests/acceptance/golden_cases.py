"""The golden backtests: whole runs whose trade counts, fills and balances are pinned in
``golden/*.json``. Change these only together with a deliberate regeneration:

    .venv/bin/python tests/acceptance/regenerate_golden.py

and explain in the commit why the figures moved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import engine

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"

CASES: dict[str, dict[str, Any]] = {
    "sma_cross_synthetic_1h": dict(
        strategy="sma_cross", params={"fast": 10, "slow": 30}, data="synthetic",
        symbols=["BTC/USDT"], timeframe="1h", start="2024-01-01", end="2024-04-01",
        capital=100_000.0, seed=42),
    "momentum_two_symbols_15m_short_sqrt_latency": dict(
        strategy="momentum", params={"lookback": 32, "threshold": 0.004, "allow_short": True},
        data="synthetic", symbols=["BTC/USDT", "ETH/USDT"], timeframe="15m",
        start="2024-03-01", end="2024-03-15", capital=50_000.0, seed=7,
        slippage_model="sqrt", impact_base_bps=1.0, impact_k_bps=25.0, latency_ms=250.0,
        maker_fee_bps=1.0, taker_fee_bps=4.0, account="margin"),
    "sma_cross_real_btc_1h": dict(
        strategy="sma_cross", params={"fast": 24, "slow": 96},
        data=str(REAL / "binance_spot_1h_cdd" / "Binance_BTCUSDT_1h.csv"),
        start="2020-01-01", end="2021-01-01", capital=10_000.0, fee_bps=10.0),
}

REAL_DATA_CASES = {"sma_cross_real_btc_1h"}


def run_case(name: str) -> engine.run.BacktestResult:  # type: ignore[name-defined]
    settings = dict(CASES[name])
    return engine.backtest(settings.pop("strategy"), settings.pop("params"),
                           data=settings.pop("data"), **settings)


def summarize(result: Any) -> dict[str, Any]:
    """The pinned figures: exact counts and balances (floats as repr, so equality is exact)."""
    m = result.metrics
    trades = result.trades
    synthetic = result.config.data.startswith("synthetic")
    return {
        # a config naming a data file holds its absolute path, which differs between clones
        "config_hash": result.config_hash if synthetic else None,
        "events": m["events"],
        "n_fills": m["n_fills"],
        "n_trades": m["n_trades"],
        "final_equity": repr(float(result.equity["equity"].iloc[-1])),
        "total_fees": repr(float(m["total_fees"])),
        "total_return": repr(m["total_return"]),
        "max_drawdown": repr(m["max_drawdown"]),
        "sharpe": repr(m["sharpe"]),
        "first_trades": [
            {k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()}
            for row in trades.head(3).to_dict(orient="records")
        ],
        "last_fill": {k: (repr(v) if isinstance(v, float) else v)
                      for k, v in result.fills.tail(1).to_dict(orient="records")[0].items()}
        if len(result.fills) else None,
    }
