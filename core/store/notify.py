"""Hearing about changes made elsewhere: ``LISTEN`` on the channel the database's triggers announce on.

Every write to the library's tables sends ``NOTIFY imagefx_changes`` with a change descriptor
(``core/changes.py``) inside its own transaction (schema.sql), whoever writes: this process,
another window, a terminal, a queue run. :class:`ChangeListener` holds one connection of its
own, outside the pool, on a daemon thread, and hands each :class:`~core.changes.Changes` to a
callback (on that thread: a GUI forwards it to its UI thread with a queued signal).

- Bursts are merged: what arrives within :data:`BATCH_SECONDS` of a first notification is
  delivered as one descriptor (a generation of four images is four inserts).
- The database going away (a restart, the network) is survived: the listener reconnects with
  a growing pause (:data:`RECONNECT_MIN`…:data:`RECONNECT_MAX`) and, once back, delivers a
  descriptor naming every kind as "many" (:func:`everything`), since what happened meanwhile
  was not heard. ``on_lost`` is called before each reconnect: the app's own embedded server,
  killed under an idle window, is started again then (Service passes ``Database.ping``), not
  only when the user next does something.
- Polling only as the fallback, when a connection can connect but not ``LISTEN`` (a pooler in
  transaction mode, a standby): the listener then reads ``imagefx_change_seq`` (the triggers move
  it with every change) every :data:`POLL_SECONDS` and delivers :func:`everything` when it moved.

Why hand-written and not a library: psycopg's own ``Connection.notifies()`` is the library; what
is here is the thread, the reconnect and the fallback around it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from core.changes import ChangeKind, Changes

log = logging.getLogger(__name__)

CHANNEL = "imagefx_changes"
BATCH_SECONDS = 0.05
WAIT_SECONDS = 0.25  # how often the waiting thread looks up to see whether it should stop
RECONNECT_MIN, RECONNECT_MAX = 0.25, 5.0
POLL_SECONDS = 2.0
CONNECT_TIMEOUT = 5

Callback = Callable[[Changes], None]


def everything(origin: str = "") -> Changes:
    """Every kind changed, ids unknown: what a view is told when changes may have been missed."""
    return Changes({kind: None for kind in ChangeKind}, origin=origin)


def conninfo(url: URL) -> str:
    """A libpq connection string for a SQLAlchemy URL (the socket folder of the embedded server
    travels as ``?host=``), with the password, for a connection made in this process only."""
    query = {k: str(v) for k, v in url.query.items() if isinstance(v, str)}
    params: dict[str, Any] = {"dbname": url.database or "postgres", "user": url.username or "postgres"}
    host = query.pop("host", None) or url.host
    if host:
        params["host"] = host
    if url.port:
        params["port"] = url.port
    if url.password:
        params["password"] = str(url.password)
    params.update({k: v for k, v in query.items() if k in ("sslmode", "sslrootcert", "sslcert", "sslkey")})
    return psycopg.conninfo.make_conninfo(**params)


class ChangeListener:
    """Delivers the database's change notifications to ``callback``, from a thread of its own.

    ``url`` gives the connection URL each time the listener (re)connects (``Database.url``, so a
    restarted embedded server is found again). ``own_origin``: changes this process made are
    skipped (it applied them already) unless ``include_own``. ``mode``: ``"auto"`` (LISTEN, else
    poll), ``"poll"`` to force the fallback.
    """

    def __init__(self, url: Callable[[], URL], callback: Callback, *, own_origin: str = "",
                 include_own: bool = False, mode: str = "auto", poll_seconds: float = POLL_SECONDS,
                 name: str = "imagefx-changes", on_lost: Callable[[], object] | None = None) -> None:
        if mode not in ("auto", "poll"):
            raise ValueError(f"unknown listener mode {mode!r}")
        self._url = url
        self._callback = callback
        self._on_lost = on_lost
        self._own = own_origin
        self._include_own = include_own
        self._force_poll = mode == "poll"
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.mode: str | None = None  # "listen" or "poll" while connected, None while not
        self.delivered = 0  # descriptors handed to the callback (tests, diagnostics)

    # --- life ------------------------------------------------------------------------------

    def start(self) -> ChangeListener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the listener is connected and listening (or polling)."""
        return self._ready.wait(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> ChangeListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        pause = RECONNECT_MIN
        missed = False  # connected before and lost it: what happened meanwhile was not heard
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(conninfo(self._url()), autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                                       application_name="ImageFX Studio (changes)")
            except Exception as exc:  # down, restarting, not reachable: try again
                log.debug("change listener cannot connect (%s); retrying in %.1f s", type(exc).__name__, pause)
                if missed:
                    self._lost()
                self._stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX)
                continue
            pause = RECONNECT_MIN
            try:
                with conn:
                    listening = not self._force_poll and self._listen(conn)
                    self.mode = "listen" if listening else "poll"
                    if missed:
                        self._deliver(everything())
                    self._ready.set()
                    if listening:
                        self._listen_loop(conn)
                    else:
                        self._poll_loop(conn)
            except psycopg.Error as exc:
                log.info("change listener lost the database (%s); reconnecting", type(exc).__name__)
            finally:
                self.mode = None
                self._ready.clear()
            missed = True
        log.debug("change listener stopped")

    def _lost(self) -> None:
        """The database is away: let the owner bring it back (``on_lost``); never fails the thread."""
        if self._on_lost is None or self._stop.is_set():
            return
        try:
            self._on_lost()
        except Exception:
            log.debug("on_lost failed", exc_info=True)

    def _listen(self, conn: psycopg.Connection[Any]) -> bool:
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            return True
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.ActiveSqlTransaction,
                psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege) as exc:
            log.info("this connection cannot LISTEN (%s); polling every %.0f s instead", type(exc).__name__,
                     self._poll_seconds)
            return False

    def _listen_loop(self, conn: psycopg.Connection[Any]) -> None:
        while not self._stop.is_set():
            batch: Changes | None = None
            heard = 0
            for note in conn.notifies(timeout=WAIT_SECONDS, stop_after=1):
                heard += 1
                batch = self._merge(batch, note.payload)
            if heard:  # what else arrives in the same moment comes along: one refresh, not four
                for note in conn.notifies(timeout=BATCH_SECONDS):
                    batch = self._merge(batch, note.payload)
            if batch:
                self._deliver(batch)

    def _merge(self, batch: Changes | None, payload: str) -> Changes | None:
        try:
            changes = Changes.from_json(payload)
        except ValueError:
            log.warning("ignored a change notification that is not one (%d bytes)", len(payload))
            return batch
        if not self._include_own and self._own and changes.origin == self._own:
            return batch
        return changes if batch is None else batch.merge(changes)

    def _poll_loop(self, conn: psycopg.Connection[Any]) -> None:
        def read() -> int:
            row = conn.execute("SELECT last_value FROM imagefx_change_seq").fetchone()
            return int(row[0]) if row else 0

        last = read()
        settle = False
        while not self._stop.wait(self._poll_seconds):
            now = read()
            # A change is counted when it is written and committed a moment later: after seeing
            # the counter move, look once more a poll later, when the writer has committed.
            if now != last or settle:
                settle = now != last
                last = now
                self._deliver(everything())

    def _deliver(self, changes: Changes) -> None:
        self.delivered += 1
        try:
            self._callback(changes)
        except Exception:  # a listener's bug must not stop the listening
            log.exception("change callback failed")
