"""A full-size viewer with zoom: its own window, so it can sit on a second screen.

Wheel zooms around the cursor, dragging pans; ``+``/``-`` zoom, ``0`` fits the window,
``1`` shows actual pixels, Esc closes. It gets the image already decoded (the details
panel's loader did that on the worker), so opening it costs no database call.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gui import icons

MIN_ZOOM, MAX_ZOOM = 0.05, 16.0


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
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAccessibleName("Image viewer")
        self.resize(1000, 760)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        bar = QToolBar()
        bar.setIconSize(QSize(20, 20))
        self.view = ZoomView()
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("subtle")
        self.zoom_label.setMinimumWidth(60)
        self.view.on_zoom = lambda z: self.zoom_label.setText(f"{z * 100:.0f} %")
        for name, text, keys, slot in (
            ("zoom-in", "Zoom in", [QKeySequence.StandardKey.ZoomIn, "+", "="], lambda: self.view.zoom_by(1.25)),
            ("zoom-out", "Zoom out", [QKeySequence.StandardKey.ZoomOut, "-"], lambda: self.view.zoom_by(0.8)),
            ("zoom-fit", "Fit to window", ["0"], self.view.fit),
            ("zoom-actual", "Actual size", ["1"], lambda: self.view.set_zoom(1.0)),
        ):
            a = QAction(text, self)
            icons.bind(a, name)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setToolTip(f"{text} ({QKeySequence(keys[-1]).toString()})")
            a.triggered.connect(slot)
            bar.addAction(a)
            self.addAction(a)
        bar.addWidget(self.zoom_label)
        close = QAction("Close", self)
        close.setShortcuts([QKeySequence(Qt.Key.Key_Escape), QKeySequence.StandardKey.Close])
        close.triggered.connect(self.close)
        self.addAction(close)
        layout.addWidget(bar)
        layout.addWidget(self.view, 1)

    def show_image(self, image: QImage, title: str) -> None:
        self.setWindowTitle(f"{title} — ImageFX Studio")
        self.view.set_pixmap(QPixmap.fromImage(image))
        self.show()
        self.raise_()
        self.activateWindow()
        self.view.fit()
