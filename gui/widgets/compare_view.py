"""Two images compared: side by side, or one over the other with a slider (a wipe), each with its parameters.

The window only shows: :class:`gui.controllers.compare.CompareController` decides what to compare
and has the full images read on the worker (``ImageCache``), then hands them over decoded. Scaled
copies are made once per size (a resize), not on every paint, so dragging the slider stays smooth.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.store import ImageRecord
from gui import icons
from gui.actions import key_sequences
from gui.widgets.details_panel import add_field_rows, facts, set_value

BACKGROUND = "#111114"  # as the viewer's: images are judged on a neutral dark ground
DEFAULT_SIZE = QSize(1200, 820)
SIDE, WIPE = 0, 1
# The compare window's commands: (key, text, shortcuts, icon).
COMPARE_KEYS: tuple[tuple[str, str, tuple[str | QKeySequence.StandardKey, ...], str | None], ...] = (
    ("side", "Side by side", ("1",), "compare"),
    ("wipe", "Slider", ("2",), "aspect"),
    ("swap", "Swap", ("X",), "refresh"),
    ("close", "Close", ("Esc", QKeySequence.StandardKey.Close), None),
)


def _fitted(image_size: QSize, area: QRect) -> QRect:
    """Where an image of ``image_size`` goes inside ``area``: whole, undistorted, centred, never enlarged."""
    if image_size.isEmpty() or area.isEmpty():
        return QRect()
    scale = min(area.width() / image_size.width(), area.height() / image_size.height(), 1.0)
    w, h = max(1, round(image_size.width() * scale)), max(1, round(image_size.height() * scale))
    return QRect(area.left() + (area.width() - w) // 2, area.top() + (area.height() - h) // 2, w, h)


class _Scaled:
    """One image and its copy scaled for the last size asked (remade only when the size changes)."""

    def __init__(self) -> None:
        self.image: QImage | None = None
        self._pm: QPixmap | None = None

    def set(self, image: QImage | None) -> None:
        self.image, self._pm = image, None

    def pixmap(self, size: QSize, dpr: float) -> QPixmap | None:
        if self.image is None or self.image.isNull() or size.isEmpty():
            return None
        want = QSize(round(size.width() * dpr), round(size.height() * dpr))
        if self._pm is None or self._pm.size() != want:
            self._pm = QPixmap.fromImage(self.image.scaled(want, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                           Qt.TransformationMode.SmoothTransformation))
            self._pm.setDevicePixelRatio(dpr)
        return self._pm


class ImagePane(QWidget):
    """One image, fitted to the pane; "Loading…" or why it could not be read until then."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setMinimumSize(120, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.img = _Scaled()
        self.message = "Loading…"

    def set_image(self, image: QImage | None, message: str = "") -> None:
        self.img.set(image)
        self.message = message
        self.update()

    def image_rect(self) -> QRect:
        image = self.img.image
        return _fitted(image.size(), self.rect().adjusted(8, 8, -8, -8)) if image is not None else QRect()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        target = self.image_rect()
        pm = self.img.pixmap(target.size(), self.devicePixelRatioF())
        if pm is not None:
            p.drawPixmap(target.topLeft(), pm)
        else:
            p.setPen(QColor("#a0a0aa"))
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.message)
        p.end()


