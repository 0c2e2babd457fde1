"""What this installation is: its version, the command a user types to run it, the files it ships.

One place for each, because the answers differ between a source checkout (``python main.py``),
an installed wheel (``imagefx``) and the PyInstaller bundle, and every message that tells the user
what to type next, every ``--version`` and the About box must agree.
"""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

DIST_NAME = "imagefx-studio"
# The desktop id: the .desktop and AppStream file names (resources/desktop/), the icon's name, and
# QGuiApplication.desktopFileName (the Wayland app id). AppStream wants reverse-DNS.
APP_ID = "io.github.imagefx_studio.ImageFXStudio"
CLI_COMMAND = "imagefx"  # [project.scripts]; the GUI launcher imagefx-studio sits beside it
GUI_COMMAND = "imagefx-studio"  # [project.gui-scripts]; also the .desktop file's Exec and name
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout's top level (unused when installed)
# Where a wheel or the bundle keeps the files that live at the top of the repository (schema.sql,
# resources/): inside the ``core`` package, so importlib.resources finds them (tools/build_backend.py).
SHIPPED_DIR = "_data"


@cache
def version() -> str:
    """The installed distribution's version; in a source checkout that was never installed, the one
    in pyproject.toml (the only place the version is written)."""
    from importlib import metadata  # not at import time: it costs start-up milliseconds

    try:
        return metadata.version(DIST_NAME)
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with open(SOURCE_ROOT / "pyproject.toml", "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def shipped(name: str) -> Traversable:
    """A file or folder from the top of the repository (``schema.sql``, ``resources``), wherever this
    copy runs from: package data of ``core`` in a wheel or the bundle, the checkout otherwise (an
    editable install points at the sources, where the files stay where they are)."""
    packaged = resources.files("core") / SHIPPED_DIR / name
    if packaged.is_file() or packaged.is_dir():
        return packaged
    return SOURCE_ROOT / name


def _on_path(name: str, path: str) -> bool:
    """True if typing ``name`` runs the file at ``path`` (so a message can say just ``name``)."""
    found = shutil.which(name)
    try:
        return found is not None and os.path.samefile(found, path)
    except OSError:
        return False


@cache
def command() -> str:
    """What the user types to run this copy's command line, for messages that say what to do next:
    ``python main.py`` in a checkout, ``imagefx`` when installed (also when the GUI launcher
    ``imagefx-studio`` was started), the bundle's executable in the bundle; a path where the bare
    name would not find this copy (a venv that is not on PATH)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if getattr(sys, "frozen", False):
        exe = sys.executable
        name = Path(exe).stem
        return name if _on_path(name, exe) else exe
    if argv0.endswith(".py"):
        return f"python {argv0}"
    stem = Path(argv0).stem
    if stem in (CLI_COMMAND, GUI_COMMAND):
        cli = str(Path(argv0).with_name(CLI_COMMAND + Path(argv0).suffix))
        if _on_path(CLI_COMMAND, cli):
            return CLI_COMMAND
        return cli if os.path.exists(cli) else argv0
    return CLI_COMMAND  # imported by something else (tests, a REPL): the installed name
