"""The library's sidebar: All images, the boards (with counts) and the saved searches (smart boards).

A view only: it shows what :class:`gui.controllers.boards.BoardsController` gives it and says what
the user did (a click, a drop of thumbnails on a board, a context menu); the controller decides.
Thumbnails dragged from the gallery carry their image ids
(:data:`gui.models.gallery_model.IMAGE_IDS_MIME`); only a board accepts them, and the board under
the pointer is highlighted while they hover.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent, QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.store.records import BoardRecord, SavedSearchRecord
from gui import icons
from gui.models.gallery_model import image_ids_from

KIND_ROLE = Qt.ItemDataRole.UserRole + 1  # "all", "board", "search" or "section"
NAME_ROLE = Qt.ItemDataRole.UserRole + 2
SORT_NAMES = {"newest": "newest first", "oldest": "oldest first", "rating": "by rating"}


class _Tree(QTreeWidget):
    """The list itself: takes drops of gallery thumbnails on boards."""

    dropped = Signal(str, list)  # board name, image ids
    delete_pressed = Signal(object)  # the current item

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("boardsSidebar")
        self.setAccessibleName("Boards and saved searches")
        self.setColumnCount(2)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(10)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setDropIndicatorShown(False)  # the board under the pointer is highlighted instead
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        h = self.header()
        h.setStretchLastSection(False)
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self._hover: QTreeWidgetItem | None = None

    def board_at(self, pos: QPoint) -> QTreeWidgetItem | None:
        item = self.itemAt(pos)
        return item if item is not None and item.data(0, KIND_ROLE) == "board" else None

    def _set_hover(self, item: QTreeWidgetItem | None) -> None:
        if item is self._hover:
            return
        for it in (self._hover, item):
            if it is not None:
                font = it.font(0)
                font.setUnderline(it is item)
                font.setBold(it is item)
                it.setFont(0, font)
        self._hover = item

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_ids_from(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        item = self.board_at(event.position().toPoint())
        self._set_hover(item)
        if item is not None and image_ids_from(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self._set_hover(None)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._set_hover(None)
        item = self.board_at(event.position().toPoint())
        ids = image_ids_from(event.mimeData())
        if item is None or not ids:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.dropped.emit(str(item.data(0, NAME_ROLE)), ids)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Delete and self.currentItem() is not None:
            self.delete_pressed.emit(self.currentItem())
            return
        super().keyPressEvent(event)


class BoardsSidebar(QWidget):
    all_clicked = Signal()
    board_clicked = Signal(str)
    search_clicked = Signal(str)
    dropped_on_board = Signal(str, list)  # board name, image ids
    context_requested = Signal(str, str, QPoint)  # kind ("board", "search", "section:boards"…), name, global pos
    delete_requested = Signal(str, str)  # kind, name (the Delete key)
    new_board_requested = Signal()
    save_search_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("boardsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(10, 6, 6, 2)
        head.setSpacing(2)
        title = QLabel("Boards")
        title.setObjectName("fieldLabel")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        head.addWidget(title, 1)
        self.new_board_button = QToolButton()
        self.new_board_button.setAccessibleName("New board")
        self.new_board_button.setToolTip("New board…")
        icons.bind(self.new_board_button, "add")
        self.new_board_button.clicked.connect(self.new_board_requested)
        head.addWidget(self.new_board_button)
        self.save_search_button = QToolButton()
        self.save_search_button.setAccessibleName("Save this search")
        self.save_search_button.setToolTip("Save this search… (the search box's filter and the sort order)")
        icons.bind(self.save_search_button, "saved-search")
        self.save_search_button.clicked.connect(self.save_search_requested)
        self.save_search_button.setEnabled(False)
        head.addWidget(self.save_search_button)
        layout.addLayout(head)

        self.tree = _Tree()
        layout.addWidget(self.tree, 1)
        self.all_item = QTreeWidgetItem(["All images", ""])
        self.all_item.setData(0, KIND_ROLE, "all")
        self.all_item.setIcon(0, icons.icon("gallery"))
        self.boards_item = self._section("BOARDS", "boards")
        self.searches_item = self._section("SAVED SEARCHES", "searches")
        self.tree.addTopLevelItems([self.all_item, self.boards_item, self.searches_item])
        self.boards_item.setExpanded(True)
        self.searches_item.setExpanded(True)
        self._empty_boards = self._hint(self.boards_item, "No boards yet — press + to make one")
        self._empty_searches = self._hint(self.searches_item, "Type a filter, then save it here")
        self.tree.setCurrentItem(self.all_item)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        self.tree.dropped.connect(self.dropped_on_board)
        self.tree.customContextMenuRequested.connect(self._context)
        self.tree.delete_pressed.connect(self._delete_pressed)

    def _section(self, text: str, name: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text, ""])
        item.setData(0, KIND_ROLE, "section")
        item.setData(0, NAME_ROLE, name)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = QFont(item.font(0))
        font.setBold(True)
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        item.setFont(0, font)
        return item

    def _hint(self, parent: QTreeWidgetItem, text: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text, ""])
        item.setData(0, KIND_ROLE, "hint")
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setToolTip(0, text)
        parent.addChild(item)
        return item

    # --- what it shows -------------------------------------------------------------------------

    def set_boards(self, boards: list[BoardRecord]) -> None:
        current = self.current()
        parent = self.boards_item
        parent.takeChildren()
        for b in boards:
            item = QTreeWidgetItem([b.name, f"{b.count:,}"])
            item.setData(0, KIND_ROLE, "board")
            item.setData(0, NAME_ROLE, b.name)
            item.setIcon(0, icons.icon("board"))
            item.setToolTip(0, f"{b.name}: {b.count:,} image{'s' if b.count != 1 else ''}. "
                               "Drop thumbnails here to add them.")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            parent.addChild(item)
        if not boards:
            self._empty_boards = self._hint(parent, "No boards yet — press + to make one")
        self.mark_current(*current)

    def set_searches(self, searches: list[SavedSearchRecord]) -> None:
        current = self.current()
        parent = self.searches_item
        parent.takeChildren()
        for s in searches:
            item = QTreeWidgetItem([s.name, ""])
            item.setData(0, KIND_ROLE, "search")
            item.setData(0, NAME_ROLE, s.name)
            item.setIcon(0, icons.icon("saved-search"))
            item.setToolTip(0, f"{s.filter}  ({SORT_NAMES.get(s.sort, s.sort)})")
            parent.addChild(item)
        if not searches:
            self._empty_searches = self._hint(parent, "Type a filter, then save it here")
        self.mark_current(*current)

    def items(self, kind: str) -> list[QTreeWidgetItem]:
        parent = self.boards_item if kind == "board" else self.searches_item
        return [parent.child(i) for i in range(parent.childCount()) if parent.child(i).data(0, KIND_ROLE) == kind]

    def names(self, kind: str) -> list[str]:
        return [str(i.data(0, NAME_ROLE)) for i in self.items(kind)]

    def count_of(self, board: str) -> int | None:
        for i in self.items("board"):
            if i.data(0, NAME_ROLE) == board:
                return int(i.text(1).replace(",", "") or 0)
        return None

    def item_for(self, kind: str, name: str) -> QTreeWidgetItem | None:
        if kind == "all" or not kind:
            return self.all_item
        for i in self.items(kind):
            if str(i.data(0, NAME_ROLE)).casefold() == name.casefold():
                return i
        return None

    def mark_current(self, kind: str, name: str) -> None:
        """Highlight what the gallery shows (a board, a saved search, or All images)."""
        item = self.item_for(kind, name) or self.all_item
        self.tree.blockSignals(True)
        try:
            self.tree.setCurrentItem(item)
        finally:
            self.tree.blockSignals(False)

    def current(self) -> tuple[str, str]:
        item = self.tree.currentItem()
        if item is None or item.data(0, KIND_ROLE) not in ("board", "search"):
            return "all", ""
        return str(item.data(0, KIND_ROLE)), str(item.data(0, NAME_ROLE))

    # --- what the user did ---------------------------------------------------------------------

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        kind, name = item.data(0, KIND_ROLE), item.data(0, NAME_ROLE)
        if kind == "all":
            self.all_clicked.emit()
        elif kind == "board":
            self.board_clicked.emit(str(name))
        elif kind == "search":
            self.search_clicked.emit(str(name))

    def _context(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        kind = item.data(0, KIND_ROLE) if item is not None else "section"
        name = item.data(0, NAME_ROLE) if item is not None else "boards"
        if kind == "section":
            kind, name = f"section:{name}", ""
        elif kind not in ("board", "search"):
            return
        self.context_requested.emit(str(kind), str(name or ""), self.tree.viewport().mapToGlobal(pos))

    def _delete_pressed(self, item: QTreeWidgetItem) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind in ("board", "search"):
            self.delete_requested.emit(str(kind), str(item.data(0, NAME_ROLE)))
