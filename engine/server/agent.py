"""The agent: one paper-trading session run by the API server, controlled through it.

The session (``engine.live.session.PaperSession``: live market data from an exchange through
ccxt.pro, the simulated venue, the backtest's risk engine) runs in a thread of its own with
its own event loop; every command reaches it on that loop, so nothing races the market:

- **pause / resume**: the strategies stop receiving market events (no new orders from them)
  while the market keeps flowing, the venue keeps filling working orders and marks move;
- **stop**: the session ends gracefully (as Ctrl-C ends ``raytrader paper``);
- **emergency stop**: the kill switch (working orders canceled, positions closed with
  reduce-only market orders), then the session ends once they filled or after a grace;
- **kill switch**: halts trading and flattens, the session stays up;
- **strategies**: registered, unregistered and re-parameterized on the running session (hot
  swap: a re-parameterized strategy hands its ``save_state()`` to its successor's
  ``load_state()``); the set and every strategy's state are written to ``strategies.json``
  in the agent's state folder after each change and at the end, and a session started with
  ``resume`` comes back with them.

A watcher on the session's loop publishes, four times a second, what is new (prices,
orders, fills, the strategies' signals, risk events, the agent's status) to the websocket
channels and hands it to the copilot alert rules. Only paper trading: live trading needs
keys, which the API never takes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.obs import logs
from engine.server import books
from engine.server.hotswap import StrategySwaps
from engine.server.hub import Hub

STATES = ("idle", "starting", "running", "paused", "stopping", "stopped", "emergency_stopped",
          "failed")
WATCH_S = 0.25
EMERGENCY_GRACE_S = 5.0


class AgentError(Exception):
    """A command the agent cannot carry out now (the API answers 409)."""


class Agent(StrategySwaps):
    """Runs and controls one paper session at a time."""

    def __init__(self, hub: Hub, state_dir: Path,
                 on_observation: Callable[[str, Any], None] | None = None) -> None:
        self.hub = hub
        self.state_dir = state_dir
        self.on_observation = on_observation   # (kind, data) -> the alert rules
        self.state = "idle"
        self.session: Any = None
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: str | None = None
        self.result: Any = None
        self.started_at: float | None = None
        self.paused_handlers: dict[str, list[Any]] | None = None
        self.removed: set[str] = set()     # strategies unregistered from the session
        self.swaps: list[dict[str, Any]] = []   # what changed the strategy set, in order
        self._seen = {"orders": 0, "fills": 0, "signals": 0}
        self._prices: dict[str, float] = {}
        self.decisions: list[dict[str, Any]] = []   # the strategies' orders, as placed
        self._pending_states: dict[str, Any] = {}
        self._emergency = False
        self.log = logs.get_logger("raytrader.api.agent")

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "paused", "stopping")

    def start(self, config: Any, spec: Any, *, duration: float | None = None,
              feed: str = "trades", resume: bool = False) -> dict[str, Any]:
        """Start a paper session of ``config`` on ``spec`` (``ExchangeSpec``)."""
        from engine.live.session import PaperSession

        if self.running:
            raise AgentError(f"the agent is {self.state}; stop it first")
        if resume:
            config = self._resumed_config(config)
        session = PaperSession(config, spec, duration, feed=feed)   # checks the settings
        self.session, self.result, self.error = session, None, None
        self.removed, self.swaps, self.paused_handlers = set(), [], None
        self._seen = {"orders": 0, "fills": 0, "signals": 0}
        self.decisions = []
        self._emergency = False
        self.started_at = time.time()
        self._set_state("starting")
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(session, ready),
                                       name="agent-session", daemon=True)
        self.thread.start()
        ready.wait(10)
        return self.status()

    def _resumed_config(self, config: Any) -> Any:
        """``config`` with the strategy set the last session left in ``strategies.json``."""
        saved = self._read_saved()
        if not saved.get("strategies"):
            raise ConfigError(f"resume: no saved strategies in {self._saved_path()}")
        entries = [{"strategy": s["strategy"], "params": s["params"]}
                   for s in saved["strategies"]]
        self._pending_states = {s["id"]: s.get("state") for s in saved["strategies"]
                                if s.get("state") is not None}
        return config.replace(strategies=tuple(entries))

    def _main(self, session: Any, ready: threading.Event) -> None:
        async def main() -> Any:
            self.loop = asyncio.get_running_loop()
            ready.set()
            watcher = asyncio.create_task(self._watch(session))
            try:
                return await session.run()
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                self._publish_new(session)   # what the last moments brought

        try:
            self.result = asyncio.run(main())
            self._save_strategies(session)
            self._set_state("emergency_stopped" if self._emergency else "stopped")
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.log.error("agent session failed", error=self.error)
            self._set_state("failed")
        finally:
            ready.set()
            self.loop = None

    def _set_state(self, state: str) -> None:
        self.state = state
        self.log.info("agent " + state)
        self.hub.publish("agent", self.status())
        if self.on_observation is not None:
            self.on_observation("agent", {"state": state, "error": self.error})

    def _call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the session's event loop and return what it returns."""
        loop = self.loop
        if loop is None or not self.running:
            raise AgentError(f"the agent is {self.state}: no session is running")

        async def call() -> Any:
            return fn()

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise AgentError("the session did not answer in time") from None

    def _live_loop(self) -> Any:
        loop = self.session.loop if self.session is not None else None
        if loop is None or loop.k < 0:
            raise AgentError("the session has no market data yet; try again in a moment")
        return loop

    def stop(self, wait: float = 15.0) -> dict[str, Any]:
        """End the session gracefully and wait (up to ``wait`` s) for it to finish."""
        if not self.running:
            raise AgentError(f"the agent is {self.state}: no session is running")
        self._set_state("stopping")
        self._call(self.session.stop)
        self._join(wait)
        return self.status()

    def _join(self, wait: float) -> None:
        thread = self.thread
        if thread is not None:
            thread.join(wait)

    def pause(self) -> dict[str, Any]:
        """The strategies stop seeing market events; the market and the venue go on."""
        if self.state != "running":
            raise AgentError(f"the agent is {self.state}; only a running agent pauses")
        self._live_loop()

        def pause() -> None:
            loop = self.session.loop
            self.paused_handlers = {s: list(h) for s, h in loop.handlers.items()}
            for symbol in loop.handlers:
                loop.handlers[symbol].clear()

        self._call(pause)
        self._set_state("paused")
        return self.status()

    def resume(self) -> dict[str, Any]:
        if self.state != "paused":
            raise AgentError(f"the agent is {self.state}; only a paused agent resumes")

        def resume() -> None:
            loop = self.session.loop
            for symbol, handlers in (self.paused_handlers or {}).items():
                loop.handlers[symbol][:] = handlers
            self.paused_handlers = None

        self._call(resume)
        self._set_state("running")
        return self.status()

    def kill_switch(self, reason: str) -> dict[str, Any]:
        """Halt trading: cancel working orders, close positions; the session stays up."""
        loop = self._live_loop()
        self._call(lambda: loop.engine.kill_switch(reason))
        self.log.warning("kill switch pulled", reason=reason)
        return self.risk()

    def emergency_stop(self, reason: str = "emergency stop") -> dict[str, Any]:
        """The kill switch, then the session's end once positions are flat (or after a
        grace of a few seconds of market data)."""
        if not self.running:
            raise AgentError(f"the agent is {self.state}: no session is running")
        self._emergency = True
        session = self.session
        if session.loop is not None and session.loop.k >= 0:
            if self.state == "paused":
                self.resume()
            self._call(lambda: session.loop.engine.kill_switch(reason))
            deadline = time.monotonic() + EMERGENCY_GRACE_S
            while time.monotonic() < deadline and any(
                    abs(q) > 1e-12 for q in dict(session.loop.engine.portfolio.net_qty).values()):
                time.sleep(0.05)
        self.log.warning("emergency stop", reason=reason)
        self._set_state("stopping")
        self._call(session.stop)
        self._join(15.0)
        return self.status()

    def close(self) -> None:
        """The server is going down: end the session."""
        if self.running and self.loop is not None:
            with contextlib.suppress(AgentError):
                self._call(self.session.stop, timeout=5)
            self._join(15.0)

    # --- what it shows -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        session = self.session
        out: dict[str, Any] = {"state": self.state, "error": self.error,
                               "started": self.started_at}
        if session is None:
            return out
        out.update(exchange=session.spec.exchange_id, symbols=list(session.symbols),
                   feed=session.feed, duration=session.duration)
        loop = session.loop
        if loop is not None:
            engine = loop.engine
            out.update(events=loop.k + 1, fills=len(engine.fills),
                       strategies=[c.strategy_id for c in engine.contexts
                                   if c.strategy_id not in self.removed],
                       risk_state=books.state_name(engine.risk.state("portfolio")))
        if self.result is not None:
            out["metrics"] = {k: self.result.metrics.get(k) for k in
                              ("events", "n_trades", "n_fills", "final_equity",
                               "total_return")}
        return out

    def _engine(self) -> Any:
        loop = self.session.loop if self.session is not None else None
        if loop is None:
            raise AgentError(f"the agent is {self.state}: no session has run yet")
        return loop.engine

    def orders(self) -> dict[str, Any]:
        return books.orders(self._engine())

    def positions(self) -> list[dict[str, Any]]:
        return books.positions(self._engine())

    def risk(self) -> dict[str, Any]:
        return books.risk(self._engine())

    def signals(self) -> list[dict[str, Any]]:
        """The strategies' decisions, the latest 200: each order a strategy placed (side,
        quantity, type, prices) as it placed it, before the risk engine saw it."""
        self._engine()
        return list(self.decisions[-200:])

    def performance(self) -> dict[str, Any]:
        return books.performance(self._engine())

    # --- the watcher ---------------------------------------------------------------------

    async def _watch(self, session: Any) -> None:
        loaded = False
        while True:
            await asyncio.sleep(WATCH_S)
            loop = session.loop
            if loop is None or loop.k < 0:
                continue
            if self.state == "starting":
                self._record_decisions(loop.engine)
                self._set_state("running")
            if not loaded and self._pending_states:
                self._hand_states(loop)
                loaded = True
            if self.paused_handlers is not None:   # hooks a swap rebuilt while paused
                for symbol in loop.handlers:
                    loop.handlers[symbol].clear()
            self._publish_new(session)

    def _record_decisions(self, engine: Any) -> None:
        """Keep each order the strategies place (on the session's loop: the engine's
        ``submit`` wrapped, the order passed on unchanged)."""
        submit = engine.submit

        def recorded(cmd: Any) -> None:
            view = books.event_view(cmd)
            view.pop("type", None)
            self.decisions.append(view)
            if len(self.decisions) > 5000:
                del self.decisions[:1000]
                self._seen["signals"] = max(self._seen["signals"] - 1000, 0)
            submit(cmd)

        engine.submit = recorded

    def _hand_states(self, loop: Any) -> None:
        for ctx in loop.engine.contexts:
            state = self._pending_states.get(ctx.strategy_id)
            if state is not None and ctx.strategy.overrides("load_state"):
                ctx.strategy.load_state(state)

    def _publish_new(self, session: Any) -> None:
        """Publish what is new since the last look, and hand it to the alert rules."""
        loop = session.loop
        if loop is None or loop.k < 0:
            return
        engine = loop.engine
        observe = self.on_observation or (lambda kind, data: None)
        marks = dict(engine.portfolio.last_price)
        changed = {s: p for s, p in marks.items() if self._prices.get(s) != p}
        if changed:
            self._prices.update(changed)
            self.hub.publish("prices", changed)
            observe("prices", changed)
        events = engine.order_events
        new = list(events[self._seen["orders"]:])
        self._seen["orders"] += len(new)
        for event in new:
            view = books.event_view(event)
            channel = "risk" if view["type"] == "RiskEvent" else "orders"
            self.hub.publish(channel, view)
            observe(channel, view)
        decisions = self.decisions[self._seen["signals"]:]
        self._seen["signals"] += len(decisions)
        for decision in decisions:
            self.hub.publish("signals", decision)
            observe("signals", decision)
        fills = engine.fills
        start = self._seen["fills"]
        count = len(fills)
        if count > start:
            for fill in fills[start:count]:
                view = books.event_view(fill)
                self.hub.publish("trades", view)
                observe("trades", view)
            self._seen["fills"] = count
        observe("performance", {"equity": engine.portfolio.equity() if marks
                                else engine.portfolio.cash,
                                "day_open": getattr(engine.risk, "day_open", None),
                                "max_daily_loss": engine.limits.max_daily_loss,
                                "risk_state": books.state_name(engine.risk.state("portfolio"))})


__all__ = ["Agent", "AgentError", "STATES"]
