"""Instrument names: reading one from a data file's name, and telling two spellings apart.

A file name gives its symbol only when it spells an exchange symbol in capitals, as exchange
dumps do: one token that is a base followed by a known quote currency (``BTCUSDT-1m-2024-01.csv``,
``Binance_ETHBTC_1h.csv``), or two tokens, base then quote (``BTC-USDT_1h.csv``,
``freqtrade_XRP_ETH-trades.json.gz``). Tokens are separated by ``-``, ``_`` or blanks; the
first match wins. Anything else (``prices.csv``, ``btcusdt.csv``) gives no symbol.
"""

from __future__ import annotations

import re
from pathlib import Path

# Quote currencies recognised at the end of a file-name token, longest first so that
# ETHTUSD reads ETH/TUSD and BTCFDUSD reads BTC/FDUSD. (TRY is left out: ENTRY, RETRY.)
QUOTE_CURRENCIES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "BTC", "ETH",
                    "BNB")

_BASE = re.compile(r"[A-Z][A-Z0-9]{1,9}")


def symbol_from_filename(path: str | Path) -> str | None:
    """``BASE/QUOTE`` when the file's name spells a symbol (see the module doc), else None."""
    stem = Path(path).name.split(".")[0]
    tokens = [t for t in re.split(r"[-_\s]+", stem) if t]
    for i, token in enumerate(tokens):
        for quote in QUOTE_CURRENCIES:
            if token.endswith(quote) and _BASE.fullmatch(token[:-len(quote)]):
                return f"{token[:-len(quote)]}/{quote}"
        if i + 1 < len(tokens) and tokens[i + 1] in QUOTE_CURRENCIES and _BASE.fullmatch(token):
            return f"{token}/{tokens[i + 1]}"
    return None


def same_symbol(a: str, b: str) -> bool:
    """Whether two spellings name one instrument: ``BTC/USDT``, ``BTCUSDT``, ``btc-usdt`` and
    ``BTC/USDT:USDT`` (ccxt's perpetual, settled in USDT) all do."""
    return _bare(a) == _bare(b)


def _bare(symbol: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", symbol.split(":")[0].upper())
