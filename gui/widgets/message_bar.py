"""A non-modal bar above the content: one sentence, up to two buttons, a close button.

Errors never open a dialog (a dialog would take the focus away from the prompt the
user is editing); they appear here with the action that helps ("Sign in again",
"Retry"). The database banner is a second instance that stays until the database is back.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QWidget

from gui import icons

_ICONS = {"info": "info", "success": "info", "warning": "warning", "error": "error"}


class MessageBar(QFrame):
    closed = Signal()

    def __init__(self, name: str = "Messages", *, closable: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setProperty("kind", "info")
        self.setAccessibleName(name)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.setSpacing(8)
        self.icon = QLabel()
        self.icon.setFixedSize(20, 20)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAccessibleName(f"{name} text")
        layout.addWidget(self.label, 1)
        self.buttons: list[QPushButton] = []
        self._button_box = QHBoxLayout()
        self._button_box.setSpacing(6)
        layout.addLayout(self._button_box)
        self.close_button = QToolButton()
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss message")
        icons.bind(self.close_button, "close")
        self.close_button.clicked.connect(self.dismiss)
        self.close_button.setVisible(closable)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.hide()

    def show_message(self, text: str, kind: str = "info",
                     actions: list[tuple[str, Callable[[], None]]] | None = None,
                     timeout_ms: int = 0) -> None:
        """Replace what the bar shows. ``timeout_ms`` > 0 hides it after that long."""
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        for w in (self.label, self.icon):
            w.style().unpolish(w)
            w.style().polish(w)
        self.icon.setPixmap(icons.icon(_ICONS.get(kind, "info")).pixmap(20, 20))
        self.label.setText(text)
        for b in self.buttons:
            self._button_box.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        for label, callback in actions or []:
            b = QPushButton(label)
            b.setAccessibleName(label)
            b.clicked.connect(callback)
            self._button_box.addWidget(b)
            self.buttons.append(b)
        self._timer.stop()
        if timeout_ms > 0:
            self._timer.start(timeout_ms)
        self.show()

    @property
    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    @property
    def kind(self) -> str:
        return str(self.property("kind"))

    def button(self, label: str) -> QPushButton | None:
        return next((b for b in self.buttons if b.text() == label), None)

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
        self.closed.emit()
