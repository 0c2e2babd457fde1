"""The Queue tab against the stand-in server and real PostgreSQL: add, run, pause, reorder, retry, restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from PySide6.QtCore import QMimeData, QModelIndex, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from core.config import Settings
from core.service import QueueService
from core.service.queue import ITEM_DONE, ITEM_STARTED, QueueEvent
from core.standin import DEMO_COOKIE, SAFETY_MESSAGE
from gui.queue_runner import IDLE, PAUSED_BY_USER, SIGNIN
from gui.widgets.main_window import MainWindow

FAST = {"backoff": 0.05, "probe_interval": 0.05, "max_probe_interval": 0.2}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No pause between queue items: the tests wait for results, not for politeness."""
    return settings.with_overrides(queue_delay=0.0)


def fast(w: MainWindow) -> MainWindow:
    w.queue.timing = dict(FAST)
    return w


def states(w: MainWindow) -> list[str]:
    return [it.state for it in w.queue_panel.model.items()]


def prompts(w: MainWindow) -> list[str]:
    return [it.prompt for it in w.queue_panel.model.items()]


def add(qtbot, w: MainWindow, *texts: str, count: int = 1) -> None:
    """Add prompts the way the paste dialog does, and wait until the list shows them."""
    w.editor.count.setValue(count)
    before = w.queue_panel.model.rowCount()
    w.queue.add_text("\n".join(texts), w._queue_options())
    qtbot.waitUntil(lambda: w.queue_panel.model.rowCount() == before + len(texts), timeout=10_000)


def run_to_end(qtbot, w: MainWindow, timeout: int = 20_000) -> None:
    qtbot.mouseClick(w.queue_panel.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.queue.active, timeout=5000)
    qtbot.waitUntil(lambda: not w.queue.active and w.worker.active == 0, timeout=timeout)


def drop_files(qtbot, target, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(target.width() // 2, target.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))


def test_ctrl_shift_enter_queues_the_prompt_with_the_editors_options(qtbot, window, standin):
    w = window
    standin.reset_calls()
    w.editor.set_text("a lighthouse at dusk")
    w.editor.count.setValue(2)
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData("IMAGE_ASPECT_RATIO_SQUARE"))
    w.editor.seed.setValue(4242)
    w.editor.seed_lock.setChecked(True)
    w.editor.prompt.setFocus()
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Return,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: w.queue_panel.model.rowCount() == 1, timeout=10_000)
    item = w.queue_panel.model.item(0)
    assert (item.prompt, item.count, item.aspect_ratio, item.seed, item.source, item.state) == \
        ("a lighthouse at dusk", 2, "IMAGE_ASPECT_RATIO_SQUARE", 4242, "editor", "pending")
    assert w.editor.text() == "a lighthouse at dusk"  # kept, and no newline typed into it
    assert standin.calls["generate"] == 0 and not w.generating  # queued, not generated
    assert w.tabs.tabText(2) == "Queue (1)"
    assert "Added 1 prompt to the queue (1 waiting)" in w.editor.status.text()
    # the same action from the menu, and its accessible button in the editor
    assert w.actions_["queue_add"].shortcut().toString() == "Ctrl+Shift+Return"
    assert w.editor.queue_button.accessibleName() == "Add to queue"


def test_a_prompt_file_dropped_on_the_queue_skips_blanks_and_comments(qtbot, window, tmp_path):
    w = window
    f = tmp_path / "prompts.txt"
    f.write_text("\ufeff# my list\n\na red fox in fresh snow\n   \n# skip me\na bowl of ramen\n"
                 "a green forest path\n", encoding="utf-8")
    w.tabs.setCurrentIndex(2)
    drop_files(qtbot, w.queue_panel.view.viewport(), [f])
    qtbot.waitUntil(lambda: w.queue_panel.model.rowCount() == 3, timeout=10_000)
    assert prompts(w) == ["a red fox in fresh snow", "a bowl of ramen", "a green forest path"]
    assert {it.source for it in w.queue_panel.model.items()} == {"prompts.txt"}
    # a file with a bad line adds nothing and says which line
    bad = tmp_path / "bad.txt"
    bad.write_text("fine\n# comment\n" + "x" * 20_001 + "\n", encoding="utf-8")
    w.add_prompt_files([str(bad)])
    qtbot.waitUntil(lambda: w.message_bar.text != "", timeout=10_000)
    assert w.message_bar.text.startswith("Line 3:")
    assert w.queue_panel.model.rowCount() == 3


