"""Thousands of gallery items must not crash the process (PySide6 6.12's None-refcount abort).

docs/platform-notes.md: with PySide6 6.12.0 a process that added ~1,000 items through
QStandardItemModel aborted at exit (code 134), ~5,200 mid-run. The gallery uses a custom
QAbstractListModel; this test stores ~6,000 images in a fresh database and runs the real
window over them in a subprocess, which must exit with 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gui.helpers import fill_library

ROOT = Path(__file__).resolve().parents[2]
COUNT = 6000


def test_thousands_of_gallery_items_exit_cleanly(service, db_url, data_dir):
    fill_library(service, COUNT)
    assert service.count_images() == COUNT
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", IMAGEFX_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-m", "tests.gui.many_items_child", db_url, str(COUNT)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}"
    assert f"rows={COUNT}" in proc.stdout
