"""The one way the GUI runs a service call: on a worker thread, result back on the UI thread.

Compare Anki's ``QueryOp``/``CollectionOp``: a widget hands :meth:`Worker.run` a
zero-argument callable (usually a lambda over a :class:`core.service.Service` method)
and two callbacks. The callable runs on a :class:`QThreadPool` thread; ``on_success``
or ``on_failure`` then runs on the UI thread, through a queued signal, so callbacks may
touch widgets freely. No widget starts threads of its own.

Two rules keep stale results away from the screen:

- If the ``owner`` QObject is destroyed before the call returns, the callbacks are skipped.
- If the task is cancelled (:meth:`Task.cancel`), the callbacks are skipped too: whoever
  cancelled has already put the UI back. A cancelled HTTP request still runs to its end
  on the worker (``requests`` cannot be interrupted); ``CancelToken`` makes the service
  drop its result instead of storing it.

Tests wait for :meth:`Worker.wait` in teardown so no thread outlives a test
(``tests/gui/conftest.py``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from core.cancel import CancelToken

log = logging.getLogger(__name__)

Success = Callable[[Any], None]
Failure = Callable[[BaseException], None]


class Task(QObject):
    """A handle on one running call: cancel it, or ask whether it is still running."""

    _succeeded = Signal(object)
    _failed = Signal(object)

    def __init__(self, worker: Worker, name: str, owner: QObject | None, on_success: Success | None,
                 on_failure: Failure | None, cancel: CancelToken) -> None:
        super().__init__()
        self.name = name
        self.token = cancel
        self._worker = worker
        self._owner = owner
        self._on_success = on_success
        self._on_failure = on_failure
        self.done = False
        self.long_running = False
        # Queued: the signal is emitted on the pool thread, the slot runs where this object
        # lives, i.e. on the UI thread that created it.
        self._succeeded.connect(self._deliver_success, Qt.ConnectionType.QueuedConnection)
        self._failed.connect(self._deliver_failure, Qt.ConnectionType.QueuedConnection)

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def cancel(self) -> None:
        """Drop the result when it comes; the service sees the token and stops between steps."""
        self.token.cancel()

    def _owner_alive(self) -> bool:
        return self._owner is None or shiboken6.isValid(self._owner)

    @Slot(object)
    def _deliver_success(self, result: object) -> None:
        try:
            if not self.cancelled and self._owner_alive() and self._on_success is not None:
                self._on_success(result)
        finally:
            self._finish()

    @Slot(object)
    def _deliver_failure(self, exc: object) -> None:
        try:
            if not self.cancelled and self._owner_alive():
                if self._on_failure is not None:
                    self._on_failure(exc)  # type: ignore[arg-type]
                else:
                    self._worker.unhandled.emit(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self._worker._task_done(self)


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task = task
        self._fn = fn

    def run(self) -> None:
        task = self._task
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: B036 — every failure must reach the UI thread
            if not isinstance(exc, Exception):
                log.error("task %s raised %s", task.name, type(exc).__name__)
            elif not _expected(exc):
                log.error("task %s failed:\n%s", task.name, "".join(traceback.format_exception(exc)))
            task._failed.emit(exc)
        else:
            task._succeeded.emit(result)
        finally:
            self._fn = None  # type: ignore[assignment]  # drop references held by the closure


def _expected(exc: BaseException) -> bool:
    """Errors that carry a sentence for the user are not bugs; everything else is logged in full."""
    return hasattr(exc, "user_message") or isinstance(exc, ValueError)


class Worker(QObject):
    """Owns the thread pool. One per main window; widgets receive it, never create one."""

    busy_changed = Signal(int)  # number of running tasks
    unhandled = Signal(object)  # failures nobody asked to handle: the main window shows them

    def __init__(self, max_threads: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._tasks: set[Task] = set()

    @property
    def active(self) -> int:
        return len(self._tasks)

    def run(self, fn: Callable[[], Any], *, on_success: Success | None = None, on_failure: Failure | None = None,
            owner: QObject | None = None, cancel: CancelToken | None = None, name: str = "",
            long_running: bool = False) -> Task:
        """Run ``fn()`` on the pool; deliver its result or exception on the UI thread.

        ``long_running`` (the prompt queue, the web import: minutes to hours) gives the task a
        thread of its own on top of the pool's, so it never leaves short calls waiting.
        """
        task = Task(self, name or getattr(fn, "__name__", "task"), owner, on_success, on_failure,
                    cancel or CancelToken())
        task.long_running = long_running
        if long_running:
            self.pool.setMaxThreadCount(self.pool.maxThreadCount() + 1)
        self._tasks.add(task)
        self.busy_changed.emit(len(self._tasks))
        self.pool.start(_Runnable(task, fn))
        return task

    def _task_done(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.discard(task)
            if task.long_running:
                self.pool.setMaxThreadCount(max(1, self.pool.maxThreadCount() - 1))
            task.deleteLater()
            self.busy_changed.emit(len(self._tasks))

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every pool thread is idle (shutdown and test teardown only)."""
        return self.pool.waitForDone(msecs)
