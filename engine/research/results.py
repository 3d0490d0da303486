"""The one result schema every job writes: ``result.json`` of a backtest, a sweep, a
walk-forward, a Monte Carlo, a stress test or a trend analysis.

Every ``result.json`` is a JSON object with the envelope keys

- ``schema``: ``"raytrader.result/1"`` (:data:`SCHEMA`); a reader refuses any other;
- ``kind``: one of :data:`KINDS`;
- ``inputs``: the job's options as given (data, symbols, strategy, ranges, seeds...), enough to
  run it again;
- ``summary``: the job's headline figures, a flat mapping of name to number, string or null;
- ``files``: the files written beside ``result.json`` (tables, the report);

and, for each kind, the sections documented in ``docs/results.md``. A backtest's
``result.json`` keeps its own sections (config, metrics, trades, equity curve...) beside the
envelope. Numbers are plain JSON: NaN and infinity are written as null, keys are sorted, so the
same job gives the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.outputs import write_files

SCHEMA = "raytrader.result/1"
KINDS = ("backtest", "sweep", "walkforward", "montecarlo", "stress", "trend")
ENVELOPE = ("schema", "kind", "inputs", "summary", "files")


def envelope(kind: str, inputs: Mapping[str, Any], summary: Mapping[str, Any],
             files: Sequence[str] = (), **sections: Any) -> dict[str, Any]:
    """A job's ``result.json`` content: the envelope and the kind's own ``sections``, as plain,
    strict JSON values."""
    if kind not in KINDS:
        raise ValueError(f"result kind {kind!r}: expected one of {', '.join(KINDS)}")
    clash = sorted(set(sections) & set(ENVELOPE))
    if clash:
        raise ValueError(f"result sections {clash} would overwrite the envelope")
    return plain({"schema": SCHEMA, "kind": kind, "inputs": dict(inputs),
                  "summary": dict(summary), "files": list(files), **sections})


def write_result(folder: str | Path, content: Mapping[str, Any],
                 tables: Mapping[str, Callable[[Path], object]] | None = None) -> Path:
    """Write ``tables`` (name -> writer of that file) and ``result.json`` into ``folder``,
    each whole or not at all and ``result.json`` last (``engine.outputs.write_files``)."""
    check(content, where="result")
    text = dumps(content)
    writers: dict[str, Callable[[Path], object]] = dict(tables or {})
    writers["result.json"] = lambda path: path.write_text(text, encoding="utf-8")
    return write_files(folder, writers)


def dumps(content: Mapping[str, Any]) -> str:
    """The deterministic text of ``content``: keys sorted, strict JSON, a final newline."""
    return json.dumps(plain(content), sort_keys=True, indent=1, allow_nan=False) + "\n"


def read_result(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The ``result.json`` at ``path`` (the file, or the folder holding it), checked against
    the envelope (and against ``kind`` when given). ``ConfigError`` naming the file and the
    field at fault otherwise."""
    file = Path(path)
    if file.is_dir():
        file = file / "result.json"
    if not file.is_file():
        raise ConfigError(f"{file}: no such result file (run a job with --output first)")
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: line {exc.lineno}: not JSON ({exc.msg})") from None
    check(content, where=str(file))
    if kind is not None and content["kind"] != kind:
        raise ConfigError(f"{file}: field 'kind' is {content['kind']!r}, expected {kind!r}")
    return content


def check(content: Any, where: str) -> None:
    """``ConfigError`` naming ``where`` and the field, unless ``content`` has the envelope."""
    if not isinstance(content, Mapping):
        raise ConfigError(f"{where}: expected a JSON object, got {type(content).__name__}")
    if "schema" not in content:
        raise ConfigError(f"{where}: field 'schema' is missing (written by a raytrader older "
                          f"than the {SCHEMA} schema?)")
    if content["schema"] != SCHEMA:
        raise ConfigError(f"{where}: field 'schema' is {content['schema']!r}, "
                          f"expected {SCHEMA!r}")
    for key in ENVELOPE[1:]:
        if key not in content:
            raise ConfigError(f"{where}: field {key!r} is missing")
    if content["kind"] not in KINDS:
        raise ConfigError(f"{where}: field 'kind' is {content['kind']!r}, expected one of "
                          f"{', '.join(KINDS)}")
    for key, typ in (("inputs", Mapping), ("summary", Mapping), ("files", list)):
        if not isinstance(content[key], typ):
            raise ConfigError(f"{where}: field {key!r} must be a JSON "
                              f"{'array' if typ is list else 'object'}")


def plain(value: Any) -> Any:
    """Plain Python values (numpy scalars and arrays unwrapped) with NaN/inf as None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value
