"""Export images with their parameters inside: one, a selection, or the gallery's whole result.

Runs ``Exporter.export`` on the worker: every file carries its prompt, seed, model and
aspect ratio (PNG ``parameters``, JPEG EXIF), and ``metadata.jsonl`` lists them all. The
file name template shows the name the first file will get as it is typed, and refuses a
template the core would refuse. Progress arrives from the worker thread as a queued signal.
Not modal: the gallery stays usable while a large export runs.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core import export
from core.cancel import CancelToken
from core.service.exporter import ExportProgress, ExportResult
from core.store import ImageRecord
from gui import icons
from gui.context import AppContext
from gui.errors import view_for

FIELDS_HELP = "Fields: " + "  ".join("{" + f + "}" for f in export.TEMPLATE_FIELDS) + "   ({prompt:40}: 40 characters)"


def preview_name(template: str, record: ImageRecord | None) -> str:
    """The name the first file gets (the extension from its type); ValueError for a bad template."""
    export.check_template(template)
    if record is None:
        return ""
    ext = ".jpg" if (record.mime_type or "").endswith(("jpeg", "jpg")) else ".png"
    return export.render_stem(template, export.template_values(record)) + ext


class ExportDialog(QDialog):
    exported = Signal(object)  # ExportResult
    _progress = Signal(object)

    def __init__(self, ctx: AppContext, *, selected: list[ImageRecord], first: ImageRecord | None, search: str,
                 favorites_only: bool, total: int, folder: str, template: str, filter_text: str = "",
                 parent: QWidget | None = None) -> None:
        """``first``: the gallery's first image (the preview for "all"); ``total``: how many match
        the gallery's filter (-1 when not counted yet)."""
        super().__init__(parent)
        self.ctx = ctx
        self.selected = selected
        self.first = first
        self.search = search
        self.filter_text = filter_text  # the gallery's filter (search box, board): "all" means what it shows
        self.favorites_only = favorites_only
        self.total = total
        self.task_token: CancelToken | None = None
        self.result: ExportResult | None = None
        self.setWindowTitle("Export images")
        self.setModal(False)
        self.setAccessibleName("Export images")
        self.setMinimumWidth(600)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        title = QLabel("Export images with their prompts")
        title.setObjectName("heading")
        layout.addWidget(title)
        note = QLabel("Each file keeps its prompt, seed, model and aspect ratio inside (PNG “parameters”, "
                      "readable by AUTOMATIC1111's PNG Info); metadata.jsonl in the folder lists them all.")
        note.setObjectName("subtle")
        note.setWordWrap(True)
        layout.addWidget(note)

        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(10)
        scope = QVBoxLayout()
        scope.setSpacing(4)
        self.scope = QButtonGroup(self)
        n = len(selected)
        self.selected_radio = QRadioButton(
            "The selected image" if n == 1 else f"The {n} selected images")
        self.selected_radio.setEnabled(n > 0)
        self.all_radio = QRadioButton(self._all_label())
        self.all_radio.setEnabled(total != 0)
        for i, rb in enumerate((self.selected_radio, self.all_radio)):
            self.scope.addButton(rb, i)
            scope.addWidget(rb)
        (self.selected_radio if n else self.all_radio).setChecked(True)
        form.addRow("Export", scope)

        folder_row = QHBoxLayout()
        self.folder = QLineEdit(folder)
        self.folder.setAccessibleName("Folder")
        self.folder.setPlaceholderText("Choose a folder…")
        browse = QPushButton("Browse…")
        browse.setAccessibleName("Choose the folder")
        icons.bind(browse, "folder")
        browse.clicked.connect(self._browse)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        form.addRow("Folder", folder_row)

        names = QVBoxLayout()
        names.setSpacing(4)
        self.template = QLineEdit(template or export.DEFAULT_TEMPLATE)
        self.template.setAccessibleName("File name template")
        names.addWidget(self.template)
        self.preview = QLabel()
        self.preview.setObjectName("subtle")
        self.preview.setAccessibleName("First file name")
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview.setWordWrap(True)
        names.addWidget(self.preview)
        fields = QLabel(FIELDS_HELP)
        fields.setObjectName("subtle")
        fields.setWordWrap(True)
        names.addWidget(fields)
        form.addRow("File names", names)
        self.captions = QCheckBox("Captions as .txt beside the images")
        self.captions.setChecked(True)
        self.captions.setAccessibleName("Write captions as text files")
        self.captions.setToolTip("An image captioned in the Captions tab gets its caption as NAME.txt next to it "
                                 "(as training tools and taggui read them); images without one get none")
        form.addRow("Captions", self.captions)
        layout.addLayout(form)
        layout.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setObjectName("taskProgress")
        self.progress.setFixedHeight(6)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Export progress")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = QLabel()
        self.status.setObjectName("subtle")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Export status")
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel export")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("primary")
        self.export_button.setAccessibleName("Export")
        self.export_button.setDefault(True)
        icons.bind(self.export_button, "export", "#ffffff")
        self.export_button.clicked.connect(self.start)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout.addLayout(buttons)

        self._progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self.template.textChanged.connect(self._update_preview)
        self.folder.textChanged.connect(self._update_preview)
        self.scope.idToggled.connect(lambda _i, _on: self._update_preview())
        self._update_preview()

    def _all_label(self) -> str:
        n = "" if self.total < 0 else f"{self.total:,} "
        what = "favourite" if self.favorites_only else "image"
        plural = "s" if self.total != 1 else ""
        shown = " ".join(t for t in (self.search, self.filter_text) if t)
        if shown:
            return f"All {n}{what}{plural} matching “{shown}”"
        return f"All {n}{what}{plural} in the gallery" if not self.favorites_only else f"All {n}{what}{plural}"

    @property
    def exporting_selection(self) -> bool:
        return self.selected_radio.isChecked()

    def _update_preview(self) -> None:
        first = self.selected[0] if self.exporting_selection and self.selected else self.first
        try:
            name = preview_name(self.template.text(), first)
        except ValueError as exc:
            self.preview.setText(f"⚠ {exc}")
            self.preview.setObjectName("captionReject")
            ok = False
        else:
            self.preview.setText(f"First file: {name}" if name else "")
            self.preview.setObjectName("subtle")
            ok = True
        self.preview.style().unpolish(self.preview)
        self.preview.style().polish(self.preview)
        running = self.task_token is not None
        something = bool(self.selected) if self.exporting_selection else self.total != 0
        self.export_button.setEnabled(ok and something and bool(self.folder.text().strip()) and not running)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text() or str(Path.home()))
        if folder:
            self.folder.setText(folder)

    # --- running -------------------------------------------------------------------------------

    def start(self) -> None:
        folder = Path(self.folder.text().strip()).expanduser()
        template = self.template.text()
        ids = [r.id for r in self.selected] if self.exporting_selection else None
        search, fav, flt = self.search, self.favorites_only, self.filter_text
        token = CancelToken()
        self.task_token = token
        total = len(ids) if ids is not None else max(self.total, 0)
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Exporting…")
        self._update_preview()

        captions = self.captions.isChecked()

        def emit(p: ExportProgress) -> None:  # on the worker thread
            if shiboken6.isValid(self):
                self._progress.emit(p)

        def run(svc: object) -> ExportResult:
            from core.service.exporter import Exporter

            return Exporter(svc).export(folder, image_ids=ids, search=None if ids is not None else search,  # type: ignore[arg-type]
                                        template=template, on_progress=emit, cancel=token,
                                        favorites_only=fav if ids is None else False, captions=captions,
                                        filter=flt if ids is None else "")

        self.ctx.call(run, on_success=self._done, on_failure=self._failed, owner=self, name="export")

    def _on_progress(self, p: ExportProgress) -> None:
        if self.task_token is None:
            return
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self.status.setText(f"Exported {p.done:,} of {p.total:,}" + (f" — {p.file.path.name}" if p.file else ""))

    def _done(self, result: ExportResult) -> None:
        self.task_token = None
        self.result = result
        self.exported.emit(result)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.task_token = None
        self.progress.hide()
        self.status.setText(view_for(exc).text if not isinstance(exc, OSError) else
                            f"The images could not be exported: {exc.strerror or exc}.")
        self._update_preview()

    def cancel(self) -> None:
        """During an export: stop after the file being written (what is written stays). Else: close."""
        if self.task_token is not None:
            self.task_token.cancel()
            self.status.setText("Stopping…")
            return
        self.reject()

    def reject(self) -> None:
        if self.task_token is not None:  # Esc or the close button while exporting: stop it too
            self.task_token.cancel()
        super().reject()


def open_folder(path: Path) -> None:
    from PySide6.QtCore import QUrl

    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
