"""Caption images: drop, paste or browse; see each preview with its captions; reuse one.

Files are captioned one after another (kinder to the account's rate limit than all at
once). Each file gets a card; a file that is not a usable image gets a one-line reason
and the rest of the batch carries on. Every file goes through the core's one caption path
(:meth:`core.service.Service.caption_file`: the bounded reader, the size and pixel limits,
SVGs drawn without scripts and refused when they point at other files), on the worker with
the caption call, so a large drop never stalls the window. The card's preview is the image
as it was sent.

Captions are editable on their card ("Edit", then Save or Ctrl+Enter; Esc cancels): the edit is
stored (:meth:`core.service.Service.update_caption`), and for a library image (captioned from the
gallery) the newest caption is what Export writes beside it as ``.txt``. "Caption a folder…" puts
a folder's images through the same queue, with a progress bar and each reject's reason on its card.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core import images
from core.imagefx import protocol
from core.service import CaptionResult, Service
from gui import icons
from gui.context import AppContext
from gui.errors import view_for
from gui.export import decode_image, image_to_png
from gui.models.caption_history_model import CaptionHistoryModel, CaptionRole
from gui.models.gallery_model import image_ids_from
from gui.widgets.caption_history_delegate import CaptionHistoryDelegate
from gui.widgets.flow_layout import FlowLayout

PREVIEW = 112
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.jpe *.gif *.webp *.bmp *.tif *.tiff *.svg *.avif);;All files (*)"


@dataclass
class CaptionJob:
    name: str  # shown on the card, stored as image_path
    path: Path | None = None
    data: bytes | None = None
    image: QImage | None = None  # pasted pixels
    count: int = 3
    image_id: int | None = None  # a library image (captioned as that image's, for export)


@dataclass(frozen=True)
class JobResult:
    result: CaptionResult
    preview: QImage


def caption_job(service: Service, job: CaptionJob) -> JobResult:
    """One card's work: a file through the core's caption path, or pasted pixels as PNG bytes."""
    if job.image_id is not None:
        result = service.caption_image(job.image_id, count=job.count)
    elif job.path is not None:
        result = service.caption_file(job.path, count=job.count)
    else:
        data = job.data if job.data is not None else image_to_png(job.image) if job.image is not None else b""
        result = service.caption_bytes(data, job.name, count=job.count)
    preview = decode_image(result.sent)
    if not preview.isNull():
        preview = preview.scaled(PREVIEW * 2, PREVIEW * 2, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
    return JobResult(result, preview)


class CaptionCard(QFrame):
    """One file: preview, name, and its captions (or why it was rejected)."""

    use_as_prompt = Signal(str)
    copied = Signal(str)
    save_requested = Signal(object, int, str)  # the card, which caption (0-based), the new text

    def __init__(self, name: str, parent: QWidget | None = None, title: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.name = name
        self.captions: list[str] = []
        self.caption_ids: list[int | None] = []
        self.labels: list[QLabel] = []
        self.editors: list[QPlainTextEdit] = []
        self._edit_rows: list[QWidget] = []
        self._view_rows: list[QWidget] = []
        self.rejected = ""
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(12)
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setPixmap(icons.icon("image").pixmap(40, 40))
        layout.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        self.body = QVBoxLayout()
        self.body.setSpacing(6)
        self.title = QLabel(title or (Path(name).name if "/" in name or "\\" in name else name))
        self.title.setObjectName("heading")
        self.title.setWordWrap(True)  # a long file name wraps instead of widening the panel
        self.title.setToolTip(name)
        self.body.addWidget(self.title)
        self.status = QLabel("Waiting…")
        self.status.setObjectName("subtle")
        self.status.setWordWrap(True)
        self.status.setAccessibleName(f"Status of {self.title.text()}")
        self.body.addWidget(self.status)
        self.body.addStretch(1)
        layout.addLayout(self.body, 1)
        self.setAccessibleName(f"Captions for {self.title.text()}")

    def working(self) -> None:
        self.status.setText("Captioning…")

    def show_result(self, res: JobResult) -> None:
        if not res.preview.isNull():
            pm = QPixmap.fromImage(res.preview)
            pm.setDevicePixelRatio(2)
            self.preview.setPixmap(pm)
        self.captions = list(res.result.captions)
        note = " (downscaled before upload)" if res.result.downscaled else ""
        n = len(self.captions)
        self.status.setText(f"{n} caption{'s' if n != 1 else ''} · {res.result.image_type.upper()}{note}")
        self.body.takeAt(self.body.count() - 1)  # the stretch
        ids = [r.id for r in res.result.records]
        self.caption_ids = [ids[i] if i < len(ids) else None for i in range(n)]
        for i, text in enumerate(self.captions):
            self.body.addLayout(self._caption_row(i, text))
        self.body.addStretch(1)

    def _caption_row(self, i: int, text: str) -> QVBoxLayout:
        """One caption: its text with Copy, Edit and Use as prompt under it; Edit swaps the text for an
        editor with Save and Cancel (narrow enough for a 900 px window either way)."""
        n = i + 1
        row = QVBoxLayout()
        row.setSpacing(2)
        view = QWidget()
        vl = QVBoxLayout(view)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.setSpacing(2)
        label = QLabel(text)
        label.setObjectName("captionText")
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setAccessibleName(f"Caption {n}")
        vl.addWidget(label)
        copy = QToolButton()
        copy.setToolTip("Copy this caption")
        copy.setAccessibleName(f"Copy caption {n}")
        icons.bind(copy, "copy")
        copy.clicked.connect(lambda _=False, k=i: self._copy(self.captions[k]))
        edit = QToolButton()
        icons.bind(edit, "edit")
        edit.setToolTip("Change this caption (it is stored; a library image's caption is exported as .txt)")
        edit.setAccessibleName(f"Edit caption {n}")
        edit.setEnabled(self.caption_ids[i] is not None)
        edit.clicked.connect(lambda _=False, k=i: self.start_edit(k))
        use = QToolButton()
        use.setText("Use as prompt")
        use.setToolTip("Put this caption into the prompt editor")
        use.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        use.setAccessibleName(f"Use caption {n} as prompt")
        icons.bind(use, "remix")
        use.clicked.connect(lambda _=False, k=i: self.use_as_prompt.emit(self.captions[k]))
        buttons = FlowLayout(spacing=6)  # wraps on a narrow card rather than widening the window
        buttons.addWidget(copy)
        buttons.addWidget(edit)
        buttons.addWidget(use)
        vl.addLayout(buttons)
        row.addWidget(view)

        editing = QWidget()
        el = QVBoxLayout(editing)
        el.setContentsMargins(0, 0, 0, 0)
        el.setSpacing(2)
        editor = _CaptionEditor()
        editor.setAccessibleName(f"Caption {n}, editing")
        editor.save.connect(lambda k=i: self._save(k))
        editor.cancel.connect(lambda k=i: self.stop_edit(k))
        el.addWidget(editor)
        save = QToolButton()
        save.setText("Save")
        save.setToolTip("Store the caption (Ctrl+Enter)")
        save.setAccessibleName(f"Save caption {n}")
        save.clicked.connect(lambda _=False, k=i: self._save(k))
        cancel = QToolButton()
        cancel.setText("Cancel")
        cancel.setToolTip("Keep the caption as it was (Esc)")
        cancel.clicked.connect(lambda _=False, k=i: self.stop_edit(k))
        eb = QHBoxLayout()
        eb.setSpacing(6)
        eb.addStretch(1)
        eb.addWidget(cancel)
        eb.addWidget(save)
        el.addLayout(eb)
        editing.hide()
        row.addWidget(editing)
        self.labels.append(label)
        self.editors.append(editor)
        self._view_rows.append(view)
        self._edit_rows.append(editing)
        return row

    def start_edit(self, i: int) -> None:
        editor = self.editors[i]
        editor.setPlainText(self.captions[i])
        self._view_rows[i].hide()
        self._edit_rows[i].show()
        editor.setFocus()
        editor.selectAll()

    def stop_edit(self, i: int) -> None:
        self._edit_rows[i].hide()
        self._view_rows[i].show()

    def editing(self, i: int) -> bool:
        return self._edit_rows[i].isVisible() or not self._edit_rows[i].isHidden()

    def _save(self, i: int) -> None:
        text = self.editors[i].toPlainText().strip()
        if text == self.captions[i]:
            self.stop_edit(i)
            return
        self.save_requested.emit(self, i, text)

    def caption_saved(self, i: int, text: str) -> None:
        self.captions[i] = text
        self.labels[i].setText(text)
        self.stop_edit(i)

    def show_rejection(self, reason: str) -> None:
        self.rejected = reason
        self.preview.setFixedSize(PREVIEW, 28)  # a rejected file needs one line, not a preview
        self.preview.setPixmap(icons.icon("warning").pixmap(22, 22))
        self.status.setObjectName("captionReject")
        self.status.setText(reason)
        self.status.setToolTip(reason)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def _copy(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)


class _CaptionEditor(QPlainTextEdit):
    """A caption being edited: a few lines high, Ctrl+Enter saves, Esc cancels."""

    save = Signal()
    cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setMinimumWidth(60)  # the card's width rules, never the editor's
        lines = 4
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 14)

    def keyPressEvent(self, event: object) -> None:  # QKeyEvent
        key, mods = event.key(), event.modifiers()  # type: ignore[attr-defined]
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods & Qt.KeyboardModifier.ControlModifier:
            self.save.emit()
            return
        if key == Qt.Key.Key_Escape:
            self.cancel.emit()
            return
        super().keyPressEvent(event)  # type: ignore[arg-type]


class DropZone(QFrame):
    """The target for dropped files and images; also accepts drops on the whole panel."""

    dropped_paths = Signal(list)
    dropped_image = Signal(QImage)
    dropped_library = Signal(list)  # image ids: thumbnails dragged from the gallery

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setAcceptDrops(True)
        self.setAccessibleName("Drop images to caption")
        self.setMinimumHeight(130)

    def _set_active(self, on: bool) -> None:
        self.setProperty("active", "true" if on else "false")
        self.style().unpolish(self)
        self.style().polish(self)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        md = event.mimeData()
        if md.hasUrls() or md.hasImage() or image_ids_from(md):
            event.acceptProposedAction()
            self._set_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_active(False)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_active(False)
        md = event.mimeData()
        ids = image_ids_from(md)
        if ids:  # the gallery's own images: captioned as theirs (exported beside them), not as temp files
            self.dropped_library.emit(ids)
            event.acceptProposedAction()
            return
        paths = [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]
        if paths:
            self.dropped_paths.emit(paths)
            event.acceptProposedAction()
        elif md.hasImage():
            img = QImage(md.imageData())
            if not img.isNull():
                self.dropped_image.emit(img)
                event.acceptProposedAction()


class CaptionPanel(QWidget):
    use_as_prompt = Signal(str)
    status_message = Signal(str)
    error = Signal(object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setAccessibleName("Caption panel")
        self.queue: deque[tuple[CaptionJob, CaptionCard]] = deque()
        self.cards: list[CaptionCard] = []
        self._running = False
        self._batch_start = 0  # cards before the current batch (the progress bar counts from there)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.splitter)

        # --- left: drop zone and this batch's results ---
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(14, 12, 14, 12)
        ll.setSpacing(10)
        self.drop = DropZone()
        dz = QVBoxLayout(self.drop)
        dz.setContentsMargins(16, 14, 16, 14)
        icon = QLabel()
        icon.setPixmap(icons.icon("upload").pixmap(32, 32))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        dz.addWidget(icon)
        hint = QLabel("Drop images here to caption them — or paste one (Ctrl+Shift+V), or browse")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        dz.addWidget(hint)
        row = FlowLayout(spacing=8, centred=True)  # wraps in a narrow window instead of clipping the buttons
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setAccessibleName("Browse for images to caption")
        icons.bind(self.browse_button, "folder")
        self.paste_button = QPushButton("Paste image")
        self.paste_button.setAccessibleName("Paste image to caption")
        icons.bind(self.paste_button, "paste")
        self.folder_button = QPushButton("Caption a folder…")
        self.folder_button.setAccessibleName("Caption every image in a folder")
        icons.bind(self.folder_button, "folder")
        row.addWidget(self.browse_button)
        row.addWidget(self.folder_button)
        row.addWidget(self.paste_button)
        count_label = QLabel("Captions per image")
        count_label.setObjectName("fieldLabel")
        self.count = QSpinBox()
        self.count.setRange(protocol.MIN_COUNT, protocol.MAX_COUNT)
        self.count.setValue(max(protocol.MIN_COUNT, min(protocol.MAX_COUNT, int(ctx.gui.get("caption/count")))))
        self.count.setAccessibleName("Captions per image")
        count_label.setBuddy(self.count)
        per_image = QWidget()  # the label and its box stay together on one line
        pl = QHBoxLayout(per_image)
        pl.setContentsMargins(8, 0, 0, 0)
        pl.addWidget(count_label)
        pl.addWidget(self.count)
        row.addWidget(per_image)
        dz.addLayout(row)
        ll.addWidget(self.drop)

        head = QHBoxLayout()
        self.batch_label = QLabel("Results")
        self.batch_label.setObjectName("heading")
        self.batch_label.setWordWrap(True)  # "Results — 12 captioned, 3 rejected, 40 to go" wraps when narrow
        head.addWidget(self.batch_label)
        head.addStretch(1)

        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setAccessibleName("Clear caption results")
        self.clear_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        icons.bind(self.clear_button, "close")
        head.addWidget(self.clear_button)
        ll.addLayout(head)
        # On a row of its own (never widening the header): "3 of 12" while a batch is under way.
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Captioning progress")
        self.progress.setFormat("%v of %m")
        self.progress.setMinimumWidth(60)
        self.progress.hide()
        ll.addWidget(self.progress)

        self.results = QWidget()
        self.results_layout = QVBoxLayout(self.results)
        self.results_layout.setContentsMargins(0, 0, 4, 0)
        self.results_layout.setSpacing(8)
        self.empty = QLabel("Captions appear here. Each image gets its own card with a preview; "
                            "“Use as prompt” puts a caption into the prompt editor.")
        self.empty.setObjectName("emptyText")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.results_layout.addWidget(self.empty)
        self.results_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # cards fit the width
        scroll.setWidget(self.results)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll = scroll
        ll.addWidget(scroll, 1)
        self.splitter.addWidget(left)

        # --- right: history ---
        right = QFrame()
        right.setObjectName("sidebar")
        rl = QVBoxLayout(right)
        rl.setContentsMargins(14, 12, 14, 12)
        rl.setSpacing(8)
        t = QLabel("Caption history")
        t.setObjectName("heading")
        rl.addWidget(t)
        self.history_search = QLineEdit()
        self.history_search.setPlaceholderText("Search captions")
        self.history_search.setAccessibleName("Search past captions")
        self.history_search.setClearButtonEnabled(True)
        rl.addWidget(self.history_search)
        self.history = CaptionHistoryModel(ctx, self)
        self.history_view = QListView()
        self.history_view.setModel(self.history)
        self.history_view.setAccessibleName("Past captions")
        self.history_view.setItemDelegate(CaptionHistoryDelegate(self.history_view))
        self.history_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.history_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.history_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows wrap, elide
        rl.addWidget(self.history_view, 1)
        hb = FlowLayout(spacing=6)  # wraps in a narrow window instead of widening it
        self.history_copy = QPushButton("Copy")
        self.history_copy.setAccessibleName("Copy selected past caption")
        icons.bind(self.history_copy, "copy")
        self.history_use = QPushButton("Use as prompt")
        self.history_use.setAccessibleName("Use selected past caption as prompt")
        icons.bind(self.history_use, "remix")
        hb.addWidget(self.history_copy)
        hb.addWidget(self.history_use)
        rl.addLayout(hb)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([640, 360])

        self._history_timer = QTimer(self)
        self._history_timer.setSingleShot(True)
        self._history_timer.setInterval(250)
        self._history_timer.timeout.connect(lambda: self.history.reload(self.history_search.text()))
        self.history_search.textChanged.connect(lambda _t: self._history_timer.start())
        self.history_view.doubleClicked.connect(lambda _i: self._use_history())
        self.history_use.clicked.connect(self._use_history)
        self.history_copy.clicked.connect(self._copy_history)
        # Copy and Use act on the selected past caption: disabled while none is selected.
        self.history_view.selectionModel().selectionChanged.connect(lambda *_: self._history_selection())
        self.history.modelReset.connect(self._history_selection)
        self._history_selection()
        self.browse_button.clicked.connect(self.browse)
        self.folder_button.clicked.connect(self.browse_folder)
        self.paste_button.clicked.connect(self.paste)
        self.clear_button.clicked.connect(self.clear)
        self.count.valueChanged.connect(lambda v: ctx.gui.set("caption/count", v))
        self.drop.dropped_paths.connect(self.add_paths)
        self.drop.dropped_image.connect(lambda img: self.add_image(img))
        self.drop.dropped_library.connect(self.add_library_ids)
        self.setAcceptDrops(True)

    # --- drops on the whole panel go to the drop zone ------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.drop.dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self.drop.dragMoveEvent(event)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop.dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop.dropEvent(event)

    # --- input -------------------------------------------------------------------------------

    def browse(self) -> None:
        start = self.ctx.gui.get("caption/last_dir") or str(Path.home())
        paths, _ = QFileDialog.getOpenFileNames(self, "Images to caption", start, IMAGE_FILTER)
        if paths:
            self.ctx.gui.set("caption/last_dir", str(Path(paths[0]).parent))
            self.add_paths([Path(p) for p in paths])

    def paste(self) -> None:
        md = QGuiApplication.clipboard().mimeData()
        if md is not None and md.hasImage():
            img = QImage(md.imageData())
            if not img.isNull():
                self.add_image(img)
                return
        if md is not None and md.hasUrls():
            paths = [Path(u.toLocalFile()) for u in md.urls() if u.isLocalFile()]
            if paths:
                self.add_paths(paths)
                return
        self.status_message.emit("The clipboard holds no image to caption.")

    def browse_folder(self) -> None:
        start = self.ctx.gui.get("caption/last_dir") or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Caption every image in a folder", start)
        if folder:
            self.ctx.gui.set("caption/last_dir", folder)
            self.caption_folder(Path(folder))

    def caption_folder(self, folder: Path) -> int:
        """Caption every image file in ``folder`` (not its subfolders), by name; each gets its card
        (a file that is not a usable image gets its reason there). Returns how many were queued."""
        try:
            files, others = images.images_in_folder(folder)
        except OSError as exc:
            self.status_message.emit(f"Could not read the folder {folder}: {exc.strerror or exc}.")
            return 0
        if not files:
            self.status_message.emit(f"{folder} holds no image files to caption.")
            return 0
        self.add_paths(files)
        note = f"; {others} other file{'s' if others != 1 else ''} left out (not images)" if others else ""
        self.status_message.emit(f"Captioning {len(files)} image{'s' if len(files) != 1 else ''} "
                                 f"from {folder.name or folder}{note}.")
        return len(files)

    def add_paths(self, paths: list[Path]) -> None:
        for p in paths:
            self._enqueue(CaptionJob(name=str(p), path=p, count=self.count.value()))

    def add_library_images(self, records: list) -> None:  # list[ImageRecord]
        """Caption images of the gallery: their captions are kept as theirs (exported beside them)."""
        for r in records:
            words = " ".join(r.prompt.split())
            title = f"Image #{r.id}: {words[:60]}{'…' if len(words) > 60 else ''}"
            self._enqueue(CaptionJob(name=f"imagefx:{r.media_id}", image_id=r.id, count=self.count.value()),
                          title=title)

    def add_image(self, image: QImage, name: str = "") -> None:
        name = name or f"Pasted image {time.strftime('%H:%M:%S')}"
        self._enqueue(CaptionJob(name=name, image=QImage(image), count=self.count.value()))

    def add_library_ids(self, ids: list[int]) -> None:
        """Gallery images dropped here: read their records on the worker, then caption them."""
        self.ctx.call(lambda s: s.images_matching(ids, trash=False) + s.images_matching(ids, trash=True),
                      on_success=lambda records: self.add_library_images(
                          sorted(records, key=lambda r: ids.index(r.id) if r.id in ids else 0)),
                      owner=self, name="caption dropped images")

    def _enqueue(self, job: CaptionJob, title: str = "") -> None:
        self.empty.hide()
        if not self.busy:
            self._batch_start = len(self.cards)  # a new batch: the progress bar starts again
        card = CaptionCard(job.name, title=title)
        card.use_as_prompt.connect(self.use_as_prompt.emit)
        card.save_requested.connect(self._save_caption)
        card.copied.connect(lambda _t: self.status_message.emit("Caption copied."))
        self.results_layout.insertWidget(self.results_layout.count() - 1, card)
        self.cards.append(card)
        self.queue.append((job, card))
        self._update_label()
        self._next()

    def _next(self) -> None:
        if self._running or not self.queue:
            return
        job, card = self.queue.popleft()
        self._running = True
        card.working()

        def done(res: JobResult) -> None:
            if shiboken6.isValid(card):
                card.show_result(res)
            self._finished()
            self.history.reload()

        def failed(exc: BaseException) -> None:
            if shiboken6.isValid(card):
                card.show_rejection(view_for(exc).text)
            self._finished()
            # Image problems stay on their card; account or network problems also go to the bar.
            if not isinstance(exc, images.ImageError):
                self.error.emit(exc)

        self.ctx.call(lambda s: caption_job(s, job), on_success=done, on_failure=failed, owner=self,
                      name="caption")

    def _finished(self) -> None:
        self._running = False
        self._update_label()
        self._next()

    def _update_label(self) -> None:
        done = sum(1 for c in self.cards if c.captions)
        rejected = sum(1 for c in self.cards if c.rejected)
        waiting = len(self.queue) + (1 if self._running else 0)
        parts = [f"{done} captioned"]
        if rejected:
            parts.append(f"{rejected} rejected")
        if waiting:
            parts.append(f"{waiting} to go")
        self.batch_label.setText("Results — " + ", ".join(parts) if self.cards else "Results")
        batch = self.cards[self._batch_start:]
        if waiting and len(batch) > 1:
            self.progress.setRange(0, len(batch))
            self.progress.setValue(sum(1 for c in batch if c.captions or c.rejected))
            self.progress.show()
        else:
            self.progress.hide()

    def _save_caption(self, card: CaptionCard, i: int, text: str) -> None:
        caption_id = card.caption_ids[i]
        if caption_id is None:
            return

        def saved(_changes: object) -> None:
            if shiboken6.isValid(card):
                card.caption_saved(i, text)
            self.status_message.emit("Caption saved.")
            self.history.reload(self.history_search.text())

        self.ctx.op(lambda s: s.update_caption(caption_id, text), on_success=saved, owner=self,
                    name="save caption")

    def clear(self) -> None:
        """Remove finished cards (the one being captioned and those waiting stay)."""
        pending = {id(c) for _, c in self.queue}
        keep = []
        for card in self.cards:
            busy = id(card) in pending or (self._running and card.status.text() == "Captioning…")
            if busy:
                keep.append(card)
            else:
                card.deleteLater()
        self.cards = keep
        self._batch_start = 0
        if not keep:
            self.empty.show()
        self._update_label()

    @property
    def busy(self) -> bool:
        return self._running or bool(self.queue)

    # --- history ----------------------------------------------------------------------------

    def _selected_history(self) -> str | None:
        idx = self.history_view.currentIndex()
        rec = idx.data(CaptionRole) if idx.isValid() else None
        return rec.caption if rec is not None else None

    def _history_selection(self) -> None:
        some = self.history_view.selectionModel().hasSelection()
        self.history_copy.setEnabled(some)
        self.history_use.setEnabled(some)

    def _use_history(self) -> None:
        text = self._selected_history()
        if text:
            self.use_as_prompt.emit(text)

    def _copy_history(self) -> None:
        text = self._selected_history()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.status_message.emit("Caption copied.")

    def sizeHint(self) -> QSize:
        return QSize(900, 600)
