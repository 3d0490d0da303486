"""Error classes, grouped by what the caller must do about them.

- ``ConfigError``: a config key, value or strategy parameter is wrong; fix the input.
- ``DataError``: market data is malformed or missing; fix or resync the data.
- ``CodecError``: a message frame is corrupt, truncated or of an unknown type; drop the
  frame and resync the stream.
- ``StrategyError``: user strategy code failed; isolate that strategy, keep the rest going.

Every error says where the fault is (file and line, key, field or message type).
"""

from __future__ import annotations


class RaytraderError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(RaytraderError, ValueError):
    """A config key, value or strategy parameter is invalid."""


class DataError(RaytraderError, ValueError):
    """Market data is malformed, inconsistent or missing."""


class DataFormatError(DataError):
    """A data file cannot be parsed; names the file and, where known, the line and column."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ":".join(where[:2]) if where else ""
        if column is not None and where:
            prefix = f"{prefix} ({where[-1]})" if len(where) > 1 else where[-1]
        super().__init__(f"{prefix}: {message}" if prefix else message)


class NoDataError(DataError):
    """A symbol, date range or catalog query has no data."""


class CodecError(RaytraderError, ValueError):
    """A message frame could not be decoded."""


class CorruptFrameError(CodecError):
    """The frame is not valid msgpack or is truncated."""


class UnknownMessageTypeError(CodecError):
    """The frame's type tag names no known message type."""


class InvalidMessageError(CodecError):
    """The frame decodes but a field is missing or of the wrong type."""


class StrategyError(RaytraderError):
    """User strategy code raised; the strategy is faulted, the run goes on."""
