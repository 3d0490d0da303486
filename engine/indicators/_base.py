"""What every indicator module shares: parameter checks, input coercion for the vectorized
forms, the ``step`` decorator and the incremental classes' base.

A *step function* holds an indicator's arithmetic, once: ``step(state, *buffers, *inputs)``
returns ``(value, state)``. ``state`` is a tuple of scalars (unpacked into named locals on
the step's first line, so each field has a name where it is used); ``buffers`` are arrays the
step updates in place (ring buffers, monotonic queues). The same function runs three ways:

- compiled inside ``@njit`` code (the vectorized forms' loops and the strategies' batch
  kernels): ``step`` registers it with numba, which inlines it into its caller;
- as plain Python in the incremental classes, on the same state tuple and with lists for
  buffers, at interpreter speed with no dispatch cost;
- hence bit-identical floats in all three: the arithmetic is one piece of source.

Steps see finite inputs only; callers skip NaN or infinite rows before calling them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import register_jitable

NAN = math.nan
NAN2 = (NAN, NAN)
NAN3 = (NAN, NAN, NAN)

F = TypeVar("F", bound=Callable[..., Any])


def step(fn: F) -> F:
    """Mark ``fn`` as a step function: callable from numba-compiled code, where it is inlined
    into its caller, and, unchanged, from Python.

    Inlined at numba's IR level (``inline="always"``): left to LLVM, the calls stay calls and
    the state tuples cross them on every event, which made the Bollinger and MACD kernels 2x
    slower. numba's own consistency check then reports variables of the inlined body as "not
    in scope" (``NumbaIRAssumptionWarning``, a pedantic check of its SSA pass, not an error);
    that message alone is silenced. The agreement tests check every compiled step against the
    same function run in Python, bit for bit.
    """
    return register_jitable(inline="always")(fn)


warnings.filterwarnings("ignore", message=r"variable '.*' is not in scope",
                        category=NumbaIRAssumptionWarning)


@step
def ring_push(buf: Any, pos: int, x: float) -> tuple[float, int]:
    """Write ``x`` into a ring buffer at ``pos``; the value it replaced and the next position."""
    old = buf[pos]
    buf[pos] = x
    pos += 1
    if pos == len(buf):
        pos = 0
    return old, pos


@step
def ring_sum(buf: Any, oldest: int) -> float:
    """Sum of a ring buffer added oldest first (from position ``oldest``, wrapping)."""
    n = len(buf)
    total = 0.0
    for j in range(oldest, n):
        total += buf[j]
    for j in range(oldest):
        total += buf[j]
    return total


class Indicator:
    """Base of the incremental indicators: a state tuple and buffers advanced by the
    indicator's step function, and ``value`` as after the last good update.

    Bad input (a NaN or infinite value in any field the indicator reads) is skipped:
    ``update`` returns NaN (a tuple of NaNs) and leaves everything as it was.
    """

    __slots__ = ("_buf", "_state", "value")

    def _begin(self, state: tuple[Any, ...], buf: np.ndarray | None = None,
               value: Any = NAN) -> None:
        self._state = state
        # the step runs in Python here, where list items are plain floats (numpy scalars
        # would be several times slower)
        self._buf = buf.tolist() if buf is not None else None
        self.value = value


class Series(Indicator):
    """An indicator of one series over ``period`` values: ``update(x)`` advances its step,
    ``step(state, buf, x)`` when its ``_init`` gives a buffer, else ``step(state, x)``.

    A subclass names its step, its ``_init(period)``, the state field that counts the values
    seen (``_count``) and how many values past ``period`` make it ready (``_lag``).
    """

    __slots__ = ("period",)
    _name = ""
    _minimum = 1
    _count = 0
    _lag = 0
    _step: Callable[..., Any]
    _init: Callable[[int], Any]

    def __init__(self, period: int) -> None:
        self.period = check_period(self._name, "period", period, minimum=self._minimum)
        self._begin(*step_args(type(self)._init(self.period)))

    def update(self, x: float) -> float:
        """Add one value; returns the indicator's value (NaN until it is ready)."""
        if x - x:
            return NAN
        if self._buf is None:
            value, self._state = self._step(self._state, x)
        else:
            value, self._state = self._step(self._state, self._buf, x)
        self.value = value
        return value

    @property
    def ready(self) -> bool:
        return self._state[self._count] >= self.period + self._lag


