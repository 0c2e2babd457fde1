"""A list view that, while it has no rows, says why and what to do: icon, title, text, centred.

The gallery and the queue both draw their empty state this way, at slightly different sizes;
one painter serves both so they cannot drift apart. Painted rather than built from widgets:
the message sits on the view's own viewport and costs nothing once there are rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QListView, QWidget

from gui import icons, theme

_ICON_GAP = 12  # px between the icon and the title
_TEXT_GAP = 8  # px between the title and the text


@dataclass(frozen=True)
class EmptyLook:
    """The empty state's proportions: the icon, its size, how much larger the title is, the text width."""

    icon: str
    icon_size: int
    title_scale: float
    min_width: int
    max_width: int


class EmptyStateListView(QListView):
    """``QListView`` that paints :attr:`empty_title` and :attr:`empty_text` when its model has no rows.

    Subclasses set :attr:`empty_look`; nothing is drawn while the title is empty.
    """

    empty_look: ClassVar[EmptyLook]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_title = ""
        self.empty_text = ""

    def set_empty_message(self, title: str, text: str) -> None:
        self.empty_title, self.empty_text = title, text
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is None or model.rowCount() > 0 or not self.empty_title:
            return
        look = self.empty_look
        c = theme.colors()
        p = QPainter(self.viewport())
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.viewport().rect()
        width = max(look.min_width, min(look.max_width, r.width() - 40))
        title_font = p.font()
        title_font.setPointSizeF(title_font.pointSizeF() * look.title_scale)
        title_font.setBold(True)
        flags = Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap
        title_h = QFontMetrics(title_font).boundingRect(QRect(0, 0, width, 1000), flags, self.empty_title).height()
        text_h = p.fontMetrics().boundingRect(QRect(0, 0, width, 1000), flags, self.empty_text).height()
        title_top = look.icon_size + _ICON_GAP
        box = QRect(0, 0, width, title_top + title_h + _TEXT_GAP + text_h)
        box.moveCenter(r.center())
        icons.icon(look.icon, c.muted).paint(
            p, QRect(box.center().x() - look.icon_size // 2, box.top(), look.icon_size, look.icon_size))
        body_font = p.font()
        p.setFont(title_font)
        p.setPen(QColor(c.text))
        p.drawText(QRect(box.left(), box.top() + title_top, width, title_h), flags, self.empty_title)
        p.setFont(body_font)
        p.setPen(QColor(c.muted))
        p.drawText(QRect(box.left(), box.top() + title_top + title_h + _TEXT_GAP, width, text_h), flags,
                   self.empty_text)
        p.end()
