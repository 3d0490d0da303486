"""Spot markets of the fake exchange, with Binance's filters and the exchangeInfo entry."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.kit.fake_exchange.errors import BinanceError

__all__ = ["SpotMarket", "DEFAULT_MARKETS", "fmt", "check_filters"]


def fmt(value: Decimal) -> str:
    """A decimal the way Binance writes it: 8 decimal places, as a string."""
    return f"{value:.8f}"


@dataclass(frozen=True)
class SpotMarket:
    """One spot symbol and its PRICE_FILTER, LOT_SIZE and NOTIONAL filters."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    def exchange_info(self) -> dict[str, Any]:
        """The entry of GET /api/v3/exchangeInfo ``symbols``."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                           "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(self.min_price),
                 "maxPrice": fmt(self.max_price), "tickSize": fmt(self.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": fmt(self.min_qty),
                 "maxQty": fmt(self.max_qty), "stepSize": fmt(self.step_size)},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                 "maxQty": fmt(self.max_qty), "stepSize": "0.00000000"},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                 "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                 "maxTrailingBelowDelta": 2000},
                {"filterType": "NOTIONAL", "minNotional": fmt(self.min_notional),
                 "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


def _market(symbol: str, base: str, tick: str, step: str, max_qty: str) -> SpotMarket:
    return SpotMarket(symbol=symbol, base=base, quote="USDT", tick_size=Decimal(tick),
                      min_price=Decimal(tick), max_price=Decimal("1000000"),
                      step_size=Decimal(step), min_qty=Decimal(step),
                      max_qty=Decimal(max_qty), min_notional=Decimal("5"))


DEFAULT_MARKETS = (
    _market("BTCUSDT", "BTC", tick="0.01", step="0.00001", max_qty="9000"),
    _market("ETHUSDT", "ETH", tick="0.01", step="0.0001", max_qty="100000"),
)


def check_filters(market: SpotMarket, price: Decimal | None, qty: Decimal,
                  notional_price: Decimal | None) -> None:
    """Raise Binance's -1013 filter failure for an order that breaks one of the filters.

    ``price`` is the limit price (None for a market order); ``notional_price`` the price the
    NOTIONAL filter weighs the quantity at (None skips it, as when a market has no price yet).
    """
    if price is not None and (price < market.min_price or price > market.max_price
                              or price % market.tick_size != 0):
        raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
    if qty < market.min_qty or qty > market.max_qty or qty % market.step_size != 0:
        raise BinanceError(-1013, "Filter failure: LOT_SIZE")
    if notional_price is not None and notional_price * qty < market.min_notional:
        raise BinanceError(-1013, "Filter failure: NOTIONAL")
