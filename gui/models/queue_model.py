"""The queue's list model: every queue item in run order, reordered by dragging.

A custom ``QAbstractListModel`` (a pasted list or a prompt file can hold thousands of
prompts; docs/platform-notes.md on why not ``QStandardItemModel``). Reordering is an internal
move: ``QListView`` with ``InternalMove`` calls :meth:`moveRows` for a drop between rows
(Qt 6's ``QListView::dropEvent``), and the model says where the item went through
:attr:`QueueModel.moved` so the runner stores it (``QueueService.move``). A running item
stays where it is.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from core.imagefx import protocol
from core.store import QueueCounts, QueueItem

ItemRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
StateRole = Qt.ItemDataRole.UserRole + 3
QUEUE_MIME = "application/x-imagefx-queue-items"

STATE_LABELS = {"pending": "Pending", "running": "Running", "done": "Done", "failed": "Failed",
                "cancelled": "Cancelled"}

_Index = QModelIndex | QPersistentModelIndex


def options_text(item: QueueItem, *, count: bool = True) -> str:
    """``4 images · Landscape (16:9) · seed 1234 · prompts.txt``: what the item will ask for."""
    parts = [f"{item.count} image{'s' if item.count != 1 else ''}"] if count else []
    parts.append(protocol.ASPECT_LABELS.get(item.aspect_ratio, item.aspect_ratio))
    if item.seed:
        parts.append(f"seed {item.seed}")
    if item.source and item.source not in ("editor", "paste"):
        parts.append(item.source)
    return " · ".join(parts)


def detail_text(item: QueueItem) -> str:
    """The second line: the error for a failed item, the result for a done one, else the options."""
    if item.state == "failed":
        return item.error or "Failed."
    if item.state == "done":
        n = item.image_count
        return f"{n} image{'s' if n != 1 else ''} stored · {options_text(item, count=False)}"
    if item.state == "pending" and item.error:  # a note: interrupted, or waiting for a sign-in
        return f"{item.error} · {options_text(item)}"
    return options_text(item)


class QueueModel(QAbstractListModel):
    moved = Signal(int, int)  # item id, its new index in the queue

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[QueueItem] = []
        self._row_of: dict[int, int] = {}

    # --- contents ---------------------------------------------------------------------------

    def set_items(self, items: list[QueueItem]) -> None:
        """The whole queue, as read. Same items in the same order: rows update in place, so
        the selection and scroll position survive a reload."""
        if [i.id for i in items] == [i.id for i in self._items]:
            changed = [row for row, (old, new) in enumerate(zip(self._items, items, strict=True)) if old != new]
            self._items = list(items)
            if changed:
                self.dataChanged.emit(self.index(min(changed)), self.index(max(changed)))
            return
        self.beginResetModel()
        self._items = list(items)
        self._reindex()
        self.endResetModel()

    def update_item(self, item: QueueItem) -> None:
        """A run reported a new state for one item."""
        row = self._row_of.get(item.id)
        if row is None:
            return  # added elsewhere; the next reload brings it
        old = self._items[row]
        if item.position != old.position:
            item = replace(item, position=old.position)
        self._items[row] = item
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def clear(self) -> None:
        self.beginResetModel()
        self._items = []
        self._row_of = {}
        self.endResetModel()

    def _reindex(self) -> None:
        self._row_of = {it.id: row for row, it in enumerate(self._items)}

    def item(self, row: int) -> QueueItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[QueueItem]:
        return list(self._items)

    def row_of(self, item_id: int) -> int | None:
        return self._row_of.get(item_id)

    def counts(self) -> QueueCounts:
        n = dict.fromkeys(QueueCounts.__dataclass_fields__, 0)
        for it in self._items:
            if it.state in n:
                n[it.state] += 1
        return QueueCounts(**n)

    # --- Qt ---------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        it = self._items[index.row()]
        if role == ItemRole:
            return it
        if role == IdRole:
            return it.id
        if role == StateRole:
            return it.state
        if role == Qt.ItemDataRole.DisplayRole:
            return it.prompt
        if role == Qt.ItemDataRole.ToolTipRole:
            prompt = it.prompt if len(it.prompt) <= 400 else it.prompt[:400] + "…"
            return f"{prompt}\n\n{STATE_LABELS.get(it.state, it.state)} — {detail_text(it)}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{STATE_LABELS.get(it.state, it.state)}: {it.prompt[:120]}. {detail_text(it)}"
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled  # drops go between rows, never onto one
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        it = self.item(index.row())
        if it is not None and it.state != "running":
            flags |= Qt.ItemFlag.ItemIsDragEnabled
        return flags

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [QUEUE_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # type: ignore[override]
        ids = [self._items[i.row()].id for i in sorted(indexes, key=lambda i: i.row()) if i.isValid()]
        mime = QMimeData()
        mime.setData(QUEUE_MIME, QByteArray(json.dumps(ids).encode()))
        return mime

    def moveRows(self, source_parent: _Index, source_row: int, count: int, destination_parent: _Index,
                 destination_child: int) -> bool:
        """Move ``count`` rows so they sit before ``destination_child`` (an index from before the move)."""
        if source_parent.isValid() or destination_parent.isValid() or count < 1:
            return False
        n = len(self._items)
        if source_row < 0 or source_row + count > n or not 0 <= destination_child <= n:
            return False
        if source_row <= destination_child <= source_row + count:
            return False  # onto itself: nothing moves
        if any(it.state == "running" for it in self._items[source_row:source_row + count]):
            return False
        if not self.beginMoveRows(QModelIndex(), source_row, source_row + count - 1, QModelIndex(),
                                  destination_child):
            return False
        block = self._items[source_row:source_row + count]
        del self._items[source_row:source_row + count]
        at = destination_child if destination_child < source_row else destination_child - count
        self._items[at:at] = block
        self._reindex()
        self.endMoveRows()
        for offset, it in enumerate(block):
            self.moved.emit(it.id, at + offset)
        return True
