"""Before the QApplication exists: can Qt open a window here? If not, one sentence saying why.

Without a display, or with an X11 library missing, Qt aborts the process (exit 134, a core dump
and a paragraph about ``libxcb-cursor0``). This looks first, without importing Qt: which platform
plugin Qt will pick (``QT_QPA_PLATFORM``, else Wayland in a Wayland session, else X11), whether its
display is there, and whether the plugin's shared libraries load (``dlopen``, so the dynamic
linker names the missing one). Linux and the BSDs only; elsewhere Qt needs no display server.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

_DISPLAY_PLATFORMS = {"xcb": "X11", "wayland": "Wayland", "wayland-egl": "Wayland"}
# Debian/Ubuntu package names that do not follow "soname without .so, version appended".
_PACKAGES = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
             "libgobject-2.0.so.0": "libglib2.0-0", "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1",
             "libOpenGL.so.0": "libopengl0"}


def _platforms() -> list[str]:
    """The platform plugins Qt will try, in order."""
    env = os.environ.get("QT_QPA_PLATFORM", "").strip()
    if env:
        return [p.split(":", 1)[0].strip().lower() for p in env.split(";") if p.strip()]
    if os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return ["wayland", "xcb"]
    return ["xcb"]


def _x_server_answers(display: str) -> bool:
    """True unless ``display`` names a local X server whose socket nobody listens on. Remote and odd
    displays (``host:0``, launchd paths) are left to Qt."""
    m = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if not m:
        return True
    path = f"/tmp/.X11-unix/X{m.group(1)}"
    for address in (path, "\0" + path):  # the socket file, then Linux's abstract socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(address)
                return True
            except OSError:
                continue
    return False


def _wayland_answers() -> bool:
    name = os.environ.get("WAYLAND_DISPLAY") or "wayland-0"
    path = Path(name) if os.path.isabs(name) else Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / name
    return path.exists()


def _plugin(platform: str) -> Path | None:
    spec = importlib.util.find_spec("PySide6")  # finds the package without importing Qt
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        candidate = Path(base) / "Qt" / "plugins" / "platforms" / f"libq{platform}.so"
        if candidate.is_file():
            return candidate
    return None


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that usually ships ``soname`` (libxcb-cursor.so.0 → libxcb-cursor0)."""
    if soname in _PACKAGES:
        return _PACKAGES[soname]
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\..*)?", soname)
    if not m:
        return soname
    name, version = m.group(1).lower(), m.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _load_failure(plugin: Path) -> tuple[list[str], str] | None:
    """None if ``plugin`` loads; else the shared libraries it needs that are missing, and the error."""
    try:
        ctypes.CDLL(str(plugin))
        return None
    except OSError as exc:
        error = str(exc)
    first = error.split(":", 1)[0].strip()
    missing = [Path(first).name] if ".so" in first and Path(first).name != plugin.name else []
    try:  # ldd names every missing library at once, not only the first
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}  # no secret of ours goes along
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10, env=env).stdout
        found = re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE)
        missing = list(dict.fromkeys(found + missing))
    except (OSError, subprocess.SubprocessError):
        pass
    return missing, error


def display_problem(command: str) -> str | None:
    """One sentence if the desktop app cannot open a window here, else None. ``command`` is what
    the user types for the command line, which works without a display."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    platforms = _platforms()
    if any(p not in _DISPLAY_PLATFORMS for p in platforms):
        return None  # offscreen, vnc, eglfs…: no display server needed (or Qt's own checks apply)
    usable = []
    for p in platforms:
        if p == "xcb" and os.environ.get("DISPLAY") and _x_server_answers(os.environ["DISPLAY"]):
            usable.append(p)
        elif p != "xcb" and _wayland_answers():
            usable.append(p)
    if not usable:
        display = os.environ.get("DISPLAY")
        if display and "xcb" in platforms:
            return (f"No X server answers on display {display}, so the desktop app cannot open its window; "
                    f"start it from your desktop session, or use the command line ({command} --help).")
        return ("There is no display (DISPLAY and WAYLAND_DISPLAY are not set), so the desktop app cannot "
                f"open its window; start it from your desktop session, or use the command line "
                f"({command} --help).")
    plugin = _plugin(usable[0])
    if plugin is None:
        return None
    failure = _load_failure(plugin)
    if failure is None:
        return None
    missing, error = failure
    if not missing:
        return f"The desktop app cannot start: Qt's {_DISPLAY_PLATFORMS[usable[0]]} support does not load ({error})."
    packages = " ".join(dict.fromkeys(debian_package(m) for m in missing))
    return (f"The desktop app cannot start: Qt's {_DISPLAY_PLATFORMS[usable[0]]} support needs "
            f"{', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed "
            f"(on Debian or Ubuntu: sudo apt install {packages}).")
