"""A data file's symbol read from its name, and spellings of one instrument."""

from __future__ import annotations

import pytest

from engine.data.symbols import same_symbol, symbol_from_filename


@pytest.mark.parametrize("name, symbol", [
    ("BTCUSDT-1m-2024-01.csv", "BTC/USDT"),           # data.binance.vision monthly dump
    ("ADABTC-1m-2021-11-27.csv", "ADA/BTC"),
    ("Binance_ETHUSDT_1h.csv", "ETH/USDT"),            # CryptoDataDownload
    ("BTCUSDT_Binance_futures_data_hour.csv", "BTC/USDT"),
    ("BTC-USDT_1h.csv", "BTC/USDT"),                   # base and quote as two tokens
    ("freqtrade_XRP_ETH-trades.json.gz", "XRP/ETH"),
    ("ETHTUSD.csv", "ETH/TUSD"),                       # the longest quote wins
    ("BTCFDUSD-1s.csv", "BTC/FDUSD"),
    ("/some/dir/SOLEUR 15m.csv", "SOL/EUR"),
    ("ohlcv_generic.csv", None),                       # no symbol in the name
    ("bars.csv", None),
    ("btcusdt-trades.csv", None),                      # only capitals spell a symbol
    ("btc-perp-20211231-20220201_1m.csv", None),
    ("USDT.csv", None),                                # a quote alone is no symbol
    ("2024USDT.csv", None),                            # a base starts with a letter
    ("ENTRY_prices.csv", None),                        # TRY is not a listed quote
])
def test_symbol_from_filename(name: str, symbol: str | None) -> None:
    assert symbol_from_filename(name) == symbol


@pytest.mark.parametrize("a, b, same", [
    ("BTC/USDT", "BTCUSDT", True),
    ("BTC/USDT", "btc-usdt", True),
    ("BTC/USDT:USDT", "BTC/USDT", True),               # ccxt's perpetual settled in USDT
    ("BTC/USDT", "ETH/USDT", False),
    ("ETH", "ETH/USDT", False),
])
def test_same_symbol(a: str, b: str, same: bool) -> None:
    assert same_symbol(a, b) is same
