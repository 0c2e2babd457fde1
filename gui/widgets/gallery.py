"""The gallery: a search bar and a grid of every image generated, newest first.

The grid is a ``QListView`` in icon mode over :class:`gui.models.gallery_model.GalleryModel`
with uniform item sizes, so it lays out and scrolls through thousands of thumbnails
without asking each row for its size. When it is empty it says why and what to do.

The scrollbar spans the whole library (the model has a row for every image); while it is
dragged a label beside the handle says which month the images there are from.

**The selection is a set of image ids**, kept by :class:`GalleryPanel`: rows move whenever
images arrive (this window, the CLI, a queue run, a web import), are removed, or the list is
reloaded (refresh, a filter); the ids do not. The panel re-applies them to the view after
every change of rows, finds a selected image again after a reload, and moves the selection to
the neighbour when the selected image is removed. Everything that acts on "the selected
images" asks the panel (:meth:`GalleryPanel.selected_records`).
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QKeySequence, QMouseEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.filters import FilterError, parse
from core.store import ImageRecord
from gui import icons, theme
from gui.models.gallery_model import CELL, GalleryModel, RecordRole
from gui.widgets.empty_state import EmptyLook, EmptyStateListView
from gui.widgets.gallery_delegate import GalleryDelegate
from gui.widgets.scope_bar import ScopeBar
from gui.widgets.trash_bar import TrashBar

SEARCH_DELAY_MS = 250
SEARCH_PLACEHOLDER, SEARCH_PLACEHOLDER_SHORT = "Search or filter, e.g. tag:sea stars:>=4  (Ctrl+F)", "Search"
SORTS = (("Newest", "newest"), ("Oldest", "oldest"), ("Rating", "rating"))
SORT_ARROW = 6  # px the sort button's menu arrow takes
# The filter language's keys (core/filters.py), for the help popup beside the search box.
FILTER_KEYS = (
    ("tag:sea", "tagged <i>sea</i> (<code>tag:sea*</code>: tags starting with it)"),
    ('board:"my picks"', "on a board (quote names with spaces)"),
    ("stars:>=4", "rating; also <code>stars:5</code>, <code>&lt;</code>, <code>&lt;=</code>, <code>&gt;</code>"),
    ("fav", "favourites"),
    ("model:imagen_4", "the model that made it"),
    ("aspect:portrait", "square, portrait, landscape, 16:9 …"),
    ("seed:1234", "the seed (also <code>id:</code>)"),
    ("account:anna", "part of the account's e-mail"),
    ("after:2026-03", "also <code>before:</code> <code>on:</code>; a date, today, 7d, 2w"),
    ("note:draft", "text in the note; <code>has:tag</code>, <code>is:unrated</code>"),
    ('"golden hour"', "these words together, as written"),
    ("AND OR NOT -", "combine (upper case), with ( ): <code>sea (stars:5 OR fav) -tag:draft</code>"),
)
FILTER_HELP = ("<b>Find images</b> — words search the prompts; add any of these:"
               "<table cellspacing='0' cellpadding='2'>"
               + "".join(f"<tr><td><code>{html.escape(k)}</code>&nbsp;&nbsp;</td><td>{v}</td></tr>"
                         for k, v in FILTER_KEYS) + "</table>")
SEARCH_MIN_WIDTH = 180  # px the search box keeps before the filter buttons give up their names
PENDING_FRAME_MS = 50  # the "Generating…" tiles' sweep
MIN_CELL, MAX_CELL = 96, 384  # px: the thumbnail size slider's range (CELL is the default)
CELL_STEP = 24  # px per Ctrl+wheel notch or Ctrl+plus/minus


def _text_width(b: QToolButton) -> int:
    """A tool button's width with its name beside its icon (whatever it shows now)."""
    return b.iconSize().width() + b.fontMetrics().horizontalAdvance(b.text().replace("&", "")) + 20


