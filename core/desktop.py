"""Linux desktop integration for one user: the applications-menu entry and the icon.

``imagefx desktop-install`` writes the .desktop file (``resources/desktop/``, with ``Exec`` pointing at
the launcher of the copy that ran the command: a venv not on PATH, pipx, the bundle or a checkout)
and the icon into the XDG data home (``~/.local/share``), where desktop environments look, under the
names the window announces (:data:`core.appinfo.APP_ID`, ``QGuiApplication.desktopFileName``), so
the running window gets its menu entry's name and icon. ``--uninstall`` removes exactly those files.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.appinfo import APP_ID, CLI_COMMAND, GUI_COMMAND, SOURCE_ROOT, shipped

DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"


class DesktopError(Exception):
    """Desktop integration cannot be done here; the message says why, for people."""


@dataclass(frozen=True)
class Installed:
    files: list[Path]
    exec_line: str


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` (the XDG base directory rule: relative values are ignored)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def targets(home: Path | None = None) -> dict[str, Path]:
    """Where each file goes: the menu entry and the icon at the sizes the icon theme spec asks for."""
    base = home or data_home()
    icons = base / "icons" / "hicolor"
    return {
        "desktop/" + DESKTOP_FILE: base / "applications" / DESKTOP_FILE,
        "app.svg": icons / "scalable" / "apps" / f"{APP_ID}.svg",
        "app.png": icons / "256x256" / "apps" / f"{APP_ID}.png",
    }


def _quote(arg: str) -> str:
    """An Exec argument quoted as the Desktop Entry spec wants: double quotes with ``"`$\\``
    backslash-escaped, ``%`` doubled, and then the string-value rule (every backslash doubled again)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    quoted = "".join("\\" + c if c in '"`$\\' else "%%" if c == "%" else c for c in arg)
    return ('"' + quoted + '"').replace("\\", "\\\\")


def launcher() -> list[str]:
    """The command that starts the desktop app of this copy (absolute paths: menus have no PATH of ours)."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith(".py"):
        return [sys.executable, str((SOURCE_ROOT / "main.py").resolve())]
    here = Path(os.path.abspath(argv0)).parent if argv0 else Path(sys.executable).parent
    for folder in (here, Path(sys.executable).parent):
        for name in (GUI_COMMAND, CLI_COMMAND):
            candidate = folder / (name + (".exe" if os.name == "nt" else ""))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return [str(candidate)]
    found = shutil.which(GUI_COMMAND)
    if found:
        return [found]
    raise DesktopError(f"The {GUI_COMMAND} launcher was not found next to {argv0 or sys.executable}; "
                       "reinstall the app (pip install / pipx install) and run this again.")


def desktop_entry(command: list[str]) -> str:
    """The shipped .desktop file with ``Exec``/``TryExec`` pointing at ``command``."""
    text = shipped("resources/desktop/" + DESKTOP_FILE).read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(_quote(a) for a in command)
        elif line.startswith("TryExec="):
            line = "TryExec=" + command[0]
        lines.append(line)
    return "\n".join(lines) + "\n"


def _check_platform() -> None:
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise DesktopError("Desktop integration is for Linux and BSD desktops (freedesktop.org menus); "
                           "on this system start the app with the imagefx-studio command.")


def _refresh_caches(home: Path) -> None:
    """Tell menus and icon caches about the change, where the tools exist (they are optional)."""
    for tool, arg in (("update-desktop-database", home / "applications"),
                      ("gtk-update-icon-cache", home / "icons" / "hicolor")):
        exe = shutil.which(tool)
        if exe and arg.is_dir():
            extra = ["-q", "-t", "-f"] if tool == "gtk-update-icon-cache" else ["-q"]
            # Only what the tools need: a cookie in our environment (GOOGLE_COOKIE) stays with us.
            env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "XDG_DATA_HOME")}
            subprocess.run([exe, *extra, str(arg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False, timeout=60, env=env)
    try:
        os.utime(home / "icons" / "hicolor")  # the icon theme spec: caches are checked against this mtime
    except OSError:
        pass


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a menu never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def install(home: Path | None = None) -> Installed:
    """Install the menu entry and icons for the current user; running it again updates them."""
    _check_platform()
    base = home or data_home()
    command = launcher()
    written = []
    try:
        for source, target in targets(base).items():
            if source.startswith("desktop/"):
                data = desktop_entry(command).encode("utf-8")
            else:
                data = shipped("resources/" + source).read_bytes()
            _write(target, data)
            written.append(target)
    except OSError as exc:
        raise DesktopError(f"Cannot write {exc.filename or base} ({exc.strerror}).") from None
    _refresh_caches(base)
    return Installed(written, " ".join(shlex.quote(a) for a in command))


def uninstall(home: Path | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; the files that were there."""
    _check_platform()
    base = home or data_home()
    removed = []
    for target in targets(base).values():
        try:
            target.unlink()
            removed.append(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DesktopError(f"Cannot remove {target} ({exc.strerror}).") from None
    if removed:
        _refresh_caches(base)
    return removed
