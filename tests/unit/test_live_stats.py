"""Live market statistics: fed one event at a time, every lookup equals what the backtest's
statistics over the whole data say at that event's time (regime, its percentile,
correlation, correlated groups, cost), history included; bad input is refused by name."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ConfigError, DataError
from engine.live.stats import LiveMarketStats, history_cells
from engine.market_stats import MarketStats, StatsConfig, SymbolEvents

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60_000_000_000
KINDS = {"BTC/USDT": "trade", "ETH/USDT": "bar", "SOL/USDT": "quote"}


def market(seed: int, n: int = 2_500) -> dict[str, dict[str, np.ndarray]]:
    """Three symbols' events on one rising clock: random gaps (a few hours without a print
    among them), bad prices and volumes, quotes crossed or with bad sizes."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(20e9, n).astype(np.int64) + 1
    gaps[rng.random(n) < 0.003] += 3 * 3_600_000_000_000
    ts = 1_700_000_000_000_000_000 + np.cumsum(gaps)
    owner = rng.integers(0, 3, n)
    out = {}
    for i, symbol in enumerate(KINDS):
        t = ts[owner == i]
        m = t.size
        price = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004 * (1 + (i == 1)), m)))
        bad = rng.random(m)
        price[bad < 0.01] = np.nan
        price[(bad >= 0.01) & (bad < 0.015)] = 0.0
        price[(bad >= 0.015) & (bad < 0.018)] = -3.0
        price[(bad >= 0.018) & (bad < 0.02)] = np.inf
        volume = rng.exponential(2.0, m)
        volume[rng.random(m) < 0.02] = np.nan
        volume[rng.random(m) < 0.01] = 0.0
        events = {"ts": t, "price": price, "volume": volume}
        if KINDS[symbol] == "quote":
            spread = rng.uniform(0.0, 0.2, m)
            bid, ask = price - spread / 2, price + spread / 2
            crossed = rng.random(m) < 0.01
            bid[crossed], ask[crossed] = ask[crossed], bid[crossed]
            events.update(bid=bid, ask=ask, bid_size=rng.exponential(3.0, m),
                          ask_size=rng.exponential(3.0, m))
            events["bid_size"][rng.random(m) < 0.01] = np.nan
            with np.errstate(invalid="ignore"):
                events["price"] = (bid + ask) / 2
        out[symbol] = events
    return out


def history(seed: int, first: int, cells: int, step: int) -> dict[str, tuple[np.ndarray,
                                                                             np.ndarray]]:
    rng = np.random.default_rng(seed)
    end = first // step * step
    if end >= first:
        end -= step
    ts = end - step * np.arange(cells)[::-1]
    return {s: (ts, 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, cells))))
            for s in KINDS if s != "SOL/USDT"}   # one symbol has none


