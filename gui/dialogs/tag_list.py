"""View → Tags…: every tag in use with how many images carry it; rename, merge, delete, show.

A view only, like :mod:`gui.widgets.labels_editor`: it asks (rename, merge, delete, show the
images) through signals, and :class:`gui.controllers.library.LibraryController` runs the calls
and hands the new list back (after each change of tags, here or anywhere else). Renaming a tag
into a name that exists merges the two, after saying so.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from core.store import TagCount

NameRole = Qt.ItemDataRole.UserRole + 1
CountRole = Qt.ItemDataRole.UserRole + 2


def _images(n: int) -> str:
    return f"{n:,} image{'s' if n != 1 else ''}"


class _Tree(QTreeView):
    activated_enter = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.activated_enter.emit()
            return
        super().keyPressEvent(event)


class TagListDialog(QDialog):
    show_tag = Signal(str)  # filter the gallery by this tag
    rename = Signal(str, str)  # old, new (new may be an existing tag: merge)
    merge = Signal(list, str)  # sources, target
    delete = Signal(list)  # names

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tags")
        self.setObjectName("tagList")
        self.setModal(False)
        self.resize(420, 480)
        self.counts: dict[str, int] = {}  # casefolded name -> count
        self.names: dict[str, str] = {}  # casefolded name -> name as written
        lay = QVBoxLayout(self)
        self.find = QLineEdit()
        self.find.setPlaceholderText("Find a tag…")
        self.find.setAccessibleName("Find a tag")
        self.find.setClearButtonEnabled(True)
        lay.addWidget(self.find)

        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Tag", "Images"])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setSortRole(CountRole)
        self.proxy.setFilterKeyColumn(0)
        self.find.textChanged.connect(self.proxy.setFilterFixedString)
        self.view = _Tree()
        self.view.setAccessibleName("Tags and their image counts")
        self.view.setModel(self.proxy)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setSortingEnabled(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        header = self.view.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        self.view.doubleClicked.connect(lambda _i: self._show())
        self.view.activated_enter.connect(self._show)
        self.view.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        lay.addWidget(self.view, 1)
        self.summary = QLabel()
        self.summary.setObjectName("subtle")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.message = QLabel()  # what the last rename, merge or delete did
        self.message.setObjectName("subtle")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Last change")
        self.message.hide()
        lay.addWidget(self.message)

        row = QHBoxLayout()
        self.show_button = QPushButton("Show images")
        self.show_button.setToolTip("Show the images with this tag in the gallery (or double-click it)")
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the tag on every image; a name already in use merges the two")
        self.merge_button = QPushButton("Merge…")
        self.merge_button.setToolTip("Make the selected tags one tag")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("danger")
        self.delete_button.setToolTip("Take the tag off every image (the images stay)")
        for b, slot in ((self.show_button, self._show), (self.rename_button, self.ask_rename),
                        (self.merge_button, self.ask_merge), (self.delete_button, self.ask_delete)):
            b.setAutoDefault(False)
            b.clicked.connect(lambda _c=False, s=slot: s())
            row.addWidget(b)
        row.addStretch(1)
        close = QPushButton("Close")
        close.setAutoDefault(False)
        close.clicked.connect(self.close)
        row.addWidget(close)
        lay.addLayout(row)
        self.set_tags([])

    # --- the list -------------------------------------------------------------------------------

    def set_tags(self, tags: list[TagCount]) -> None:
        """The tags as they are now; the selection (by name) and the sort stay."""
        chosen = {n.casefold() for n in self.selected_names()}
        self.counts = {t.name.casefold(): t.count for t in tags}
        self.names = {t.name.casefold(): t.name for t in tags}
        self.model.removeRows(0, self.model.rowCount())
        for t in tags:
            name = QStandardItem(t.name)
            name.setData(t.name, NameRole)
            name.setData(t.name.casefold(), CountRole)
            count = QStandardItem(f"{t.count:,}")
            count.setData(t.count, CountRole)
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.model.appendRow([name, count])
        sm = self.view.selectionModel()
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if str(idx.data(NameRole)).casefold() in chosen:
                sm.select(idx, sm.SelectionFlag.Select | sm.SelectionFlag.Rows)
        n = len(tags)
        self.summary.setText(f"{n:,} tag{'s' if n != 1 else ''} in use" if n else
                             "No tags yet. Add them in the details panel beside the gallery.")
        self._update_buttons()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def count_of(self, name: str) -> int | None:
        return self.counts.get(name.casefold())

    def select_name(self, name: str) -> bool:
        """Select the tag called ``name`` (a test, or a tag just renamed)."""
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if str(idx.data(NameRole)).casefold() == name.casefold():
                self.view.selectionModel().select(
                    idx, self.view.selectionModel().SelectionFlag.ClearAndSelect
                    | self.view.selectionModel().SelectionFlag.Rows)
                self.view.setCurrentIndex(idx)
                return True
        return False

    def selected_names(self) -> list[str]:
        rows: list[QModelIndex] = self.view.selectionModel().selectedRows(0)
        return [str(i.data(NameRole)) for i in sorted(rows, key=lambda i: i.row())]

    def _update_buttons(self) -> None:
        n = len(self.selected_names())
        self.show_button.setEnabled(n == 1)
        self.rename_button.setEnabled(n == 1)
        self.merge_button.setEnabled(n >= 2)
        self.delete_button.setEnabled(n >= 1)

    # --- what the user asks for -------------------------------------------------------------------

    def _show(self) -> None:
        names = self.selected_names()
        if len(names) == 1:
            self.show_tag.emit(names[0])

    def ask_rename(self) -> None:
        names = self.selected_names()
        if len(names) != 1:
            return
        old = names[0]
        used = _images(self.counts.get(old.casefold(), 0))
        new, ok = QInputDialog.getText(self, "Rename tag", f"New name for {old!r} ({used}):",
                                       QLineEdit.EchoMode.Normal, old)
        new = new.strip()
        if not ok or not new or new == old:
            return
        other = self.names.get(new.casefold())
        if other is not None and new.casefold() != old.casefold():
            answer = QMessageBox.question(
                self, "Merge tags",
                f"A tag called {other!r} exists ({_images(self.counts[new.casefold()])}). Merge {old!r} into it? "
                f"Every image tagged {old!r} gets {other!r} instead.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.rename.emit(old, new)

    def ask_merge(self) -> None:
        names = self.selected_names()
        if len(names) < 2:
            return
        by_use = sorted(names, key=lambda n: -self.counts.get(n.casefold(), 0))
        target, ok = QInputDialog.getItem(self, "Merge tags", f"Merge {len(names)} tags into:", by_use, 0, True)
        target = target.strip()
        if not ok or not target:
            return
        self.merge.emit([n for n in names if n.casefold() != target.casefold()], target)

    def ask_delete(self) -> None:
        names = self.selected_names()
        if not names:
            return
        what = (f"the tag {names[0]!r} from {_images(self.counts.get(names[0].casefold(), 0))}" if len(names) == 1
                else f"{len(names)} tags from every image that has them")
        answer = QMessageBox.question(self, "Delete tags", f"Delete {what}? The images stay in the library.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.delete.emit(names)
