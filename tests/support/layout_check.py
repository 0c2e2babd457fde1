"""What a user would call a broken layout, measured: text that does not fit its widget, widgets on
top of each other, widgets cut off by their parent (issue 11 §6).

- A label's text (each line, in its font) must fit its contents width; a word-wrapped or rich-text
  label must be tall enough for its text at its width (``heightForWidth``).
- A button's text and icon must fit the room its style gives them; a combo box's current text
  its edit field; a tab's title its tab.
- Visible siblings must not overlap, and a child a layout manages must lie inside its parent.

Only visible widgets of one window are looked at; stacked pages that are hidden, scroll-area
plumbing and splitter handles are not "overlapping". A problem is a sentence naming the widget
(class, object/accessible name, text) so a failing test says what to fix.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QScrollBar,
    QSplitter,
    QSplitterHandle,
    QStackedWidget,
    QStyle,
    QStyleOptionButton,
    QStyleOptionComboBox,
    QTabBar,
    QTextEdit,
    QToolBar,
    QToolButton,
    QWidget,
)

SLACK = 1  # px of rounding allowed


def describe(w: QWidget) -> str:
    name = w.objectName() or w.accessibleName()
    text = ""
    if isinstance(w, (QLabel, QAbstractButton)):
        text = w.text().replace("&", "")
    elif isinstance(w, QComboBox):
        text = w.currentText()
    elif isinstance(w, QTextEdit):
        text = w.toPlainText()
    bits = [type(w).__name__]
    if name:
        bits.append(f"'{name}'")
    if text:
        bits.append(repr(text[:60]))
    return " ".join(bits)


def _label(w: QLabel) -> str | None:
    if w.pixmap() is not None and not w.pixmap().isNull():
        return None
    text = w.text()
    if not text.strip():
        return None
    cr = w.contentsRect()
    margin = w.margin() * 2 + max(0, w.indent()) if w.indent() > 0 else w.margin() * 2
    rich = w.textFormat() == 1 or (w.textFormat() == 2 and ("<" in text and ">" in text))  # RichText / AutoText
    if w.wordWrap() or rich:
        need = w.heightForWidth(w.width())
        if need > w.height() + SLACK:
            return f"{describe(w)}: wrapped text needs {need} px of height, has {w.height()}"
        if not rich:  # a word longer than the label cannot wrap: it is cut
            fm = w.fontMetrics()
            word = max(text.split(), key=fm.horizontalAdvance)
            if fm.horizontalAdvance(word) > cr.width() - margin + SLACK:
                return f"{describe(w)}: the word {word[:40]!r} needs {fm.horizontalAdvance(word)} px, has {cr.width()}"
        return None
    fm = w.fontMetrics()
    need = max(fm.horizontalAdvance(line) for line in text.split("\n"))
    if need > cr.width() - margin + SLACK:
        return f"{describe(w)}: text needs {need} px, has {cr.width() - margin}"
    lines = text.count("\n") + 1
    if fm.height() * lines > cr.height() + SLACK + 2:
        return f"{describe(w)}: {lines} line(s) need {fm.height() * lines} px of height, has {cr.height()}"
    return None


def _button(w: QAbstractButton) -> str | None:
    text = w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    if isinstance(w, QToolButton):
        style = w.toolButtonStyle()
        if style == style.ToolButtonIconOnly or not text:
            return None
        if w.width() + SLACK < w.sizeHint().width():
            return f"{describe(w)}: needs {w.sizeHint().width()} px, has {w.width()}"
        return None
    if not text:
        return None
    fm = w.fontMetrics()
    need = fm.horizontalAdvance(text)
    if not w.icon().isNull():
        need += w.iconSize().width() + 4
    if isinstance(w, QPushButton):
        opt = QStyleOptionButton()
        w.initStyleOption(opt)
        room = w.style().subElementRect(QStyle.SubElement.SE_PushButtonContents, opt, w).width()
        if need > room + SLACK:
            return f"{describe(w)}: text needs {need} px, has {room}"
        return None
    if isinstance(w, (QCheckBox, QRadioButton)):
        if w.width() + SLACK < w.sizeHint().width():
            return f"{describe(w)}: needs {w.sizeHint().width()} px, has {w.width()}"
    return None


def _text_edit(w: QTextEdit) -> str | None:
    """Read-only text without a scrollbar (a value shown whole): all of it inside the viewport."""
    if not w.isReadOnly() or w.verticalScrollBarPolicy() != Qt.ScrollBarPolicy.ScrollBarAlwaysOff:
        return None
    need = w.document().size().height()
    if need > w.viewport().height() + SLACK:
        return f"{describe(w)}: text needs {need:.0f} px of height, has {w.viewport().height()}"
    return None


def _line_edit(w: QLineEdit) -> str | None:
    """An empty box's placeholder (its hint) must be readable whole."""
    hint = w.placeholderText()
    if w.text() or not hint:
        return None
    room = w.width() - 24 * len(w.actions()) - 30 - w.textMargins().left() - w.textMargins().right()
    need = w.fontMetrics().horizontalAdvance(hint)
    if need > room + SLACK:
        return f"{type(w).__name__} '{w.accessibleName()}': placeholder {hint!r} needs {need} px, has {room}"
    return None


