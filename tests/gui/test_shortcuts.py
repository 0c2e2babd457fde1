"""Issue 11 §5: every shortcut works on Linux (F1 and F5 were dead: "Ambiguous shortcut overload").

Qt says a key is ambiguous only when it is pressed, so one test presses every key sequence of the
window and of the viewer (with every command enabled and its slot held back) and fails on Qt's
warning; another walks every QAction/QShortcut for two commands on one key in one window.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from tests.gui.helpers import generate, settle
from tests.gui.test_selection import click_row
from tests.support.shortcut_check import commands, shared_keys


@pytest.fixture
def qt_messages() -> Iterator[list[str]]:
    seen: list[str] = []

    def handler(_kind: QtMsgType, _context: object, message: str) -> None:
        seen.append(message)

    previous = qInstallMessageHandler(handler)
    yield seen
    qInstallMessageHandler(previous)


def press_every_key(qtbot, window: QWidget) -> list[str]:
    """Press each key of ``window`` with every command enabled but its slot held back."""
    actions = [a for a in window.findChildren(QAction)]
    state = [(a, a.isEnabled(), a.isChecked(), a.signalsBlocked()) for a in actions]
    keys = sorted({seq.toString() for _n, seq, _o in commands(window)})
    try:
        for a in actions:
            a.setEnabled(True)
            a.blockSignals(True)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        for text in keys:
            QTest.keySequence(window, QKeySequence(text))
    finally:
        for a, enabled, checked, blocked in state:
            a.setChecked(checked)
            a.setEnabled(enabled)
            a.blockSignals(blocked)
    return keys


def test_no_key_is_ambiguous_and_f1_f5_work(qtbot, window, qt_messages):
    w = window
    generate(qtbot, w, "a teal teapot", count=2)
    click_row(qtbot, w, 0)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)

    QTest.keyClick(w.gallery.view, Qt.Key.Key_F1)  # the shortcuts window
    qtbot.waitUntil(lambda: w.shortcuts_window is not None and w.shortcuts_window.isVisible())
    w.shortcuts_window.close()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    reads = w.model.pages_read
    QTest.keyClick(w.gallery.view, Qt.Key.Key_F5)  # refresh: the gallery is read again
    qtbot.waitUntil(lambda: w.model.pages_read > reads and not w.model.loading)

    pressed = press_every_key(qtbot, w)
    assert {"F1", "F5", "Ctrl+Z", "Del", "Ctrl+R"} <= set(pressed)
    w.open_viewer()
    qtbot.waitUntil(lambda: w.viewer is not None and w.viewer.isVisible())
    pressed_viewer = press_every_key(qtbot, w.viewer)
    assert {"Left", "Right", "F11", "F", "I", "+", "-", "0", "Esc"} <= set(pressed_viewer)
    ambiguous = [m for m in qt_messages if "mbiguous" in m]
    assert ambiguous == []
    settle(qtbot, w)


def test_no_two_commands_share_a_key_in_one_window(qtbot, window):
    from gui.widgets.image_viewer import ImageViewer

    viewer = ImageViewer(window)
    for top in (window, viewer):
        assert shared_keys(top) == {}, type(top).__name__
    viewer.deleteLater()


def test_the_shortcuts_window_lists_the_gallery_and_the_viewer_keys(qtbot, window):
    w = window
    w.actions_["shortcuts"].trigger()
    text = w.shortcuts_window.findChild(QWidget, "shortcutList").toPlainText()
    for expected in ("Refresh", "F5", "Keyboard shortcuts", "F1", "Gallery", "Home / End", "Open full size",
                     "Viewer (full size)", "Next image", "Right", "Full screen", "F11", "Parameters", "Zoom in"):
        assert expected in text, expected
