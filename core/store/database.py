"""Engine, pool, schema bootstrap and upgrades, for the embedded server or a real one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, CursorResult, Engine, Result, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.appinfo import shipped
from core.config import DatabaseSettings, Settings
from core.redact import redact, redact_url, register_secret
from core.store.embedded import EmbeddedServer, EmbeddedServerError
from core.store.version import SCHEMA_VERSION

log = logging.getLogger(__name__)
query_log = logging.getLogger("imagefx.sql")

SCHEMA_FILE = shipped("schema.sql")  # package data in a wheel, the checkout's top level otherwise
POOL_SIZE = 5
MAX_OVERFLOW = 15  # pool of at most 20 connections, as the original document says
_BOOTSTRAP_LOCK_KEY = 0x1AF0_5C4E  # pg_advisory lock id for schema bootstrap


class DatabaseError(Exception):
    """The database cannot be used. ``user_message`` and ``action`` are for people."""

    def __init__(self, message: str, action: str = "Check the database settings and try again.") -> None:
        self.user_message = redact(message)
        self.action = action
        super().__init__(f"{self.user_message} {action}".strip())


class DatabaseUnavailable(DatabaseError):
    """The server cannot be reached right now (down, restarting, network)."""


class EmbeddedRestarting(DatabaseUnavailable):
    """The embedded server went away under the app, which is starting it again (issue 11): the
    user has nothing to do, and a reconnect in a moment finds it back."""

    def __init__(self) -> None:
        super().__init__("The embedded database stopped; the app is starting it again.",
                         "Nothing to do: the app reconnects by itself in a moment.")


class DatabaseTimeout(DatabaseUnavailable):
    """The server did not answer in time: a lock held by someone else, or a server gone silent
    (statement/lock timeouts, the client's deadline of a store). Passing, like being down."""


class DatabaseRejected(DatabaseError):
    """The database refused the data itself (a constraint, a value too long, a byte it cannot hold):
    trying the same data again will not help. Never "cannot be reached"."""


# TCP keepalives: a server machine that vanishes (no RST, no FIN) is noticed in ~30 s instead of the
# OS's two hours; tcp_user_timeout does the same for data sent and never acknowledged (Linux).
KEEPALIVE_ARGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                  "tcp_user_timeout": 30_000}


