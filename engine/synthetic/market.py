"""``SyntheticMarket``: a seeded, regime-switching crypto market of trades, quotes and bars.

Trades are primary. Time is cut into blocks of one day from ``start``; each block draws from
its own PCG64 stream, seeded by ``SeedSequence(sha256(f"{seed}:{symbol}"), spawn_key=(stream,
block))``, and carries the latent state (log mid, anchor, regime, last trade time) into the
next. Within a block:

1. a per-minute Markov chain picks the regime;
2. three AR(1) log-volatility factors (fast, medium, slow; carried across blocks) give each
   minute a variance multiplier of mean 1 (stochastic volatility);
3. compound Poisson jumps arrive at the regime's jump rate times that multiplier;
4. trades arrive as a Poisson process whose rate is the regime's activity times the
   intraday/weekday seasonality times a power of the multiplier (busy when volatile),
   normalized so ``trades_per_minute`` is the long-run mean;
5. the log mid is evaluated at each trade time (drift, OU pull, diffusion whose variance
   follows the seasonality and the multiplier, jumps), quoted with a spread on the tick
   grid, and the trade fills at the ask (buyer aggressor) or the bid (seller aggressor) with
   a lognormal size.

Bars of any timeframe are folded from those trades block by block, so they are exact
aggregations of ``trades()`` while memory stays bounded by one block. Generating whole
blocks and truncating at ``end`` makes a longer market extend a shorter one: the trades of
``[start, end1)`` are a prefix of those of ``[start, end2)`` for end2 > end1.

Determinism: same (seed, symbol, parameters, numpy version) gives bit-identical frames on
any machine (see ``kernels`` for how floating point is kept machine-independent; NumPy may
change ``Generator`` streams between versions, NEP 19).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.data.schema import BAR_COLUMNS, QUOTE_COLUMNS, TRADE_COLUMNS
from engine.errors import ConfigError
from engine.synthetic import kernels
from engine.synthetic.config import (MINUTES_PER_DAY, MINUTES_PER_YEAR, REGIME_NAMES,
                                     SyntheticConfig, clipped_t3_mean_abs)
from engine.synthetic.profile import SymbolProfile, stream_entropy, symbol_profile
from engine.timeframes import NS_PER_DAY, NS_PER_MINUTE, parse_time, timeframe_to_ns

BLOCK_MINUTES = MINUTES_PER_DAY
BLOCK_NS = NS_PER_DAY
_CORE_STREAM, _QUOTE_STREAM, _INIT_STREAM, _VOL_INIT_STREAM = 0, 1, 2, 3
_LN2 = 0.6931471805599453
# Trades are at least 2 ns apart so each quote can sit 1 ns before its trade, strictly
# after the previous trade.
_TRADE_GAP_NS = 2
_WEEK_NS = 7 * NS_PER_DAY
_MONDAY_NS = 4 * NS_PER_DAY      # 1970-01-05, the first Monday of the epoch


@dataclass(frozen=True, slots=True)
class _Block:
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    mid: np.ndarray
    bid_size: np.ndarray | None
    ask_size: np.ndarray | None


class _Model:
    """Config and symbol profile turned into per-minute, per-regime arrays for the kernels."""

    def __init__(self, config: SyntheticConfig, profile: SymbolProfile,
                 trades_per_minute: float) -> None:
        regimes = config.regimes
        pi = config.stationary_distribution()
        mean_activity = sum(p * r.activity for p, r in zip(pi, regimes))
        vol_mult = profile.vol_multiplier
        sqrt_minutes = math.sqrt(MINUTES_PER_YEAR)
        self.stationary = pi
        self.trade_rate = np.array([trades_per_minute / mean_activity * r.activity
                                    for r in regimes])
        self.drift = np.array([r.drift_per_year / MINUTES_PER_YEAR for r in regimes])
        self.vol = np.array([r.volatility * vol_mult / sqrt_minutes for r in regimes])
        self.reversion = np.array([r.reversion_per_day / MINUTES_PER_DAY for r in regimes])
        self.jump_rate = np.array([r.jumps_per_day / MINUTES_PER_DAY for r in regimes])
        self.jump_mean = np.array([r.jump_mean * vol_mult for r in regimes])
        self.jump_scale = np.array([r.jump_scale * vol_mult for r in regimes])
        self.jump_mean_abs = clipped_t3_mean_abs(config.jump_clip)
        self.buy_probability = np.array([r.buy_probability for r in regimes])
        self.trade_notional = np.array([config.mean_trade_notional * r.size_factor
                                        for r in regimes])
        # The spread's mean over shocks z ~ N(0, 1) is spread_bps: E|z| = sqrt(2 / pi).
        move = config.spread_move_sensitivity
        base_half = (config.spread_bps * profile.spread_multiplier / 2.0 / 10_000.0
                     / (1.0 + move * math.sqrt(2.0 / math.pi)))
        self.half_spread = np.array([base_half * r.spread_factor for r in regimes])
        self.leave_probability = np.array([1.0 / r.mean_duration_minutes for r in regimes])
        self.next_cumulative = np.array([_cumulative_row(row) for row in config.transitions])
        hourly_mean = sum(config.hourly_activity) / 24.0
        self.hourly = np.array([h / hourly_mean for h in config.hourly_activity])
        self.weekday_factor = 7.0 / (5.0 + 2.0 * config.weekend_activity)
        self.weekend_factor = config.weekend_activity * self.weekday_factor
        self.anchor_rate = 1.0 / (config.anchor_hours * 60.0)
        self.overshoot_rate = _LN2 / config.overshoot_half_life_minutes
        # The variance follows the seasonal activity a as a * (1 - w + w * a): w = 0 makes
        # it proportional to activity, w = 1 to its square (volatility proportional to
        # activity); divided by its weekly mean so the long-run volatility is unchanged.
        w = config.seasonal_volatility
        day = kernels.activity_profile(0, MINUTES_PER_DAY, self.hourly, 1.0, 1.0)
        mean_square = (kernels.sequential_sum(day * day) / MINUTES_PER_DAY * (
            5.0 * self.weekday_factor * self.weekday_factor
            + 2.0 * self.weekend_factor * self.weekend_factor) / 7.0)
        self.season_weight = w
        self.season_variance_scale = 1.0 / ((1.0 - w) + w * mean_square)
        # Stochastic volatility: fast, medium and slow AR(1) log-volatility factors per minute.
        sd = (config.vol_of_vol_fast, config.vol_of_vol_medium, config.vol_of_vol_slow)
        half_lives = (config.vol_half_life_fast_hours * 60.0,
                      config.vol_half_life_medium_hours * 60.0,
                      config.vol_half_life_slow_days * MINUTES_PER_DAY)
        self.sv_sd = np.array(sd)
        self.sv_persistence = np.array([kernels.dexp_scalar(-_LN2 / h) for h in half_lives])
        self.sv_innovation = np.array([s * math.sqrt(1.0 - p * p)
                                       for s, p in zip(sd, self.sv_persistence)])
        total = sum(s * s for s in sd)
        e = config.volume_follows_volatility
        self.sv_variance_bias = -2.0 * total
        self.sv_rate_elasticity = e
        self.sv_rate_bias = -2.0 * e * e * total


class SyntheticMarket:
    """A seeded synthetic market of one symbol over ``[start, end)``.

    ``seed``, ``symbol`` and the parameters fully determine every frame. The symbol's price
    level, volatility and spread come from the seed and the name (see ``profile``);
    ``initial_price`` overrides the level. ``end`` defaults to ``start`` plus
    ``config.default_days``; ``trades_per_minute`` overrides ``config.trades_per_minute``.
    Frames are regenerated on each call (cheap and memory-bounded), never cached.
    """

    __slots__ = (
        "_entropy",
        "_model",
        "config",
        "end",
        "profile",
        "seed",
        "start",
        "symbol",
        "trades_per_minute",
    )

    def __init__(self, symbol: str = "BTC/USDT", *, seed: int = 42,
                 start: int | str = "2024-01-01", end: int | str | None = None,
                 trades_per_minute: float | None = None, initial_price: float | None = None,
                 config: SyntheticConfig | None = None) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ConfigError(f"symbol must be a non-empty string, got {symbol!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        if config is None:
            config = SyntheticConfig()
        elif not isinstance(config, SyntheticConfig):
            raise ConfigError(f"config must be a SyntheticConfig, got {type(config).__name__}")
        if trades_per_minute is None:
            trades_per_minute = config.trades_per_minute
        _require_positive("trades_per_minute", trades_per_minute)
        if initial_price is not None:
            _require_positive("initial_price", initial_price)
        start_ns = parse_time(start)
        end_ns = (start_ns + int(round(config.default_days * NS_PER_DAY)) if end is None
                  else parse_time(end))
        if end_ns <= start_ns:
            raise ConfigError(f"end must be after start, got start={start!r}, end={end!r}")
        self.symbol = symbol
        self.seed = int(seed)
        self.start = start_ns
        self.end = end_ns
        self.config = config
        self.trades_per_minute = float(trades_per_minute)
        self.profile = symbol_profile(self.seed, symbol, config.price_significant_digits,
                                      None if initial_price is None else float(initial_price))
        self._entropy = stream_entropy(self.seed, symbol)
        self._model = _Model(config, self.profile, self.trades_per_minute)

    def __repr__(self) -> str:
        return (f"SyntheticMarket({self.symbol!r}, seed={self.seed}, start={self.start}, "
                f"end={self.end}, trades_per_minute={self.trades_per_minute})")

    # -- public frames -------------------------------------------------------------------

    def trades(self, limit: int | None = None) -> pd.DataFrame:
        """All trades in ``[start, end)`` (or the first ``limit``), schema ``TRADE_COLUMNS``,
        ts strictly increasing, ``trade_id`` counting from 1."""
        if limit is not None:
            _require_positive("limit", limit, integer=True)
        return self._collect_trades(self.end, limit)

    def quotes(self) -> pd.DataFrame:
        """Top of book, schema ``QUOTE_COLUMNS``: one update 1 ns before each trade, so the
        quote in force at a trade (the last with ``ts <= trade ts``) is the one it hit."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in QUOTE_COLUMNS}
        for block in self._blocks(self.end, with_quotes=True):
            parts["ts"].append(block.ts - 1)
            parts["bid"].append(block.bid)
            parts["ask"].append(block.ask)
            parts["bid_size"].append(block.bid_size)  # type: ignore[arg-type]
            parts["ask_size"].append(block.ask_size)  # type: ignore[arg-type]
        return _frame(QUOTE_COLUMNS, {k: _concat(v, QUOTE_COLUMNS[k]) for k, v in parts.items()})

    def bars(self, timeframe: str = "1m") -> pd.DataFrame:
        """OHLCV bars, schema ``BAR_COLUMNS``: one row per interval of the timeframe grid
        from ``start`` floored to the timeframe (weeks start on Monday 00:00 UTC) until the
        interval holding ``end - 1``, with no gaps. Each bar aggregates exactly the trades
        of ``trades()`` in it; a bar without trades is flat at the previous close with
        volume 0 (the initial price before the first trade)."""
        interval = timeframe_to_ns(timeframe)
        origin = floor_to_grid(self.start, interval)
        n_bars = -(-(self.end - origin) // interval)
        ohlcv = np.empty((5, n_bars))
        count = np.zeros(n_bars, dtype=np.int64)
        for block in self._blocks(self.end, with_quotes=False):
            kernels.aggregate_bars(block.ts, block.price, block.size, origin, interval,
                                   ohlcv, count)
        kernels.fill_empty_bars(ohlcv, count, self.profile.initial_price)
        return _frame(BAR_COLUMNS, {
            "ts": origin + interval * np.arange(n_bars, dtype=np.int64),
            "open": ohlcv[0], "high": ohlcv[1], "low": ohlcv[2], "close": ohlcv[3],
            "volume": ohlcv[4]})

    def regimes(self) -> pd.DataFrame:
        """Regime changes: ``ts`` (int64 ns, the minute the regime starts; the first row is
        ``start``), ``regime`` (int8 code, index into ``REGIME_NAMES``) and ``name``."""
        n_minutes = -(-(self.end - self.start) // NS_PER_MINUTE)
        regime = self._initial_regime()
        paths = []
        for b in range(-(-n_minutes // BLOCK_MINUTES)):
            rng = self._rng(_CORE_STREAM, b)
            path = kernels.regime_path(rng.random(BLOCK_MINUTES), regime,
                                       self._model.leave_probability,
                                       self._model.next_cumulative)
            regime = int(path[-1])
            paths.append(path)
        minutes = np.concatenate(paths)[:n_minutes]
        change = np.flatnonzero(np.diff(minutes)) + 1
        first = np.concatenate([np.zeros(1, dtype=np.int64), change])
        codes = minutes[first]
        return pd.DataFrame({
            "ts": self.start + first * NS_PER_MINUTE,
            "regime": codes.astype(np.int8),
            "name": pd.Categorical.from_codes(codes.astype(np.int64),
                                              categories=list(REGIME_NAMES)),
        })

    # -- generation ----------------------------------------------------------------------

    def _rng(self, stream: int, block: int) -> np.random.Generator:
        sequence = np.random.SeedSequence(self._entropy, spawn_key=(stream, block))
        return np.random.Generator(np.random.PCG64(sequence))

    def _initial_regime(self) -> int:
        u = self._rng(_INIT_STREAM, 0).random()
        acc = 0.0
        for code, share in enumerate(self._model.stationary):
            acc += share
            if u < acc:
                return code
        return len(REGIME_NAMES) - 1

    def _initial_volatility(self) -> np.ndarray:
        """The log-volatility factors at ``start``, drawn from their stationary law."""
        z = self._rng(_VOL_INIT_STREAM, 0).standard_normal(self._model.sv_sd.shape[0])
        return z * self._model.sv_sd

    def _collect_trades(self, until: int | None, limit: int | None) -> pd.DataFrame:
        parts: dict[str, list[np.ndarray]] = {"ts": [], "price": [], "size": [], "side": []}
        count = 0
        for block in self._blocks(until, with_quotes=False):
            for name in parts:
                parts[name].append(getattr(block, name))
            count += block.ts.shape[0]
            if limit is not None and count >= limit:
                break
        n = count if limit is None else min(count, int(limit))
        columns = {name: _concat(arrays, TRADE_COLUMNS[name])[:n] for name, arrays in parts.items()}
        columns["trade_id"] = np.arange(1, n + 1, dtype=np.int64)
        return _frame(TRADE_COLUMNS, columns)

    def _blocks(self, until: int | None, *, with_quotes: bool) -> Iterator[_Block]:
        """Generate block after block from ``start``; the block holding ``until`` is cut at
        it, and with ``until=None`` the stream never ends."""
        model = self._model
        cfg = self.config
        profile = self.profile
        state = np.zeros(3)        # log mid relative to initial price, anchor, overshoot
        last_ts = self.start - 1
        regime = self._initial_regime()
        sv_state = self._initial_volatility()
        b = 0
        while until is None or self.start + b * BLOCK_NS < until:
            block_start = self.start + b * BLOCK_NS
            rng = self._rng(_CORE_STREAM, b)
            path = kernels.regime_path(rng.random(BLOCK_MINUTES), regime,
                                       model.leave_probability, model.next_cumulative)
            regime = int(path[-1])
            variance, rate = kernels.variance_path(
                rng.standard_normal((model.sv_sd.shape[0], BLOCK_MINUTES)), sv_state,
                model.sv_persistence, model.sv_innovation, model.sv_variance_bias,
                model.sv_rate_elasticity, model.sv_rate_bias)
            season = kernels.activity_profile(block_start, BLOCK_MINUTES, model.hourly,
                                              model.weekday_factor, model.weekend_factor)
            activity = (season * ((1.0 - model.season_weight) + model.season_weight * season)
                        * model.season_variance_scale * variance)

            jump_cum = kernels.cumulative(model.jump_rate[path] * variance)
            jump_ts, jump_minute = kernels.arrival_times(
                jump_cum, _unit_exponentials(rng, jump_cum[-1]), block_start, block_start, 0)
            jump_size = kernels.jump_sizes(rng.standard_normal((jump_ts.shape[0], 4)),
                                           path[jump_minute], model.jump_mean,
                                           model.jump_scale, cfg.jump_clip,
                                           cfg.jump_asymmetry, model.jump_mean_abs)
            if cfg.jump_minutes > 0.0:
                jump_ts, jump_size = _spread_jumps(jump_ts, jump_size, cfg.jump_minutes)

            trade_cum = kernels.cumulative(model.trade_rate[path] * season * rate)
            ts, minute = kernels.arrival_times(
                trade_cum, _unit_exponentials(rng, trade_cum[-1]), block_start, last_ts,
                _TRADE_GAP_NS)
            n = ts.shape[0]
            z = rng.standard_normal((2, n))
            u_side = rng.random((n,))
            price, size, side, bid, ask, mid = kernels.simulate_trades(
                ts, minute, path, activity, z, u_side, jump_ts, jump_size,
                model.drift, model.vol, model.reversion, model.buy_probability,
                model.trade_notional, model.half_spread, cfg.spread_move_sensitivity,
                model.anchor_rate, cfg.overshoot, model.overshoot_rate, profile.initial_price,
                cfg.trade_size_dispersion, profile.tick_mul, profile.tick_div, profile.lot_mul,
                profile.lot_div, state, last_ts, with_quotes)
            if n:
                last_ts = int(ts[-1])
            bid_size = ask_size = None
            if with_quotes:
                depth_z = self._rng(_QUOTE_STREAM, b).standard_normal((2, n))
                bid_size, ask_size = kernels.quote_sizes(
                    side, size, mid, depth_z, cfg.depth_notional, cfg.depth_dispersion,
                    profile.lot_mul, profile.lot_div)
            if until is not None and block_start + BLOCK_NS > until:
                keep = int(np.searchsorted(ts, until, side="left"))
                ts, price, size, side, bid, ask, mid = (
                    a[:keep] for a in (ts, price, size, side, bid, ask, mid))
                if bid_size is not None and ask_size is not None:
                    bid_size, ask_size = bid_size[:keep], ask_size[:keep]
            yield _Block(ts, price, size, side, bid, ask, mid, bid_size, ask_size)
            b += 1


def synthetic_bars(symbol: str = "BTC/USDT", *, seed: int = 42, start: int | str = "2024-01-01",
                   end: int | str | None = None, n_bars: int | None = None,
                   timeframe: str = "1m", trades_per_minute: float | None = None,
                   initial_price: float | None = None,
                   config: SyntheticConfig | None = None) -> pd.DataFrame:
    """Bars of a ``SyntheticMarket``; give ``end`` or ``n_bars`` (exactly that many bars from
    ``start`` floored to the timeframe), or neither for the config's default span."""
    interval = timeframe_to_ns(timeframe)
    if n_bars is not None:
        if end is not None:
            raise ConfigError("give either end or n_bars, not both")
        _require_positive("n_bars", n_bars, integer=True)
        end = floor_to_grid(parse_time(start), interval) + int(n_bars) * interval
    market = SyntheticMarket(symbol, seed=seed, start=start, end=end,
                             trades_per_minute=trades_per_minute, initial_price=initial_price,
                             config=config)
    return market.bars(timeframe)


def synthetic_trades(symbol: str = "BTC/USDT", *, seed: int = 42,
                     start: int | str = "2024-01-01", end: int | str | None = None,
                     n_trades: int | None = None, trades_per_minute: float | None = None,
                     initial_price: float | None = None,
                     config: SyntheticConfig | None = None) -> pd.DataFrame:
    """Trades of a ``SyntheticMarket``; give ``end`` or ``n_trades`` (the first that many
    from ``start``, however long they take), or neither for the config's default span."""
    if n_trades is None:
        market = SyntheticMarket(symbol, seed=seed, start=start, end=end,
                                 trades_per_minute=trades_per_minute,
                                 initial_price=initial_price, config=config)
        return market.trades()
    if end is not None:
        raise ConfigError("give either end or n_trades, not both")
    _require_positive("n_trades", n_trades, integer=True)
    market = SyntheticMarket(symbol, seed=seed, start=start,
                             trades_per_minute=trades_per_minute, initial_price=initial_price,
                             config=config)
    return market._collect_trades(None, int(n_trades))


def floor_to_grid(ts: int, interval: int) -> int:
    """Open time of the ``interval``-long bar holding ``ts``: the grid starts at the epoch,
    except that whole weeks start on Mondays (as exchanges' weekly candles do)."""
    anchor = _MONDAY_NS if interval % _WEEK_NS == 0 else 0
    return ts - (ts - anchor) % interval


JUMP_STEPS = 5


def _spread_jumps(ts: np.ndarray, size: np.ndarray, minutes: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each jump as ``JUMP_STEPS`` equal steps over ``minutes`` from its arrival (a large move
    takes minutes, not one trade), in time order; steps past the block's end land at its end."""
    step_ns = int(minutes * NS_PER_MINUTE) // JUMP_STEPS
    offsets = np.arange(JUMP_STEPS, dtype=np.int64) * step_ns
    spread_ts = (ts[:, None] + offsets[None, :]).ravel()
    spread_size = np.repeat(size / JUMP_STEPS, JUMP_STEPS)
    order = np.argsort(spread_ts, kind="stable")
    return spread_ts[order], spread_size[order]


def _unit_exponentials(rng: np.random.Generator, total: float) -> np.ndarray:
    """Enough unit exponentials that their (sequential) sum reaches ``total``."""
    draws = rng.standard_exponential(int(total + 6.0 * math.sqrt(total) + 16.0))
    while kernels.sequential_sum(draws) < total:
        extra = rng.standard_exponential(int(2.0 * math.sqrt(total) + 16.0))
        draws = np.concatenate([draws, extra])
    return draws


def _cumulative_row(row: tuple[float, ...]) -> list[float]:
    """Cumulative next-regime probabilities; the last reachable regime gets 2.0 so that a
    rounding shortfall in the sum can never select an unreachable one."""
    total = sum(row)
    acc = 0.0
    out = []
    for w in row:
        acc += w / total
        out.append(acc)
    last = max(j for j, w in enumerate(row) if w > 0)
    for j in range(last, len(row)):
        out[j] = 2.0
    return out


def _concat(parts: list[np.ndarray], dtype: np.dtype | type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def _frame(columns: dict[str, np.dtype], data: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({name: np.asarray(data[name], dtype=dtype)
                         for name, dtype in columns.items()})


def _require_positive(name: str, value: object, *, integer: bool = False) -> None:
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if (isinstance(value, bool) or not isinstance(value, ok_type)
            or not math.isfinite(float(value)) or float(value) <= 0):
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
