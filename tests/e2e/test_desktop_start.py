"""The desktop app where it cannot open a window says so in one sentence (not Qt's abort, exit 134),
and ``desktop-install`` puts it in the applications menu, as a user runs them: ``python main.py``."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.appinfo import APP_ID, version

ROOT = Path(__file__).resolve().parents[2]
XCB_CURSOR = Path("/usr/lib/x86_64-linux-gnu/libxcb-cursor.so.0.0.0")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")
           and not k.startswith(("DB_", "IMAGEFX_", "DATABASE_"))}
    env.update({"IMAGEFX_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path),
                "XDG_RUNTIME_DIR": str(tmp_path / "run"), "XDG_DATA_HOME": str(tmp_path / "share")})
    env.update(extra)
    return env


def _main(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=env["HOME"],
                          capture_output=True, text=True, timeout=120)


def _one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "qt.qpa" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_without_a_display_the_app_says_so_and_names_the_command_line(tmp_path):
    line = _one_sentence(_main(_env(tmp_path)))
    assert "There is no display (DISPLAY and WAYLAND_DISPLAY are not set)" in line
    assert f"python {ROOT / 'main.py'} --help" in line  # the command this user can run instead
    assert not (tmp_path / "data").exists()  # nothing was started


def test_a_display_nobody_answers_on_is_named(tmp_path):
    line = _one_sentence(_main(_env(tmp_path, DISPLAY=":987")))
    assert "No X server answers on display :987" in line


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("xvfb-run")
                    or not XCB_CURSOR.exists(), reason="needs root, unshare, xvfb-run and libxcb-cursor0")
def test_a_missing_xcb_library_is_named_with_the_package_to_install(tmp_path):
    # A private mount namespace where libxcb-cursor is an empty file: the library Qt 6.5+ needs
    # and a fresh Debian lacks, without touching the machine's own copy.
    hide = f"mount --bind /dev/null {XCB_CURSOR} && exec \"$@\""
    done = _main(_env(tmp_path, QT_QPA_PLATFORM="xcb"),
                 prefix=("xvfb-run", "-a", "unshare", "-m", "--propagation", "private", "sh", "-c", hide, "sh"))
    line = _one_sentence(done)
    assert "Qt's X11 support needs libxcb-cursor.so.0" in line
    assert "sudo apt install libxcb-cursor0" in line


def _exec_argv(entry: configparser.SectionProxy) -> list[str]:
    """The Exec line as a launcher splits it (our paths need no Desktop Entry escapes beyond quoting)."""
    return shlex.split(entry["Exec"].replace("\\\\", "\\"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="freedesktop.org menus")
def test_desktop_install_puts_a_working_menu_entry_and_icon_in_place_and_uninstall_removes_them(tmp_path):
    env = _env(tmp_path)
    share = tmp_path / "share"
    done = _main(env, "desktop-install")
    assert done.returncode == 0, done.stderr
    desktop = share / "applications" / f"{APP_ID}.desktop"
    svg = share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    png = share / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"
    assert str(desktop) in done.stdout and "desktop-install --uninstall" in done.stdout
    assert svg.read_bytes() == (ROOT / "resources" / "app.svg").read_bytes()
    assert png.read_bytes() == (ROOT / "resources" / "app.png").read_bytes()
    if shutil.which("desktop-file-validate"):  # desktop-file-utils, the freedesktop.org checker
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(desktop, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Icon"] == APP_ID and entry["Name"] == "ImageFX Studio"
    # What the menu runs is this copy: the interpreter and main.py of the checkout, by absolute path.
    argv = _exec_argv(entry)
    assert argv == [sys.executable, str(ROOT / "main.py")]
    assert Path(entry["TryExec"]) == Path(sys.executable)
    ran = subprocess.run([*argv, "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == f"ImageFX Studio {version()}"

    again = _main(env, "desktop-install")  # running it twice just updates the files
    assert again.returncode == 0, again.stderr
    gone = _main(env, "desktop-install", "--uninstall")
    assert gone.returncode == 0, gone.stderr
    assert not desktop.exists() and not svg.exists() and not png.exists()
    assert "nothing to remove" in _main(env, "desktop-install", "--uninstall").stdout


def test_the_shipped_appstream_metadata_is_valid_and_names_this_version_and_desktop_file():
    import tomllib
    import xml.etree.ElementTree as ET

    metainfo = ROOT / "resources" / "desktop" / f"{APP_ID}.metainfo.xml"
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert (ROOT / "resources" / "desktop" / f"{APP_ID}.desktop").exists()
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    newest = root.find("releases/release")
    assert newest is not None and newest.get("version") == project_version  # bump both together
    if shutil.which("appstreamcli"):  # Debian's appstream: the reference validator
        check = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
