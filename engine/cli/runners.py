"""Runners plugged into the command line through package entry points.

``raytrader backtest --workers N`` runs on the Ray actor graph, which lives in ``actors/``;
``engine/`` never imports Ray or ``actors``. The graph runner is found instead through the
``raytrader.runners`` entry point group (declared in ``pyproject.toml``)::

    [project.entry-points."raytrader.runners"]
    graph = "actors.cli:run_graph_from_cli"

A runner is called as ``runner(config, workers=N, address=ADDRESS, progress=CALLBACK)`` and
returns a ``BacktestResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from engine.errors import ConfigError

RUNNER_GROUP = "raytrader.runners"

Runner = Callable[..., Any]


def find_runner(name: str, flag: str) -> Runner:
    """The runner registered as ``name``; a ``ConfigError`` naming ``flag`` when none is."""
    found = [ep for ep in metadata.entry_points(group=RUNNER_GROUP) if ep.name == name]
    if not found:
        raise ConfigError(f"{flag} needs the {name!r} runner (entry point group "
                          f"{RUNNER_GROUP!r}), which is not installed: install raytrader with "
                          f"its actors package (pip install -e .)")
    try:
        runner = found[0].load()
    except ImportError as exc:
        raise ConfigError(f"{flag}: the {name!r} runner ({found[0].value}) cannot be imported: "
                          f"{exc}") from None
    if not callable(runner):
        raise ConfigError(f"{flag}: the {name!r} runner {found[0].value} is not callable")
    return runner
