"""Signing in, out and switching accounts, through the dialog and the account menu."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from core.standin import DEMO_EMAIL, DEMO_NAME, DEMO_SESSION_TOKEN
from tests.gui.helpers import settle


def test_first_run_without_cookie_shows_a_sign_in_prompt_not_an_error(qtbot, make_window):
    w = make_window(signed_in=False)
    qtbot.waitUntil(lambda: w.account_bar.text != "")
    assert "Sign in" in w.account_bar.text
    assert w.account_bar.kind == "info"
    assert [b.text() for b in w.account_bar.buttons] == ["Sign in…", "Try the offline demo"]
    assert w.message_bar.text == ""  # no error anywhere
    assert w.db_banner.isHidden()
    assert w.account.text() == "Sign in"
    assert "No images yet" in w.gallery.view.empty_title


def test_sign_in_with_pasted_cookie_shows_who_and_hides_the_cookie(qtbot, make_window, demo_cookie):
    w = make_window(signed_in=False)
    qtbot.waitUntil(lambda: w.account_bar.text != "")
    qtbot.mouseClick(w.account_bar.button("Sign in…"), Qt.MouseButton.LeftButton)
    dlg = w.sign_in_dialog
    assert dlg is not None and dlg.isVisible() and not dlg.isModal()
    dlg.cookie.setPlainText(demo_cookie)
    qtbot.mouseClick(dlg.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.card.isVisible(), timeout=10_000)
    assert dlg.name.text() == DEMO_NAME
    assert dlg.email.text() == DEMO_EMAIL
    # Verified: the cookie is no longer on screen.
    assert dlg.cookie.toPlainText() == ""
    assert dlg.cookie.isReadOnly()
    shown = [x.text() for x in dlg.findChildren(QLabel)] + [dlg.cookie.toPlainText(), dlg.cookie.placeholderText()]
    assert not any(DEMO_SESSION_TOKEN in t for t in shown)
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME)
    assert w.account_bar.isHidden()
    assert DEMO_EMAIL in w.message_bar.text
    # The avatar (served by the stand-in) arrives and replaces the initials.
    qtbot.waitUntil(lambda: DEMO_EMAIL in w.account.avatars, timeout=10_000)


def test_a_bad_cookie_is_refused_with_a_reason(qtbot, make_window):
    w = make_window(signed_in=False)
    w.open_sign_in()
    dlg = w.sign_in_dialog
    dlg.cookie.setPlainText("this is not a cookie")
    qtbot.mouseClick(dlg.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.error.isVisible(), timeout=10_000)
    assert "cookie" in dlg.error.text().lower()
    assert not dlg.card.isVisible()
    assert dlg.cookie.toPlainText() == "this is not a cookie"  # kept, so it can be fixed


def test_sign_in_from_a_cookies_txt_file(qtbot, make_window, tmp_path):
    w = make_window(signed_in=False)
    w.open_sign_in()
    path = tmp_path / "cookies.txt"
    path.write_text("# Netscape HTTP Cookie File\n"
                    f"labs.google\tFALSE\t/\tTRUE\t0\t__Secure-next-auth.session-token\t{DEMO_SESSION_TOKEN}\n")
    w.sign_in_dialog.sign_in_from_file(path)
    qtbot.waitUntil(lambda: w.sign_in_dialog.card.isVisible(), timeout=10_000)
    assert w.sign_in_dialog.email.text() == DEMO_EMAIL
    assert w.sign_in_dialog.cookie.toPlainText() == ""


def test_two_accounts_switch_and_sign_out(qtbot, make_window, standin):
    standin.add_account("second-token", "second@example.com", "Second Person")
    w = make_window()
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME)
    w.open_sign_in()
    w.sign_in_dialog.cookie.setPlainText("__Secure-next-auth.session-token=second-token")
    qtbot.mouseClick(w.sign_in_dialog.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.account.text() == "Second Person", timeout=10_000)
    assert {a.email for a in w.account.accounts} == {DEMO_EMAIL, "second@example.com"}
    assert w.switch_menu.isEnabled()

    w.switch_account(DEMO_EMAIL)
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME)
    assert w.ctx.service.current_email() == DEMO_EMAIL

    w.sign_out(DEMO_EMAIL)
    qtbot.waitUntil(lambda: w.account.text() == "Second Person")
    assert [a.email for a in w.account.accounts] == ["second@example.com"]
    w.sign_out("second@example.com")
    qtbot.waitUntil(lambda: w.account.text() == "Sign in")
    settle(qtbot, w)
    assert not w.ctx.service.has_cookie()
    assert "Sign in" in w.account_bar.text
