"""The gallery's list model: every stored image, newest first, loaded a page at a time.

A custom model, not ``QStandardItemModel``: the list can hold tens of thousands of
images, and PySide6 6.12's per-item reference leak aborts the process with standard
items (docs/platform-notes.md; ``tests/gui/test_many_items.py``). Its base is
``QStringListModel`` (its strings unused) rather than ``QAbstractListModel``, so that
``rowCount`` stays in C++: ``QListView`` re-lays out every row whenever rows are added,
and asks the model for an index per row; with ``rowCount`` in Python that cost ~1.7 µs a
row, i.e. a 170 ms stall per page at 100,000 images, against ~11 ms in C++
(``benchmarks/README.md``). Row bookkeeping therefore goes through ``insertRows``,
``removeRows`` and ``setStringList``, always together with ``_rows``.

- Paging: ``canFetchMore``/``fetchMore`` ask ``Service.gallery_page`` for the next page
  after the last row's keyset cursor ``(created_at, id)``, on the worker. The view calls
  ``fetchMore`` when it scrolls near the end; a page arrives and is appended. Pages carry
  no image bytes at all (a row is ~0.5 KB), so 100,000 rows stay well under 100 MB.
- Thumbnails (JPEGs made once, when an image was stored) are read and decoded on the
  worker, never on the UI thread, and only for cells that are painted: a paint that finds
  no pixmap asks for one (:meth:`thumbnail`) and draws a placeholder; requests are batched
  (one query and one decode loop per batch), the newest first, and stale ones are dropped
  while the user scrolls fast. Decoded pixmaps, sized to the cell, live in a bounded LRU
  cache (:data:`CACHE_BYTES`). The first page brings the thumbnails of its first screen
  with it, decoded in the same worker call, so the first paint needs no second trip.
  Figures: ``benchmarks/README.md`` (decoding in paint stalled scrolling for ~80 ms and kept
  every thumbnail's bytes in memory).
- Rows are kept as plain tuples of the record's fields, turned into :class:`ImageRecord`
  on demand: tuples of strings, numbers and datetimes are untracked by Python's cyclic
  garbage collector, records are not, and with 100,000 of them each full collection (run on
  whichever thread allocates, holding the GIL) stalled the UI for ~60 ms more.
- Filters (search over prompts, favourites only) reload from the first page; results of
  an older filter that arrive late are dropped (``_epoch``).
- Images stored by someone else (the CLI, a queue run in a terminal, another window) show up
  by themselves: every few seconds the model asks for what was stored after the highest image
  id it knows (:meth:`check_for_new`, one indexed query) and merges the new rows in at their
  places by date. Its own generations are shown at once (:meth:`prepend`); the check then
  finds them present.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from typing import Any

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRectF,
    QSize,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QImage, QImageReader, QPainter, QPainterPath, QPixmap

from core.changes import ChangeKind, Changes
from core.service import Service
from core.store import ImageRecord
from gui.context import AppContext

PAGE_SIZE = 150
CELL = 168  # px, square cells; the delegate draws the thumbnail cropped to fill one
CELL_MARGIN = 4  # px around a thumbnail inside its cell
CELL_RADIUS = 8.0  # rounded corners of a thumbnail
WATCH_MS = 3000  # how often the gallery asks whether others stored images
WATCH_BATCH = 200  # new images merged per check; a bigger burst takes a few checks
FIRST_SCREEN = 64  # thumbnails read and decoded together with the first page
THUMB_BATCH = 32  # thumbnails per worker call
MAX_WANTED = 2 * THUMB_BATCH  # older requests are dropped: their cells have scrolled away
MAX_BATCHES_IN_FLIGHT = 1  # one core decodes; the other stays free for the UI thread
CACHE_BYTES = 32 * 1024 * 1024  # decoded cells: ~320 at 160 px (6 screens), ~80 at 320 px (HiDPI)
RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
FavoriteRole = Qt.ItemDataRole.UserRole + 3
ThumbnailRole = Qt.ItemDataRole.UserRole + 4

_Index = QModelIndex | QPersistentModelIndex
Row = tuple[Any, ...]  # an ImageRecord's fields, in order
_FIELDS = [f.name for f in fields(ImageRecord)]
_ID, _CREATED, _FAVORITE = _FIELDS.index("id"), _FIELDS.index("created_at"), _FIELDS.index("is_favorite")
_THUMBNAIL = _FIELDS.index("thumbnail")


def _key(t: Row) -> tuple[Any, int]:
    """A row's place in the gallery (newest first) and its keyset cursor: (created_at, id)."""
    return t[_CREATED], t[_ID]