def test_a_run_shows_n_of_N_fills_the_gallery_and_a_refused_prompt_fails_with_googles_words(qtbot, window):
    w = fast(window)
    add(qtbot, w, "a purple nebula", "gore everywhere", "an orange balloon", count=2)
    seen: list[str] = []
    w.queue.event.connect(lambda e: seen.append(w.queue_panel.summary.text()) if e.kind == ITEM_DONE else None)
    assert w.queue_panel.toggle_button.text() == "Start queue"
    run_to_end(qtbot, w)
    assert states(w) == ["done", "failed", "done"]
    failed = w.queue_panel.model.item(1)
    assert SAFETY_MESSAGE in failed.error
    assert seen[0].startswith("1 of 3") and seen[-1].startswith("3 of 3")
    assert "left" in seen[0]  # the time left, once an item's duration is known
    assert w.queue_panel.summary.text() == "3 of 3 · 1 failed"
    assert w.queue_panel.progress.value() == w.queue_panel.progress.maximum() == 3
    # the images came into the gallery as each item finished, newest on top
    assert w.model.rowCount() == 4
    assert [w.model.record(i).prompt for i in range(4)] == ["an orange balloon"] * 2 + ["a purple nebula"] * 2
    assert w.message_bar.kind == "warning" and "2 done, 1 failed" in w.message_bar.text
    assert w.queue.state == IDLE and w.tabs.tabText(2) == "Queue"


def test_pause_holds_the_next_item_and_resume_carries_on(qtbot, window, standin):
    w = fast(window)
    add(qtbot, w, "first", "second", "third")
    standin.delay("generate", 0.4, times=1)  # the first item is in flight when Pause is pressed
    started: list[QueueEvent] = []

    def pause_on_first(e: QueueEvent) -> None:
        if e.kind == ITEM_STARTED and not started:
            started.append(e)
            w.actions_["queue_toggle"].trigger()  # F6: pause

    w.queue.event.connect(pause_on_first)
    w.actions_["queue_toggle"].trigger()  # F6: start
    qtbot.waitUntil(lambda: not w.queue_panel.status.isHidden() and "Paused" in w.queue_panel.status.text(),
                    timeout=10_000)
    assert w.queue.state == PAUSED_BY_USER and w.queue.active
    assert w.queue_panel.toggle_button.text() == "Resume queue"
    assert states(w) == ["done", "pending", "pending"]  # the item in flight finished; nothing new started
    qtbot.wait(300)
    assert states(w) == ["done", "pending", "pending"]
    qtbot.mouseClick(w.queue_panel.toggle_button, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: not w.queue.active, timeout=15_000)
    qtbot.waitUntil(lambda: states(w) == ["done"] * 3, timeout=5000)


def test_a_rate_limit_wait_and_a_network_pause_show_in_the_panel(qtbot, window, standin):
    w = fast(window)
    add(qtbot, w, "a patient prompt")
    standin.fail("generate", "rate_limit", retry_after=0.6)  # the first try is told to wait
    standin.fail("generate", "reset")  # the second loses the connection
    shown: list[str] = []
    w.queue.event.connect(lambda e: shown.append(w.queue_panel.status.text()
                                                 if not w.queue_panel.status.isHidden() else ""))
    run_to_end(qtbot, w)
    assert "ImageFX asks to slow down — trying again in 1\u00a0s." in shown  # no-break: never "1" / "s."
    assert any(t.startswith("Offline: ImageFX cannot be reached.") for t in shown)
    assert shown[-1] == "" and w.queue_panel.status.isHidden()  # gone once it carried on
    assert states(w) == ["done"]


def test_cancel_with_nothing_selected_cancels_the_running_item_and_the_run_goes_on(qtbot, window, standin):
    w = fast(window)
    add(qtbot, w, "changed my mind", "keep this one")
    standin.delay("generate", 0.5, times=1)
    cancelled: list[bool] = []

    def cancel_first(e: QueueEvent) -> None:
        if e.kind == ITEM_STARTED and not cancelled:
            assert w.actions_["queue_cancel"].isEnabled()
            cancelled.append(True)
            w.actions_["queue_cancel"].trigger()

    w.queue.event.connect(cancel_first)
    w.actions_["queue_toggle"].trigger()
    qtbot.waitUntil(lambda: not w.queue.active and w.worker.active == 0, timeout=15_000)
    qtbot.waitUntil(lambda: states(w) == ["cancelled", "done"], timeout=5000)
    # the cancelled item's result, arriving after the cancel, was not stored
    assert [w.model.record(i).prompt for i in range(w.model.rowCount())] == ["keep this one"]


def test_reorder_by_drag_is_stored_and_selected_items_are_cancelled_removed_and_retried(qtbot, window, standin):
    w = fast(window)
    add(qtbot, w, "alpha", "bravo", "charlie", "delta")
    model = w.queue_panel.model
    # What QListView's InternalMove drop calls: moveRows; "delta" goes to the top.
    assert model.moveRow(QModelIndex(), 3, QModelIndex(), 0)
    assert prompts(w) == ["delta", "alpha", "bravo", "charlie"]
    svc = w.ctx.service

    def stored() -> list[str]:
        return [i.prompt for i in QueueService(svc).items()]

    qtbot.waitUntil(lambda: stored() == ["delta", "alpha", "bravo", "charlie"], timeout=10_000)
    w.queue.reload()
    qtbot.waitUntil(lambda: w.worker.active == 0, timeout=10_000)
    assert prompts(w) == ["delta", "alpha", "bravo", "charlie"]

    view = w.queue_panel.view
    view.setCurrentIndex(model.index(2))  # "bravo"
    w.actions_["queue_cancel"].trigger()
    qtbot.waitUntil(lambda: states(w)[2] == "cancelled", timeout=10_000)
    view.setCurrentIndex(model.index(3))  # "charlie": Delete removes it
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: prompts(w) == ["delta", "alpha", "bravo"], timeout=10_000)

    standin.fail("generate", "safety", times=1)  # "delta" is refused once
    run_to_end(qtbot, w)
    assert states(w) == ["failed", "done", "cancelled"]
    assert w.actions_["queue_retry"].isEnabled()
    w.queue_panel.view.clearSelection()
    w.actions_["queue_retry"].trigger()  # all failed items
    qtbot.waitUntil(lambda: states(w)[0] == "pending", timeout=10_000)
    run_to_end(qtbot, w)
    assert states(w) == ["done", "done", "cancelled"]
    w.actions_["queue_clear"].trigger()
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=10_000)


