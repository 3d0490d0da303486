"""What a symbol looks like in the synthetic market, derived from the seed and the name alone.

``sha256(f"{seed}:{symbol}")`` seeds the random streams (never Python's salted ``hash``);
``sha256(f"{seed}:{symbol}:profile")`` gives three uniforms that place the symbol inside the
band of its base asset:

- well-known bases (BTC, ETH, SOL, ...) start within a realistic price band (BTC 20k-60k,
  ETH 1k-4k, ...) with a volatility multiplier near their usual level (BTC calmest);
- any other base starts log-uniformly between 0.001 and 1,000 with a volatility multiplier
  of 1.1-1.6 and wider spreads, like a small-cap altcoin.

The tick is ``10**(e + 1 - price_significant_digits)`` and the lot ``10**-(e + 1)`` for an
initial price in ``[10**e, 10**(e+1))``, so a lot is worth 0.1-1 quote units.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.synthetic.kernels import dexp_scalar

_LN10 = 2.302585092994046
# base asset: (log10 low price, log10 high price, vol multiplier low, high, spread multiplier)
_KNOWN_BASES: dict[str, tuple[float, float, float, float, float]] = {
    "BTC": (4.30103, 4.77815, 0.80, 0.90, 1.0),
    "ETH": (3.00000, 3.60206, 0.95, 1.05, 1.2),
    "BNB": (2.30103, 2.77815, 0.95, 1.10, 1.5),
    "SOL": (1.17609, 2.30103, 1.30, 1.45, 2.0),
    "XRP": (-0.52288, 0.00000, 1.20, 1.40, 2.0),
    "ADA": (-0.60206, 0.07918, 1.30, 1.45, 2.5),
    "DOGE": (-1.30103, -0.52288, 1.40, 1.60, 2.5),
    "AVAX": (1.00000, 1.90309, 1.40, 1.55, 2.5),
    "DOT": (0.60206, 1.17609, 1.30, 1.45, 2.5),
    "LINK": (0.69897, 1.47712, 1.35, 1.50, 2.5),
    "LTC": (1.69897, 2.17609, 1.10, 1.30, 2.0),
}
_OTHER_BASE = (-3.0, 3.0, 1.10, 1.60, 4.0)
_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH")


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """Per-symbol constants of a synthetic market.

    ``tick`` is ``tick_mul / tick_div`` and ``lot`` is ``lot_mul / lot_div`` (one of each pair
    is 1.0): prices are stored as ``ticks * tick_mul / tick_div`` so that a price reads as its
    decimal (42153.27, not 42153.270000000004).
    """

    symbol: str
    base: str
    initial_price: float
    vol_multiplier: float
    spread_multiplier: float
    tick_mul: float
    tick_div: float
    lot_mul: float
    lot_div: float

    @property
    def tick(self) -> float:
        """Price increment."""
        return self.tick_mul / self.tick_div

    @property
    def lot(self) -> float:
        """Size increment."""
        return self.lot_mul / self.lot_div


def stream_entropy(seed: int, symbol: str) -> int:
    """The 256-bit entropy seeding every random stream of (seed, symbol)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest(), "big")


def base_asset(symbol: str) -> str:
    """``"BTC/USDT"``, ``"BTC-USD"``, ``"BTC/USDT:USDT"`` and ``"BTCUSDT"`` all give ``"BTC"``."""
    text = symbol.upper().strip()
    parts = re.split(r"[/\-:_]", text)
    if len(parts) > 1 and parts[0]:
        return parts[0]
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return text[: -len(quote)]
    return text


def symbol_profile(seed: int, symbol: str, price_significant_digits: int,
                   initial_price: float | None = None) -> SymbolProfile:
    """Derive a symbol's price level, volatility and spread multipliers, tick and lot."""
    digest = hashlib.sha256(f"{seed}:{symbol}:profile".encode()).digest()
    u_price, u_vol, u_spread = (int.from_bytes(digest[8 * i: 8 * i + 8], "big") / 2.0**64
                                for i in range(3))
    base = base_asset(symbol)
    lo, hi, vol_lo, vol_hi, spread = _KNOWN_BASES.get(base, _OTHER_BASE)
    if initial_price is None:
        raw = dexp_scalar(_LN10 * (lo + u_price * (hi - lo)))
        e = decade(raw)
        # Four significant digits make a round-looking opening price.
        mul, div = _power_of_ten(e - 3)
        initial_price = round(raw * div / mul) * mul / div
    elif initial_price <= 0 or initial_price != initial_price or initial_price == float("inf"):
        raise ConfigError(f"initial_price must be a positive finite number, got {initial_price!r}")
    e = decade(initial_price)
    tick_mul, tick_div = _power_of_ten(e + 1 - price_significant_digits)
    lot_mul, lot_div = _power_of_ten(-(e + 1))
    return SymbolProfile(
        symbol=symbol, base=base, initial_price=float(initial_price),
        vol_multiplier=vol_lo + u_vol * (vol_hi - vol_lo),
        spread_multiplier=spread * (0.8 + 0.4 * u_spread),
        tick_mul=tick_mul, tick_div=tick_div, lot_mul=lot_mul, lot_div=lot_div)


def decade(value: float) -> int:
    """The integer e with ``10**e <= value < 10**(e+1)``, by exact comparisons (no log10)."""
    e = 0
    while value >= _ten(e + 1):
        e += 1
    while value < _ten(e):
        e -= 1
    return e


def _ten(e: int) -> float:
    return float(10**e) if e >= 0 else 1.0 / float(10**-e)


def _power_of_ten(e: int) -> tuple[float, float]:
    """``10**e`` as (multiplier, divisor), both exact integers in float64."""
    return (float(10**e), 1.0) if e >= 0 else (1.0, float(10**-e))


def typical_vol_multiplier(symbol: str) -> float:
    """The middle of the volatility-multiplier band of ``symbol``'s base asset (what a fit
    to that symbol's data divides out, so the fitted market has the data's volatility)."""
    _, _, vol_lo, vol_hi, _ = _KNOWN_BASES.get(base_asset(symbol), _OTHER_BASE)
    return (vol_lo + vol_hi) / 2.0
