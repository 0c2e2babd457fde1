"""Issue 12 "Nothing bricks" and issue 11 "Nothing needs a restart", on the embedded server and on
a server: a stale ``postmaster.pid``, sixteen clients bootstrapping a fresh database at once, the
server stopped or SIGKILLed under a running service, a cluster of an earlier version (trust
authentication) converted in place, a damaged cluster folder, the offline demo's own library.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
import sqlalchemy as sa

from core.config import Settings, load_settings
from core.imagefx import GenerationRequest
from core.service import Service
from core.standin import DEMO_COOKIE, StandInServer
from core.store import Database
from core.store.embedded import PidFile, bin_dir
from tests.conftest import server_admin_urls
from tests.core.test_embedded import postmasters, wait_until_gone
from tests.faults.conftest import one_line_error
from tests.support.fault_suite import DataLoss
from tests.support.pg import TcpPostgres, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "pgserver", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait_cluster_processes_gone(pgdata: Path, timeout: float = 15) -> None:
    """After a SIGKILL of the postmaster its backends notice and exit; wait until they have."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = []
        for proc in psutil.process_iter(["name"]):
            try:
                if proc.info["name"] == "postgres" and os.path.samefile(proc.cwd(), pgdata):
                    left.append(proc.pid)
            except (psutil.Error, OSError):
                continue
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of {pgdata} did not exit: {left}")


@pytest.fixture
def data(server_reachable_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = server_reachable_dir / "data"
    monkeypatch.setenv("IMAGEFX_DATA_DIR", str(d))
    yield d
    for pgdata in (d / "pgdata", d / "demo" / "pgdata"):
        for pid in postmasters(pgdata):
            os.kill(pid, signal.SIGINT)
        wait_until_gone(pgdata, 30)


@pytest.fixture
def embedded(data: Path, standin: StandInServer) -> Settings:
    s = load_settings().with_overrides(labs_url=standin.url, api_url=standin.url, request_timeout=10.0)
    assert s.database.mode == "embedded" and s.embedded_db_dir == data / "pgdata"
    return s


def _cli_env(data: Path, standin: StandInServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "GOOGLE_", "IMAGEFX_"))}
    env.pop("DATABASE_URL", None)
    env.update({"IMAGEFX_DATA_DIR": str(data), "IMAGEFX_LABS_URL": standin.url, "IMAGEFX_API_URL": standin.url,
                "PYTHONPATH": str(ROOT), "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
                "HOME": str(data.parent), **extra})
    return env


def _cli(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["HOME"])


HOLD = """
import sys
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print("ready", flush=True)
sys.stdin.readline()
"""


# --- a stale postmaster.pid -------------------------------------------------------------------------

def _rewrite_pid(path: Path, pid: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[0] = f"{pid}\n"
    path.write_text("".join(lines))


@pytest.mark.fault_case("database: stale postmaster.pid whose pid belongs to another process")
@pytest.mark.parametrize("reused_by", ["an unrelated process", "another cluster's postgres"])
def test_a_stale_postmaster_pid_of_a_reused_pid_does_not_brick_the_app(
        reused_by: str, data: Path, embedded: Settings, standin: StandInServer, pg_tcp: TcpPostgres) -> None:
    env = _cli_env(data, standin)
    assert _cli(env, "login", "-c", DEMO_COOKIE).returncode == 0
    app = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)  # a running app ...
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    [pid] = postmasters(data / "pgdata")
    for victim in (app.pid, pid):  # ... then the machine loses power, say: everything dies at once
        os.kill(victim, signal.SIGKILL)
    app.wait()
    _wait_cluster_processes_gone(data / "pgdata")
    pid_file = data / "pgdata" / "postmaster.pid"
    sock_lock = data / "pgdata" / ".s.PGSQL.5432.lock"
    assert pid_file.exists() and sock_lock.exists()  # left behind, as after any SIGKILL

    sleeper = None
    if reused_by == "an unrelated process":
        sleeper = subprocess.Popen(["sleep", "300"])
        other = sleeper.pid
    else:
        other = PidFile.read(pg_tcp.data).pid  # type: ignore[union-attr]
    try:
        _rewrite_pid(pid_file, other)  # after a reboot that number belongs to someone else
        _rewrite_pid(sock_lock, other)
        done = _cli(env, "history")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert "No generations yet" in done.stderr
        assert psutil.pid_exists(other) and psutil.Process(other).status() != psutil.STATUS_ZOMBIE  # untouched
        with psycopg.connect(pg_tcp.url(), connect_timeout=5) as conn:  # the other server serves on
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert wait_until_gone(data / "pgdata") == []
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()


