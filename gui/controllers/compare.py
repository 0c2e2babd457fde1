"""Compare two images: the "Compare" command (menu, gallery context menu, shortcut) and its window.

The controller owns its action and decides what is compared (the gallery's two selected images,
in gallery order: newer on the left); the full images are read and decoded on the worker through
:class:`gui.models.image_cache.ImageCache` (``AppContext.call``), never on the UI thread, and
reach :class:`gui.widgets.compare_view.CompareWindow` as they arrive.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from core.store import ImageRecord
from gui import errors as gerrors
from gui import icons
from gui.actions import key_sequences
from gui.models.image_cache import FullImage, ImageCache
from gui.widgets.compare_view import CompareWindow
from gui.widgets.gallery import GalleryPanel

SHORTCUT = "Ctrl+Shift+K"


class CompareController(QObject):
    def __init__(self, images: ImageCache, gallery: GalleryPanel, actions: dict[str, QAction],
                 window: QWidget) -> None:
        super().__init__(window)
        self.images = images
        self.gallery = gallery
        self.window_ = window
        self.view: CompareWindow | None = None
        a = QAction("C&ompare", window)
        icons.bind(a, "compare")
        a.setShortcuts(key_sequences([SHORTCUT]))
        a.setToolTip(f"Compare the two selected images side by side or with a slider ({SHORTCUT})")
        a.setStatusTip("Compare the two selected images side by side or with a slider")
        a.setEnabled(False)
        a.triggered.connect(lambda _c=False: self.compare())
        window.addAction(a)
        actions["compare"] = a
        self.action = a
        gallery.selection_changed.connect(self._selection_changed)
        images.failed.connect(self._failed)

    def _selection_changed(self, records: list[ImageRecord]) -> None:
        self.action.setEnabled(len(records) == 2)

    def compare(self, records: list[ImageRecord] | None = None) -> CompareWindow | None:
        """Open (or bring up) the compare window on two images (default: the two selected)."""
        pair = records if records is not None else self.gallery.selected_records()
        if len(pair) != 2:
            return None
        if self.view is None:
            self.view = CompareWindow(self.window_)
            self.view.setWindowIcon(self.window_.windowIcon())
            self.view.swap_requested.connect(self._swap)
        self._show(pair[0], pair[1])
        return self.view

    def _show(self, left: ImageRecord, right: ImageRecord) -> None:
        view = self.view
        assert view is not None
        view.show_records(left, right)
        for r in (left, right):
            self.images.load(r.id, self._loaded)

    def _loaded(self, full: FullImage) -> None:
        view = self.view
        if view is not None and view.records is not None and full.image_id in (r.id for r in view.records):
            view.show_image(full.image_id, full.image)

    def _failed(self, image_id: int, exc: object) -> None:
        if self.view is not None and self.view.isVisible():
            text = gerrors.view_for(exc).text if isinstance(exc, BaseException) else str(exc)
            self.view.show_failed(image_id, text)

    def _swap(self) -> None:
        if self.view is not None and self.view.records is not None:
            left, right = self.view.records
            self._show(right, left)
