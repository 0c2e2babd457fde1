"""Library export/import (``imagefx library export|import``): time and peak memory, in real processes.

    python -m benchmarks.library_bench --target embedded:/work/benchdata/emb-10k \\
        --import-into postgresql://postgres@127.0.0.1:5432/postgres --out /var/tmp/library-10k.jsonl.gz

Each step is one ``python main.py library …`` process; its peak resident memory comes from the
kernel (``wait4``'s ``ru_maxrss``), its time from the wall clock. The floor is a process that only
reads the same rows the same way (a server-side cursor over ``generated_images``, nothing
written), so the ratio says what JSON, gzip and the file add to reading the database. Memory is
flat when a 10k library's peak is about a 1k library's (run both targets): the export and the
import hold a batch of rows, never the library (core/service/library_io.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from benchmarks.common import ROOT, Target, clean_process_env
from tests.support.pg import create_database, drop_database


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stderr) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} exited {code}:\n{err}\n{out}")
    return elapsed, usage.ru_maxrss / 1024, err + out


FLOOR = textwrap.dedent("""
    import sqlalchemy as sa
    from benchmarks.common import Target
    from core.store.models import GeneratedImage
    db = Target.parse(%r).database()
    db.connect()
    n = 0
    with db.session() as s:
        for row in s.execute(sa.select(GeneratedImage.__table__).execution_options(yield_per=16)):
            n += len(row.encoded_image)
    print(n)
""")


def main() -> None:
    clean_process_env()
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="embedded:DIR or server:URL (the library to export)")
    ap.add_argument("--import-into", default=None, help="a server's admin URL: import into a fresh database there")
    ap.add_argument("--out", type=Path, default=Path("/var/tmp/imagefx-library-bench.jsonl.gz"))
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    target = Target.parse(args.target)
    env = target.env()
    py = [sys.executable, str(ROOT / "main.py")]

    db = target.database()
    db.connect()
    from core.store import repo

    with db.session() as s:
        counts = repo.table_counts(s)
    db.close()
    figures: dict[str, object] = {"target": args.target, "images": counts["generated_images"],
                                  "prompts": counts["prompts"]}

    t, rss, _ = run([sys.executable, "-c", FLOOR % args.target], dict(env, PYTHONPATH=str(ROOT)))
    figures["floor_read_s"], figures["floor_read_rss_mb"] = round(t, 1), round(rss, 1)
    t, rss, msg = run(py + ["library", "export", str(args.out)], env)
    figures["export_s"], figures["export_rss_mb"] = round(t, 1), round(rss, 1)
    figures["file_mb"] = round(args.out.stat().st_size / 1e6, 1)
    figures["export_vs_floor"] = round(figures["export_s"] / max(figures["floor_read_s"], 0.1), 2)  # type: ignore[operator]
    print(msg.strip().splitlines()[-2] if msg.strip() else "", flush=True)

    if args.import_into:
        name, url = create_database(args.import_into, prefix="imagefx_libbench")
        try:
            ienv = dict(env, DATABASE_URL=url)
            t, rss, msg = run(py + ["library", "import", str(args.out)], ienv)
            figures["import_s"], figures["import_rss_mb"] = round(t, 1), round(rss, 1)
            print(msg.strip().splitlines()[-1], flush=True)
            t, rss, msg = run(py + ["library", "import", str(args.out)], ienv)
            figures["reimport_s"], figures["reimport_rss_mb"] = round(t, 1), round(rss, 1)
            print(msg.strip().splitlines()[-1], flush=True)
        finally:
            drop_database(args.import_into, name)
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        existing = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps([*existing, figures], indent=2))


if __name__ == "__main__":
    main()
