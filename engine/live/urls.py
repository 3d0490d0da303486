"""Point a ccxt exchange at another host: the ``rest_url`` / ``ws_url`` keys of
``--exchange-config``.

Each key replaces the scheme and host (with port) of every REST (http, https) or websocket
(ws, wss) URL in a ccxt class's nested ``urls`` dict; paths and queries are kept, so
``https://api.binance.com/api/v3`` with ``rest_url="http://127.0.0.1:8080"`` becomes
``http://127.0.0.1:8080/api/v3``. Strings that are not URLs (and numbers) are left alone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.errors import ConfigError

__all__ = ["rewrite_urls", "apply_to"]

REST_SCHEMES = ("http", "https")
WS_SCHEMES = ("ws", "wss")


def _base(key: str, url: str | None, schemes: tuple[str, ...]) -> tuple[str, str] | None:
    """The (scheme, host) that ``url`` puts in place, or None when the key is unset."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise ConfigError(f"{key}: expected a URL string, got {type(url).__name__}")
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ConfigError(f"{key}: {url!r} needs a scheme and a host, e.g. "
                          f"'{schemes[0]}://127.0.0.1:8080'")
    if parts.scheme not in schemes:
        raise ConfigError(f"{key}: scheme {parts.scheme!r} of {url!r} is not one of "
                          f"{', '.join(schemes)}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # Only the scheme and host are replaced; a path here would be silently dropped.
        raise ConfigError(f"{key}: {url!r} must be a scheme and host only, without a path")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"{key}: {url!r} has an invalid port") from exc
    return parts.scheme, parts.netloc


def _rewrite(value: Any, rest: tuple[str, str] | None, ws: tuple[str, str] | None) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, rest, ws) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, rest, ws) for v in value]
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    target = rest if scheme in REST_SCHEMES else ws if scheme in WS_SCHEMES else None
    if target is None or not parts.netloc:
        return value
    return urlunsplit((target[0], target[1], parts.path, parts.query, parts.fragment))


def rewrite_urls(urls: dict[str, Any], rest_url: str | None,
                 ws_url: str | None) -> dict[str, Any]:
    """A copy of a ccxt ``urls`` dict with every http(s) URL moved to ``rest_url``'s scheme and
    host and every ws(s) URL moved to ``ws_url``'s; a None key leaves that kind untouched.

    Raises ConfigError naming ``rest_url`` or ``ws_url`` when it is not a bare scheme://host.
    """
    if not isinstance(urls, dict):
        raise ConfigError(f"urls: expected the ccxt urls dict, got {type(urls).__name__}")
    rest = _base("rest_url", rest_url, REST_SCHEMES)
    ws = _base("ws_url", ws_url, WS_SCHEMES)
    rewritten: dict[str, Any] = _rewrite(urls, rest, ws)
    return rewritten


def apply_to(exchange: Any, rest_url: str | None, ws_url: str | None) -> Any:
    """Rewrite ``exchange.urls`` in place of the old dict (see :func:`rewrite_urls`) and return
    the exchange. Call it before the first request: ccxt.pro caches a connection per URL."""
    exchange.urls = rewrite_urls(exchange.urls, rest_url, ws_url)
    return exchange
