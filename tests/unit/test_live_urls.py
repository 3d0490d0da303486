"""engine.live.urls: the rest_url / ws_url keys move every ccxt URL to another host."""

from __future__ import annotations

import ccxt
import ccxt.pro
import pytest

from engine.errors import ConfigError
from engine.live.urls import apply_to, rewrite_urls

URLS = {
    "logo": "https://example.com/logo.png",
    "api": {
        "public": "https://api.binance.com/api/v3",
        "sapi": "https://api.binance.com/sapi/v1?x=1",
        "ws": {
            "spot": "wss://stream.binance.com:9443/ws",
            "ws-api": {"spot": "wss://ws-api.binance.com:443/ws-api/v3"},
        },
    },
    "doc": ["https://developers.binance.com/en"],
    "referral": {"url": "https://accounts.binance.com/register", "discount": 0.1},
    "name": "not a url",
}


def test_rewrites_scheme_and_host_keeping_paths() -> None:
    out = rewrite_urls(URLS, "http://127.0.0.1:8080", "ws://127.0.0.1:8081")
    assert out["api"]["public"] == "http://127.0.0.1:8080/api/v3"
    assert out["api"]["sapi"] == "http://127.0.0.1:8080/sapi/v1?x=1"
    assert out["api"]["ws"]["spot"] == "ws://127.0.0.1:8081/ws"
    assert out["api"]["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:8081/ws-api/v3"
    assert out["doc"] == ["http://127.0.0.1:8080/en"]
    assert out["referral"]["discount"] == 0.1
    assert out["name"] == "not a url"


def test_input_is_not_mutated_and_none_keeps_a_kind() -> None:
    before = repr(URLS)
    out = rewrite_urls(URLS, None, "wss://fake.local")
    assert repr(URLS) == before
    assert out["api"]["public"] == "https://api.binance.com/api/v3"
    assert out["api"]["ws"]["spot"] == "wss://fake.local/ws"


def test_trailing_slash_is_a_bare_host() -> None:
    out = rewrite_urls(URLS, "http://h:1/", None)
    assert out["api"]["public"] == "http://h:1/api/v3"


@pytest.mark.parametrize(("rest", "ws", "key"), [
    ("127.0.0.1:8080", None, "rest_url"),        # no scheme
    ("http://", None, "rest_url"),                 # no host
    ("ws://127.0.0.1:1", None, "rest_url"),       # websocket scheme for REST
    (None, "127.0.0.1:8081", "ws_url"),
    (None, "http://127.0.0.1:8081", "ws_url"),
    (None, "ws:///path", "ws_url"),
    ("http://127.0.0.1:8080/api", None, "rest_url"),  # a path would be silently dropped
    ("http://127.0.0.1:notaport", None, "rest_url"),
    (None, 8081, "ws_url"),
])
def test_bad_input_names_the_key(rest: object, ws: object, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        rewrite_urls(URLS, rest, ws)  # type: ignore[arg-type]


def test_apply_to_real_ccxt_classes_leaves_no_binance_host() -> None:
    for exchange in (ccxt.binance(), ccxt.pro.binance()):
        apply_to(exchange, "http://127.0.0.1:1", "ws://127.0.0.1:2")
        flat = repr(exchange.urls)
        assert "binance.com" not in flat and "binance.vision" not in flat
        assert exchange.urls["api"]["public"] == "http://127.0.0.1:1/api/v3"
    assert exchange.urls["api"]["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:2/ws-api/v3"
