"""The gallery's list model: every stored image, newest first, with a row for each from the start.

A custom model, not ``QStandardItemModel``: the list can hold tens of thousands of
images, and PySide6 6.12's per-item reference leak aborts the process with standard
items (docs/platform-notes.md; ``tests/gui/test_many_items.py``). Its base is
``QStringListModel`` (its strings unused) rather than ``QAbstractListModel``, so that
``rowCount`` stays in C++: ``QListView`` re-lays out every row whenever rows are added,
and asks the model for an index per row; with ``rowCount`` in Python that cost ~1.7 µs a
row, i.e. a 170 ms stall per page at 100,000 images, against ~11 ms in C++
(``benchmarks/README.md``). Row bookkeeping therefore goes through ``insertRows``,
``removeRows`` and ``setStringList``, always together with ``_rows``.

- **Every image has a row, loaded or not** (so the scrollbar spans the whole library and End
  reaches the oldest image). The first page comes first; then the model counts the images
  the filter matches and adds a placeholder row for each one not loaded yet, and reads a
  sparse index of the library: the keyset key ``(created_at, id)`` of every
  :data:`ANCHOR_EVERY`-th image, one index-only query (``Service.gallery_anchors``). A row
  painted while not loaded asks for its page; the page is read with a keyset query that
  starts right after the nearest loaded row above it, or at the nearest anchor, so a jump to
  any depth costs what the first page costs. The anchors also date every position, which the
  view shows while the scrollbar is dragged (:meth:`date_at`). Pages carry no image bytes (a
  row is ~0.5 KB), so 100,000 loaded rows stay well under 100 MB.
- Positions move: an insert or a removal shifts the rows and anchors below it. A page is
  placed where its starting point is *when it arrives*, into placeholder rows only; if the
  database has fewer images there than the model thought (deleted elsewhere), the
  placeholders left over are removed, and if it has more, rows are added: the model heals
  itself instead of trusting a stale count.
- Thumbnails (JPEGs made once, when an image was stored) are read and decoded on the
  worker, never on the UI thread, and only for cells that are painted: a paint that finds
  no pixmap asks for one and draws a placeholder; requests are batched (one query and one
  decode loop per batch), the newest first, and stale ones are dropped while the user
  scrolls fast. Decoded pixmaps, sized to the cell, live in a bounded LRU cache
  (:data:`CACHE_BYTES`). The first page brings the thumbnails of its first screen with it.
- Rows are kept as plain tuples of the record's fields, turned into :class:`ImageRecord`
  on demand: tuples are untracked by Python's cyclic garbage collector, records are not, and
  with 100,000 of them each full collection stalled the UI for ~60 ms more.
- Filters (search over prompts, favourites only) reload from the first page; results of
  an older filter that arrive late are dropped (``_epoch``).
- Images stored by someone else (the CLI, a queue run in a terminal, another window, a web
  import) show up by themselves: every few seconds the model asks for what was stored after
  the highest image id it knows (:meth:`check_for_new`) and merges the new rows in at their
  places by date (:meth:`merge`).
- Images on their way (a generation running) show as *pending* tiles on top
  (:meth:`add_pending`); they are not images, cannot be selected, and give way to the real
  rows when the generation ends (:meth:`resolve_pending`).

Selection follows images by id, never by row: the model says which image sits in a row
(:meth:`id_at`, :meth:`row_of`), emits :attr:`removed` with the neighbour that takes a removed
image's place, and :attr:`changed` after every change of rows, when its rows are consistent
again (Qt's selection model reports changes *during* ``insertRows``, before ``_rows`` agrees).
:class:`gui.widgets.gallery.GalleryPanel` keeps the selection by id on top of that.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC, datetime, timedelta
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
from gui.export import image_format

PAGE_SIZE = 150
ANCHOR_EVERY = PAGE_SIZE  # the sparse index: the key of every N-th image (a jump reads at most one page)
CELL = 168  # px, square cells; the delegate draws the thumbnail cropped to fill one
CELL_MARGIN = 4  # px around a thumbnail inside its cell
CELL_RADIUS = 8.0  # rounded corners of a thumbnail
WATCH_MS = 3000  # how often the gallery asks whether others stored images
WATCH_BATCH = 200  # new images merged per check; a bigger burst takes a few checks
FIRST_SCREEN = 64  # thumbnails read and decoded together with the first page
THUMB_BATCH = 32  # thumbnails per worker call
MAX_WANTED = 2 * THUMB_BATCH  # older requests are dropped: their cells have scrolled away
MAX_BATCHES_IN_FLIGHT = 1  # one core decodes; the other stays free for the UI thread
MAX_SEEK_PAGES = 8  # pages read to find a selected image again after a reload
CACHE_BYTES = 32 * 1024 * 1024  # decoded cells: ~320 at 160 px (6 screens), ~80 at 320 px (HiDPI)
RecordRole = Qt.ItemDataRole.UserRole + 1
IdRole = Qt.ItemDataRole.UserRole + 2
FavoriteRole = Qt.ItemDataRole.UserRole + 3
ThumbnailRole = Qt.ItemDataRole.UserRole + 4

# A drag of thumbnails inside the app (onto a board) says which images: their ids, as JSON.
IMAGE_IDS_MIME = "application/x-imagefx-image-ids"

# What a cell is (GalleryModel.cell): an image, a row not loaded yet, an image on its way.
IMAGE, UNLOADED, PENDING = 0, 1, 2

_Index = QModelIndex | QPersistentModelIndex
Row = tuple[Any, ...]  # an ImageRecord's fields, in order
Key = tuple[Any, ...]  # a row's rank in the current order (see _RANKS); newest first: (created_at, id)
_FIELDS = [f.name for f in fields(ImageRecord)]
_ID, _CREATED, _FAVORITE = _FIELDS.index("id"), _FIELDS.index("created_at"), _FIELDS.index("is_favorite")
_THUMBNAIL = _FIELDS.index("thumbnail")
_PROMPT_ID = _FIELDS.index("prompt_id")
_RATING = _FIELDS.index("rating")


SORTS = ("newest", "oldest", "rating")  # the service's orders (core/store/filtering.py)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    """Exact microseconds since 1970 (a float timestamp could merge two images made 1 µs apart)."""
    return (when - _EPOCH) // timedelta(microseconds=1)


def _rank_newest(t: Row) -> tuple[Any, ...]:
    return t[_CREATED], t[_ID]


def _rank_oldest(t: Row) -> tuple[Any, ...]:
    return -_micros(t[_CREATED]), -t[_ID]


def _rank_rating(t: Row) -> tuple[Any, ...]:
    return t[_RATING] or 0, t[_CREATED], t[_ID]


# A row's place in each order as one comparable value: a greater rank sorts above (nearer the top).
# Rating: stars, then newest; unrated (0) last, as the service pages them (core/store/repo.py).
_RANKS: dict[str, Callable[[Row], tuple[Any, ...]]] = {
    "newest": _rank_newest, "oldest": _rank_oldest, "rating": _rank_rating}


def _through(cursor: tuple[Any, ...], sort: str) -> tuple[Any, ...]:
    """The keyset cursor that *includes* ``cursor``'s row: newest first, ``(c, i) <= (C, I)`` is
    ``(c, i) < (C, I + 1)`` for integer ids (the rating order likewise on its last key); oldest
    first, ``>= (C, I)`` is ``> (C, I - 1)``. So the service's "after" query starts at the anchor's
    own row."""
    return (*cursor[:-1], cursor[-1] - 1) if sort == "oldest" else (*cursor[:-1], cursor[-1] + 1)


def _cursor_rank(cursor: tuple[Any, ...], sort: str) -> tuple[Any, ...]:
    """The rank (see _RANKS) of the row a service cursor (``cursor_for(sort)``) names."""
    if sort == "oldest":
        return -_micros(cursor[0]), -cursor[1]
    return tuple(cursor)


def _as_row(r: ImageRecord) -> Row:
    """The record as a tuple, without its thumbnail bytes (cells read those from the database)."""
    t = tuple(getattr(r, name) for name in _FIELDS)
    return t[:_THUMBNAIL] + (None,) + t[_THUMBNAIL + 1:] if t[_THUMBNAIL] is not None else t


_decoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="thumbnails")  # first screen only


class _Anchor:
    """A known key at a library position: every row before it sorts above ``key`` (a rank), every
    row from ``pos`` on sorts at or below it. Stays true through inserts and removals (positions
    shift). ``cursor``: the same row as the service's keyset cursor (``cursor_for(sort)``)."""

    __slots__ = ("cursor", "key", "pos")

    def __init__(self, pos: int, key: Key, cursor: tuple[Any, ...]) -> None:
        self.pos = pos
        self.key = key
        self.cursor = cursor


