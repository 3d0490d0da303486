"""Deterministic client order ids: the same (run, strategy, symbol, sequence) always gives the
same id, so a retried or re-sent order carries the id the exchange already knows and is never
placed twice.

Format, 19 to 32 characters of ``[a-z0-9]`` only::

    rt <run tag: 6> <stream tag: 10> <sequence: 1-14 decimal digits>

- ``rt`` marks an id made by raytrader;
- the run tag is 6 base32 characters (30 bits) of a blake2b digest of the run id, so an order
  of this run can be told from one of another run on the same account;
- the stream tag is 10 base32 characters (50 bits) of a blake2b digest of (run, strategy,
  symbol): together with the run tag, 80 bits tell two streams apart;
- the sequence counts the stream's orders from 1 (``Journal.next_sequence``).

Alphanumerics only and at most 32 characters is the strictest common rule: OKX ``clOrdId``
(alphanumerics, <= 32), Binance ``newClientOrderId`` (``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``),
Bybit ``orderLinkId`` (<= 36, letters, digits, ``-`` and ``_``) all accept it. Venues with a
mandatory prefix (Gate.io's ``t-``) add and strip it in their adapter.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import NamedTuple

PREFIX = "rt"
RUN_TAG_LEN = 6
STREAM_TAG_LEN = 10
MAX_SEQUENCE = 10**14 - 1
MAX_LEN = len(PREFIX) + RUN_TAG_LEN + STREAM_TAG_LEN + len(str(MAX_SEQUENCE))   # 32

_ID = re.compile(rf"{PREFIX}([a-z2-7]{{{RUN_TAG_LEN}}})([a-z2-7]{{{STREAM_TAG_LEN}}})"
                 rf"([1-9][0-9]{{0,13}})")
_SEP = "\x1f"   # unit separator: no run, strategy or symbol name contains it


class ParsedOrderId(NamedTuple):
    """The parts of a raytrader client order id."""

    run_tag: str
    stream_tag: str
    sequence: int


def _tag(text: str, length: int) -> str:
    digest = hashlib.blake2b(text.encode(), digest_size=10, person=b"raytrader-coid").digest()
    return base64.b32encode(digest).decode("ascii").lower()[:length]


def run_tag(run_id: str) -> str:
    """The 6 characters every client order id of ``run_id`` carries after the prefix."""
    return _tag(run_id, RUN_TAG_LEN)


def client_order_id(run_id: str, strategy_id: str, symbol: str, seq: int) -> str:
    """The client order id of order number ``seq`` (from 1) of ``strategy_id`` on ``symbol``
    in run ``run_id``."""
    if type(seq) is not int or not 1 <= seq <= MAX_SEQUENCE:
        raise ValueError(f"order sequence must be an int in 1..{MAX_SEQUENCE}, got {seq!r}")
    for name, value in (("run_id", run_id), ("strategy_id", strategy_id), ("symbol", symbol)):
        if not value or _SEP in value:
            raise ValueError(f"{name} must be a non-empty string without \\x1f, got {value!r}")
    stream = _tag(_SEP.join((run_id, strategy_id, symbol)), STREAM_TAG_LEN)
    return f"{PREFIX}{run_tag(run_id)}{stream}{seq}"


def parse_client_order_id(coid: str) -> ParsedOrderId | None:
    """The run tag, stream tag and sequence of a raytrader id, or None for any other id."""
    m = _ID.fullmatch(coid)
    if m is None:
        return None
    return ParsedOrderId(m.group(1), m.group(2), int(m.group(3)))


def is_ours(coid: str, run_id: str | None = None) -> bool:
    """Whether ``coid`` was made by raytrader (by run ``run_id``, when given)."""
    parsed = parse_client_order_id(coid)
    return parsed is not None and (run_id is None or parsed.run_tag == run_tag(run_id))


def new_run_id() -> str:
    """A fresh random run id (16 hex characters) for a new trading session."""
    return secrets.token_hex(8)
