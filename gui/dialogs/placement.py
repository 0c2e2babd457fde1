"""Where windows open and how big: whole, inside the screen, centred (issue 11 §6).

- :func:`present` shows a dialog centred over the main window, never larger than its screen's
  free area and never partly off it; the first time only (afterwards it stays where the user put it).
- :func:`keep_fitted` keeps a dialog tall enough for its word-wrapped text at its current width.
  Qt gives a top-level window the minimum size of its layout, which leaves out height-for-width:
  a result line that wraps to three lines (a sign-in result, a failed connection test) was cut
  off, or squeezed the fields above it.
- :func:`default_geometry` is the main window's first size: its usual size, shrunk to fit the
  screen it opens on (1380 px was wider than a 1280×1024 screen), centred there.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QScreen
from PySide6.QtWidgets import QWidget

SCREEN_SHARE = 0.9  # at most this much of the screen's free area, each way


def _screen_of(w: QWidget) -> QScreen | None:
    parent = w.parentWidget()
    return (parent.window().screen() if parent is not None else None) or w.screen()


def fit_into(rect: QRect, area: QRect) -> QRect:
    """``rect`` moved (and shrunk if need be) to lie inside ``area``."""
    r = QRect(rect)
    r.setWidth(min(r.width(), area.width()))
    r.setHeight(min(r.height(), area.height()))
    r.moveLeft(max(area.left(), min(r.left(), area.right() - r.width() + 1)))
    r.moveTop(max(area.top(), min(r.top(), area.bottom() - r.height() + 1)))
    return r


def default_geometry(screen: QScreen | None, usual: QSize, minimum: QSize = QSize(0, 0)) -> QRect:
    """The usual size, at most :data:`SCREEN_SHARE` of the screen's free area (but not below
    ``minimum``, and never beyond the screen), centred on it."""
    if screen is None:
        return QRect(0, 0, usual.width(), usual.height())
    avail = screen.availableGeometry()
    size = QSize(min(usual.width(), int(avail.width() * SCREEN_SHARE)),
                 min(usual.height(), int(avail.height() * SCREEN_SHARE)))
    size = size.expandedTo(minimum).boundedTo(avail.size())
    rect = QRect(0, 0, size.width(), size.height())
    rect.moveCenter(avail.center())
    return rect


class _Fit(QObject):
    """Event filter: after a layout change or a resize, make room for wrapped text."""

    def __init__(self, target: QWidget) -> None:
        super().__init__(target)
        self.target = target
        self._queued = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.target and event.type() in (QEvent.Type.LayoutRequest, QEvent.Type.Resize,
                                                   QEvent.Type.Show) and not self._queued:
            self._queued = True
            QTimer.singleShot(0, self, self.fit)
        return False

    def fit(self) -> None:
        self._queued = False
        fit_height(self.target)


def fit_height(w: QWidget) -> None:
    """Grow ``w`` (within its screen) to the height its layout needs at its width."""
    lay = w.layout()
    if lay is None or not lay.hasHeightForWidth():
        return
    need = lay.totalHeightForWidth(w.width())
    screen = _screen_of(w)
    if screen is not None:
        frame = w.frameGeometry().height() - w.height()
        need = min(need, screen.availableGeometry().height() - max(0, frame))
    if need > 0 and w.minimumHeight() != need:
        w.setMinimumHeight(need)
    if w.height() < need:
        w.resize(w.width(), need)
        if screen is not None and w.isVisible():
            w.setGeometry(fit_into(w.geometry(), screen.availableGeometry()))


def keep_fitted(w: QWidget) -> None:
    """Keep ``w`` tall enough for its wrapped text from now on (once per widget)."""
    if w.findChild(_Fit) is None:
        w.installEventFilter(_Fit(w))


def present(dlg: QWidget) -> None:
    """Show ``dlg`` raised and active; the first time, sized to its content within the screen and
    centred over its parent window (on that window's screen)."""
    keep_fitted(dlg)
    if not dlg.property("imagefx_placed"):
        dlg.setProperty("imagefx_placed", True)
        # the size it was given (if it was), or what its content needs
        asked = dlg.size() if dlg.testAttribute(Qt.WidgetAttribute.WA_Resized) else QSize(0, 0)
        dlg.resize(asked.expandedTo(dlg.sizeHint()))
        fit_height(dlg)
        screen = _screen_of(dlg)
        if screen is not None:
            avail = screen.availableGeometry()
            size = dlg.size().boundedTo(QSize(int(avail.width() * SCREEN_SHARE), int(avail.height() * SCREEN_SHARE)))
            size = size.expandedTo(dlg.minimumSize()).boundedTo(avail.size())
            parent = dlg.parentWidget()
            over = parent.window().frameGeometry() if parent is not None else avail
            rect = QRect(0, 0, size.width(), size.height())
            rect.moveCenter(over.center())
            rect = fit_into(rect, avail)
            dlg.resize(rect.size())
            dlg.move(rect.topLeft())
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
