"""Smoke-test a built bundle the way a user without Python meets it.

    python3 tools/smoke_bundle.py dist/imagefx

Runs the bundle's ``imagefx`` from a scratch folder with a fresh data directory and a clean
environment (no venv, no checkout on any path): ``--version``; ``history`` (the embedded PostgreSQL
server is created from the binaries inside the bundle, schema.sql comes from the bundle);
``--demo generate`` against the built-in stand-in server (HTTP, Pillow, storing an image); the
desktop app offscreen until its service is ready, then closed like a window; and the one-sentence
message without a display. Exit 0 when every step passed, 1 with the failing step otherwise.

Run as root, the embedded server runs as the unprivileged ``pgserver`` user, which must be able to
read the bundle; the script checks that first and says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Failed(Exception):
    pass


def _env(home: Path, data: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "TERM")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"HOME": str(home), "IMAGEFX_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local" / "share"), "QT_QPA_PLATFORM": "offscreen"})
    return env


def _run(exe: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], env=env, cwd=env["HOME"], capture_output=True, text=True,
                          timeout=timeout)


def _check(step: str, done: subprocess.CompletedProcess[str], expect: str, code: int = 0) -> None:
    out = done.stdout + done.stderr
    if done.returncode != code or expect not in out or "Traceback" in out:
        raise Failed(f"{step}: exit {done.returncode} (expected {code}), output:\n{out[-3000:]}")
    print(f"ok  {step}", flush=True)


def _readable_by_server(bundle: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return
    postgres = next(bundle.rglob("pginstall18/bin/postgres"), None)
    if postgres is None:
        raise Failed("the bundle has no pginstall18/bin/postgres (the embedded server's binaries)")
    probe = subprocess.run(["runuser", "-u", "pgserver", "--", "test", "-x", str(postgres)], capture_output=True)
    if probe.returncode != 0:
        raise Failed(f"run as root the embedded server runs as the pgserver user, who cannot run {postgres}: "
                     "put the bundle where every user can read it (chmod -R a+rX, and o+x on its parent folders)")


def _window(exe: Path, env: dict[str, str], data: Path) -> None:
    log = data / "logs" / "imagefx-studio.log"
    proc = subprocess.Popen([str(exe)], env=env, cwd=env["HOME"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and "service ready" in log.read_text(errors="replace"):
                break
            time.sleep(0.2)
        if proc.poll() is not None or not log.exists() or "service ready" not in log.read_text(errors="replace"):
            proc.kill()
            out, err = proc.communicate()
            raise Failed(f"window: not ready (exit {proc.returncode}):\n{(out + err)[-3000:]}")
        proc.send_signal(signal.SIGTERM)  # what closing the window does
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0 or "Traceback" in out + err:
            raise Failed(f"window: exit {proc.returncode} after closing:\n{(out + err)[-3000:]}")
        if (data / "pgdata" / "postmaster.pid").exists():
            raise Failed("window: the embedded server was left running after the window closed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("ok  the window opens offscreen, reaches the database and closes cleanly", flush=True)


def smoke(bundle: Path) -> None:
    exe = bundle / ("imagefx.exe" if os.name == "nt" else "imagefx")
    if not exe.is_file():
        raise Failed(f"{exe} does not exist; build the bundle first (python3 tools/build_bundle.py)")
    _readable_by_server(bundle)
    scratch = Path(tempfile.mkdtemp(prefix="imagefx-smoke-"))
    try:
        home, data = scratch / "home", scratch / "data"
        home.mkdir()
        env = _env(home, data)
        _check("--version", _run(exe, env, "--version"), "ImageFX Studio ")
        _check("history on a fresh data directory", _run(exe, env, "history"), "No generations yet.")
        generated = _run(exe, env, "--demo", "generate", "-p", "a lighthouse at dusk", "-n", "1", "-d", "out")
        _check("--demo generate (the built-in stand-in server; one image stored and saved)", generated, "")
        if not any((home / "out").glob("*.*")):
            raise Failed(f"--demo generate saved no file in {home / 'out'}:\n{generated.stdout}")
        _check("history shows it", _run(exe, env, "history"), "a lighthouse at dusk")
        _window(exe, env, data)
        no_display = {k: v for k, v in env.items() if k != "QT_QPA_PLATFORM"}
        _check("no display: one sentence, exit 1", _run(exe, no_display), "There is no display", code=1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        smoke(Path(args[0]).resolve())
    except (Failed, subprocess.TimeoutExpired) as exc:
        print(f"FAILED  {exc}", file=sys.stderr)
        return 1
    print(f"Bundle smoke test passed in {time.monotonic() - started:.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
