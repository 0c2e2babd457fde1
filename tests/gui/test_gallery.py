"""The gallery: remix, favourite, delete (persisting across windows), search, save, copy, drag out."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from core.imagefx import protocol
from gui.export import PNG_MAGIC
from tests.gui.helpers import generate, settle


def select_rows(w, rows: list[int]) -> None:
    sm = w.gallery.view.selectionModel()
    sm.clearSelection()
    for r in rows:
        sm.select(w.model.index(r), QItemSelectionModel.SelectionFlag.Select)
    sm.setCurrentIndex(w.model.index(rows[0]), QItemSelectionModel.SelectionFlag.NoUpdate)


def answer_confirmation(button_text: str, tries: int = 100) -> list[str]:
    """Click a button of the confirmation box once it is open (it is window-modal).

    Returns a list that receives the box's question when the button was clicked."""
    answered: list[str] = []

    def click(left: int = tries) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if left:
                QTimer.singleShot(20, lambda: click(left - 1))
            return
        for b in box.buttons():
            if b.text().replace("&", "") == button_text:
                answered.append(box.text())
                b.click()
                return
        raise AssertionError(f"no {button_text!r} button in {[b.text() for b in box.buttons()]}")

    QTimer.singleShot(0, click)
    return answered


def test_selecting_shows_details_and_remix_fills_the_editor(qtbot, window):
    w = window
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData("IMAGE_ASPECT_RATIO_PORTRAIT"))
    generate(qtbot, w, "a pink flamingo on one leg", count=2)
    w.editor.set_text("something else entirely")
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData("IMAGE_ASPECT_RATIO_SQUARE"))
    w.editor.seed_lock.setChecked(False)

    select_rows(w, [1])
    rec = w.model.record(1)
    assert w.details.prompt.text() == "a pink flamingo on one leg"
    assert w.details.fields["seed"].text() == str(rec.seed)
    assert w.details.fields["media"].text() == rec.media_id
    assert w.details.fields["aspect"].text() == protocol.ASPECT_LABELS["IMAGE_ASPECT_RATIO_PORTRAIT"]
    assert w.details.fields["model"].text() == protocol.MODEL_LABELS["IMAGEN_3_5"]
    qtbot.waitUntil(lambda: w.images.get(rec.id) is not None)  # the large preview loads
    assert w.details.preview.pixmap is not None and w.details.preview.pixmap.width() == rec.width

    w.actions_["remix"].trigger()
    assert w.editor.text() == "a pink flamingo on one leg"
    assert w.editor.seed.value() == rec.seed
    assert w.editor.seed_lock.isChecked()
    assert w.editor.aspect.currentData() == "IMAGE_ASPECT_RATIO_PORTRAIT"
    assert w.editor.model.currentData() == "IMAGEN_3_5"
    assert w.editor.request().seed == rec.seed


def test_favourite_and_delete_persist_across_a_restart(qtbot, make_window, make_service):
    w = make_window()
    generate(qtbot, w, "a red fox in snow", count=3)
    ids = [w.model.record(i).id for i in range(3)]

    select_rows(w, [0])
    w.actions_["favorite"].trigger()
    qtbot.waitUntil(lambda: w.model.record(0).is_favorite)
    assert w.actions_["favorite"].text().replace("&", "") == "Remove from favourites"

    select_rows(w, [2])
    doomed = w.model.record(2).id
    w.actions_["delete"].trigger()  # to the Trash: no question, Ctrl+Z undoes (tests/gui/test_trash.py)
    qtbot.waitUntil(lambda: w.model.rowCount() == 2)
    assert w.message_bar.text == "1 image moved to the Trash."
    settle(qtbot, w)
    w.close()

    w2 = make_window(factory=lambda _demo: make_service())
    qtbot.waitUntil(lambda: w2.model.rowCount() == 2)
    assert [w2.model.record(i).id for i in range(2)] == [i for i in ids if i != doomed]
    assert w2.model.record(0).is_favorite and not w2.model.record(1).is_favorite
    w2.gallery.favorites.click()
    qtbot.waitUntil(lambda: not w2.model.loading and w2.model.rowCount() == 1)
    assert w2.model.record(0).id == ids[0]
    qtbot.waitUntil(lambda: w2.gallery.count_label.text() == "1 favourite")  # counted separately


