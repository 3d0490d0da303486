"""Timeframe strings (``1s``, ``1m``, ``5m``, ``1h``, ``4h``, ``1d``, ``1w``) and time conversions.

All engine timestamps are int nanoseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, UTC

import pandas as pd

from engine.errors import ConfigError

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR

_UNITS = {"s": NS_PER_SECOND, "m": NS_PER_MINUTE, "h": NS_PER_HOUR, "d": NS_PER_DAY,
          "w": 7 * NS_PER_DAY}
_PATTERN = re.compile(r"^(\d+)([smhdw])$")


def timeframe_to_ns(timeframe: str) -> int:
    """Length of a timeframe such as ``"1m"`` or ``"4h"`` in nanoseconds."""
    match = _PATTERN.match(str(timeframe).strip())
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"invalid timeframe {timeframe!r}: expected a positive count and a unit "
            f"s, m, h, d or w, such as '1m', '15m', '1h', '1d'")
    return int(match.group(1)) * _UNITS[match.group(2)]


def ns_to_timeframe(interval_ns: int) -> str:
    """The shortest timeframe string for an interval in nanoseconds (inverse of timeframe_to_ns)."""
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if interval_ns % size == 0:
            return f"{interval_ns // size}{unit}"
    raise ConfigError(f"interval {interval_ns} ns is not a whole number of seconds")


def parse_time(value: str | int | float | datetime | pd.Timestamp) -> int:
    """Parse a date, datetime or epoch value to int ns UTC.

    Strings are ISO dates or datetimes (``2021-01-01``, ``2021-01-01T12:00``); naive times are
    UTC. Integers are taken as ns when large enough, else seconds/ms by magnitude.
    """
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return _epoch_to_ns(value)
    if isinstance(value, float):
        return _epoch_to_ns(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot parse time {value!r}: {exc}") from None
    if ts is pd.NaT:
        raise ConfigError(f"cannot parse time {value!r}")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.tz_convert("UTC").value)


def _epoch_to_ns(value: int | float) -> int:
    v = abs(value)
    if v >= 1e17:       # already nanoseconds
        return int(value)
    if v >= 1e14:       # microseconds
        return int(round(value * 1_000))
    if v >= 1e11:       # milliseconds
        return int(round(value * 1_000_000))
    return int(round(value * NS_PER_SECOND))  # seconds


def format_ns(ts_ns: int) -> str:
    """ISO 8601 UTC text of an int ns timestamp, e.g. ``2021-01-01T00:00:00Z``."""
    seconds, rem = divmod(int(ts_ns), NS_PER_SECOND)
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if rem:
        text += f".{rem:09d}".rstrip("0")
    return text + "Z"
