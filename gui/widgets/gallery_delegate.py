"""Paints one gallery cell: the thumbnail cropped to a rounded square (or whole, in fit mode), a star,
the selection.

Every cell has the same size (``sizeHint`` is constant and the view sets
``setUniformItemSizes(True)``), so the view never asks thousands of rows for their size.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from gui import icons, theme
from gui.models.gallery_model import (
    CELL_MARGIN,
    CELL_RADIUS,
    IMAGE,
    PENDING,
    FavoriteRole,
    GalleryModel,
    ThumbnailRole,
)

MARGIN = CELL_MARGIN
RADIUS = CELL_RADIUS


class GalleryDelegate(QStyledItemDelegate):
    def __init__(self, cell: int, parent: QWidget | None = None, model: GalleryModel | None = None) -> None:
        super().__init__(parent)
        self.cell = cell
        self.gallery_model = model

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self.cell, self.cell)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        # Runs for every visible cell on every frame while scrolling: read the record straight
        # from the gallery model (no data() round trips through C++), and draw a ready thumbnail
        # (made to the cell's size and rounded on the worker) with one blit.
        model = self.gallery_model
        if model is not None:
            pm, favorite, kind = model.cell(index.row())
        else:
            pm = index.data(ThumbnailRole)
            favorite, kind = bool(index.data(FavoriteRole)), IMAGE
        cell_rect = QRect(option.rect)  # type: ignore[attr-defined]
        rect = cell_rect.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        if model is not None and kind == IMAGE and cell_rect.left() > 0 and model.starts_generation(index.row()):
            _paint_divider(painter, cell_rect)
        if kind != IMAGE:
            self._paint_placeholder(painter, rect, kind)
            return
        state = option.state  # type: ignore[attr-defined]
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hover = bool(state & QStyle.StateFlag.State_MouseOver)
        if isinstance(pm, QPixmap) and not favorite and not selected and not hover \
                and pm.deviceIndependentSize().toSize() == rect.size():
            painter.drawPixmap(rect.topLeft(), pm)
            return
        c = theme.colors()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect), RADIUS, RADIUS)
        if isinstance(pm, QPixmap) and not pm.isNull() and pm.deviceIndependentSize().toSize() == rect.size():
            painter.drawPixmap(rect.topLeft(), pm)  # made to fit: cropped and rounded on the worker
        elif isinstance(pm, QPixmap) and not pm.isNull():
            painter.fillPath(path, QColor(c.cell))
            painter.setClipPath(path)
            if model is not None and model.fit:  # whole, centred: its aspect ratio shows
                painter.drawPixmap(_contain(pm, rect), pm, QRectF(pm.rect()))
            else:
                painter.drawPixmap(QRectF(rect), pm, _cover(pm, rect))
            painter.setClipping(False)
        else:
            painter.fillPath(path, QColor(c.cell))
            ic = icons.icon("image", c.muted)
            ic.paint(painter, rect.adjusted(rect.width() // 3, rect.height() // 3,
                                            -rect.width() // 3, -rect.height() // 3))
        if favorite:
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


    def _paint_placeholder(self, painter: QPainter, rect: QRect, kind: int) -> None:
        """A row not loaded yet: a plain tile (its page is on its way, usually within a frame). An image
        being generated: a tile with a light sweeping across it and "Generating…"."""
        c = theme.colors()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(QRectF(rect), RADIUS, RADIUS)
        painter.fillPath(path, QColor(c.cell))
        if kind == PENDING:
            phase = (time.monotonic() % 1.6) / 1.6  # one sweep every 1.6 s (the view repaints these cells)
            x = rect.left() + (rect.width() * 2) * phase - rect.width() // 2
            grad = QLinearGradient(QPointF(x - rect.width() / 2, 0), QPointF(x + rect.width() / 2, 0))
            light = QColor(c.accent)
            light.setAlpha(0)
            grad.setColorAt(0.0, light)
            light.setAlpha(60)
            grad.setColorAt(0.5, light)
            light.setAlpha(0)
            grad.setColorAt(1.0, light)
            painter.fillPath(path, grad)
            painter.setPen(QPen(QColor(c.accent), 1.5, Qt.PenStyle.DashLine))
            painter.drawPath(path)
            mid = rect.center()
            icons.icon("generate", c.muted).paint(painter, QRect(mid.x() - 14, mid.y() - 24, 28, 28))
            painter.setPen(QColor(c.muted))
            painter.drawText(QRect(rect.left(), rect.center().y() + 8, rect.width(), 24),
                             int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop), "Generating…")
        painter.restore()


def _cover(pm: QPixmap, target: QRect) -> QRectF:
    """The part of ``pm`` that fills ``target`` without distortion (centre crop)."""
    pw, ph = pm.width(), pm.height()
    tw, th = max(1, target.width()), max(1, target.height())
    scale = max(tw / pw, th / ph)
    w, h = tw / scale, th / scale
    return QRectF((pw - w) / 2, (ph - h) / 2, w, h)


def _contain(pm: QPixmap, target: QRect) -> QRectF:
    """Where ``pm`` goes in ``target`` whole and undistorted (centred, letterboxed)."""
    pw, ph = max(1, pm.width()), max(1, pm.height())
    scale = min(target.width() / pw, target.height() / ph)
    w, h = pw * scale, ph * scale
    return QRectF(target.left() + (target.width() - w) / 2, target.top() + (target.height() - h) / 2, w, h)


def _paint_divider(painter: QPainter, cell: QRect) -> None:
    """A faint rule in the gap before a cell whose image another generation made (not at a row's start:
    the row break already separates)."""
    c = QColor(theme.colors().muted)
    c.setAlpha(110)
    x = cell.left() + 1
    painter.fillRect(QRect(x, cell.top() + MARGIN + cell.height() // 5, 2, cell.height() * 3 // 5 - 2 * MARGIN), c)
