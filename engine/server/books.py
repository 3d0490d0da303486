"""What the agent shows of its session's engine: orders, positions, risk, performance, each
as JSON-ready dicts. Read from the engine's own state (on the API's threads: copies of its
dicts and lists, never a mutation)."""

from __future__ import annotations

from typing import Any


def orders(engine: Any) -> dict[str, Any]:
    """Working orders and the latest 200 order events."""
    working = [{"client_order_id": o.client_order_id, "strategy_id": o.strategy_id,
                "symbol": o.symbol, "side": o.side, "quantity": o.quantity,
                "leaves": getattr(o, "leaves", None)}
               for book in list(engine.venue.working.values()) for o in list(book)]
    events = [event_view(e) for e in list(engine.order_events)[-200:]]
    return {"working": working, "recent": events}


def positions(engine: Any) -> list[dict[str, Any]]:
    """Every (symbol, strategy) position with its mark and PnL."""
    marks = dict(engine.portfolio.last_price)
    out = []
    for (symbol, sid), pos in list(engine.portfolio.positions.items()):
        mark = marks.get(symbol)
        out.append({"symbol": symbol, "strategy_id": sid, "qty": pos.qty,
                    "avg_price": pos.avg_price, "mark": mark,
                    "realized_pnl": pos.realized_pnl, "fees": pos.fees,
                    "unrealized_pnl": pos.unrealized_pnl(mark) if mark and pos.qty
                    else 0.0})
    return out


def risk(engine: Any) -> dict[str, Any]:
    """The trading states, the kill switch, denials, breaker trips and the limits."""
    risk = engine.risk
    states = {scope: {"state": state_name(s), "reason": code}
              for scope, (s, code, _) in dict(risk.states).items()}
    return {"state": state_name(risk.state("portfolio")), "states": states,
            "kill_switch": bool(risk.trips.get("kill_switch")),
            "denials": dict(risk.denials), "breaker_trips": dict(risk.trips),
            "limits": {k: v for k, v in engine.limits.__dict__.items()
                       if isinstance(v, (int, float, str, bool)) or v is None}}


def performance(engine: Any) -> dict[str, Any]:
    """Equity, cash, return, fees and PnL per strategy."""
    portfolio = engine.portfolio
    equity = portfolio.equity() if portfolio.last_price else portfolio.cash
    initial = portfolio.initial_cash
    by_strategy = {}
    marks = dict(portfolio.last_price)
    for (symbol, sid), pos in list(portfolio.positions.items()):
        mark = marks.get(symbol)
        unrealized = pos.unrealized_pnl(mark) if mark and pos.qty else 0.0
        by_strategy[sid] = {"realized_pnl": pos.realized_pnl, "unrealized_pnl": unrealized,
                            "fees": pos.fees,
                            "net_pnl": pos.realized_pnl + unrealized - pos.fees,
                            "fills": pos.n_fills}
    return {"equity": equity, "cash": portfolio.cash, "initial_equity": initial,
            "total_return": equity / initial - 1.0 if initial else None,
            "fees": portfolio.total_fees, "trades": len(portfolio.trades),
            "strategies": by_strategy}


def state_name(code: int) -> str:
    """ACTIVE, REDUCING or HALTED."""
    from engine.risk import STATES

    return STATES[code]


def event_view(event: Any) -> dict[str, Any]:
    """An order event, fill or risk event as JSON: its type and fields."""
    if hasattr(event, "_asdict"):
        fields = event._asdict()
    elif hasattr(event, "__dataclass_fields__"):
        fields = {k: getattr(event, k) for k in event.__dataclass_fields__}
    else:
        fields = {"repr": repr(event)}
    return {"type": type(event).__name__,
            **{k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
               for k, v in fields.items()}}


__all__ = ["event_view", "orders", "performance", "positions", "risk", "state_name"]
