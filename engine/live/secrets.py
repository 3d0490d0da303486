"""Exchange credentials: read from the environment or a ``.env`` file, kept out of every log
line, error, journal record and result the session writes.

Keys are ``<EXCHANGE>_API_KEY`` and ``<EXCHANGE>_API_SECRET`` (``BINANCE_API_KEY``), plus
``<EXCHANGE>_API_PASSWORD`` for exchanges that want a passphrase. The environment wins over
the ``.env`` file. :class:`Credentials` never shows its values (its ``repr`` and ``str`` are
masked), and :func:`redact` / :class:`RedactingFilter` / :func:`structlog_redactor` scrub
them from any text that might carry one (an exception that echoes a request, a URL with a
signature).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
MASK = "***"


@dataclasses.dataclass(frozen=True, repr=False)
class Credentials:
    """An exchange's API key and secret (and passphrase, when it has one)."""

    exchange: str
    api_key: str
    secret: str
    password: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(exchange={self.exchange!r}, api_key={MASK}, secret={MASK})"

    __str__ = __repr__

    def ccxt(self) -> dict[str, str]:
        """The ccxt constructor keys."""
        out = {"apiKey": self.api_key, "secret": self.secret}
        if self.password:
            out["password"] = self.password
        return out

    def values(self) -> list[str]:
        """Every secret value, for :func:`redact`."""
        return [v for v in (self.api_key, self.secret, self.password) if v]


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``#`` comments, blank lines, ``export``,
    single or double quotes); a line that is none of these is an error naming the file and
    the line (never its value)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: not a KEY=VALUE line")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def load_credentials(exchange: str, env: Mapping[str, str] | None = None,
                     dotenv: Path | None = Path(".env")) -> Credentials:
    """The credentials of ``exchange`` (a ccxt id) from ``env`` (the process environment by
    default), else the ``.env`` file; an error names the variables that are missing (and
    never shows a value)."""
    env = os.environ if env is None else env
    prefix = re.sub(r"[^A-Z0-9]", "_", exchange.upper())
    names = (f"{prefix}_API_KEY", f"{prefix}_API_SECRET", f"{prefix}_API_PASSWORD")
    file_values = read_dotenv(dotenv) if dotenv is not None and dotenv.is_file() else {}
    found = [env.get(n) or file_values.get(n) for n in names]
    missing = [n for n, v in zip(names[:2], found[:2]) if not v]
    if missing:
        where = f" or {dotenv}" if dotenv is not None else ""
        raise ConfigError(f"{exchange}: live trading needs {' and '.join(missing)} in the "
                          f"environment{where}")
    api_key, secret, password = found
    assert api_key is not None and secret is not None   # (checked above)
    return Credentials(exchange, api_key, secret, password or None)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``."""
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter scrubbing the secrets from every record's message and arguments."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg), self.secrets)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a), self.secrets) for a in args)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def structlog_redactor(secrets: Iterable[str]) -> Any:
    """A structlog processor scrubbing the secrets from every value of an event."""
    values = [s for s in secrets if s]

    def processor(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if isinstance(value, str):
                event[key] = redact(value, values)
            elif not isinstance(value, (int, float, bool, type(None))):
                event[key] = redact(repr(value), values)
        return event

    return processor


__all__ = ["MASK", "Credentials", "RedactingFilter", "load_credentials", "read_dotenv",
           "redact", "structlog_redactor"]
