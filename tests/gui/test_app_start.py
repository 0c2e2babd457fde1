"""``python main.py`` starts the app on the embedded database with nothing set up, and quits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start_app(data: Path, home: Path) -> subprocess.Popen[str]:
    """``python main.py`` (the desktop app, offscreen) on the embedded database in ``data``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_", "DATABASE_"))}
    env.update({"IMAGEFX_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen", "HOME": str(home),
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "PYTHONPATH": str(ROOT)})
    return subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_ready(proc: subprocess.Popen[str], log: Path, times: int = 1) -> None:
    """Until the app's log says "service ready" for the ``times``-th time (one per start)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_text().count("service ready") >= times:
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    assert log.read_text().count("service ready (the embedded database)") >= times


def _quit(proc: subprocess.Popen[str], data: Path) -> None:
    """Close it like a user closing the window; it must exit cleanly and stop its server."""
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert not (data / "pgdata" / "postmaster.pid").exists()  # the embedded server was stopped


def test_python_main_py_opens_on_the_embedded_database_and_quits_cleanly(tmp_path, server_reachable_dir):
    data = server_reachable_dir / "data"
    proc = _start_app(data, tmp_path)
    try:
        _wait_until_ready(proc, data / "logs" / "imagefx-studio.log")
        _quit(proc, data)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (data / "gui.ini").exists()  # window state saved on the way out


@pytest.mark.fault_case("database: the desktop app SIGKILLed on the embedded database, next start works")
def test_the_desktop_app_killed_with_sigkill_starts_again(tmp_path, server_reachable_dir):
    data = server_reachable_dir / "data"
    log = data / "logs" / "imagefx-studio.log"
    proc = _start_app(data, tmp_path)
    try:
        _wait_until_ready(proc, log)
        proc.kill()  # SIGKILL: no clean-up at all; the embedded server and its pid file stay behind
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        proc = _start_app(data, tmp_path)
        _wait_until_ready(proc, log, times=2)
        _quit(proc, data)
    finally:
        if proc.poll() is None:
            proc.kill()


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
