"""The gallery's list model: every stored image, newest first, loaded a page at a time.

A custom ``QAbstractListModel``, not ``QStandardItemModel``: the list can hold tens of
thousands of images, and PySide6 6.12's per-item reference leak aborts the process
with standard items (PLATFORM_NOTES.md; ``tests/gui/test_many_items.py``).

- Paging: ``canFetchMore``/``fetchMore`` ask ``Service.gallery_page`` for the next page
  after the last row's keyset cursor ``(created_at, id)``, on the worker. The view calls
  ``fetchMore`` when it scrolls near the end; a page arrives and is appended.
- Thumbnails: pages carry each image's JPEG thumbnail (made once, when it was stored).
  They are decoded only when a cell is painted, straight to cell size with
  ``QImageReader.setScaledSize``, and kept in ``QPixmapCache``. Full images are never
  read to list them.
- Filters (search over prompts, favourites only) reload from the first page; results of
  an older filter that arrive late are dropped (``_epoch``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QImageReader, QPixmap, QPixmapCache

from core.service import Service
from core.store import ImageRecord
from gui.context import AppContext

PAGE_SIZE = 150
CELL = 168  # px, square cells; the delegate draws the thumbnail cropped to fill one
RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
FavoriteRole = Qt.ItemDataRole.UserRole + 3
ThumbnailRole = Qt.ItemDataRole.UserRole + 4

QPixmapCache.setCacheLimit(96 * 1024)  # KiB: ~1,500 decoded cells

_Index = QModelIndex | QPersistentModelIndex


class GalleryModel(QAbstractListModel):
    loading_changed = Signal(bool)
    total_changed = Signal(int)  # how many images match the filter (-1: unknown)
    failed = Signal(object)
    reset_done = Signal()

    def __init__(self, ctx: AppContext, *, page_size: int = PAGE_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.search = ""
        self.favorites_only = False
        self.total = -1
        self.drag_source: Any = None  # set by the gallery view: builds the drag's MIME data
        self._rows: list[ImageRecord] = []
        self._row_of: dict[int, int] = {}
        self._exhausted = True  # nothing to fetch until a service is there
        self._loading = False
        self._epoch = 0
        self.cell_px = CELL

    # --- filters and reloads ------------------------------------------------------------

    def set_filter(self, search: str | None = None, favorites_only: bool | None = None) -> None:
        changed = False
        if search is not None and search.strip() != self.search:
            self.search = search.strip()
            changed = True
        if favorites_only is not None and favorites_only != self.favorites_only:
            self.favorites_only = favorites_only
            changed = True
        if changed:
            self.reload()

    @property
    def filtered(self) -> bool:
        return bool(self.search) or self.favorites_only

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def reload(self) -> None:
        """Forget the rows and fetch the first page for the current filter."""
        self._epoch += 1
        self.beginResetModel()
        self._rows = []
        self._row_of = {}
        self._exhausted = False
        self._set_loading(False)
        self.endResetModel()
        self.total = -1
        self.total_changed.emit(-1)
        if self.ctx.service is None:
            self._exhausted = True
            self.reset_done.emit()
            return
        self._fetch_page()
        self._count()

    def clear(self) -> None:
        self._epoch += 1
        self.beginResetModel()
        self._rows = []
        self._row_of = {}
        self._exhausted = True
        self.endResetModel()
        self._set_loading(False)

    def _set_loading(self, value: bool) -> None:
        if value != self._loading:
            self._loading = value
            self.loading_changed.emit(value)

    def _count(self) -> None:
        epoch, search, fav = self._epoch, self.search, self.favorites_only

        def done(n: int) -> None:
            if epoch == self._epoch:
                self.total = n
                self.total_changed.emit(n)

        self.ctx.call(lambda s: s.count_images(search=search, favorites_only=fav), on_success=done,
                      on_failure=self.failed.emit, owner=self, name="count images")

    # --- paging -------------------------------------------------------------------------

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._fetch_page()

    def _fetch_page(self) -> None:
        after = self._rows[-1].cursor if self._rows else None
        epoch, search, fav, limit = self._epoch, self.search, self.favorites_only, self.page_size

        def page(s: Service) -> list[ImageRecord]:
            return s.gallery_page(after=after, limit=limit, search=search, favorites_only=fav)

        def done(records: list[ImageRecord]) -> None:
            if epoch != self._epoch:
                return
            self._set_loading(False)
            fresh = [r for r in records if r.id not in self._row_of]
            if len(records) < limit:
                self._exhausted = True
            if fresh:
                self._append(fresh)
            if after is None:
                self.reset_done.emit()

        def fail(exc: BaseException) -> None:
            if epoch != self._epoch:
                return
            self._set_loading(False)
            self._exhausted = True  # until the next reload (reconnect reloads)
            self.failed.emit(exc)
            if after is None:
                self.reset_done.emit()

        self._set_loading(True)
        self.ctx.call(page, on_success=done, on_failure=fail, owner=self, name="gallery page")

    def _append(self, records: list[ImageRecord]) -> None:
        start = len(self._rows)
        self.beginInsertRows(QModelIndex(), start, start + len(records) - 1)
        self._rows.extend(records)
        for i, r in enumerate(records, start):
            self._row_of[r.id] = i
        self.endInsertRows()

    # --- changes made in this window ----------------------------------------------------

    def prepend(self, records: list[ImageRecord]) -> int:
        """New images (just generated) go on top, if the current filter would show them."""
        if self.favorites_only or self.search:
            return 0
        fresh = [r for r in records if r.id not in self._row_of]
        if not fresh:
            return 0
        fresh.sort(key=lambda r: r.cursor, reverse=True)
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._rows[0:0] = fresh
        self._reindex()
        self.endInsertRows()
        if self.total >= 0:
            self.total += len(fresh)
            self.total_changed.emit(self.total)
        return len(fresh)

    def remove_ids(self, ids: list[int]) -> None:
        rows = sorted((self._row_of[i] for i in ids if i in self._row_of), reverse=True)
        for row in rows:  # one signal per contiguous run would be faster; deletes are small
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        if rows:
            self._reindex()
            if self.total >= 0:
                self.total = max(0, self.total - len(rows))
                self.total_changed.emit(self.total)

    def set_favorite_local(self, ids: list[int], favorite: bool) -> None:
        for image_id in ids:
            row = self._row_of.get(image_id)
            if row is None:
                continue
            r = self._rows[row]
            self._rows[row] = replace(r, is_favorite=favorite)
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [FavoriteRole, RecordRole])
        if self.favorites_only and not favorite:
            self.remove_ids(ids)

    def _reindex(self) -> None:
        self._row_of = {r.id: i for i, r in enumerate(self._rows)}

    # --- reading ------------------------------------------------------------------------

    def record(self, row: int) -> ImageRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def records(self) -> list[ImageRecord]:
        return list(self._rows)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == ThumbnailRole or role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(r)
        if role == RecordRole:
            return r
        if role == IdRole:
            return r.id
        if role == FavoriteRole:
            return r.is_favorite
        if role == Qt.ItemDataRole.DisplayRole:
            return r.prompt
        if role == Qt.ItemDataRole.ToolTipRole:
            seed = f"\nSeed {r.seed}" if r.seed is not None else ""
            prompt = r.prompt if len(r.prompt) <= 300 else r.prompt[:300] + "…"
            return f"{prompt}{seed}\n{r.created_at.astimezone():%Y-%m-%d %H:%M}"
        if role == Qt.ItemDataRole.AccessibleTextRole:
            fav = ", favourite" if r.is_favorite else ""
            return f"Image: {r.prompt[:120]}{fav}"
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self.cell_px, self.cell_px)
        return None

    def thumbnail(self, r: ImageRecord) -> QPixmap | None:
        """The cell-sized thumbnail, decoded on first paint and cached."""
        key = f"gallery:{r.id}:{self.cell_px}"
        pm = QPixmapCache.find(key)
        if pm is not None and not pm.isNull():
            return pm
        if not r.thumbnail:
            return None
        pm = decode_cover(r.thumbnail, self.cell_px * 2)  # 2x: sharp on HiDPI, cheap to downscale
        if pm is None:
            return None
        QPixmapCache.insert(key, pm)
        return pm

    # --- drag and drop ------------------------------------------------------------------

    def flags(self, index: _Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled
        return base

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "image/png"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData | None:  # type: ignore[override]
        rows = sorted({i.row() for i in indexes if i.isValid()})
        records = [self._rows[r] for r in rows if 0 <= r < len(self._rows)]
        if not records or self.drag_source is None:
            return None
        return self.drag_source(records)


def decode_cover(data: bytes, side: int) -> QPixmap | None:
    """Decode a JPEG thumbnail so its shorter side is ``side`` px (the JPEG decoder scales cheaply)."""
    buf = QBuffer()
    buf.setData(QByteArray(data))
    buf.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buf)
    size = reader.size()
    if size.isValid() and min(size.width(), size.height()) > side:
        scale = side / min(size.width(), size.height())
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    img = reader.read()
    if img.isNull():
        return None
    return QPixmap.fromImage(img)
