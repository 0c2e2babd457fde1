"""The prompt editor: what to generate, with which options, and the Generate button.

The editor only collects input and shows progress; the main window runs the call. The
prompt text is saved as a draft on every change (``GuiSettings``) and is never cleared
by an error, so nothing the user wrote is lost to a failed request or a crash.

"Add to queue" hands the same request to the queue instead. An image file dropped on the
editor is reported (:attr:`PromptEditor.image_dropped`); the main window reads its
parameters off the UI thread and fills the editor with :meth:`PromptEditor.apply_parameters`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QFontMetrics, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.config import GenerationDefaults
from core.imagefx import protocol
from core.imagefx.types import GenerationRequest
from core.service.service import MAX_PROMPT_CHARS
from core.store import ImageRecord
from gui import icons
from gui.settings import GuiSettings

if TYPE_CHECKING:  # core.export imports Pillow: not at start-up for an annotation
    from core.export import ImageParameters

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".webp")


@dataclass(frozen=True)
class EditorState:
    """What the editor holds, for undoing a replacement (gui/undo.py)."""

    text: str
    model: str
    aspect_ratio: str
    count: int
    seed: int
    seed_locked: bool


def _is_redo(event: QKeyEvent) -> bool:
    """Redo's keys: the platform's (Ctrl+Shift+Z on Linux) and Ctrl+Y, as Edit → Redo has them."""
    return event.matches(QKeySequence.StandardKey.Redo) or (
        event.key() == Qt.Key.Key_Y and event.modifiers() == Qt.KeyboardModifier.ControlModifier)


def dropped_image(mime: QMimeData) -> str | None:
    """The first local image file in a drag (its parameters fill the editor)."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(IMAGE_SUFFIXES):
            return url.toLocalFile()
    return None