# --- the server stopped or killed under a running service ---------------------------------------------

@pytest.mark.fault_case("database: embedded server stopped or SIGKILLed under a running service comes back")
@pytest.mark.parametrize("how", ["SIGKILL", "stopped"])
def test_the_embedded_server_gone_under_a_running_service_comes_back_by_itself(
        how: str, embedded: Settings, data: Path, data_loss: DataLoss) -> None:
    svc = Service(embedded).open()
    try:
        svc.sign_in(DEMO_COOKIE)
        svc.generate(GenerationRequest("before the server went", count=2))
        [first] = postmasters(data / "pgdata")
        if how == "SIGKILL":
            os.kill(first, signal.SIGKILL)
        else:  # what `pg_ctl stop -m fast` does
            os.kill(first, signal.SIGINT)
        deadline = time.monotonic() + 15
        while psutil.pid_exists(first) and psutil.Process(first).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.02)

        # The next call finds the server gone, starts it again and goes on: nothing to see.
        assert [r.prompt for r in svc.history()] == ["before the server went"]
        [second] = postmasters(data / "pgdata")
        assert second != first
        svc.generate(GenerationRequest("after it came back", count=1))
        assert sorted(r.prompt for r in svc.history()) == ["after it came back", "before the server went"]
        assert svc.db.ping()
    finally:
        svc.close()
    assert wait_until_gone(data / "pgdata") == []
    again = Service(embedded).open()
    try:
        assert again.count_images() == 3
        assert data_loss.check(db_urls=[embedded_conninfo(data)]) == []
    finally:
        again.close()


def embedded_conninfo(data: Path) -> str:
    """A libpq connection string for the running embedded server of ``data`` (the owner's password)."""
    password = (data / "pgdata-control" / "password").read_text().strip()
    return f"host='{data / 'pgdata'}' user=postgres dbname=postgres password={password}"


# --- sixteen clients bootstrapping a fresh database at once -------------------------------------------

CLIENT = """
import sys
from core.config import load_settings
from core.store import Database, repo
settings = load_settings()
db = Database(settings, url=sys.argv[1]) if sys.argv[1] else Database(settings)
print("ready", flush=True)
sys.stdin.readline()
db.connect()
from datetime import UTC, datetime, timedelta
with db.session() as s:  # a read, then writes to two other tables, as storing a generation does
    repo.count_images(s)
    user_id = repo.ensure_user(s, f"client{sys.argv[2]}@example.com", "Client")
    repo.store_session(s, user_id, f"token-hash-{sys.argv[2]}", datetime.now(UTC) + timedelta(days=1))
with db.session() as s:
    users = len(repo.list_users(s))
db.close()
print("ok", users, flush=True)
"""

CLIENTS = 16


def _bootstrap_at_once(url: str, env: dict[str, str]) -> list[tuple[int, str, str]]:
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT, url, str(i)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(CLIENTS)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # as close to the same moment as a parent can make it
        assert p.stdin is not None
        p.stdin.write("\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    return results


@pytest.mark.fault_case("database: 16 clients bootstrap a fresh server database at once")
@pytest.mark.parametrize("admin_url", server_admin_urls(), indirect=True)
def test_sixteen_clients_bootstrap_a_fresh_server_database_at_once(admin_url: str, data: Path) -> None:
    name, url = create_database(admin_url, prefix="imagefx_bootstrap")
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "IMAGEFX_DATA_DIR": str(data)}
        results = _bootstrap_at_once(url, env)
        assert [r[0] for r in results] == [0] * CLIENTS, [r[2][-500:] for r in results if r[0]]
        assert all(r[1].startswith("ok ") for r in results)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM imagefx_schema_version").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (CLIENTS,)
    finally:
        drop_database(admin_url, name)


