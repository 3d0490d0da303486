"""Structured logs: structlog everywhere, JSON in production, readable in a terminal.

Every line carries ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` and whatever the
process bound: ``run_id``, ``actor``, ``symbol``, ``strategy``, ``venue`` (``bind``). Secrets
never reach a line: values registered with :func:`register_secrets` (exchange keys, the API
token) are masked wherever they appear, and any field whose name says it holds a secret
(``api_key``, ``secret``, ``token``, ``password``, ``authorization``, ...) is masked whatever its
value. Standard-library loggers (Ray, ccxt, uvicorn) go through the same processors.

The format comes from ``configure(fmt=...)``, else ``RAYTRADER_LOG_FORMAT`` (``json`` or
``console``), else JSON unless stderr is a terminal; the level from ``RAYTRADER_LOG_LEVEL``
(default ``INFO``). ``RAYTRADER_LOG_FILE`` adds a JSON-lines file (for a log shipper).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

from engine.live.secrets import MASK, redact

FORMATS = ("json", "console")
# field names that hold a secret whatever their value
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|passw(or)?d|passphrase|token|authorization"
                         r"|signature|credential)", re.IGNORECASE)
_secrets: set[str] = set()
_configured: dict[str, Any] = {}


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values in every log line from now on (exchange keys, API tokens)."""
    _secrets.update(v for v in values if v and len(v) >= 4)
    _register_env_secrets()


def _register_env_secrets() -> None:
    """Secrets this process holds in its environment by the product's own naming
    (``<EXCHANGE>_API_KEY`` / ``_API_SECRET`` / ``_API_PASSWORD``, ``RAYTRADER_API_TOKEN``)."""
    for name, value in os.environ.items():
        if value and len(value) >= 4 and (
                name == "RAYTRADER_API_TOKEN" or re.search(r"_API_(KEY|SECRET|PASSWORD)$", name)):
            _secrets.add(value)


def redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: secret-named fields masked, registered secrets scrubbed from
    every other value (exception text included)."""
    for key, value in list(event.items()):
        if key.startswith("_"):   # structlog's own (the standard library's record)
            continue
        if _SECRET_KEY.search(key) and value not in (None, ""):
            event[key] = MASK
        elif isinstance(value, str):
            if _secrets:
                event[key] = redact(value, _secrets)
        elif not isinstance(value, (int, float, bool, type(None))):
            text = value if isinstance(value, str) else repr(value)
            event[key] = redact(text, _secrets) if _secrets else text
    return event


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False)
    return structlog.dev.ConsoleRenderer(colors=False)


def chosen_format(fmt: str | None = None, stream: TextIO | None = None) -> str:
    """``fmt``, else ``RAYTRADER_LOG_FORMAT``, else console on a terminal and JSON elsewhere."""
    fmt = fmt or os.environ.get("RAYTRADER_LOG_FORMAT") or None
    if fmt is None:
        stream = stream or sys.stderr
        fmt = "console" if hasattr(stream, "isatty") and stream.isatty() else "json"
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def configure(fmt: str | None = None, level: str | None = None, *,
              stream: TextIO | None = None, **context: Any) -> None:
    """Set up structlog and the standard library's logging for this process, and bind
    ``context`` (``run_id=...``, ``actor=...``) to every line it logs from now on."""
    fmt = chosen_format(fmt, stream)
    level_name = (level or os.environ.get("RAYTRADER_LOG_LEVEL") or "INFO").upper()
    numeric = logging.getLevelName(level_name)
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level_name!r}")
    _register_env_secrets()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_raytrader", False):
            root.removeHandler(handler)
    # stdlib records (Ray, ccxt, uvicorn) get the same fields and the same redaction
    pre_chain: list[Any] = [structlog.stdlib.ExtraAdder(), *shared]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(fmt)],
        foreign_pre_chain=pre_chain))
    handler._raytrader = True   # type: ignore[attr-defined]
    root.addHandler(handler)
    path = os.environ.get("RAYTRADER_LOG_FILE")
    if path:
        file_handler = logging.FileHandler(path)
        file_handler.setFormatter(structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        _renderer("json")], foreign_pre_chain=pre_chain))
        file_handler._raytrader = True   # type: ignore[attr-defined]
        root.addHandler(file_handler)
    root.setLevel(numeric)
    _configured.update(format=fmt, level=level_name)
    if context:
        bind(**context)


def configured() -> bool:
    """Whether :func:`configure` ran in this process."""
    return bool(_configured)


def bind(**context: Any) -> None:
    """Add fields (``run_id``, ``actor``, ``symbol``, ``strategy``, ``venue``) to every line
    logged from this thread's context from now on (threads started later do not inherit
    it: bind on the logger, ``get_logger(name, **fields)``, for lines from other threads);
    ``None`` values are dropped."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in context.items()
                                              if v is not None})


def get_logger(name: str = "raytrader", **context: Any) -> Any:
    """A structlog logger named ``name`` with ``context`` bound to its lines. In a process
    that never called :func:`configure` (a script, a notebook, the command line's own
    output), lines go to the standard library's logging as ``key=value`` text, redacted
    all the same: silent below WARNING unless the host application set logging up."""
    if not structlog.is_configured():
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars,
                        structlog.stdlib.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True),
                        structlog.processors.format_exc_info, redact_event,
                        structlog.processors.KeyValueRenderer(key_order=["event"])],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=False)
    return structlog.stdlib.get_logger(name).bind(**context)


__all__ = ["FORMATS", "bind", "chosen_format", "configure", "configured", "get_logger",
           "redact_event", "register_secrets"]
