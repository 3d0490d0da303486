"""A fake Binance spot exchange on 127.0.0.1 that the real ccxt clients (sync, async, pro)
talk to, with fault injection. Test-only: it lives in the tests, not in the product.

    with running_fake_binance() as ex:
        client = binance_client(ccxt.binance, ex)
        ex.set_book("BTCUSDT", bid=30000, ask=30001)
        client.create_order("BTC/USDT", "market", "buy", 0.01)
"""

from tests.kit.fake_exchange.app import API_KEY, API_SECRET, FakeBinance
from tests.kit.fake_exchange.clients import SPOT_ONLY, binance_client, point_ccxt
from tests.kit.fake_exchange.errors import BinanceError
from tests.kit.fake_exchange.markets import DEFAULT_MARKETS, SpotMarket
from tests.kit.fake_exchange.runner import (
    FakeBinanceServer,
    async_wait_until,
    running_fake_binance,
    wait_until,
)
from tests.kit.fake_exchange.state import ExchangeState

__all__ = [
    "FakeBinance", "FakeBinanceServer", "ExchangeState", "running_fake_binance",
    "binance_client", "point_ccxt", "SPOT_ONLY", "wait_until", "async_wait_until",
    "SpotMarket", "DEFAULT_MARKETS", "BinanceError", "API_KEY", "API_SECRET",
]