def _as_row(r: ImageRecord) -> Row:
    """The record as a tuple, without its thumbnail bytes (cells read those from the database)."""
    t = tuple(getattr(r, name) for name in _FIELDS)
    return t[:_THUMBNAIL] + (None,) + t[_THUMBNAIL + 1:] if t[_THUMBNAIL] is not None else t
_decoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnails")  # first screen only


class GalleryModel(QStringListModel):
    loading_changed = Signal(bool)
    total_changed = Signal(int)  # how many images match the filter (-1: unknown)
    failed = Signal(object)
    reset_done = Signal()
    arrived = Signal(int)  # images stored elsewhere were merged in (how many)
    rows_refreshed = Signal(object)  # frozenset[int]: image ids re-read after a change (apply_changes)

    def __init__(self, ctx: AppContext, *, page_size: int = PAGE_SIZE, watch_ms: int = WATCH_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.search = ""
        self.favorites_only = False
        self.trash = False  # the Trash view: only images in the Trash (issue 11)
        self.total = -1
        self.drag_source: Any = None  # set by the gallery view: builds the drag's MIME data
        self._rows: list[Row] = []
        self._row_of: dict[int, int] = {}
        self._exhausted = True  # nothing to fetch until a service is there
        self._loading = False
        self._epoch = 0
        self.cell_px = CELL
        # Thumbnails: decoded pixmaps (LRU), requests waiting, batches on the worker.
        self._decode_side = CELL - 2 * CELL_MARGIN  # a decoded thumbnail's side, device pixels
        self._device_pixel_ratio = 1.0
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._pixmap_bytes = 0
        self._no_thumbnail: set[int] = set()  # stored without one (older databases)
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._batches = 0
        self._flush_scheduled = False
        self._thumb_epoch = 0
        self.decoded = 0  # thumbnails decoded since the last cache clear (benchmarks)
        # Watching for images stored elsewhere: the highest image id already looked at.
        self._since: int | None = None
        self._checking = False
        self._watch = QTimer(self)
        self._watch.setInterval(watch_ms)
        self._watch.timeout.connect(self.check_for_new)
        # Refreshing from change descriptors: the latest refresh asked for, per image id.
        self._refresh_seq = 0
        self._refresh_asked: dict[int, int] = {}
        ctx.changes_applied.connect(self.apply_changes)

    # --- filters and reloads ------------------------------------------------------------

    def set_filter(self, search: str | None = None, favorites_only: bool | None = None,
                   trash: bool | None = None) -> None:
        changed = False
        if trash is not None and trash != self.trash:
            self.trash = trash
            changed = True
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
        return bool(self.search) or self.favorites_only or self.trash

    def _filter(self) -> dict[str, Any]:
        """The filter as the service's listing calls take it (captured when a call starts)."""
        return {"search": self.search, "favorites_only": self.favorites_only, "trash": self.trash}

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def reload(self) -> None:
        """Forget the rows and fetch the first page for the current filter."""
        self._epoch += 1
        self._rows = []
        self._row_of = {}
        self._since = None
        self._checking = False  # a check still out is dropped by its epoch
        self._exhausted = False
        self._set_loading(False)
        self._wanted.clear()
        self.setStringList([])  # the reset
        self.total = -1
        self.total_changed.emit(-1)
        if self.ctx.service is None:
            self._exhausted = True
            self.reset_done.emit()
            return
        self._fetch_page()  # the count follows the first page: it would only slow it down

    def clear(self) -> None:
        self._epoch += 1
        self._rows = []
        self._row_of = {}
        self._since = None
        self._checking = False  # a check still out is dropped by its epoch
        self._watch.stop()
        self._exhausted = True
        self._wanted.clear()
        self.setStringList([])  # the reset
        self._set_loading(False)
        self.clear_thumbnail_cache()

    def _set_loading(self, value: bool) -> None:
        if value != self._loading:
            self._loading = value
            self.loading_changed.emit(value)

    def _count(self) -> None:
        epoch, flt = self._epoch, self._filter()

        def done(n: int) -> None:
            if epoch == self._epoch:
                self.total = n
                self.total_changed.emit(n)

        self.ctx.call(lambda s: s.count_images(**flt), on_success=done,
                      on_failure=self.failed.emit, owner=self, name="count images")

    # --- paging -------------------------------------------------------------------------

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        if self.canFetchMore(parent):
            self._fetch_page()

    def _fetch_page(self) -> None:
        after = _key(self._rows[-1]) if self._rows else None
        epoch, flt, limit = self._epoch, self._filter(), self.page_size
        side, thumb_epoch = self._decode_side, self._thumb_epoch
        cached = set(self._pixmaps)

        def page(s: Service) -> tuple[list[Row], dict[int, QImage | None], int | None]:
            # Read before the page: what is stored between the two is in the page and is then
            # found present by the first check, never missed.
            since = s.images_added_since(None)[1] if after is None else None
            records = s.gallery_page(after=after, limit=limit, **flt,
                                     with_thumbnails=False)
            images: dict[int, QImage | None] = {}
            if after is None:  # the first screen's thumbnails come with the first page
                ids = [r.id for r in records[:FIRST_SCREEN] if r.id not in cached]
                images = _read_thumbnails(s, ids, side, parallel=True)
            return [_as_row(r) for r in records], images, since

        def done(result: tuple[list[Row], dict[int, QImage | None], int | None]) -> None:
            records, images, since = result
            if epoch != self._epoch:
                return
            self._set_loading(False)
            if since is not None:
                self._since = since
                self._watch.start()
            if thumb_epoch == self._thumb_epoch:
                self._put_thumbnails(images, notify=False)
            fresh = [t for t in records if t[_ID] not in self._row_of]
            if len(records) < limit:
                self._exhausted = True
            if fresh:
                self._append(fresh)
            if after is None:
                self.reset_done.emit()
                self._count()

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

    def _append(self, rows: list[Row]) -> None:
        start = len(self._rows)
        self._rows.extend(rows)
        for i, t in enumerate(rows, start):
            self._row_of[t[_ID]] = i
        self.insertRows(start, len(rows))

    # --- changes made in this window ----------------------------------------------------

    def prepend(self, records: list[ImageRecord]) -> int:
        """New images (just generated) go on top, if the current filter would show them.
        Returns how many of them the gallery shows now (some may have come in already through
        :meth:`check_for_new`); with a search or the favourites filter on, none are added here:
        the next check brings the ones the filter matches."""
        if self.filtered:
            return sum(r.id in self._row_of for r in records)
        # Thumbnail bytes are not kept in rows: the cells read and decode them on the worker.
        fresh = [_as_row(r) for r in records if r.id not in self._row_of]
        if fresh:
            fresh.sort(key=_key, reverse=True)
            self._rows[0:0] = fresh
            self._reindex()
            self.insertRows(0, len(fresh))
            self._add_to_total(len(fresh))
        return sum(r.id in self._row_of for r in records)

    def _add_to_total(self, n: int) -> None:
        if self.total >= 0 and n:
            self.total += n
            self.total_changed.emit(self.total)

    def check_for_new(self) -> None:
        """Ask (on the worker) for images stored elsewhere since the last look, and merge them in."""
        if self._since is None or self._checking or not self.ctx.connected:
            return
        epoch, since, flt = self._epoch, self._since, self._filter()

        def done(result: tuple[list[ImageRecord], int]) -> None:
            self._checking = False
            records, next_since = result
            if epoch != self._epoch:
                return
            self._since = next_since
            n = self.merge(records)
            if n:
                self.arrived.emit(n)

        def fail(_exc: BaseException) -> None:  # a lost database shows its banner (AppContext)
            self._checking = False

        self._checking = True
        self.ctx.call(lambda s: s.images_added_since(since, limit=WATCH_BATCH, **flt),
                      on_success=done, on_failure=fail, owner=self, name="check for new images")

    def merge(self, records: list[ImageRecord]) -> int:
        """Put images the gallery does not hold yet at their places by date (newest first).
        One older than every loaded row is left to paging, unless the list is complete.
        Returns how many images are new to the gallery (shown or left to paging)."""
        fresh = sorted((_as_row(r) for r in records if r.id not in self._row_of),
                       key=_key, reverse=True)
        inserted = False
        for t in fresh:
            key = _key(t)
            lo, hi = 0, len(self._rows)
            while lo < hi:  # the first row that sorts after this one
                mid = (lo + hi) // 2
                if _key(self._rows[mid]) > key:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == len(self._rows) and not self._exhausted:
                continue  # beyond the loaded pages: the page that holds it brings it
            self._rows.insert(lo, t)
            self._row_of[t[_ID]] = lo  # _reindex below fixes the rows after it
            self.insertRows(lo, 1)
            inserted = True
        if inserted:
            self._reindex()
        self._add_to_total(len(fresh))
        return len(fresh)

    def apply_changes(self, changes: Changes) -> None:
        """A change descriptor (``AppContext.changes_applied``): re-read the images it names as the
        current filter shows them: rows that still match are updated, rows that no longer match
        (trashed, unfavourited under the favourites filter) are removed, new matches are merged in.
        "Many" reloads. Only the latest re-read of an image is applied, so replies that arrive out
        of order cannot bring back a stale state."""
        if not changes.touches_images or self.ctx.service is None:
            return
        all_ids = changes.image_ids()
        if all_ids is None:
            self.reload()
            return
        self._refresh_seq += 1
        seq, epoch, flt = self._refresh_seq, self._epoch, self._filter()
        # Images deleted for good are gone from every view: no need to ask.
        gone = changes.ids(ChangeKind.IMAGES_REMOVED) or frozenset()
        for image_id in all_ids:
            self._refresh_asked[image_id] = seq
        if gone:
            for image_id in gone:
                del self._refresh_asked[image_id]
            self.remove_ids(list(gone))
        ids = all_ids - gone
        if not ids:
            self.rows_refreshed.emit(all_ids)
            return

        def done(records: list[ImageRecord]) -> None:
            mine = {i for i in ids if self._refresh_asked.get(i) == seq}
            for i in mine:
                del self._refresh_asked[i]
            if epoch == self._epoch and mine:
                self._refresh_rows(mine, [r for r in records if r.id in mine])

        def fail(_exc: BaseException) -> None:
            for i in ids:
                if self._refresh_asked.get(i) == seq:
                    del self._refresh_asked[i]

        self.ctx.call(lambda s: s.images_matching(ids, **flt), on_success=done,
                      on_failure=fail, owner=self, name="refresh changed images")

    def _refresh_rows(self, ids: set[int], records: list[ImageRecord]) -> None:
        shown = {r.id for r in records}
        gone = [i for i in ids if i in self._row_of and i not in shown]
        if gone:
            self.remove_ids(gone)
        for r in records:
            row = self._row_of.get(r.id)
            if row is None:
                continue
            t = _as_row(r)
            if t != self._rows[row]:
                self._rows[row] = t
                idx = self.index(row)
                self.dataChanged.emit(idx, idx, [FavoriteRole, RecordRole])
        new = [r for r in records if r.id not in self._row_of]
        if new:
            self.merge(new)
            self._count()  # some may have been counted already (beyond the loaded pages)
        self.rows_refreshed.emit(frozenset(ids))

    def remove_ids(self, ids: list[int]) -> None:
        rows = sorted((self._row_of[i] for i in ids if i in self._row_of), reverse=True)
        for row in rows:  # one signal per contiguous run would be faster; deletes are small
            self.removeRows(row, 1)  # the record is still there while views hear "about to be removed"
            del self._rows[row]
        for image_id in ids:
            self._drop_pixmap(image_id)
        if rows:
            self._reindex()
            if self.total >= 0:
                self.total = max(0, self.total - len(rows))
                self.total_changed.emit(self.total)

    def _reindex(self) -> None:
        self._row_of = {t[_ID]: i for i, t in enumerate(self._rows)}

    # --- reading ------------------------------------------------------------------------

    def record(self, row: int) -> ImageRecord | None:
        return ImageRecord(*self._rows[row]) if 0 <= row < len(self._rows) else None

    def cell(self, row: int) -> tuple[QPixmap | None, bool]:
        """What the delegate paints, per cell per frame: the thumbnail (asked for if missing) and
        the favourite flag, read straight from the row."""
        t = self._rows[row] if 0 <= row < len(self._rows) else None
        if t is None:
            return None, False
        image_id = t[_ID]
        pm = self._pixmaps.get(image_id)
        if pm is not None:
            self._pixmaps.move_to_end(image_id)
        elif image_id not in self._no_thumbnail:
            self._want(image_id)
        return pm, bool(t[_FAVORITE])

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def records(self) -> list[ImageRecord]:
        return [ImageRecord(*t) for t in self._rows]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = ImageRecord(*self._rows[index.row()])
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

    # --- thumbnails -----------------------------------------------------------------------

    def thumbnail(self, r: ImageRecord) -> QPixmap | None:
        """The cell-sized thumbnail if it is decoded; otherwise None, and it is asked for."""
        pm = self._pixmaps.get(r.id)
        if pm is not None:
            self._pixmaps.move_to_end(r.id)
            return pm
        if r.id not in self._no_thumbnail:
            self._want(r.id)
        return None

    def thumbnail_ready(self, row: int) -> bool:
        """The row's cell can be painted as it will stay: its thumbnail is decoded (or it has none)."""
        t = self._rows[row] if 0 <= row < len(self._rows) else None
        return t is None or t[_ID] in self._pixmaps or t[_ID] in self._no_thumbnail

    def decoded_count(self) -> int:
        return self.decoded

    def set_cell_size(self, cell_px: int, device_pixel_ratio: float) -> None:
        """The view's cells changed size: make thumbnails for the new size from now on."""
        side = max(16, math.ceil((cell_px - 2 * CELL_MARGIN) * device_pixel_ratio))
        if side != self._decode_side or device_pixel_ratio != self._device_pixel_ratio:
            self._decode_side = side
            self._device_pixel_ratio = device_pixel_ratio
            self.clear_thumbnail_cache()

    def clear_thumbnail_cache(self) -> None:
        self._thumb_epoch += 1  # batches still on the worker were decoded for the old size
        self._pixmaps.clear()
        self._pixmap_bytes = 0
        self._wanted.clear()
        self._in_flight.clear()
        self.decoded = 0

    def _want(self, image_id: int) -> None:
        if image_id in self._in_flight:
            return
        self._wanted[image_id] = None
        self._wanted.move_to_end(image_id)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            QTimer.singleShot(0, self, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        svc = self.ctx.service
        while len(self._wanted) > MAX_WANTED:  # the oldest asks: those cells scrolled past
            self._wanted.popitem(last=False)
        if svc is None or not self._wanted or self._batches >= MAX_BATCHES_IN_FLIGHT:
            return
        ids: list[int] = []
        while self._wanted and len(ids) < THUMB_BATCH:
            ids.append(self._wanted.popitem(last=True)[0])  # newest first: what is on screen now
        self._in_flight.update(ids)
        self._batches += 1
        side, thumb_epoch = self._decode_side, self._thumb_epoch

        def finished(images: dict[int, QImage | None] | None) -> None:
            self._batches -= 1
            if thumb_epoch == self._thumb_epoch:
                self._in_flight.difference_update(ids)
                if images is not None:
                    self._put_thumbnails(images, notify=True)
            if self._wanted and not self._flush_scheduled:
                self._flush_scheduled = True
                QTimer.singleShot(0, self, self._flush)

        self.ctx.call(lambda s: _read_thumbnails(s, ids, side), on_success=finished,
                      on_failure=lambda _e: finished(None), owner=self, name="thumbnails")

    def _put_thumbnails(self, images: dict[int, QImage | None], *, notify: bool) -> None:
        rows = []
        for image_id, img in images.items():
            if img is None:
                self._no_thumbnail.add(image_id)
            else:
                pm = QPixmap.fromImage(img)
                pm.setDevicePixelRatio(self._device_pixel_ratio)
                old = self._pixmaps.pop(image_id, None)
                if old is not None:
                    self._pixmap_bytes -= _cost(old)
                self._pixmaps[image_id] = pm
                self._pixmap_bytes += _cost(pm)
                self.decoded += 1
            row = self._row_of.get(image_id)
            if row is not None:
                rows.append(row)
        while self._pixmap_bytes > CACHE_BYTES and len(self._pixmaps) > 1:
            _, dropped = self._pixmaps.popitem(last=False)
            self._pixmap_bytes -= _cost(dropped)
        if notify and rows:
            # One signal for the span: the view repaints what of it is visible, once.
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [ThumbnailRole])

    def _drop_pixmap(self, image_id: int) -> None:
        pm = self._pixmaps.pop(image_id, None)
        if pm is not None:
            self._pixmap_bytes -= _cost(pm)

    # --- drag and drop ------------------------------------------------------------------

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDragEnabled
                | Qt.ItemFlag.ItemNeverHasChildren)  # not editable, unlike the base's strings

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "image/png"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData | None:  # type: ignore[override]
        rows = sorted({i.row() for i in indexes if i.isValid()})
        records = [ImageRecord(*self._rows[r]) for r in rows if 0 <= r < len(self._rows)]
        if not records or self.drag_source is None:
            return None
        return self.drag_source(records)


