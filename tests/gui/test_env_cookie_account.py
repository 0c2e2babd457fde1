"""A cookie given for the run (GOOGLE_COOKIE) and none stored: the window says whom Generate works
as (issue 11 §10, honest status). It said "Sign in" while every generation went out as that account."""

from __future__ import annotations

from core.standin import DEMO_EMAIL, DEMO_NAME
from tests.gui.helpers import settle


def test_the_account_button_names_the_account_of_the_cookie_given_for_the_run(qtbot, make_window,
                                                                              make_service, demo_cookie):
    svc = make_service(cookie=demo_cookie)  # as GOOGLE_COOKIE does: nothing in the keyring
    assert svc.current_email() is None and svc.has_cookie()
    w = make_window(factory=lambda _demo: svc)
    qtbot.waitUntil(lambda: w.account.text() == DEMO_NAME, timeout=10_000)
    assert w.account.current is not None and w.account.current.email == DEMO_EMAIL
    assert "GOOGLE_COOKIE" in w.account.toolTip()
    assert not w.actions_["sign_out"].isEnabled()  # nothing stored to sign out of
    assert not w.account_bar.isVisible()  # no "Welcome! Sign in…"
    settle(qtbot, w)


def test_without_any_cookie_it_still_says_sign_in(qtbot, make_window):
    w = make_window(signed_in=False)
    qtbot.waitUntil(lambda: w.account_bar.isVisible(), timeout=10_000)
    assert w.account.text() == "Sign in"
    settle(qtbot, w)
