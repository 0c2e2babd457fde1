"""The offline demo switched on and off 20 times in a real window (X server, xcb), each time back
to a working library: the right images, the right account, a Generate that works (issue 11 §2).

The window runs in a child process (``demo_switch_child.py``) under ``xvfb-run``: this test
process already has its offscreen QApplication. It uses the embedded database in a fresh data
folder, as a user's first run does, and a stand-in that plays Google for the real account.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.standin import StandInServer

ROOT = Path(__file__).resolve().parents[2]
SWITCHES = 20


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="needs xvfb-run (.ci/run installs it)")
def test_the_demo_switches_on_and_off_20_times_each_time_back_to_a_working_library(
        standin: StandInServer, server_reachable_dir: Path, tmp_path: Path) -> None:
    email = "real.person@example.com"
    standin.add_account("real-person-session", email, "Real Person")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_", "DATABASE_"))
           and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({
        "IMAGEFX_DATA_DIR": str(server_reachable_dir / "data"),
        "IMAGEFX_LABS_URL": standin.url, "IMAGEFX_API_URL": standin.url, "IMAGEFX_TIMEOUT": "10",
        "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "share"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT),
        "REAL_EMAIL": email, "REAL_COOKIE": "__Secure-next-auth.session-token=real-person-session",
    })
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, "-m",
                           "tests.gui.demo_switch_child", str(SWITCHES)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    switches = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failed = [s for s in switches if s["problems"]]
    assert failed == [], "\n".join(json.dumps(s) for s in failed) + "\n" + proc.stderr[-3000:]
    assert len(switches) == SWITCHES + 1 and proc.returncode == 0, proc.stderr[-3000:]
    assert {s["how"] for s in switches[1:]} == {"welcome bar", "Ctrl+Shift+D", "Tools menu"}