def schema_sql() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (``Session.execute`` is typed as returning a plain
    ``Result``; for those statements it is a ``CursorResult``, which has the count)."""
    return cast(CursorResult[Any], result).rowcount or 0


def server_url(db: DatabaseSettings) -> URL:
    """The SQLAlchemy URL of a configured server (``DATABASE_URL`` wins over the parts)."""
    if db.url:
        url = make_url(db.url)
        if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
    else:
        url = URL.create("postgresql+psycopg", username=db.user, password=db.password or None,
                         host=db.host, port=db.port, database=db.name)
    query = dict(url.query)
    if db.sslmode:
        query["sslmode"] = db.sslmode
    if db.sslrootcert:
        query["sslrootcert"] = db.sslrootcert
    if url.password:
        register_secret(str(url.password))
    return url.set(query=query)


def describe_error(exc: BaseException, where: str, *, embedded: bool = False) -> DatabaseError:
    """A sentence for an exception from the driver, never with the password in it. ``embedded``:
    the app runs that server itself, so "check that it is running" is for the app, not the user."""
    orig = getattr(exc, "orig", exc)
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = text.lower()
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    if sqlstate in ("55P03", "57014"):  # lock_not_available, query_canceled (lock/statement timeout)
        return DatabaseTimeout(f"The database at {where} did not answer in time ({text[:120]}).",
                               "Another program may be holding a lock; try again in a moment.")
    if sqlstate[:2] in ("22", "23"):  # data exception, integrity constraint violation
        return DatabaseRejected(f"The database at {where} refused the data: {text[:200]}",
                                "This data cannot be stored as it is.")
    if "row-level security" in low:  # a team database (issue 15) refused a row that is someone else's
        return DatabaseError(f"That is another team member's on {where}, and not shared with you to change.",
                             "Ask its owner to share the board with you read-write (imagefx board share).")
    if "password authentication failed" in low or "authentication failed" in low:
        return DatabaseError(f"The database at {where} rejected the user name or password.",
                             "Check the user and password in Settings → Database.")
    if "does not exist" in low and 'role "' in low:  # reachable, but it has no such user
        return DatabaseError(f"The database at {where} has no user by the name in the settings.",
                             "Check the user name in Settings → Database (DATABASE_URL or DB_USER).")
    if "does not exist" in low and "database" in low:
        return DatabaseError(f"The database named in the settings does not exist on {where}.",
                             "Create it, or choose another database name in Settings → Database.")
    ssl_action = "Check the SSL setting and the CA certificate in Settings → Database (DB_SSLMODE, DB_SSLROOTCERT)."
    if "root certificate file" in low:
        return DatabaseError(f"The secure connection to {where} cannot be checked: sslmode verify-ca/verify-full "
                             "needs the server's CA certificate, and none was given.", ssl_action)
    if "does not match host name" in low:
        return DatabaseError(f"The certificate of {where} was not made for that host name (sslmode verify-full).",
                             ssl_action)
    if "certificate verify failed" in low:
        return DatabaseError(f"The certificate of {where} is not signed by the given CA certificate.", ssl_action)
    if "ssl" in low and ("required" in low or "not support" in low or "certificate" in low):
        return DatabaseError(f"The secure connection to {where} failed: {text}", ssl_action)
    if "no space left" in low or "disk full" in low:
        return DatabaseError(f"The database at {where} has no disk space left.",
                             "Free some disk space and try again.")
    if _lost_connection(exc, orig, low):
        if embedded:
            return EmbeddedRestarting()
        return DatabaseUnavailable(f"The database at {where} cannot be reached.",
                                   "Check that it is running; the app reconnects when it is back.")
    return DatabaseError(f"Database error on {where}: {text[:200]}")


def _lost_connection(exc: BaseException, orig: BaseException, low: str) -> bool:
    """The connection failed or broke, as opposed to a statement the server refused (a deadlock or
    a lock timeout is an OperationalError too, and says nothing about the server being away)."""
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    if sqlstate and not sqlstate.startswith(("08", "57P")):  # connection exception, operator intervention
        return False
    return isinstance(exc, OperationalError) or _is_driver_operational(orig) or "connection" in low \
        or "could not connect" in low or "server closed" in low or "terminating connection" in low \
        or "shutting down" in low


def _is_driver_operational(orig: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(orig, psycopg.OperationalError)


def _describe_target(settings: Settings, url: str | URL | None) -> str:
    """Where the data goes, for messages: an explicit ``url`` wins over the settings (tests and
    tools pass one while the settings still say embedded), shown without its password."""
    if url is not None:
        text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        return f"server {redact_url(text)}"
    if settings.demo:
        return "the offline demo's database"
    if settings.database.mode == "embedded":
        return "the embedded database"
    return settings.database.describe()


class Database:
    """Owns the engine; every unit of work gets its own Session from :meth:`session`.

    On the embedded server a lost connection is the app's to mend: the server is started again
    (it may have been stopped or killed under the running app) and a session that had not begun
    its work yet is opened again, so the caller never notices (issue 11).
    """

    def __init__(self, settings: Settings, *, url: str | URL | None = None) -> None:
        self.settings = settings
        self._explicit_url = url
        self._embedded: EmbeddedServer | None = None
        self._url: URL | None = None
        self._engine: Engine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None
        self._lock = threading.RLock()
        self.has_trigram = False
        self.where = _describe_target(settings, url)
        # Names the changes this process writes: the NOTIFY triggers put it in each payload
        # (schema.sql), so a listener can tell its own changes from others' (core/store/notify.py).
        self.origin = ""

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def is_embedded(self) -> bool:
        """The app's own server in the data folder; the offline demo always has one of its own
        (``Settings.embedded_db_dir``), so it never writes into the user's library."""
        return self._explicit_url is None and (self.settings.database.mode == "embedded" or self.settings.demo)

    def connect(self, *, _again: bool = True) -> Database:
        """Start the embedded server if needed, create the engine and bootstrap the schema."""
        with self._lock:
            if self._engine is not None:
                return self
            url = self._resolve_url()
            engine = sa.create_engine(
                url,
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_pre_ping=True,
                pool_recycle=1800,
                connect_args={"connect_timeout": self.settings.database.connect_timeout,
                              "application_name": "ImageFX Studio", **KEEPALIVE_ARGS},
            )
            if self._embedded is not None:
                _follow_embedded_server(engine, self._embedded)
            if self.settings.log_queries:
                _install_query_logging(engine)
            event.listen(engine, "connect", self._on_connect)
            try:
                self._bootstrap(engine)
            except DatabaseError:  # a sentence already (a team member's database needs an upgrade)
                engine.dispose()
                raise
            except DBAPIError as exc:
                engine.dispose()
                if _again and self._revive(exc):
                    return self.connect(_again=False)
                raise self._describe(exc) from None
            self._engine = engine
            self._sessionmaker = sessionmaker(engine, expire_on_commit=False)
            return self

    def _on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        if self.origin:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT set_config('imagefx.origin', %s, false)", (self.origin,))
            dbapi_conn.commit()  # a session setting made in a transaction that rolls back is undone

    def url(self) -> URL:
        """The connection URL (starting the embedded server if needed), without touching the schema.

        For tools such as pg_dump/psql, and for restoring into an empty database. For the embedded
        server it carries the password, and its ``host`` may be a ``/proc/self/fd/N`` path
        (:func:`core.store.embedded.fds_in`).
        """
        with self._lock:
            url = self._resolve_url()
            if self._embedded is not None:  # the server may have been restarted with a new socket
                params = self._embedded.connect_params()
                url = url.set(password=params["password"]).update_query_dict(
                    {"host": params["host"]} if "host" in params else {})
            return url

    def _resolve_url(self) -> URL:
        if self._url is None:
            self._url = self._resolve_url_once()
        return self._url

    def _resolve_url_once(self) -> URL:
        if self._explicit_url is not None:
            url = make_url(self._explicit_url) if isinstance(self._explicit_url, str) else self._explicit_url
            if url.drivername in ("postgresql", "postgres"):
                url = url.set(drivername="postgresql+psycopg")
            if url.password:
                register_secret(str(url.password))
            return url
        if self.is_embedded:
            _say_ignored_server_settings(self.settings)
            embedded = EmbeddedServer(self.settings.embedded_db_dir)
            try:
                url = make_url(embedded.start())
            except EmbeddedServerError as exc:
                raise DatabaseError(str(exc), "Check the data folder (IMAGEFX_DATA_DIR) and free disk "
                                              "space.") from None
            self._embedded = embedded
            if url.password:
                register_secret(str(url.password))
            return url
        return server_url(self.settings.database)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sessionmaker = None
            if self._embedded is not None:
                self._embedded.stop()
                self._embedded = None
            self._url = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.connect()
        assert self._engine is not None
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A Session in a transaction: commit on success, rollback on any error.

        Driver errors come out as :class:`DatabaseError` with a sentence for the user.
        """
        if self._sessionmaker is None:
            self.connect()
        try:
            s, trans = self._begin()
        except DBAPIError as exc:
            raise self._describe(exc) from None
        try:
            with s, trans:
                yield s
        except DBAPIError as exc:
            self._revive(exc)  # so that the next call finds the server running again
            raise self._describe(exc) from None

    def _begin(self) -> tuple[Session, Any]:
        """A session with its connection checked out and its transaction begun. That is where a
        server that went away shows first (the pool's ping fails, then the new connection): on
        the embedded server, start it again and try once more; nothing has been done yet."""
        for attempt in (1, 2):
            maker = self._sessionmaker
            assert maker is not None
            s = maker()
            try:
                trans = s.begin()
                s.connection()
                return s, trans
            except DBAPIError as exc:
                s.close()
                if attempt == 2 or not self._revive(exc):
                    raise
        raise AssertionError("unreachable")

    def _revive(self, exc: BaseException) -> bool:
        """After ``exc``: if it says the embedded server is gone, start it again. True: try again."""
        embedded = self._embedded
        if embedded is None:
            return False
        orig = getattr(exc, "orig", exc)
        if not _lost_connection(exc, orig, str(orig).lower()):
            return False
        try:
            embedded.revive()
        except EmbeddedServerError as err:
            raise DatabaseUnavailable(str(err), "Check the data folder (IMAGEFX_DATA_DIR) and free disk "
                                                "space; the app keeps trying.") from None
        if self._engine is not None:
            self._engine.dispose()  # every pooled connection went with the old server
        return True

    def _describe(self, exc: BaseException) -> DatabaseError:
        return describe_error(exc, self.where, embedded=self._embedded is not None)

    def check(self) -> None:
        """Connect (if not yet) and run one query: :class:`DatabaseError` says why it failed. On the
        embedded server a server that is gone is started again first."""
        self.connect()
        with self.session() as s:
            s.execute(sa.text("SELECT 1"))

    def ping(self) -> bool:
        """The database answers (on the embedded server: starting it again if it is gone)."""
        try:
            self.check()
            return True
        except DatabaseError:
            return False

    # --- schema --------------------------------------------------------------------------

    def _bootstrap(self, engine: Engine) -> None:
        """Run schema.sql unless this database already has our current version.

        Idempotent and safe with many processes starting at once on a fresh database: an
        advisory lock serialises them, and the version is read again once it is held, so only
        the first runs schema.sql. (Running it again would take ACCESS EXCLUSIVE locks on tables
        that the clients which found the schema current are already using: DeadlockDetected,
        issue 12.) A database made by the original schema is upgraded in place.
        """
        with engine.begin() as conn:
            if _schema_version(conn.exec_driver_sql) >= SCHEMA_VERSION:
                self.has_trigram = _has_trigram(conn)
                return
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            assert dbapi is not None
            # A session lock, and the version read in a transaction begun after it is granted: a
            # transaction that was already open while waiting keeps seeing the catalog as it was
            # (the table another client just created stays invisible to it), and would run
            # schema.sql again.
            dbapi.execute("SELECT pg_advisory_lock(%s)", (_BOOTSTRAP_LOCK_KEY,))
            dbapi.commit()
            try:
                with dbapi.transaction():
                    have = _schema_version(dbapi.execute)
                    if have >= SCHEMA_VERSION:
                        ran = False
                        self.has_trigram = bool(dbapi.execute(_TRIGRAM_INDEX_SQL).fetchone()[0])  # type: ignore[index]
                    else:
                        ran = True
                        from core.store import team  # a team database runs it as its owner (issue 15)

                        team.apply_schema(dbapi, schema_sql(), SCHEMA_VERSION, have)
                        self.has_trigram = _try_trigram(dbapi)
            finally:
                dbapi.execute("SELECT pg_advisory_unlock(%s)", (_BOOTSTRAP_LOCK_KEY,))
                dbapi.commit()
        finally:
            raw.close()
        if ran:
            log.info("database schema checked/upgraded in %.0f ms", (time.perf_counter() - started) * 1000)


_TRIGRAM_INDEX_SQL = "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'idx_prompts_folded_trgm')"


def _schema_version(execute: Any) -> int:
    """The schema version of the database (0: none yet), through a driver-level ``execute``."""
    exists = execute("SELECT to_regclass('public.imagefx_schema_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = execute("SELECT version FROM imagefx_schema_version WHERE id = 1").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _follow_embedded_server(engine: Engine, server: EmbeddedServer) -> None:
    """Each new connection asks the embedded server where it is and what the password is now:
    a server started again may have another socket path, another process may have set a new
    password (an earlier version's cluster converted to scram-sha-256)."""

    @event.listens_for(engine, "do_connect")
    def _where_now(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams.update(server.connect_params())


SERVER_ENV = ("DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSLMODE", "DB_SSLROOTCERT")


def _say_ignored_server_settings(settings: Settings) -> None:
    """``DB_NAME`` and friends without ``DB_HOST`` (or ``DATABASE_URL``) do not switch to a server:
    the embedded database stays, and the user is told so once per process (README, Database)."""
    import os

    if settings.demo or os.environ.get("IMAGEFX_DB", "").strip().lower() == "embedded":
        return
    named = [k for k in SERVER_ENV if os.environ.get(k)]
    if named and not os.environ.get("DB_HOST") and not os.environ.get("DATABASE_URL") \
            and not _said_ignored.is_set():
        _said_ignored.set()
        log.warning("%s %s set but DB_HOST is not: using the embedded database. Set DB_HOST (or DATABASE_URL) "
                    "to use a PostgreSQL server, or IMAGEFX_DB=embedded to keep the embedded one without this "
                    "warning.", ", ".join(named), "is" if len(named) == 1 else "are")


_said_ignored = threading.Event()


def _has_trigram(conn: sa.Connection) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'idx_prompts_folded_trgm')")).scalar())


def _try_trigram(dbapi: Any) -> bool:
    """Substring search gets a trigram index where pg_trgm exists (not on the embedded server)."""
    try:
        with dbapi.transaction():
            dbapi.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            # Substring search matches prompt_folded (repo.prompt_matches); idx_prompts_text_trgm is
            # what versions before schema 4 searched, kept so that older copies of the app stay fast.
            dbapi.execute("CREATE INDEX IF NOT EXISTS idx_prompts_text_trgm "
                          "ON prompts USING GIN (prompt_text gin_trgm_ops)")
            dbapi.execute("CREATE INDEX IF NOT EXISTS idx_prompts_folded_trgm "
                          "ON prompts USING GIN (prompt_folded gin_trgm_ops)")
        return True
    except Exception as exc:  # not installed, or no privilege: ILIKE still works, unindexed
        log.info("pg_trgm not available (%s); substring search runs without a trigram index",
                 type(exc).__name__)
        return False


def _install_query_logging(engine: Engine) -> None:
    """LOG_QUERIES=true: each statement and its duration; never parameter values."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                executemany: bool) -> None:
        conn.info.setdefault("query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
               executemany: bool) -> None:
        started = conn.info["query_start"].pop()
        ms = (time.perf_counter() - started) * 1000
        text = " ".join(statement.split())
        query_log.info("%.1f ms  %s", ms, text[:1000])
