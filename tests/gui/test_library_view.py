"""Issue 14, the library's views: thumbnail size and fit/crop, compare, select a generation, captions.

Real window, real PostgreSQL, the stand-in server; each test drives what a user would (the slider,
Ctrl+wheel, the context menu's actions) and checks what a user would see or find afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from gui.actions import GALLERY_MENU
from gui.settings import GuiSettings
from tests.gui.helpers import generate, settle
from tests.gui.test_selection import click_row


def _set_aspect(w, aspect: str) -> None:
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData(aspect))


def test_slider_and_ctrl_keys_change_the_cell_size_and_it_is_remembered(qtbot, make_window, settings):
    w = make_window()
    generate(qtbot, w, "a row of blue doors", count=2)
    v = w.gallery.view
    before = v.gridSize().width()
    w.gallery.size_slider.setValue(300)
    assert v.base_cell == 300
    assert v.gridSize().width() >= 300 > before
    assert v.visualRect(w.model.index(0)).width() == v.gridSize().width()
    # Ctrl+minus with the focus in the grid: one step smaller, the slider follows
    click_row(qtbot, w, 0)
    v.setFocus()
    QTest.keyClick(v, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert v.base_cell == 276 and w.gallery.size_slider.value() == 276
    QTest.keyClick(v, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert v.base_cell == 300
    # Ctrl+wheel: two notches down
    pos = QPointF(v.viewport().rect().center())
    ev = QWheelEvent(pos, v.viewport().mapToGlobal(pos), QPoint(), QPoint(0, -240), Qt.MouseButton.NoButton,
                     Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(v.viewport(), ev)
    assert v.base_cell == 252 and w.gallery.size_slider.value() == 252
    QTest.keyClick(v, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)  # the usual size
    assert v.base_cell == 168
    w.gallery.size_slider.setValue(252)
    # a fresh window on the same settings opens at that size
    settle(qtbot, w)
    w.close()
    assert GuiSettings.for_settings(settings).get("gallery/thumbnail_size") == 252
    w2 = make_window()
    assert w2.gallery.view.base_cell == 252 and w2.gallery.size_slider.value() == 252


def test_fit_mode_paints_a_wide_image_with_its_aspect(qtbot, window):
    w = window
    _set_aspect(w, "IMAGE_ASPECT_RATIO_LANDSCAPE")
    generate(qtbot, w, "a wide desert road", count=1)
    v = w.gallery.view
    qtbot.waitUntil(v.visible_thumbnails_ready)
    rect = v.visualRect(w.model.index(0))
    bg = QColor(v.viewport().grab().toImage().pixelColor(rect.left() + 1, rect.top() + 1))  # the cell's margin

    def differs(c: QColor) -> bool:
        return abs(c.red() - bg.red()) + abs(c.green() - bg.green()) + abs(c.blue() - bg.blue()) > 6

    def column(img, x):  # which rows of the cell's middle column differ from the view's background
        return [y for y in range(rect.top() + 6, rect.bottom() - 6) if differs(QColor(img.pixelColor(x, y)))]

    cropped = column(v.viewport().grab().toImage(), rect.center().x())
    assert len(cropped) > rect.height() * 0.8  # a square crop fills the cell top to bottom
    w.gallery.fit.click()
    qtbot.waitUntil(lambda: w.model.thumbnail_ready(0) and w.model.decoded_count() > 0)
    v.viewport().repaint()
    img = v.viewport().grab().toImage()
    painted = column(img, rect.center().x())
    mid = rect.center().y()
    across = [x for x in range(rect.left() + 6, rect.right() - 6) if differs(QColor(img.pixelColor(x, mid)))]
    assert painted, "nothing painted in fit mode"
    height, width = painted[-1] - painted[0], across[-1] - across[0]
    assert 1.6 < width / height < 1.95  # 16:9 shows as 16:9, with the background above and below
    assert w.gui.get("gallery/thumbnail_fit") is True


def test_compare_opens_with_two_selected_and_shows_both_prompts(qtbot, window):
    w = window
    generate(qtbot, w, "a green apple on a plate", count=1)
    generate(qtbot, w, "a red pear in the rain", count=1)
    settle(qtbot, w)
    compare = w.actions_["compare"]
    click_row(qtbot, w, 0)
    assert not compare.isEnabled()  # one image: nothing to compare
    v = w.gallery.view
    idx = w.model.index(1)
    qtbot.mouseClick(v.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=v.visualRect(idx).center())
    assert len(w.gallery.selected_ids()) == 2 and compare.isEnabled()
    QTest.keySequence(w, "Ctrl+Shift+K")
    cw = w.comparing.view
    qtbot.waitUntil(lambda: cw is not None and cw.isVisible())
    prompts = {p.prompt.text() for p in cw.params}
    assert prompts == {"a green apple on a plate", "a red pear in the rain"}
    assert all(p.fields["seed"].text() not in ("", "—") for p in cw.params)
    assert all(p.prompt.font().bold() for p in cw.params)  # the prompts differ
    qtbot.waitUntil(lambda: all(pane.img.image is not None for pane in cw.panes))
    assert cw.panes[0].image_rect().width() > 50
    # the slider: the left image left of the divider, the right one right of it
    cw.actions_["wipe"].trigger()
    assert cw.stack.currentWidget() is cw.wipe
    qtbot.waitUntil(lambda: cw.wipe.isVisible() and cw.wipe.width() > 100)
    area = cw.wipe.area()
    qtbot.mouseClick(cw.wipe, Qt.MouseButton.LeftButton, pos=QPoint(area.left() + area.width() // 4, area.center().y()))
    assert abs(cw.wipe.split - 0.25) < 0.02
    QTest.keyClick(cw.wipe, Qt.Key.Key_Right)
    assert abs(cw.wipe.split - 0.27) < 0.02
    left_before = cw.records[0].id
    cw.actions_["swap"].trigger()
    assert cw.records[1].id == left_before
    # the gallery's context menu offers it too
    assert "compare" in GALLERY_MENU
    cw.close()


def test_select_generation_selects_the_images_of_one_generate(qtbot, window):
    w = window
    generate(qtbot, w, "three paper boats", count=3)
    generate(qtbot, w, "two glass marbles", count=2)
    settle(qtbot, w)
    sel = w.actions_["select_generation"]
    click_row(qtbot, w, 3)  # one of the boats
    assert sel.isEnabled()
    sel.trigger()
    qtbot.waitUntil(lambda: len(w.gallery.selected_ids()) == 3)
    records = w.gallery.selected_records()
    assert {r.prompt for r in records} == {"three paper boats"}
    assert sorted(w.gallery.view.selected_ids()) == sorted(r.id for r in records)  # highlighted too
    # the gallery marks where one generation ends: before the first boat, not between two marbles
    assert w.model.starts_generation(2) and not w.model.starts_generation(1)
    click_row(qtbot, w, 0)
    QTest.keySequence(w, "Ctrl+G")
    qtbot.waitUntil(lambda: len(w.gallery.selected_ids()) == 2)
    assert {r.prompt for r in w.gallery.selected_records()} == {"two glass marbles"}


def test_caption_edit_persists_and_export_writes_it_beside_the_image(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QToolButton

    from core.service.exporter import Exporter

    w = window
    generate(qtbot, w, "a lantern on a jetty", count=1)
    settle(qtbot, w)
    click_row(qtbot, w, 0)
    record = w.current()
    assert w.actions_["caption_selected"].isEnabled()
    w.actions_["caption_selected"].trigger()  # the gallery's "Caption"
    panel = w.captions
    assert w.tabs.currentIndex() == 1 and len(panel.cards) == 1
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    card = panel.cards[0]
    assert card.captions and card.title.text().startswith(f"Image #{record.id}")
    edit = next(b for b in card.findChildren(QToolButton) if b.accessibleName() == "Edit caption 1")
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    editor = card.editors[0]
    assert editor.isVisible()
    editor.selectAll()
    QTest.keyClicks(editor, "A brass lantern glowing on a wooden jetty at night")
    save = next(b for b in card.findChildren(QToolButton) if b.accessibleName() == "Save caption 1")
    qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.labels[0].isVisible() and
                    card.labels[0].text() == "A brass lantern glowing on a wooden jetty at night")
    settle(qtbot, w)
    svc = w.ctx.service
    assert svc.caption_history()[0].caption == "A brass lantern glowing on a wooden jetty at night"  # stored
    # File → Export… of the selected image: its caption beside it (the option is on by default)
    w.actions_["export"].trigger()
    dlg = w.export_dialog
    assert dlg.captions.isChecked()
    dlg.folder.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=15_000)
    assert "1 caption as .txt" in w.message_bar.text
    (png,) = (tmp_path / "out").glob("*.png")
    assert png.with_suffix(".txt").read_text(encoding="utf-8") == "A brass lantern glowing on a wooden jetty at night\n"
    # off: no caption file
    res = Exporter(svc).export(tmp_path / "plain", image_ids=[record.id], captions=False)
    assert not res.files[0].path.with_suffix(".txt").exists()
    # Esc leaves an edit without storing it
    qtbot.mouseClick(edit, Qt.MouseButton.LeftButton)
    QTest.keyClicks(card.editors[0], "changed my mind")
    QTest.keyClick(card.editors[0], Qt.Key.Key_Escape)
    assert card.labels[0].text() == "A brass lantern glowing on a wooden jetty at night"


def test_caption_a_folder_shows_progress_and_each_rejects_reason(qtbot, make_window, tmp_path):
    from tests.gui.helpers import write_png

    w = make_window(size=(900, 600))  # a small window: the batch's progress must not widen it
    folder = tmp_path / "shots"
    folder.mkdir()
    write_png(folder / "a-beach.png", "#3366cc")
    write_png(folder / "c-forest.png", "#228833")
    (folder / "b-broken.png").write_bytes(b"this is not a picture at all")
    (folder / "notes.txt").write_text("a note, left out")
    w.tabs.setCurrentIndex(1)  # where File → Caption a folder… takes you
    panel = w.captions
    panel.count.setValue(1)
    messages: list[str] = []
    panel.status_message.connect(messages.append)
    assert panel.caption_folder(folder) == 3
    assert panel.progress.isVisible() and panel.progress.maximum() == 3
    assert "1 other file left out" in messages[-1]
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    beach, broken, forest = panel.cards
    assert beach.captions and forest.captions
    assert broken.rejected and "not an image" in broken.rejected
    assert broken.status.text() == broken.rejected
    assert "2 captioned, 1 rejected" in panel.batch_label.text()
    assert not panel.progress.isVisible()
    assert w.width() == 900


def test_small_thumbnails_fill_the_screen_and_every_cell_on_it_gets_its_picture(qtbot, make_window, make_service):
    from tests.gui.helpers import fill_library

    svc = make_service()
    fill_library(svc, 240, per_generation=4)
    w = make_window(factory=lambda _d, s=svc: s)
    v = w.gallery.view
    w.gallery.size_slider.setValue(96)
    qtbot.waitUntil(lambda: not w.model.loading and v.visible_thumbnails_ready(), timeout=15_000)
    rows = v.visible_rows()
    assert len(rows) >= 20
    viewport = v.viewport().rect()
    assert all(v.visualRect(w.model.index(r)).intersects(viewport) for r in rows)  # on screen, not guessed
    assert v.gridSize().width() < 130


def test_a_thumbnail_dropped_on_the_captions_tab_is_captioned_as_that_image(qtbot, window, tmp_path):
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    from core.store import repo

    w = window
    generate(qtbot, w, "a kite over the dunes", count=1)
    settle(qtbot, w)
    record = w.model.record(0)
    mime = w.model.mimeData([w.model.index(0)])  # what a drag out of the gallery carries
    w.tabs.setCurrentIndex(1)
    zone = w.captions.drop
    pos = QPoint(zone.width() // 2, zone.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(zone, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(zone, QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                            Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: len(w.captions.cards) == 1 and not w.captions.busy, timeout=20_000)
    card = w.captions.cards[0]
    assert card.title.text().startswith(f"Image #{record.id}") and card.captions
    with w.ctx.service.db.session() as s:
        assert repo.library_captions(s, [record.media_id]) == {record.media_id: card.captions[0]}


def test_select_generation_finds_the_images_beyond_the_loaded_page(qtbot, make_window, make_service):
    from tests.gui.helpers import fill_library

    svc = make_service()
    fill_library(svc, 64, per_generation=8)
    w = make_window(factory=lambda _d, s=svc: s)
    w.gallery.size_slider.setValue(384)  # few cells on screen: few rows loaded
    w.model.page_size = 3
    w.model.reload()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.is_loaded(0), timeout=15_000)
    settle(qtbot, w)
    loaded = [r for r in range(w.model.rowCount()) if w.model.is_loaded(r)]
    assert len(loaded) < 8, loaded  # the first generation is not all in
    click_row(qtbot, w, 0)
    w.actions_["select_generation"].trigger()
    qtbot.waitUntil(lambda: len(w.gallery.selected_ids()) == 8, timeout=15_000)
    assert {r.prompt for r in w.gallery.selected_records()} == {"prompt number 7"}
    assert w.model.total == 64  # found, not added twice
