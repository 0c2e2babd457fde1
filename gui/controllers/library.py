"""Organising the library (issue 14): stars, tags and notes of the gallery's selection, the tag list.

The controller owns the commands (keys 0–5 rate the selection, Ctrl+T goes to the tag entry,
View → Tags… opens the tag list) and runs every call through the window's
:class:`~gui.context.AppContext`: reads with ``call``, mutations with ``op`` (through the undo
history for tags and stars), so their :class:`~core.changes.Changes` reach every view. It
never patches a view by hand: the details panel's labels are read again when a change names
the selected images (ours, another window's, a terminal's: gui/change_bridge.py), and the tag
list when tags changed at all.

The stars are not the favourite: the favourite mark stays what it was (Ctrl+D, the gallery's
Favourites filter and the star on thumbnails); stars are 0–5 (``stars:>=4`` in filters).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from core.changes import ChangeKind, Changes
from core.filters import quote
from core.service import Service, ValidationError
from core.service.library import tag_names
from core.store import ImageLabels, ImageRecord, TagCount
from gui import errors as gerrors
from gui.dialogs.placement import present
from gui.dialogs.tag_list import TagListDialog

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

COMPLETIONS = 10  # tags offered while typing one
TAG_LIST_DELAY_MS = 150  # a burst of tag changes reloads the tag list once
LABELS_MAX = 5000  # selected images whose tags the details panel lists (beyond: it says so, and still tags)


def _images(n: int) -> str:
    return f"{n:,} image{'s' if n != 1 else ''}"


def merged(parts: Iterable[Changes]) -> Changes:
    """Several operations' changes as one (their origin kept, unlike a merge with an empty start)."""
    out: Changes | None = None
    for c in parts:
        out = c if out is None else out.merge(c)
    return out if out is not None else Changes()


def tag_filter(name: str) -> str:
    """The gallery filter that shows the images with a tag (``tag:"golden hour"``)."""
    return f"tag:{quote(name)}"


