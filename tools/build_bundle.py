"""Build the PyInstaller bundle (one folder, no Python needed to run it), then smoke-test it.

    python3 tools/build_bundle.py [--dist dist] [--no-smoke]

Makes a build venv of its own (``build/bundle/venv``: the app's pinned dependencies and
PyInstaller, nothing of the tests), runs PyInstaller with ``tools/imagefx.spec`` and writes
``dist/imagefx/`` (``dist/imagefx/imagefx`` is the program), then runs ``tools/smoke_bundle.py``
on it. Prints the build time and the folder's size. Run it from any folder; the venv is reused on
the next run, so only the first build downloads anything.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYINSTALLER = "pyinstaller==6.22.3"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_venv(where: Path) -> Path:
    """The build venv with the project (non-editable, for its metadata) and PyInstaller in it."""
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", str(ROOT), PYINSTALLER], check=True)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/build_bundle.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle folder goes (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bundle", help="build venv and scratch")
    parser.add_argument("--no-smoke", action="store_true", help="build only; do not run the smoke test")
    args = parser.parse_args(argv)

    started = time.monotonic()
    python = build_venv(args.work / "venv")
    venv_done = time.monotonic()
    subprocess.run([str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
                    "--distpath", str(args.dist), "--workpath", str(args.work / "pyinstaller"),
                    str(ROOT / "tools" / "imagefx.spec")], check=True, cwd=ROOT)
    bundle = args.dist / "imagefx"
    # Run as root, the embedded PostgreSQL server runs as an unprivileged user, which must read the
    # server's binaries inside the bundle: keep the folder readable by everyone (it holds no secret).
    subprocess.run(["chmod", "-R", "a+rX", str(bundle)], check=True)
    built = time.monotonic()
    size = folder_size(bundle)
    print(f"Bundle: {bundle} ({size / 1e6:.0f} MB); build venv {venv_done - started:.0f} s, "
          f"PyInstaller {built - venv_done:.0f} s, total {built - started:.0f} s.", flush=True)
    if args.no_smoke:
        return 0
    return subprocess.run([sys.executable, str(ROOT / "tools" / "smoke_bundle.py"), str(bundle)]).returncode


if __name__ == "__main__":
    sys.exit(main())