@pytest.mark.fault_case("database: clients that waited for another's bootstrap do not run schema.sql again")
@pytest.mark.parametrize("admin_url", server_admin_urls(), indirect=True)
def test_clients_that_waited_for_a_bootstrap_read_the_version_again(admin_url: str, data: Path) -> None:
    """The race of issue 12, made certain: every client reads "no schema yet", then waits for the
    bootstrap lock while another bootstraps. Once that one commits, a waiter that ran schema.sql
    again would take ACCESS EXCLUSIVE locks on tables the others already use (DeadlockDetected);
    each must read the version again under the lock and find it current."""
    from core.store.database import _BOOTSTRAP_LOCK_KEY, schema_sql

    name, url = create_database(admin_url, prefix="imagefx_bootstrap")
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "IMAGEFX_DATA_DIR": str(data)}
        first = psycopg.connect(url)
        first.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK_KEY,))
        first.execute(schema_sql())  # type: ignore[arg-type]  # the first client, half-way through
        procs = [subprocess.Popen([sys.executable, "-c", CLIENT, url, str(i)], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
        with psycopg.connect(url, autocommit=True) as watch:
            deadline = time.monotonic() + 60
            while watch.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                ).fetchone() != (len(procs),):
                assert time.monotonic() < deadline, "the clients never waited for the bootstrap lock"
                time.sleep(0.02)
        first.commit()
        applied = first.execute("SELECT applied_at FROM imagefx_schema_version").fetchone()
        first.close()
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-1000:]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT applied_at FROM imagefx_schema_version").fetchone() == applied  # ran once
            assert conn.execute("SELECT count(*) FROM users").fetchone() == (len(procs),)
    finally:
        drop_database(admin_url, name)


