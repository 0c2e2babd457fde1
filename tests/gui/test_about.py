"""Help → About shows the version the command line's ``--version`` prints (one source of truth)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

ROOT = Path(__file__).resolve().parents[2]


def test_the_about_box_shows_the_version_imagefx_version_prints(qtbot, make_window):
    printed = subprocess.run([sys.executable, str(ROOT / "main.py"), "--version"], capture_output=True,
                             text=True, timeout=60).stdout.strip()
    assert printed.startswith("ImageFX Studio ") and printed != "ImageFX Studio unknown"
    w = make_window(signed_in=False)
    w.actions_["about"].trigger()
    box = w.findChild(QMessageBox, "about")
    assert box is not None and box.isVisible()
    assert f"<h3>{printed}</h3>" in box.text()
    box.close()
