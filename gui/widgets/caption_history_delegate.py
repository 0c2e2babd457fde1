"""Paints a past caption: the text (up to three lines) and, muted, the file and the date."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from gui import theme
from gui.models.caption_history_model import CaptionRole, MetaRole

PAD = 8
MAX_LINES = 3

_Index = QModelIndex | QPersistentModelIndex


class CaptionHistoryDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        fm = QFontMetrics(option.font)  # type: ignore[attr-defined]
        # The width the row is painted at: the list's (a list view asks for sizes with an empty rect).
        view = option.widget  # type: ignore[attr-defined]
        viewport = 0
        if view is not None and hasattr(view, "viewport"):
            # less the scrollbar, which may only appear once the rows are laid out
            viewport = view.viewport().width() - (0 if view.verticalScrollBar().isVisible()
                                                   else view.verticalScrollBar().sizeHint().width())
        width = max(120, option.rect.width() or viewport or 320)  # type: ignore[attr-defined]
        rec = index.data(CaptionRole)
        text = rec.caption if rec is not None else ""
        bound = fm.boundingRect(QRect(0, 0, width - 2 * PAD, 10_000), Qt.TextFlag.TextWordWrap, text)
        lines = min(MAX_LINES, max(1, round(bound.height() / fm.lineSpacing())))
        return QSize(width, PAD * 2 + lines * fm.lineSpacing() + 4 + fm.lineSpacing())

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        c = theme.colors()
        r = QRect(option.rect)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        if selected:
            bg = QColor(c.accent)
            bg.setAlpha(45)
            painter.fillRect(r, bg)
        fm = QFontMetrics(option.font)  # type: ignore[attr-defined]
        rec = index.data(CaptionRole)
        text = rec.caption if rec is not None else ""
        inner = r.adjusted(PAD, PAD, -PAD, -PAD)
        text_h = inner.height() - fm.lineSpacing() - 4
        painter.setPen(QColor(c.text))
        painter.setFont(option.font)  # type: ignore[attr-defined]
        lines = max(1, text_h // fm.lineSpacing())
        elided = _elide_lines(fm, text, inner.width(), lines)
        # already broken into lines that fit: wrapping again could add one over the file and date
        painter.drawText(QRect(inner.left(), inner.top(), inner.width(), text_h), Qt.AlignmentFlag.AlignTop, elided)
        painter.setPen(QColor(c.muted))
        painter.drawText(QRect(inner.left(), inner.bottom() - fm.lineSpacing(), inner.width(), fm.lineSpacing()),
                         Qt.AlignmentFlag.AlignLeft, fm.elidedText(index.data(MetaRole) or "",
                                                                   Qt.TextElideMode.ElideMiddle, inner.width()))
        painter.setPen(QPen(QColor(c.border), 1))
        painter.drawLine(r.left() + PAD, r.bottom(), r.right() - PAD, r.bottom())
        painter.restore()


def _elide_lines(fm: QFontMetrics, text: str, width: int, lines: int) -> str:
    """Word-wrapped text cut to ``lines`` lines, the last one ending in an ellipsis if cut."""
    words = text.split()
    out: list[str] = []
    current = ""
    for i, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if fm.horizontalAdvance(trial) <= width or not current:
            current = trial
            continue
        out.append(current)
        current = word
        if len(out) == lines - 1:
            rest = " ".join([current, *words[i + 1:]])
            out.append(fm.elidedText(rest, Qt.TextElideMode.ElideRight, width))
            return "\n".join(out)
    out.append(current)
    return "\n".join(out)
