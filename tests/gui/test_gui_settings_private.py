"""gui.ini holds the draft prompt and the folders last used: only its owner reads it (issue 12)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from gui.settings import GuiSettings

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_gui_ini_is_private_from_its_first_byte_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "config" / "gui.ini"
    old = os.umask(0)
    try:
        settings = GuiSettings(path)
        assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
        settings.set("editor/prompt", "a draft nobody else should read")
        settings.sync()
        assert "a draft nobody else should read" in path.read_text()
        assert _mode(path) == 0o600  # QSettings' rewrite keeps the mode
    finally:
        os.umask(old)


def test_an_existing_readable_gui_ini_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "gui.ini"
    path.write_text("[editor]\nprompt=older draft\n")
    path.chmod(0o644)
    settings = GuiSettings(path)
    assert _mode(path) == 0o600
    assert settings.get("editor/prompt") == "older draft"
