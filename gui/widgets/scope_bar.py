"""The strip above the gallery while it shows one board: which board, and the way back to all images.

A strip of its own (like the Trash's, gui/widgets/trash_bar.py) rather than a chip in the search
bar: a board's name can be long, and the bar must keep its width in a 900 px window."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from gui import icons


class ScopeBar(QFrame):
    closed = Signal()  # "All images": back to the whole library

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")  # styled like the message bars (gui/theme.py)
        self.setProperty("kind", "info")
        self.setAccessibleName("Board shown")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 4, 8, 4)
        layout.setSpacing(8)
        self.icon = QLabel()
        self.icon.setFixedSize(20, 20)
        self.icon.setPixmap(icons.icon("board").pixmap(20, 20))
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignVCenter)
        self.label = QLabel()
        self.label.setMinimumWidth(60)  # one line, the name elided to fit (resizeEvent); the tooltip has it all
        self.label.setAccessibleName("Board")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.close_button = QPushButton("All images")
        self.close_button.setAccessibleName("Show all images")
        self.close_button.setToolTip("Leave the board and show every image again")
        icons.bind(self.close_button, "close")
        self.close_button.clicked.connect(self.closed)
        layout.addWidget(self.close_button)
        self.hide()

        self._text = ""

    def show_board(self, name: str) -> None:
        self._text = f"Board “{name}”"
        hint = "Drag thumbnails onto a board in the list to add them; Remove from board (context menu) takes them off."
        self.setToolTip(f"{self._text}. {hint}")
        self.label.setAccessibleDescription(hint)
        self.show()
        self._elide()

    def text(self) -> str:
        """The whole sentence (the label may show it elided)."""
        return self._text

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.label.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideMiddle,
                                                   max(40, self.label.width()))
        if shown != self.label.text():
            self.label.setText(shown)
