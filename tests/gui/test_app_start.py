"""``python main.py`` starts the app on the embedded database with nothing set up, and quits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_python_main_py_opens_on_the_embedded_database_and_quits_cleanly(tmp_path, server_reachable_dir):
    data = server_reachable_dir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_", "DATABASE_"))}
    env.update({"IMAGEFX_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = data / "logs" / "imagefx-studio.log"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and "service ready" in log.read_text():
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert "service ready (the embedded database)" in log.read_text()
        proc.send_signal(signal.SIGTERM)  # like closing the window
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert not (data / "pgdata" / "postmaster.pid").exists()  # the embedded server was stopped
    assert (data / "gui.ini").exists()  # window state saved on the way out


def test_closing_while_the_service_connects_closes_it(qtbot, make_window, make_service, standin):
    built: list = []

    def slow_factory(_demo: bool) -> object:
        time.sleep(0.3)  # the window is closed meanwhile
        svc = make_service()
        built.append(svc)
        return svc

    w = make_window(factory=slow_factory, wait=False)
    qtbot.waitUntil(lambda: w.ctx.connecting)  # the connect has started on the worker
    w.close()  # waits for the worker: the connect finishes, sees it was cancelled, closes its service
    assert len(built) == 1
    assert built[0].db._engine is None  # closed: no pool, no server left behind
    assert not w.ctx.connected
