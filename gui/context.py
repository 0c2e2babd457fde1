"""What every widget shares: the service (once it is up), the worker, the settings.

The service is built and opened on a worker thread, because opening it may start the
embedded PostgreSQL server or wait for a remote one: the window shows first, then
connects. If the database cannot be reached, :attr:`AppContext.service_lost` carries the
reason (the main window shows a banner with Retry and Settings), and a timer keeps
trying; when the database is back, anything spooled meanwhile is stored
(``Service.flush_spool``) and :attr:`service_ready` fires again so views reload.

Widgets run service calls through :meth:`AppContext.call`, which is
:meth:`gui.worker.Worker.run` with the current service passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.cancel import CancelToken
from core.changes import Changes
from core.config import Settings
from core.service import Service
from core.store import DatabaseError, DatabaseUnavailable, EmbeddedRestarting
from gui.settings import GuiSettings
from gui.worker import Task, Worker

log = logging.getLogger(__name__)

ServiceFactory = Callable[[bool], Service]
"""Builds an (unopened or opened) Service; the argument says whether it is the offline demo."""

RETRY_INTERVAL_MS = 5000
RESTART_RETRY_MS = 300  # the embedded server is being started again: look soon, not in 5 s


class NotConnected(DatabaseUnavailable):
    """A call was made before the database was up (or while it is down)."""

    def __init__(self) -> None:
        super().__init__("The database is not connected yet.",
                         "Wait a moment, or check Settings → Database if this persists.")


class AppContext(QObject):
    service_ready = Signal(object)  # Service; after the first connect and after every reconnect
    service_lost = Signal(object)  # the DatabaseError that says why
    service_closed = Signal()  # before a restart (settings changed, demo switched)
    spool_flushed = Signal(int)  # images stored after a reconnect that had waited in the spool
    error = Signal(object)  # an exception nobody handled: the main window shows it
    # core.changes.Changes, after every mutation (this window's, and others' as they are heard of):
    # the one hook views refresh from (see :meth:`op`), instead of callers patching their models.
    changes_applied = Signal(object)

    def __init__(self, factory: ServiceFactory, worker: Worker, gui_settings: GuiSettings,
                 settings: Settings, *, demo: bool = False, retry_interval_ms: int = RETRY_INTERVAL_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.factory = factory
        self.worker = worker
        self.gui = gui_settings
        self.settings = settings
        self.demo = demo
        self._service: Service | None = None
        self._ready = False
        self._connecting: Task | None = None
        self._generation = 0  # bumps on restart, so a late connect of an old service is ignored
        self.last_error: DatabaseError | None = None
        self._retry = QTimer(self)
        self._retry.setInterval(retry_interval_ms)
        self._retry.timeout.connect(self.reconnect)
        worker.unhandled.connect(self.report)

    # --- state ---------------------------------------------------------------------------

    @property
    def service(self) -> Service | None:
        """The service when the database is usable, else None."""
        return self._service if self._ready else None

    @property
    def has_service(self) -> bool:
        """A service exists (its database may be down): enough for calls that can do without it."""
        return self._service is not None

    @property
    def connected(self) -> bool:
        return self._ready

    @property
    def connecting(self) -> bool:
        return self._connecting is not None

    # --- connect, lose, reconnect ----------------------------------------------------------

    def start(self) -> None:
        """Build and open the service off the UI thread."""
        self._generation += 1
        gen = self._generation
        factory, demo = self.factory, self.demo

        token = CancelToken()

        def build() -> tuple[Service, int]:
            svc = factory(demo)
            try:
                svc.open()
            except DatabaseError as exc:
                if token.cancelled:
                    svc.close()
                    raise
                exc.service = svc  # type: ignore[attr-defined]  # kept, so Retry reuses it
                raise
            if token.cancelled:  # the window closed while we were connecting: don't leak a server
                svc.close()
                token.raise_if_cancelled()
            return svc, 0

        self._connecting = self.worker.run(build, on_success=lambda r: self._opened(gen, r),
                                           on_failure=lambda e: self._open_failed(gen, e), owner=self,
                                           cancel=token, name="open service")

    def _opened(self, gen: int, result: tuple[Service, int]) -> None:
        svc, flushed = result
        if gen != self._generation:  # restarted meanwhile: this one is stale
            self.worker.run(svc.close, name="close stale service")
            return
        self._connecting = None
        self._service = svc
        self._ready = True
        self.last_error = None
        self._retry.stop()
        log.info("service ready (%s)", svc.db.where)
        self.service_ready.emit(svc)
        if flushed:
            self.spool_flushed.emit(flushed)

    def _open_failed(self, gen: int, exc: BaseException) -> None:
        svc = getattr(exc, "service", None)
        if gen != self._generation:  # restarted meanwhile
            if svc is not None and svc is not self._service:
                self.worker.run(svc.close, name="close stale service")
            return
        self._connecting = None
        if svc is not None:
            self._service = svc
        if isinstance(exc, DatabaseError):
            self.mark_lost(exc)
        else:
            # Not a database problem (a broken settings file, a keyring error): show it, keep trying.
            self.mark_lost(DatabaseError(f"The app could not start its services: {exc}"))
            self.report(exc)

    def mark_lost(self, exc: DatabaseError) -> None:
        """The database went away (a call failed, a generation had to be spooled): banner, retry timer."""
        self._ready = False
        self.last_error = exc
        if not self._retry.isActive():
            self._retry.start()
            if isinstance(exc, EmbeddedRestarting):
                QTimer.singleShot(RESTART_RETRY_MS, self, self.reconnect)
        self.service_lost.emit(exc)

    def reconnect(self) -> None:
        """Try again now (the banner's Retry button, and the timer)."""
        if self._connecting is not None:
            return
        svc = self._service
        if svc is None:
            self.start()
            return
        gen = self._generation

        def again() -> tuple[Service, int]:
            # A real round trip, not just the pool: on the embedded server this starts it again if
            # it was stopped or killed; the error, if any, says why in the database's own words.
            svc.db.check()
            return svc, svc.flush_spool()

        self._connecting = self.worker.run(again, on_success=lambda r: self._opened(gen, r),
                                           on_failure=lambda e: self._open_failed(gen, e), owner=self,
                                           name="reconnect")

    def restart(self, *, demo: bool | None = None, settings: Settings | None = None) -> None:
        """Close the current service and build a new one (new database settings, demo on/off)."""
        if demo is not None:
            self.demo = demo
        if settings is not None:
            self.settings = settings
        old = self._service
        self._service = None
        self._ready = False
        self._connecting = None  # a connect still running is stale now (see _generation)
        self._retry.stop()
        self.service_closed.emit()
        if old is not None:
            self.worker.run(old.close, name="close service")
        self.start()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Cancel what runs, wait for the pool, close the service (window close).

        A connect still running sees its cancelled token and closes what it opened itself.
        """
        self._retry.stop()
        self._generation += 1
        self.worker.cancel_all()
        self.worker.wait(wait_ms)
        svc, self._service = self._service, None
        self._ready = False
        if svc is not None:
            try:
                svc.close()
            except Exception:  # closing must never keep the window from closing
                log.exception("closing the service failed")

    # --- calls -----------------------------------------------------------------------------

    def call(self, fn: Callable[[Service], Any], *, on_success: Callable[[Any], None] | None = None,
             on_failure: Callable[[BaseException], None] | None = None, owner: QObject | None = None,
             cancel: CancelToken | None = None, name: str = "", offline: bool = False,
             long_running: bool = False) -> Task | None:
        """Run ``fn(service)`` on the worker. Failures go to ``on_failure`` or the message bar.

        A lost database is noticed here, whoever made the call, so the banner appears and
        the reconnect timer starts. ``offline=True`` runs the call even while the database
        is down (generating: the service keeps the images in its spool). ``long_running``: see
        :meth:`Worker.run`.
        """
        svc = self._service if offline else self.service
        handler = on_failure or self.report

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DatabaseUnavailable) and on_failure is not None:
                self.mark_lost(exc)
            handler(exc)

        if svc is None:
            QTimer.singleShot(0, self, lambda: failed(self.last_error or NotConnected()))
            return None
        return self.worker.run(lambda: fn(svc), on_success=on_success, on_failure=failed, owner=owner,
                               cancel=cancel, name=name or getattr(fn, "__name__", "call"),
                               long_running=long_running)

    def op(self, fn: Callable[[Service], Changes], *, on_success: Callable[[Changes], None] | None = None,
           on_failure: Callable[[BaseException], None] | None = None, owner: QObject | None = None,
           name: str = "") -> Task | None:
        """Run a mutation (``fn(service)`` returns its :class:`~core.changes.Changes`) like :meth:`call`;
        then :attr:`changes_applied` reaches every view, and ``on_success`` gets the same descriptor
        (Anki's ``CollectionOp`` and ``operation_did_execute``)."""

        def done(changes: Changes) -> None:
            self.announce(changes)
            if on_success is not None:
                on_success(changes)

        return self.call(fn, on_success=done, on_failure=on_failure, owner=owner, name=name)

    def announce(self, changes: Changes) -> None:
        """Tell every view what changed (a mutation here, or a change heard from elsewhere)."""
        if changes:
            self.changes_applied.emit(changes)

    def report(self, exc: object) -> None:
        """Show an error in the message bar (through the main window)."""
        if isinstance(exc, DatabaseUnavailable):
            self.mark_lost(exc)
        self.error.emit(exc)