def test_cancelling_delete_forever_keeps_the_image(qtbot, window):
    w = window
    generate(qtbot, w, "a bowl of ramen", count=1)
    select_rows(w, [0])
    answered = answer_confirmation("Cancel")
    w.actions_["delete_forever"].trigger()  # Shift+Del: the only delete that asks, and says what
    qtbot.waitUntil(lambda: answered == ["Delete this image for good?"])
    settle(qtbot, w)
    assert w.model.rowCount() == 1 and w.ctx.service.count_images() == 1


def test_multi_select_delete_and_save(qtbot, window, tmp_path):
    w = window
    generate(qtbot, w, "a purple nebula", count=4)
    select_rows(w, [0, 1, 2])
    assert w.details.stack.currentIndex() == 2
    assert w.details.many_label.text() == "3 images selected"
    assert not w.actions_["remix"].isEnabled() and w.actions_["save"].isEnabled()

    saved: list = []
    w.save_images(w.selected(), tmp_path / "out", done=saved.extend)
    qtbot.waitUntil(lambda: len(saved) == 3)
    assert len({p.name for p in saved}) == 3
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in saved)
    assert all("_a-purple-nebula_" in p.name for p in saved)  # the naming rule of Export ({date}_{prompt}_{seed})

    w.actions_["delete"].trigger()
    qtbot.waitUntil(lambda: w.model.rowCount() == 1)
    assert w.message_bar.text == "3 images moved to the Trash."
    settle(qtbot, w)
    assert w.ctx.service.count_images() == 1 and w.ctx.service.count_images(trash=True) == 3


def test_search_and_empty_states(qtbot, window):
    w = window
    assert w.gallery.view.empty_title.startswith("No images yet")
    generate(qtbot, w, "a lighthouse at dusk", count=2)
    generate(qtbot, w, "a bowl of ramen", count=1)
    qtbot.keyClicks(w.gallery.search, "lighthouse")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 2, timeout=5000)
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "2 images found")
    w.gallery.search.clear()
    qtbot.keyClicks(w.gallery.search, "zebra")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 0, timeout=5000)
    assert w.gallery.view.empty_title == "No images match “zebra”"
    w.gallery.search.clear()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 3, timeout=5000)


def test_copy_prompt_seed_and_image(qtbot, window):
    w = window
    generate(qtbot, w, "a cat wearing a yellow hat", count=1)
    select_rows(w, [0])
    rec = w.model.record(0)
    clip = QGuiApplication.clipboard()
    w.actions_["copy_prompt"].trigger()
    assert clip.text() == "a cat wearing a yellow hat"
    w.actions_["copy_seed"].trigger()
    assert clip.text() == str(rec.seed)
    clip.clear()
    w.actions_["copy_image"].trigger()
    qtbot.waitUntil(lambda: clip.mimeData() is not None and clip.mimeData().hasImage(), timeout=5000)
    assert clip.image().width() == rec.width
    assert bytes(clip.mimeData().data("image/png").data()).startswith(PNG_MAGIC)


