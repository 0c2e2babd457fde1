"""Issue 13: ``maintenance restore`` of a file that is not a backup is bad input (exit 2, naming the
file), never "check the database settings", and touches no database; a restore streams the dump
instead of holding it in memory. (The round trips themselves: tests/faults/test_maintenance.py.)
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from core.imagefx import GenerationRequest
from core.service import Service
from tests.faults.conftest import one_line_error
from tests.support.dbcheck import counts, scalar
from tests.support.pg import TcpPostgres, create_database, drop_database

Run = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parents[2]


def _not_backups(tmp_path: Path) -> dict[str, Path]:
    files = {"missing": tmp_path / "no such backup.sql.gz"}
    garbage = tmp_path / "holiday.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 not a dump at all" * 100)
    files["garbage"] = garbage
    text = tmp_path / "notes.sql"
    text.write_text("SELECT 1;\nDROP TABLE users;\n")
    files["plain SQL, not a dump"] = text
    fifo = tmp_path / "a-fifo.sql"
    os.mkfifo(fifo)
    files["a FIFO"] = fifo
    truncated = tmp_path / "cut-short.sql.gz"
    whole = gzip.compress(b"--\n-- PostgreSQL database dump\n--\n" + os.urandom(300_000).hex().encode())
    truncated.write_bytes(whole[: len(whole) // 2])
    files["a truncated gzip"] = truncated
    return files


@pytest.mark.fault_case("maintenance: restore of a missing or garbage file is bad input naming the file")
@pytest.mark.parametrize("kind", ["missing", "garbage", "plain SQL, not a dump", "a FIFO", "a truncated gzip"])
def test_restore_of_what_is_not_a_backup_exits_2_and_names_the_file(kind: str, cli: Run, db_url: str,
                                                                    tmp_path: Path) -> None:
    path = _not_backups(tmp_path)[kind]
    done = cli("maintenance", "restore", str(path), timeout=30)  # a FIFO would hang a reader: it must not
    line = one_line_error(done, 2, str(path))
    assert "database settings" not in line.lower()
    assert scalar(db_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0  # untouched


@pytest.mark.fault_case("maintenance: a restore streams, a big backup does not fill memory")
def test_a_big_backup_is_restored_in_bounded_memory(cli: Run, signed_in: Service, db_url: str, pg_tcp: TcpPostgres,
                                                    tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A real backup with 300 MB of comment lines in it (what psql skips, as it would skip nothing
    of a real 300 MB library's rows): the restoring process stays far below that."""
    signed_in.generate(GenerationRequest("kept through a big restore", count=2))
    plain = tmp_path / "small.sql"
    done = cli("maintenance", "backup", "-o", str(plain))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600
    head, sep, rest = plain.read_bytes().partition(b"\nSET ")
    big = tmp_path / "big.sql.gz"
    line = b"-- " + b"x" * 1020 + b"\n"
    with gzip.open(big, "wb", compresslevel=1) as out:
        out.write(head + b"\n")
        for _ in range(300):
            out.write(line * 1024)  # 1 MB
        out.write(sep.lstrip(b"\n") + rest)
    assert big.stat().st_size < 5_000_000

    name, empty = create_database(pg_tcp.url(), prefix="imagefx_restore")
    try:
        env = {**cli_env, "DATABASE_URL": empty}
        measured = subprocess.run(
            # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest) into the child.
            [sys.executable, "-c", "import sys; from core.cli import main; code = main(sys.argv[1:]); "
             "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0], "
             "file=sys.stderr); sys.exit(code)",
             "maintenance", "restore", str(big)], env=env, capture_output=True, text=True, timeout=300,
            cwd=str(tmp_path))
        assert measured.returncode == 0, measured.stderr
        peak_mb = int(measured.stderr.strip().splitlines()[-1]) / 1024
        assert peak_mb < 200, f"{peak_mb:.0f} MB for a 300 MB dump"
        assert counts(empty, ("generated_images",)) == {"generated_images": 2}
    finally:
        drop_database(pg_tcp.url(), name)
