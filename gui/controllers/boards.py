"""Boards and saved searches in the window: the sidebar's lists, the board view, the commands.

The controller owns the commands (New board, Rename, Delete, Add to board ▸, Remove from board,
Save this search…, Delete saved search) and the state the sidebar shows. Every library call runs
on the worker (``AppContext.call`` for reads, ``AppContext.op`` for mutations, whose
:class:`core.changes.Changes` reach every view); the lists are read again whenever a change names
boards or saved searches, whoever made it (this window, another one, ``imagefx board …`` in a
terminal: gui/change_bridge.py).

A board's view is the gallery narrowed by ``board_filter(name)`` (core/service/library.py), ANDed
with whatever the search box says; a saved search puts its filter in the box and its sort order
on the sort button. Deleting a board never deletes its images.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPoint, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QMessageBox, QWidget

from core.changes import ChangeKind, Changes
from core.service import Service
from core.service.library import board_filter
from core.store.records import BoardRecord, SavedSearchRecord
from gui import icons
from gui.actions import key_sequences
from gui.context import AppContext
from gui.undo import UndoHistory
from gui.widgets.boards_sidebar import BoardsSidebar
from gui.widgets.gallery import GalleryPanel

NEW_BOARD, SAVE_SEARCH, REMOVE_FROM_BOARD, ALL_IMAGES = "Ctrl+Shift+B", "Ctrl+Shift+S", "Ctrl+Alt+B", "Ctrl+Shift+A"

# Changes after which the sidebar's lists (names, counts) are read again: boards and searches
# themselves, and images leaving or coming back (a board counts the images not in the Trash).
_LIST_KINDS = (ChangeKind.BOARDS, ChangeKind.SEARCHES, ChangeKind.IMAGES_TRASHED, ChangeKind.IMAGES_RESTORED,
               ChangeKind.IMAGES_REMOVED, ChangeKind.IMAGES_ADDED)


def _plural(n: int) -> str:
    return f"{n:,} image{'s' if n != 1 else ''}"


class BoardsController(QObject):
    boards_loaded = Signal(list)  # list[BoardRecord], after every read of the lists
    searches_loaded = Signal(list)  # list[SavedSearchRecord]
    status = Signal(str)  # a short sentence for the status bar ("2 images added to “Sea”.")

    def __init__(self, ctx: AppContext, gallery: GalleryPanel, sidebar: BoardsSidebar,
                 actions: dict[str, QAction], window: QWidget, *,
                 show_gallery: Callable[[], None] | None = None, history: UndoHistory | None = None) -> None:
        super().__init__(window)
        self.ctx = ctx
        self.gallery = gallery
        self.sidebar = sidebar
        self.window_ = window
        self.show_gallery = show_gallery or (lambda: None)
        self.history = history  # adding to and taking off a board go on the window's undo stack
        self.boards: list[BoardRecord] = []
        self.searches: list[SavedSearchRecord] = []
        self.name_dialog: QInputDialog | None = None  # the open "name it" dialog (tests fill it in)
        self.confirm_box: QMessageBox | None = None
        self.context_menu: QMenu | None = None
        self._pending_mark = ""
        self._reading = False
        self._again = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)  # a burst of changes: one read
        self._refresh_timer.timeout.connect(self.refresh)

        def action(key: str, text: str, tip: str, slot: Callable[[], object], icon: str | None = None, *,
                   shortcut: str) -> QAction:
            a = QAction(text, window)
            a.setShortcuts(key_sequences([shortcut]))
            a.setToolTip(f"{tip} ({shortcut})")
            a.setStatusTip(tip)
            window.addAction(a)
            if icon:
                icons.bind(a, icon)
            a.triggered.connect(lambda _c=False: slot())
            actions[key] = a
            return a

        self.new_board_action = action("new_board", "New &board…", "Make a board to collect images on",
                                       self.ask_new_board, "add", shortcut=NEW_BOARD)
        self.save_search_action = action("save_search", "Save this &search…",
                                         "Keep the search box's filter and the sort order in the sidebar",
                                         self.ask_save_search, "saved-search", shortcut=SAVE_SEARCH)
        self.remove_action = action("remove_from_board", "&Remove from board",
                                    "Take the selected images off the board shown (they stay in the library)",
                                    self.remove_selected_from_board, shortcut=REMOVE_FROM_BOARD)
        self.all_images_action = action("all_images", "&All images", "Show every image, not one board",
                                        self.show_all, "gallery", shortcut=ALL_IMAGES)
        self.save_search_action.setEnabled(False)
        self.remove_action.setEnabled(False)

        sidebar.all_clicked.connect(self.show_all)
        sidebar.board_clicked.connect(self.show_board)
        sidebar.search_clicked.connect(self.apply_search)
        sidebar.dropped_on_board.connect(self.add_to_board)
        sidebar.context_requested.connect(self._context_menu)
        sidebar.delete_requested.connect(self._delete_requested)
        sidebar.new_board_requested.connect(self.ask_new_board)
        sidebar.save_search_requested.connect(self.ask_save_search)
        gallery.scope_cleared.connect(lambda: self.sidebar.mark_current("all", ""))
        gallery.query_changed.connect(self._query_changed)
        gallery.search.textChanged.connect(lambda _t: self._query_changed())
        gallery.selection_changed.connect(lambda _r: self._update_actions())
        ctx.service_ready.connect(lambda _s: self.schedule_refresh())
        ctx.changes_applied.connect(self._changes)

    # --- the lists -------------------------------------------------------------------------------

    def schedule_refresh(self) -> None:
        self._refresh_timer.start()

    def refresh(self) -> None:
        """Read the boards (with counts) and the saved searches again, on the worker."""
        if self._reading:
            self._again = True  # one more read when this one is in: it may have missed a change
            return
        self._reading = True

        def read(s: Service) -> tuple[list[BoardRecord], list[SavedSearchRecord]]:
            return s.library.boards(), s.library.saved_searches()

        def done(result: tuple[list[BoardRecord], list[SavedSearchRecord]]) -> None:
            self._reading = False
            self.boards, self.searches = result
            self.sidebar.set_boards(self.boards)
            self.sidebar.set_searches(self.searches)
            self._keep_scope()
            if self._pending_mark:
                self.sidebar.mark_current("search", self._pending_mark)
                self._pending_mark = ""
            self.boards_loaded.emit(self.boards)
            self.searches_loaded.emit(self.searches)
            self._read_again()

        def failed(exc: BaseException) -> None:
            self._reading = False
            self.ctx.report(exc)
            self._read_again()

        self.ctx.call(read, on_success=done, on_failure=failed, owner=self, name="boards and saved searches")

    def _read_again(self) -> None:
        if self._again:
            self._again = False
            self.schedule_refresh()

    def _changes(self, changes: Changes) -> None:
        if any(k in changes for k in _LIST_KINDS):
            self.schedule_refresh()

    def _keep_scope(self) -> None:
        """The board shown was renamed or deleted elsewhere: follow a rename (same id), else go back
        to all images."""
        kind, name = self.gallery.scope
        if kind != "board":
            return
        if any(b.name == name for b in self.boards):
            self.sidebar.mark_current("board", name)
            return
        self.show_all()

    # --- views -----------------------------------------------------------------------------------

    def show_all(self) -> None:
        self.gallery.set_scope("", "", "")
        self.sidebar.mark_current("all", "")
        self._update_actions()
        self.show_gallery()

    def show_board(self, name: str) -> None:
        """The board view: the gallery narrowed to the board (the box starts empty)."""
        self.gallery.search.blockSignals(True)
        self.gallery.search.clear()
        self.gallery.search.blockSignals(False)
        self.gallery.filter_error.hide()
        self.gallery.set_scope("board", name, board_filter(name), title=name)
        self.sidebar.mark_current("board", name)
        self._update_actions()
        self.show_gallery()

    def apply_search(self, name: str) -> None:
        """A saved search: its filter in the box and its sort order, over all images."""
        found = next((s for s in self.searches if s.name == name), None)
        if found is None:
            return
        self.gallery.set_scope("", "", "")
        self.gallery.set_sort_order(found.sort)
        self.gallery.set_search_text(found.filter)
        self.sidebar.mark_current("search", found.name)
        self._update_actions()
        self.show_gallery()

    def _query_changed(self) -> None:
        kind, _name = self.sidebar.current()
        if kind == "search":  # the box no longer says what the saved search says
            found = next((s for s in self.searches if s.name == _name), None)
            if found is None or found.filter != self.gallery.search_text() or found.sort != self.gallery.sort_order():
                self.sidebar.mark_current(*(self.gallery.scope if self.gallery.scope[0] else ("all", "")))
        self._update_actions()

    def _update_actions(self) -> None:
        can_save = bool(self.gallery.search_text() or self.gallery.scope[0] == "board") \
            and self.gallery.filter_problem() is None
        self.save_search_action.setEnabled(can_save)
        self.sidebar.save_search_button.setEnabled(can_save)
        in_board = self.gallery.scope[0] == "board"
        self.remove_action.setEnabled(in_board and bool(self.gallery.selected_ids()))
        if in_board:
            self.remove_action.setText(f"&Remove from “{self.gallery.scope[1]}”")
        else:
            self.remove_action.setText("&Remove from board")

    # --- asking for a name (non-blocking dialogs: the window stays live) ------------------------

    def _ask_name(self, title: str, label: str, text: str, done: Callable[[str], None]) -> QInputDialog:
        dlg = QInputDialog(self.window_)
        dlg.setWindowTitle(title)
        dlg.setLabelText(label)
        dlg.setTextValue(text)
        dlg.setInputMode(QInputDialog.InputMode.TextInput)
        dlg.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dlg.textValueSelected.connect(lambda value: done(value.strip()) if value.strip() else None)
        dlg.finished.connect(lambda _r: dlg.deleteLater())
        self.name_dialog = dlg
        dlg.open()
        return dlg

    def ask_new_board(self, then_add: list[int] | None = None) -> QInputDialog:
        def made(name: str) -> None:
            if then_add:
                self.add_to_board(name, then_add, create=True)
            else:
                self.create_board(name)

        return self._ask_name("New board", "Name of the new board:", "", made)

    def ask_rename_board(self, old: str) -> QInputDialog:
        return self._ask_name("Rename board", f"New name for the board “{old}”:", old,
                              lambda new: self.rename_board(old, new))

    def ask_save_search(self) -> QInputDialog | None:
        flt = self.current_filter()
        if not flt:
            return None
        return self._ask_name("Save this search", f"Name for the search “{flt}”:", self.gallery.search_text()[:60],
                              lambda name: self.save_search(name, flt, self.gallery.sort_order()))

    def current_filter(self) -> str:
        """What the gallery lists now in the filter language (the board's filter with the box's)."""
        return self.gallery.model.filter_text

    # --- commands --------------------------------------------------------------------------------

    def _op(self, fn: Callable[[Service], Changes], message: Callable[[Changes], str] | None = None,
            then: Callable[[Changes], None] | None = None, name: str = "") -> None:
        def done(changes: Changes) -> None:
            if message is not None:
                self.status.emit(message(changes))
            if then is not None:
                then(changes)
            self.schedule_refresh()  # this window's own change (a listener skips its own)

        self.ctx.op(fn, on_success=done, owner=self, name=name)

    def create_board(self, name: str) -> None:
        self._op(lambda s: s.library.create_board(name), lambda _c: f"Board “{name}” made.", name="create board")

    def rename_board(self, old: str, new: str) -> None:
        def renamed(_c: Changes) -> None:
            if self.gallery.scope == ("board", old):
                self.gallery.set_scope("board", new, board_filter(new), title=new)

        self._op(lambda s: s.library.rename_board(old, new), lambda _c: f"Board “{old}” renamed to “{new}”.",
                 renamed, name="rename board")

    def delete_board(self, name: str, *, confirm: bool = True) -> None:
        """Delete a board after asking (its images stay in the library and on their other boards)."""
        if confirm:
            count = next((b.count for b in self.boards if b.name == name), 0)
            box = QMessageBox(QMessageBox.Icon.Question, "Delete board",
                              f"Delete the board “{name}”?",
                              QMessageBox.StandardButton.Cancel, self.window_)
            box.setInformativeText(f"Its {_plural(count)} stay in your library; only the board goes.")
            delete = box.addButton("Delete board", QMessageBox.ButtonRole.DestructiveRole)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.buttonClicked.connect(lambda b: self.delete_board(name, confirm=False) if b is delete else None)
            box.finished.connect(lambda _r: box.deleteLater())
            self.confirm_box = box
            box.open()
            return

        def gone(_c: Changes) -> None:
            if self.gallery.scope == ("board", name):
                self.show_all()

        self._op(lambda s: s.library.delete_board(name), lambda _c: f"Board “{name}” deleted; its images stay.",
                 gone, name="delete board")

    def _undoable(self, text: Callable[[Changes], str], label: Callable[[Changes], str],
                  do: Callable[[Service], Changes], undo: Callable[[Changes], Callable[[Service], Changes]],
                  name: str) -> None:
        """Run ``do`` (``text``: the status bar's sentence); with an undo stack, as a command named
        ``label`` ("Undo Add 2 images to “Sea”") that ``undo(changes)`` takes back."""
        def done(changes: Changes) -> None:
            self.status.emit(text(changes))
            self.schedule_refresh()

        if self.history is None:
            self._op(do, text, name=name)
            return
        self.history.perform(label, do, undo, on_done=done, name=name)

    def add_to_board(self, name: str, image_ids: list[int], *, create: bool = False) -> None:
        ids = list(image_ids)
        if not ids:
            return

        def added(c: Changes) -> list[int]:
            got = c.ids(ChangeKind.BOARDS)
            return ids if got is None else sorted(got)  # None: the board was made for them

        def said(c: Changes) -> str:
            n = len(added(c))
            return f"Already on “{name}”." if not c else f"{_plural(n)} added to “{name}”."

        self._undoable(said, lambda c: f"Add {_plural(len(added(c)))} to “{name}”",
                       lambda s: s.library.add_to_board(name, ids, create=create),
                       lambda c: lambda s: s.library.remove_from_board(name, added(c)), "add to board")

    def add_selected_to_board(self, name: str, *, create: bool = False) -> None:
        self.add_to_board(name, self.gallery.selected_ids(), create=create)

    def remove_from_board(self, name: str, image_ids: list[int]) -> None:
        ids = list(image_ids)
        if not ids:
            return
        def taken(c: Changes) -> list[int]:
            got = c.ids(ChangeKind.BOARDS)
            return ids if got is None else sorted(got)

        self._undoable(lambda c: f"{_plural(len(taken(c)))} taken off “{name}” (still in the library).",
                       lambda c: f"Take {_plural(len(taken(c)))} off “{name}”",
                       lambda s: s.library.remove_from_board(name, ids),
                       lambda c: lambda s: s.library.add_to_board(name, taken(c)), "remove from board")

    def remove_selected_from_board(self) -> None:
        kind, name = self.gallery.scope
        if kind == "board":
            self.remove_from_board(name, self.gallery.selected_ids())

    def save_search(self, name: str, filter_text: str, sort: str) -> None:
        def saved(_c: Changes) -> None:
            if self.gallery.model.filter_text == filter_text and not self.gallery.scope[0]:
                self._pending_mark = name  # marked in the sidebar once the lists are read again

        self._op(lambda s: s.library.save_search(name, filter_text, sort),
                 lambda _c: f"Search “{name}” saved in the sidebar.", saved, name="save search")

    def delete_search(self, name: str) -> None:
        self._op(lambda s: s.library.delete_search(name), lambda _c: f"Saved search “{name}” deleted.",
                 name="delete search")

    # --- menus -----------------------------------------------------------------------------------

    def extend_gallery_menu(self, menu: QMenu) -> None:
        """The gallery's context menu: "Add to board ▸" (every board, and a new one) and, in a board's
        view, "Remove from “board”"."""
        ids = self.gallery.selected_ids()
        if not ids or self.gallery.model.trash:
            return
        menu.addSeparator()
        sub = menu.addMenu(icons.icon("board"), "Add to &board")
        for b in self.boards:
            act = sub.addAction(b.name)
            act.triggered.connect(lambda _c=False, n=b.name: self.add_selected_to_board(n))
        if self.boards:
            sub.addSeparator()
        new = sub.addAction(icons.icon("add"), "New board…")
        new.triggered.connect(lambda _c=False, i=list(ids): self.ask_new_board(then_add=i))
        if self.gallery.scope[0] == "board":
            self._update_actions()
            menu.addAction(self.remove_action)

    def _context_menu(self, kind: str, name: str, pos: QPoint) -> None:
        m = QMenu(self.window_)
        if kind == "board":
            m.addAction("Show", lambda: self.show_board(name))
            m.addAction("Rename…", lambda: self.ask_rename_board(name))
            m.addAction(icons.icon("delete"), "Delete board…", lambda: self.delete_board(name))
        elif kind == "search":
            m.addAction("Show", lambda: self.apply_search(name))
            m.addAction(icons.icon("delete"), "Delete saved search", lambda: self.delete_search(name))
        else:
            m.addAction(self.new_board_action)
            m.addAction(self.save_search_action)
        self.context_menu = m
        m.popup(pos)

    def _delete_requested(self, kind: str, name: str) -> None:
        if kind == "board":
            self.delete_board(name)
        elif kind == "search":
            self.delete_search(name)