def test_dragging_out_gives_png_files_and_pixels(qtbot, window):
    w = window
    generate(qtbot, w, "a blue vintage car", count=2)
    select_rows(w, [0, 1])
    ids = [w.model.record(i).id for i in (0, 1)]
    qtbot.waitUntil(lambda: all(w.images.get(i) is not None for i in ids))
    mime = w.model.mimeData([w.model.index(0), w.model.index(1)])
    assert mime is not None
    paths = [u.toLocalFile() for u in mime.urls()]
    assert len(paths) == 2 and all(p.endswith(".png") for p in paths)
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == PNG_MAGIC
    assert mime.hasImage()
    assert bytes(mime.data("image/png").data()).startswith(PNG_MAGIC)
    assert w.model.flags(w.model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_double_click_opens_the_viewer_with_zoom(qtbot, window):
    w = window
    generate(qtbot, w, "a green forest path", count=1)
    select_rows(w, [0])
    rec = w.model.record(0)
    rect = w.gallery.view.visualRect(w.model.index(0))
    # A real double-click: press/release, then the double-click event (QTest sends only the latter).
    qtbot.mouseClick(w.gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(w.gallery.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.viewer is not None and w.viewer.isVisible(), timeout=5000)
    v = w.viewer
    assert v.view.item.pixmap().width() == rec.width
    v.view.set_zoom(1.0)
    v.view.zoom_by(2.0)
    assert abs(v.view.zoom - 2.0) < 1e-6
    assert v.zoom_label.text() == "200 %"
    v.view.fit()
    assert v.view.zoom <= 1.0
    qtbot.keyClick(v, Qt.Key.Key_Escape)
    assert not v.isVisible()


def test_rows_load_by_position_and_heal_when_images_were_deleted_elsewhere(qtbot, window, make_service):
    """Every image has a row from the count on; rows load by position (keyset from the row above);
    placeholders of images deleted by someone else since the count disappear when their page is read."""
    w = window
    for prompt in ("a lighthouse at dusk", "a red fox in snow", "a bowl of ramen"):
        generate(qtbot, w, prompt, count=4)
    m = w.model
    m.page_size = m.anchor_every = 5
    m.visible_rows = lambda: range(0)  # as if the cells were off screen: rows load when asked for
    m.reload()
    qtbot.waitUntil(lambda: m.counted and not m.loading and m.rowCount() == 12)
    assert [m.is_loaded(r) for r in range(12)] == [True] * 5 + [False] * 7
    assert w.gallery.count_label.text() == "12 images"
    other = make_service()  # another window deletes two images the gallery has not loaded yet
    doomed = [r.id for r in other.gallery_page(limit=12, with_thumbnails=False)[8:10]]
    assert other.delete_images(doomed).count == 2  # not announced to this window: it learns by reading
    m.load_rows(5, 11)
    qtbot.waitUntil(lambda: not m.loading and m.rowCount() == 10 and all(m.is_loaded(r) for r in range(10)))
    assert w.gallery.count_label.text() == "10 images"
    records = m.records()
    assert len({r.id for r in records}) == 10 and not set(doomed) & {r.id for r in records}
    cursors = [r.cursor for r in records]
    assert cursors == sorted(cursors, reverse=True)


def test_delete_and_select_all_keys_in_the_prompt_edit_text_not_the_gallery(qtbot, window):
    w = window
    generate(qtbot, w, "a bowl of ramen", count=1)
    select_rows(w, [0])
    w.editor.set_text("abc")
    w.editor.prompt.setFocus()
    w.editor.prompt.moveCursor(w.editor.prompt.textCursor().MoveOperation.Start)
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Delete)
    assert w.editor.text() == "bc"
    assert QApplication.activeModalWidget() is None  # no "Delete images?" confirmation
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert w.editor.prompt.textCursor().selectedText() == "bc"
    assert len(w.selected()) == 1
    # In the grid, the same keys act on images.
    w.gallery.view.setFocus()
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: w.model.rowCount() == 0)
    assert w.message_bar.text == "1 image moved to the Trash."


def test_images_stored_by_the_cli_appear_without_a_refresh(qtbot, window, cli, demo_cookie, tmp_path):
    w = window
    generate(qtbot, w, "a red fox in snow", count=2)
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "2 images")
    messages: list[str] = []
    w.statusBar().messageChanged.connect(messages.append)

    # a terminal next to the app: the CLI stores into the same library
    done = cli("generate", "-p", "a lighthouse in fog", "-n", "3", "-c", demo_cookie, "-d", str(tmp_path))
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: w.model.rowCount() == 5, timeout=10_000)  # no F5
    assert [w.model.record(i).prompt for i in range(5)] == ["a lighthouse in fog"] * 3 + ["a red fox in snow"] * 2
    assert "3 new images in your library." in messages
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "5 images")

    # with a search on, only what it matches comes in
    w.gallery.search.setText("lighthouse")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 3, timeout=10_000)
    for prompt in ("another fox", "a lighthouse at dawn"):
        assert cli("generate", "-p", prompt, "-n", "1", "-c", demo_cookie, "-d", str(tmp_path)).returncode == 0
    qtbot.waitUntil(lambda: w.model.rowCount() == 4, timeout=10_000)
    assert w.model.record(0).prompt == "a lighthouse at dawn"
    assert all("lighthouse" in w.model.record(i).prompt for i in range(4))
    settle(qtbot, w)
