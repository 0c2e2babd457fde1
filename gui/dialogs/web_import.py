"""Import the ImageFX web library: progress while it runs, Stop, the summary at the end.

``WebImporter.run`` pages through the account's library on the worker (one long-running
task) and stores each image it does not have yet; every stored image comes back as an
event, so the window puts it in the gallery as it arrives. Stop ends the run after the
image being fetched, and the next import goes on from the page it stopped at.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from core.service.control import RunControl
from core.service.webimport import (
    IMAGE_IMPORTED,
    IMAGE_SKIPPED,
    PAUSED,
    RESUMED,
    WAITING,
    ImportEvent,
    ImportSummary,
    WebImporter,
)
from gui import icons
from gui.context import AppContext
from gui.errors import view_for


class WebImportDialog(QDialog):
    image_imported = Signal(object)  # ImageRecord, for the gallery
    finished_import = Signal(object)  # ImportSummary
    failed_import = Signal(object)  # the exception
    _event = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, **timing: float) -> None:
        """``timing``: WebImporter's knobs (backoff, probe_interval); tests make waits short."""
        super().__init__(parent)
        self.ctx = ctx
        self.timing = timing
        self.control: RunControl | None = None
        self.last: ImportEvent | None = None
        self.setWindowTitle("Import ImageFX web library")
        self.setModal(False)
        self.setAccessibleName("Import ImageFX web library")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        title = QLabel("Importing your ImageFX library")
        title.setObjectName("heading")
        layout.addWidget(title)
        note = QLabel("Images you made on labs.google come into the gallery with their prompts, seeds and dates, "
                      "newest first. Images already here are skipped; a stopped import goes on from where it "
                      "stopped.")
        note.setObjectName("subtle")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.progress = QProgressBar()
        self.progress.setObjectName("taskProgress")
        self.progress.setRange(0, 0)
        self.progress.setFixedHeight(6)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Import progress")
        layout.addWidget(self.progress)
        self.counts = QLabel("Starting…")
        self.counts.setAccessibleName("Imported so far")
        layout.addWidget(self.counts)
        self.status = QLabel()
        self.status.setObjectName("subtle")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Import status")
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop the import")
        self.stop_button.setToolTip("Stop after the current image; the next import goes on from here")
        icons.bind(self.stop_button, "cancel")
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self._event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        return self.control is not None

    def start(self, *, full: bool = False) -> None:
        if self.control is not None:
            return
        control = RunControl()
        self.control = control
        timing = dict(self.timing)
        self.counts.setText("Starting…")
        self.status.setText("")
        self.stop_button.setEnabled(True)

        def emit(e: ImportEvent) -> None:  # on the worker thread
            if shiboken6.isValid(self):
                self._event.emit(e)

        def run(svc: object) -> ImportSummary:
            return WebImporter(svc, **timing).run(full=full, on_event=emit, control=control)  # type: ignore[arg-type]

        self.ctx.call(run, on_success=self._done, on_failure=self._failed, owner=self, name="web import",
                      long_running=True)

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.stop_button.setEnabled(False)
            self.status.setText("Stopping after the current image…")

    def _on_event(self, e: ImportEvent) -> None:
        if self.control is None:
            return
        self.last = e
        p = e.progress
        page = p.pages + 1
        self.counts.setText(f"{p.imported:,} imported · {p.already:,} already here"
                            + (f" · {p.skipped:,} could not be fetched" if p.skipped else "")
                            + f" · page {page:,}")
        if e.kind == IMAGE_IMPORTED and e.image is not None:
            self.image_imported.emit(e.image)
        elif e.kind == WAITING:
            self.status.setText(f"ImageFX asks to slow down — waiting {e.wait_seconds or 0:.0f} s.")
        elif e.kind == PAUSED and e.reason == "network":
            self.status.setText("Offline: ImageFX cannot be reached. The import carries on when it answers.")
        elif e.kind in (RESUMED, IMAGE_SKIPPED):
            self.status.setText(e.message if e.kind == IMAGE_SKIPPED else "")

    def _done(self, summary: ImportSummary) -> None:
        self.control = None
        self.finished_import.emit(summary)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.control = None
        self.progress.setRange(0, 1)
        self.status.setText(view_for(exc).text)
        self.stop_button.setText("Close")
        self.stop_button.setEnabled(True)
        self.stop_button.clicked.disconnect()
        self.stop_button.clicked.connect(self.reject)
        self.failed_import.emit(exc)

    def reject(self) -> None:
        """Esc or the close button: the import stops too (what it stored stays)."""
        self.stop()
        super().reject()
