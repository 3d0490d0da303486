"""The single-process backtest: market events in event-time order through the simulated venue,
the portfolio and the strategies, one module per idea:

- ``feed``: a feed of market data, the event-time merge of several, and the message each row
  becomes for a hook;
- ``context``: what a strategy sees (``BacktestContext``) and the fault that stops it;
- ``engine``: ``BacktestEngine``, its set-up, order flow, faults and outputs;
- ``hook_loop``: ``run()``, every event through the strategies' hooks;
- ``batch_pass``: ``run_batch()``, the strategies' batch paths, visiting only the events where
  something can happen.
"""

from engine.backtesting.context import BacktestContext, StrategyFault
from engine.backtesting.engine import BacktestEngine
from engine.backtesting.feed import Feed

__all__ = ["BacktestContext", "BacktestEngine", "Feed", "StrategyFault"]
