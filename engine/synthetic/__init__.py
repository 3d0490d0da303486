"""The built-in synthetic market: seeded, regime-switching crypto trades, quotes and bars.

The default market of ``raytrader backtest`` and of the benchmarks, fitted to Binance BTC/USDT
and ETH/USDT hourly bars (docs/synthetic.md). See ``market`` for the model and its
guarantees, ``config`` for the parameters, ``profile`` for how a symbol's price level and
volatility follow from its name and the seed, ``facts`` for the stylized facts measured on
any data, ``fit`` for fitting the parameters to a data set.
"""

from engine.synthetic.config import (CRASH, MEAN_REVERTING, REGIME_NAMES, TREND_DOWN, TREND_UP,
                                     VOLATILE, RegimeParams, SyntheticConfig)
from engine.synthetic.market import (SyntheticMarket, floor_to_grid, synthetic_bars,
                                     synthetic_trades)
from engine.synthetic.profile import SymbolProfile, symbol_profile

__all__ = [
    "CRASH", "MEAN_REVERTING", "REGIME_NAMES", "TREND_DOWN", "TREND_UP", "VOLATILE",
    "RegimeParams", "SymbolProfile", "SyntheticConfig", "SyntheticMarket", "floor_to_grid",
    "symbol_profile", "synthetic_bars", "synthetic_trades",
]
