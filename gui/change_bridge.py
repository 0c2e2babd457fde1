"""Every change, everywhere, at once: the database's change notifications reach the window's views.

The core's :class:`core.store.notify.ChangeListener` holds a ``LISTEN`` connection of its own
on a thread of its own and hands each :class:`~core.changes.Changes` another process (a terminal,
another window, a queue run elsewhere) made to a callback, on that thread. :class:`ChangeBridge`
forwards it through a queued signal to the UI thread and hands it to
:meth:`gui.context.AppContext.announce`, the one hook every view refreshes from, exactly like the
window's own operations (``AppContext.op``). So a tag added with ``imagefx tag add`` shows in an
open window within a second, and an image deleted in one window leaves the other.

The listener starts when the service is ready and stops with it (``Service.close`` stops the
listeners it started; a new service after a demo switch or new settings gets a new one). Where a
connection can connect but not ``LISTEN`` (a pooler in transaction mode), the listener polls a
change counter itself; where no listener can be started at all, :attr:`listening` stays False
and the views keep their own slow checks (:attr:`listening_changed`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal

from core.changes import Changes

if TYPE_CHECKING:
    from core.service import Service
    from core.store.notify import ChangeListener
    from gui.context import AppContext

log = logging.getLogger(__name__)


class ChangeBridge(QObject):
    """Hears other processes' changes on the listener's thread and announces them on the UI thread."""

    heard = Signal(object)  # Changes, on the UI thread, after they were announced
    listening_changed = Signal(bool)  # True while a listener delivers changes (views may stop polling)
    _arrived = Signal(object, object)  # (the service it is about, Changes), from the listener's thread

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._service: Service | None = None
        self._listener: ChangeListener | None = None
        self._listening = False
        self._closed = False
        self._arrived.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        ctx.service_ready.connect(self._service_ready)
        ctx.service_closed.connect(self._service_closed)

    @property
    def listening(self) -> bool:
        return self._listening

    @property
    def mode(self) -> str | None:
        """"listen" or "poll" while the listener is connected (None: not connected, or none)."""
        return self._listener.mode if self._listener is not None else None

    def _set_listening(self, on: bool) -> None:
        if on != self._listening:
            self._listening = on
            self.listening_changed.emit(on)

    def _service_ready(self, svc: Service) -> None:
        if svc is self._service and self._listener is not None:
            return  # a reconnect: the listener reconnects by itself and says "everything" once back
        self._service = svc

        def start(s: Service) -> ChangeListener:
            # On the worker: it makes sure the schema (and its triggers) are there first.
            return s.listen_for_changes(lambda changes: self._from_listener(s, changes))

        def started(listener: ChangeListener) -> None:
            if self._service is not svc or self._closed:
                listener.stop(timeout=0)
                return
            self._listener = listener
            self._set_listening(True)

        def failed(exc: BaseException) -> None:
            log.warning("no change listener (%s): the gallery checks for new images every few seconds instead",
                        exc)
            self._set_listening(False)

        self.ctx.call(start, on_success=started, on_failure=failed, owner=self, name="listen for changes")

    def _from_listener(self, svc: Service, changes: Changes) -> None:
        """On the listener's thread: hand over to the UI thread (dropped once this bridge is gone)."""
        if not self._closed and shiboken6.isValid(self):
            self._arrived.emit(svc, changes)

    def _deliver(self, svc: Service, changes: Changes) -> None:
        if svc is not self._service or self._closed:
            return  # heard by the service that was (a demo switch, new settings): not about this library
        self.ctx.announce(changes)
        self.heard.emit(changes)

    def _service_closed(self) -> None:
        """The service is being replaced: its listener stops with it (``Service.close``)."""
        listener, self._listener = self._listener, None
        self._service = None
        if listener is not None:
            listener.stop(timeout=0)
        self._set_listening(False)

    def close(self) -> None:
        """The window is closing: nothing more is delivered."""
        self._closed = True
        self._service_closed()
