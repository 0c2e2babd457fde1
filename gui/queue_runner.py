"""The prompt queue as the GUI drives it: one long-running worker task, its events as signals.

``QueueService.run`` blocks until nothing is pending, so the whole run is one task on the
window's worker (:mod:`gui.worker`, ``long_running``: a thread of its own, so short calls
never wait behind it). Its events are raised on that thread; :attr:`QueueRunner.event`
re-emits them, queued, on the UI thread. The UI thread steers the run through a
:class:`RunControl` (pause, resume, stop, cancel the current item).

Edits (add, move, cancel, retry, remove, clear) are short calls run *one after another*,
so two drags in a row reach the database in the order they were made; each is followed by
a reload of the list.

Changes made elsewhere (``queue add`` or ``queue run`` in a terminal, another window) show up
by themselves: the database announces them (``ChangeKind.QUEUE``, heard through
:mod:`gui.change_bridge`) and the list is read again. Only where no change listener runs does
the runner, while it runs nothing and edits nothing, ask every few seconds for the queue's
version (:meth:`QueueService.version`, one small query) instead (:meth:`set_polling`).

States: ``idle``; ``running``; ``paused`` (by the user; the item in flight still finishes);
``stopping`` (window closing, service restarting); ``signin`` (the run ended because
ImageFX wants a new sign-in; :meth:`signed_in` starts it again).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from core.changes import ChangeKind, Changes
from core.service.control import RunControl, RunOutcome, WaitReason
from core.service.queue import (
    ITEM_CANCELLED,
    ITEM_DONE,
    ITEM_FAILED,
    ITEM_STARTED,
    PAUSED,
    RESUMED,
    QueueEvent,
    QueueOptions,
    QueueService,
    RunSummary,
)
from core.store import QueueItem
from gui.context import AppContext, NotConnected

log = logging.getLogger(__name__)

IDLE, RUNNING, PAUSED_BY_USER, STOPPING, SIGNIN = "idle", "running", "paused", "stopping", "signin"
_RELOAD = "queue items"
WATCH_MS = 3000  # how often an idle window asks whether someone else changed the queue


class QueueRunner(QObject):
    event = Signal(object)  # QueueEvent, on the UI thread
    items_loaded = Signal(list)  # list[QueueItem]: the whole queue, in run order
    state_changed = Signal(str)
    finished = Signal(object)  # RunSummary
    added = Signal(list)  # list[QueueItem] just added
    failed = Signal(object)  # an exception from a run or an edit, for the message bar
    _bridge = Signal(object)

    def __init__(self, ctx: AppContext, parent: QObject | None = None, **timing: float) -> None:
        """``timing``: QueueService's knobs (backoff, probe_interval, …); tests make waits short."""
        super().__init__(parent)
        self.ctx = ctx
        self.timing = timing
        self.state = IDLE
        self.control: RunControl | None = None
        self.current_item: int | None = None
        self.last_event: QueueEvent | None = None
        self._running = False  # a run task exists (its result has not come back yet)
        self._added_while_running = False
        self._ops: deque[tuple[Callable[[QueueService], Any], Callable[[Any], None] | None, str]] = deque()
        self._op_busy = False
        self._closed = False
        self._version: str | None = None  # of the list on screen
        self._checking = False
        self._bridge.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._watch = QTimer(self)
        self._watch.setInterval(WATCH_MS)
        self._watch.timeout.connect(self.check_for_changes)
        self._watch.start()
        ctx.changes_applied.connect(self._changes_applied)

    def set_polling(self, on: bool) -> None:
        """Check the queue's version every few seconds (no change listener), or not (one listens)."""
        if on and not self._closed:
            self._watch.start()
        else:
            self._watch.stop()

    def _changes_applied(self, changes: Changes) -> None:
        """Someone else changed the queue (a terminal, another window): read it again."""
        svc = self.ctx.service
        if ChangeKind.QUEUE in changes and not self._closed and (svc is None or changes.origin != svc.origin):
            self.reload()

    # --- state -------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """A run is under way (running, paused or stopping)."""
        return self._running

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # --- running ------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the pending items (a paused run resumes instead)."""
        if self._running:
            if self.state == PAUSED_BY_USER:
                self.resume()
            return
        if self.ctx.service is None:
            self.failed.emit(self.ctx.last_error or NotConnected())
            return
        control = RunControl()
        self.control = control
        self.current_item = None
        self._running = True
        self._added_while_running = False
        delay = self.ctx.settings.queue_delay
        timing = dict(self.timing)

        def emit(e: QueueEvent) -> None:  # on the worker thread
            if not self._closed and shiboken6.isValid(self):
                self._bridge.emit((control, e))

        def run(svc: Any) -> RunSummary:
            return QueueService(svc, **timing).run(delay=delay, on_event=emit, control=control)

        self._set_state(RUNNING)
        self.ctx.call(run, on_success=lambda r: self._run_ended(control, r),
                      on_failure=lambda e: self._run_failed(control, e), owner=self, name="queue",
                      long_running=True)

    def pause(self) -> None:
        if self.control is not None and self._running:
            self.control.pause()
            self._set_state(PAUSED_BY_USER)

    def resume(self) -> None:
        if self.control is not None and self._running:
            self.control.resume()
            self._set_state(RUNNING)

    def toggle(self) -> None:
        """Start, pause or resume: what the one button does."""
        if not self._running:
            self.start()
        elif self.state == PAUSED_BY_USER:
            self.resume()
        elif self.state == RUNNING:
            self.pause()

    def stop(self) -> None:
        """End the run after the request in flight (its images are stored); nothing new starts."""
        if self.control is not None and self._running:
            self.control.stop()
            self._set_state(STOPPING)

    def shutdown(self) -> bool:
        """Window closing: stop, and stop re-emitting events. True if a run was going (not paused)."""
        was_running = self._running and self.state == RUNNING
        self.stop()
        self._closed = True
        self._watch.stop()
        return was_running

    def signed_in(self) -> None:
        """The user signed in again: a run that ended for that starts again."""
        if self.state == SIGNIN and not self._running:
            self.start()

    def service_closed(self) -> None:
        """The service is being replaced (demo switched, new database): its run must end."""
        self.stop()
        self.control = None  # anything the old run still reports is stale now
        self._running = False
        self._ops.clear()
        self._set_state(IDLE)

    def _on_event(self, payload: tuple[RunControl, QueueEvent]) -> None:
        control, e = payload
        if control is not self.control or self._closed:
            return  # a run from before a restart
        self.last_event = e
        if e.kind == ITEM_STARTED and e.item is not None:
            self.current_item = e.item.id
        elif e.kind in (ITEM_DONE, ITEM_FAILED, ITEM_CANCELLED):
            self.current_item = None
        elif e.kind == PAUSED and e.reason is WaitReason.USER:
            self._set_state(PAUSED_BY_USER)
        elif e.kind == RESUMED and self.state == PAUSED_BY_USER and not control.paused:
            self._set_state(RUNNING)
        self.event.emit(e)

    def _run_ended(self, control: RunControl, summary: RunSummary) -> None:
        if control is not self.control:
            return
        self._running = False
        self.current_item = None
        restart = summary.outcome is RunOutcome.FINISHED and self._added_while_running and not control.stopped
        self._set_state(SIGNIN if summary.outcome is RunOutcome.SIGN_IN else IDLE)
        self.finished.emit(summary)
        self.reload()
        if restart:  # prompts added as the run found nothing more to do: they run too
            self.start()

    def _run_failed(self, control: RunControl, exc: BaseException) -> None:
        if control is not self.control:
            return
        self._running = False
        self.current_item = None
        self._set_state(IDLE)
        self.failed.emit(exc)
        self.reload()

    # --- edits, one after another -----------------------------------------------------------

    def _op(self, fn: Callable[[QueueService], Any], done: Callable[[Any], None] | None = None,
            name: str = "queue edit", reload: bool = True) -> None:
        self._ops.append((fn, done, name))
        if reload:
            self.reload()
        self._next_op()

    def _next_op(self) -> None:
        if self._op_busy or not self._ops:
            return
        fn, done, name = self._ops.popleft()
        self._op_busy = True
        timing = dict(self.timing)

        def ok(result: Any) -> None:
            self._op_busy = False
            if done is not None:
                done(result)
            self._next_op()

        def bad(exc: BaseException) -> None:
            self._op_busy = False
            self.failed.emit(exc)
            if name != _RELOAD:
                self.reload()  # the list may show an edit that did not happen
            self._next_op()

        self.ctx.call(lambda svc: fn(QueueService(svc, **timing)), on_success=ok, on_failure=bad, owner=self,
                      name=name)

    def reload(self) -> None:
        """Read the queue again, after the edits already waiting (one reload at the end is enough)."""
        if self._ops and self._ops[-1][2] == _RELOAD:
            return
        self._ops.append((lambda q: q.read(), self._loaded, _RELOAD))
        self._next_op()

    def _loaded(self, result: tuple[list[QueueItem], str]) -> None:
        items, self._version = result
        self.items_loaded.emit(items)

    def check_for_changes(self) -> None:
        """Read the queue again if someone else changed it (see the module's docstring)."""
        if (self._closed or self._running or self._op_busy or self._ops or self._checking
                or self._version is None or not self.ctx.connected):
            return
        seen = self._version

        def done(version: str) -> None:
            self._checking = False
            if version != seen and version != self._version:
                self.reload()

        def fail(_exc: BaseException) -> None:  # a lost database shows its banner (AppContext)
            self._checking = False

        self._checking = True
        self.ctx.call(lambda svc: QueueService(svc).version(), on_success=done, on_failure=fail, owner=self,
                      name="check the queue")

    def add_prompts(self, prompts: list[str], options: QueueOptions, source: str = "editor") -> None:
        self._op(lambda q: q.add_prompts(prompts, options, source=source), self._added, "add to queue")

    def add_text(self, text: str, options: QueueOptions, done: Callable[[list[QueueItem]], None] | None = None,
                 fail: Callable[[BaseException], None] | None = None) -> None:
        """A pasted list; ``fail`` gets a ValidationError ("Line 7: …") instead of the message bar."""
        self._op_with_failure(lambda q: q.add_text(text, options), done, fail, "add pasted prompts")

    def add_file(self, path: str, options: QueueOptions) -> None:
        self._op(lambda q: q.add_file(path, options), self._added, "add prompt file")

    def _op_with_failure(self, fn: Callable[[QueueService], Any], done: Callable[[Any], None] | None,
                         fail: Callable[[BaseException], None] | None, name: str) -> None:
        def run(q: QueueService) -> Any:
            try:
                return ("ok", fn(q))
            except Exception as exc:  # handed to ``fail`` on the UI thread
                if fail is None:
                    raise
                return ("error", exc)

        def delivered(result: tuple[str, Any]) -> None:
            kind, value = result
            if kind == "error" and fail is not None:
                fail(value)
            else:
                self._added(value)
                if done is not None:
                    done(value)

        self._op(run, delivered, name)

    def _added(self, items: list[QueueItem]) -> None:
        if self._running:
            self._added_while_running = True
        self.added.emit(items)

    def move(self, item_id: int, to_index: int) -> None:
        self._op(lambda q: q.move(item_id, to_index), None, "reorder queue", reload=False)

    def cancel(self, item_ids: list[int] | None = None) -> None:
        """Cancel these items (pending ones, and the running one if named); None: the running item."""
        control = self.control if self._running else None
        if item_ids is None:
            if control is not None and self.current_item is not None:
                control.cancel_current(self.current_item)
            return
        self._op(lambda q: q.cancel(item_ids, control), None, "cancel queue items")

    def retry(self, item_ids: list[int] | None = None) -> None:
        def retry(q: QueueService) -> int:
            return q.retry_failed(item_ids)

        self._op(retry, self._retried, "retry queue items")

    def _retried(self, n: int) -> None:
        if n and self._running:
            self._added_while_running = True

    def remove(self, item_ids: list[int]) -> None:
        self._op(lambda q: q.remove(item_ids), None, "remove queue items")

    def clear_finished(self) -> None:
        self._op(lambda q: q.clear(finished_only=True), None, "clear finished")
