"""Parameter ranges of a research job: ``S.NAME=LOW:HIGH:STEP`` checked against what strategy
``S`` declares for ``NAME`` (``param(default, low=, high=)``), and the values a search may try.

A range is inclusive at both ends: ``sma_cross.fast=5:100:5`` tries 5, 10, ..., 100. Integer
parameters take integer bounds and steps; float parameters any finite ones (values are
``low + k * step``, rounded to 12 decimals so that 0.1 steps do not drift). Every range must
lie inside the parameter's declared bounds, so a sweep never runs a value the strategy
itself would refuse.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from engine.errors import ConfigError
from engine.strategy import ParamSpec, Strategy, builtin_name

MAX_GRID = 1_000_000   # combinations of one strategy a grid may hold


@dataclasses.dataclass(frozen=True)
class ParamRange:
    """One searched parameter: ``strategy.name`` from ``low`` to ``high`` by ``step``."""

    strategy: str
    name: str
    low: float
    high: float
    step: float
    integer: bool

    @property
    def key(self) -> str:
        """The column name of this parameter in a results table: ``strategy.name``."""
        return f"{self.strategy}.{self.name}"

    def values(self) -> list[Any]:
        """Every value of the range, from ``low`` up to ``high`` inclusive."""
        if self.integer:
            return list(range(int(self.low), int(self.high) + 1, int(self.step)))
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + k * self.step, 12) for k in range(count)]

    def to_list(self) -> list[Any]:
        """``[low, high, step]`` as a job's inputs record it."""
        cast = int if self.integer else float
        return [cast(self.low), cast(self.high), cast(self.step)]


def parse_range(text: str, flag: str = "--range") -> tuple[str, str, tuple[str, str, str]]:
    """``S.NAME=LOW:HIGH:STEP`` split into the strategy, the parameter and the three numbers'
    texts; ``ConfigError`` naming ``flag`` and the text when it is malformed."""
    key, sep, spec = text.partition("=")
    strategy, dot, name = key.strip().rpartition(".")
    parts = spec.split(":")
    if not sep or not dot or not strategy or not name or len(parts) != 3 or \
            not all(p.strip() for p in parts):
        raise ConfigError(f"{flag} {text!r}: expected STRATEGY.NAME=LOW:HIGH:STEP, e.g. "
                          f"sma_cross.fast=5:100:5")
    low, high, step = (p.strip() for p in parts)
    return strategy.strip(), name.strip(), (low, high, step)


def resolve_range(text: str, strategies: Mapping[str, type[Strategy]],
                  flag: str = "--range") -> ParamRange:
    """A ``--range`` text checked against the strategies of the job (``ref -> class``): the
    strategy must be one of them (by the name given or its built-in name), the parameter one
    it declares, numeric, and the range inside its declared bounds."""
    ref, name, texts = parse_range(text, flag)
    wanted = builtin_name(ref)
    found = [r for r, cls in strategies.items() if r == ref or builtin_name(r) == wanted
             or cls.name == wanted]
    if not found:
        raise ConfigError(f"{flag} {text!r}: strategy {ref!r} is not in this job; it runs "
                          f"{', '.join(strategies)} (add --strategy {ref})")
    ref = found[0]
    specs = {s.name: s for s in strategies[ref].Params.specs()}
    if name not in specs:
        raise ConfigError(f"{flag} {text!r}: strategy {ref!r} has no parameter {name!r}; its "
                          f"parameters: {', '.join(specs) or '(none)'}")
    spec = specs[name]
    if spec.type not in (int, float) or spec.choices is not None:
        raise ConfigError(f"{flag} {text!r}: parameter {name!r} of {ref!r} is a "
                          f"{spec.type.__name__}{' with fixed choices' if spec.choices else ''}"
                          f"; ranges take int and float parameters (set it with --param)")
    low, high, step = (_number(t, spec, what, text, flag)
                       for t, what in zip(texts, ("LOW", "HIGH", "STEP")))
    if not step > 0:
        raise ConfigError(f"{flag} {text!r}: STEP must be positive, got {texts[2]}")
    if low > high:
        raise ConfigError(f"{flag} {text!r}: LOW ({texts[0]}) is above HIGH ({texts[1]}); "
                          f"the range is empty")
    if (spec.low is not None and low < spec.low) or (spec.high is not None and high > spec.high):
        raise ConfigError(f"{flag} {text!r}: {ref}.{name} is declared in "
                          f"{spec.describe_range()}; the range {texts[0]}:{texts[1]} goes "
                          f"outside it")
    return ParamRange(ref, name, low, high, step, spec.type is int)


def _number(text: str, spec: ParamSpec, what: str, whole: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"{flag} {whole!r}: {what} {text!r} is not a number")
    if spec.type is int and not value.is_integer():
        raise ConfigError(f"{flag} {whole!r}: {what} {text!r} must be a whole number: "
                          f"{spec.name!r} is an int parameter")
    return value


def combinations(ranges: Sequence[ParamRange]) -> Iterator[dict[str, Any]]:
    """Every combination of the ranges' values (the last range varies fastest), as
    ``{name: value}``; one empty combination when there are no ranges."""
    names = [r.name for r in ranges]
    for values in itertools.product(*(r.values() for r in ranges)):
        yield dict(zip(names, values))


def grid_size(ranges: Iterable[ParamRange]) -> int:
    """How many combinations :func:`combinations` yields."""
    return math.prod(len(r.values()) for r in ranges)


def check_grid(strategy: str, ranges: Sequence[ParamRange]) -> None:
    """``ConfigError`` when one strategy's grid is larger than :data:`MAX_GRID`."""
    size = grid_size(ranges)
    if size > MAX_GRID:
        raise ConfigError(f"--range: the grid of {strategy!r} holds {size:,} combinations, "
                          f"more than {MAX_GRID:,}; use larger steps or --search random / "
                          f"bayes with --trials")
