"""Paints one queue row: grip, state icon, prompt, a detail line, and a state pill.

Painted rather than built from widgets so a queue of thousands scrolls like a list of ten.
The colours come from the theme, so failed rows read as failed in light and dark alike.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from core.store import QueueItem
from gui import icons, theme
from gui.models.queue_model import STATE_LABELS, ItemRole, detail_text

ROW_HEIGHT = 56
STATE_ICONS = {"pending": "clock", "running": "running", "done": "done", "failed": "error", "cancelled": "cancelled"}


def state_colors(state: str) -> tuple[str, str, str]:
    """(icon colour, pill background, pill text) for a state, from the current theme."""
    c = theme.colors()
    return {
        "pending": (c.muted, c.alt_base, c.muted),
        "running": (c.accent, c.info_bg, c.info_fg),
        "done": (c.ok_fg, c.ok_bg, c.ok_fg),
        "failed": (c.error_fg, c.error_bg, c.error_fg),
        "cancelled": (c.muted, c.alt_base, c.muted),
    }.get(state, (c.muted, c.alt_base, c.muted))


class QueueDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(max(200, option.rect.width()), ROW_HEIGHT)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        item: QueueItem | None = index.data(ItemRole)
        if item is None:
            return
        c = theme.colors()
        r = option.rect  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(state & QStyle.StateFlag.State_Selected)
        if selected:
            bg = QColor(c.accent)
            bg.setAlpha(40)
            p.fillRect(r, bg)
        elif state & QStyle.StateFlag.State_MouseOver:
            p.fillRect(r, QColor(c.alt_base))
        elif item.state == "running":
            bg = QColor(c.info_bg)
            bg.setAlpha(120)
            p.fillRect(r, bg)
        if item.state == "running":
            p.fillRect(QRect(r.left(), r.top(), 3, r.height()), QColor(c.accent))
        p.setPen(QColor(c.border))
        p.drawLine(r.left() + 12, r.bottom(), r.right() - 12, r.bottom())

        icon_color, pill_bg, pill_fg = state_colors(item.state)
        if item.state != "running":  # the grip says "drag me"; a running item stays put
            dot = QColor(c.muted)
            dot.setAlpha(140)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(dot)
            cy = r.center().y()
            for dx in (0, 4):
                for dy in (-4, 0, 4):
                    p.drawEllipse(QRectF(r.left() + 10 + dx, cy + dy - 1, 2.2, 2.2))
        icon_rect = QRect(r.left() + 24, r.center().y() - 10, 20, 20)
        icons.icon(STATE_ICONS.get(item.state, "clock"), icon_color).paint(p, icon_rect)

        label = STATE_LABELS.get(item.state, item.state)
        small = QFont(option.font)  # type: ignore[attr-defined]
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.88))
        fm_small = QFontMetrics(small)
        pill_w = fm_small.horizontalAdvance(label) + 18
        pill = QRect(r.right() - 12 - pill_w, r.center().y() - 10, pill_w, 20)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(pill_bg))
        p.drawRoundedRect(pill, 10, 10)
        p.setFont(small)
        p.setPen(QColor(pill_fg))
        p.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)

        text_left = icon_rect.right() + 12
        text_w = max(40, pill.left() - 12 - text_left)
        title = QFont(option.font)  # type: ignore[attr-defined]
        if item.state == "running":
            title.setBold(True)
        fm = QFontMetrics(title)
        line1 = fm.elidedText(" ".join(item.prompt.split()), Qt.TextElideMode.ElideRight, text_w)
        p.setFont(title)
        p.setPen(QColor(c.muted if item.state == "cancelled" else c.text))
        top = r.top() + (r.height() - fm.height() - fm_small.height() - 3) // 2
        p.drawText(QRect(text_left, top, text_w, fm.height()), Qt.AlignmentFlag.AlignVCenter, line1)
        line2 = fm_small.elidedText(" ".join(detail_text(item).split()), Qt.TextElideMode.ElideRight, text_w)
        p.setFont(small)
        p.setPen(QColor(c.error_fg if item.state == "failed" else c.muted))
        p.drawText(QRect(text_left, top + fm.height() + 3, text_w, fm_small.height()),
                   Qt.AlignmentFlag.AlignVCenter, line2)
        p.restore()
