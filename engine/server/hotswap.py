"""Hot swap: strategies registered, re-parameterized and unregistered on the agent's running
paper session, their set and state persisted in ``strategies.json``. A mixin of
:class:`engine.server.agent.Agent`; every change runs on the session's event loop
(``_call``), so it never races the market."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import ConfigError


class StrategySwaps:
    """The agent's strategy set, changed while its session runs."""

    session: Any
    state_dir: Path
    removed: set[str]
    swaps: list[dict[str, Any]]
    paused_handlers: dict[str, list[Any]] | None
    _pending_states: dict[str, Any]
    hub: Any
    log: Any

    # the agent's own (Agent defines them; these say what the mixin relies on)
    def _call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        raise NotImplementedError

    def _live_loop(self) -> Any:
        raise NotImplementedError

    def _engine(self) -> Any:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        raise NotImplementedError

    def strategies(self) -> list[dict[str, Any]]:
        engine = self._engine()
        return [{"id": c.strategy_id, "symbol": c.symbol,
                 "strategy": type(c.strategy).__module__ + ":" + type(c.strategy).__qualname__,
                 "name": c.strategy.name, "params": c.strategy.params.to_dict(),
                 "active": c.strategy_id not in self.removed and
                 c.strategy_id not in engine._faulted}
                for c in list(engine.contexts)]

    def register(self, ref: str, params: dict[str, Any], symbol: str,
                 strategy_id: str | None = None) -> dict[str, Any]:
        """Add a strategy to the running session (it starts on the next event)."""
        from engine.strategy import load_strategy

        loop = self._live_loop()
        if symbol not in loop.kinds:
            raise ConfigError(f"symbol {symbol!r} is not in the session; it trades "
                              f"{', '.join(loop.kinds)}")
        cls = load_strategy(ref)
        instance = cls(cls.Params.create(params, source=f"strategy {ref!r}"))

        def add() -> str:
            engine = loop.engine
            sid = strategy_id or f"{instance.name}:{symbol}"
            if any(c.strategy_id == sid for c in engine.contexts):
                raise ConfigError(f"strategy id {sid!r} is already in the session")
            ctx = engine.add_strategy(instance, symbol, sid,
                                      capital_share=1.0 / (len(engine.contexts) + 1))
            engine._call(ctx, "on_start")
            self._rehook(symbol)
            return sid

        sid = self._call(add)
        self._swapped("register", sid, ref=ref, params=params, symbol=symbol)
        return {"id": sid}

    def unregister(self, strategy_id: str) -> dict[str, Any]:
        """Take a strategy out: its working orders canceled, its position closed, its hooks
        no longer called."""
        loop = self._live_loop()

        def remove() -> None:
            engine = loop.engine
            ctx = self._ctx(strategy_id)
            ctx.cancel_all()
            if abs(ctx.position) > 1e-12:
                ctx.exit_position()
            self.removed.add(strategy_id)
            engine._call(ctx, "on_stop")
            self._rehook(ctx.symbol)

        self._call(remove)
        self._swapped("unregister", strategy_id)
        return {"id": strategy_id}

    def reparameterize(self, strategy_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Swap a strategy for one with new parameters, handing over its saved state."""
        loop = self._live_loop()
        ctx = self._ctx(strategy_id)
        cls = type(ctx.strategy)
        merged = {**ctx.strategy.params.to_dict(), **params}
        successor = cls(cls.Params.create(merged, source=f"strategy {strategy_id!r}"))

        def swap() -> None:
            engine = loop.engine
            old = ctx.strategy
            state = old.save_state() if old.overrides("save_state") else None
            ctx.strategy = successor
            successor.ctx = ctx
            engine._call(ctx, "on_start")
            if state is not None and successor.overrides("load_state"):
                successor.load_state(state)
            self._rehook(ctx.symbol)

        self._call(swap)
        self._swapped("reparameterize", strategy_id, params=merged)
        return {"id": strategy_id, "params": successor.params.to_dict()}

    def _ctx(self, strategy_id: str) -> Any:
        for ctx in self._engine().contexts:
            if ctx.strategy_id == strategy_id and strategy_id not in self.removed:
                return ctx
        raise KeyError(strategy_id)

    def _rehook(self, symbol: str) -> None:
        """Rebuild the hooks the loop calls on ``symbol``'s events (on the session's loop)."""
        from engine.backtesting.hook_loop import event_hooks

        loop = self.session.loop
        engine = loop.engine
        kind = loop.kinds[symbol][0]
        hooks = [h for ctx in engine.contexts if ctx.symbol == symbol
                 and ctx.strategy_id not in engine._faulted
                 and ctx.strategy_id not in self.removed for h in event_hooks(ctx, kind)]
        target = self.paused_handlers if self.paused_handlers is not None else loop.handlers
        target[symbol] = hooks
        if self.paused_handlers is None:
            engine._handlers[symbol] = loop.handlers[symbol]

    def _swapped(self, what: str, strategy_id: str, **details: Any) -> None:
        self.swaps.append({"what": what, "id": strategy_id, "ts": time.time(), **details})
        self.log.info("strategy " + what, strategy=strategy_id)
        self._save_strategies(self.session)
        self.hub.publish("agent", self.status())

    def _saved_path(self) -> Path:
        return self.state_dir / "strategies.json"

    def _read_saved(self) -> dict[str, Any]:
        path = self._saved_path()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_strategies(self, session: Any) -> None:
        """Write the session's strategy set and each strategy's state (atomically)."""
        loop = session.loop if session is not None else None
        if loop is None:
            return
        entries = []
        for ctx in list(loop.engine.contexts):
            if ctx.strategy_id in self.removed:
                continue
            strategy = ctx.strategy
            state = strategy.save_state() if strategy.overrides("save_state") else None
            if state is None:
                state = self._pending_states.get(ctx.strategy_id)
            entries.append({"id": ctx.strategy_id, "symbol": ctx.symbol,
                            "strategy": f"{type(strategy).__module__}:"
                                        f"{type(strategy).__qualname__}",
                            "params": strategy.params.to_dict(), "state": state})
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self._saved_path()
        tmp = path.with_name(".strategies.json.tmp")
        tmp.write_text(json.dumps({"saved": time.time(), "strategies": entries},
                                  default=str, indent=1))
        tmp.replace(path)


__all__ = ["StrategySwaps"]
