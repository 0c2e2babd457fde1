"""Issue 11 §10 (GUI): honest status — the account button shows a rejected cookie, the web import
asks before it starts, and what needs a selection is disabled without one."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QToolButton

from core.standin import DEMO_EMAIL, DEMO_NAME, DEMO_SESSION_TOKEN
from tests.gui.helpers import generate, settle, write_png
from tests.gui.test_selection import click_row

NEEDS_ONE = ("remix", "copy_prompt", "copy_seed", "viewer", "copy_image")
NEEDS_SOME = ("save", "delete", "favorite")


def test_the_account_button_shows_a_rejected_cookie_until_the_next_sign_in(qtbot, window, standin, demo_cookie):
    w = window
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME)
    standin.revoke(DEMO_SESSION_TOKEN)
    try:
        generate(qtbot, w, "a lighthouse at dusk", count=1)
        assert w.account.text() == f"{DEMO_NAME} — sign in again"
        assert "no longer accepts the cookie" in w.account.toolTip() and DEMO_EMAIL in w.account.toolTip()
        first = w.account.menu().actions()[0]
        assert first.text() == "Sign in again…"
        w.refresh_accounts()  # reading the accounts again does not hide it
        settle(qtbot, w)
        assert w.account.text().endswith("— sign in again")
    finally:
        standin.add_account(DEMO_SESSION_TOKEN, DEMO_EMAIL, DEMO_NAME)
    first = w.account.menu().actions()[0]
    assert first.text() == "Sign in again…"
    first.trigger()  # the menu's first entry opens the sign-in dialog
    dlg = w.sign_in_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.cookie.setPlainText(demo_cookie)
    qtbot.mouseClick(dlg.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME, timeout=10_000)
    assert "Signed in as" in w.account.toolTip()
    settle(qtbot, w)


def test_what_needs_a_selection_is_disabled_without_one(qtbot, window, tmp_path):
    w = window
    generate(qtbot, w, "a bowl of ramen", count=2)
    w.gallery.view.clearSelection()
    assert w.selected() == []
    for key in NEEDS_ONE + NEEDS_SOME:
        assert not w.actions_[key].isEnabled(), key
    for b in w.details.buttons + [b for b in w.toolbar.findChildren(QToolButton) if b.defaultAction() is not None
                                  and b.defaultAction() in [w.actions_[k] for k in NEEDS_ONE + NEEDS_SOME]]:
        assert not b.isEnabled(), b.accessibleName() or b.text()
    click_row(qtbot, w, 0)
    for key in NEEDS_ONE + NEEDS_SOME:
        assert w.actions_[key].isEnabled(), key
    w.gallery.view.selectAll()
    assert not w.actions_["remix"].isEnabled() and w.actions_["save"].isEnabled()  # one image only / several

    # the Captions tab's past captions: Copy and Use as prompt need one selected
    cap = w.captions
    w.ctx.service.caption_file(write_png(tmp_path / "cat.png"))
    cap.history.reload()
    qtbot.waitUntil(lambda: cap.history.rowCount() > 0)
    assert not cap.history_copy.isEnabled() and not cap.history_use.isEnabled()
    cap.history_view.selectionModel().setCurrentIndex(cap.history.index(0),
                                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)
    assert cap.history_copy.isEnabled() and cap.history_use.isEnabled()


def test_the_web_import_asks_before_it_reads_anything(qtbot, window, standin):
    w = window
    before = standin.calls["user_history"]
    w.actions_["import_web"].trigger()
    dlg = w.import_dialog
    settle(qtbot, w)
    assert dlg.isVisible() and not dlg.running and standin.calls["user_history"] == before
    assert dlg.start_button.isVisible() and dlg.new_only.isChecked() and dlg.use_limit.isChecked()
    dlg.full.setChecked(True)
    assert not dlg.limit.isEnabled() or dlg.full.isChecked()
    dlg.reject()  # Cancel: nothing was imported, nothing was read
    settle(qtbot, w)
    assert standin.calls["user_history"] == before
