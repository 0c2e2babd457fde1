"""The selected image: a large preview, what made it, and what you can do with it.

The preview shows the thumbnail at once and the full image when the worker has read it.
Buttons are the main window's actions (same shortcuts, same enabled state as the menus).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QRectF, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QImage,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QTextOption,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.imagefx import protocol
from core.store import ImageRecord
from gui import theme
from gui.widgets.flow_layout import FlowLayout
from gui.widgets.labels_editor import LabelsEditor

FIELDS = (("seed", "Seed"), ("model", "Model"), ("aspect", "Aspect ratio"), ("size", "Size"),
          ("date", "Created"), ("account", "Account"), ("media", "Media id"))


def facts(r: ImageRecord) -> list[tuple[str, str, str]]:
    """What made an image, as the details panel and the viewer's parameters show it: (key, label, text)."""
    values = {
        "seed": str(r.seed) if r.seed is not None else "—",
        "model": protocol.MODEL_LABELS.get(r.model or "", r.model or "—"),
        "aspect": protocol.ASPECT_LABELS.get(r.aspect_ratio or "", r.aspect_ratio or "—"),
        "size": f"{r.width} × {r.height} px" if r.width and r.height else "—",
        "date": f"{r.created_at.astimezone():%Y-%m-%d %H:%M}",
        "account": r.user_email or "—",
        "media": r.media_id,
    }
    return [(key, label, values[key]) for key, label in FIELDS]


class WrapAnywhere(QTextEdit):
    """Read-only text that wraps anywhere and is exactly as tall as its text: a media id or an e-mail
    has no spaces, so a word-wrapped label cannot break it and clips it. Selecting and copying it
    gives the text as it is (no break characters put in for display)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAnywhere)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.document().setDocumentMargin(0)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextEdit { background: transparent; }")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit()

    def setText(self, text: str) -> None:
        self.setPlainText(text)
        self._fit()

    def text(self) -> str:
        return self.toPlainText()

    def minimumSizeHint(self) -> QSize:
        return QSize(40, self.height())

    def sizeHint(self) -> QSize:
        return QSize(160, self.height())

    def _fit(self) -> None:
        doc = self.document()
        doc.setTextWidth(max(1, self.viewport().width()))
        h = max(self.fontMetrics().height(), math.ceil(doc.size().height())) + 2 * self.frameWidth()
        if h != self.height():
            self.setFixedHeight(h)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()


def set_value(widget: QLabel | WrapAnywhere, text: str) -> None:
    """Show a value; a label is never narrower than its longest word (the form then puts the name
    above the value instead of cutting the word)."""
    widget.setText(text)
    if isinstance(widget, QLabel):
        fm = widget.fontMetrics()
        widget.setMinimumWidth(max((fm.horizontalAdvance(word) for word in text.split()), default=0) + 2)


def field_value(key: str) -> QLabel | WrapAnywhere:
    """The widget a field's value is shown in: ids and addresses wrap anywhere, the rest are labels."""
    if key in ("media", "account"):
        return WrapAnywhere()
    value = QLabel()
    value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    value.setWordWrap(True)
    return value


def add_field_rows(form: QFormLayout) -> dict[str, QLabel | WrapAnywhere]:
    """One row a field of :data:`FIELDS` (its name, then :func:`field_value`), for the details
    panel, the viewer's info panel and each side of Compare; the value widgets by key."""
    fields: dict[str, QLabel | WrapAnywhere] = {}
    for key, label in FIELDS:
        value = field_value(key)
        value.setAccessibleName(label)
        name = QLabel(label)
        name.setObjectName("fieldLabel")
        form.addRow(name, value)
        fields[key] = value
    return fields


