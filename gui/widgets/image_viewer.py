"""A full-size viewer: its own window (it can sit on a second screen), a real image viewer.

- ←/→ (and Page Up/Page Down): the previous/next image of the gallery. The viewer asks the
  window (:attr:`ImageViewer.step_requested`); the window moves the gallery's selection, so
  the viewer, the details panel and every action stay on the same image.
- F11 or F: full screen; Esc leaves full screen, or closes the viewer.
- I: the image's parameters (prompt, seed, model, size, date…) beside it.
- Zoom: wheel around the cursor, drag to pan; ``+``/``=``/Ctrl++ zoom in, ``-``/Ctrl+−
  out, ``0`` fits the window, ``1`` shows actual pixels.

It gets the image already decoded (the window's loader did that on the worker), so showing
one costs no database call on the UI thread. It opens centred on the main window's screen,
never larger than that screen's free area.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.store import ImageRecord
from gui import icons
from gui.actions import key_sequences
from gui.widgets.details_panel import add_field_rows, facts, set_value

MIN_ZOOM, MAX_ZOOM = 0.05, 16.0
DEFAULT_SIZE = QSize(1000, 760)
INFO_WIDTH = 300

# The viewer's commands: (key, text, shortcuts, icon). The shortcuts window lists them too.
VIEWER_KEYS: tuple[tuple[str, str, tuple[str | QKeySequence.StandardKey, ...], str | None], ...] = (
    ("previous", "Previous image", ("Left", "PgUp"), None),
    ("next", "Next image", ("Right", "PgDown"), None),
    ("zoom_in", "Zoom in", (QKeySequence.StandardKey.ZoomIn, "+", "="), "zoom-in"),
    ("zoom_out", "Zoom out", (QKeySequence.StandardKey.ZoomOut, "-"), "zoom-out"),
    ("fit", "Fit to window", ("0",), "zoom-fit"),
    ("actual", "Actual size", ("1",), "zoom-actual"),
    ("info", "Parameters", ("I",), "info"),
    ("full_screen", "Full screen", ("F11", "F"), "expand"),
    ("close", "Leave full screen, or close", ("Esc", QKeySequence.StandardKey.Close), None),
)


class ZoomView(QGraphicsView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor("#111114"))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAccessibleName("Image")
        self.fit_mode = True
        self.on_zoom = lambda _z: None

    def set_pixmap(self, pm: QPixmap) -> None:
        self.item.setPixmap(pm)
        self.scene().setSceneRect(self.item.boundingRect())
        self.fit()

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float) -> None:
        z = max(MIN_ZOOM, min(MAX_ZOOM, z))
        self.fit_mode = False
        self.resetTransform()
        self.scale(z, z)
        self.on_zoom(z)

    def zoom_by(self, factor: float) -> None:
        self.set_zoom(self.zoom * factor)

    def fit(self) -> None:
        self.fit_mode = True
        if self.item.pixmap().isNull():
            return
        self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:  # never blow a small image up just to fill the window
            self.resetTransform()
        self.on_zoom(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25 ** steps)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit()


class ImageViewer(QWidget):
    step_requested = Signal(int)  # -1: the previous (newer) image, +1: the next (older) one

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAccessibleName("Image viewer")
        self.record: ImageRecord | None = None  # the image shown
        self.wanted_id: int | None = None  # the image asked for (its pixels may still be on the way)
        self._placed = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.bar = QToolBar()
        self.bar.setIconSize(QSize(20, 20))
        self.view = ZoomView()
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("subtle")
        self.zoom_label.setMinimumWidth(self.zoom_label.fontMetrics().horizontalAdvance("1600 %") + 8)
        self.position_label = QLabel()
        self.position_label.setObjectName("subtle")
        self.position_label.setAccessibleName("Which image")
        self.note = QLabel()  # "No older image", for a moment
        self.note.setObjectName("subtle")
        self.view.on_zoom = lambda z: self.zoom_label.setText(f"{z * 100:.0f} %")
        slots = {
            "previous": lambda: self.step_requested.emit(-1),
            "next": lambda: self.step_requested.emit(1),
            "zoom_in": lambda: self.view.zoom_by(1.25),
            "zoom_out": lambda: self.view.zoom_by(0.8),
            "fit": self.view.fit,
            "actual": lambda: self.view.set_zoom(1.0),
            "info": lambda: self.show_info(self.actions_["info"].isChecked()),
            "full_screen": lambda: self.set_full_screen(not self.isFullScreen()),
            "close": self.escape,
        }
        self.actions_: dict[str, QAction] = {}
        for key, text, keys, icon in VIEWER_KEYS:
            a = QAction(text, self)
            if icon:
                icons.bind(a, icon)
            seqs = key_sequences(keys)
            a.setShortcuts(seqs)
            a.setToolTip(f"{text} ({seqs[0].toString(QKeySequence.SequenceFormat.NativeText)})")
            a.setCheckable(key in ("info", "full_screen"))
            a.triggered.connect(lambda _c=False, k=key: slots[k]())
            self.addAction(a)
            self.actions_[key] = a
        a = self.actions_
        a["previous"].setText("Previous")
        a["next"].setText("Next")
        for key in ("previous", "next"):
            a[key].setIconText("‹ Newer" if key == "previous" else "Older ›")
        self.bar.addAction(a["previous"])
        self.bar.addAction(a["next"])
        self.bar.addWidget(self.position_label)
        self.bar.addSeparator()
        for key in ("zoom_in", "zoom_out", "fit", "actual"):
            self.bar.addAction(a[key])
        self.bar.addWidget(self.zoom_label)
        self.bar.addWidget(self.note)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bar.addWidget(spacer)
        self.bar.addAction(a["info"])
        self.bar.addAction(a["full_screen"])
        layout.addWidget(self.bar)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        body.addWidget(self.view, 1)
        self.info = self._make_info()
        body.addWidget(self.info)
        layout.addLayout(body, 1)
        self.info.hide()
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(2500)
        self._note_timer.timeout.connect(lambda: self.note.setText(""))

    def _make_info(self) -> QFrame:
        panel = QFrame()
        panel.setObjectName("sidebar")
        panel.setAccessibleName("Parameters")
        panel.setFixedWidth(INFO_WIDTH)
        outer = QVBoxLayout(panel)
        outer.setContentsMargins(14, 12, 14, 12)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QLabel("Prompt")
        head.setObjectName("fieldLabel")
        lay.addWidget(head)
        self.info_prompt = QLabel()
        self.info_prompt.setWordWrap(True)
        self.info_prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_prompt.setAccessibleName("Prompt")
        lay.addWidget(self.info_prompt)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # label above value: nothing clipped
        form.setVerticalSpacing(2)
        self.info_fields = add_field_rows(form)
        lay.addLayout(form)
        lay.addStretch(1)
        scroll.setWidget(inner)
        outer.addWidget(scroll)
        return panel

    # --- showing ---------------------------------------------------------------------------

    def show_image(self, image: QImage, record: ImageRecord | None = None, *, title: str = "",
                   position: str = "", activate: bool = True) -> None:
        if record is not None:
            self.record = record
            if not title:
                text = " ".join(record.prompt.split())
                title = text[:60] + ("…" if len(text) > 60 else "")
            self.info_prompt.setText(record.prompt)
            for key, _label, value in facts(record):
                set_value(self.info_fields[key], value)
        self.setWindowTitle(f"{title} — ImageFX Studio")
        self.position_label.setText(position)
        self.view.set_pixmap(QPixmap.fromImage(image))
        if not self.isVisible():
            self._place()
            self.show()
        if activate:
            self.raise_()
            self.activateWindow()
        self.view.fit()

    def flash(self, text: str) -> None:
        """A short note in the toolbar ("No older image"), gone after a moment."""
        self.note.setText(text)
        self._note_timer.start()

    def show_info(self, on: bool) -> None:
        self.actions_["info"].setChecked(on)
        self.info.setVisible(on)
        if self.view.fit_mode:
            QTimer.singleShot(0, self.view.fit)

    def set_full_screen(self, on: bool) -> None:
        self.actions_["full_screen"].setChecked(on)
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    def escape(self) -> None:
        if self.isFullScreen():
            self.set_full_screen(False)
        else:
            self.close()

    def _place(self) -> None:
        """The first time: centred on the main window's screen, at most 90 % of its free area."""
        if self._placed:
            return
        self._placed = True
        parent = self.parentWidget()
        screen = (parent.window().screen() if parent is not None else None) or self.screen()
        if screen is None:
            self.resize(DEFAULT_SIZE)
            return
        avail = screen.availableGeometry()
        w = min(DEFAULT_SIZE.width(), int(avail.width() * 0.9))
        h = min(DEFAULT_SIZE.height(), int(avail.height() * 0.9))
        self.resize(w, h)
        geo = self.frameGeometry()
        geo.moveCenter(avail.center())
        self.move(geo.topLeft())

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.isFullScreen():
            self.showNormal()
            self.actions_["full_screen"].setChecked(False)
        super().closeEvent(event)

