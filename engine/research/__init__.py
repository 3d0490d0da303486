"""Research jobs over backtests: parameter sweeps, walk-forward analysis, Monte Carlo, stress
tests, trend analysis, and the HTML reports of each.

Every job writes one folder: ``result.json`` in the schema of :mod:`engine.research.results`
(the same envelope as a backtest's), a table (``results.csv``) where the job has one, and
``report.html``. The engine side never imports Ray: fanning a job over a cluster is done by
``actors`` through the same functions a single process calls.
"""
