"""Output folders: checked before a run, written so that no file is ever left half-written.

``check_output_dir`` fails early, naming the folder, when result files could not be written
there (a file in the way, no permission); it creates nothing. ``write_files`` writes every file
under a temporary name in the folder first, then renames each into place with ``os.replace``
in the order given (put the file that marks a complete run last): a run killed or failing while
writing leaves the earlier files of the folder as they were and no partial file behind. Files of
an earlier run that this one replaces by others (a CSV table now written as Parquet) are removed
only once every new file is complete, just before the new files are renamed into place.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from engine.errors import ConfigError


def check_output_dir(path: str | Path, *, what: str = "output") -> Path:
    """``path`` as a Path, once it is sure files can be written there (the folder is created
    when written, if missing). ``ConfigError`` naming ``what`` and the path otherwise."""
    out = Path(path)
    existing = out
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "it is a file" if existing == out else f"{existing} is a file"
        raise ConfigError(f"{what} {out}: {where}, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(f"{what} {out}: cannot write in {existing}: "
                          f"{exc.strerror or exc}") from None
    return out


def write_files(folder: str | Path, writers: Mapping[str, Callable[[Path], object]],
                remove: Iterable[str] = ()) -> Path:
    """Create ``folder`` if needed and write each ``name`` with ``writers[name](path)``: all to
    temporary names first; once all are written, delete the files ``remove`` names (if there)
    and rename the new files into place in order. On any failure while writing, the temporary
    files are removed and the error re-raised, and no file of the folder has changed."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    pending = {name: out / f".{name}.{token}.tmp" for name in writers}
    try:
        for name, write in writers.items():
            write(pending[name])
    except BaseException:
        for tmp in pending.values():
            tmp.unlink(missing_ok=True)
        raise
    # A reader picks a table's file by which one is there: removing the replaced files first
    # means a run killed between these steps leaves a table missing, never a stale one.
    for name in remove:
        (out / name).unlink(missing_ok=True)
    for name, tmp in pending.items():
        os.replace(tmp, out / name)
    return out
