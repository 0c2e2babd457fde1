"""What the user adds to the selected images: stars, tags and a note (issue 14), in the details panel.

A view only: it shows the :class:`~core.store.ImageLabels` it is given and says what the user
asked for through its signals; :class:`gui.controllers.library.LibraryController` runs the calls
on the worker and hands the new labels back. Tags apply to the whole selection: a tag on only
some of the selected images shows how many ("sea · 2/3"); removing it takes it off all of them,
typing one puts it on all of them. The note belongs to one image, so it shows for one only.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFocusEvent, QKeyEvent
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.store import ImageLabels
from gui import icons
from gui.widgets.flow_layout import FlowLayout

COMPLETE_DELAY_MS = 60  # between keystrokes and the autocomplete query (one query per pause)
NOTE_SAVE_MS = 1200  # a pause in typing this long saves the note (and so does leaving the field)
NOTE_HEIGHT = 76
CHIP_TEXT_MAX = 150  # px of a chip's name


def _stars(n: int) -> str:
    return f"{n} star{'s' if n != 1 else ''}"


class StarRating(QWidget):
    """Five clickable stars; clicking the lit top star again clears them (as in most photo apps)."""

    chosen = Signal(int)  # 0-5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Rating")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.buttons: list[QToolButton] = []
        for n in range(1, 6):
            b = QToolButton()
            b.setAutoRaise(True)
            b.setIconSize(QSize(20, 20))
            b.setAccessibleName(_stars(n))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys 0–5 are the keyboard's way
            b.clicked.connect(lambda _c=False, n=n: self._clicked(n))
            lay.addWidget(b)
            self.buttons.append(b)
        self.value: int | None = 0  # None: the selected images differ
        self.set_value(0)

    def _clicked(self, n: int) -> None:
        self.chosen.emit(0 if self.value == n else n)

    def set_value(self, value: int | None) -> None:
        self.value = value
        lit = value or 0
        for n, b in enumerate(self.buttons, start=1):
            icons.bind(b, "star-filled" if n <= lit else "star")
            b.setToolTip("Clear the stars (0)" if n == lit else f"{_stars(n)} ({n})")
        self.setToolTip("The selected images have different ratings" if value is None else "")


class TagChip(QFrame):
    """A tag as a small rounded chip: its name (click: show the images with it) and a remove button."""

    clicked = Signal(str)
    remove = Signal(str)

    def __init__(self, name: str, have: int, of: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName("tagChip")
        self.setProperty("partial", have < of)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 1, 2, 1)
        lay.setSpacing(0)
        self.label = QToolButton()
        self.label.setObjectName("tagChipName")
        text = name if have == of else f"{name} · {have}/{of}"
        # a long name is cut with "…" (its tooltip says it whole): a chip never widens the panel
        self.label.setText(self.label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, CHIP_TEXT_MAX))
        self.label.setToolTip(f"Show the images tagged {name!r}" + ("" if have == of else
                              f" ({have} of the {of} selected images have it)"))
        self.label.setAccessibleName(f"Tag {name}")
        self.label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.label.clicked.connect(lambda: self.clicked.emit(self.name))
        lay.addWidget(self.label)
        self.close_button = QToolButton()
        self.close_button.setObjectName("tagChipRemove")
        icons.bind(self.close_button, "close")
        self.close_button.setIconSize(QSize(12, 12))
        self.close_button.setAccessibleName(f"Remove tag {name}")
        self.close_button.setToolTip(f"Remove {name!r} from the selected image{'s' if of > 1 else ''}")
        self.close_button.clicked.connect(lambda: self.remove.emit(self.name))
        lay.addWidget(self.close_button)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class TagCompleter(QCompleter):
    """Completes the tag after the last comma ("sea, eve" → "sea, evening")."""

    def splitPath(self, path: str) -> list[str]:
        return [path.rsplit(",", 1)[-1].strip()]

    def pathFromIndex(self, index: QModelIndex | QPersistentModelIndex) -> str:
        widget = self.widget()
        text = widget.text() if isinstance(widget, QLineEdit) else ""
        head = text.rsplit(",", 1)[0] + ", " if "," in text else ""
        return head + str(index.data())


class TagEntry(QLineEdit):
    """The line new tags are typed in; Enter adds them, Escape gives the keyboard back to the gallery."""

    escaped = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and not (self.completer() and self.completer().popup().isVisible()):
            self.clear()
            self.escaped.emit()
            return
        super().keyPressEvent(event)


class NoteEdit(QPlainTextEdit):
    left = Signal()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.left.emit()


class LabelsEditor(QWidget):
    """Stars, tag chips with an entry, and a note, for the image ids it is showing."""

    rate = Signal(int)  # stars for the selection
    add_tags = Signal(list, str)  # image ids, what was typed ("sea, evening")
    remove_tag = Signal(list, str)  # image ids, tag name
    tag_clicked = Signal(str)  # show the images with this tag
    complete = Signal(str)  # the word being typed: ask for completions
    save_note = Signal(int, str)  # image id, text
    escaped = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Stars, tags and note")
        self.ids: list[int] = []
        self.labels: dict[int, ImageLabels] = {}
        self._note_id: int | None = None  # the image the note field is about
        self._note_saved = ""  # what the database has (or is being given) for it
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)

        # Each head above its field: the panel may be 200 px narrow (a head beside the stars widened it).
        self.rating_head = QLabel("Rating")
        self.rating_head.setObjectName("fieldLabel")
        lay.addWidget(self.rating_head)
        self.stars = StarRating()
        self.stars.chosen.connect(self.rate)
        lay.addWidget(self.stars, 0, Qt.AlignmentFlag.AlignLeft)

        head = QLabel("Tags")
        head.setObjectName("fieldLabel")
        lay.addWidget(head)
        self.chips_box = QWidget()
        self.chips = FlowLayout(self.chips_box, spacing=4)
        lay.addWidget(self.chips_box)
        self.no_tags = QLabel("No tags yet")
        self.no_tags.setObjectName("subtle")
        self.no_tags.setWordWrap(True)
        lay.addWidget(self.no_tags)
        self.entry = TagEntry()
        self.entry.setPlaceholderText("Add tags…")
        self.entry.setAccessibleName("Add tags")
        self.entry.setClearButtonEnabled(True)
        self.entry.setToolTip("Type tags separated by commas and press Enter; they go on every selected image")
        self.entry.escaped.connect(self.escaped)
        self.completions = QStringListModel(self)
        self.completer = TagCompleter(self.completions, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setModelSorting(QCompleter.ModelSorting.UnsortedModel)  # most used first, as the core says
        self.completer.setWidget(self.entry)
        self.entry.setCompleter(self.completer)
        self._complete_timer = QTimer(self)
        self._complete_timer.setSingleShot(True)
        self._complete_timer.setInterval(COMPLETE_DELAY_MS)
        self._complete_timer.timeout.connect(lambda: self.complete.emit(self.current_word()))
        self.entry.textEdited.connect(lambda _t: self._complete_timer.start())
        self.entry.returnPressed.connect(self._entered)
        self.entry.installEventFilter(self)
        lay.addWidget(self.entry)
        self.error = QLabel()
        self.error.setObjectName("captionReject")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Tag error")
        self.error.hide()
        lay.addWidget(self.error)

        self.note_head = QLabel("Note")
        self.note_head.setObjectName("fieldLabel")
        lay.addWidget(self.note_head)
        self.note = NoteEdit()
        self.note.setPlaceholderText("Write a note about this image…")
        self.note.setAccessibleName("Note")
        self.note.setTabChangesFocus(True)
        self.note.setFixedHeight(NOTE_HEIGHT)
        self.note.left.connect(self.flush_note)
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(NOTE_SAVE_MS)
        self._note_timer.timeout.connect(self.flush_note)
        self.note.textChanged.connect(self._note_typed)
        lay.addWidget(self.note)
        self.note_hint = QLabel("Select one image to write its note.")
        self.note_hint.setObjectName("subtle")
        self.note_hint.setWordWrap(True)
        lay.addWidget(self.note_hint)
        self._chip_widgets: list[TagChip] = []
        self.show_ids([])

    # --- what is shown --------------------------------------------------------------------------

    def show_ids(self, ids: list[int]) -> None:
        """The selection changed: forget the old labels (their note is saved first) until new ones come."""
        if ids == self.ids:
            return
        self.flush_note()
        self.ids = list(ids)
        self.labels = {}
        self.error.hide()
        one = len(ids) == 1
        self._note_id = ids[0] if one else None
        self._note_saved = ""
        self.note.blockSignals(True)
        self.note.setPlainText("")
        self.note.blockSignals(False)
        self.note.setEnabled(False)  # until its text has been read
        self.note.setVisible(one)
        self.note_hint.setVisible(len(ids) > 1)
        # short: the panel may be 220 px wide (tests/gui/test_layout_xvfb.py measures placeholders)
        self.entry.setPlaceholderText("Add tags…" if len(ids) < 2 else f"Tag all {len(ids):,}…")
        self._show_tags()
        self.stars.set_value(0)
        self.rating_head.setText("Rating")

    def set_too_many(self) -> None:
        """So many images are selected that their tags are not read: say so (stars and tags still apply)."""
        self.labels = {}
        self._show_tags()
        self.stars.set_value(None)
        self.no_tags.setText(f"The tags of {len(self.ids):,} images are not listed; tags typed here go on all.")
        self.no_tags.show()

    def set_labels(self, labels: dict[int, ImageLabels]) -> None:
        """The labels of (some of) the shown images were read."""
        mine = {i: labels.get(i, ImageLabels(i)) for i in self.ids}
        self.labels = mine
        ratings = {lab.rating for lab in mine.values()}
        self.stars.set_value(ratings.pop() if len(ratings) == 1 else None)
        # different stars on the selected images: the head says so (beside the stars it would widen the panel)
        self.rating_head.setText("Rating (mixed)" if self.stars.value is None else "Rating")
        self._show_tags()
        if self._note_id is not None and self._note_id in mine:
            text = mine[self._note_id].note
            typing = self.note.hasFocus() and self.note.toPlainText() != self._note_saved
            if not typing and text != self.note.toPlainText():
                self.note.blockSignals(True)
                self.note.setPlainText(text)
                self.note.blockSignals(False)
            if not typing:
                self._note_saved = text
            self.note.setEnabled(True)

    def tag_counts(self) -> dict[str, int]:
        """Each tag of the shown images with how many of them carry it, in first-seen order."""
        counts: dict[str, int] = {}
        for i in self.ids:
            for t in self.labels.get(i, ImageLabels(i)).tags:
                counts[t] = counts.get(t, 0) + 1
        return counts

    def _show_tags(self) -> None:
        for chip in self._chip_widgets:
            self.chips.removeWidget(chip)
            chip.hide()  # at once: deleteLater waits for the event loop, and the old chip would show meanwhile
            chip.deleteLater()
        self._chip_widgets = []
        counts = self.tag_counts()
        for name, have in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold())):
            chip = TagChip(name, have, len(self.ids))
            chip.clicked.connect(self.tag_clicked)
            chip.remove.connect(lambda n: self.remove_tag.emit(list(self.ids), n))
            self.chips.addWidget(chip)
            self._chip_widgets.append(chip)
        self.chips_box.setVisible(bool(counts))
        self.no_tags.setText("No tags yet")
        self.no_tags.setVisible(not counts and bool(self.labels))
        self.chips_box.updateGeometry()

    def chip_names(self) -> list[str]:
        return [c.name for c in self._chip_widgets]

    def chip(self, name: str) -> TagChip | None:
        return next((c for c in self._chip_widgets if c.name.casefold() == name.casefold()), None)

    # --- tags -----------------------------------------------------------------------------------

    def current_word(self) -> str:
        return self.entry.text().rsplit(",", 1)[-1].strip()

    def set_completions(self, word: str, names: list[str]) -> None:
        """Names the worker found for ``word``; shown if the user is still typing it."""
        if word != self.current_word() or not self.entry.hasFocus():
            return
        counts = self.tag_counts()
        have = {t.casefold() for t, n in counts.items() if n == len(self.ids)}  # on every image already
        self.completions.setStringList([n for n in names if n.casefold() not in have])
        self.completer.setCompletionPrefix(word)
        if not word:
            return  # ready for the first key; no popup over an empty field
        if self.completer.completionCount():
            self.completer.complete()
        else:
            self.completer.popup().hide()

    def _entered(self) -> None:
        if self.completer.popup().isVisible():
            return  # Enter picks the completion first
        text = self.entry.text().strip().strip(",").strip()
        if text and self.ids:
            self.add_tags.emit(list(self.ids), text)

    def tags_accepted(self) -> None:
        """The tags typed were put on the images: the entry is ready for the next ones."""
        self.entry.clear()
        self.error.hide()

    def show_error(self, text: str) -> None:
        """A tag could not be added (the typed text stays, to be corrected)."""
        self.error.setText(text)
        self.error.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.entry and event.type() == QEvent.Type.FocusIn and not self.entry.text():
            self.complete.emit("")  # the most used tags, before anything is typed
        return super().eventFilter(watched, event)

    # --- the note -------------------------------------------------------------------------------

    def _note_typed(self) -> None:
        self._note_timer.start()

    def flush_note(self) -> None:
        """Save the note if it differs from what was read (leaving the field, a pause, another image)."""
        self._note_timer.stop()
        if self._note_id is None or not self.note.isEnabled():
            return
        text = self.note.toPlainText()
        if text.strip() != self._note_saved.strip():
            self._note_saved = text
            self.save_note.emit(self._note_id, text)
