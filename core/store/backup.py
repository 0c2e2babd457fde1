"""Backup and restore with ``pg_dump`` / ``psql``, for the embedded server or a real one.

The tools come from the embedded server's wheel (PostgreSQL 18), which also dumps older
servers, so a backup works on a machine with no PostgreSQL client installed. The password
goes only to that child, in its environment (``PGPASSWORD``: readable by the same user
alone), never on the command line, where any user on the machine could read it; the child
gets nothing else of ours (no cookie, no ``DATABASE_URL``: :func:`core.store.embedded.child_env`).

Both directions stream: the dump goes from pg_dump's stdout to the file while its stderr goes
to a file of its own (two pipes read one after the other can deadlock once stderr fills), and
a restore feeds psql the file in chunks instead of reading a whole library into memory.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL

from core.private import open_private, private_dir
from core.redact import redact
from core.store.database import Database, DatabaseError
from core.store.embedded import bin_dir, child_env, fds_in

CHUNK = 1 << 20
# What ``pg_dump --format=plain`` writes first; anything else is not one of our backups.
DUMP_HEADER = b"--\n-- PostgreSQL database dump\n--"


class BackupError(DatabaseError):
    """A backup or restore failed; the message says why in one sentence."""


class BackupFileError(ValueError):
    """The file given to restore is missing, unreadable or not a backup (bad input, exit code 2)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float


_SSL_MODES = ("require", "verify-ca", "verify-full")


def _system_tool(name: str) -> str | None:
    """A tool of the system's PostgreSQL (newest version first), which is built with SSL."""
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return str(versions[-1])
    return shutil.which(name)


def pg_tool(name: str, *, ssl: bool = False) -> str:
    """Path of a PostgreSQL client tool: the wheel's, else one on PATH.

    The wheel's tools are built without SSL; a server that must be reached over TLS
    (``sslmode`` require, verify-ca, verify-full) needs the system's client tools.
    """
    if ssl:
        found = _system_tool(name)
        if not found:
            raise BackupError(f"The connection needs SSL, and the {name} that comes with ImageFX Studio has none.",
                              "Install the PostgreSQL client tools (Debian/Ubuntu: postgresql-client) and try "
                              "again.")
        return found
    try:
        candidate = bin_dir() / (f"{name}.exe" if os.name == "nt" else name)
        if candidate.exists():
            return str(candidate)
    except Exception:  # the wheel is a dependency, but a missing tool must not be a crash
        pass
    found = shutil.which(name)
    if not found:
        raise BackupError(f"The PostgreSQL tool {name} was not found.", "Reinstall ImageFX Studio.")
    return found


def _needs_ssl(url: URL) -> bool:
    return str(url.query.get("sslmode", "")).lower() in _SSL_MODES


def _libpq(url: URL) -> tuple[str, dict[str, str], tuple[int, ...]]:
    """A libpq connection string without the password, the environment carrying it, and the
    descriptors the child needs (the embedded server's socket folder as ``/proc/self/fd/N``)."""
    env = child_env(libpq=True)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    query = dict(url.query)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if key in query:
            env[var] = str(query.pop(key))
    host = str(query.pop("host", None) or url.host or "")
    parts = [f"dbname={_quote(url.database or 'postgres')}", f"user={_quote(url.username or 'postgres')}"]
    if host:
        parts.append(f"host={_quote(host)}")
    if url.port:
        parts.append(f"port={url.port}")
    return " ".join(parts), env, fds_in(host)


