"""Signal aggregation: weighted, time-decayed voting of five classic signals.

Five algorithms run on the price (bar closes, trade prices or quote mids) with
``engine.indicators``; each casts a vote of +1 (buy) or -1 (sell) on the event its signal
fires:

=============  ====================================================================
``sma``        +1 when SMA(``sma_fast``) crosses above SMA(``sma_slow``), -1 below
``momentum``   +1 when ROC(``roc_period``) enters ``> roc_threshold``, -1 ``< -roc_threshold``
               (the rate of change is a fraction: 0.01 is 1%)
``rsi``        +1 when RSI(``rsi_period``) enters ``< rsi_lower`` (oversold), -1 ``> rsi_upper``
``macd``       +1 when the MACD line crosses above its signal line (histogram turns > 0),
               -1 when it crosses below
``bollinger``  +1 when the price enters below the lower band (``bb_period``, ``bb_nbdev``
               standard deviations), -1 above the upper band
=============  ====================================================================

A cross needs one earlier comparison once the indicator is ready (the first only sets the
side); a zone (momentum, rsi, bollinger) votes when it is entered from outside. Each vote
starts at strength 1 and decays: on every later event its strength is multiplied by
``2 ** (-1 / half_life)`` (``half_life`` in events); a vote whose strength falls below 1/16
(after about four half-lives) expires. A new signal of an algorithm replaces its vote.

On every event (after decaying old votes and casting new ones)::

    net        = sum(weight_i * sign_i * strength_i)        over live votes
    confidence = |net| / sum(weight_i)                       in [0, 1]
    direction  = sign(net)
    agreeing   = live votes with weight > 0 and the sign of ``direction``

Target: ``allocation * direction`` of this strategy's share of equity when ``direction != 0``,
``confidence >= min_confidence`` and ``agreeing >= min_agree``; otherwise flat. A short target
becomes flat unless ``allow_short``. An order (``ctx.order_target_percent``, a market order
filled at the next event) is placed whenever the target changes: entry when the votes line up,
exit when they decay, expire or turn. An event with a NaN or infinite price is skipped: no
indicator update, no decay.

The batch path (``on_batch``) runs the same indicators (their step functions) and vote in a
numba kernel and yields the same orders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from engine.api import (MACD, ROC, RSI, SMA, BollingerBands, ConfigError, EventBatch, Intents,
                        Strategy, StrategyParams, allocation_param, bbands_step, lag_init,
                        macd_init, macd_step, moments_init, param, percent_targets, roc_step,
                        rsi_init, rsi_step, sma_init, sma_step, step)

SIGNALS = ("sma", "momentum", "rsi", "macd", "bollinger")
VOTE_EXPIRY = 1.0 / 16.0
"""A vote whose decayed strength falls below this is dropped."""


class SignalAggregation(Strategy):
    """Weighted time-decayed vote of SMA cross, momentum, RSI, MACD and Bollinger signals."""

    name = "signal_aggregation"

    class Params(StrategyParams):
        sma_fast: int = param(10, low=2, high=500, doc="fast SMA length, events")
        sma_slow: int = param(30, low=3, high=2000, doc="slow SMA length, events")
        roc_period: int = param(10, low=1, high=2000, doc="rate-of-change window, events")
        roc_threshold: float = param(0.01, low=0.0, high=1.0,
                                     doc="momentum votes beyond +-this rate of change")
        rsi_period: int = param(14, low=2, high=500, doc="RSI length, events")
        rsi_lower: float = param(30.0, low=0.0, high=100.0, doc="RSI oversold level (buy vote)")
        rsi_upper: float = param(70.0, low=0.0, high=100.0,
                                 doc="RSI overbought level (sell vote)")
        macd_fast: int = param(12, low=2, high=500, doc="MACD fast EMA, events")
        macd_slow: int = param(26, low=3, high=1000, doc="MACD slow EMA, events")
        macd_signal: int = param(9, low=1, high=500, doc="MACD signal EMA, events")
        bb_period: int = param(20, low=2, high=1000, doc="Bollinger window, events")
        bb_nbdev: float = param(2.0, low=0.1, high=10.0,
                                doc="Bollinger band width, standard deviations")
        w_sma: float = param(1.0, low=0.0, high=10.0, doc="weight of the SMA cross vote")
        w_momentum: float = param(1.0, low=0.0, high=10.0, doc="weight of the momentum vote")
        w_rsi: float = param(1.0, low=0.0, high=10.0, doc="weight of the RSI vote")
        w_macd: float = param(1.0, low=0.0, high=10.0, doc="weight of the MACD vote")
        w_bollinger: float = param(1.0, low=0.0, high=10.0,
                                   doc="weight of the Bollinger vote")
        half_life: float = param(10.0, low=0.5, high=1e6,
                                 doc="events after which a vote's strength halves")
        min_agree: int = param(2, low=1, high=5,
                               doc="live votes that must agree with the net direction")
        min_confidence: float = param(0.4, low=0.0, high=1.0,
                                      doc="weighted agreement |net| / total weight needed")
        allocation: float = allocation_param()
        allow_short: bool = param(False, doc="go short on a confident sell vote")

        def check(self) -> None:
            name = "strategy 'signal_aggregation'"
            self.require_below("sma_fast", "sma_slow")
            self.require_below("macd_fast", "macd_slow")
            self.require_below("rsi_lower", "rsi_upper", "below")
            voting = sum(w > 0.0 for w in self.weights())
            if voting == 0:
                raise ConfigError(f"{name} parameters 'w_sma', 'w_momentum', 'w_rsi', "
                                  f"'w_macd', 'w_bollinger' are all 0: give one a weight > 0")
            if self.min_agree > voting:
                raise ConfigError(f"{name} parameter 'min_agree' = {self.min_agree} exceeds "
                                  f"the {voting} signals with a weight > 0")

        def weights(self) -> tuple[float, ...]:
            """The weights in ``SIGNALS`` order."""
            return (self.w_sma, self.w_momentum, self.w_rsi, self.w_macd, self.w_bollinger)

    params: Params

    def on_start(self) -> None:
        p = self.params
        self.sma_fast = SMA(p.sma_fast)
        self.sma_slow = SMA(p.sma_slow)
        self.roc = ROC(p.roc_period)
        self.rsi = RSI(p.rsi_period)
        self.macd = MACD(p.macd_fast, p.macd_slow, p.macd_signal)
        self.bb = BollingerBands(p.bb_period, p.bb_nbdev, p.bb_nbdev)
        weights = p.weights()
        # the events after which each signal's indicator is valid, in SIGNALS order
        warmup = (p.sma_slow - 1, p.roc_period, p.rsi_period, p.macd_slow + p.macd_signal - 2,
                  p.bb_period - 1)
        self.rule = (warmup, p.roc_threshold, p.rsi_lower, p.rsi_upper, weights, sum(weights),
                     0.5 ** (1.0 / p.half_life), p.min_confidence, p.min_agree, p.allow_short,
                     p.allocation)
        # events seen; each signal's side or zone (SIGNALS order; -1: no comparison yet); the
        # current target direction
        self.state = (0, -1, 0, 0, -1, 0, 0)
        self.sign = [0] * 5           # each algorithm's live vote, in SIGNALS order
        self.strength = [0.0] * 5
        self._kernel = (*sma_init(p.sma_fast), *sma_init(p.sma_slow), *lag_init(p.roc_period),
                        rsi_init(p.rsi_period), *macd_init(p.macd_fast, p.macd_slow,
                                                           p.macd_signal),
                        *moments_init(p.bb_period), self.state, np.zeros(5, np.int64),
                        np.zeros(5))

    def on_batch(self, batch: EventBatch) -> Intents:
        targets, self._kernel = _signals(batch.price, self.params.bb_nbdev, self.rule,
                                         *self._kernel)
        return percent_targets(batch, targets)

    def on_price(self, price: float) -> None:
        fast = self.sma_fast.update(price)
        slow = self.sma_slow.update(price)
        change = self.roc.update(price)
        rsi = self.rsi.update(price)
        hist = self.macd.update(price)[2]
        upper, _, lower = self.bb.update(price)
        target, self.state = _vote(self.state, self.sign, self.strength, price, fast, slow,
                                   change, rsi, hist, upper, lower, self.rule)
        if target == target:
            self.ctx.order_target_percent(target, price)


@step
def _cross(side: int, above: int) -> tuple[int, int]:
    """``(vote, side)``: +1 when ``above`` turns 1, -1 when it turns 0; no vote on the first
    comparison (``side`` -1)."""
    if side == -1 or above == side:
        return 0, above
    return (1 if above == 1 else -1), above


@step
def _entered(zone: int, now: int) -> tuple[int, int]:
    """``(vote, zone)``: the zone (+1 / -1) when it is entered from outside, else 0."""
    return (now if now != zone else 0), now


@step
def _cast(sign: Any, strength: Any, i: int, vote: int) -> None:
    """Signal ``i`` votes ``vote`` (+1 / -1) at full strength; 0 is no vote."""
    if vote != 0:
        sign[i] = vote
        strength[i] = 1.0


@step
def _vote(state: Any, sign: Any, strength: Any, x: float, fast: float, slow: float,
          change: float, rsi: float, hist: float, upper: float, lower: float,
          rule: Any) -> tuple[float, Any]:
    """One event of the vote: decay the live votes (``sign``, ``strength``, updated in
    place), cast the new ones, and return the target fraction when the target direction
    changes (NaN otherwise) and the new state."""
    (warmup, roc_threshold, rsi_lower, rsi_upper, weights, total_weight, decay, min_confidence,
     min_agree, allow_short, allocation) = rule
    t, sma_side, band, rsi_zone, macd_side, bb_zone, held = state
    for i in range(5):
        if sign[i] != 0:
            s = strength[i] * decay
            if s < VOTE_EXPIRY:
                sign[i] = 0
                s = 0.0
            strength[i] = s
    if t >= warmup[0]:
        vote, sma_side = _cross(sma_side, 1 if fast > slow else 0)
        _cast(sign, strength, 0, vote)
    if t >= warmup[1]:
        now = 1 if change > roc_threshold else -1 if change < -roc_threshold else 0
        vote, band = _entered(band, now)
        _cast(sign, strength, 1, vote)
    if t >= warmup[2]:
        vote, rsi_zone = _entered(rsi_zone, 1 if rsi < rsi_lower else -1 if rsi > rsi_upper
                                  else 0)
        _cast(sign, strength, 2, vote)
    if t >= warmup[3]:
        vote, macd_side = _cross(macd_side, 1 if hist > 0.0 else 0)
        _cast(sign, strength, 3, vote)
    if t >= warmup[4]:
        vote, bb_zone = _entered(bb_zone, 1 if x < lower else -1 if x > upper else 0)
        _cast(sign, strength, 4, vote)
    net = 0.0
    for i in range(5):
        if sign[i] != 0:
            net += sign[i] * (weights[i] * strength[i])
    direction = 1 if net > 0.0 else -1 if net < 0.0 else 0
    desired = 0
    if direction != 0 and abs(net) / total_weight >= min_confidence:
        agreeing = 0
        for i in range(5):
            if sign[i] == direction and weights[i] > 0.0:
                agreeing += 1
        if agreeing >= min_agree and (direction == 1 or allow_short):
            desired = direction
    state = (t + 1, sma_side, band, rsi_zone, macd_side, bb_zone, desired)
    return (desired * allocation if desired != held else math.nan), state


@njit(cache=True)
def _signals(price: Any, nbdev: float, rule: Any, fast_state: Any, fast_buf: Any,
             slow_state: Any, slow_buf: Any, roc_state: Any, roc_buf: Any, rsi_state: Any,
             macd_state: Any, recent: Any, bb_state: Any, bb_buf: Any, state: Any, sign: Any,
             strength: Any) -> Any:  # pragma: no cover - compiled
    """The target fraction where it changes (NaN elsewhere), and the state."""
    out = np.full(price.size, np.nan)
    for i in range(price.size):
        x = price[i]
        if math.isfinite(x):
            fast, fast_state = sma_step(fast_state, fast_buf, x)
            slow, slow_state = sma_step(slow_state, slow_buf, x)
            change, roc_state = roc_step(roc_state, roc_buf, x)
            rsi, rsi_state = rsi_step(rsi_state, x)
            (_, _, hist), macd_state = macd_step(macd_state, recent, x)
            (upper, _, lower), bb_state = bbands_step(bb_state, bb_buf, x, nbdev, nbdev)
            out[i], state = _vote(state, sign, strength, x, fast, slow, change, rsi, hist,
                                  upper, lower, rule)
    return out, (fast_state, fast_buf, slow_state, slow_buf, roc_state, roc_buf, rsi_state,
                 macd_state, recent, bb_state, bb_buf, state, sign, strength)
