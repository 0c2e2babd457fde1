"""The wheel as a new user gets it: built from the checkout's files, installed into a fresh venv, run
from another folder. Catches what an editable install hides: files that are not in the wheel
(schema.sql, icons), commands that are not installed, paths that only exist in a checkout.

To keep it quick the fresh venv gets only the wheel (``--no-deps``); the dependencies come from
this test run's own site-packages through a ``.pth`` line (a path, so the editable install's
finder there is not loaded: ``core`` and ``gui`` can only come from the wheel).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _checkout_files() -> list[str]:
    """The files a clean clone has (plus new, not yet committed ones), not build leftovers or venvs."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True, timeout=60).stdout
        return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
        return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the wheel built from a copy of the checkout installed in it."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for rel in _checkout_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(src)],
                   check=True, timeout=600)
    wheel = next((base / "dist").glob("imagefx_studio-*.whl"))
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=600)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz-test-dependencies.pth").write_text("\n".join(deps) + "\n")
    print(f"wheel built and installed in {time.monotonic() - started:.1f} s")
    yield env_dir


@pytest.fixture
def env(tmp_path: Path, server_reachable_dir: Path) -> dict[str, str]:
    """A user's environment: no checkout on the path, a fresh data folder, a file keyring."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_", "DATABASE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"IMAGEFX_DATA_DIR": str(server_reachable_dir / "data"), "HOME": str(tmp_path),
                "XDG_DATA_HOME": str(tmp_path / "share"), "QT_QPA_PLATFORM": "offscreen",
                "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"})
    return env


def _run(env: dict[str, str], *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], env=env, cwd=env["HOME"], capture_output=True, text=True,
                          timeout=120)


def test_the_installed_wheel_runs_from_its_own_files(venv: Path, env: dict[str, str]) -> None:
    bin_dir = venv / "bin"
    where = _run(env, bin_dir / "python", "-c",
                 "import core, gui; from core.appinfo import shipped; "
                 "print(core.__file__, gui.__file__, shipped('schema.sql'), shipped('resources/icons/star.svg'))")
    assert where.returncode == 0, where.stderr
    assert all(p.startswith(str(venv)) for p in where.stdout.split()), where.stdout  # not the checkout's
    record = next(venv.glob("lib/python*/site-packages/imagefx_studio-*.dist-info/RECORD")).read_text()
    top_level = {line.split("/", 1)[0] for line in record.splitlines() if "/" in line.split(",", 1)[0]}
    assert {t for t in top_level if not t.endswith(".dist-info") and t != ".."} == {"core", "gui"}

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for command in ("imagefx", "imagefx-studio"):
        done = _run(env, bin_dir / command, "--version")
        assert (done.returncode, done.stdout) == (0, f"ImageFX Studio {project}\n"), done.stderr

    # Not on PATH: the usage names the command by its path, so copying it from a message works.
    usage = _run(env, bin_dir / "imagefx", "--help")
    assert usage.stdout.split()[:2] == ["usage:", str(bin_dir / "imagefx")]

    # A fresh data folder: the embedded server is created, schema.sql comes from the wheel.
    history = _run(env, bin_dir / "imagefx", "history")
    assert history.returncode == 0, history.stderr
    assert "No generations yet." in history.stdout + history.stderr

    # On PATH (pipx, an activated venv): messages say just "imagefx".
    on_path = dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    accounts = subprocess.run(["imagefx", "accounts"], env=on_path, cwd=env["HOME"], capture_output=True,
                              text=True, timeout=120)
    assert accounts.stdout.strip() == "No account is signed in. Run: imagefx login", accounts.stderr

    # The menu entry runs this venv's launcher.
    installed = _run(env, bin_dir / "imagefx", "desktop-install")
    assert installed.returncode == 0, installed.stderr
    entry = next((Path(env["XDG_DATA_HOME"]) / "applications").glob("*.desktop")).read_text()
    exec_line = next(line for line in entry.splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line.removeprefix("Exec=")) == [str(bin_dir / "imagefx-studio")]


def test_the_installed_gui_launcher_opens_the_window_and_quits_cleanly(venv: Path, env: dict[str, str]) -> None:
    log = Path(env["IMAGEFX_DATA_DIR"]) / "logs" / "imagefx-studio.log"
    proc = subprocess.Popen([str(venv / "bin" / "imagefx-studio")], env=env, cwd=env["HOME"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and "service ready (the embedded database)" in log.read_text():
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert "service ready (the embedded database)" in log.read_text()
        proc.send_signal(signal.SIGTERM)  # what closing the window does: the server is stopped
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (Path(env["IMAGEFX_DATA_DIR"]) / "gui.ini").exists()
    assert not (Path(env["IMAGEFX_DATA_DIR"]) / "pgdata" / "postmaster.pid").exists()