class GalleryView(EmptyStateListView):
    activated_record = Signal(object)  # ImageRecord: double-click or Enter
    base_cell_changed = Signal(int)  # the thumbnail size asked for (slider, Ctrl+wheel, Ctrl+plus/minus)
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
        self.base_cell = CELL  # the size asked for; cells stretch a little so the columns fill the width
        self.delegate = GalleryDelegate(CELL, self, model)
        self.setItemDelegate(self.delegate)
        self.setModel(model)
        self.gallery_model = model
        model.visible_rows = self.visible_rows
        self.doubleClicked.connect(self._double_clicked)
        self._pending_timer = QTimer(self)
        self._pending_timer.setInterval(PENDING_FRAME_MS)
        self._pending_timer.timeout.connect(self._repaint_pending)
        model.changed.connect(self._pending_changed)
        # The date scrubber: which month the images under the scrollbar's handle are from.
        self.scrubber = QLabel(self.viewport())
        self.scrubber.setObjectName("dateScrubber")
        self.scrubber.setAccessibleName("Date at the scroll position")
        self.scrubber.hide()
        sb = self.verticalScrollBar()
        sb.sliderPressed.connect(self._update_scrubber)
        sb.valueChanged.connect(lambda _v: self._update_scrubber() if sb.isSliderDown() else None)
        sb.sliderReleased.connect(lambda: QTimer.singleShot(700, self._hide_scrubber))

    def _double_clicked(self, idx: QModelIndex) -> None:
        record = idx.data(RecordRole)
        if record is not None:
            self.activated_record.emit(record)

    def _pending_changed(self) -> None:
        if self.gallery_model.pending_count and not self._pending_timer.isActive():
            self._pending_timer.start()
        elif not self.gallery_model.pending_count:
            self._pending_timer.stop()

    def _repaint_pending(self) -> None:
        n = self.gallery_model.pending_count
        if not n:
            self._pending_timer.stop()
            return
        first, last = self.gallery_model.index(0), self.gallery_model.index(n - 1)
        rect = self.visualRect(first).united(self.visualRect(last))
        if rect.intersects(self.viewport().rect()):
            self.viewport().update(rect)

    def scrubber_text(self) -> str:
        """The month of the images at the top of the view: what the scrubber shows."""
        top = self.indexAt(QPoint(self.gridSize().width() // 2, 4))
        if not top.isValid():
            return ""
        when = self.gallery_model.date_at(top.row())
        return f"{when.astimezone():%B %Y}" if when is not None else ""

    def _update_scrubber(self) -> None:
        text = self.scrubber_text()
        if not text:
            self.scrubber.hide()
            return
        c = theme.colors()
        self.scrubber.setStyleSheet(f"QLabel#dateScrubber {{ background: {c.accent}; color: #ffffff; "
                                    "border-radius: 6px; padding: 4px 10px; font-weight: 600; }")
        self.scrubber.setText(text)
        self.scrubber.adjustSize()
        sb = self.verticalScrollBar()
        span = max(1, sb.maximum() - sb.minimum())
        vp = self.viewport().rect()
        y = int((sb.value() - sb.minimum()) / span * (vp.height() - self.scrubber.height()))
        self.scrubber.move(vp.right() - self.scrubber.width() - 6, max(0, y))
        self.scrubber.show()
        self.scrubber.raise_()

    def _hide_scrubber(self) -> None:
        if not self.verticalScrollBar().isSliderDown():
            self.scrubber.hide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_cells()

    def set_base_cell(self, px: int) -> None:
        """The thumbnail size (px, clamped to the slider's range); the image under the cursor, or the
        current one, stays in view."""
        px = max(MIN_CELL, min(MAX_CELL, int(px)))
        if px == self.base_cell:
            return
        anchor = self.currentIndex()
        if not anchor.isValid() or not self.visualRect(anchor).intersects(self.viewport().rect()):
            anchor = self.indexAt(QPoint(4, 4))
        self.base_cell = px
        self._fit_cells()
        if anchor.isValid():
            self.scrollTo(anchor, QAbstractItemView.ScrollHint.EnsureVisible)
        self.base_cell_changed.emit(px)

    def _fit_cells(self) -> None:
        """Stretch the cells so the columns fill the width (no ragged gap on the right)."""
        base = self.base_cell
        width = self.viewport().width() - 2  # QListView wraps when a row would touch the edge exactly
        cols = max(1, width // base)
        cell = max(48, width // cols if width >= base else width)  # never wider than the view
        if cell != self.gridSize().width():
            self.delegate.cell = cell
            self.setGridSize(QSize(cell, cell))
            self.setIconSize(QSize(cell - 8, cell - 8))
            self.verticalScrollBar().setSingleStep(max(16, cell // 3))
        self.gallery_model.set_cell_size(cell, self.devicePixelRatioF())  # thumbnails decoded to fit

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Ctrl+wheel: larger or smaller thumbnails (one step per notch), like a file manager."""
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            notches = event.angleDelta().y() / 120
            if notches:
                self.set_base_cell(self.base_cell + round(notches * CELL_STEP) or (CELL_STEP if notches > 0
                                                                                    else -CELL_STEP))
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            record = self.currentIndex().data(RecordRole)
            if record is not None:
                self.activated_record.emit(record)
            return
        super().keyPressEvent(event)
        cur = self.currentIndex()
        if cur.isValid() and not self.gallery_model.is_loaded(cur.row()) and \
                cur.row() >= self.gallery_model.pending_count:
            # End, Page Down…: the cursor landed on a row still loading; select it once it is in.
            self._select_when_loaded = QPersistentModelIndex(cur)
            self.gallery_model.load_rows(cur.row(), cur.row())

    _select_when_loaded: QPersistentModelIndex | None = None

    def take_landed_row(self) -> int | None:
        """The row the keyboard moved to while it was loading, once it has loaded (then forgotten)."""
        target = self._select_when_loaded
        if target is None or not target.isValid():
            self._select_when_loaded = None
            return None
        if not self.gallery_model.is_loaded(target.row()):
            return None
        self._select_when_loaded = None
        return target.row() if self.currentIndex().row() == target.row() else None

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
        gw = max(1, self.gridSize().width())
        cols = max(1, rect.width() // gw)
        # the last column's cell, not the few pixels the stretched columns leave at the right edge
        last = self.indexAt(QPoint(min(rect.right(), cols * gw) - 2, rect.bottom() - 2))
        if last.isValid():
            end = last.row() + 1
        else:  # the last row of cells does not reach the corner: all rows from first to the end
            rows = rect.height() // max(1, self.gridSize().height()) + 2
            end = min(n, first.row() + cols * rows)
        return range(first.row(), end)

    def visible_thumbnails_ready(self) -> bool:
        """Every cell on screen has its thumbnail decoded (they arrive from the worker)."""
        return all(self.gallery_model.thumbnail_ready(r) for r in self.visible_rows())

    def selected_ids(self) -> list[int]:
        """The ids of the rows Qt has selected, in gallery order (the panel's ids are the truth)."""
        m = self.gallery_model
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        return [i for i in (m.id_at(r) for r in rows) if i is not None]

    def selected_records(self) -> list[ImageRecord]:
        m = self.gallery_model
        return [r for r in (m.record_by_id(i) for i in self.selected_ids()) if r is not None]


class FilterHelp(QFrame):
    """The keys of the filter language, in a popup under the search box's help button."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("filterHelp")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        self.label = QLabel(FILTER_HELP)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAccessibleName("Filter help")
        layout.addWidget(self.label)

    def show_under(self, anchor: QWidget) -> None:
        self.adjustSize()
        pos = anchor.mapToGlobal(QPoint(0, anchor.height() + 2))
        screen = anchor.screen().availableGeometry()
        pos.setX(max(screen.left(), min(pos.x(), screen.right() - self.width())))
        if pos.y() + self.height() > screen.bottom():
            pos.setY(anchor.mapToGlobal(QPoint(0, 0)).y() - self.height() - 2)
        self.move(pos)
        self.show()


class GalleryPanel(QWidget):
    """Search box (the filter language, checked as it is typed), sort order, favourites and Trash
    switches and the image count above the grid; a board or a saved search narrows it (scope)."""

    selection_changed = Signal(list)  # list[ImageRecord]
    context_menu_requested = Signal(QPoint)
    scope_cleared = Signal()  # the board strip's "All images" was pressed
    query_changed = Signal()  # the filter text or the sort order the gallery shows changed

    def __init__(self, model: GalleryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._generating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        bar = QHBoxLayout()
        bar.setContentsMargins(12, 8, 12, 8)
        bar.setSpacing(4)  # the tool buttons' own padding spaces them; 4 px more keeps 900 px windows whole
        self.search = QLineEdit()
        self.search.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search.installEventFilter(self)
        self.search.setAccessibleName("Search or filter images")
        self.search.setAccessibleDescription("Words search the prompts; tag:, board:, stars:>=4, fav and more filter")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(420)
        self._search_icon = QAction("Search", self.search)
        icons.bind(self._search_icon, "search")
        self._search_icon.triggered.connect(lambda: self._apply_search())
        self.search.addAction(self._search_icon, QLineEdit.ActionPosition.LeadingPosition)
        bar.addWidget(self.search, 1)
        bar.addSpacing(4)
        # The filter language's keys: an (i) inside the box, so the bar keeps its width.
        self.filter_help_action = QAction("Filter help", self.search)
        self.filter_help_action.setToolTip("What the search box understands: tag:, board:, stars:>=4, fav …")
        icons.bind(self.filter_help_action, "info")
        self.filter_help = FilterHelp(self)
        self.filter_help_action.triggered.connect(lambda: self.filter_help.show_under(self.search))
        self.search.addAction(self.filter_help_action, QLineEdit.ActionPosition.TrailingPosition)
        # Room for the short hint beside its icons (the clear button, the search and help icons).
        self.search.setMinimumWidth(self.search.fontMetrics().horizontalAdvance(SEARCH_PLACEHOLDER_SHORT)
                                    + 24 * len(self.search.actions()) + 30)
        # Sort order: a button with a menu (its name gives way to its icon in a narrow gallery).
        self.sort = QToolButton()
        self.sort.setAccessibleName("Sort order")
        self.sort.setToolTip("Sort by date (newest or oldest first) or by rating (most stars first)")
        self.sort.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sort.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        icons.bind(self.sort, "sort")
        sort_menu = QMenu(self.sort)
        self.sort_group = QActionGroup(self.sort)
        self.sort_actions: dict[str, QAction] = {}
        for text, value in SORTS:
            act = sort_menu.addAction(text)
            act.setCheckable(True)
            act.setData(value)
            self.sort_group.addAction(act)
            self.sort_actions[value] = act
        self.sort_actions["newest"].setChecked(True)
        self.sort.setText("Newest")
        self.sort.setMenu(sort_menu)
        self.sort_group.triggered.connect(self._sort_chosen)
        bar.addWidget(self.sort)
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
        self.fit = QToolButton()
        self.fit.setCheckable(True)
        self.fit.setAccessibleName("Show whole images")
        self.fit.setToolTip("Show each thumbnail whole, with its aspect ratio, instead of a square crop "
                            "(Ctrl+wheel or Ctrl+plus/minus size them)")
        icons.bind(self.fit, "aspect")
        bar.addWidget(self.fit)
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(MIN_CELL, MAX_CELL)
        self.size_slider.setSingleStep(CELL_STEP // 3)
        self.size_slider.setPageStep(CELL_STEP)
        self.size_slider.setValue(CELL)
        self.size_slider.setMinimumWidth(56)  # gives way before the search box does (a narrow window)
        self.size_slider.setMaximumWidth(110)
        self.size_slider.setAccessibleName("Thumbnail size")
        self.size_slider.setToolTip("Thumbnail size (Ctrl+wheel, Ctrl+plus, Ctrl+minus; Ctrl+0: the usual size)")
        bar.addWidget(self.size_slider)
        self.count_label = QLabel()
        self.count_label.setObjectName("subtle")
        self.count_label.setAccessibleName("Image count")
        bar.addWidget(self.count_label)
        layout.addLayout(bar)
        # A filter that cannot be read: the sentence (with its position) under the box. The gallery
        # keeps showing the last filter that could be read meanwhile.
        self.filter_error = QLabel()
        self.filter_error.setObjectName("filterError")
        self.filter_error.setAccessibleName("Filter problem")
        self.filter_error.setWordWrap(True)
        self.filter_error.setContentsMargins(14, 0, 12, 6)
        self.filter_error.hide()
        layout.addWidget(self.filter_error)
        self._scope_filter = ""  # the board's (or saved search's) filter, ANDed with the box
        self._scope_kind = ""  # "board", "search" or "" (all images)
        self._scope_name = ""
        self.scope_bar = ScopeBar()  # the board shown, and the way back to all images
        self.scope_bar.closed.connect(self._close_scope)
        layout.addWidget(self.scope_bar)
        self.trash_bar = TrashBar()
        layout.addWidget(self.trash_bar)
        self._bar = bar
        self.sort.setMinimumWidth(self.sort.iconSize().width() + 14 + SORT_ARROW)
        for b in (self.favorites, self.trash):  # may shrink to their icon (resizeEvent) in a narrow window
            b.setMinimumWidth(b.iconSize().width() + 14)

        self.view = GalleryView(model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(
            lambda pos: self.context_menu_requested.emit(self.view.viewport().mapToGlobal(pos)))
        layout.addWidget(self.view, 1)
        self.fit.toggled.connect(self.model.set_fit)
        self.size_slider.valueChanged.connect(self.view.set_base_cell)
        self.view.base_cell_changed.connect(self._base_cell_changed)
        # Ctrl+plus/minus for the gallery only (its grid, its search box): the viewer's own window
        # zooms its image with the same keys, and a window-wide action would make them ambiguous.
        self.larger = QAction("Larger thumbnails", self)
        self.larger.setShortcuts([QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])
        self.larger.triggered.connect(lambda: self.view.set_base_cell(self.view.base_cell + CELL_STEP))
        self.smaller = QAction("Smaller thumbnails", self)
        self.smaller.setShortcuts([QKeySequence("Ctrl+-")])
        self.smaller.triggered.connect(lambda: self.view.set_base_cell(self.view.base_cell - CELL_STEP))
        self.default_size = QAction("Default thumbnail size", self)
        self.default_size.setShortcuts([QKeySequence("Ctrl+0")])
        self.default_size.triggered.connect(lambda: self.view.set_base_cell(CELL))
        for a in (self.larger, self.smaller, self.default_size):
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(a)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(self._search_edited)
        self.search.returnPressed.connect(self._search_entered)
        self.favorites.toggled.connect(self._favorites_toggled)
        self.trash.toggled.connect(self._trash_toggled)
        # The selection, by image id (see the module docstring).
        self._sel_ids: list[int] = []
        self._sel_records: dict[int, ImageRecord] = {}
        self._current_id: int | None = None
        self._applying = False
        sm = self.view.selectionModel()
        sm.selectionChanged.connect(self._view_selection_changed)
        sm.currentChanged.connect(self._view_current_changed)
        model.changed.connect(self._resync)
        model.removed.connect(self._images_removed)
        model.reset_done.connect(self._find_selection_again)
        model.total_changed.connect(self._update_count)
        model.loading_changed.connect(self._update_empty)
        model.reset_done.connect(self._update_empty)
        model.rowsInserted.connect(self._update_empty)
        model.rowsRemoved.connect(self._update_empty)
        self.setTabOrder(self.search, self.sort)
        self.setTabOrder(self.sort, self.favorites)
        self.setTabOrder(self.favorites, self.trash)
        self.setTabOrder(self.trash, self.view)
        self._update_empty()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_bar()

    def _fit_bar(self) -> None:
        """A narrow gallery (a small window, 2× scaling) shows its filter buttons as icons (their
        tooltips say what they are) rather than clipping their names; narrower still, the size slider
        goes (Ctrl+wheel and Ctrl+plus/minus still size the thumbnails) before the search box is cut."""
        buttons = (self.sort, self.favorites, self.trash)
        m = self._bar.contentsMargins()
        spacing = self._bar.spacing() * 8 + 4
        fixed = self.count_label.sizeHint().width() + self.fit.sizeHint().width() + SEARCH_MIN_WIDTH \
            + m.left() + m.right() + spacing + SORT_ARROW
        slider = self.size_slider.minimumWidth()
        with_text = sum(_text_width(b) for b in buttons) + fixed + slider
        style = Qt.ToolButtonStyle.ToolButtonIconOnly if self.width() < with_text \
            else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
        for b in buttons:
            if b.toolButtonStyle() != style:
                b.setToolButtonStyle(style)
        icons_only = sum(b.iconSize().width() + 14 for b in buttons) + fixed + slider
        self.size_slider.setVisible(self.width() >= icons_only)

    def set_thumbnail_size(self, px: int) -> None:
        self.view.set_base_cell(px)
        self._base_cell_changed(self.view.base_cell)

    def _base_cell_changed(self, px: int) -> None:
        if self.size_slider.value() != px:
            self.size_slider.blockSignals(True)
            self.size_slider.setValue(px)
            self.size_slider.blockSignals(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.Resize:
            self._fit_placeholder()
        return super().eventFilter(watched, event)

    def _fit_placeholder(self) -> None:
        """The search box's hint, shortened when the box is too narrow for all of it."""
        fm = self.search.fontMetrics()
        room = self.search.width() - 24 * len(self.search.actions()) - 30  # the search icon and the clear button
        full = fm.horizontalAdvance(SEARCH_PLACEHOLDER) <= room
        text = SEARCH_PLACEHOLDER if full else SEARCH_PLACEHOLDER_SHORT
        if self.search.placeholderText() != text:
            self.search.setPlaceholderText(text)

    # --- the selection, by id -------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        return list(self._sel_ids)

    def selected_records(self) -> list[ImageRecord]:
        """The selected images, fresh from the model where loaded (a favourite changed, say)."""
        out = []
        for i in self._sel_ids:
            r = self.model.record_by_id(i)
            if r is not None:
                self._sel_records[i] = r
            else:
                r = self._sel_records.get(i)
            if r is not None:
                out.append(r)
        return out

    def current_record(self) -> ImageRecord | None:
        """The one selected image (None with none or several selected)."""
        sel = self.selected_records()
        return sel[0] if len(sel) == 1 else None

    def select_ids(self, ids: list[int], *, current: int | None = None, scroll: bool = True) -> None:
        """Select these images (those in the gallery), ``current`` (default: the first) focused."""
        present = [i for i in ids if self.model.row_of(i) is not None]
        before = list(self._sel_ids)
        self._set_selection(present, current if current in present else (present[0] if present else None))
        self._apply()
        if present != before:
            self._emit_selection()
        if scroll and self._current_id is not None:
            row = self.model.row_of(self._current_id)
            if row is not None:
                self.view.scrollTo(self.model.index(row))

    def remove_images(self, ids: list[int]) -> int | None:
        """Take images out of the gallery (deleted, trashed); a removed selection moves to the
        neighbour. Returns the neighbour's id."""
        return self.model.remove_ids(ids)

    def insert_images(self, records: list[ImageRecord], *, select: bool = True) -> int:
        """Put images (back) into the gallery at their places (an undone delete), selected."""
        n = self.model.merge(records)
        if select:
            self.select_ids([r.id for r in records])
        return n

    def select_neighbour(self, step: int) -> ImageRecord | None:
        """Move the selection to the next (step 1) or previous (-1) image: the viewer's arrows."""
        cur = self._current_id if self._current_id is not None else (self._sel_ids[0] if self._sel_ids else None)
        row = self.model.row_of(cur) if cur is not None else None
        if row is None:
            return None
        n = self.model.rowCount()
        r = row + step
        while 0 <= r < n and self.model.id_at(r) is None:
            if not self.model.is_loaded(r) and r >= self.model.pending_count:
                self.model.load_rows(r, r)
                return None  # not loaded yet: the next press gets there
            r += step
        if not 0 <= r < n:
            return None
        image_id = self.model.id_at(r)
        if image_id is None:
            return None
        self.select_ids([image_id])
        return self.model.record_by_id(image_id)

    def _set_selection(self, ids: list[int], current: int | None) -> None:
        self._sel_ids = ids
        self._current_id = current
        for i in ids:
            r = self.model.record_by_id(i)
            if r is not None:
                self._sel_records[i] = r
        self._sel_records = {i: r for i, r in self._sel_records.items() if i in ids}

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_records())

    def _view_selection_changed(self, *_args: object) -> None:
        if self._applying or self.model.mutating:
            return  # rows are moving: the ids stay; _resync puts the view right afterwards
        ids = self.view.selected_ids()
        if ids != self._sel_ids:
            cur = self.model.id_at(self.view.currentIndex().row()) if self.view.currentIndex().isValid() else None
            self._set_selection(ids, cur if cur in ids else (ids[0] if ids else None))
            self._emit_selection()

    def _view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._applying or self.model.mutating or not current.isValid():
            return
        image_id = self.model.id_at(current.row())
        if image_id is not None and image_id in self._sel_ids:
            self._current_id = image_id

    def _resync(self) -> None:
        """After rows changed: make the view's selection the ids' rows again (if it is not)."""
        if self._applying:
            return
        landed = self.view.take_landed_row()
        image_id = self.model.id_at(landed) if landed is not None else None
        if image_id is not None:  # End, Page Down… onto a row that was loading: it is selected now
            self._set_selection([image_id], image_id)
            self._apply()
            self._emit_selection()
            return
        if self.view.selected_ids() != [i for i in self._sel_ids if self.model.row_of(i) is not None]:
            self._apply()
        elif self._current_id is not None:
            row = self.model.row_of(self._current_id)
            if row is not None and self.view.currentIndex().row() != row:
                self._apply()

    def _apply(self) -> None:
        m = self.model
        sel = QItemSelection()
        for i in self._sel_ids:
            row = m.row_of(i)
            if row is not None:
                sel.select(m.index(row), m.index(row))
        sm = self.view.selectionModel()
        self._applying = True
        try:
            sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            row = m.row_of(self._current_id) if self._current_id is not None else None
            if row is not None:
                sm.setCurrentIndex(m.index(row), QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._applying = False

    def _images_removed(self, ids: list[int], neighbour: int | None) -> None:
        gone = set(ids)
        if not gone.intersection(self._sel_ids):
            return
        left = [i for i in self._sel_ids if i not in gone]
        if left:
            self._set_selection(left, self._current_id if self._current_id in left else left[0])
        elif neighbour is not None:
            self._set_selection([neighbour], neighbour)  # the image that took its place
        else:
            self._set_selection([], None)
        self._emit_selection()

    def _find_selection_again(self) -> None:
        """A reload (refresh, filter, reconnect) forgot the rows: find the selected images again;
        those the new list does not hold are no longer selected."""
        for i in list(self._sel_ids):
            if self.model.row_of(i) is not None:
                continue
            r = self._sel_records.get(i)
            if r is None:
                self._drop_from_selection(i)
                continue
            self.model.locate(i, self.model.rank_of(r), lambda row, image_id=i: self._located(image_id, row))
        self._resync()

    def _located(self, image_id: int, row: int | None) -> None:
        if image_id not in self._sel_ids:
            return
        if row is None:
            self._drop_from_selection(image_id)
        else:
            self._resync()

    def _drop_from_selection(self, image_id: int) -> None:
        left = [i for i in self._sel_ids if i != image_id]
        self._set_selection(left, self._current_id if self._current_id in left else (left[0] if left else None))
        self._apply()
        self._emit_selection()

    # --- search and filters ---------------------------------------------------------------------

    def filter_problem(self) -> FilterError | None:
        """Why the box's text cannot be read as a filter (None: it can)."""
        try:
            parse(self.search.text())
        except FilterError as exc:
            return exc
        return None

    def _search_edited(self, _text: str) -> None:
        """Checked at each key (no database): a problem shows at once; a good filter applies after a pause."""
        problem = self.filter_problem()
        self._show_problem(problem)
        if problem is None:
            self._search_timer.start()
        else:
            self._search_timer.stop()

    def _search_entered(self) -> None:
        problem = self.filter_problem()
        if problem is not None:  # Enter on a bad filter: the cursor goes where the problem is
            self.search.setCursorPosition(max(0, min(len(self.search.text()), problem.position - 1)))
            self._show_problem(problem)
            return
        self._apply_search()

    def _show_problem(self, problem: FilterError | None) -> None:
        invalid = problem is not None
        if invalid:
            self.filter_error.setText(str(problem))
        self.filter_error.setVisible(invalid)
        if bool(self.search.property("invalid")) != invalid:
            self.search.setProperty("invalid", invalid)
            self.search.style().unpolish(self.search)
            self.search.style().polish(self.search)
        self.search.setAccessibleDescription(str(problem) if invalid else
                                             "Words search the prompts; tag:, board:, stars:>=4, fav and more filter")

    def _apply_search(self) -> None:
        """Give the model the box's filter (with the board's) and the sort order, if it can be read."""
        self._search_timer.stop()
        if self.filter_problem() is not None:
            return  # the last filter that could be read stays; the message says what is wrong
        text = self.search.text().strip()
        scope = self._scope_filter
        combined = f"{scope} ({text})" if scope and text else (scope or text)
        before = (self.model.filter_text, self.model.sort)
        self.model.set_filter(filter=combined, sort=self.sort_order())
        if (self.model.filter_text, self.model.sort) != before:
            self.query_changed.emit()

    def search_text(self) -> str:
        return self.search.text().strip()

    def set_search_text(self, text: str) -> None:
        """Put a filter in the box and show it now (a click on a tag, a saved search)."""
        self.search.setText(text)  # checks it (textChanged)
        self._apply_search()

    def sort_order(self) -> str:
        act = self.sort_group.checkedAction()
        return str(act.data()) if act is not None else "newest"

    def set_sort_order(self, sort: str) -> None:
        act = self.sort_actions.get(sort)
        if act is not None and not act.isChecked():
            act.setChecked(True)
            self._sort_chosen(act)

    def _sort_chosen(self, act: QAction) -> None:
        self.sort.setText(act.text())
        self.sort.setAccessibleDescription(f"Sorted by {act.text().lower()}")
        self._apply_search()

    @property
    def scope(self) -> tuple[str, str]:
        """What narrows the gallery besides the box: ("board", name), ("search", name) or ("", "")."""
        return self._scope_kind, self._scope_name

    def set_scope(self, kind: str, name: str, filter_text: str, *, title: str = "") -> None:
        """Show a board (``filter_text`` is its ``board_filter``) or all images (kind ""), ANDed with
        whatever the box says."""
        self._scope_kind, self._scope_name, self._scope_filter = kind, name, filter_text.strip()
        if kind:
            self.scope_bar.show_board(title or name)
        else:
            self.scope_bar.hide()
        self._apply_search()
        self._update_empty()

    def _close_scope(self) -> None:
        self.set_scope("", "", "")
        self.scope_cleared.emit()

    def _favorites_toggled(self, on: bool) -> None:
        icons.bind(self.favorites, "star-filled" if on else "star")
        self.model.set_filter(favorites_only=on)

    def _trash_toggled(self, on: bool) -> None:
        self.trash_bar.setVisible(on)
        self.model.set_filter(trash=on)

    def _update_count(self, n: int) -> None:
        self.trash_bar.set_count(n)
        QTimer.singleShot(0, self, self._fit_bar)  # the count's width changed
        if n < 0:
            self.count_label.setText("")
            return
        what = "favourite" if self.model.favorites_only else "image"
        self.count_label.setText(f"{n:,} {what}{'s' if n != 1 else ''}"
                                 + (" found" if self.model.search or self.search_text() else "")
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
        elif m.trash and not (m.search or m.filter_text):
            self.view.set_empty_message("The Trash is empty",
                                        "Images you delete wait here, so you can restore them.")
        elif self._scope_kind == "board" and not self.search_text():
            self.view.set_empty_message(f"The board “{self._scope_name}” is empty",
                                        "Drag thumbnails onto its name, or use Add to board in their menu.")
        elif m.search or m.filter_text:
            shown = self.search_text() or m.search or m.filter_text
            self.view.set_empty_message(f"No images match “{shown}”",
                                        "Try other words or filters, or clear the search box.")
        elif m.favorites_only:
            self.view.set_empty_message("No favourites yet",
                                        "Select an image and press the star (Ctrl+D) to keep it here.")
        else:
            self.view.set_empty_message("No images yet — write a prompt and press Generate",
                                        "Everything you generate is kept here, newest first.")

    def set_drag_source(self, source: Callable[[list[ImageRecord]], QMimeData | None]) -> None:
        self.model.drag_source = source
