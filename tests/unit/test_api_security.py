"""Where the API may listen, which tokens it accepts, and its rate limit."""

from __future__ import annotations

import time

import pytest

from engine.errors import ConfigError
from engine.server.security import RateLimiter, check_bind, check_token, is_loopback


def test_the_api_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match="RAYTRADER_API_TOKEN"):
            check_bind(host, None)
    check_bind("0.0.0.0", "a-long-enough-token-1234")
    with pytest.raises(ConfigError, match="too short"):
        check_token("short")


def test_the_rate_limit_allows_bursts_then_waits() -> None:
    limiter = RateLimiter(rate=10.0, burst=3.0)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0 < wait <= 0.1
    assert limiter.take("b") == 0.0          # per client
    assert limiter.take("c", cost=5.0) == 0.0   # a write spends at most a whole burst
    assert limiter.take("c") > 0
    time.sleep(0.15)
    assert limiter.take("a") == 0.0
