"""The embedded PostgreSQL server in the data directory: started on demand, stopped cleanly,
fine with a space in the path, and no leaked server after an app process is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.config import Settings, load_settings
from core.imagefx import GenerationRequest
from core.service import Service
from core.standin import DEMO_COOKIE, DEMO_EMAIL, StandInServer
from core.store import Database, DatabaseError
from tests.support.pg import pg_bin

ROOT = Path(__file__).resolve().parents[2]

# Run as a separate app process: connect to the embedded database, say so, then wait.
CHILD = """
import sys
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print("ready", flush=True)
sys.stdin.readline()
db.close()
print("closed", flush=True)
"""


def postmasters(pgdata: Path) -> list[int]:
    """Live processes serving ``pgdata`` (``postgres -D <pgdata>``, or run as root ``-D /proc/self/fd/N``
    with its working folder there); zombies do not count."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z" or b"-D" not in args or not args[0].endswith(b"postgres"):
                continue
            datadir = args[args.index(b"-D") + 1]
            if datadir.startswith(b"/proc/self/fd/"):
                datadir = os.fsencode(os.readlink(proc / "cwd"))
        except (OSError, IndexError):
            continue
        if datadir == os.fsencode(pgdata):
            found.append(int(proc.name))
    return found


def wait_until_gone(pgdata: Path, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := postmasters(pgdata)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def embedded_settings(data_dir: Path, standin: StandInServer) -> Settings:
    s = load_settings()
    assert s.database.mode == "embedded" and s.data_dir == data_dir
    return s.with_overrides(labs_url=standin.url, api_url=standin.url)


@pytest.fixture(autouse=True)
def _no_server_left_behind(server_reachable_dir: Path) -> Iterator[None]:
    """If a test fails half-way, stop what it left running so later tests start clean."""
    yield
    for pgdata in server_reachable_dir.rglob("pgdata"):
        if postmasters(pgdata):
            cmd = [str(pg_bin() / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"]
            if os.geteuid() == 0:
                cmd = ["runuser", "-u", "pgserver", "--", *cmd]
            subprocess.run(cmd, capture_output=True, timeout=30)


@pytest.fixture
def data_dir(server_reachable_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data dir, where the embedded server as the pgserver user (as root) can reach it."""
    d = server_reachable_dir / "data"
    d.mkdir()
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(d))
    return d


@pytest.fixture
def child_env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "IMAGEFX_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}


def test_started_on_demand_in_the_data_dir_and_stopped_on_close(data_dir: Path, standin: StandInServer) -> None:
    settings = embedded_settings(data_dir, standin)
    pgdata = settings.embedded_db_dir
    svc = Service(settings, cookie=DEMO_COOKIE)
    assert not pgdata.exists() and postmasters(pgdata) == []  # nothing until it is needed
    try:
        svc.open()
        assert pgdata.parent == data_dir and len(postmasters(pgdata)) == 1
        svc.sign_in(DEMO_COOKIE)
        svc.generate(GenerationRequest("a paper boat", count=2))
    finally:
        svc.close()
    assert wait_until_gone(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()

    again = Service(settings).open()  # the history is still there after a restart
    try:
        [row] = again.history()
        assert (row.prompt, row.image_count, row.user_email) == ("a paper boat", 2, DEMO_EMAIL)
    finally:
        again.close()
    assert wait_until_gone(pgdata) == []


def test_a_data_dir_whose_path_contains_a_space(server_reachable_dir: Path, standin: StandInServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = server_reachable_dir / "Application Support" / "ImageFX Studio"
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(data_dir))
    settings = embedded_settings(data_dir, standin)
    db = Database(settings)
    try:
        with db.session() as s:
            assert s.execute(sa.text("SELECT count(*) FROM prompts")).scalar() == 0
        assert len(postmasters(settings.embedded_db_dir)) == 1
    finally:
        db.close()
    assert wait_until_gone(settings.embedded_db_dir) == []


@pytest.mark.fault_case("database: embedded server's app SIGKILLed, next start works")
def test_a_sigkilled_app_leaves_a_server_the_next_start_reuses_and_then_stops(
        data_dir: Path, standin: StandInServer, child_env: dict[str, str]) -> None:
    settings = embedded_settings(data_dir, standin)
    pgdata = settings.embedded_db_dir
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=child_env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        [server] = postmasters(pgdata)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert postmasters(pgdata) == [server]  # the killed process could not stop it

    db = Database(settings).connect()
    try:
        assert postmasters(pgdata) == [server]  # reused, not a second server
    finally:
        db.close()
    assert wait_until_gone(pgdata) == []  # so the last one out stops it


def test_two_processes_share_the_server_and_the_last_one_out_stops_it(
        data_dir: Path, standin: StandInServer, child_env: dict[str, str]) -> None:
    settings = embedded_settings(data_dir, standin)
    pgdata = settings.embedded_db_dir
    db = Database(settings).connect()
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=child_env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        [server] = postmasters(pgdata)
        db.close()
        time.sleep(0.2)
        assert postmasters(pgdata) == [server]  # still in use by the other process
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        db.close()
    assert wait_until_gone(pgdata) == []


@pytest.mark.fault_case("database: embedded server cannot start")
def test_a_server_that_cannot_start_is_a_database_error_on_every_try(data_dir: Path, standin: StandInServer) -> None:
    settings = embedded_settings(data_dir, standin)
    pgdata = settings.embedded_db_dir
    pgdata.mkdir(parents=True)
    stray = pgdata / "stray.txt"
    stray.write_text("not a database")  # initdb refuses a non-empty directory
    db = Database(settings)
    for _ in range(2):  # the GUI retries; the CLI retries when it stores
        with pytest.raises(DatabaseError, match="embedded database could not start"):
            db.connect()
    stray.unlink()
    try:
        db.connect()  # fixed while the app runs: the next try starts it
        assert db.ping() and len(postmasters(pgdata)) == 1
    finally:
        db.close()
    assert wait_until_gone(pgdata) == []


def test_a_data_path_too_long_for_a_socket_works_for_the_app_and_its_backups(
        server_reachable_dir: Path, standin: StandInServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Longer than a socket path may be (107 bytes): clients of this process, pg_dump included,
    reach the socket in the cluster folder through a descriptor of it."""
    data_dir = server_reachable_dir / ("a-long-folder-name-" * 4) / ("and-one-more-below-" * 4)
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(data_dir))
    settings = embedded_settings(data_dir, standin)
    assert len(str(settings.embedded_db_dir / ".s.PGSQL.5432")) > 107
    svc = Service(settings, cookie=DEMO_COOKIE).open()
    try:
        svc.sign_in(DEMO_COOKIE)
        svc.generate(GenerationRequest("through a long path", count=1))
        result = svc.backup(tmp_path / "long.sql")
        assert b"through a long path" in result.path.read_bytes()
    finally:
        svc.close()
    assert wait_until_gone(settings.embedded_db_dir) == []


def _history(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "history"], env=env, capture_output=True, text=True,
                          timeout=90)


def test_a_command_leaves_the_server_up_for_its_grace_period_then_it_stops(
        data_dir: Path, child_env: dict[str, str]) -> None:
    """Issue 16: a CLI command does not wait for the server to stop; the next command within
    IMAGEFX_DB_GRACE finds the same server; after it, the server is gone by itself."""
    env = {**child_env, "IMAGEFX_DB_GRACE": "1.5"}
    env.pop("DATABASE_URL", None)
    pgdata = data_dir / "pgdata"
    first = _history(env)
    assert first.returncode == 0, first.stderr
    [server] = postmasters(pgdata)  # still up after the command exited
    again = _history(env)
    assert again.returncode == 0, again.stderr
    assert postmasters(pgdata) == [server]  # reused, not started again
    time.sleep(0.5)
    assert postmasters(pgdata) == [server]  # the second command's grace period holds it
    assert wait_until_gone(pgdata, 10) == []  # and then the last one out stops it

    env["IMAGEFX_DB_GRACE"] = "0"
    assert _history(env).returncode == 0
    assert postmasters(pgdata) == []  # 0: stopped before the command exits, as before


def test_the_grace_period_ends_on_sigterm_and_when_the_data_folder_goes(
        data_dir: Path, child_env: dict[str, str]) -> None:
    env = {**child_env, "IMAGEFX_DB_GRACE": "600"}
    env.pop("DATABASE_URL", None)
    pgdata = data_dir / "pgdata"
    assert _history(env).returncode == 0
    [server] = postmasters(pgdata)
    keepers = _grace_processes(pgdata)
    assert len(keepers) == 1
    os.kill(keepers[0], signal.SIGTERM)  # logging out, shutting down: the server goes with it
    assert wait_until_gone(pgdata, 10) == []

    assert _history(env).returncode == 0
    [server] = postmasters(pgdata)
    [keeper] = _grace_processes(pgdata)
    import shutil

    shutil.rmtree(data_dir, ignore_errors=True)  # the folder is deleted under a running server
    os.kill(keeper, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{server}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{server}/cmdline").exists() or b"postgres" not in Path(
        f"/proc/{server}/cmdline").read_bytes()  # stopped, not leaked


def _grace_processes(pgdata: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"_linger_main" in a for a in args) and os.fsencode(pgdata) in args:
                found.append(int(proc.name))
    return found
