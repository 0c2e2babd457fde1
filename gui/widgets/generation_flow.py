"""Generating from the prompt editor: one generation at a time, cancel, what comes back; recent prompts.

A mixin of :class:`gui.widgets.main_window.MainWindow`, like :mod:`gui.widgets.batch_actions`.
The call runs on the worker with a :class:`CancelToken` the service checks, so a cancelled
generation is not stored. It runs even while the database is down (``offline=True``): the
service keeps the images in its spool and they reach the gallery when the database is back;
images neither could keep are offered for saving as files (:mod:`gui.rescue`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cancel import CancelToken
from core.imagefx.types import GenerationRequest
from core.service import GenerationResult, StorageFailed
from core.store import DatabaseUnavailable
from gui import rescue
from gui.worker import Task

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow


class GenerationFlow:
    """Mixed into MainWindow; ``self`` is the window."""

    _generation: Task | None = None  # the generation running now

    def _connect_generation(self: MainWindow) -> None:
        self.editor.generate_requested.connect(self.generate)
        self.editor.cancel_requested.connect(self.cancel_generation)
        self.editor.recent_requested.connect(self._load_recent)

    def editor_generate(self: MainWindow) -> None:
        self.editor.request_generate()

    def generate(self: MainWindow, req: GenerationRequest) -> None:
        if self._generation is not None:
            return
        if self.ctx.service is None and not self.ctx.has_service:
            self.editor.show_status("Not generated: the app is still connecting to its database.")
            self.message_bar.show_message(
                "The database is not connected yet, so nothing can be generated. " +
                (self.ctx.last_error.user_message if self.ctx.last_error else "Wait a moment."), "warning",
                [("Database settings", lambda: self.open_settings("database"))])
            return
        n = req.count
        self.editor.set_busy(True, f"Generating {n} image{'s' if n != 1 else ''}…")
        self.actions_["generate"].setEnabled(False)
        self.actions_["cancel"].setEnabled(True)
        self.gallery.set_generating(True)
        if self.message_bar.kind in ("error", "warning"):
            self.message_bar.dismiss()
        token = CancelToken()  # the service checks it: a cancelled generation is not stored
        self._generation = self.ctx.call(
            lambda s: s.generate(req, cancel=token), on_success=self._generated,
            on_failure=lambda e: self._generation_failed(e, req), owner=self, cancel=token, name="generate",
            offline=True)  # with the database down the images go to the spool, never lost

    def _generation_done(self: MainWindow) -> None:
        self._generation = None
        self.gallery.set_generating(False)
        self.actions_["generate"].setEnabled(True)
        self.actions_["cancel"].setEnabled(False)

    def _generated(self: MainWindow, result: GenerationResult) -> None:
        self._generation_done()
        records = list(result.record.images)
        seeds = [r.seed for r in records if r.seed is not None] or \
            [i.seed for i in result.generation.images if i.seed is not None]
        self.editor.generated(seeds)
        if result.spooled:
            n = len(result.generation.images)
            self.ctx.mark_lost(DatabaseUnavailable(result.storage_error or "The database cannot be reached.",
                                                   "The app reconnects when it is back."))
            self.editor.set_busy(False, f"{n} images generated; waiting for the database.")
            self.message_bar.show_message(
                f"{n} images were generated, but the database cannot be reached ({result.storage_error}). "
                "They are kept on this computer and appear in the gallery when it is back.", "warning",
                [("Retry now", self.ctx.reconnect)])
            return
        self._load_recent()
        added = self.model.prepend(records)
        n = len(records)
        dup = f" ({result.record.duplicates} already stored)" if result.record.duplicates else ""
        self.editor.set_busy(False, f"{n} new image{'s' if n != 1 else ''}{dup}.")
        if added:
            self.gallery.view.scrollToTop()
        elif n:
            self.statusBar().showMessage(f"{n} new images — hidden by the current search or filter.", 6000)

    def _generation_failed(self: MainWindow, exc: BaseException, req: GenerationRequest) -> None:
        self._generation_done()
        if isinstance(exc, StorageFailed):  # generated, but neither the database nor the spool took it
            self.editor.set_busy(False, "Generated, not stored — see the message above.")
            rescue.offer_to_save(self, exc)
            return
        self.editor.set_busy(False, "Not generated — see the message above.")
        self.show_error(exc, retry=lambda: self.generate(req))

    def cancel_generation(self: MainWindow) -> None:
        task = self._generation
        if task is None:
            return
        task.cancel()
        self._generation_done()
        self.editor.set_busy(False, "Cancelled. Nothing was stored.")
        self.statusBar().showMessage("Generation cancelled.", 4000)

    @property
    def generating(self: MainWindow) -> bool:
        return self._generation is not None

    def _load_recent(self: MainWindow) -> None:
        self.ctx.call(lambda s: s.recent_prompts(25), on_success=self.editor.set_recent,
                      on_failure=lambda _e: self.editor.set_recent([]), owner=self, name="recent prompts")

    def _show_recent(self: MainWindow) -> None:
        self.editor.recent_button.showMenu()

    def focus_prompt(self: MainWindow) -> None:
        self.editor.prompt.setFocus()

    def use_as_prompt(self: MainWindow, text: str) -> None:
        self.editor.use_text(text, "Use as prompt")  # Edit → Undo puts back what it replaced
        self.editor.prompt.setFocus()
        self.statusBar().showMessage("Caption put into the prompt editor.", 4000)
