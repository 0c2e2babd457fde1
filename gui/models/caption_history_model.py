"""Past captions, newest first, filtered by a search over their text (``Service.caption_history``)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal

from core.store import CaptionRecord
from gui.context import AppContext

LIMIT = 300
CaptionRole = Qt.ItemDataRole.UserRole + 1
MetaRole = Qt.ItemDataRole.UserRole + 2  # "file.png · 2026-11-25 17:28"
_Index = QModelIndex | QPersistentModelIndex


class CaptionHistoryModel(QAbstractListModel):
    loaded = Signal()

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.search = ""
        self._rows: list[CaptionRecord] = []
        self._epoch = 0

    def reload(self, search: str | None = None) -> None:
        if search is not None:
            self.search = search.strip()
        if self.ctx.service is None:
            return
        self._epoch += 1
        epoch, text = self._epoch, self.search

        def done(rows: list[CaptionRecord]) -> None:
            if epoch != self._epoch:
                return
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            self.loaded.emit()

        self.ctx.call(lambda s: s.caption_history(search=text, limit=LIMIT), on_success=done, owner=self,
                      name="caption history")

    def record(self, row: int) -> CaptionRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{r.caption}\n{PurePath(r.image_path).name} · {r.created_at.astimezone():%Y-%m-%d %H:%M}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{r.caption}\n\n{r.image_path}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return r.caption
        if role == CaptionRole:
            return r
        if role == MetaRole:
            return f"{PurePath(r.image_path).name} · {r.created_at.astimezone():%Y-%m-%d %H:%M}"
        return None
