"""The main window's work in bulk: the prompt queue, export, the web-library import, image drops.

A mixin of :class:`gui.widgets.main_window.MainWindow`, kept apart so the window file
stays about the window. Everything here runs through the window's one worker
(:mod:`gui.worker`): the queue and the import as long-running tasks, the rest as short calls.

Resuming after a restart: the queue is stored, so the Queue tab shows it again at once.
If prompts are waiting, the window offers "Resume queue" in the message bar; it starts by
itself only if the queue was *running* when the window closed (not paused, not finished),
because then the user's last word was "run these".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from core.imagefx.types import GenerationRequest
from core.service.control import RunOutcome
from core.service.queue import ITEM_DONE, ITEM_FAILED, QueueEvent, QueueOptions, RunSummary
from core.store import ImageRecord, QueueItem
from gui.dialogs.export_dialog import ExportDialog, open_folder
from gui.dialogs.paste_prompts import PastePromptsDialog
from gui.dialogs.placement import present
from gui.dialogs.web_import import WebImportDialog
from gui.models.queue_model import options_text
from gui.widgets.queue_panel import prompt_files

if TYPE_CHECKING:
    from core.service.exporter import ExportResult
    from core.service.webimport import ImportSummary
    from gui.widgets.main_window import MainWindow

QUEUE_TAB = 2


class BatchActions:
    """Mixed into MainWindow; ``self`` is the window."""

    paste_dialog: PastePromptsDialog | None = None
    export_dialog: ExportDialog | None = None
    import_dialog: WebImportDialog | None = None
    import_timing: dict[str, float]
    _offer_queue = False
    _offered_for: object = None  # the service the "Resume queue" offer was made for

    # --- wiring (called from MainWindow.__init__ / _connect) ------------------------------------

    def _connect_batch(self: MainWindow) -> None:
        self.import_timing = {}
        self.setAcceptDrops(True)  # .txt files dropped anywhere that takes no drops of its own
        self.editor.queue_requested.connect(self.add_to_queue)
        self.editor.image_dropped.connect(self.fill_from_image)
        q = self.queue
        q.event.connect(self._queue_event)
        q.finished.connect(self._queue_finished)
        q.failed.connect(self.show_error)
        q.added.connect(self._queue_added)
        q.items_loaded.connect(self._queue_loaded)
        self.queue_panel.use_as_prompt.connect(self.use_as_prompt)
        self.queue_panel.files_dropped.connect(self.add_prompt_files)
        m = self.queue_panel.model
        for sig in (m.modelReset, m.dataChanged, m.rowsMoved):
            sig.connect(lambda *_: self._update_queue_tab())
        self.ctx.service_ready.connect(self._queue_service_ready)
        self.ctx.service_closed.connect(self._queue_service_closed)
        # a reconnect stored spooled images; those of queue items finished their items too
        self.ctx.spool_flushed.connect(lambda _n: self.queue.reload())

    def _close_batch(self: MainWindow) -> None:
        """Window closing: the queue stops after its request in flight; remember if it was running."""
        self.gui.set("queue/running", self.queue.shutdown())
        for dlg in (self.paste_dialog, self.export_dialog, self.import_dialog):
            if dlg is not None:
                dlg.reject()

    # --- the queue ------------------------------------------------------------------------------

    def show_queue(self: MainWindow) -> None:
        self.tabs.setCurrentIndex(QUEUE_TAB)
        self.queue_panel.view.setFocus()

    def _queue_options(self: MainWindow) -> QueueOptions:
        req = self.editor.request()
        return QueueOptions(count=req.count, model=req.model, aspect_ratio=req.aspect_ratio, seed=req.seed)

    def editor_add_to_queue(self: MainWindow) -> None:
        self.editor.request_queue()

    def add_to_queue(self: MainWindow, req: GenerationRequest) -> None:
        opts = QueueOptions(count=req.count, model=req.model, aspect_ratio=req.aspect_ratio, seed=req.seed)
        self.queue.add_prompts([req.prompt], opts, source="editor")

    def add_prompt_file(self: MainWindow) -> None:
        start = self.gui.get("queue/last_dir") or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Add prompts from a text file", start,
                                              "Text files (*.txt);;All files (*)")
        if path:
            self.add_prompt_files([path])

    def add_prompt_files(self: MainWindow, paths: list[str]) -> None:
        """Each file's prompts (one per line) with the editor's options; a bad line adds none of its file."""
        if paths:
            self.gui.set("queue/last_dir", str(Path(paths[0]).parent))
        opts = self._queue_options()
        for p in paths:
            self.queue.add_file(p, opts)

    def paste_prompts(self: MainWindow) -> None:
        opts = self._queue_options()
        shown = options_text(QueueItem(  # the editor's options, worded as the queue shows them
            id=0, position=0, prompt="", count=opts.count or 1, model=opts.model or "",
            aspect_ratio=opts.aspect_ratio or "", seed=opts.seed, state="pending", error=None, attempts=0,
            prompt_id=None, image_count=0, source=None, user_email=None, claimed_by=None, created_at=None,
            started_at=None, finished_at=None))
        if self.paste_dialog is None:
            def submit(text: str, done: Any, fail: Any) -> None:
                self.queue.add_text(text, self._queue_options(), done=done, fail=fail)

            self.paste_dialog = PastePromptsDialog(submit, shown, self)
        self.paste_dialog.set_options_text(shown)
        present(self.paste_dialog)
        self.paste_dialog.text.setFocus()

    def _queue_added(self: MainWindow, items: list[QueueItem]) -> None:
        n = len(items)
        if n == 0:
            self.statusBar().showMessage("Nothing to add: the list has only blank lines and comments.", 5000)
            return
        waiting = self.queue_panel.pending_count() + n  # the list is read again right after this
        what = "1 prompt" if n == 1 else f"{n:,} prompts"
        if self.queue.active:
            text = f"Added {what} to the queue; the running queue takes {'it' if n == 1 else 'them'} in turn."
        else:
            text = f"Added {what} to the queue ({waiting:,} waiting). Start it with F6 or in the Queue tab."
        self.statusBar().showMessage(text, 6000)
        if n == 1 and items[0].source == "editor":
            self.editor.show_status(text)

    def _update_queue_tab(self: MainWindow) -> None:
        c = self.queue_panel.model.counts()
        left = c.pending + c.running
        self.tabs.setTabText(QUEUE_TAB, f"Queue ({left:,})" if left else "Queue")

    def _queue_service_ready(self: MainWindow, svc: object) -> None:
        if svc is not self._offered_for:  # not again after every reconnect of the same service
            self._offered_for = svc
            self._offer_queue = True
        self.queue.reload()
        self.queue_panel.update_actions()

    def _queue_service_closed(self: MainWindow) -> None:
        self._offered_for = None
        self.queue.service_closed()
        self.queue_panel.model.clear()
        self.queue_panel.show_status("")

    def _queue_loaded(self: MainWindow, _items: list[QueueItem]) -> None:
        """The first list after connecting: offer to resume what waits (or resume it, see above)."""
        if not self._offer_queue:
            return
        self._offer_queue = False
        waiting = self.queue_panel.pending_count()
        if not waiting or self.queue.active:
            self.gui.set("queue/running", False)
            return
        what = "1 prompt is" if waiting == 1 else f"{waiting:,} prompts are"
        if self.gui.get("queue/running"):
            self.gui.set("queue/running", False)
            self.queue.start()
            self.statusBar().showMessage(f"Resuming the queue you left running: {what} waiting.", 8000)
            return
        self.message_bar.show_message(f"{what[0].upper()}{what[1:]} waiting in the queue.", "info",
                                      [("Resume queue", self._resume_from_bar), ("Show queue", self.show_queue)])

    def _resume_from_bar(self: MainWindow) -> None:
        self.message_bar.dismiss()
        self.queue.start()

    def _queue_event(self: MainWindow, e: QueueEvent) -> None:
        if e.kind == ITEM_DONE and e.images:
            added = self.model.prepend(list(e.images))
            if added and self.gallery.view.verticalScrollBar().value() < 8:
                self.gallery.view.scrollToTop()
        elif e.kind == ITEM_FAILED and e.item is not None:
            prompt = " ".join(e.item.prompt.split())
            prompt = prompt[:40] + "…" if len(prompt) > 40 else prompt
            self.statusBar().showMessage(f"Queue: “{prompt}” failed — {e.message}", 8000)

    def _queue_finished(self: MainWindow, s: RunSummary) -> None:
        self._load_recent()
        if s.outcome is RunOutcome.SIGN_IN:
            self.cookie_rejected()
            self.message_bar.show_message(
                "The queue is paused: ImageFX wants you to sign in again. It carries on after you do.", "error",
                [("Sign in again", self.open_sign_in), ("Show queue", self.show_queue)])
        elif s.outcome is RunOutcome.FINISHED and (s.done or s.failed):
            kind = "warning" if s.failed else "success"
            actions = [("Show queue", self.show_queue)] if s.failed else []
            self.message_bar.show_message(s.message, kind, actions, timeout_ms=0 if s.failed else 8000)
        elif s.outcome is RunOutcome.STOPPED:
            self.statusBar().showMessage("Queue stopped.", 4000)

    # --- image drops on the prompt editor --------------------------------------------------------

    def fill_from_image(self: MainWindow, path: str) -> None:
        """Prompt, seed, model and aspect ratio from an image's ``parameters`` (read on the worker)."""
        name = Path(path).name

        def read() -> object:
            from core.export import read_parameters

            return read_parameters(path)

        def done(params: Any) -> None:
            if params is None or not params.prompt:
                self.editor.show_status(f"{name} carries no prompt or seed (no “parameters” text in it).")
                return
            self.editor.apply_parameters(params, name)

        self.worker.run(read, on_success=done, on_failure=lambda e: self.editor.show_status(str(e)), owner=self,
                        name="read image parameters")

    # --- .txt drops on the window ---------------------------------------------------------------

    def dragEnterEvent(self: MainWindow, event: QDragEnterEvent) -> None:
        if prompt_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self: MainWindow, event: QDragMoveEvent) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self: MainWindow, event: QDropEvent) -> None:
        files = prompt_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.add_prompt_files(files)

    # --- export ---------------------------------------------------------------------------------

    def export_images(self: MainWindow) -> None:
        """The selected images, or everything the gallery's search and filter show."""
        if self.export_dialog is not None and self.export_dialog.task_token is not None:
            self.export_dialog.raise_()
            return
        m = self.model
        folder = self.gui.get("export/last_dir") or str(Path.home() / "Pictures" / "ImageFX")
        dlg = ExportDialog(self.ctx, selected=self.selected(), first=m.record(0), search=m.search,
                           favorites_only=m.favorites_only, total=m.total, folder=folder, filter_text=m.filter_text,
                           template=self.gui.get("export/template"), parent=self)
        dlg.exported.connect(lambda r, d=dlg: self._exported(d, r))
        self.export_dialog = dlg
        present(dlg)

    def _exported(self: MainWindow, dlg: ExportDialog, r: ExportResult) -> None:
        self.gui.set("export/last_dir", dlg.folder.text().strip())
        self.gui.set("export/template", dlg.template.text())
        self.message_bar.show_message(r.message, "success" if r.files else "warning",
                                      [("Open folder", lambda d=r.directory: open_folder(d))], timeout_ms=10_000)

    # --- web library import ---------------------------------------------------------------------

    def import_web_library(self: MainWindow) -> None:
        if self.import_dialog is not None and self.import_dialog.running:
            self.import_dialog.show()
            self.import_dialog.raise_()
            return
        dlg = WebImportDialog(self.ctx, self, **self.import_timing)
        dlg.image_imported.connect(self._web_image)
        dlg.finished_import.connect(self._web_import_done)
        dlg.failed_import.connect(lambda e: self.statusBar().showMessage("The import stopped with an error.", 5000))
        self.import_dialog = dlg
        present(dlg)  # it asks what to import first (new only, at most N, or a full rescan)

    def _web_image(self: MainWindow, record: ImageRecord) -> None:
        if not self.model.filtered:  # else the gallery's next check brings those the filter matches
            self.model.merge([record])  # at its place by date, as it arrives; the selection stays put

    def _web_import_done(self: MainWindow, s: ImportSummary) -> None:
        if s.outcome is RunOutcome.SIGN_IN:
            self.cookie_rejected()
            self.message_bar.show_message(s.message, "error", [("Sign in again", self.open_sign_in)])
            return
        if s.outcome is RunOutcome.STALLED:  # the listing never ended: what came in is kept
            self.message_bar.show_message(s.message, "warning", timeout_ms=0)
            return
        self.message_bar.show_message(s.message, "success", timeout_ms=10_000)
        self.statusBar().showMessage(s.message, 8000)
