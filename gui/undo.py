"""Undo and redo for the window (Edit → Undo, Ctrl+Z; Redo, Ctrl+Shift+Z / Ctrl+Y).

One ``QUndoStack`` holds what a user may want back: images moved to the Trash (or restored
from it), favourite marks, and the prompt editor's content replaced by Remix, "Use as
prompt", a recent prompt or a PNG dropped on it. The stack's own actions name the command
("Undo Delete 3 images").

Library commands are service mutations: they run on the worker like any other operation
(:meth:`gui.context.AppContext.op`, so every view refreshes from their change descriptor),
one at a time and in order, so an undo pressed before its deletion has finished waits for it
instead of overtaking it. A command is pushed once its first run succeeded (nothing to undo
otherwise). If an undo or redo fails (the database went away), the stack steps back, so its
state keeps matching the library's, and the error shows in the message bar.

Editor commands are immediate. An undo remembers what the editor held at that moment, so a
redo brings back exactly that, typing included.

The stack is cleared when the service is replaced (demo switched, another database): its
image ids belong to the library that was.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from core.changes import Changes
from core.service import Service
from gui.context import AppContext

Mutation = Callable[[Service], Changes]


@dataclass
class _Job:
    fn: Mutation
    on_success: Callable[[Changes], None] | None
    on_failure: Callable[[BaseException], None] | None
    name: str


class UndoHistory(QObject):
    """The window's undo stack and the serial runner its library commands go through."""

    failed = Signal(object)  # an exception from an undo or redo: the window shows it

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.stack = QUndoStack(self)
        self._jobs: deque[_Job] = deque()
        self._running = False
        self._epoch = 0  # bumped by clear(): replies of the old service's jobs are dropped
        ctx.service_closed.connect(self.clear)

    # --- running mutations one at a time ------------------------------------------------------

    def run(self, fn: Mutation, *, on_success: Callable[[Changes], None] | None = None,
            on_failure: Callable[[BaseException], None] | None = None, name: str = "") -> None:
        """Run a mutation after those already waiting (``AppContext.op``: views refresh from it)."""
        self._jobs.append(_Job(fn, on_success, on_failure, name))
        self._next()

    @property
    def busy(self) -> bool:
        return self._running or bool(self._jobs)

    def _next(self) -> None:
        if self._running or not self._jobs:
            return
        job = self._jobs.popleft()
        self._running = True
        epoch = self._epoch

        def finish(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._running = False
            try:
                if callback is not None and epoch == self._epoch:
                    callback(value)
            finally:
                self._next()

        # Without a service, op() delivers the failure on the next turn of the event loop.
        self.ctx.op(job.fn, on_success=lambda c: finish(job.on_success, c),
                    on_failure=lambda e: finish(job.on_failure or self.failed.emit, e), owner=self, name=job.name)

    # --- pushing ----------------------------------------------------------------------------

    def perform(self, text: Callable[[Changes], str], do: Mutation, undo: Callable[[Changes], Mutation],
                *, on_done: Callable[[Changes], None] | None = None,
                on_failure: Callable[[BaseException], None] | None = None, name: str = "") -> None:
        """Run ``do`` now; if it changed something, push a command named ``text(changes)`` whose undo
        runs ``undo(changes)`` and whose redo runs ``do`` again."""

        def done(changes: Changes) -> None:
            if changes:
                self.stack.push(_LibraryCommand(self, text(changes), do, undo(changes), name))
            if on_done is not None:
                on_done(changes)

        self.run(do, on_success=done, on_failure=on_failure, name=name)

    def record_editor(self, text: str, editor: Any, before: Any) -> None:
        """The editor's content was just replaced (from ``before``): make that undoable."""
        after = editor.state()
        if after != before:
            self.stack.push(_EditorCommand(text, editor, before, after))

    def clear(self) -> None:
        self.stack.clear()
        self._jobs.clear()
        self._epoch += 1  # a job in flight belongs to the old service: its reply is dropped


class _LibraryCommand(QUndoCommand):
    def __init__(self, history: UndoHistory, text: str, do: Mutation, undo: Mutation, name: str) -> None:
        super().__init__(text)
        self.history = history
        self._do, self._undo, self._name = do, undo, name
        self._first = True  # pushed after its first run: QUndoStack.push calls redo() once more
        self._quiet = False  # stepping the stack back after a failure, without running anything

    def redo(self) -> None:
        if self._first or self._quiet:
            self._first = False
            return
        self.history.run(self._do, on_failure=lambda e: self._failed(e, undone=False), name=self._name)

    def undo(self) -> None:
        if self._quiet:
            return
        self.history.run(self._undo, on_failure=lambda e: self._failed(e, undone=True),
                         name=f"undo {self._name}")

    def _failed(self, exc: BaseException, *, undone: bool) -> None:
        stack = self.history.stack
        me = next((i for i in range(stack.count()) if stack.command(i) is self), None)
        if me is not None:
            self._quiet = True
            try:  # put the stack back where the library is: this command done (undo failed) or not
                stack.setIndex(me + 1 if undone else me)
            finally:
                self._quiet = False
        self.history.failed.emit(exc)


class _EditorCommand(QUndoCommand):
    def __init__(self, text: str, editor: Any, before: Any, after: Any) -> None:
        super().__init__(text)
        self.editor, self.before, self.after = editor, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.editor.set_state(self.after)

    def undo(self) -> None:
        self.after = self.editor.state()  # what a redo brings back, typing since included
        self.editor.set_state(self.before)
