"""The strip above the gallery while it shows the Trash: what happens to images there, and the
two things to do with all of them (Restore all, Empty Trash…)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from gui import icons


class TrashBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")  # styled like the message bars (gui/theme.py)
        self.setProperty("kind", "warning")
        self.setAccessibleName("Trash")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        layout.setSpacing(8)
        icon = QLabel()
        icon.setFixedSize(20, 20)
        icon.setPixmap(icons.icon("delete").pixmap(20, 20))
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignVCenter)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Trash rule")
        layout.addWidget(self.label, 1)
        self.restore_all = QPushButton("Restore all")
        self.restore_all.setAccessibleName("Restore everything in the Trash")
        icons.bind(self.restore_all, "restore")
        self.empty = QPushButton("Empty Trash…")
        self.empty.setAccessibleName("Empty the Trash")
        icons.bind(self.empty, "delete")
        for b in (self.restore_all, self.empty):
            layout.addWidget(b)
        self.hide()

    def set_rule(self, text: str) -> None:
        self.label.setText(text)

    def set_count(self, n: int) -> None:
        """Buttons only when there is something to act on (-1: not counted yet)."""
        for b in (self.restore_all, self.empty):
            b.setEnabled(n != 0)