class WipeView(QWidget):
    """Both images in one place: the left one left of the divider, the right one right of it. Drag
    the divider (or click anywhere, or ←/→) to move it."""

    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Slider comparison")
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.SplitHCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.left, self.right = _Scaled(), _Scaled()
        self.split = 0.5  # of the shown image's width

    def set_images(self, left: QImage | None, right: QImage | None) -> None:
        self.left.set(left)
        self.right.set(right)
        self.update()

    def area(self) -> QRect:
        """The rectangle both images are fitted into: the larger of the two fits (one frame for both)."""
        box = self.rect().adjusted(8, 8, -8, -8)
        rects = [_fitted(s.image.size(), box) for s in (self.left, self.right) if s.image is not None]
        if not rects:
            return QRect()
        out = rects[0]
        for r in rects[1:]:
            out = out.united(r)
        return out

    def divider_x(self) -> int:
        a = self.area()
        return a.left() + round(a.width() * self.split) if not a.isEmpty() else self.width() // 2

    def set_split(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, fraction))
        if fraction != self.split:
            self.split = fraction
            self.update()
            self.split_changed.emit(fraction)

    def _split_at(self, x: float) -> None:
        a = self.area()
        if a.width() > 0:
            self.set_split((x - a.left()) / a.width())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._split_at(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._split_at(event.position().x())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = 0.1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0.02
        if event.key() == Qt.Key.Key_Left:
            self.set_split(self.split - step)
        elif event.key() == Qt.Key.Key_Right:
            self.set_split(self.split + step)
        else:
            super().keyPressEvent(event)

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(BACKGROUND))
        box = self.rect().adjusted(8, 8, -8, -8)
        x = self.divider_x()
        dpr = self.devicePixelRatioF()
        if self.left.image is None and self.right.image is None:
            p.setPen(QColor("#a0a0aa"))
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), "Loading…")
            p.end()
            return
        for side, clip in ((self.left, QRect(0, 0, x, self.height())),
                           (self.right, QRect(x, 0, self.width() - x, self.height()))):
            if side.image is None:
                continue
            target = _fitted(side.image.size(), box)
            pm = side.pixmap(target.size(), dpr)
            if pm is not None:
                p.save()
                p.setClipRect(clip)
                p.drawPixmap(target.topLeft(), pm)
                p.restore()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(255, 255, 255, 220), 2))
        p.drawLine(x, box.top(), x, box.bottom())
        handle = QPainterPath()
        handle.addEllipse(QPointF(x, self.height() / 2), 13, 13)
        p.fillPath(handle, QColor(255, 255, 255, 230))
        p.setPen(QPen(QColor(30, 30, 36), 2))
        y = self.height() / 2
        for sign in (-1, 1):  # ‹ › on the handle
            p.drawLine(QPointF(x + sign * 3, y - 5), QPointF(x + sign * 8, y))
            p.drawLine(QPointF(x + sign * 8, y), QPointF(x + sign * 3, y + 5))
        a = self.area()  # the tags sit on the images' corners, whatever the window's shape
        self._tag(p, "Left", QRect(a.left() + 6, a.top() + 6, 60, 22), Qt.AlignmentFlag.AlignLeft)
        self._tag(p, "Right", QRect(a.right() - 66, a.top() + 6, 60, 22), Qt.AlignmentFlag.AlignRight)
        p.end()

    @staticmethod
    def _tag(p: QPainter, text: str, rect: QRect, align: Qt.AlignmentFlag) -> None:
        fm = p.fontMetrics()
        w = fm.horizontalAdvance(text) + 14
        x = rect.left() if align == Qt.AlignmentFlag.AlignLeft else rect.right() - w
        r = QRect(x, rect.top(), w, rect.height())
        path = QPainterPath()
        path.addRoundedRect(QRectF(r), 6, 6)
        p.fillPath(path, QColor(0, 0, 0, 150))
        p.setPen(QColor("#ffffff"))
        p.drawText(r, int(Qt.AlignmentFlag.AlignCenter), text)


class Parameters(QFrame):
    """What made one of the two images: its prompt and the details panel's facts; values that differ
    from the other image's are bold, so a changed seed or model is seen at once."""

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAccessibleName(f"{side} image's parameters")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 8, 12, 8)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self.title = QLabel(side)
        self.title.setObjectName("fieldLabel")
        lay.addWidget(self.title)
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        lay.addWidget(self.prompt)
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(2)
        self.fields = add_field_rows(form)
        lay.addLayout(form)
        lay.addStretch(1)
        scroll.setWidget(inner)
        outer.addWidget(scroll)

    def show_record(self, r: ImageRecord, other: ImageRecord | None) -> None:
        self.prompt.setText(r.prompt)
        theirs = {k: v for k, _l, v in facts(other)} if other is not None else {}
        for key, _label, value in facts(r):
            widget = self.fields[key]
            set_value(widget, value)
            f = QFont(widget.font())
            f.setBold(bool(theirs) and key not in ("date", "media") and theirs.get(key) != value)
            widget.setFont(f)
        f = QFont(self.prompt.font())
        f.setBold(other is not None and other.prompt != r.prompt)
        self.prompt.setFont(f)


