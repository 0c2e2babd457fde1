"""Generating from the prompt editor: one generation at a time, cancel, what comes back; recent prompts.

A mixin of :class:`gui.widgets.main_window.MainWindow`, like :mod:`gui.widgets.batch_actions`.
The call runs on the worker with a :class:`CancelToken` the service checks, so a cancelled
generation is not stored.

Waits are the window's, not the HTTP client's, so the user sees them: the client is told not to
retry (``retries=0``); a rate limit waits as long as ImageFX asks (or backs off when it does not
say), a server hiccup is retried as often as Settings says, and either wait counts down in the
editor's status with Cancel beside it (:class:`gui.widgets.countdown.Countdown`). While the
images are on their way the gallery shows a tile for each on top (``GalleryModel.add_pending``),
on the Gallery tab even if the user pressed Generate from another one; the results take the
tiles' places, scrolled into view, and the status says the seeds they were made with.

It runs even while the database is down (``offline=True``): the
service keeps the images in its spool and they reach the gallery when the database is back;
images neither could keep are offered for saving as files (:mod:`gui.rescue`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer

from core.cancel import CancelToken
from core.imagefx.errors import ImageFXError, RateLimited
from core.imagefx.types import GenerationRequest
from core.service import GenerationResult, StorageFailed, UnstorableAnswer
from core.store import DatabaseUnavailable
from gui import rescue
from gui.widgets.countdown import Countdown
from gui.worker import Task

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

_WAITING: Any = object()  # _generation while a wait counts down (nothing on the worker to cancel)


RATE_BACKOFF_S, RATE_BACKOFF_MAX_S = 10.0, 300.0  # a rate limit that says no Retry-After
RETRY_BACKOFF_S, RETRY_BACKOFF_MAX_S = 2.0, 60.0  # a server error or a dropped connection


def seeds_text(seeds: list[int]) -> str:
    """``seed 42``, ``seeds 42–45`` (consecutive), ``seeds 7, 19, 23, 40``: what a result was made with."""
    if not seeds:
        return ""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    ordered = sorted(seeds)
    if ordered == list(range(ordered[0], ordered[0] + len(ordered))):
        return f"seeds {ordered[0]}–{ordered[-1]}"
    return "seeds " + ", ".join(str(x) for x in seeds[:6]) + ("…" if len(seeds) > 6 else "")


class GenerationFlow:
    """Mixed into MainWindow; ``self`` is the window."""

    _generation: Task | None = None  # the generation running now (or waiting to try again)
    _gen_wait: Countdown | None = None
    _gen_retry: QTimer | None = None
    _gen_token = 0  # the gallery's pending tiles for it
    _gen_tries = (0, 0)  # (rate limits waited, other failures retried)
    _gen_req: GenerationRequest

    def _connect_generation(self: MainWindow) -> None:
        self._gen_wait = Countdown(self.editor.status, self)
        self._gen_retry = QTimer(self)
        self._gen_retry.setSingleShot(True)
        self._gen_retry.timeout.connect(lambda: self._start_generation(self._gen_req))
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
        if self.tabs.currentIndex() != 0 and not self.model.trash:
            self.tabs.setCurrentIndex(0)  # pressed from the Captions or Queue tab: the results show here
        self._gen_token = self.model.add_pending(n)
        if self.model.pending_count:
            self.gallery.view.scrollToTop()  # the tiles of the images on their way
        self._gen_tries = (0, 0)
        self._start_generation(req)

    def _start_generation(self: MainWindow, req: GenerationRequest) -> None:
        self.editor.set_waiting(False)
        token = CancelToken()  # the service checks it: a cancelled generation is not stored
        self._generation = self.ctx.call(
            lambda s: s.generate(req, cancel=token, retries=0), on_success=self._generated,
            on_failure=lambda e: self._generation_failed(e, req), owner=self, cancel=token, name="generate",
            offline=True)  # with the database down the images go to the spool, never lost

    def _wait_and_retry(self: MainWindow, exc: ImageFXError, req: GenerationRequest) -> bool:
        """A rate limit (always, as long as ImageFX asks) or a retryable failure (as often as Settings
        says): count down in the status, Cancel stays, then try again. False: give up now."""
        rate, other = self._gen_tries
        if isinstance(exc, RateLimited):
            wait = exc.retry_after if exc.retry_after is not None else \
                min(RATE_BACKOFF_S * 2 ** rate, RATE_BACKOFF_MAX_S)
            self._gen_tries = (rate + 1, other)
            text = "ImageFX asks to slow down — trying again {when}. Cancel stops waiting."
        elif exc.retryable and other < self.settings.generation.retries:
            wait = min(RETRY_BACKOFF_S * 2 ** other, RETRY_BACKOFF_MAX_S)
            self._gen_tries = (rate, other + 1)
            reason = exc.user_message.split(". ")[0].rstrip(".")
            text = f"ImageFX had a problem ({reason}) — trying again {{when}}. Cancel stops waiting."
        else:
            return False
        assert self._gen_wait is not None and self._gen_retry is not None
        self._gen_wait.start(wait, text)
        self._gen_req = req
        self.editor.set_waiting(True)
        self._gen_retry.start(int(wait * 1000))
        self._generation = _WAITING
        return True

    def _generation_done(self: MainWindow, records: list | None = None) -> int:
        """The generation ended: its tiles go (its images, if any, take their places)."""
        self._generation = None
        if self._gen_wait is not None:
            self._gen_wait.stop()
        if self._gen_retry is not None:
            self._gen_retry.stop()
        added = self.model.resolve_pending(self._gen_token, records)
        self.gallery.set_generating(False)
        self.actions_["generate"].setEnabled(True)
        self.actions_["cancel"].setEnabled(False)
        return added

    def _generated(self: MainWindow, result: GenerationResult) -> None:
        self.account.set_rejected(None)  # ImageFX took the sign-in after all
        records = list(result.record.images)
        seeds = [r.seed for r in records if r.seed is not None] or \
            [i.seed for i in result.generation.images if i.seed is not None]
        self.editor.generated(seeds)
        if result.spooled:
            self._generation_done()
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
        added = self._generation_done(records)
        n = len(records)
        dup = f" ({result.record.duplicates} already stored)" if result.record.duplicates else ""
        used = seeds_text(seeds)
        self.editor.set_busy(False, f"{n} new image{'s' if n != 1 else ''}{dup}" + (f" — {used}." if used else "."))
        if added:
            self._scroll_to_new(records)
        elif n:
            self.statusBar().showMessage(f"{n} new images — hidden by the current search or filter.", 6000)

    def _scroll_to_new(self: MainWindow, records: list) -> None:
        """The new results in view: the Gallery tab, scrolled to the first of them."""
        rows = [r for r in (self.model.row_of(rec.id) for rec in records) if r is not None]
        if not rows:
            return
        if self.tabs.currentIndex() != 0:
            self.tabs.setCurrentIndex(0)
        self.gallery.view.scrollTo(self.model.index(min(rows)))

    def _generation_failed(self: MainWindow, exc: BaseException, req: GenerationRequest) -> None:
        if isinstance(exc, ImageFXError) and self._generation is not None and self._wait_and_retry(exc, req):
            return
        self._generation_done()
        if isinstance(exc, StorageFailed):  # generated, but neither the database nor the spool took it
            self.editor.set_busy(False, "Generated, not stored — see the message above.")
            rescue.offer_to_save(self, exc)
            return
        if isinstance(exc, UnstorableAnswer):  # generated and kept on disk, but not for the library
            self.editor.set_busy(False, "Generated, not stored — see the message above.")
            self.show_error(exc)
            return
        self.editor.set_busy(False, "Not generated — see the message above.")
        self.show_error(exc, retry=lambda: self.generate(req))

    def cancel_generation(self: MainWindow) -> None:
        task = self._generation
        if task is None:
            return
        if task is not _WAITING:
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
