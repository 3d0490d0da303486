"""Checks shared by the frozen settings dataclasses (the run config, the venue config)."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.errors import ConfigError


def coerce_floats(settings: Any, prefix: str = "") -> None:
    """Make every field of the frozen dataclass ``settings`` annotated ``float`` a float
    (2 and 2.0 are the same setting and must hash the same); a bool or a non-number is an
    error naming the field (after ``prefix``)."""
    for f in dataclasses.fields(settings):
        if f.type in ("float", float):
            value = getattr(settings, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{prefix}{f.name} must be a finite number, got {value!r}")
            object.__setattr__(settings, f.name, float(value))