def _quote(value: str) -> str:
    """A libpq conninfo value (a socket folder may hold spaces)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _first_error(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    line = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
    return redact(line)[:300]


def _run(cmd: list[str], env: dict[str, str], fds: tuple[int, ...], *, what: str,
         timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, pass_fds=fds,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"The {what} could not run ({type(exc).__name__}).") from None
    if proc.returncode != 0:
        raise BackupError(f"The {what} failed: {_first_error(proc.stderr)}")
    return proc


def backup(db: Database, out: Path) -> BackupResult:
    """Write a plain-SQL dump (gzip-compressed when ``out`` ends in .gz), atomically, 0600."""
    started = time.perf_counter()
    url = db.url()
    conninfo, env, fds = _libpq(url)
    out = out.expanduser()
    try:
        private_dir(out.parent, tighten=False)
    except OSError as exc:
        raise BackupError(f"The folder {out.parent} cannot be created ({exc.strerror}).") from None
    tmp = out.with_name(f".{out.name}.partial")
    # --enable-row-security: a team database forces row-level security on its owner too (docs/team.md);
    # without it pg_dump refuses such tables. Nothing changes for a database without policies.
    cmd = [pg_tool("pg_dump", ssl=_needs_ssl(url)), "--no-owner", "--no-privileges", "--format=plain",
           "--encoding=UTF8", "--enable-row-security", "--dbname", conninfo]
    try:
        tmp.unlink(missing_ok=True)
        with os.fdopen(open_private(tmp), "wb") as raw, tempfile.TemporaryFile() as err:
            sink = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if out.suffix == ".gz" else raw
            try:
                proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=err, pass_fds=fds)
                assert proc.stdout is not None
                try:
                    for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                        sink.write(chunk)
                finally:
                    proc.stdout.close()
                    code = proc.wait()
            finally:
                if sink is not raw:
                    sink.close()
            raw.flush()
            os.fsync(raw.fileno())
            err.seek(0)
            said = err.read(100_000)
        if code != 0:
            raise BackupError(f"The backup failed: {_first_error(said) or 'pg_dump error'}")
        os.replace(tmp, out)
    except OSError as exc:
        raise BackupError(f"The backup could not be written to {out} ({exc.strerror}).") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=out, bytes=out.stat().st_size, seconds=time.perf_counter() - started)


def _open_backup(path: Path) -> IO[bytes]:
    """The backup as a stream of SQL, after checking it is one: a regular file (not a FIFO or a
    device), gzip or plain, starting as pg_dump's output starts."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BackupFileError(f"The backup file {path} does not exist.") from None
    except OSError as exc:
        raise BackupFileError(f"The backup file {path} cannot be read ({exc.strerror}).") from None
    if not stat.S_ISREG(st.st_mode):
        raise BackupFileError(f"{path} is not a regular file; give the file 'maintenance backup' wrote.")
    try:
        raw = open(path, "rb")  # handed to the caller, who closes it
    except OSError as exc:
        raise BackupFileError(f"The backup file {path} cannot be read ({exc.strerror}).") from None
    fh: IO[bytes] = raw
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        fh = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    else:
        raw.seek(0)
    return fh


def _chunks(fh: IO[bytes], path: Path) -> Iterator[bytes]:
    """The dump in chunks; the first is checked to be a dump and has a setting older servers reject
    removed (pg_dump 18 sets transaction_timeout, unknown before 17; it guards only the dump
    session itself, so dropping it changes nothing about the data)."""
    try:
        head = fh.read(64 * 1024)
        if not head.startswith(DUMP_HEADER):
            raise BackupFileError(f"{path} is not a backup made by 'maintenance backup' (no PostgreSQL dump at "
                                  "its start).")
        yield re.sub(rb"(?m)^SET transaction_timeout = 0;\n", b"", head, count=1)
        while chunk := fh.read(CHUNK):
            yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise BackupFileError(f"The backup file {path} is damaged ({exc}); nothing was restored.") from None


def restore(db: Database, path: Path) -> float:
    """Load a backup into an *empty* database (one transaction: all or nothing). Returns seconds."""
    started = time.perf_counter()
    path = path.expanduser()
    with _open_backup(path) as fh:
        chunks = _chunks(fh, path)
        first = next(chunks)  # the file is checked before anything touches the database
        url = db.url()
        conninfo, env, fds = _libpq(url)
        psql = pg_tool("psql", ssl=_needs_ssl(url))
        check = _run([psql, "-X", "-At", "-d", conninfo, "-c",
                      "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"], env, fds, what="restore check")
        if check.stdout.strip() not in (b"0", b""):
            raise BackupError("The target database is not empty; a backup is restored only into an empty "
                              "database.", "Create a new database (or point DATABASE_URL at one) and restore there.")
        _feed_psql([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", conninfo, "-f", "-"],
                   env, fds, first, chunks)
    return time.perf_counter() - started


def _feed_psql(cmd: list[str], env: dict[str, str], fds: tuple[int, ...], first: bytes,
               rest: Iterator[bytes]) -> None:
    """Stream the dump into psql; its output goes to files, so it never waits on us reading it."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=out, stderr=out, pass_fds=fds)
        except OSError as exc:
            raise BackupError(f"The restore could not run ({type(exc).__name__}).") from None
        assert proc.stdin is not None
        try:
            try:
                proc.stdin.write(first)
                for chunk in rest:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # psql stopped at an error: its words are in ``out``
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        except BaseException:
            proc.kill()  # a damaged file or Ctrl-C: psql's single transaction rolls back
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            out.seek(0)
            raise BackupError(f"The restore failed: {_first_error(out.read(100_000))}",
                              "Nothing was restored (one transaction). Check that the file is a backup of "
                              "ImageFX Studio and that the database is empty.")