def _scroll_area(w: QScrollArea) -> str | None:
    """Content that cannot scroll sideways must not be wider than the area that shows it."""
    inner = w.widget()
    if inner is None or not inner.isVisible():
        return None
    if w.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff \
            and inner.width() > w.viewport().width() + SLACK:
        return f"{describe(w)}: its content is {inner.width()} px wide, it shows {w.viewport().width()} (cut off)"
    return None


def _combo(w: QComboBox) -> str | None:
    text = w.currentText()
    if not text:
        return None
    opt = QStyleOptionComboBox()
    w.initStyleOption(opt)
    room = w.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                    QStyle.SubControl.SC_ComboBoxEditField, w).width()
    need = w.fontMetrics().horizontalAdvance(text) + (w.iconSize().width() + 4 if not w.itemIcon(
        w.currentIndex()).isNull() else 0)
    if need > room + SLACK:
        return f"{describe(w)}: text needs {need} px, has {room}"
    return None


def _tabs(w: QTabBar) -> list[str]:
    out = []
    for i in range(w.count()):
        hint, rect = w.tabSizeHint(i), w.tabRect(i)
        if rect.width() + SLACK < hint.width():
            out.append(f"QTabBar tab {w.tabText(i)!r}: needs {hint.width()} px, has {rect.width()}")
    return out


def _skip_children(w: QWidget) -> bool:
    """Parents whose children overlap by design, or are laid out by Qt's own machinery."""
    return isinstance(w, (QStackedWidget, QAbstractScrollArea, QSplitter, QToolBar, QTabBar, QScrollBar,
                          QComboBox)) or type(w).__name__ in ("QTabWidget",)


def _overlaps(parent: QWidget) -> list[str]:
    if _skip_children(parent):
        return []
    kids = [c for c in parent.children() if isinstance(c, QWidget) and c.isVisible() and not c.isWindow()
            and not isinstance(c, QSplitterHandle)]
    out = []
    inside = QRect(0, 0, parent.width(), parent.height())
    lay = parent.layout()
    for i, a in enumerate(kids):
        ga = a.geometry()
        if lay is not None and lay.indexOf(a) >= 0 and not inside.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(ga):
            out.append(f"{describe(a)} is cut off by {describe(parent)}: {ga.getRect()} not in {inside.getRect()}")
        for b in kids[i + 1:]:
            inter = ga.intersected(b.geometry())
            if inter.width() > SLACK and inter.height() > SLACK:
                out.append(f"{describe(a)} overlaps {describe(b)} in {describe(parent)} by "
                           f"{inter.width()}×{inter.height()} px")
    return out


def problems(window: QWidget) -> list[str]:
    """Every clipped text, overlap and cut-off child among the visible widgets of ``window``."""
    out: list[str] = []
    for w in [window, *window.findChildren(QWidget)]:
        if not w.isVisible() or w.window() is not window:
            continue
        found: str | None = None
        if isinstance(w, QLabel):
            found = _label(w)
        elif isinstance(w, QAbstractButton):
            found = _button(w)
        elif isinstance(w, QComboBox):
            found = _combo(w)
        elif isinstance(w, QTabBar):
            out += _tabs(w)
        elif isinstance(w, QTextEdit):
            found = _text_edit(w)
        elif isinstance(w, QScrollArea):
            found = _scroll_area(w)
        elif isinstance(w, QLineEdit) and not isinstance(w.parentWidget(), (QComboBox, QAbstractSpinBox)):
            found = _line_edit(w)
        if found:
            out.append(found)
        out += _overlaps(w)
    return out


def fits_screen(window: QWidget) -> str | None:
    """The window (frame included) inside its screen's available area."""
    screen = window.screen()
    if screen is None:
        return None
    avail = screen.availableGeometry()
    frame = window.frameGeometry()
    if not avail.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(frame):
        return f"{describe(window)} {frame.getRect()} is not inside the screen's free area {avail.getRect()}"
    return None


def centred_on(window: QWidget, screen_rect: QRect, tolerance: int = 40) -> str | None:
    """The window's centre near the centre of ``screen_rect`` (the main window's screen)."""
    c, s = window.frameGeometry().center(), screen_rect.center()
    if (c - s).manhattanLength() > tolerance:
        return f"{describe(window)} is not centred on the window's screen: centre {c.toTuple()} vs {s.toTuple()}"
    return None
