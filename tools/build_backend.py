"""The project's build backend: setuptools, with ``schema.sql`` and ``resources/`` carried in the wheel.

The repository keeps ``schema.sql`` and ``resources/`` at its top level, outside every package (the
layout is fixed), and a wheel carries only packages. So building a wheel copies them into
``core/_data/``, where :func:`core.appinfo.shipped` finds them through importlib.resources; an
editable install points at the sources and copies nothing. The sdist gets them too (with this
file), so a wheel built from the sdist is the same as one built from the checkout.

``pyproject.toml`` names this module as the backend (``backend-path = ["tools"]``) and its
command classes (``[tool.setuptools.cmdclass]``).
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools.build_meta import *  # noqa: F403 — the PEP 517 hooks, unchanged
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

SHIPPED = ("schema.sql", "resources")  # keep in step with core.appinfo.shipped's callers
SHIPPED_INTO = os.path.join("core", "_data")  # core.appinfo.SHIPPED_DIR


def shipped_files(root: Path | None = None) -> list[str]:
    """The files to ship, relative to the top of the checkout, in a stable order."""
    root = root or Path.cwd()  # PEP 517 runs the backend in the project's folder
    files: list[str] = []
    for name in SHIPPED:
        path = root / name
        if path.is_file():
            files.append(name)
        elif path.is_dir():
            files.extend(str(p.relative_to(root)) for p in sorted(path.rglob("*"))
                         if p.is_file() and "__pycache__" not in p.parts)
        else:
            raise FileNotFoundError(f"{name} is missing from {root}; the wheel would not work without it")
    return files


class BuildPy(build_py):
    """``build_py`` that also copies the shipped files into the wheel's ``core/_data/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        # A file deleted from the checkout must not live on in an old build/ folder's copy.
        self.rmtree_if_exists(os.path.join(self.build_lib, SHIPPED_INTO))
        for rel in shipped_files():
            target = os.path.join(self.build_lib, SHIPPED_INTO, rel)
            self.mkpath(os.path.dirname(target))
            self.copy_file(rel, target, preserve_mode=False)

    def rmtree_if_exists(self, path: str) -> None:
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [os.path.join(self.build_lib, SHIPPED_INTO, rel)
                                               for rel in shipped_files()]
        return [*super().get_outputs(include_bytecode), *extra]


class Sdist(sdist):
    """``sdist`` that also carries the shipped files and this backend, so it builds the same wheel."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        here = os.path.relpath(__file__)
        super().make_release_tree(base_dir, sorted({*files, *shipped_files(), here}))
