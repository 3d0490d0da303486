"""numba's start-up, ahead of the first kernel a process runs.

The first compiled call of a process costs about half a second before any work (numba builds
its typing and code-generation machinery, even when every kernel comes from the on-disk
cache); each later kernel loads in milliseconds. An actor calls :func:`start_numba` when its
process starts, so that half second passes while the coordinator is still loading the data
instead of at the run's first batch.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def _ready(x: int) -> int:  # pragma: no cover - compiled
    return x + 1


def start_numba() -> None:
    """Make numba ready in this process (cheap when it already is)."""
    _ready(1)


__all__ = ["start_numba"]
