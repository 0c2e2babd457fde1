"""The plain ``history`` listing without SQLAlchemy (core/store/quick.py, issue 16): the same rows
as repo.history, the command never loads SQLAlchemy for it, and a fresh folder still works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.imagefx import GenerationRequest
from core.service import Service
from core.standin import DEMO_COOKIE, StandInServer
from core.store import repo
from core.store.embedded import EmbeddedServer
from core.store.quick import embedded_history
from tests.core.test_embedded import (  # noqa: F401 — fixtures
    _no_server_left_behind,
    data_dir,
    embedded_settings,
    postmasters,
    wait_until_gone,
)

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys
from core.cli import main
code = main(["history", *sys.argv[1:]])
print("SQLALCHEMY", "sqlalchemy" in sys.modules, code)
"""


def _history(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_"))}
    env.pop("DATABASE_URL", None)
    env.update(IMAGEFX_DATA_DIR=str(data), PYTHONPATH=str(ROOT), IMAGEFX_DB_GRACE="0")
    return subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=90)


def test_the_quick_listing_is_repo_history_and_the_command_loads_no_sqlalchemy(
        data_dir: Path, standin: StandInServer) -> None:  # noqa: F811
    settings = embedded_settings(data_dir, standin)
    pgdata = settings.embedded_db_dir
    svc = Service(settings).open()
    try:
        svc.sign_in(DEMO_COOKIE)
        made = [svc.generate(GenerationRequest(prompt=f"a lighthouse, take {i}", count=2, seed=40 + i))
                for i in range(4)]
        svc.trash_images([img.id for img in made[1].record.images])  # a generation all in the Trash: left out
        svc.trash_images([made[2].record.images[0].id])  # one of two: the other one shows
        with svc.db.session() as s:
            expected = {n: repo.history(s, limit=n) for n in (50, 2)}
        handle = EmbeddedServer(pgdata)
        try:
            for n, rows in expected.items():
                assert embedded_history(handle, limit=n) == rows
        finally:
            handle.stop()
        assert [r.image_count for r in expected[50]] == [2, 1, 2]
    finally:
        svc.close()
    assert wait_until_gone(pgdata) == []

    done = _history(data_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "SQLALCHEMY False 0"  # the plain listing never loaded it
    assert len(lines) == 4 and "a lighthouse, take 3" in lines[0]
    assert postmasters(pgdata) == []  # one handle, let go once (grace 0: stopped before the exit)

    searched = _history(data_dir, "--search", "lighthouse")  # anything else takes the full path
    assert searched.returncode == 0 and searched.stdout.splitlines()[-1] == "SQLALCHEMY True 0"
    assert searched.stdout.splitlines()[:-1] == lines[:-1]


def test_a_fresh_folder_takes_the_full_path_and_is_stopped_once(data_dir: Path) -> None:  # noqa: F811
    done = _history(data_dir)
    assert done.returncode == 0, done.stderr
    assert "No generations yet." in done.stderr
    assert done.stdout.splitlines()[-1] == "SQLALCHEMY True 0"  # it bootstrapped the schema
    assert postmasters(data_dir / "pgdata") == []
    again = _history(data_dir)  # now the schema is there: the quick path
    assert again.stdout.splitlines()[-1] == "SQLALCHEMY False 0" and "No generations yet." in again.stderr