class CompareWindow(QWidget):
    """Its own window (it can sit on a second screen), like the viewer."""

    swap_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAccessibleName("Compare")
        self.setWindowTitle("Compare — ImageFX Studio")
        self.records: tuple[ImageRecord, ImageRecord] | None = None
        self._images: dict[int, QImage] = {}
        self._placed = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.bar = QToolBar()
        self.bar.setIconSize(QSize(20, 20))
        self.bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.actions_: dict[str, QAction] = {}
        slots = {"side": lambda: self.set_mode(SIDE), "wipe": lambda: self.set_mode(WIPE),
                 "swap": self.swap_requested.emit, "close": self.close}
        group = QActionGroup(self)
        for key, text, keys, icon in COMPARE_KEYS:
            a = QAction(text, self)
            if icon:
                icons.bind(a, icon)
            seqs = key_sequences(keys)
            a.setShortcuts(seqs)
            a.setToolTip(f"{text} ({seqs[0].toString(QKeySequence.SequenceFormat.NativeText)})")
            a.triggered.connect(lambda _c=False, k=key: slots[k]())
            if key in ("side", "wipe"):
                a.setCheckable(True)
                group.addAction(a)
            self.addAction(a)
            self.actions_[key] = a
        self.actions_["side"].setToolTip("Side by side (1)")
        self.actions_["wipe"].setToolTip("One over the other, with a slider to drag (2; ←/→ move it)")
        for key in ("side", "wipe", "swap"):
            self.bar.addAction(self.actions_[key])
        layout.addWidget(self.bar)

        self.panes = (ImagePane("Left image"), ImagePane("Right image"))
        side = QWidget()
        row = QHBoxLayout(side)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        for pane in self.panes:
            row.addWidget(pane, 1)
        self.wipe = WipeView()
        self.stack = QStackedWidget()
        self.stack.addWidget(side)
        self.stack.addWidget(self.wipe)
        self.params = (Parameters("Left"), Parameters("Right"))
        below = QWidget()
        prow = QHBoxLayout(below)
        prow.setContentsMargins(0, 0, 0, 0)
        prow.setSpacing(2)
        for p in self.params:
            prow.addWidget(p, 1)
        below.setMinimumHeight(110)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(below)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setCollapsible(0, False)
        layout.addWidget(self.splitter, 1)
        self.set_mode(SIDE)

    @property
    def mode(self) -> int:
        return self.stack.currentIndex()

    def set_mode(self, mode: int) -> None:
        self.stack.setCurrentIndex(mode)
        self.actions_["side" if mode == SIDE else "wipe"].setChecked(True)
        if mode == WIPE:
            self.wipe.setFocus()

    def show_records(self, left: ImageRecord, right: ImageRecord) -> None:
        """Compare these two (their pixels follow through :meth:`show_image`)."""
        self.records = (left, right)
        self._images = {i: img for i, img in self._images.items() if i in (left.id, right.id)}
        self.params[0].show_record(left, right)
        self.params[1].show_record(right, left)
        self.setWindowTitle(f"Compare #{left.id} and #{right.id} — ImageFX Studio")
        self._refresh_images()
        if not self.isVisible():
            self._place()
            self.show()
        self.raise_()
        self.activateWindow()

    def show_image(self, image_id: int, image: QImage) -> None:
        self._images[image_id] = image
        self._refresh_images()

    def show_failed(self, image_id: int, message: str) -> None:
        if self.records is None:
            return
        for pane, r in zip(self.panes, self.records, strict=True):
            if r.id == image_id:
                pane.set_image(None, f"Could not read this image: {message}")

    def _refresh_images(self) -> None:
        if self.records is None:
            return
        imgs = [self._images.get(r.id) for r in self.records]
        for pane, img in zip(self.panes, imgs, strict=True):
            pane.set_image(img, "" if img is not None else "Loading…")
        self.wipe.set_images(imgs[0], imgs[1])

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.mode == WIPE and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.wipe.keyPressEvent(event)
            return
        super().keyPressEvent(event)

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
        self.resize(min(DEFAULT_SIZE.width(), int(avail.width() * 0.9)),
                    min(DEFAULT_SIZE.height(), int(avail.height() * 0.9)))
        self.splitter.setSizes([max(200, self.height() - 240), 200])
        geo = self.frameGeometry()
        geo.moveCenter(avail.center())
        self.move(geo.topLeft())

    def closeEvent(self, event: QCloseEvent) -> None:
        self._images.clear()  # megabytes each: the cache keeps what is worth keeping
        self.panes[0].set_image(None, "Loading…")
        self.panes[1].set_image(None, "Loading…")
        self.wipe.set_images(None, None)
        super().closeEvent(event)
