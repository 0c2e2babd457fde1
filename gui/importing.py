"""Image files dropped on the gallery come into the library (the core's ``import-files``).

A file manager's drop of PNG/JPEG files or folders on the gallery runs
:class:`core.service.file_import.FileImporter` on the worker: the images appear in the gallery
as the import finishes, and the message bar says how many came in, how many were there
already, and why the others did not (a "Why not?" button lists each file with its reason).
Drags that start in the app itself (a thumbnail dragged across the gallery) are not imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QEvent, QMimeData, QObject, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from core.service.file_import import FileImportProgress, FileImportSummary
    from gui.widgets.main_window import MainWindow

SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe")


def dropped_paths(mime: QMimeData) -> list[Path]:
    """Local image files and folders in a drag (what import-files takes)."""
    if not mime.hasUrls():
        return []
    out = []
    for url in mime.urls():
        if url.isLocalFile():
            p = Path(url.toLocalFile())
            if p.suffix.lower() in SUFFIXES or p.is_dir():
                out.append(p)
    return out


class GalleryDropImport(QObject):
    """Watches the gallery's viewport for file drops; one import at a time."""

    progress = Signal(object)  # FileImportProgress, from the worker thread (queued to the UI thread)
    finished = Signal(object)  # FileImportSummary, after the gallery has the new images

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.running = False
        self.last: FileImportSummary | None = None
        view = window.gallery.view
        view.viewport().setAcceptDrops(True)  # the view stays DragOnly for its own items
        view.viewport().installEventFilter(self)
        self.progress.connect(self._show_progress)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return False
        drag: QDragEnterEvent | QDropEvent = event  # type: ignore[assignment]
        paths = dropped_paths(drag.mimeData()) if drag.source() is None else []
        if not paths:
            return False  # the view's own handling (it refuses drops: DragOnly)
        drag.acceptProposedAction()
        if kind == QEvent.Type.Drop:
            self.import_paths(paths)
        return True

    def import_paths(self, paths: list[Path]) -> None:
        w = self.window
        if self.running:
            w.statusBar().showMessage("An import is running; drop the files again when it has finished.", 5000)
            return
        self.running = True
        w.statusBar().showMessage(f"Importing {len(paths)} dropped item{'s' if len(paths) != 1 else ''}…")

        def run(service: object) -> FileImportSummary:
            from core.service.file_import import FileImporter

            return FileImporter(service).run(paths, on_progress=self.progress.emit)  # type: ignore[arg-type]

        w.ctx.call(run, on_success=self._done, on_failure=self._failed, owner=self, name="import dropped files")

    def _show_progress(self, p: FileImportProgress) -> None:
        if shiboken6.isValid(self.window):
            self.window.statusBar().showMessage(f"Importing files: {p.done} of {p.total}…")

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        self.window.statusBar().clearMessage()
        self.window.show_error(exc)

    def _done(self, summary: FileImportSummary) -> None:
        from core.service.file_import import Outcome

        self.running = False
        self.last = summary
        w = self.window
        w.statusBar().clearMessage()
        w.ctx.announce(summary.changes)  # every view merges the new images in (core/changes.py)
        rejected = summary.rejected
        text = summary.message
        if len(rejected) == 1:
            text += f" {rejected[0].path.name}: {rejected[0].reason}"
        actions = [("Why not?", self.show_reasons)] if len(rejected) > 1 else []
        kind = "success" if not rejected else ("warning" if summary.count(Outcome.IMPORTED) else "error")
        w.message_bar.show_message(text, kind, actions, timeout_ms=0 if rejected else 8000)
        self.finished.emit(summary)

    def show_reasons(self) -> None:
        if self.last is None:
            return
        lines = [f"{r.path.name}: {r.reason}" for r in self.last.rejected]
        box = QMessageBox(QMessageBox.Icon.Information, "Files not imported",
                          f"{len(lines)} file{'s were' if len(lines) != 1 else ' was'} not imported.",
                          QMessageBox.StandardButton.Close, self.window)
        box.setObjectName("importReasons")
        box.setDetailedText("\n".join(lines))
        box.setInformativeText("\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else ""))
        box.finished.connect(box.deleteLater)
        box.open()