def vectorized_series(indicator: str, loop: Callable[..., Any], init: Callable[[int], Any],
                      values: Any, period: int, minimum: int = 1) -> np.ndarray:
    """The vectorized form of a :class:`Series` indicator: ``loop`` over ``values`` from
    ``init(period)`` (a state, or a state and its buffer)."""
    period = check_period(indicator, "period", period, minimum=minimum)
    return vectorized(indicator, loop, step_args(init(period)), values=values)


def step_args(start: Any) -> tuple[Any, ...]:
    """An ``init`` function's result as the step's leading arguments: ``(state, buffer)``
    as given, a lone state tuple as ``(state,)``."""
    return start if isinstance(start[-1], np.ndarray) else (start,)


def vectorized(indicator: str, loop: Callable[..., Any], args: tuple[Any, ...],
               outputs: int = 1, **inputs: Any) -> Any:
    """Run a compiled ``loop(*inputs, *args, out)`` over whole arrays: the ``inputs`` (name ->
    array, in the loop's order) checked and coerced, rows with a non-finite input skipped (NaN
    out), and ``outputs`` float64 arrays of the inputs' length returned (one, or a tuple)."""
    columns = series(indicator, **inputs)

    def kernel(*rows: np.ndarray) -> Any:
        out = np.full((outputs, rows[0].size), np.nan)
        loop(*rows, *args, out)
        return out[0] if outputs == 1 else tuple(out)

    return on_finite_rows(kernel, *columns)


# --- argument checks ------------------------------------------------------------------------

def check_period(indicator: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int, or ``ValueError`` naming the indicator and the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{indicator} {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{indicator} {name} must be >= {minimum}, got {value}")
    return int(value)


def check_factor(indicator: str, name: str, value: object) -> float:
    """``value`` as a finite float, or ``ValueError`` naming the indicator and the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value):
        raise ValueError(f"{indicator} {name} must be a finite number, got {value!r}")
    return float(value)


def check_session(indicator: str, session: object, offset: object) -> tuple[int, int]:
    """A session length (ns, >= 1) and offset (int ns), or ``ValueError``."""
    length = check_period(indicator, "session", session)
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise ValueError(f"{indicator} offset must be an int (ns), got {offset!r}")
    return length, int(offset)


# --- inputs of the vectorized forms ---------------------------------------------------------

def series(indicator: str, **arrays: object) -> list[np.ndarray]:
    """The inputs as contiguous float64 vectors of one length, or ``ValueError`` naming them."""
    out = [np.ascontiguousarray(a, dtype=np.float64) for a in arrays.values()]
    for name, a in zip(arrays, out):
        if a.ndim != 1:
            raise ValueError(f"{indicator} {name} must be one-dimensional, got shape {a.shape}")
    if len({a.size for a in out}) > 1:
        sizes = ", ".join(f"{name}={a.size}" for name, a in zip(arrays, out))
        raise ValueError(f"{indicator} arrays {', '.join(arrays)} must have the same length, "
                         f"got {sizes}")
    return out


def stamps(indicator: str, ts: object) -> np.ndarray:
    """Event times as int64 nanoseconds (from ints or datetime64)."""
    values = np.asarray(ts)
    if np.issubdtype(values.dtype, np.datetime64):
        values = values.astype("datetime64[ns]").astype(np.int64)
    elif not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{indicator} ts must be int nanoseconds or datetime64, "
                         f"got dtype {values.dtype}")
    if values.ndim != 1:
        raise ValueError(f"{indicator} ts must be one-dimensional, got shape {values.shape}")
    return values.astype(np.int64, copy=False)


def on_finite_rows(kernel: Callable[..., Any], *arrays: np.ndarray) -> Any:
    """``kernel`` over the rows where every array is finite; the other rows come back NaN
    (the vectorized forms' rule: ``f(x)[ok] == f(x[ok])``)."""
    ok = np.isfinite(arrays[0])
    for a in arrays[1:]:
        ok &= np.isfinite(a)
    if ok.all():
        return kernel(*arrays)
    result = kernel(*(np.ascontiguousarray(a[ok]) for a in arrays))
    if isinstance(result, tuple):
        return tuple(scatter(r, ok) for r in result)
    return scatter(result, ok)


def scatter(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``values`` placed at the True rows of ``ok``, NaN elsewhere."""
    out = np.full(ok.size, np.nan)
    out[ok] = values
    return out