class _Seek:
    __slots__ = ("done", "epoch", "image_id", "key", "tries")

    def __init__(self, epoch: int, image_id: int, key: Key, done: Callable[[int | None], None]) -> None:
        self.epoch, self.image_id, self.key, self.done, self.tries = epoch, image_id, key, done, 0


class GalleryModel(QStringListModel):
    loading_changed = Signal(bool)
    total_changed = Signal(int)  # how many images match the filter (-1: unknown)
    failed = Signal(object)
    reset_done = Signal()  # the first page of a reload is in
    arrived = Signal(int)  # images stored elsewhere were merged in (how many)
    changed = Signal()  # rows were inserted, removed, reset or loaded; ``_rows`` is consistent again
    removed = Signal(list, object)  # image ids removed; the id of the image now in the first one's place
    anchors_ready = Signal()  # the sparse index is in: every position can be loaded and dated
    rows_refreshed = Signal(object)  # frozenset[int]: image ids re-read after a change (apply_changes)

    def __init__(self, ctx: AppContext, *, page_size: int = PAGE_SIZE, watch_ms: int = WATCH_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.anchor_every = ANCHOR_EVERY
        self.search = ""  # plain words (older callers); the search box speaks the filter language:
        self.filter_text = ""  # core/filters.py, checked by the box before it gets here
        self.sort = "newest"
        self._rank = _rank_newest
        self.favorites_only = False
        self.trash = False  # the Trash view: only images in the Trash (issue 11)
        self.total = -1
        self.drag_source: Any = None  # set by the gallery view: builds the drag's MIME data
        self.visible_rows: Callable[[], range] | None = None  # set by the view: which rows are on screen
        self._rows: list[Row | None] = []  # library positions; None = not loaded yet
        self._unloaded = 0  # how many of them are None
        self._row_of: dict[int, int] | None = {}  # image id -> library position (None: to rebuild)
        self._anchors: list[_Anchor] = []
        self._anchor_pos: list[int] | None = []  # positions of _anchors, for bisect (None: to rebuild)
        self._counted = False  # the count is in: _rows has a row for every image
        self._complete = True  # nothing to load (no service yet, or everything is in)
        self._loading = False  # a page is on its way
        self._epoch = 0
        self._mutating = 0
        self._rows_flush_scheduled = False
        self._seeks: list[_Seek] = []
        self._anchors_pending = False  # the sparse index is being read
        self._top_inserts = 0  # rows inserted on top since the index was asked for
        # Pending tiles (images on their way) sit above the library: view row = library position + _lead.
        self._pending: list[list[int]] = []  # [token, n], top first
        self._lead = 0
        self._next_token = 0
        self.cell_px = CELL
        # Thumbnails: decoded pixmaps (LRU), requests waiting, batches on the worker.
        self._decode_side = CELL - 2 * CELL_MARGIN  # a decoded thumbnail's side, device pixels
        self._device_pixel_ratio = 1.0
        self.fit = False  # thumbnails whole (letterboxed in the cell) instead of centre-cropped squares
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._pixmap_bytes = 0
        self._no_thumbnail: set[int] = set()  # stored without one (older databases)
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: set[int] = set()
        self._batches = 0
        self._flush_scheduled = False
        self._thumb_epoch = 0
        self.decoded = 0  # thumbnails decoded since the last cache clear (benchmarks)
        self.pages_read = 0  # pages read since the last reload (tests, benchmarks)
        # Watching for images stored elsewhere: the highest image id already looked at.
        self._since: int | None = None
        self._checking = False
        self._polling = True  # until a change listener delivers what others store (set_polling)
        self._watch = QTimer(self)
        self._watch.setInterval(watch_ms)
        self._watch.timeout.connect(self.check_for_new)
        # Refreshing from change descriptors: the latest refresh asked for, per image id.
        self._refresh_seq = 0
        self._refresh_asked: dict[int, int] = {}
        ctx.changes_applied.connect(self.apply_changes)

    # --- filters and reloads ------------------------------------------------------------

    def set_filter(self, search: str | None = None, favorites_only: bool | None = None,
                   trash: bool | None = None, filter: str | None = None, sort: str | None = None) -> None:
        """Change what the gallery lists and in which order (None: leave as is); reloads if any did.
        ``filter`` must parse (``core.filters.parse``): the search box checks it as it is typed."""
        changed = False
        if sort is not None and sort != self.sort:
            if sort not in _RANKS:
                raise ValueError(f"unknown sort order {sort!r}")
            self.sort = sort
            self._rank = _RANKS[sort]
            changed = True
        if filter is not None and filter.strip() != self.filter_text:
            self.filter_text = filter.strip()
            changed = True
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
        return bool(self.search) or bool(self.filter_text) or self.favorites_only or self.trash

    def _filter(self) -> dict[str, Any]:
        """The filter as the service's listing calls take it (captured when a call starts)."""
        return {"search": self.search, "favorites_only": self.favorites_only, "trash": self.trash,
                "filter": self.filter_text}

    def rank_of(self, r: ImageRecord) -> tuple[Any, ...]:
        """Where an image sorts in the current order (greater: nearer the top); :meth:`locate` takes it."""
        return self._rank(_as_row(r))

    def listing_filter(self) -> dict[str, Any]:
        """The filter the gallery lists with now, as the service's calls take it (``gallery_page``,
        ``images_matching``, ``generation_of``)."""
        return dict(self._filter())

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def exhausted(self) -> bool:
        """Every image of the filter is loaded (nothing left to read)."""
        return self._complete and self._unloaded == 0

    @property
    def counted(self) -> bool:
        return self._counted

    @property
    def mutating(self) -> bool:
        """Inside an insert/remove/reset: rows and Qt's indexes may disagree until :attr:`changed`."""
        return self._mutating > 0

    def reload(self) -> None:
        """Forget the rows and fetch the first page for the current filter."""
        self._forget()
        self._complete = False
        self.total = -1
        self.total_changed.emit(-1)
        if self.ctx.service is None:
            self._complete = True
            self.reset_done.emit()
            self.changed.emit()
            return
        self.changed.emit()
        self._fetch(0, None, "top", self.page_size, first=True)  # the count follows the first page

    def clear(self) -> None:
        self._forget()
        self._watch.stop()
        self._complete = True
        self.clear_thumbnail_cache()
        self.changed.emit()

    def _forget(self) -> None:
        self._epoch += 1
        self._rows = []
        self._unloaded = 0
        self._row_of = {}
        self._anchors = []
        self._anchor_pos = []
        self._anchors_pending = False
        self._seeks = []
        self._explicit = None
        self._counted = False
        self._since = None
        self._checking = False  # a check still out is dropped by its epoch
        self._wanted.clear()
        self._set_loading(False)
        self._mutating += 1
        try:
            self.setStringList([""] * self._lead)  # the reset; pending tiles stay on top
        finally:
            self._mutating -= 1

    def _set_loading(self, value: bool) -> None:
        if value != self._loading:
            self._loading = value
            self.loading_changed.emit(value)

    # --- count and anchors ----------------------------------------------------------------

    def _count(self) -> None:
        epoch, flt, every, sort = self._epoch, self._filter(), self.anchor_every, self.sort

        def counted(n: int) -> None:
            if epoch != self._epoch:
                return
            self._counted = True
            missing = n - len(self._rows)
            if missing > 0 and not self._complete:
                self._insert(len(self._rows), [None] * missing)
            self._complete = True  # every image has a row now (placeholders included)
            self.total = len(self._rows)
            self.total_changed.emit(self.total)
            if self._unloaded > self.page_size:  # a deep library: the index makes every row reachable
                self._anchors_pending = True
                self._top_inserts = 0
                self.ctx.call(lambda s: s.gallery_anchors(every, **flt, sort=sort),
                              on_success=anchored, on_failure=unanchored, owner=self, name="gallery anchors")
            else:
                self.changed.emit()
            self._process_seeks()
            self._schedule_rows()

        def anchored(keys: list[tuple[Any, ...]]) -> None:
            if epoch != self._epoch:
                return
            self._anchors_pending = False
            # Positions are as of the query; images merged on top since then moved them down.
            shift, n = self._top_inserts, len(self._rows)
            self._anchors = [_Anchor(k[0] + shift, _cursor_rank(k[1:], sort), tuple(k[1:])) for k in keys
                             if 0 <= k[0] + shift < n]
            self._anchor_pos = None
            self.anchors_ready.emit()
            self._process_seeks()
            self._schedule_rows()

        def unanchored(exc: BaseException) -> None:
            if epoch == self._epoch:
                self._anchors_pending = False  # pages are then read one after another from the top
                self.failed.emit(exc)

        self.ctx.call(lambda s: s.count_images(**flt), on_success=counted,
                      on_failure=self.failed.emit, owner=self, name="count images")

    @property
    def has_anchors(self) -> bool:
        return bool(self._anchors)

    def _anchor_positions(self) -> list[int]:
        if self._anchor_pos is None:
            self._anchor_pos = [a.pos for a in self._anchors]
        return self._anchor_pos

    def _anchor_at_or_before(self, pos: int) -> _Anchor | None:
        positions = self._anchor_positions()
        i = bisect.bisect_right(positions, pos) - 1
        return self._anchors[i] if i >= 0 else None

    def _shift_anchors(self, pos: int, n: int) -> None:
        """Rows inserted (n > 0) at ``pos`` or removed (n < 0) from ``pos``: anchors after it move."""
        if not self._anchors:
            return
        if n > 0:
            for a in self._anchors:
                if a.pos >= pos:
                    a.pos += n
        else:
            for a in self._anchors:
                if a.pos > pos:
                    a.pos = max(pos, a.pos + n)
        self._anchor_pos = None

    # --- rows: the only places that insert and remove ----------------------------------------

    def _insert(self, pos: int, rows: list[Row | None]) -> None:
        if not rows:
            return
        self._rows[pos:pos] = rows
        self._unloaded += sum(1 for t in rows if t is None)
        self._row_of = None
        self._shift_anchors(pos, len(rows))
        if pos == 0:
            self._top_inserts += len(rows)
        self._mutating += 1
        try:
            self.insertRows(self._lead + pos, len(rows))
        finally:
            self._mutating -= 1

    def _remove(self, pos: int, n: int) -> None:
        if n <= 0:
            return
        self._unloaded -= sum(1 for t in self._rows[pos:pos + n] if t is None)
        self._mutating += 1
        try:
            self.removeRows(self._lead + pos, n)  # rows still there while views hear "about to be removed"
        finally:
            self._mutating -= 1
        del self._rows[pos:pos + n]
        self._row_of = None
        self._shift_anchors(pos, -n)

    def _positions(self) -> dict[int, int]:
        if self._row_of is None:
            self._row_of = {t[_ID]: i for i, t in enumerate(self._rows) if t is not None}
        return self._row_of

    # --- loading rows by position -------------------------------------------------------------

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return False  # every image has a row; rows load when they are painted (want_row)

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        pass

    def want_row(self, view_row: int) -> None:
        """A row without its record was painted (or asked for): load its page soon."""
        if not self._rows_flush_scheduled:
            self._rows_flush_scheduled = True
            QTimer.singleShot(0, self, self._flush_rows)

    def _schedule_rows(self) -> None:
        self.want_row(0)

    def load_rows(self, first: int, last: int) -> None:
        """Load the rows ``first..last`` (view rows) now, whether painted or not (End, a jump, tests)."""
        self._explicit = (first, last)
        self._schedule_rows()

    _explicit: tuple[int, int] | None = None

    def _flush_rows(self) -> None:
        self._rows_flush_scheduled = False
        if self._loading or self.ctx.service is None or not self._rows:
            return
        target = self._first_unloaded_wanted()
        if target is not None:
            self._fetch_around(target)

    def _first_unloaded_wanted(self) -> int | None:
        """The first unloaded library position that is on screen (then one page below it: read ahead)."""
        spans: list[range] = []
        if self._explicit is not None:
            first, last = self._explicit
            spans.append(range(max(0, first - self._lead), max(0, last - self._lead + 1)))
        if self.visible_rows is not None:
            vis = self.visible_rows()
            spans.append(range(max(0, vis.start - self._lead), max(0, vis.stop - self._lead)))
            if vis:
                ahead = max(0, vis.stop - self._lead)
                spans.append(range(ahead, ahead + self.page_size))
        for span in spans:
            for pos in span:
                if pos >= len(self._rows):
                    break
                if self._rows[pos] is None:
                    return pos
        self._explicit = None
        return None

    def _fetch_around(self, r: int) -> None:
        """Read the page that holds library position ``r`` (a placeholder), from the closest known start."""
        page = self.page_size
        a = r
        while a > 0 and self._rows[a - 1] is None and r - a < page:
            a -= 1
        if a == 0:
            start, after, how = 0, None, "top"
        elif self._rows[a - 1] is not None:
            t = self._rows[a - 1]
            start, after, how = a, self._cursor(t), ("after", t[_ID])  # type: ignore[arg-type, index]
        else:  # deep inside a long run of placeholders: start at the anchor above r
            anchor = self._anchor_at_or_before(r)
            if anchor is None or self._rows[anchor.pos] is not None:
                if self._anchors_pending:
                    return  # the index is on its way; the rows are asked for again when it is in
                while a > 0 and self._rows[a - 1] is None:  # no anchor: walk to the run's start
                    a -= 1
                t = self._rows[a - 1] if a > 0 else None
                start, after, how = (a, self._cursor(t), ("after", t[_ID])) if t is not None else (0, None, "top")
            else:
                start, after, how = anchor.pos, _through(anchor.cursor, self.sort), ("anchor", anchor)
        end = start
        while end < len(self._rows) and self._rows[end] is None and end - start < page:
            end += 1
        self._fetch(start, after, how, max(1, end - start))

    def _cursor(self, t: Row) -> tuple[Any, ...]:
        """The service's keyset cursor after row ``t`` in the current order (``cursor_for(sort)``)."""
        return (t[_RATING] or 0, t[_CREATED], t[_ID]) if self.sort == "rating" else (t[_CREATED], t[_ID])

    def _fetch(self, start: int, after: tuple[Any, ...] | None, how: object, limit: int, *,
               first: bool = False) -> None:
        epoch, flt, sort = self._epoch, self._filter(), self.sort
        side, fit, thumb_epoch = self._decode_side, self.fit, self._thumb_epoch
        cached = set(self._pixmaps)

        def page(s: Service) -> tuple[list[Row], dict[int, QImage | None], int | None]:
            # Read before the page: what is stored between the two is in the page and is then
            # found present by the first check, never missed.
            since = s.images_added_since(None)[1] if first else None
            records = s.gallery_page(after=after, limit=limit, **flt, sort=sort, with_thumbnails=False)
            images: dict[int, QImage | None] = {}
            if first:  # the first screen's thumbnails come with the first page
                ids = [r.id for r in records[:FIRST_SCREEN] if r.id not in cached]
                images = _read_thumbnails(s, ids, side, parallel=True, fit=fit)
            return [_as_row(r) for r in records], images, since

        def done(result: tuple[list[Row], dict[int, QImage | None], int | None]) -> None:
            records, images, since = result
            if epoch != self._epoch:
                return
            self._set_loading(False)
            self.pages_read += 1
            if since is not None:
                self._since = since
                if self._polling:
                    self._watch.start()
            if thumb_epoch == self._thumb_epoch:
                self._put_thumbnails(images, notify=False)
            self._place(how, records, limit)
            if first:
                if len(records) < limit:
                    self._complete = True
                self.reset_done.emit()
                self._count()
            self._process_seeks()
            self._schedule_rows()

        def fail(exc: BaseException) -> None:
            if epoch != self._epoch:
                return
            self._set_loading(False)
            if first:
                self._complete = True  # until the next reload (reconnect reloads)
            self.failed.emit(exc)
            if first:
                self.reset_done.emit()

        self._set_loading(True)
        self.ctx.call(page, on_success=done, on_failure=fail, owner=self, name="gallery page")

    def _start_of(self, how: object) -> int | None:
        """Where a page read from ``how`` starts now (rows may have moved while it was read)."""
        if how == "top":
            return 0
        if isinstance(how, tuple) and how[0] == "after":
            pos = self._positions().get(how[1])
            return None if pos is None else pos + 1
        if isinstance(how, tuple) and how[0] == "anchor":
            return how[1].pos if how[1] in self._anchors else None
        return None

    def _place(self, how: object, records: list[Row], limit: int) -> None:
        """Put a page into the placeholders from its start on; drop placeholders the database no
        longer fills (deleted elsewhere), add rows it has that the model did not count."""
        start = self._start_of(how)
        if start is None:
            return  # its start was removed meanwhile: the rows are asked for again
        known = self._positions()
        rows = self._rows
        i = start
        appended: list[Row | None] = []
        ran_into_loaded = False
        for t in records:
            if t[_ID] in known:
                ran_into_loaded = True  # the rest is loaded already
                break
            if i < len(rows):
                if rows[i] is not None:
                    ran_into_loaded = True
                    break
                rows[i] = t
                known[t[_ID]] = i
                self._unloaded -= 1
                i += 1
            else:
                appended.append(t)  # the database has more images here than the model counted
        if i > start:
            self.dataChanged.emit(self.index(self._lead + start), self.index(self._lead + i - 1))
        if appended:
            self._insert(len(rows), appended)
        elif (ran_into_loaded or len(records) < limit) and i < len(rows) and rows[i] is None:
            end = i
            while end < len(rows) and rows[end] is None:
                end += 1
            self._remove(i, end - i)  # placeholders the database does not fill any more
        if self._counted and self.total != len(self._rows):
            self.total = len(self._rows)
            self.total_changed.emit(self.total)
        self.changed.emit()

    # --- finding an image that is not loaded -------------------------------------------------

    def locate(self, image_id: int, key: Key, done: Callable[[int | None], None]) -> None:
        """Find an image in the current filter, loading its page if need be: ``done(view row)``, or
        ``done(None)`` when the filter does not hold it. Keeps a selection through reloads."""
        self._seeks.append(_Seek(self._epoch, image_id, key, done))
        self._process_seeks()

    def _process_seeks(self) -> None:
        if not self._seeks or self._loading:
            return
        left: list[_Seek] = []
        fetch_at: int | None = None
        for seek in self._seeks:
            if seek.epoch != self._epoch:
                continue
            pos = self._positions().get(seek.image_id)
            if pos is not None:
                seek.done(self._lead + pos)
                continue
            if not self._complete or self._anchors_pending:
                left.append(seek)  # the count (or the index) is on its way
                continue
            pos, exact = self._slot_for(seek.key)
            if exact or seek.tries >= MAX_SEEK_PAGES:  # between two loaded rows: not in this filter
                seek.done(None)
                continue
            seek.tries += 1
            left.append(seek)
            if fetch_at is None:
                fetch_at = pos - 1 if pos > 0 and self._rows[pos - 1] is None else pos
        self._seeks = left
        if fetch_at is not None and 0 <= fetch_at < len(self._rows) and self._rows[fetch_at] is None:
            self._fetch_around(fetch_at)

    def _known_near(self, mid: int, lo: int, hi: int) -> tuple[int, Key] | None:
        """A position in [lo, hi) whose key is known (a loaded row, or an anchor), near ``mid``."""
        rows = self._rows
        t = rows[mid]
        if t is not None:
            return mid, self._rank(t)
        for d in range(1, self.page_size + 1):
            p = mid - d
            if p >= lo and rows[p] is not None:
                return p, self._rank(rows[p])  # type: ignore[arg-type]
            p = mid + d
            if p < hi and rows[p] is not None:
                return p, self._rank(rows[p])  # type: ignore[arg-type]
            if mid - d < lo and mid + d >= hi:
                return None
        positions = self._anchor_positions()
        i = bisect.bisect_right(positions, mid) - 1
        if i >= 0 and positions[i] >= lo:
            return positions[i], self._anchors[i].key
        if i + 1 < len(positions) and positions[i + 1] < hi:
            return positions[i + 1], self._anchors[i + 1].key
        for p in range(lo, hi):  # nothing near (no anchors yet): the nearest loaded row at all
            t = rows[p]
            if t is not None:
                return p, self._rank(t)
        return None

    def _slot_for(self, key: Key) -> tuple[int, bool]:
        """Where an image with ``key`` belongs: (library position, exact). Exact: between two loaded
        rows (or an end); otherwise next to rows not loaded yet, whose page will bring it."""
        rows = self._rows
        n = len(rows)
        if n and rows[0] is not None and self._rank(rows[0]) < key:  # newer than everything: the common case
            return 0, True
        lo, hi = 0, n
        while lo < hi:
            found = self._known_near((lo + hi) // 2, lo, hi)
            if found is None:
                break  # nothing known in [lo, hi): it goes somewhere among those placeholders
            p, k = found
            if k > key:
                lo = p + 1
            else:
                hi = p
        pos = hi
        exact = (pos == 0 or rows[pos - 1] is not None) and (pos == n or rows[pos] is not None)
        return pos, exact

    # --- changes made in this window or elsewhere ----------------------------------------------

    def prepend(self, records: list[ImageRecord]) -> int:
        """New images (just generated) at their place (on top), if the current filter would show
        them. Returns how many of them the gallery shows now; with a search or the favourites filter
        on, none are added here: the next check brings the ones the filter matches."""
        if self.filtered:
            return sum(r.id in self._positions() for r in records)
        self.merge(records)
        return sum(r.id in self._positions() for r in records)

    def _add_to_total(self, n: int) -> None:
        if self.total >= 0 and n:
            self.total += n
            self.total_changed.emit(self.total)

    def set_polling(self, on: bool) -> None:
        """Ask every few seconds for images stored elsewhere, or not: only while no change listener
        tells the window about them (gui/change_bridge.py; the listener's own fallback polls too)."""
        self._polling = on
        if not on:
            self._watch.stop()
        elif self._since is not None:
            self._watch.start()

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
        """Put images the gallery does not hold yet at their places by date (newest first). One that
        falls among rows not loaded yet becomes a placeholder there (its page brings it). Before the
        count is in, one older than every loaded row is left to the count. Returns how many images
        are new to the gallery."""
        known = self._positions()
        fresh = sorted((_as_row(r) for r in records if r.id not in known), key=self._rank, reverse=True)
        if not fresh:
            return 0
        rows = self._rows
        top = len(fresh) if not rows else 0
        if rows and rows[0] is not None:  # newer than the newest: one insert on top for the burst
            while top < len(fresh) and self._rank(fresh[top]) > self._rank(rows[0]):
                top += 1
        n_new = 0
        if top and (rows or self._complete):
            self._insert(0, fresh[:top])
            n_new += top
        for t in fresh[top:]:
            pos, exact = self._slot_for(self._rank(t))
            if pos == len(self._rows) and not self._complete:
                continue  # beyond the first page before the count: the count includes it
            self._insert(pos, [t] if exact else [None])
            n_new += 1
        if self._counted:
            self.total = len(self._rows)
            self.total_changed.emit(self.total)
        else:
            self._add_to_total(n_new)
        if n_new:
            self.changed.emit()
        return n_new

    def apply_changes(self, changes: Changes) -> None:
        """A change descriptor (``AppContext.changes_applied``): re-read the images it names as the
        current filter shows them: loaded rows that still match are updated, rows that no longer
        match (trashed, unfavourited under the favourites filter) are removed, images new to the
        filter are merged in. "Many" reloads. Only the latest re-read of an image is applied, so
        replies that arrive out of order cannot bring back a stale state."""
        changes = self._relevant(changes)
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
        # An image not loaded is usually one of the placeholders already; it is new to this list
        # only if it was added or restored (or became a favourite under the favourites filter).
        # In the Trash view: only if it was trashed.
        new_kinds = [ChangeKind.IMAGES_TRASHED] if self.trash else [ChangeKind.IMAGES_ADDED, ChangeKind.IMAGES_RESTORED]
        if self.favorites_only:
            new_kinds.append(ChangeKind.FAVORITE)
        maybe_new = frozenset().union(*(changes.ids(k) or frozenset() for k in new_kinds))
        if self.filter_text and self.exhausted:
            # Under a filter (a board's view, tag:, stars:) any change may make an image match: put
            # one in that now does. Only with every row loaded: otherwise it may be one of the
            # placeholders already (its page brings it), and a second row would be a duplicate.
            maybe_new |= all_ids - gone
        # Images another process stored (a terminal, a queue run, another window) are announced
        # ("3 new images in your library."); this window's own generations and restores are not
        # (its operations carry its service's origin; a burst merged from several origins has none).
        elsewhere = changes.origin != getattr(self.ctx.service, "origin", None)
        added = changes.ids(ChangeKind.IMAGES_ADDED) or frozenset()
        announce = added if elsewhere and not self.trash else frozenset()
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
                self._refresh_rows(mine, [r for r in records if r.id in mine], maybe_new, announce)

        def fail(_exc: BaseException) -> None:
            for i in ids:
                if self._refresh_asked.get(i) == seq:
                    del self._refresh_asked[i]

        self.ctx.call(lambda s: s.images_matching(ids, **flt), on_success=done,
                      on_failure=fail, owner=self, name="refresh changed images")

    def _relevant(self, changes: Changes) -> Changes:
        """Without "the tag (board) list itself changed" (a new tag, a renamed board: ``None``) unless
        the filter names tags (boards): rows show neither, so that alone needs no reload."""
        drop = [k for k in (ChangeKind.TAGS, ChangeKind.BOARDS)
                if k in changes and changes.ids(k) is None and not self._filter_uses(k)]
        if not drop:
            return changes
        return Changes({k: v for k, v in changes.kinds.items() if k not in drop}, count=changes.count,
                       origin=changes.origin)

    def _filter_uses(self, kind: ChangeKind) -> bool:
        """Does the current filter depend on tags (``tag:``, ``has:tag``) or boards?"""
        from core.filters import FilterError, parse, terms

        name = "tag" if kind is ChangeKind.TAGS else "board"
        try:
            found = terms(parse(self._filter_text()))
        except FilterError:
            return True
        return any(t.field == name or (t.field == "has" and t.value == name) for t in found)

    def _filter_text(self) -> str:
        """The filter-language text the listing calls get (empty: none)."""
        return self.filter_text

    def _refresh_rows(self, ids: set[int], records: list[ImageRecord], maybe_new: frozenset[int],
                      announce: frozenset[int] = frozenset()) -> None:
        shown = {r.id for r in records}
        positions = self._positions()
        gone = [i for i in ids if i in positions and i not in shown]
        if gone:
            self.remove_ids(gone)
            positions = self._positions()
        moved = False
        for r in records:
            pos = positions.get(r.id)
            if pos is None:
                continue
            t = _as_row(r)
            old = self._rows[pos]
            if t != old:
                if old is not None and self._rank(old) != self._rank(t):
                    self._move(pos, t)  # new stars under the rating order: it moves, still selected
                    positions = self._positions()
                    moved = True
                    continue
                self._rows[pos] = t
                idx = self.index(self._lead + pos)
                self.dataChanged.emit(idx, idx, [FavoriteRole, RecordRole])
        if moved:
            self.changed.emit()
        new = [r for r in records if r.id not in positions and r.id in maybe_new]
        if new:
            self.merge(new)
        arrived = sum(r.id in announce for r in records)
        if arrived:
            self.arrived.emit(arrived)
        self.rows_refreshed.emit(frozenset(ids))

    def _move(self, pos: int, t: Row) -> None:
        """Row ``pos`` now sorts elsewhere: take it out and put it at its new place (a placeholder
        there if that place is among rows not loaded yet). No :attr:`removed`: the image is still in
        the gallery, and the selection, by id, follows it (:attr:`changed`)."""
        self._remove(pos, 1)
        new, exact = self._slot_for(self._rank(t))
        if new == len(self._rows) and not self._complete:
            return  # beyond what is loaded before the count: its page brings it
        self._insert(new, [t] if exact else [None])

    def remove_ids(self, ids: Iterable[int]) -> int | None:
        """Take images out of the gallery (deleted, trashed, no longer matching the filter).

        Returns the id of the image that takes the place of the first one removed (the next older
        loaded image, else the one before): where the selection goes (:attr:`removed` says so too)."""
        ids = list(ids)
        positions = self._positions()
        rows = sorted({positions[i] for i in ids if i in positions}, reverse=True)
        if not rows:
            return None
        first = rows[-1]
        for pos in rows:  # one signal per row; deletes are small
            self._remove(pos, 1)
        for image_id in ids:
            self._drop_pixmap(image_id)
        neighbour = self._loaded_near(first)
        if self._counted:
            self.total = len(self._rows)
            self.total_changed.emit(self.total)
        elif self.total >= 0:
            self.total = max(0, self.total - len(rows))
            self.total_changed.emit(self.total)
        self.removed.emit(ids, neighbour)
        self.changed.emit()
        return neighbour

    def _loaded_near(self, pos: int) -> int | None:
        """The loaded image at ``pos``, else the nearest loaded one after it, else before it."""
        for p in range(pos, min(len(self._rows), pos + self.page_size)):
            t = self._rows[p]
            if t is not None:
                return t[_ID]
        for p in range(min(pos, len(self._rows)) - 1, max(-1, pos - self.page_size - 1), -1):
            t = self._rows[p]
            if t is not None:
                return t[_ID]
        return None

    # --- pending tiles: images on their way ----------------------------------------------------

    def add_pending(self, n: int) -> int:
        """``n`` tiles on top for images being generated; returns a token for :meth:`resolve_pending`."""
        self._next_token += 1
        token = self._next_token
        if n <= 0 or self.filtered or self.sort != "newest":
            return token  # a filtered or re-ordered gallery would not show them where they land
        self._pending.insert(0, [token, n])
        self._mutating += 1
        try:
            self._lead += n
            self.insertRows(0, n)
        finally:
            self._mutating -= 1
        self.changed.emit()
        return token

    def resolve_pending(self, token: int, records: list[ImageRecord] | None = None) -> int:
        """The generation of ``token`` ended: its tiles go; its images (if any) take their places.
        Returns how many of the images the gallery shows."""
        offset = 0
        for i, (tok, n) in enumerate(self._pending):
            if tok == token:
                del self._pending[i]
                self._mutating += 1
                try:
                    self.removeRows(offset, n)
                    self._lead -= n
                finally:
                    self._mutating -= 1
                self.changed.emit()
                break
            offset += n
        return self.prepend(records) if records else 0

    @property
    def pending_count(self) -> int:
        return self._lead

    # --- reading ------------------------------------------------------------------------

    def _row_at(self, view_row: int) -> Row | None:
        pos = view_row - self._lead
        return self._rows[pos] if 0 <= pos < len(self._rows) else None

    def record(self, row: int) -> ImageRecord | None:
        """The image in view row ``row`` (None: not loaded yet, a pending tile, or out of range)."""
        t = self._row_at(row)
        return ImageRecord(*t) if t is not None else None

    def record_by_id(self, image_id: int) -> ImageRecord | None:
        pos = self._positions().get(image_id)
        t = self._rows[pos] if pos is not None else None
        return ImageRecord(*t) if t is not None else None

    def id_at(self, row: int) -> int | None:
        t = self._row_at(row)
        return t[_ID] if t is not None else None

    def row_of(self, image_id: int) -> int | None:
        """The view row of an image (None: not in the gallery, or not loaded)."""
        pos = self._positions().get(image_id)
        return None if pos is None else self._lead + pos

    def is_loaded(self, row: int) -> bool:
        return self._row_at(row) is not None

    def date_at(self, row: int) -> datetime | None:
        """When the image in ``row`` was made, or about then (the nearest anchor above it) if it is
        not loaded: what the date scrubber shows."""
        pos = max(0, row - self._lead)
        if pos >= len(self._rows):
            pos = len(self._rows) - 1
        if pos < 0:
            return None
        t = self._rows[pos]
        if t is not None:
            return t[_CREATED]
        for p in range(pos, max(-1, pos - 16), -1):  # a loaded row just above
            t = self._rows[p]
            if t is not None:
                return t[_CREATED]
        anchor = self._anchor_at_or_before(pos)
        return anchor.cursor[-2] if anchor is not None else None  # the cursors end (created_at, id)

    def cell(self, row: int) -> tuple[QPixmap | None, bool, int]:
        """What the delegate paints, per cell per frame: the thumbnail (asked for if missing), the
        favourite flag and what the cell is (IMAGE, UNLOADED: its page is asked for, PENDING)."""
        if row < self._lead:
            return None, False, PENDING
        t = self._row_at(row)
        if t is None:
            if 0 <= row - self._lead < len(self._rows):
                self.want_row(row)
            return None, False, UNLOADED
        image_id = t[_ID]
        pm = self._pixmaps.get(image_id)
        if pm is not None:
            self._pixmaps.move_to_end(image_id)
        elif image_id not in self._no_thumbnail:
            self._want(image_id)
        return pm, bool(t[_FAVORITE]), IMAGE

    def starts_generation(self, row: int) -> bool:
        """This image was made by another request than the image before it (both loaded): the
        delegate draws a faint divider there, so a generation's images read as a group."""
        if row <= self._lead:
            return False
        t, before = self._row_at(row), self._row_at(row - 1)
        return t is not None and before is not None and t[_PROMPT_ID] != before[_PROMPT_ID]

    def records(self) -> list[ImageRecord]:
        """The loaded images, in gallery order."""
        return [ImageRecord(*t) for t in self._rows if t is not None]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self.cell_px, self.cell_px)
        t = self._row_at(index.row())
        if t is None:
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return "Image on its way" if index.row() < self._lead else "Loading image"
            return None
        r = ImageRecord(*t)
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
        t = self._row_at(row)
        if t is None:
            return row < self._lead or not 0 <= row - self._lead < len(self._rows)
        return t[_ID] in self._pixmaps or t[_ID] in self._no_thumbnail

    def decoded_count(self) -> int:
        return self.decoded

    def set_cell_size(self, cell_px: int, device_pixel_ratio: float) -> None:
        """The view's cells changed size: make thumbnails for the new size from now on."""
        side = max(16, math.ceil((cell_px - 2 * CELL_MARGIN) * device_pixel_ratio))
        if side != self._decode_side or device_pixel_ratio != self._device_pixel_ratio:
            self._decode_side = side
            self._device_pixel_ratio = device_pixel_ratio
            self.clear_thumbnail_cache()

    def set_fit(self, fit: bool) -> None:
        """Thumbnails whole (their aspect ratio visible) or cropped to fill the square cell."""
        if fit != self.fit:
            self.fit = fit
            self.clear_thumbnail_cache()
            if self.rowCount():
                self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1), [ThumbnailRole])

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
        side, fit, thumb_epoch = self._decode_side, self.fit, self._thumb_epoch

        def finished(images: dict[int, QImage | None] | None) -> None:
            self._batches -= 1
            if thumb_epoch == self._thumb_epoch:
                self._in_flight.difference_update(ids)
                if images is not None:
                    self._put_thumbnails(images, notify=True)
            if self._wanted and not self._flush_scheduled:
                self._flush_scheduled = True
                QTimer.singleShot(0, self, self._flush)

        self.ctx.call(lambda s: _read_thumbnails(s, ids, side, fit=fit), on_success=finished,
                      on_failure=lambda _e: finished(None), owner=self, name="thumbnails")

    def _put_thumbnails(self, images: dict[int, QImage | None], *, notify: bool) -> None:
        rows = []
        positions = self._positions()
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
            pos = positions.get(image_id)
            if pos is not None:
                rows.append(self._lead + pos)
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
        if self._row_at(index.row()) is None:  # not an image (yet): nothing to select or drag
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemNeverHasChildren
        return (Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsDragEnabled
                | Qt.ItemFlag.ItemNeverHasChildren)  # not editable, unlike the base's strings

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeTypes(self) -> list[str]:
        return [IMAGE_IDS_MIME, "text/uri-list", "image/png"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData | None:  # type: ignore[override]
        """The dragged images: their ids (for a board in this app, always), and their files and
        pixels for other apps where they have been read already (``drag_source``)."""
        rows = sorted({i.row() for i in indexes if i.isValid()})
        records = [r for r in (self.record(row) for row in rows) if r is not None]
        if not records:
            return None
        mime = self.drag_source(records) if self.drag_source is not None else None
        if mime is None:
            mime = QMimeData()
        mime.setData(IMAGE_IDS_MIME, QByteArray(json.dumps([r.id for r in records]).encode("ascii")))
        return mime


def image_ids_from(mime: QMimeData | None) -> list[int]:
    """The image ids a drag from the gallery carries (empty: not such a drag, or not readable)."""
    if mime is None or not mime.hasFormat(IMAGE_IDS_MIME):
        return []
    try:
        ids = json.loads(bytes(mime.data(IMAGE_IDS_MIME).data()).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(ids, list):
        return []
    return [i for i in ids if isinstance(i, int) and not isinstance(i, bool) and i > 0]


def _cost(pm: QPixmap) -> int:
    return pm.width() * pm.height() * max(1, pm.depth() // 8)


def _read_thumbnails(s: Service, ids: list[int], side: int, *, parallel: bool = False,
                     fit: bool = False) -> dict[int, QImage | None]:
    """On the worker: one query for the thumbnails of ``ids``, each made into a cell image (None: none stored).

    ``parallel`` (the first screen, while the user waits for it): decoded on both cores; Qt's JPEG
    decoder runs without the GIL. Scrolling uses one core, leaving the other to the UI thread."""
    if not ids:
        return {}
    data = s.thumbnails(ids)
    blobs = [data.get(image_id) for image_id in ids]

    def make(blob: bytes | None) -> QImage | None:
        return cell_image(blob, side, fit=fit) if blob else None

    images = list(_decoders.map(make, blobs)) if parallel else [make(b) for b in blobs]
    return dict(zip(ids, images, strict=True))


def cell_image(data: bytes, side: int, *, fit: bool = False) -> QImage | None:
    """The thumbnail as the delegate draws it: a ``side``-px square with rounded corners, the image
    centre-cropped to fill it, or (``fit``) whole and centred on a transparent square so its aspect
    ratio shows (the rounded corners then follow the image, not the cell).

    Made on the worker (QPainter on a QImage is thread-safe), so a paint draws each cell with one
    unscaled, unclipped blit: ~0.7 ms for a screen of 48 cells instead of ~10 ms scaling and
    clipping each thumbnail to its rounded cell in the paint (benchmarks/README.md). Fit mode keeps
    that: the square is the same size, only its transparent margins differ."""
    img = decode_cover_image(data, side, fit=fit)
    if img is None:
        return None
    out = QImage(side, side, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(0)
    p = QPainter(out)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    path = QPainterPath()
    if fit:
        scale = min(side / img.width(), side / img.height())
        w, h = img.width() * scale, img.height() * scale
        target = QRectF((side - w) / 2, (side - h) / 2, w, h)
        path.addRoundedRect(target, CELL_RADIUS, CELL_RADIUS)
        p.setClipPath(path)
        p.drawImage(target, img, QRectF(0, 0, img.width(), img.height()))
    else:
        path.addRoundedRect(0, 0, side, side, CELL_RADIUS, CELL_RADIUS)
        p.setClipPath(path)
        scale = max(side / img.width(), side / img.height())
        w, h = side / scale, side / scale
        p.drawImage(QRectF(0, 0, side, side), img, QRectF((img.width() - w) / 2, (img.height() - h) / 2, w, h))
    p.end()
    return out


def decode_cover_image(data: bytes, side: int, *, fit: bool = False) -> QImage | None:
    """Decode a JPEG thumbnail so its shorter side (``fit``: its longer side) is ``side`` px (the JPEG
    decoder scales cheaply).

    Thread-safe (``QImage``, not ``QPixmap``): the gallery calls it on the worker."""
    buf = QBuffer()
    buf.setData(QByteArray(data))
    buf.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buf)
    fmt = image_format(data)
    if fmt:
        reader.setFormat(fmt.encode())  # not every plugin probed in turn (gui.export.image_format)
    size = reader.size()
    edge = max if fit else min
    if size.isValid() and edge(size.width(), size.height()) > side:
        scale = side / edge(size.width(), size.height())
        reader.setScaledSize(QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale))))
    img = reader.read()
    return None if img.isNull() else img
