"""``gc_paused()``: the cyclic garbage collector held off while a burst of small, acyclic
objects is made (message payloads, result records): the collections their sheer number would
trigger cost more than making them, and there is no cycle for them to find."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is left as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = ["gc_paused"]