class Preview(QWidget):
    """Draws an image scaled to fit, centred, with rounded corners."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.setMinimumHeight(120)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setAccessibleName("Preview")

    def set_image(self, image: QImage | QPixmap | None) -> None:
        if isinstance(image, QImage):
            image = QPixmap.fromImage(image) if not image.isNull() else None
        old = self._pixmap
        self._pixmap = image
        if old is None or image is None or old.size() != image.size():
            self.updateGeometry()
        self.update()

    @property
    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        """As tall as the image needs at this width (no bands above and below), within limits."""
        if self._pixmap is None or self._pixmap.isNull() or self._pixmap.width() == 0:
            return int(width * 9 / 16)
        ratio = self._pixmap.height() / self._pixmap.width()
        return max(120, min(int(width * ratio), int(width * 1.25)))

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        r = QRectF(self.rect())
        if self._pixmap is None or self._pixmap.isNull():
            path = QPainterPath()
            path.addRoundedRect(r.adjusted(1, 1, -1, -1), 10, 10)
            p.fillPath(path, QColor(theme.colors().cell))
            p.end()
            return
        pw, ph = self._pixmap.width(), self._pixmap.height()
        scale = min(r.width() / pw, r.height() / ph)
        w, h = pw * scale, ph * scale
        target = QRectF(r.x() + (r.width() - w) / 2, r.y() + (r.height() - h) / 2, w, h)
        path = QPainterPath()
        path.addRoundedRect(target, 10, 10)
        p.setClipPath(path)
        p.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))
        p.end()


class DetailsPanel(QFrame):
    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAccessibleName("Image details")
        self.setMinimumWidth(220)
        self.record: ImageRecord | None = None
        self.actions_ = actions
        self.buttons: list[QToolButton] = []  # in reading order, for the window's tab chain
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 12, 14, 12)
        outer.setSpacing(10)

        # Everything scrolls when the window is short (600 px, or 2× scaling): rows keep their
        # height instead of being squeezed on top of each other.
        body = QWidget()
        body.setObjectName("detailsBody")
        bl = QVBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(10)
        self.body_scroll = QScrollArea()
        self.body_scroll.setWidgetResizable(True)
        self.body_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.body_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.body_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.body_scroll.viewport().setAutoFillBackground(False)
        body.setAutoFillBackground(False)
        self.body_scroll.setStyleSheet("QScrollArea#detailsScroll, QWidget#detailsBody { background: transparent; }")
        self.body_scroll.setObjectName("detailsScroll")
        self.body_scroll.setWidget(body)
        outer.addWidget(self.body_scroll, 1)

        self.preview = Preview()
        bl.addWidget(self.preview)

        self.stack = QStackedWidget()
        bl.addWidget(self.stack, 1)

        # Page 0: nothing selected.
        empty = QWidget()
        el = QVBoxLayout(empty)
        el.addStretch(1)
        t = QLabel("No image selected")
        t.setObjectName("emptyTitle")
        t.setWordWrap(True)
        t.setAlignment(Qt.AlignmentFlag.AlignCenter)
        el.addWidget(t)
        s = QLabel("Select an image in the gallery to see its prompt, seed and size. "
                   "Double-click opens it full size.")
        s.setObjectName("emptyText")
        s.setWordWrap(True)
        s.setAlignment(Qt.AlignmentFlag.AlignCenter)
        el.addWidget(s)
        el.addStretch(2)
        self.stack.addWidget(empty)

        # Page 1: one image.
        one = QWidget()
        ol = QVBoxLayout(one)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.setSpacing(8)
        ol.addLayout(self._buttons(["favorite", "remix", "viewer", "copy_image", "save", "delete"]))
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                            | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.prompt.setAccessibleName("Prompt of the selected image")
        self.prompt.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.prompt)
        scroll.viewport().setAutoFillBackground(False)
        self.prompt.setAutoFillBackground(False)
        scroll.setStyleSheet("QScrollArea, QScrollArea > QWidget > QWidget { background: transparent; }")
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a stop in the tab chain that does nothing
        scroll.setMinimumHeight(48)
        scroll.setMaximumHeight(150)
        head = QLabel("Prompt")
        head.setObjectName("fieldLabel")
        ol.addWidget(head)
        ol.addWidget(scroll)
        form = QFormLayout()
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(4)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # narrow: the name above its value
        self.fields = add_field_rows(form)
        self._one_at = ol.count()  # the stars, tags and note go here: under the prompt, above the facts
        ol.addLayout(form)
        ol.addLayout(self._buttons(["copy_prompt", "copy_seed"], text=True))
        ol.addStretch(1)
        self.stack.addWidget(one)
        self._one_layout = ol

        # Page 2: several images.
        many = QWidget()
        ml = QVBoxLayout(many)
        ml.setContentsMargins(0, 0, 0, 0)
        self.many_label = QLabel()
        self.many_label.setObjectName("heading")
        self.many_label.setWordWrap(True)
        ml.addWidget(self.many_label)
        hint = QLabel("Tag, rate, save, favourite or delete them together, or drag them to another app.")
        hint.setObjectName("subtle")
        hint.setWordWrap(True)
        ml.addWidget(hint)
        ml.addLayout(self._buttons(["favorite", "save", "delete"], text=True))
        ml.addStretch(1)
        self.stack.addWidget(many)
        self._many_layout = ml
        # Stars, tags and note (issue 14): one editor, moved to the page shown (one image or several);
        # gui/controllers/library.py fills it and runs what it asks for.
        self.labels = LabelsEditor()
        ol.insertWidget(self._one_at, self.labels)
        # As narrow as the content allows, and never narrower: the body scrolls only up and down.
        self._body = body
        body.installEventFilter(self)
        self._fit_width()
        self.show_records([])

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._body and event.type() == QEvent.Type.LayoutRequest:
            self._fit_width()
        return super().eventFilter(watched, event)

    def _fit_width(self) -> None:
        """The panel's minimum follows its content's (a long word, a wide value), plus the scrollbar."""
        extent = self.body_scroll.verticalScrollBar().sizeHint().width()
        need = max(200, self._body.minimumSizeHint().width() + 28 + extent)
        if need != self.minimumWidth():
            self.setMinimumWidth(need)

    def _buttons(self, names: list[str], *, text: bool = False) -> FlowLayout:
        """A row of the window's actions as buttons; it wraps in a narrow panel instead of clipping."""
        flow = FlowLayout(spacing=6, centred=not text)
        for name in names:
            action = self.actions_.get(name)
            if action is None:
                continue
            b = QToolButton()
            self.buttons.append(b)
            b.setDefaultAction(action)
            b.setAccessibleName(action.text().replace("&", "").rstrip("…"))
            if text:
                b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            else:
                b.setIconSize(QSize(20, 20))
                b.setFixedSize(QSize(36, 34))
            flow.addWidget(b)
        return flow

    def show_records(self, records: list[ImageRecord], thumbnail: QPixmap | None = None) -> None:
        if not records:
            self.record = None
            self.preview.set_image(None)
            self.preview.hide()
            self.stack.setCurrentIndex(0)
            return
        self.preview.show()
        many = len(records) > 1
        self._place_labels(self._many_layout if many else self._one_layout,
                           self._many_layout.count() - 1 if many else self._one_at)
        if len(records) > 1:
            self.record = None
            self.many_label.setText(f"{len(records)} images selected")
            self.preview.set_image(thumbnail)
            self.stack.setCurrentIndex(2)
            return
        r = records[0]
        same = self.record is not None and self.record.id == r.id
        self.record = r
        if not same:
            self.preview.set_image(thumbnail)
        self.prompt.setText(r.prompt)
        self.prompt.setToolTip(r.returned_prompt if r.returned_prompt and r.returned_prompt != r.prompt else "")
        for key, _label, value in facts(r):
            set_value(self.fields[key], value)
        self.stack.setCurrentIndex(1)

    def _place_labels(self, layout: QVBoxLayout, index: int) -> None:
        """The labels editor moves to the page shown (under the prompt of one image; under the buttons
        of several)."""
        if layout.indexOf(self.labels) >= 0:
            return
        old = self.labels.parentWidget()
        if old is not None and old.layout() is not None:
            old.layout().removeWidget(self.labels)
        layout.insertWidget(index, self.labels)

    def show_full(self, image_id: int, image: QImage) -> None:
        """The full image arrived from the worker; show it if that image is still selected."""
        if self.record is not None and self.record.id == image_id:
            self.preview.set_image(image)