def whole(events: dict[str, dict[str, np.ndarray]], config: StatsConfig,
          hist: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> MarketStats:
    return MarketStats([SymbolEvents(s, e["ts"], e["price"],
                                     volume=None if KINDS[s] == "quote" else e["volume"],
                                     bid=e.get("bid"), ask=e.get("ask"),
                                     bid_size=e.get("bid_size"), ask_size=e.get("ask_size"))
                        for s, e in events.items()], config, hist)


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


CONFIGS = [
    StatsConfig(regime_interval="5m", regime_window=4, regime_lookback=12,
                regime_thresholds=(20.0, 50.0, 80.0), correlation_interval="15m",
                correlation_window=5, cost_window=9, default_spread_bps=3.0,
                impact_k_bps=7.0),
    # grids that do not nest: 10 and 4 minutes meet on a 2-minute grid
    StatsConfig(regime_interval="10m", regime_window=3, regime_lookback=8,
                correlation_interval="4m", correlation_window=6, cost_window=1),
]


@pytest.mark.parametrize("with_history", [False, True])
@pytest.mark.parametrize("config", CONFIGS, ids=["nested", "gcd"])
@pytest.mark.parametrize("seed", [1, 2])
def test_every_lookup_equals_the_whole_data_statistics(seed: int, config: StatsConfig,
                                                       with_history: bool) -> None:
    events = market(seed)
    first = min(int(e["ts"][0]) for e in events.values())
    hist = history(seed + 100, first, 40, 5 * MINUTE) if with_history else None
    reference = whole(events, config, hist)
    live = LiveMarketStats(KINDS, config)
    for symbol, (ts, price) in (hist or {}).items():
        live.add_history(symbol, ts, price)
    order = sorted((int(t), s, i) for s, e in events.items() for i, t in enumerate(e["ts"]))
    checked = regimes = groups = 0
    for ts, symbol, i in order:
        e = events[symbol]
        if KINDS[symbol] == "quote":
            live.on_event(symbol, ts, float(e["price"][i]), bid=float(e["bid"][i]),
                          ask=float(e["ask"][i]), bid_size=float(e["bid_size"][i]),
                          ask_size=float(e["ask_size"][i]))
        else:
            live.on_event(symbol, ts, float(e["price"][i]), float(e["volume"][i]))
        for s in KINDS:
            assert live.regime(s, ts) == reference.regime(s, ts), (s, ts)
            assert same(live.regime_percentile(s, ts), reference.regime_percentile(s, ts))
            regimes += live.regime(s, ts) != 1
            for qty in (0.5, -2.0):
                assert same(live.cost_bps(s, ts, qty, 101.0),
                            reference.cost_bps(s, ts, qty, 101.0)), (s, ts, qty)
            group = live.correlated(s, ts, 0.2)
            assert group == reference.correlated(s, ts, 0.2)
            groups += bool(group)
        assert same(live.correlation("BTC/USDT", "ETH/USDT", ts),
                    reference.correlation("BTC/USDT", "ETH/USDT", ts))
        checked += 1
    assert checked == len(order) and regimes > 100 and groups > 50
    # built once per closed cell of the finer grid, never per event
    assert live.rebuilds < len(order) / 3


def test_before_any_closed_cell_the_rules_see_nothing() -> None:
    live = LiveMarketStats({"BTC/USDT": "trade"}, CONFIGS[0])
    assert live.regime("BTC/USDT", 0) == 1
    assert math.isnan(live.regime_percentile("BTC/USDT", 0))
    assert live.correlated("BTC/USDT", 0, 0.5) == ()
    assert live.cost_bps("BTC/USDT", 0, 1.0, 100.0) == math.inf   # no event yet


def test_bad_input_is_refused_by_name() -> None:
    live = LiveMarketStats(KINDS, CONFIGS[0])
    with pytest.raises(KeyError, match="DOGE/USDT"):
        live.regime("DOGE/USDT", 0)
    with pytest.raises(DataError, match=r"BTC/USDT.*one length"):
        live.add_history("BTC/USDT", [1, 2, 3], [1.0, 2.0])
    with pytest.raises(DataError, match="non-decreasing"):
        live.add_history("BTC/USDT", [3, 2], [1.0, 2.0])
    live.add_history("BTC/USDT", [1, 2], [1.0, 2.0])
    with pytest.raises(ConfigError, match="twice"):
        live.add_history("BTC/USDT", [1, 2], [1.0, 2.0])
    live.on_event("BTC/USDT", 10, 100.0, 1.0)
    with pytest.raises(ConfigError, match="before the session's events"):
        live.add_history("ETH/USDT", [1, 2], [1.0, 2.0])
    with pytest.raises(DataError, match=r"ETH/USDT.*goes back"):
        live.on_event("ETH/USDT", 9, 100.0, 1.0)
    with pytest.raises(ValueError, match="price"):
        live.cost_bps("BTC/USDT", 10, 1.0, 0.0)
    with pytest.raises(ConfigError, match="at least one symbol"):
        LiveMarketStats({})
    # the backtest's statistics refuse history that overlaps the data or names no symbol
    events = [SymbolEvents("BTC/USDT", np.array([10, 20]), np.array([1.0, 2.0]),
                           volume=np.ones(2))]
    with pytest.raises(DataError, match="must end before"):
        MarketStats(events, history={"BTC/USDT": (np.array([5, 10]), np.ones(2))})
    with pytest.raises(ConfigError, match="unknown symbol 'ETH/USDT'"):
        MarketStats(events, history={"ETH/USDT": (np.array([5]), np.ones(1))})


def test_the_history_a_session_fetches_covers_what_the_rules_need() -> None:
    # the defaults: 24 returns per volatility value ranked among 720, hourly
    assert history_cells(StatsConfig()) == ("1h", 745)
    assert history_cells(CONFIGS[1]) == ("4m", (3 + 8 + 1) * 10 // 4)


WARM = """
import sys
from engine.indicators.dispersion import _correl, _stddev
from engine.live.stats import LiveMarketStats
from engine.market_stats import _grid_prices, _percentile_ranks
kernels = (_stddev, _correl, _grid_prices, _percentile_ranks)
if sys.argv[1] == "warm":
    LiveMarketStats({"BTC/USDT": "trade"}).warm()
print(" ".join(str(len(k.signatures)) for k in kernels))
"""


@pytest.mark.parametrize("warm", [True, False])
def test_warming_readies_the_kernels_a_fresh_process_lacks(warm: bool) -> None:
    """A session warms its statistics before the market starts, so its first order check
    does not stop the events for numba's compile (or its cache load): in a fresh process the
    kernels behind the regime and correlation are ready after ``warm()``, and not before."""
    done = subprocess.run([sys.executable, "-c", WARM, "warm" if warm else "cold"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    ready = [int(n) > 0 for n in done.stdout.split()]
    assert ready == [warm] * 4, done.stdout


def test_warming_changes_nothing() -> None:
    data = market(3, 600)
    warmed, cold = (LiveMarketStats(KINDS, CONFIGS[0]) for _ in range(2))
    warmed.warm()
    assert warmed.rebuilds == 0 and warmed.last_ts == cold.last_ts
    # the same lookups, fed the same events in time order
    order = sorted((int(t), s, k) for s, e in data.items() for k, t in enumerate(e["ts"]))
    for t, symbol, k in order:
        events = data[symbol]
        kw = {f: float(events[f][k]) for f in ("volume", "bid", "ask", "bid_size", "ask_size")
              if f in events}
        for live in (warmed, cold):
            live.on_event(symbol, t, float(events["price"][k]), **kw)
        assert warmed.regime(symbol, t) == cold.regime(symbol, t)
        assert warmed.correlated(symbol, t, 0.3) == cold.correlated(symbol, t, 0.3)
        assert warmed.cost_bps(symbol, t, 1.0, 100.0) == cold.cost_bps(symbol, t, 1.0, 100.0)
