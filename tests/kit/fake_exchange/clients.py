"""Real ccxt clients pointed at the fake exchange: never a mock of ccxt."""

from __future__ import annotations

from typing import Any

from engine.live.urls import apply_to
from tests.kit.fake_exchange.runner import FakeBinanceServer

__all__ = ["point_ccxt", "binance_client", "SPOT_ONLY"]

# Keeps load_markets to GET /api/v3/exchangeInfo: without these, ccxt also asks for the
# USD-M and COIN-M futures exchangeInfo and, with keys, the margin pairs and coin list.
SPOT_ONLY = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
             "fetchMargins": False, "fetchCurrencies": False}


def point_ccxt(exchange: Any, rest_url: str, ws_url: str) -> Any:
    """Move every REST and websocket URL of a ccxt instance to the fake (the product's
    ``rest_url`` / ``ws_url`` exchange-config keys do the same)."""
    return apply_to(exchange, rest_url, ws_url)


def binance_client(cls: type, server: FakeBinanceServer, *, api_key: str | None = None,
                   secret: str | None = None, timeout_ms: int = 3000,
                   options: dict[str, Any] | None = None, spot_only: bool = True,
                   **config: Any) -> Any:
    """``cls`` (ccxt.binance, ccxt.async_support.binance or ccxt.pro.binance) with the fake's
    credentials (or the given ones), a short timeout and no client-side rate limiting."""
    merged = {**(SPOT_ONLY if spot_only else {}), **(options or {})}
    exchange = cls({"apiKey": server.api_key if api_key is None else api_key,
                    "secret": server.secret if secret is None else secret,
                    "timeout": timeout_ms, "enableRateLimit": False, "options": merged,
                    **config})
    return point_ccxt(exchange, server.rest_url, server.ws_url)
