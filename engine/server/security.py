"""Who may change state, and how often anyone may call.

- **The token.** Every call that changes state (``POST``, ``PUT``, ``PATCH``, ``DELETE``)
  needs ``Authorization: Bearer <token>``, the token being ``RAYTRADER_API_TOKEN`` (at least
  16 characters). No header or another scheme: 401; a wrong token: 403; a server without a
  token refuses every state change (403) and serves reads only. Tokens are compared in
  constant time and never logged.
- **Where it listens.** 127.0.0.1 by default; a host beyond loopback is refused unless a
  token is configured (:func:`check_bind`).
- **Reads.** Open by default (health, status, books, the websocket, ``/metrics``); with
  ``protect_reads`` (``raytrader serve --protect-reads``) every route but
  ``/api/v1/health`` needs the token too (the websocket takes it in the header or as
  ``?token=``; Prometheus sends it with ``authorization`` in its scrape config).
- **The rate limit.** A token bucket per client address: ``rate`` calls a second on average,
  bursts of ``burst``; past it, 429 with ``Retry-After``. State changes spend five tokens.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time

from fastapi import HTTPException, Request

from engine.errors import ConfigError

MIN_TOKEN_CHARS = 16
WRITE_COST = 5.0
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str | None) -> str | None:
    """The configured token, or None; a token too short to be safe is refused."""
    if token is None or token == "":
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"RAYTRADER_API_TOKEN is too short: use at least {MIN_TOKEN_CHARS} "
                          f"random characters (e.g. `python -c 'import secrets; "
                          f"print(secrets.token_urlsafe(32))'`)")
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not is_loopback(host) and check_token(token) is None:
        raise ConfigError(f"--host {host}: the API refuses to listen beyond 127.0.0.1 without "
                          f"a token; set RAYTRADER_API_TOKEN (at least {MIN_TOKEN_CHARS} "
                          f"characters)")


class TokenGuard:
    """The FastAPI dependency that state-changing routes declare."""

    def __init__(self, token: str | None) -> None:
        self.token = check_token(token)

    def __call__(self, request: Request) -> None:
        self.check(request.headers.get("authorization"), "this call changes state")

    def check(self, header: str | None, why: str) -> None:
        """Raise the 401 / 403 ``HTTPException`` unless ``header`` carries the token."""
        if self.token is None:
            raise HTTPException(403, "state-changing calls are disabled: the server was "
                                     "started without RAYTRADER_API_TOKEN")
        if not header:
            raise HTTPException(401, f"{why}: send Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise HTTPException(401, "the Authorization header must be 'Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise HTTPException(403, "wrong token")


class RateLimiter:
    """Token buckets by client address."""

    def __init__(self, rate: float, burst: float) -> None:
        if not (rate > 0 and burst >= 1):
            raise ConfigError("the rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst = float(rate), float(burst)
        self.buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str, cost: float = 1.0) -> float:
        """0 when the call may go, else the seconds to wait. A call never costs more than a
        whole burst (else a small burst would refuse it for ever)."""
        cost = min(cost, self.burst)
        now = time.monotonic()
        with self._lock:
            tokens, last = self.buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= cost:
                self.buckets[client] = (tokens - cost, now)
                return 0.0
            self.buckets[client] = (tokens, now)
            return (cost - tokens) / self.rate


__all__ = ["MIN_TOKEN_CHARS", "WRITES", "RateLimiter", "TokenGuard", "check_bind",
           "check_token", "is_loopback"]
