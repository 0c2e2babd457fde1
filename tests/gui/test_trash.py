"""Nothing is final by accident (issue 11): Delete moves to the Trash, Ctrl+Z brings it back, the
Trash view restores or deletes for good, old Trash is emptied at start-up; favourites and
replaced prompts are undone with the same keys."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.export import ImageParameters
from tests.gui.helpers import generate, settle
from tests.gui.test_gallery import answer_confirmation, select_rows
from tests.support.dbcheck import execute

CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def texts(w, *keys: str) -> list[str]:
    return [w.actions_[k].text().replace("&", "") for k in keys]


def test_delete_undo_redo_then_restore_and_delete_forever_in_the_trash_view(qtbot, window):
    w = window
    generate(qtbot, w, "a lighthouse in a storm", count=4)
    ids = [w.model.record(i).id for i in range(4)]
    select_rows(w, [1, 2])
    w.gallery.view.setFocus()
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Delete)  # no question asked
    qtbot.waitUntil(lambda: w.model.rowCount() == 2)
    assert QApplication.activeModalWidget() is None
    assert w.message_bar.text == "2 images moved to the Trash."
    assert [b.text() for b in w.message_bar.buttons] == ["Undo", "Show Trash"]
    assert texts(w, "undo") == ["Undo Delete 2 images"] and not w.actions_["redo"].isEnabled()
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "2 images")

    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Z, CTRL)  # back where they were, selected again
    qtbot.waitUntil(lambda: [w.model.record(i).id for i in range(w.model.rowCount())] == ids)
    qtbot.waitUntil(lambda: sorted(r.id for r in w.selected()) == sorted(ids[1:3]))
    assert w.message_bar.text == ""  # its Undo is done: the bar goes
    assert texts(w, "redo") == ["Redo Delete 2 images"]
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Z, CTRL | SHIFT)  # redo
    qtbot.waitUntil(lambda: w.model.rowCount() == 2)
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Z, CTRL)
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Y, CTRL)  # undo and redo at once: they run in order
    qtbot.waitUntil(lambda: not w.history.busy and w.worker.active == 0)
    assert w.model.rowCount() == 2 and w.ctx.service.count_images(trash=True) == 2

    w.message_bar.button("Show Trash").click()  # the Trash view
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 2)
    assert w.gallery.trash.isChecked() and w.gallery.trash_bar.isVisible()
    assert "deleted for good 30 days after" in w.gallery.trash_bar.label.text()
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "2 images in the Trash")
    assert texts(w, "delete") == ["Delete forever…"] and not w.actions_["export"].isEnabled()
    select_rows(w, [0])
    restored = w.model.record(0).id
    assert w.actions_["restore"].isEnabled()
    w.actions_["restore"].trigger()
    qtbot.waitUntil(lambda: w.model.rowCount() == 1)
    assert texts(w, "undo") == ["Undo Restore 1 image"]

    select_rows(w, [0])
    answered = answer_confirmation("Delete forever")
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Delete)  # in the Trash: for good, after a question
    qtbot.waitUntil(lambda: answered == ["Delete this image for good?"])
    qtbot.waitUntil(lambda: w.model.rowCount() == 0)
    assert w.gallery.view.empty_title == "The Trash is empty"
    assert texts(w, "undo") == ["Undo Restore 1 image"]  # deleting for good is not on the stack

    w.show_trash(False)
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 3)
    assert restored in {w.model.record(i).id for i in range(3)} and texts(w, "delete") == ["Delete"]
    settle(qtbot, w)
    assert w.ctx.service.count_images() == 3 and w.ctx.service.count_images(trash=True) == 0


def test_favourite_and_replaced_prompts_are_undone_with_ctrl_z(qtbot, window):
    w = window
    generate(qtbot, w, "a pink flamingo", count=2)
    select_rows(w, [0])
    rec = w.model.record(0)
    w.actions_["favorite"].trigger()
    qtbot.waitUntil(lambda: w.model.record(0).is_favorite)
    assert texts(w, "undo") == ["Undo Add 1 image to favourites"]
    w.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: not w.model.record(0).is_favorite)

    w.editor.set_text("my own careful prompt")
    w.editor.seed_lock.setChecked(False)
    w.actions_["remix"].trigger()  # the prompt box has the focus now, and nothing of its own to undo
    assert w.editor.text() == "a pink flamingo" and w.editor.seed.value() == rec.seed
    assert texts(w, "undo") == ["Undo Remix"]
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Z, CTRL)
    assert w.editor.text() == "my own careful prompt" and not w.editor.seed_lock.isChecked()
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Z, CTRL | SHIFT)
    assert w.editor.text() == "a pink flamingo" and w.editor.seed_lock.isChecked()
    qtbot.keyClicks(w.editor.prompt, " at dawn")  # typing is undone first, by the box itself
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Z, CTRL)
    assert w.editor.text() == "a pink flamingo"
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Z, CTRL)
    assert w.editor.text() == "my own careful prompt"

    w.use_as_prompt("a caption that became a prompt")
    w.editor.apply_parameters(ImageParameters(prompt="from a png", seed=77), "old.png")
    assert texts(w, "undo") == ["Undo Prompt from old.png"] and w.editor.seed.value() == 77
    w.actions_["undo"].trigger()
    assert w.editor.text() == "a caption that became a prompt"
    w.actions_["undo"].trigger()
    assert w.editor.text() == "my own careful prompt"
    settle(qtbot, w)


def test_old_trash_is_emptied_at_start_up_and_undo_forgets_another_library(qtbot, make_window, make_service,
                                                                            db_url, demo_cookie):
    svc = make_service()
    svc.sign_in(demo_cookie)
    w = make_window(factory=lambda _demo: svc)
    generate(qtbot, w, "an old teapot", count=3)
    ids = [w.model.record(i).id for i in range(3)]
    select_rows(w, [0, 1])
    w.actions_["delete"].trigger()
    qtbot.waitUntil(lambda: w.model.rowCount() == 1)
    execute(db_url, "UPDATE generated_images SET trashed_at = now() - interval '31 days' WHERE id = %s",
            (ids[0],))
    w.close()

    messages: list[str] = []
    w2 = make_window(factory=lambda _demo: make_service(), wait=False)
    w2.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: any("Deleted 1 image that had been in the Trash for more than 30 days." == m
                                for m in messages), timeout=15_000)
    assert {r.id for r in w2.ctx.service.trash()} == {ids[1]}
    assert not w2.history.stack.canUndo()
    select_rows(w2, [0])
    w2.actions_["delete"].trigger()
    qtbot.waitUntil(lambda: w2.history.stack.canUndo())
    w2.ctx.restart()  # another library (settings changed, demo switched): its ids mean nothing here
    assert not w2.history.stack.canUndo()
    qtbot.waitUntil(lambda: w2.ctx.connected)
    settle(qtbot, w2)
