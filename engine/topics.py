"""Topic names for the message bus, general to specific, so a ZeroMQ SUB prefix selects
exactly the right streams: ``md.bar.binance.BTC/USDT.1m``, ``md.trade.binance.BTC/USDT``,
``exec.fill.<strategy_id>``. Build topics here and nowhere else.
"""

from __future__ import annotations


def market_data(kind: str, venue: str, symbol: str, timeframe: str | None = None) -> str:
    """Topic of one instrument's market data stream of one kind."""
    topic = f"md.{kind}.{venue}.{symbol}"
    return f"{topic}.{timeframe}" if timeframe else topic


def market_data_prefix(kind: str | None = None, venue: str | None = None) -> str:
    """Prefix selecting every market data stream, or those of one kind (and venue)."""
    if kind is None:
        return "md."
    if venue is None:
        return f"md.{kind}."
    return f"md.{kind}.{venue}."


def order_commands(strategy_id: str) -> str:
    """Topic of the commands a strategy sends (submit, cancel)."""
    return f"cmd.order.{strategy_id}"


def execution_events(strategy_id: str) -> str:
    """Topic of the order events (accepted, filled, ...) addressed to one strategy."""
    return f"exec.order.{strategy_id}"
