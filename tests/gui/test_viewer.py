"""Issue 11 §9: the viewer is a real viewer — arrows, full screen, parameters, zoom keys — and it
shows the gallery's selected image, always (§1)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.helpers import generate, settle
from tests.gui.test_selection import click_row


def test_arrows_full_screen_parameters_and_zoom(qtbot, window):
    w = window
    generate(qtbot, w, "a green forest path", count=3)
    click_row(qtbot, w, 1)
    ids = [w.model.id_at(r) for r in range(3)]
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.viewer is not None and w.viewer.isVisible() and w.viewer.record is not None)
    v = w.viewer
    assert v.record.id == ids[1]
    assert v.position_label.text() == "2 of 3"
    # centred on the window's screen, inside its free area
    avail = w.screen().availableGeometry()
    assert avail.contains(v.frameGeometry())
    assert (v.frameGeometry().center() - avail.center()).manhattanLength() <= 6  # frame and rounding

    v.activateWindow()
    qtbot.waitUntil(v.isActiveWindow)
    QTest.keyClick(v, Qt.Key.Key_Right)  # the next (older) image, and the gallery follows
    qtbot.waitUntil(lambda: v.record.id == ids[2])
    assert w.gallery.selected_ids() == [ids[2]] and w.details.record.id == ids[2]
    QTest.keyClick(v, Qt.Key.Key_Right)  # there is none
    assert v.note.text().startswith("No older image")
    QTest.keyClick(v, Qt.Key.Key_Left)
    QTest.keyClick(v, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: v.record.id == ids[0])
    assert w.current().id == ids[0] and v.position_label.text() == "1 of 3"

    QTest.keyClick(v, Qt.Key.Key_I)  # the parameters
    assert v.info.isVisible()
    rec = w.model.record_by_id(ids[0])
    assert v.info_prompt.text() == rec.prompt and v.info_fields["seed"].text() == str(rec.seed)
    QTest.keyClick(v, Qt.Key.Key_I)
    assert not v.info.isVisible()

    QTest.keyClick(v, Qt.Key.Key_1)
    assert abs(v.view.zoom - 1.0) < 1e-6 and v.zoom_label.text() == "100 %"
    QTest.keyClick(v, Qt.Key.Key_Plus)
    assert abs(v.view.zoom - 1.25) < 1e-6
    QTest.keyClick(v, Qt.Key.Key_Minus)
    QTest.keyClick(v, Qt.Key.Key_Minus)
    assert abs(v.view.zoom - 0.8) < 1e-6
    QTest.keyClick(v, Qt.Key.Key_0)
    assert v.view.fit_mode

    QTest.keyClick(v, Qt.Key.Key_F11)
    qtbot.waitUntil(v.isFullScreen)
    QTest.keyClick(v, Qt.Key.Key_Escape)  # leaves full screen, stays open
    qtbot.waitUntil(lambda: not v.isFullScreen())
    assert v.isVisible()
    QTest.keyClick(v, Qt.Key.Key_F)
    qtbot.waitUntil(v.isFullScreen)
    QTest.keyClick(v, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not v.isFullScreen())

    # the selection changes in the gallery: the viewer follows; deleted: it shows the neighbour
    click_row(qtbot, w, 2)
    qtbot.waitUntil(lambda: v.record.id == ids[2])
    click_row(qtbot, w, 1)
    qtbot.waitUntil(lambda: v.record.id == ids[1])
    w.actions_["delete"].trigger()  # to the Trash
    qtbot.waitUntil(lambda: v.record.id == ids[2])
    assert w.current().id == ids[2]
    v.activateWindow()
    qtbot.waitUntil(v.isActiveWindow)
    QTest.keyClick(v, Qt.Key.Key_Escape)
    assert not v.isVisible()
    settle(qtbot, w)
