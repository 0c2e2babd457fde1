"""Paints one gallery cell: the thumbnail cropped to a rounded square, a star, the selection.

Every cell has the same size (``sizeHint`` is constant and the view sets
``setUniformItemSizes(True)``), so the view never asks thousands of rows for their size.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gui import icons, theme
from gui.models.gallery_model import FavoriteRole, ThumbnailRole

MARGIN = 4
RADIUS = 8.0


class GalleryDelegate(QStyledItemDelegate):
    def __init__(self, cell: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cell = cell

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self.cell, self.cell)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        c = theme.colors()
        rect = QRect(option.rect).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)  # type: ignore[attr-defined]
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hover = bool(state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect), RADIUS, RADIUS)
        painter.fillPath(path, QColor(c.cell))
        pm = index.data(ThumbnailRole)
        if isinstance(pm, QPixmap) and not pm.isNull():
            painter.setClipPath(path)
            painter.drawPixmap(QRectF(rect), pm, _cover(pm, rect))
            painter.setClipping(False)
        else:
            ic = icons.icon("image", c.muted)
            ic.paint(painter, rect.adjusted(rect.width() // 3, rect.height() // 3,
                                            -rect.width() // 3, -rect.height() // 3))
        if index.data(FavoriteRole):
            star = QRect(rect.right() - 26, rect.top() + 6, 20, 20)
            bg = QPainterPath()
            bg.addEllipse(QRectF(star).adjusted(-3, -3, 3, 3))
            painter.fillPath(bg, QColor(0, 0, 0, 110))
            icons.icon("star-filled").paint(painter, star)
        if selected:
            painter.setPen(QPen(QColor(c.accent), 3))
            painter.drawPath(path)
            overlay = QColor(c.accent)
            overlay.setAlpha(40)
            painter.fillPath(path, overlay)
        elif hover:
            painter.setPen(QPen(QColor(c.muted), 1.5))
            painter.drawPath(path)
        painter.restore()


def _cover(pm: QPixmap, target: QRect) -> QRectF:
    """The part of ``pm`` that fills ``target`` without distortion (centre crop)."""
    pw, ph = pm.width(), pm.height()
    tw, th = max(1, target.width()), max(1, target.height())
    scale = max(tw / pw, th / ph)
    w, h = tw / scale, th / scale
    return QRectF((pw - w) / 2, (ph - h) / 2, w, h)
