"""The actor graph: thin Ray shells over plain-Python cores from ``engine``.

Each role has a ``core.py`` (the logic, testable without Ray, speaking ZeroMQ) and an
``actor.py`` (the Ray shell: placement, naming, lifecycle). ``actors.graph`` starts a graph
for a backtest and is the Python entry point: ``actors.graph.backtest(...)`` or
``run_graph(config, workers=N)``.
"""