@pytest.mark.fault_case("database: 16 clients start a fresh embedded database at once")
def test_sixteen_clients_start_a_fresh_embedded_database_at_once(data: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IMAGEFX_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    results = _bootstrap_at_once("", env)
    assert [r[0] for r in results] == [0] * CLIENTS, [r[2][-500:] for r in results if r[0]]
    assert wait_until_gone(data / "pgdata") == []  # the last one out stopped it
    db = Database(load_settings()).connect()
    try:
        with db.session() as s:
            assert s.execute(sa.text("SELECT count(*) FROM users")).scalar() == CLIENTS
    finally:
        db.close()


# --- a cluster of an earlier version (trust authentication) ------------------------------------------

@pytest.mark.fault_case("security: an earlier version's trust cluster gets a password, data kept")
@pytest.mark.parametrize("left", ["stopped", "running"])
def test_an_earlier_versions_trust_cluster_is_converted_in_place(left: str, data: Path, embedded: Settings) -> None:
    """Earlier versions ran initdb with ``--auth=trust``. Made here the way they made it (and, for
    "running", with its server still up, as a leaked one would be)."""
    import shutil

    pgdata = data / "pgdata"
    pgdata.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(pgdata, "pgserver", "pgserver")
        data.chmod(0o711)  # the old layout needed the way open to the server's account
        data.parent.chmod(0o711)
    b = bin_dir()
    subprocess.run(_as_server_user([str(b / "initdb"), "--auth=trust", "-U", "postgres", "-E", "utf8", "-D",
                                    str(pgdata)]), check=True, capture_output=True)
    subprocess.run(_as_server_user([str(b / "pg_ctl"), "-w", "-D", str(pgdata), "-l", str(pgdata / "log"), "-o",
                                    f"-h '' -k {pgdata}", "start"]), check=True, capture_output=True)
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('from an earlier version')")
    if left == "stopped":
        subprocess.run(_as_server_user([str(b / "pg_ctl"), "-w", "-D", str(pgdata), "stop"]), check=True,
                       capture_output=True)

    db = Database(embedded).connect()
    try:
        with db.session() as s:
            assert s.execute(sa.text("SELECT note FROM kept")).scalars().all() == ["from an earlier version"]
        with pytest.raises(psycopg.OperationalError, match="password"):  # trust is gone, for every local user
            psycopg.connect(host=str(pgdata), user="postgres", dbname="postgres", connect_timeout=5)
        assert "trust" not in (pgdata / "pg_hba.conf").read_text().split("\n", 2)[-1]
    finally:
        db.close()
    assert wait_until_gone(pgdata) == []


# --- a damaged cluster folder ------------------------------------------------------------------------

@pytest.mark.fault_case("database: damaged embedded data folder names the real log")
def test_a_damaged_cluster_folder_says_what_is_wrong_and_names_a_log_that_exists(data: Path,
                                                                                 standin: StandInServer) -> None:
    env = _cli_env(data, standin)
    assert _cli(env, "history").returncode == 0  # made, then stopped
    assert wait_until_gone(data / "pgdata") == []
    (data / "pgdata" / "global" / "pg_control").write_bytes(b"\x00garbage" * 1024)
    done = _cli(env, "history")
    line = one_line_error(done, 6, "embedded database could not start", "looks damaged", str(data / "pgdata"))
    log = line.split("server log: ", 1)[1].split(")", 1)[0]
    assert Path(log).is_file()  # the log named is the one PostgreSQL wrote to, and it says why
    reason = line.split("could not start: ", 1)[1].split(" (server log", 1)[0]
    assert reason in Path(log).read_text()


# --- DB_* without DB_HOST ------------------------------------------------------------------------------

@pytest.mark.fault_case("database: DB_NAME/DB_USER/DB_PORT without DB_HOST say the embedded database stays")
def test_server_settings_without_a_host_say_that_the_embedded_database_stays(data: Path,
                                                                             standin: StandInServer) -> None:
    env = _cli_env(data, standin, DB_NAME="team_library", DB_USER="alice", DB_PORT="6543")
    done = _cli(env, "history")
    assert done.returncode == 0, done.stderr
    assert "Warning: DB_PORT, DB_NAME, DB_USER are set but DB_HOST is not: using the embedded database" \
        in done.stderr  # as every warning starts (README "Command line"), not "WARNING:"
    assert "No generations yet" in done.stderr
    quiet = _cli({**env, "IMAGEFX_DB": "embedded"}, "history")
    assert quiet.returncode == 0 and "DB_HOST" not in quiet.stderr


# --- the offline demo's own library --------------------------------------------------------------------

@pytest.mark.fault_case("database: the offline demo keeps its own library")
def test_the_demo_keeps_its_own_library_even_when_the_user_has_a_server(
        data: Path, embedded: Settings, db_url: str) -> None:
    user = Service(embedded).open()
    try:
        user.sign_in(DEMO_COOKIE)
        user.generate(GenerationRequest("the user's own picture", count=1))
    finally:
        user.close()
    for settings in (embedded, embedded.with_overrides(database=embedded.database.__class__(mode="server",
                                                                                           url=db_url))):
        demo = Service(settings.with_overrides(demo=True)).open()
        try:
            assert demo.demo and demo.db.is_embedded and demo.db.where == "the offline demo's database"
            demo.sign_in(DEMO_COOKIE)
            demo.generate(GenerationRequest("a demo picture", count=1))
            assert [r.prompt for r in demo.history()] == ["a demo picture"] * len(demo.history())
        finally:
            demo.close()
    assert (data / "demo" / "pgdata" / "PG_VERSION").exists()
    user = Service(embedded).open()
    try:
        assert [r.prompt for r in user.history()] == ["the user's own picture"]  # nothing of the demo in it
    finally:
        user.close()
    with psycopg.connect(db_url) as conn:  # nor in the user's server
        assert conn.execute("SELECT to_regclass('public.prompts')").fetchone() == (None,)
