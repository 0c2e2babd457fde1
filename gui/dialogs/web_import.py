"""Import the ImageFX web library: first what to import, then progress, Stop, the summary at the end.

Opening the dialog starts nothing: it asks first, new images only (optionally at most N) or a
full rescan (which brings back images deleted from the gallery), and says where the last
import stopped. ``WebImporter.run`` pages through the account's library on the worker (one long-running
task) and stores each image it does not have yet; every stored image comes back as an
event, so the window puts it in the gallery as it arrives. Stop ends the run after the
image being fetched, and the next import goes on from the page it stopped at.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

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
from gui.widgets.countdown import Countdown

DEFAULT_LIMIT = 200


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
        self.title = QLabel("Import your ImageFX library")
        self.title.setObjectName("heading")
        layout.addWidget(self.title)
        note = QLabel("Images you made on labs.google come into the gallery with their prompts, seeds and dates, "
                      "newest first. Images already here are skipped; a stopped import goes on from where it "
                      "stopped.")
        note.setObjectName("subtle")
        note.setWordWrap(True)
        layout.addWidget(note)
        # What to import: asked before anything starts.
        self.options = QWidget()
        ol = QVBoxLayout(self.options)
        ol.setContentsMargins(0, 4, 0, 4)
        ol.setSpacing(6)
        self.new_only = QRadioButton("New images only")
        self.new_only.setChecked(True)
        self.full = QRadioButton("Everything again — a full rescan; images deleted from the gallery come back")
        self.full.setAccessibleName("Full rescan")
        group = QButtonGroup(self)
        group.addButton(self.new_only)
        group.addButton(self.full)
        limit_row = QHBoxLayout()
        limit_row.setContentsMargins(24, 0, 0, 0)
        self.use_limit = QCheckBox("At most")
        self.use_limit.setChecked(True)
        self.limit = QSpinBox()
        self.limit.setRange(1, 100_000)
        self.limit.setValue(DEFAULT_LIMIT)
        self.limit.setSuffix(" images")
        self.limit.setAccessibleName("At most this many images")
        self.use_limit.toggled.connect(self.limit.setEnabled)
        limit_row.addWidget(self.use_limit)
        limit_row.addWidget(self.limit)
        limit_row.addStretch(1)
        ol.addWidget(self.new_only)
        ol.addLayout(limit_row)
        ol.addWidget(self.full)
        self.last_run = QLabel()
        self.last_run.setObjectName("subtle")
        self.last_run.setWordWrap(True)
        self.last_run.setAccessibleName("The last import")
        self.last_run.hide()
        ol.addWidget(self.last_run)
        layout.addWidget(self.options)
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
        self.wait = Countdown(self.status)
        self.progress.hide()
        self.counts.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.cancel_button)
        self.start_button = QPushButton("Start import")
        self.start_button.setObjectName("primary")
        self.start_button.setDefault(True)
        icons.bind(self.start_button, "cloud-download", "#ffffff")
        self.start_button.clicked.connect(self._start_clicked)
        buttons.addWidget(self.start_button)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop the import")
        self.stop_button.setToolTip("Stop after the current image; the next import goes on from here")
        icons.bind(self.stop_button, "cancel")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self._event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        QTimer.singleShot(0, self, self._load_last_run)

    def _load_last_run(self) -> None:
        """Where the last import of the current account stopped (read on the worker)."""
        def state(svc: object) -> object:
            email = svc.current_email()  # type: ignore[attr-defined]
            return WebImporter(svc).state(email) if email else None  # type: ignore[arg-type]

        self.ctx.call(state, on_success=self._show_last_run, on_failure=lambda _e: None, owner=self,
                      name="web import state")

    def _show_last_run(self, rec: object) -> None:
        if rec is None or self.running:
            return
        done = getattr(rec, "completed_at", None)
        pages, imported = getattr(rec, "pages_done", 0), getattr(rec, "images_imported", 0)
        if done is not None and getattr(rec, "next_cursor", None) is None:
            text = f"The last import finished on {done.astimezone():%Y-%m-%d %H:%M} ({imported:,} images)."
        else:
            text = (f"The last import stopped after {pages:,} page{'s' if pages != 1 else ''} ({imported:,} images); "
                    "“New images only” goes on from there.")
        self.last_run.setText(text)
        self.last_run.show()

    def _start_clicked(self) -> None:
        full = self.full.isChecked()
        limit = self.limit.value() if self.new_only.isChecked() and self.use_limit.isChecked() else None
        self.start(full=full, limit=limit)

    @property
    def running(self) -> bool:
        return self.control is not None

    def start(self, *, full: bool = False, limit: int | None = None) -> None:
        """Start the import (the Start button, with the options chosen)."""
        if self.control is not None:
            return
        control = RunControl()
        self.control = control
        timing = dict(self.timing)
        self.title.setText("Importing your ImageFX library")
        self.options.hide()
        self.start_button.hide()
        self.cancel_button.hide()
        self.progress.show()
        self.counts.show()
        self.stop_button.show()
        self.counts.setText("Starting…")
        self.status.setText("")
        self.stop_button.setEnabled(True)
        self.stop_button.setFocus()

        def emit(e: ImportEvent) -> None:  # on the worker thread
            if shiboken6.isValid(self):
                self._event.emit(e)

        def run(svc: object) -> ImportSummary:
            return WebImporter(svc, **timing).run(full=full, limit=limit, on_event=emit,  # type: ignore[arg-type]
                                                  control=control)

        self.ctx.call(run, on_success=self._done, on_failure=self._failed, owner=self, name="web import",
                      long_running=True)

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.wait.stop()
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
        if e.kind != WAITING:
            self.wait.stop()
        if e.kind == IMAGE_IMPORTED and e.image is not None:
            self.image_imported.emit(e.image)
        elif e.kind == WAITING:
            what = "ImageFX asks to slow down" if e.reason == "rate_limit" else "ImageFX had a problem"
            self.wait.start(e.wait_seconds or 0, what + " — carrying on {when}. Stop ends the import here.")
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
        self.wait.stop()
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
