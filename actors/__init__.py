"""The actor graph: thin Ray shells over plain-Python cores from ``engine``.

Each role has a ``core.py`` (the logic, testable without Ray, speaking ZeroMQ) and an
``actor.py`` (the Ray shell: placement, naming, lifecycle); the cores are unit-tested over
real ZeroMQ sockets in threads, with Ray kept out. ``actors.stream`` is the market-data record
the coordinator hands the feed and execution actors. ``actors.graph`` starts a graph for a
backtest and is the Python entry point: ``actors.graph.backtest(...)`` or
``run_graph(config, workers=N)``.
"""