def _cost(pm: QPixmap) -> int:
    return pm.width() * pm.height() * max(1, pm.depth() // 8)


def _read_thumbnails(s: Service, ids: list[int], side: int, *, parallel: bool = False) -> dict[int, QImage | None]:
    """On the worker: one query for the thumbnails of ``ids``, each made into a cell image (None: none stored).

    ``parallel`` (the first screen, while the user waits for it): decoded on both cores; Qt's JPEG
    decoder runs without the GIL. Scrolling uses one core, leaving the other to the UI thread."""
    if not ids:
        return {}
    data = s.thumbnails(ids)
    blobs = [data.get(image_id) for image_id in ids]

    def make(blob: bytes | None) -> QImage | None:
        return cell_image(blob, side) if blob else None

    images = list(_decoders.map(make, blobs)) if parallel else [make(b) for b in blobs]
    return dict(zip(ids, images, strict=True))


def cell_image(data: bytes, side: int) -> QImage | None:
    """The thumbnail as the delegate draws it: a ``side``-px square, centre-cropped, rounded corners.

    Made on the worker (QPainter on a QImage is thread-safe), so a paint draws each cell with one
    unscaled, unclipped blit: ~0.7 ms for a screen of 48 cells instead of ~10 ms scaling and
    clipping each thumbnail to its rounded cell in the paint (benchmarks/README.md)."""
    img = decode_cover_image(data, side)
    if img is None:
        return None
    out = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(0)
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    path = QPainterPath()
    path.addRoundedRect(0, 0, side, side, CELL_RADIUS, CELL_RADIUS)
    p.setClipPath(path)
    scale = max(side / img.width(), side / img.height())
    w, h = side / scale, side / scale
    p.drawImage(QRectF(0, 0, side, side), img, QRectF((img.width() - w) / 2, (img.height() - h) / 2, w, h))
    p.end()
    return out


def decode_cover_image(data: bytes, side: int) -> QImage | None:
    """Decode a JPEG thumbnail so its shorter side is ``side`` px (the JPEG decoder scales cheaply).

    Thread-safe (``QImage``, not ``QPixmap``): the gallery calls it on the worker."""
    buf = QBuffer()
    buf.setData(QByteArray(data))
    buf.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buf)
    size = reader.size()
    if size.isValid() and min(size.width(), size.height()) > side:
        scale = side / min(size.width(), size.height())
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    img = reader.read()
    return None if img.isNull() else img

