"""Counting what a ccxt client asks of its exchange: every REST request (by HTTP method),
its latency, every failure (by ccxt error class), and the time to place and cancel orders.

:func:`instrument` wraps the client's ``fetch`` (which every ccxt REST call goes through)
and its ``create_order`` / ``cancel_order``; the counts live on an :class:`ExchangeStats`
the session's metrics read. Labels never carry a URL, a parameter or a key: only the
exchange id, the method and the error class.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from typing import Any

from engine.obs.metrics import EXCHANGE_REQUEST_SECONDS, ORDER_SECONDS, Samples


@dataclasses.dataclass
class ExchangeStats:
    """REST requests by method and failures by error class, since the client was built."""

    exchange: str
    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)

    def samples(self, samples: Samples) -> None:
        for method, n in list(self.requests.items()):
            samples.add("raytrader_exchange_requests_total", n, exchange=self.exchange,
                        method=method)
        for error, n in list(self.errors.items()):
            samples.add("raytrader_exchange_errors_total", n, exchange=self.exchange,
                        error=error)


def instrument(exchange: Any) -> ExchangeStats:
    """Count ``exchange``'s (a ccxt async client's) requests, errors and order latency from
    now on; returns the stats (also at ``exchange.raytrader_stats``). Idempotent."""
    found = getattr(exchange, "raytrader_stats", None)
    if isinstance(found, ExchangeStats):
        return found
    stats = ExchangeStats(str(exchange.id))
    fetch = exchange.fetch

    async def counted_fetch(url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        method = str(method).upper()
        stats.requests[method] += 1
        began = time.perf_counter()
        try:
            return await fetch(url, method, *args, **kwargs)
        except Exception as exc:
            stats.errors[type(exc).__name__] += 1
            raise
        finally:
            EXCHANGE_REQUEST_SECONDS.labels(exchange=stats.exchange, method=method).observe(
                time.perf_counter() - began)

    exchange.fetch = counted_fetch
    for action, name in (("create", "create_order"), ("cancel", "cancel_order")):
        original = getattr(exchange, name, None)
        if original is not None:
            setattr(exchange, name, _timed(original, ORDER_SECONDS.labels(
                exchange=stats.exchange, action=action)))
    exchange.raytrader_stats = stats
    return stats


def _timed(call: Any, histogram: Any) -> Any:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - began)
    return timed


__all__ = ["ExchangeStats", "instrument"]
