"""Before an order reaches an exchange: the market's precision and limits (through a real ccxt
Binance client with its markets set, no network), ccxt's errors sorted into what they mean for
the order, and the request budget shared by everything that talks to one exchange."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import pytest

from engine.live.orders import (Outcome, Prepared, RequestBudget, classify, is_ban,
                                prepare_order, reason_of, retry_after)
from engine.messages import BUY, SELL, SubmitOrder

BTC = {"id": "BTCUSDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "baseId": "BTC",
       "quoteId": "USDT", "active": True, "type": "spot", "spot": True, "contract": False,
       "precision": {"amount": 0.00001, "price": 0.01},
       "limits": {"amount": {"min": 0.00001, "max": 9000.0},
                  "price": {"min": 0.01, "max": 1_000_000.0},
                  "cost": {"min": 5.0, "max": None}}}


@pytest.fixture()
def binance() -> Any:
    exchange = ccxt.binance()
    exchange.set_markets([BTC])
    return exchange


def order(qty: Any, kind: str = "MARKET", side: str = BUY, limit: Any = None,
          stop: Any = None, post_only: bool = False) -> SubmitOrder:
    return SubmitOrder("s:BTC/USDT", "binance", "BTC/USDT", "s-1", side, kind, qty, limit, stop,
                       "GTC", 1, 1, False, post_only)


def test_an_order_is_rounded_to_the_market_s_precision(binance: Any) -> None:
    got = prepare_order(binance, order(0.123456789, "LIMIT", limit=100.0049), "rt-abc-1")
    assert got == Prepared("BTC/USDT", "limit", "buy", 0.12345, 100.0,
                           {"clientOrderId": "rt-abc-1"})
    market = prepare_order(binance, order(0.5, side=SELL), "rt-abc-2", mark=100.0)
    assert isinstance(market, Prepared) and (market.type, market.side) == ("market", "sell")


def test_a_stop_limit_carries_its_trigger_and_post_only(binance: Any) -> None:
    got = prepare_order(binance, order(0.1, "STOP_LIMIT", limit=101.0, stop=100.5), "rt-1")
    assert isinstance(got, Prepared)
    assert got.type == "limit" and got.params["triggerPrice"] == 100.5
    post = prepare_order(binance, order(0.1, "LIMIT", limit=99.0, post_only=True), "rt-2")
    assert isinstance(post, Prepared) and post.params["postOnly"] is True


@pytest.mark.parametrize("cmd, mark, says", [
    (order(0.000001), 100.0, "amount 1e-06"),                        # below the step
    (order(10_000.0), 100.0, "amount 10000 is above BTC/USDT's maximum 9000"),
    (order(0.01, "LIMIT", limit=100.0), None, "notional 1 is below BTC/USDT's minimum 5"),
    (order(0.01), 100.0, "notional 1 is below BTC/USDT's minimum 5"),  # market: at the mark
    (order(1.0, "LIMIT", limit=2_000_000.0), None, "price 2000000 is above"),
])
def test_an_order_the_exchange_would_refuse_is_not_sent(binance: Any, cmd: SubmitOrder,
                                                        mark: Any, says: str) -> None:
    got = prepare_order(binance, cmd, "rt-1", mark=mark)
    assert isinstance(got, str) and got.startswith("exchange_rejected:") and says in got, got


def test_an_unknown_symbol_or_an_engine_only_order_type_is_refused(binance: Any) -> None:
    other = order(1.0)._replace(symbol="DOGE/USDT")
    assert "has no market 'DOGE/USDT'" in str(prepare_order(binance, other, "rt-1"))
    trailing = order(1.0, "TRAILING_STOP")
    assert "TRAILING_STOP orders are not sent" in str(prepare_order(binance, trailing, "rt-1"))


@pytest.mark.parametrize("exc, outcome", [
    (ccxt.InsufficientFunds("Account has insufficient balance"), Outcome.DENIED),
    (ccxt.InvalidOrder("Filter failure: LOT_SIZE"), Outcome.REJECTED),
    (ccxt.OrderNotFound("Unknown order sent."), Outcome.REJECTED),
    (ccxt.BadSymbol("Invalid symbol."), Outcome.REJECTED),
    (ccxt.RequestTimeout("timed out"), Outcome.RETRY),
    (ccxt.RateLimitExceeded("429 Too Many Requests"), Outcome.RETRY),
    (ccxt.DDoSProtection("418 I'm a teapot"), Outcome.RETRY),
    (ccxt.ExchangeNotAvailable("502"), Outcome.RETRY),
    (ccxt.NetworkError("connection reset"), Outcome.RETRY),
    (ccxt.AuthenticationError("Signature for this request is not valid."), Outcome.FATAL),
    (ccxt.PermissionDenied("not allowed"), Outcome.FATAL),
    (RuntimeError("a bug"), Outcome.FATAL),
])
def test_ccxt_errors_are_sorted_by_what_they_mean_for_the_order(exc: BaseException,
                                                                outcome: Outcome) -> None:
    assert classify(exc) is outcome


def test_a_reason_names_the_exchange_the_call_and_the_error() -> None:
    text = reason_of(ccxt.InsufficientFunds('binance {"code":-2010,"msg":"Account has\n'
                                            'insufficient balance"}'), "binance", "create_order")
    assert text.startswith("insufficient_buying_power: binance create_order: "
                           "InsufficientFunds: ")
    assert "\n" not in text


def test_the_budget_spaces_requests_and_holds_them_after_a_429() -> None:
    now = [100.0]
    slept: list[float] = []

    async def scenario() -> None:
        budget = RequestBudget(0.05, clock=lambda: now[0])
        real_sleep = asyncio.sleep

        async def fake_sleep(seconds: float) -> None:   # the clock moves as we wait
            slept.append(round(seconds, 9))
            now[0] += seconds
            await real_sleep(0)

        asyncio.sleep = fake_sleep   # type: ignore[assignment]
        try:
            await budget.take()                 # the first goes at once
            await budget.take()                 # the second waits the interval
            budget.back_off(2.0)                # the exchange said: 2 s
            await budget.take()
        finally:
            asyncio.sleep = real_sleep   # type: ignore[assignment]
        # the second waited its 0.05 s; the third the 2 s the exchange asked, from the moment
        # it asked (100.05)
        assert budget.waited == pytest.approx(2.05)

    asyncio.run(scenario())
    assert slept == [pytest.approx(0.05), pytest.approx(2.0)]


def test_retry_after_reads_what_the_exchange_asked_else_backs_off() -> None:
    assert retry_after(ccxt.RateLimitExceeded("429 Retry-After: 7"), attempt=0) == 7.0
    assert retry_after(ccxt.NetworkError("reset"), attempt=3) == 4.0
    assert retry_after(ccxt.NetworkError("reset"), attempt=30) == 60.0
    assert retry_after(ccxt.DDoSProtection("418 banned"), attempt=0) == 60.0
    with pytest.raises(ValueError, match="request interval"):
        RequestBudget(-1.0)


def test_only_a_418_status_is_a_ban_not_418_in_a_url_or_a_timestamp() -> None:
    """A timeout's message carries the request's URL, whose timestamp or signature can hold
    the digits 418: that is no ban, and waits the ordinary backoff."""
    timeout = ccxt.RequestTimeout("binance DELETE http://127.0.0.1:4000/api/v3/order?"
                                  "timestamp=1796637418123&signature=ab418cd")
    assert retry_after(timeout, attempt=0) == 0.5
    assert not is_ban(timeout)
    banned = ccxt.DDoSProtection('binance 418 I\'m a Teapot {"code": -1003}')
    assert is_ban(banned) and retry_after(banned, attempt=0) == 60.0
    assert not is_ban(ccxt.DDoSProtection("binance 429 Too Many Requests ts=1418"))