def test_the_queue_is_there_after_a_restart_and_resumes_when_asked(qtbot, make_window):
    first = make_window()
    add(qtbot, first, "kept one", "kept two")
    first.close()
    first.worker.wait()

    w = fast(make_window())
    qtbot.waitUntil(lambda: w.queue_panel.model.rowCount() == 2, timeout=10_000)
    assert prompts(w) == ["kept one", "kept two"]
    qtbot.waitUntil(lambda: w.message_bar.button("Resume queue") is not None, timeout=5000)
    assert "2 prompts are waiting" in w.message_bar.text
    assert not w.queue.active  # not started without being asked
    qtbot.mouseClick(w.message_bar.button("Resume queue"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.queue.active and states(w) == ["done", "done"], timeout=20_000)
    assert w.model.rowCount() == 2


def test_closing_a_running_queue_stops_it_and_the_next_start_carries_on(qtbot, make_window, make_service,
                                                                        standin):
    first = fast(make_window())
    add(qtbot, first, "run one", "run two", "run three")
    standin.delay("generate", 0.5, times=1)
    first.actions_["queue_toggle"].trigger()
    qtbot.waitUntil(lambda: first.queue.current_item is not None, timeout=10_000)
    first.close()  # the request in flight finishes and is stored; nothing new starts
    first.worker.wait()
    assert [i.state for i in QueueService(make_service()).items()] == ["done", "pending", "pending"]

    w = fast(make_window())
    qtbot.waitUntil(lambda: w.queue_panel.model.rowCount() == 3, timeout=10_000)
    # it was running when the window closed: it resumes by itself
    qtbot.waitUntil(lambda: not w.queue.active and states(w) == ["done"] * 3, timeout=20_000)
    assert w.message_bar.button("Resume queue") is None
    with w.ctx.service.db.session() as s:
        rows = s.execute(sa.text("SELECT prompt_text, count(*) FROM prompts GROUP BY prompt_text")).all()
    assert dict(rows) == {"run one": 1, "run two": 1, "run three": 1}  # each generated exactly once


def test_a_sign_in_pause_offers_sign_in_again_and_resumes_after_it(qtbot, window, standin):
    w = fast(window)
    add(qtbot, w, "needs a session")
    standin.fail("*", "unauthorized", times=50)  # the cookie no longer works
    w.actions_["queue_toggle"].trigger()
    qtbot.waitUntil(lambda: w.queue.state == SIGNIN, timeout=10_000)
    assert w.message_bar.button("Sign in again") is not None
    qtbot.waitUntil(lambda: states(w) == ["pending"], timeout=5000)  # put back, waiting for the sign-in
    assert "sign in again" in w.queue_panel.status.text().lower()
    standin.clear_faults()
    qtbot.mouseClick(w.message_bar.button("Sign in again"), Qt.MouseButton.LeftButton)
    dlg = w.sign_in_dialog
    dlg.cookie.setPlainText(DEMO_COOKIE)
    dlg.verify()
    qtbot.waitUntil(lambda: states(w) == ["done"] and not w.queue.active, timeout=20_000)
    assert w.model.rowCount() == 1


def test_a_queue_added_and_run_in_a_terminal_shows_in_the_open_window(qtbot, window, cli, demo_cookie):
    w = window
    assert w.queue_panel.model.rowCount() == 0
    added = cli("queue", "add", "--prompt", "a paper boat on a puddle", "--prompt", "a snowy owl", "-n", "1")
    assert added.returncode == 0, added.stderr
    qtbot.waitUntil(lambda: prompts(w) == ["a paper boat on a puddle", "a snowy owl"], timeout=10_000)  # no F5
    assert states(w) == ["pending", "pending"]
    assert w.tabs.tabText(2) == "Queue (2)"

    ran = cli("queue", "run", "--delay", "0", env={"GOOGLE_COOKIE": demo_cookie})
    assert ran.returncode == 0, ran.stderr
    qtbot.waitUntil(lambda: states(w) == ["done", "done"], timeout=10_000)
    qtbot.waitUntil(lambda: w.model.rowCount() == 2, timeout=10_000)  # their images, in the gallery
    assert {w.model.record(i).prompt for i in range(2)} == {"a paper boat on a puddle", "a snowy owl"}
    assert w.tabs.tabText(2) == "Queue"
    assert not w.queue.active  # the window watched; it did not run anything itself
