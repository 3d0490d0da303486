"""The test kit: what the test modules share, in one place.

- ``harness``: build an engine for a strategy on some frames, run it through the hooks and the
  batch path, and compare every order event, fill and trade (``run_paths``,
  ``assert_same_orders``); ``OrderLog`` records what a run submitted.
- ``markets``: the synthetic two-symbol bars, trades and quotes the strategy tests share, and
  helpers reading back the orders of a run.
- ``scripted``: a strategy driven by a table of actions, and the small hand-written market
  tables (``bar_table``, ``trade_table``, ``quote_table``) of the venue scenarios.
- ``orders``: run a strategy on a hand-written table and list the orders it placed.
- ``strategies``: strategies for tests (ones that raise, record, or lack a batch path),
  importable by reference (``tests.kit.strategies:Name``) on any node.
- ``cluster``: a two-node Ray cluster on this machine, this process connected to it.
- ``cli``: run the command line in this process and check what it refuses.
- ``actor_cores``: the actor graph's cores wired over real ZeroMQ in threads, without Ray.
"""
