"""The gallery: a search bar and a grid of every image generated, newest first.

The grid is a ``QListView`` in icon mode over :class:`gui.models.gallery_model.GalleryModel`
with uniform item sizes, so it lays out and scrolls through thousands of thumbnails
without asking each row for its size. When it is empty it says why and what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeyEvent, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.store import ImageRecord
from gui import icons
from gui.models.gallery_model import CELL, GalleryModel, RecordRole
from gui.widgets.empty_state import EmptyLook, EmptyStateListView
from gui.widgets.gallery_delegate import GalleryDelegate
from gui.widgets.trash_bar import TrashBar

SEARCH_DELAY_MS = 250


class GalleryView(EmptyStateListView):
    activated_record = Signal(object)  # ImageRecord: double-click or Enter
    empty_look = EmptyLook("image", 56, 1.25, 120, 460)

    def __init__(self, model: GalleryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gallery")
        self.setAccessibleName("Gallery")
        self.setAccessibleDescription("Your generated images, newest first")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)  # docs/platform-notes.md: no per-row size queries
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setSpacing(0)
        self.setGridSize(QSize(CELL, CELL))
        self.setIconSize(QSize(CELL - 8, CELL - 8))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(CELL // 3)
        # Always there, so stretching the cells to the width cannot toggle it (and loop).
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setMouseTracking(True)
        self.delegate = GalleryDelegate(CELL, self, model)
        self.setItemDelegate(self.delegate)
        self.setModel(model)
        self.gallery_model = model
        self.doubleClicked.connect(lambda idx: self.activated_record.emit(idx.data(RecordRole)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Stretch the cells so the columns fill the width (no ragged gap on the right)."""
        super().resizeEvent(event)
        width = self.viewport().width() - 2  # QListView wraps when a row would touch the edge exactly
        cols = max(1, width // CELL)
        cell = max(CELL, width // cols)
        if cell != self.gridSize().width():
            self.delegate.cell = cell
            self.setGridSize(QSize(cell, cell))
            self.setIconSize(QSize(cell - 8, cell - 8))
        self.gallery_model.set_cell_size(cell, self.devicePixelRatioF())  # thumbnails decoded to fit

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated_record.emit(self.currentIndex().data(RecordRole))
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        # A click on empty space clears the selection, like a file manager.
        if not self.indexAt(event.position().toPoint()).isValid() and \
                event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.clearSelection()
        super().mousePressEvent(event)

    def visible_rows(self) -> range:
        """Rows whose cells are at least partly on screen (the grid is uniform, so two look-ups)."""
        n = self.gallery_model.rowCount()
        rect = self.viewport().rect()
        first = self.indexAt(rect.topLeft() + QPoint(2, 2))
        if not first.isValid():
            return range(0)
        last = self.indexAt(rect.bottomRight() - QPoint(2, 2))
        if last.isValid():
            end = last.row() + 1
        else:  # the last row of cells does not reach the corner: all rows from first to the end
            cols = max(1, rect.width() // max(1, self.gridSize().width()))
            rows = rect.height() // max(1, self.gridSize().height()) + 2
            end = min(n, first.row() + cols * rows)
        return range(first.row(), end)

    def visible_thumbnails_ready(self) -> bool:
        """Every cell on screen has its thumbnail decoded (they arrive from the worker)."""
        return all(self.gallery_model.thumbnail_ready(r) for r in self.visible_rows())

    def selected_records(self) -> list[ImageRecord]:
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        out = []
        for row in rows:
            r = self.gallery_model.record(row)
            if r is not None:
                out.append(r)
        return out


class GalleryPanel(QWidget):
    """Search box, favourites filter and image count above the grid."""

    selection_changed = Signal(list)  # list[ImageRecord]
    context_menu_requested = Signal(QPoint)

    def __init__(self, model: GalleryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._generating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        bar = QHBoxLayout()
        bar.setContentsMargins(12, 8, 12, 8)
        bar.setSpacing(8)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts  (Ctrl+F)")
        self.search.setAccessibleName("Search prompts")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(420)
        self._search_icon = QAction("Search", self.search)
        icons.bind(self._search_icon, "search")
        self._search_icon.triggered.connect(lambda: self._apply_search())
        self.search.addAction(self._search_icon, QLineEdit.ActionPosition.LeadingPosition)
        bar.addWidget(self.search, 1)
        self.favorites = QToolButton()
        self.favorites.setCheckable(True)
        self.favorites.setText("Favourites")
        self.favorites.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.favorites.setAccessibleName("Show favourites only")
        self.favorites.setToolTip("Show only favourites (Ctrl+Shift+F)")
        icons.bind(self.favorites, "star")
        bar.addWidget(self.favorites)
        self.trash = QToolButton()
        self.trash.setCheckable(True)
        self.trash.setText("Trash")
        self.trash.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.trash.setAccessibleName("Show the Trash")
        self.trash.setToolTip("Show the images in the Trash, to restore or delete for good (Ctrl+Shift+T)")
        icons.bind(self.trash, "delete")
        bar.addWidget(self.trash)
        bar.addStretch(0)
        self.count_label = QLabel()
        self.count_label.setObjectName("subtle")
        self.count_label.setAccessibleName("Image count")
        bar.addWidget(self.count_label)
        layout.addLayout(bar)
        self.trash_bar = TrashBar()
        layout.addWidget(self.trash_bar)

        self.view = GalleryView(model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(
            lambda pos: self.context_menu_requested.emit(self.view.viewport().mapToGlobal(pos)))
        layout.addWidget(self.view, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_search)
        self.favorites.toggled.connect(self._favorites_toggled)
        self.trash.toggled.connect(self._trash_toggled)
        self.view.selectionModel().selectionChanged.connect(
            lambda *_: self.selection_changed.emit(self.view.selected_records()))
        model.modelReset.connect(lambda: self.selection_changed.emit([]))
        model.total_changed.connect(self._update_count)
        model.loading_changed.connect(self._update_empty)
        model.reset_done.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)
        model.rowsRemoved.connect(self._update_empty)
        self.setTabOrder(self.search, self.favorites)
        self.setTabOrder(self.favorites, self.trash)
        self.setTabOrder(self.trash, self.view)
        self._update_empty()

    def _apply_search(self) -> None:
        self._search_timer.stop()
        self.model.set_filter(search=self.search.text())

    def _favorites_toggled(self, on: bool) -> None:
        icons.bind(self.favorites, "star-filled" if on else "star")
        self.model.set_filter(favorites_only=on)

    def _trash_toggled(self, on: bool) -> None:
        self.trash_bar.setVisible(on)
        self.model.set_filter(trash=on)

    def _update_count(self, n: int) -> None:
        self.trash_bar.set_count(n)
        if n < 0:
            self.count_label.setText("")
            return
        what = "favourite" if self.model.favorites_only else "image"
        self.count_label.setText(f"{n:,} {what}{'s' if n != 1 else ''}"
                                 + (" found" if self.model.search else "")
                                 + (" in the Trash" if self.model.trash else ""))

    def set_generating(self, on: bool) -> None:
        self._generating = on
        self._update_empty()

    def _update_empty(self, *_args: object) -> None:
        m = self.model
        if m.rowCount() > 0:
            self.view.set_empty_message("", "")
        elif self._generating and not m.filtered:
            self.view.set_empty_message("Generating…", "Your first images appear here as soon as they are stored.")
        elif m.ctx.service is None:
            self.view.set_empty_message("Connecting to the database…",
                                        "Your images appear here as soon as it is ready.")
        elif m.loading:
            self.view.set_empty_message("Loading…", "")
        elif m.trash and not m.search:
            self.view.set_empty_message("The Trash is empty",
                                        "Images you delete wait here, so you can restore them.")
        elif m.search:
            self.view.set_empty_message(f"No images match “{m.search}”",
                                        "Try other words, or clear the search box.")
        elif m.favorites_only:
            self.view.set_empty_message("No favourites yet",
                                        "Select an image and press the star (Ctrl+D) to keep it here.")
        else:
            self.view.set_empty_message("No images yet — write a prompt and press Generate",
                                        "Everything you generate is kept here, newest first.")

    def set_drag_source(self, source: Callable[[list[ImageRecord]], QMimeData | None]) -> None:
        self.model.drag_source = source
