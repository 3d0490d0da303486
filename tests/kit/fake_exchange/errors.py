"""Binance's error replies: ``{"code": -2010, "msg": "..."}`` with an HTTP status."""

from __future__ import annotations

__all__ = ["BinanceError", "INSUFFICIENT_BALANCE", "DUPLICATE_ORDER", "UNKNOWN_ORDER",
           "NO_SUCH_ORDER", "BAD_SIGNATURE", "BAD_API_KEY_FORMAT", "REJECTED_API_KEY",
           "TIMESTAMP_OUTSIDE_WINDOW", "INVALID_SYMBOL"]


class BinanceError(Exception):
    """A request the fake exchange refuses, answered as Binance answers it."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


# The exact texts Binance sends; ccxt matches some of them (and the codes) in its table.
INSUFFICIENT_BALANCE = (-2010, "Account has insufficient balance for requested action.")
DUPLICATE_ORDER = (-2010, "Duplicate order sent.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
BAD_SIGNATURE = (-1022, "Signature for this request is not valid.")
BAD_API_KEY_FORMAT = (-2014, "API-key format invalid.")
REJECTED_API_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
TIMESTAMP_OUTSIDE_WINDOW = (-1021, "Timestamp for this request is outside of the recvWindow.")
INVALID_SYMBOL = (-1121, "Invalid symbol.")