class PromptEditor(QFrame):
    generate_requested = Signal(object)  # GenerationRequest
    queue_requested = Signal(object)  # GenerationRequest, for the queue
    cancel_requested = Signal()
    recent_requested = Signal()  # the menu is about to show: the main window fills it
    image_dropped = Signal(str)  # an image file's path: fill the editor from its parameters
    # The content was replaced as a whole (Remix, Use as prompt, a recent prompt, a dropped PNG):
    # the EditorState before, and what replaced it; the window makes it undoable (gui/undo.py).
    replaced = Signal(object, str)

    def __init__(self, gui: GuiSettings, defaults: GenerationDefaults, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.gui = gui
        self.defaults = defaults
        self._busy = False
        self._started = 0.0
        self._busy_text = ""
        self._loading = True  # restoring saved state: don't write it back while doing so

        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 14, 16, 14)
        outer.setSpacing(10)

        head = QHBoxLayout()
        title = QLabel("Prompt")
        title.setObjectName("heading")
        head.addWidget(title)
        head.addStretch(1)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Pick one of your recent prompts (Ctrl+E)")
        self.recent_button.setAccessibleName("Recent prompts")
        self.recent_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        icons.bind(self.recent_button, "history")
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self.recent_requested.emit)
        self.recent_button.setMenu(self.recent_menu)
        head.addWidget(self.recent_button)
        outer.addLayout(head)

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Describe the image you want to see…\n\n"
                                       "e.g. a red fox in fresh snow at dawn, soft light, 35 mm photo")
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setAccessibleDescription("What to generate. Ctrl+Enter generates.")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(72)  # four lines: the window still fits a 540 px (2×) screen
        self.prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        outer.addWidget(self.prompt, 1)
        self.counter = QLabel()
        self.counter.setObjectName("subtle")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight)
        outer.addWidget(self.counter)

        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(8)
        grid.setColumnStretch(1, 1)

        self.model = QComboBox()
        self.model.setAccessibleName("Model")
        for m in protocol.MODELS:
            self.model.addItem(protocol.MODEL_LABELS.get(m, m), m)
        self.aspect = QComboBox()
        self.aspect.setAccessibleName("Aspect ratio")
        for a in protocol.ASPECT_RATIOS:
            self.aspect.addItem(protocol.ASPECT_LABELS.get(a, a), a)
        for combo in (self.model, self.aspect):  # as wide as the longest choice: never a clipped label
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.setMinimumWidth(combo.sizeHint().width())
        self.count = QSpinBox()
        self.count.setRange(protocol.MIN_COUNT, protocol.MAX_COUNT)
        self.count.setAccessibleName("Number of images")
        self.count.setToolTip(f"How many images to generate ({protocol.MIN_COUNT}–{protocol.MAX_COUNT})")

        seed_row = QHBoxLayout()
        seed_row.setSpacing(4)
        self.seed = QSpinBox()
        self.seed.setRange(0, protocol.MAX_SEED)
        self.seed.setSpecialValueText("Random")
        self.seed.setAccessibleName("Seed")
        self.seed.setToolTip("Random: every image gets a new seed. Type a number, or press the dice, to use "
                             "that seed: the same seed and prompt give similar images.")
        self.seed_lock = QToolButton()
        self.seed_lock.setCheckable(True)
        self.seed_lock.setAccessibleName("Lock seed")
        self._syncing_seed = False  # the field and the lock follow each other (_seed_changed, _lock_changed)
        self._last_seed = 0  # the number the lock brings back
        self.new_seed = QToolButton()
        self.new_seed.setAccessibleName("New random seed")
        self.new_seed.setToolTip("Pick a new random seed")
        icons.bind(self.new_seed, "dice")
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_lock)
        seed_row.addWidget(self.new_seed)

        for row, (text, widget) in enumerate((("Model", self.model), ("Aspect ratio", self.aspect),
                                               ("Images", self.count))):
            label = QLabel(text)
            label.setObjectName("fieldLabel")
            label.setBuddy(widget)
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
        seed_label = QLabel("Seed")
        seed_label.setObjectName("fieldLabel")
        seed_label.setBuddy(self.seed)
        grid.addWidget(seed_label, 3, 0)
        grid.addLayout(seed_row, 3, 1)
        outer.addLayout(grid)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setAccessibleName("Generate")
        self.generate_button.setToolTip("Generate images from the prompt (Ctrl+Enter)")
        self.generate_button.setMinimumHeight(38)
        icons.bind(self.generate_button, "generate", "#ffffff")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel generation")
        self.cancel_button.setToolTip("Stop waiting for this generation (Esc)")
        self.cancel_button.setMinimumHeight(38)
        icons.bind(self.cancel_button, "cancel")
        self.cancel_button.hide()
        self.queue_button = QPushButton("Queue")
        self.queue_button.setAccessibleName("Add to queue")
        self.queue_button.setToolTip("Add this prompt to the queue with these options (Ctrl+Shift+Enter)")
        self.queue_button.setMinimumHeight(38)
        icons.bind(self.queue_button, "queue-add")
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.queue_button)
        outer.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(4)
        self.progress.setAccessibleName("Generation progress")
        self.progress.hide()
        outer.addWidget(self.progress)
        self.status = QLabel()
        self.status.setObjectName("subtle")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Generation status")
        outer.addWidget(self.status)

        self._tick = QTimer(self)
        self._tick.setInterval(250)
        self._tick.timeout.connect(self._update_status)

        self.prompt.textChanged.connect(self._prompt_changed)
        self.generate_button.clicked.connect(self.request_generate)
        self.queue_button.clicked.connect(self.request_queue)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.seed_lock.toggled.connect(self._lock_changed)
        self.seed.valueChanged.connect(self._seed_changed)
        self.new_seed.clicked.connect(self.randomize_seed)
        for w in (self.model, self.aspect):
            w.currentIndexChanged.connect(self._options_changed)
        for s in (self.count, self.seed):
            s.valueChanged.connect(self._options_changed)

        self.setTabOrder(self.prompt, self.model)
        self.setTabOrder(self.model, self.aspect)
        self.setTabOrder(self.aspect, self.count)
        self.setTabOrder(self.count, self.seed)
        self.setTabOrder(self.seed, self.seed_lock)
        self.setTabOrder(self.seed_lock, self.new_seed)
        self.setTabOrder(self.new_seed, self.generate_button)
        self.setTabOrder(self.generate_button, self.queue_button)
        # Image drops: on the prompt box (its viewport gets the drag events) and on the rest.
        self.setAcceptDrops(True)
        self.prompt.viewport().installEventFilter(self)
        self.prompt.installEventFilter(self)
        self._restore()

    # --- state ----------------------------------------------------------------------------

    def _restore(self) -> None:
        self._loading = True
        self.prompt.setPlainText(self.gui.get("editor/prompt"))
        self._select(self.model, self.gui.get("editor/model") or self.defaults.model)
        self._select(self.aspect, self.gui.get("editor/aspect_ratio") or self.defaults.aspect_ratio)
        self.count.setValue(self.gui.get("editor/count") or self.defaults.count)
        locked = bool(self.gui.get("editor/seed_locked"))
        self.seed.setValue(self.gui.get("editor/seed") if locked else self.defaults.seed)
        self.seed_lock.setChecked(self.seed.value() > 0)
        self._lock_changed(self.seed_lock.isChecked())
        self._loading = False
        self._prompt_changed()

    def apply_defaults(self, defaults: GenerationDefaults) -> None:
        """New defaults from Settings apply to the options at once (the prompt stays)."""
        self.defaults = defaults
        self._select(self.model, defaults.model)
        self._select(self.aspect, defaults.aspect_ratio)
        self.count.setValue(defaults.count)
        if not self.seed_lock.isChecked():
            self.seed.setValue(defaults.seed)

    @staticmethod
    def _select(combo: QComboBox, value: str) -> None:
        i = combo.findData(value)
        if i < 0 and value:
            combo.addItem(protocol.MODEL_LABELS.get(value, protocol.ASPECT_LABELS.get(value, value)), value)
            i = combo.count() - 1
        if i >= 0:
            combo.setCurrentIndex(i)

    def _prompt_changed(self) -> None:
        text = self.prompt.toPlainText()
        n = len(text)
        self.counter.setText(f"{n:,} / {MAX_PROMPT_CHARS:,}")
        self.generate_button.setEnabled(not self._busy and bool(text.strip()) and n <= MAX_PROMPT_CHARS)
        self.queue_button.setEnabled(bool(text.strip()) and n <= MAX_PROMPT_CHARS)
        if not self._loading:
            self.gui.set("editor/prompt", text)

    def _options_changed(self) -> None:
        if self._loading:
            return
        self.gui.set("editor/model", self.model.currentData())
        self.gui.set("editor/aspect_ratio", self.aspect.currentData())
        self.gui.set("editor/count", self.count.value())
        self.gui.set("editor/seed", self.seed.value())

    def _seed_changed(self, value: int) -> None:
        """A number in the field is the seed that is used, so the lock closes; Random opens it."""
        if self._syncing_seed:
            return
        self._syncing_seed = True
        try:
            self.seed_lock.setChecked(value > 0)
        finally:
            self._syncing_seed = False

    def _lock_changed(self, locked: bool) -> None:
        if not self._syncing_seed and not self._loading:
            self._syncing_seed = True
            try:  # unlocking goes back to Random; locking again brings the number back
                if locked and self.seed.value() == 0:
                    self.seed.setValue(self._last_seed or random.randint(1, protocol.MAX_SEED))
                elif not locked and self.seed.value() > 0:
                    self._last_seed = self.seed.value()
                    self.seed.setValue(0)
            finally:
                self._syncing_seed = False
        icons.bind(self.seed_lock, "lock" if locked else "unlock")
        self.seed_lock.setToolTip("This seed is used for every generation until you change it (Ctrl+L: random "
                                  "seeds)" if locked
                                  else "Random seeds: every image gets a new one (Ctrl+L: keep a seed)")
        if not self._loading:
            self.gui.set("editor/seed_locked", locked)

    def randomize_seed(self) -> None:
        self.seed.setValue(random.randint(1, protocol.MAX_SEED))

    # --- reading and filling ----------------------------------------------------------------

    def text(self) -> str:
        return self.prompt.toPlainText()

    def set_text(self, text: str) -> None:
        self.prompt.setPlainText(text)
        self.prompt.moveCursor(self.prompt.textCursor().MoveOperation.End)

    def request(self) -> GenerationRequest:
        self.seed.interpretText()  # a number still being typed counts
        seed = self.seed.value() or None  # what the field says is what is sent: a number, or Random
        return GenerationRequest(prompt=self.text(), count=self.count.value(),
                                 model=self.model.currentData() or self.defaults.model,
                                 aspect_ratio=self.aspect.currentData() or self.defaults.aspect_ratio, seed=seed)

    def request_generate(self) -> None:
        if self._busy:
            return
        if not self.text().strip():
            self.prompt.setFocus()
            self.show_status("Write a prompt first.")
            return
        self.generate_requested.emit(self.request())

    def request_queue(self) -> None:
        """Add to the queue: the same request as Generate would send (a locked seed included)."""
        if not self.text().strip():
            self.prompt.setFocus()
            self.show_status("Write a prompt first.")
            return
        self.queue_requested.emit(self.request())

    def state(self) -> EditorState:
        return EditorState(self.text(), self.model.currentData() or "", self.aspect.currentData() or "",
                           self.count.value(), self.seed.value(), self.seed_lock.isChecked())

    def set_state(self, state: EditorState) -> None:
        """Put back what :meth:`state` returned (Edit → Undo after a Remix)."""
        self.set_text(state.text)
        self._select(self.model, state.model)
        self._select(self.aspect, state.aspect_ratio)
        self.count.setValue(state.count)
        self.seed_lock.setChecked(state.seed_locked)
        self.seed.setValue(state.seed)

    def use_text(self, text: str, what: str) -> None:
        """Replace the prompt (``what`` names it for Edit → Undo, e.g. "Use caption as prompt")."""
        before = self.state()
        self.set_text(text)
        self.replaced.emit(before, what)

    def apply_parameters(self, params: ImageParameters, name: str) -> None:
        """Prompt, seed (locked), model and aspect ratio read from a dropped image."""
        before = self.state()
        self.set_text(params.prompt)
        filled = ["prompt"]
        if params.seed:
            self.seed.setValue(params.seed)
            self.seed_lock.setChecked(True)
            filled.append(f"seed {params.seed} (locked)")
        if params.model:
            self._select(self.model, params.model)
            filled.append(self.model.currentText())
        if params.aspect_ratio:
            self._select(self.aspect, params.aspect_ratio)
            filled.append(self.aspect.currentText())
        self.prompt.setFocus()
        self.show_status(f"From {name}: {', '.join(filled)}.")
        self.replaced.emit(before, f"Prompt from {name}")

    # --- drops --------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.prompt and event.type() == QEvent.Type.ShortcutOverride:
            # Ctrl+Z in the prompt undoes typing first; with no typing left to undo (a Remix
            # replaced the text and cleared the box's own history), it reaches Edit → Undo.
            doc = self.prompt.document()
            if isinstance(event, QKeyEvent) and (
                    (event.matches(QKeySequence.StandardKey.Undo) and not doc.isUndoAvailable())
                    or (_is_redo(event) and not doc.isRedoAvailable())):
                event.ignore()
                return True
        if watched is self.prompt.viewport() and event.type() in (
                QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            if dropped_image(event.mimeData()) is not None:  # type: ignore[attr-defined]
                self._image_drag(event)  # type: ignore[arg-type]
                return True  # not the text box's own drop (it would paste the file's path)
        return super().eventFilter(watched, event)

    def _image_drag(self, event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> None:
        path = dropped_image(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if isinstance(event, QDropEvent) and not isinstance(event, QDragMoveEvent):
            self.image_dropped.emit(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self._image_drag(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._image_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self._image_drag(event)

    def remix(self, record: ImageRecord) -> None:
        """Prompt, seed (locked), model and aspect ratio of an image back into the editor."""
        before = self.state()
        self.set_text(record.prompt)
        if record.model:
            self._select(self.model, record.model)
        if record.aspect_ratio:
            self._select(self.aspect, record.aspect_ratio)
        if record.seed:
            self.seed.setValue(record.seed)
            self.seed_lock.setChecked(True)
        self.prompt.setFocus()
        self.show_status("Remixing: prompt, seed, model and aspect ratio come from the selected image.")
        self.replaced.emit(before, "Remix")

    def generated(self, seeds: list[int]) -> None:
        """After a generation: the seeds it used are remembered (the status line shows them); the field
        keeps what the user set, a number or Random."""
        self.last_seeds = list(seeds)

    last_seeds: list[int] = []

    def set_recent(self, prompts: list[str]) -> None:
        self.recent_menu.clear()
        if not prompts:
            a = self.recent_menu.addAction("No prompts yet")
            a.setEnabled(False)
            return
        fm = QFontMetrics(self.recent_menu.font())
        for p in prompts:
            one_line = " ".join(p.split())
            a = self.recent_menu.addAction(fm.elidedText(one_line, Qt.TextElideMode.ElideRight, 420))
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, text=p: self._pick_recent(text))

    def _pick_recent(self, text: str) -> None:
        self.use_text(text, "Recent prompt")
        self.prompt.setFocus()

    # --- progress -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        had_focus = self.generate_button.hasFocus() or self.cancel_button.hasFocus()
        self.generate_button.setVisible(not busy)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        self._prompt_changed()
        if had_focus:  # keep the keyboard on the button that replaced the one just pressed
            (self.cancel_button if busy else self.generate_button).setFocus()
        if busy:
            self._started = time.monotonic()
            self._busy_text = text
            self._update_status()
            self._tick.start()
        else:
            self._tick.stop()
            self.status.setText(text)

    def set_waiting(self, on: bool) -> None:
        """A wait (rate limit, retry) counts down in the status line instead of the elapsed time."""
        if on:
            self._tick.stop()
        elif self._busy and not self._tick.isActive():
            self._tick.start()
            self._update_status()

    def _update_status(self) -> None:
        self.status.setText(f"{self._busy_text} {int(time.monotonic() - self._started)} s")

    def show_status(self, text: str) -> None:
        if not self._busy:
            self.status.setText(text)
