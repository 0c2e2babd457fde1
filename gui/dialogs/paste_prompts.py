"""Add a pasted list of prompts to the queue: one per line, blank lines and # comments skipped.

The count under the box uses the core's own line rule (``parse_prompt_lines``), so what it
says is what gets added. A line the core refuses ("Line 7: …") is shown here, with the
text kept, instead of in the window's message bar: the user fixes it and adds again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from core.service.queue import parse_prompt_lines
from core.store import QueueItem
from gui import icons
from gui.errors import view_for

Submit = Callable[[str, Callable[[list[QueueItem]], None], Callable[[BaseException], None]], None]


class PastePromptsDialog(QDialog):
    added = Signal(int)  # how many prompts were added

    def __init__(self, submit: Submit, options_text: str, parent: QWidget | None = None) -> None:
        """``submit(text, done, fail)`` adds the text to the queue (QueueRunner.add_text)."""
        super().__init__(parent)
        self._submit = submit
        self.setWindowTitle("Add prompts to the queue")
        self.setModal(False)
        self.setAccessibleName("Add pasted prompts")
        self.resize(560, 420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        title = QLabel("Paste a list of prompts")
        title.setObjectName("heading")
        layout.addWidget(title)
        hint = QLabel("One prompt per line. Blank lines and lines starting with # are skipped.")
        hint.setObjectName("subtle")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Prompts, one per line")
        self.text.setPlaceholderText("a lighthouse at dusk\na red fox in fresh snow\n# a comment\n"
                                     "a bowl of ramen, top-down photo")
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.text, 1)
        self.count = QLabel()
        self.count.setObjectName("subtle")
        self.count.setAccessibleName("Number of prompts")
        layout.addWidget(self.count)
        self.options = QLabel()
        self.options.setObjectName("subtle")
        self.options.setWordWrap(True)
        layout.addWidget(self.options)
        self.error = QLabel()
        self.error.setObjectName("captionReject")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Problem with the list")
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.add_button = QPushButton("Add to queue")
        self.add_button.setObjectName("primary")
        self.add_button.setAccessibleName("Add the prompts to the queue")
        self.add_button.setDefault(True)
        icons.bind(self.add_button, "queue-add", "#ffffff")
        self.add_button.clicked.connect(self.submit)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.add_button)
        layout.addLayout(buttons)
        self.text.textChanged.connect(self._changed)
        self.set_options_text(options_text)
        self._changed()

    def set_options_text(self, text: str) -> None:
        """What each prompt will ask for: the editor's options when the dialog is shown."""
        self.options.setText(f"Each with the editor's options: {text}.")

    def _changed(self) -> None:
        n = len(parse_prompt_lines(self.text.toPlainText()))
        self.count.setText("No prompts yet" if n == 0 else f"{n} prompt{'s' if n != 1 else ''}")
        self.add_button.setEnabled(n > 0)
        self.error.hide()

    def submit(self) -> None:
        text = self.text.toPlainText()
        if not parse_prompt_lines(text):
            return
        self.add_button.setEnabled(False)
        self._submit(text, self._done, self._failed)

    def _done(self, items: list[QueueItem]) -> None:
        self.added.emit(len(items))
        self.text.clear()
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.add_button.setEnabled(True)
        self.error.setText(view_for(exc).text)
        self.error.show()
        self.text.setFocus(Qt.FocusReason.OtherFocusReason)
