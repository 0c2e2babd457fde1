"""Start-up of the embedded PostgreSQL server, each figure in a fresh process.

    python -m benchmarks.embedded_server [--runs 7] [--code DIR]

* ``fresh``: a data folder that has never held a database (initdb, start, schema);
* ``cold``: the database exists, no server runs (start, connect);
* ``warm``: another process already runs the server (join, connect);
* ``history cold`` / ``history warm``: ``python main.py history --limit 5``, whole process.

``connect`` figures are taken inside the child, from just before ``Database.connect()`` to
just after (imports excluded); ``history`` is wall time from the parent. ``--code DIR`` runs
another checkout of the app (a ``git archive`` of main, say) with this same interpreter, so a
change can be measured against what it replaces in the same run. Run as root, the data folders
are made where the server's unprivileged user can reach them (``tempfile.mkdtemp``, then 0711).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONNECT = """
import time
from core.config import load_settings
from core.store import Database
db = Database(load_settings())
t = time.perf_counter()
db.connect()
connected = time.perf_counter() - t
t = time.perf_counter()
db.close()
print(f"{connected * 1000:.1f} {(time.perf_counter() - t) * 1000:.1f}")
"""

HOLD = """
import sys
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print("ready", flush=True)
sys.stdin.readline()
db.close()
"""


def _env(code: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "IMAGEFX_")) and k not in
           ("DATABASE_URL", "GOOGLE_COOKIE")}
    env.update(IMAGEFX_DATA_DIR=str(data), PYTHONPATH=str(code))
    return env


def _folder() -> Path:
    base = Path(tempfile.mkdtemp(prefix="imagefx-bench-emb-"))
    base.chmod(0o711)
    return base


def _connect(code: Path, data: Path) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CONNECT], env=_env(code, data), cwd=code, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def _history(code: Path, data: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(code / "main.py"), "history", "--limit", "5"], env=_env(code, data),
                   cwd=code, capture_output=True, check=True)
    return (time.perf_counter() - started) * 1000


class _Holder:
    """Another app process that keeps the server running."""

    def __init__(self, code: Path, data: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD], env=_env(code, data), cwd=code,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        self.proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout of the app to measure (default: this one)")
    args = ap.parse_args(argv)
    code = args.code.resolve()
    figures: dict[str, list[float]] = {k: [] for k in ("fresh connect", "cold connect", "warm connect",
                                                          "stop (last one out)", "history cold", "history warm")}
    base = _folder()
    try:
        for i in range(args.runs):
            fresh = base / f"fresh{i}"
            connect, _ = _connect(code, fresh)
            figures["fresh connect"].append(connect)
        data = base / "fresh0"
        _connect(code, data)  # warm-up, not counted
        for _ in range(args.runs):
            connect, stop = _connect(code, data)
            figures["cold connect"].append(connect)
            figures["stop (last one out)"].append(stop)
            figures["history cold"].append(_history(code, data))
        holder = _Holder(code, data)
        try:
            for _ in range(args.runs):
                figures["warm connect"].append(_connect(code, data)[0])
                figures["history warm"].append(_history(code, data))
        finally:
            holder.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"embedded server start-up, {code}, median of {args.runs} (min-max), ms")
    for name, samples in figures.items():
        print(f"  {name:22} {statistics.median(samples):7.1f}  ({min(samples):.1f}-{max(samples):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
