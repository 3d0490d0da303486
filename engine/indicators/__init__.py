"""Indicators, each defined once, as a *step function*, and used in three forms that give
identical floats:

- **incremental** classes (``SMA(20).update(x)``, O(1) per event) for strategy hooks and
  live trading: ``value`` holds the value after the last good update (a tuple for
  multi-output indicators, which also keep each output as an attribute), ``ready`` whether it
  is valid;
- **vectorized** functions (``sma(closes, 20)``) over whole arrays, for research and tests:
  float64 arrays of the input's length, NaN before each output's first valid index;
- **steps** (``sma_init``, ``sma_step``) for a strategy's numba batch kernel:
  ``state, buf = sma_init(20)`` once, then ``value, state = sma_step(state, buf, x)`` per
  event, inside ``@njit`` code (see ``engine.indicators._base`` for the contract).

The incremental classes run the step in Python and the vectorized forms run it compiled, so
the arithmetic exists in one place. Modules by family: ``averages`` (SMA, EMA, WMA),
``momentum`` (ROC, MOM, RSI, MACD), ``dispersion`` (STDDEV, z-score, Bollinger Bands,
correlation), ``ranges`` (rolling extremes, ATR, Donchian, stochastic, ADX), ``volume`` (OBV,
VWAP). ``docs/indicators.md`` has each definition.

Conventions follow TA-Lib (seeding, Wilder smoothing, population standard deviation, first
valid index). Bad input: an event with a NaN or infinite value in any field the indicator
reads is skipped: ``update`` returns NaN (a tuple of NaNs) and leaves every piece of state,
``value`` and ``ready`` included, as it was; the vectorized form returns NaN on that row and
computes the others as if the row were absent, so ``f(x)[ok] == f(x[ok])``. Invalid
parameters raise ``ValueError`` naming the indicator and the parameter.
"""

from engine.indicators.averages import (EMA, SMA, WMA, ema, ema_init, ema_next, ema_step, sma,
                                        sma_init, sma_step, wma, wma_init, wma_step)
from engine.indicators.dispersion import (CANCELLATION, BollingerBands, Correlation, StdDev, ZScore,
                                          bbands, bbands_step, correl, correlation_init,
                                          correlation_step, moments_init, moments_step, stddev,
                                          stddev_step, zscore, zscore_step)
from engine.indicators.momentum import (MACD, MOM, ROC, RSI, lag_init, lag_step, macd, macd_init,
                                        macd_step, mom, mom_step, roc, roc_step, rsi, rsi_init,
                                        rsi_step)
from engine.indicators.ranges import (ADX, ATR, Donchian, Stochastic, adx, adx_init, adx_step, atr,
                                      atr_init, atr_step, donchian, donchian_init, donchian_step,
                                      queue_init, queue_push, stoch, stoch_init, stoch_step,
                                      true_range)
from engine.indicators.volume import (OBV, VWAP, obv, obv_init, obv_step, typical, typical_price,
                                      vwap, vwap_bars, vwap_init, vwap_step)

__all__ = [
    # incremental
    "ADX", "ATR", "EMA", "MACD", "MOM", "OBV", "ROC", "RSI", "SMA", "VWAP", "WMA",
    "BollingerBands", "Correlation", "Donchian", "StdDev", "Stochastic", "ZScore",
    # vectorized
    "adx", "atr", "bbands", "correl", "donchian", "ema", "macd", "mom", "obv", "roc", "rsi",
    "sma", "stddev", "stoch", "typical_price", "vwap", "vwap_bars", "wma", "zscore",
    # steps, for batch kernels
    "CANCELLATION", "adx_init", "adx_step", "atr_init", "atr_step", "bbands_step",
    "correlation_init", "correlation_step", "donchian_init", "donchian_step", "ema_init",
    "ema_next", "ema_step", "lag_init", "lag_step", "macd_init", "macd_step", "moments_init",
    "moments_step", "mom_step", "obv_init", "obv_step", "queue_init", "queue_push",
    "roc_step", "rsi_init", "rsi_step", "sma_init", "sma_step", "stddev_step", "stoch_init",
    "stoch_step", "true_range", "typical", "vwap_init", "vwap_step", "wma_init", "wma_step",
    "zscore_step",
]
