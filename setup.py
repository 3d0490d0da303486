"""The build: raytrader is pure Python, except that ``engine/risk.py`` (the risk engine, which
decides every order before it reaches a venue) is compiled with mypyc when mypyc is importable
and the machine has a C compiler. ``make`` does it after installing, as a step of its own
(``python setup.py build_ext --inplace`` with the environment's mypy); a plain ``pip install``
builds in an isolated environment without mypyc, so it installs interpreted. Compiled, the
rules' check runs about 2.5 times as fast; interpreted (also with ``RAYTRADER_PURE_PYTHON=1``
set), it decides exactly alike.

The metadata lives in ``pyproject.toml``; this file only adds the optional extension.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED = ["engine/risk.py"]


def _note(message: str) -> None:
    print(f"raytrader build: {message}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Builds the compiled modules, all or none: a failure (no compiler, no headers) leaves no
    half-built extension behind, only the interpreted package, and says why."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:   # any build failure means "interpreted"
            for ext in self.extensions:
                for path in (Path(self.get_ext_fullpath(ext.name)),
                             Path(self.build_lib) / self.get_ext_filename(ext.name)):
                    path.unlink(missing_ok=True)
            _note(f"{', '.join(COMPILED)} stays interpreted: the compiled build failed "
                  f"({type(exc).__name__}: {exc})")


def _extensions() -> list:
    if os.environ.get("RAYTRADER_PURE_PYTHON"):
        _note("RAYTRADER_PURE_PYTHON is set: nothing is compiled")
        return []
    try:
        from mypyc.build import mypycify   # absent in pip's isolated build: interpreted
        # (the build environment has no numpy or pandas: their types are Any there, so an
        # ignore that the project's own type check needs is unused here)
        return mypycify(["--no-warn-unused-ignores", *COMPILED], opt_level="3")
    except (Exception, SystemExit) as exc:   # no mypyc, or its type check failed
        _note(f"{', '.join(COMPILED)} stays interpreted: mypyc could not prepare it "
              f"({type(exc).__name__}: {exc})")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