class LibraryController(QObject):
    labels_read = Signal(object)  # {image id: ImageLabels} of the selection, after every read
    tags_read = Signal(object)  # [TagCount] for the tag list, after every read

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.ctx = window.ctx
        self.history = window.history
        self.editor = window.details.labels
        self.tag_dialog: TagListDialog | None = None
        self._ids: list[int] = []
        self._read_seq = 0  # only the latest read of the labels is shown
        self._complete_seq = 0
        self._select_after = ""  # a tag to select in the tag list once it is read again
        self._tags_timer = QTimer(self)
        self._tags_timer.setSingleShot(True)
        self._tags_timer.setInterval(TAG_LIST_DELAY_MS)
        self._tags_timer.timeout.connect(self.reload_tags)
        self.actions = self._make_actions()
        self._add_to_menus()
        self.selection_changed([])

        e = self.editor
        e.rate.connect(self.rate)
        e.add_tags.connect(self.add_tags)
        e.remove_tag.connect(self.remove_tag)
        e.tag_clicked.connect(self.show_tag)
        e.complete.connect(self._complete)
        e.save_note.connect(self.save_note)
        e.escaped.connect(lambda: self.w.gallery.view.setFocus())
        window.gallery.selection_changed.connect(self._selection_changed)
        self.ctx.changes_applied.connect(self._changes)
        self.ctx.service_ready.connect(lambda _s: self._reload_all())

    # --- commands ---------------------------------------------------------------------------------

    def _make_actions(self) -> dict[str, QAction]:
        out: dict[str, QAction] = {}
        # Keys 0–5 act where the selection is (the gallery, the details beside it), so typing a
        # digit in the prompt, the seed or a spin box never rates anything.
        targets = (self.w.gallery, self.w.details)
        for n in range(6):
            a = QAction(f"&{n} star{'s' if n != 1 else ''}" if n else "&No stars", self.w)
            a.setShortcut(str(n))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            tip = (f"Give the selected images {n} star{'s' if n != 1 else ''}" if n
                   else "Clear the selected images' stars")
            a.setToolTip(f"{tip} ({n})")
            a.setStatusTip(tip)
            a.triggered.connect(lambda _c=False, n=n: self.rate(n))
            for t in targets:
                t.addAction(a)
            out[f"rate_{n}"] = a
        a = QAction("Add &tags…", self.w)
        a.setShortcut("Ctrl+T")
        a.setStatusTip("Type tags for the selected images")
        a.setToolTip("Type tags for the selected images (Ctrl+T)")
        a.triggered.connect(self.focus_tag_entry)
        self.w.addAction(a)
        out["add_tags"] = a
        a = QAction("&Tags…", self.w)
        a.setStatusTip("Every tag with its image count: show, rename, merge or delete")
        a.triggered.connect(self.open_tag_list)
        self.w.addAction(a)
        out["tag_list"] = a
        return out

    def _menu(self, title: str) -> QMenu | None:
        for a in self.w.menuBar().actions():
            if a.menu() is not None and a.text().replace("&", "") == title:
                return a.menu()
        return None

    def _add_to_menus(self) -> None:
        """Edit → Rating ▸ and Add tags…, View → Tags…; the gallery's context menu names "rating" and
        "add_tags" (gui/actions.py GALLERY_MENU), so they go into the window's actions too."""
        self.rating_menu = QMenu("R&ating", self.w)
        for n in range(1, 6):
            self.rating_menu.addAction(self.actions[f"rate_{n}"])
        self.rating_menu.addSeparator()
        self.rating_menu.addAction(self.actions["rate_0"])
        self.w.actions_["rating"] = self.rating_menu.menuAction()
        self.w.actions_["add_tags"] = self.actions["add_tags"]
        edit = self._menu("Edit")
        if edit is not None:
            edit.addSeparator()
            edit.addMenu(self.rating_menu)
            edit.addAction(self.actions["add_tags"])
        view = self._menu("View")
        if view is not None:
            before = self.w.actions_.get("viewer")
            if before is not None and before in view.actions():
                view.insertAction(before, self.actions["tag_list"])
            else:
                view.addAction(self.actions["tag_list"])

    def selection_changed(self, records: list[ImageRecord]) -> None:
        """Enable what applies to the selection (the window calls this with its other actions)."""
        some = bool(records) and not self.w.model.trash
        for n in range(6):
            self.actions[f"rate_{n}"].setEnabled(some)
        self.actions["add_tags"].setEnabled(some)
        self.rating_menu.setEnabled(some)

    # --- the selection's labels --------------------------------------------------------------------

    def _selection_changed(self, records: list[ImageRecord]) -> None:
        self.selection_changed(records)
        ids = [r.id for r in records]
        if ids != self._ids:
            self._ids = ids
            self.editor.show_ids(ids)
            self.read_labels()

    def read_labels(self) -> None:
        ids = list(self._ids)
        self._read_seq += 1
        seq = self._read_seq
        if not ids:
            return
        if len(ids) > LABELS_MAX:  # Select All in a large library: typing still tags them all
            self.editor.set_too_many()
            return

        def done(labels: dict[int, ImageLabels]) -> None:
            if seq == self._read_seq and ids == self._ids:
                self.editor.set_labels(labels)
                self.labels_read.emit(labels)

        self.ctx.call(lambda s: s.library.labels(ids), on_success=done, on_failure=lambda _e: None, owner=self,
                      name="labels")

    def _changes(self, changes: Changes) -> None:
        kinds = (ChangeKind.TAGS, ChangeKind.RATING, ChangeKind.NOTE, ChangeKind.BOARDS)
        touched = False
        for k in kinds:
            if k not in changes:
                continue
            ids = changes.ids(k)
            if ids is None or ids & set(self._ids):
                touched = True
        if touched:
            self.read_labels()
        if ChangeKind.TAGS in changes and self.tag_dialog is not None and self.tag_dialog.isVisible():
            self._tags_timer.start()

    def _reload_all(self) -> None:
        self.read_labels()
        if self.tag_dialog is not None and self.tag_dialog.isVisible():
            self.reload_tags()

    # --- stars -------------------------------------------------------------------------------------

    def rate(self, stars: int) -> None:
        """Give the selected images ``stars`` (0 clears); Ctrl+Z gives each its stars back."""
        records = [r for r in self.w.selected()]
        if not records or self.w.model.trash:
            return
        ids = [r.id for r in records]
        labels = self.editor.labels
        before: dict[int, list[int]] = defaultdict(list)
        for r in records:
            before[labels[r.id].rating if r.id in labels else r.rating].append(r.id)

        def undo(_c: Changes) -> Callable[[Service], Changes]:
            return lambda s: merged(s.library.set_rating(i, n) for n, i in before.items())

        def text(c: Changes) -> str:  # the undo stack's name for it: "Undo Rate 2 images 3 stars"
            return f"Rate {_images(c.count)} {stars} star{'s' if stars != 1 else ''}" if stars \
                else f"Clear the stars of {_images(c.count)}"

        def said(c: Changes) -> str:
            if not c:
                return f"The selected images have {stars} star{'s' if stars != 1 else ''} already." if stars \
                    else "The selected images have no stars."
            return f"{_images(c.count)} now {'has' if c.count == 1 else 'have'} " \
                   f"{stars} star{'s' if stars != 1 else ''}." if stars else f"Stars taken off {_images(c.count)}."

        self.history.perform(text, lambda s: s.library.set_rating(ids, stars), undo,
                             on_done=lambda c: self.w.statusBar().showMessage(said(c), 3000), name="rate")

    # --- tags --------------------------------------------------------------------------------------

    def focus_tag_entry(self) -> None:
        if not self._ids:
            return
        self.w.tabs.setCurrentIndex(0)
        self.editor.entry.setFocus()

    def add_tags(self, ids: list[int], text: str) -> None:
        """Put the typed tags on every image of ``ids``; Ctrl+Z takes each off the images that gained it."""
        try:
            names = tag_names([text])
        except ValidationError as exc:
            self.editor.show_error(str(exc))
            return
        had = {n.casefold(): {i for i in ids if n.casefold() in {t.casefold() for t in self._tags_of(i)}}
               for n in names}

        def undo(c: Changes) -> Callable[[Service], Changes]:
            gained = c.ids(ChangeKind.TAGS) or frozenset(ids)
            plan = [(n, [i for i in ids if i in gained and i not in had[n.casefold()]]) for n in names]
            return lambda s: merged(s.library.remove_tags(i, [n]) for n, i in plan if i)

        def done(c: Changes) -> None:
            if self._ids == ids:
                self.editor.tags_accepted()

        shown = ", ".join(names)
        self.history.perform(lambda c: f"Tag {_images(c.count)} {shown}", lambda s: s.library.add_tags(ids, names),
                             undo, on_done=done, on_failure=self._tag_failed, name="tag")

    def remove_tag(self, ids: list[int], name: str) -> None:
        """Take a tag off the images of ``ids``; Ctrl+Z puts it back on those that had it."""
        had = [i for i in ids if name.casefold() in {t.casefold() for t in self._tags_of(i)}] or ids

        def undo(_c: Changes) -> Callable[[Service], Changes]:
            return lambda s: s.library.add_tags(had, [name])

        self.history.perform(lambda c: f"Remove {name} from {_images(c.count)}",
                             lambda s: s.library.remove_tags(ids, [name]), undo, on_failure=self._tag_failed,
                             name="untag")

    def _tags_of(self, image_id: int) -> tuple[str, ...]:
        lab = self.editor.labels.get(image_id)
        return lab.tags if lab is not None else ()

    def _tag_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ValidationError):
            self.editor.show_error(str(exc))
        else:
            self.ctx.report(exc)

    def _complete(self, word: str) -> None:
        self._complete_seq += 1
        seq = self._complete_seq

        def done(tags: list[TagCount]) -> None:
            if seq == self._complete_seq:
                self.editor.set_completions(word, [t.name for t in tags])

        self.ctx.call(lambda s: s.library.complete_tag(word, COMPLETIONS), on_success=done,
                      on_failure=lambda _e: None, owner=self, name="complete tag")

    def show_tag(self, name: str) -> None:
        """The gallery shows the images with this tag (the filter in its search box)."""
        self.w.tabs.setCurrentIndex(0)
        if self.w.model.trash:
            self.w.gallery.trash.setChecked(False)
        self.w.gallery.set_search_text(tag_filter(name))

    # --- notes -------------------------------------------------------------------------------------

    def save_note(self, image_id: int, text: str) -> None:
        def failed(exc: BaseException) -> None:
            if image_id in self._ids:
                self.read_labels()  # the field shows what the library has
            self.w.show_error(exc)

        self.ctx.op(lambda s: s.library.set_note(image_id, text), on_failure=failed, owner=self, name="note")

    # --- the tag list ------------------------------------------------------------------------------

    def open_tag_list(self) -> None:
        if self.tag_dialog is None:
            d = TagListDialog(self.w)
            d.show_tag.connect(self.show_tag)
            d.rename.connect(self.rename_tag)
            d.merge.connect(self.merge_tags)
            d.delete.connect(self.delete_tags)
            self.tag_dialog = d
        present(self.tag_dialog)
        self.reload_tags()

    def reload_tags(self) -> None:
        def done(tags: list[TagCount]) -> None:
            if self.tag_dialog is not None:
                self.tag_dialog.set_tags(tags)
                if self._select_after:  # the tag just renamed or merged into stays selected
                    self.tag_dialog.select_name(self._select_after)
                    self._select_after = ""
            self.tags_read.emit(tags)

        self.ctx.call(lambda s: s.library.tags(), on_success=done, owner=self, name="tag list")

    def _dialog_op(self, fn: Callable[[Service], Changes], message: Callable[[Changes], str],
                   select: str = "") -> None:
        def failed(exc: BaseException) -> None:
            parent = self.tag_dialog if self.tag_dialog is not None else self.w
            QMessageBox.warning(parent, "Tags", gerrors.view_for(exc).text)

        def done(c: Changes) -> None:
            self._select_after = select
            self.w.statusBar().showMessage(message(c), 5000)
            if self.tag_dialog is not None:
                self.tag_dialog.show_message(message(c))

        self.ctx.op(fn, on_success=done, on_failure=failed, owner=self, name="tag list change")

    def rename_tag(self, old: str, new: str) -> None:
        self._dialog_op(lambda s: s.library.rename_tag(old, new),
                        lambda c: f"{old!r} is now {new!r} on {_images(c.count)}.", select=new)

    def merge_tags(self, sources: list[str], target: str) -> None:
        self._dialog_op(lambda s: s.library.merge_tags(sources, target),
                        lambda c: f"Merged {len(sources)} tag{'s' if len(sources) != 1 else ''} into {target!r} "
                                  f"({_images(c.count)}).", select=target)

    def delete_tags(self, names: list[str]) -> None:
        def run(s: Service) -> Changes:
            return merged(s.library.delete_tag(n) for n in names)

        self._dialog_op(run, lambda c: f"Deleted {len(names)} tag{'s' if len(names) != 1 else ''} "
                                       f"from {_images(c.count)}; the images stay.")
