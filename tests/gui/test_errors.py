"""Every kind of failure shows its sentence and its action in the message bar; the prompt stays.

Failures come from the stand-in server (``standin.fail``) and from a real PostgreSQL
server that is stopped and started again. Nothing here is modal.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.standin import DEMO_SESSION_TOKEN
from tests.gui.helpers import generate, settle
from tests.support.pg import TcpPostgres

PROMPT = "a lighthouse at dusk,\nwith a second line the user wrote carefully"

# fault, params, what the message must say, the button next to it
CASES = [
    ("unauthorized", {}, "no longer accepts your sign-in", "Sign in again"),
    ("forbidden", {}, "no longer accepts your sign-in", "Sign in again"),
    ("safety", {}, "Refused by the safety filter", "Edit prompt"),
    # a rate limit is waited out with a countdown and Cancel (tests/gui/test_waits.py), not an error
    ("server_error", {"status": 503}, "server error (HTTP 503)", "Retry"),
    ("reset", {}, "Check your internet connection", "Retry"),
    ("html", {}, "unexpected format", "Retry"),
    ("bad_request", {}, "rejected the request", "Edit prompt"),
]


@pytest.mark.parametrize(("fault", "params", "says", "button"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.fault_case("network: GUI")
def test_generation_error_shows_message_and_action_and_keeps_the_prompt(qtbot, window, standin, fault, params,
                                                                        says, button):
    w = window
    standin.fail("generate", fault, times=5, **params)
    generate(qtbot, w, PROMPT, count=2)
    assert says in w.message_bar.text
    assert w.message_bar.button(button) is not None, [b.text() for b in w.message_bar.buttons]
    assert w.message_bar.kind in ("error", "warning")
    assert w.editor.text() == PROMPT
    assert w.model.rowCount() == 0
    assert QApplication.activeModalWidget() is None  # nothing modal
    assert not w.generating and w.editor.generate_button.isEnabled()


def test_retry_after_a_server_error_generates(qtbot, window, standin):
    w = window
    standin.fail("generate", "server_error", times=1, status=500)
    generate(qtbot, w, PROMPT, count=2)
    retry = w.message_bar.button("Retry")
    assert retry is not None
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.model.rowCount() == 2, timeout=15_000)
    assert w.message_bar.text == ""


@pytest.mark.fault_case("network: GUI cookie expired mid-session")
def test_expired_cookie_asks_to_sign_in_again(qtbot, window, standin, demo_cookie):
    w = window
    standin.revoke(DEMO_SESSION_TOKEN)
    try:
        generate(qtbot, w, PROMPT)
        assert "rejected the cookie" in w.message_bar.text or "sign-in" in w.message_bar.text
        b = w.message_bar.button("Sign in again")
        assert b is not None
        qtbot.mouseClick(b, Qt.MouseButton.LeftButton)
        assert w.sign_in_dialog is not None and w.sign_in_dialog.isVisible()
        assert w.editor.text() == PROMPT
    finally:
        standin.add_account(DEMO_SESSION_TOKEN, "demo@imagefx.local", "Demo User")


@pytest.mark.fault_case("network: GUI not signed in")
def test_not_signed_in_generate_asks_to_sign_in(qtbot, make_window):
    w = make_window(signed_in=False)
    generate(qtbot, w, PROMPT)
    assert "not signed in" in w.message_bar.text
    assert w.message_bar.button("Sign in…") is not None
    assert w.editor.text() == PROMPT


@pytest.mark.fault_case("database: GUI banner at start, spooled mid-session, recovers")
def test_database_down_at_start_then_down_mid_session_then_back(qtbot, make_window, make_service, demo_cookie):
    pg = TcpPostgres()  # not started yet: the database is down when the app starts
    try:
        def factory(_demo: bool) -> object:
            svc = make_service(url=pg.url())
            svc.sign_in(demo_cookie)
            return svc

        w = make_window(factory=factory, wait=False, retry_interval_ms=300)
        qtbot.waitUntil(lambda: w.db_banner.text != "", timeout=15_000)
        assert "cannot be reached" in w.db_banner.text
        assert [b.text() for b in w.db_banner.buttons] == ["Retry", "Database settings"]
        assert "unreachable" in w.db_label.text()
        w.editor.set_text(PROMPT)

        pg.start()  # it comes back: the app reconnects by itself
        qtbot.waitUntil(lambda: w.ctx.connected, timeout=20_000)
        qtbot.waitUntil(lambda: w.db_banner.isHidden())
        settle(qtbot, w)
        generate(qtbot, w, PROMPT, count=1)
        assert w.model.rowCount() == 1

        pg.stop(remove=False)  # and goes away while the app runs
        generate(qtbot, w, PROMPT, count=2)
        assert "cannot be reached" in w.message_bar.text
        assert "kept" in w.message_bar.text
        qtbot.waitUntil(lambda: w.db_banner.text != "", timeout=5000)
        assert w.editor.text() == PROMPT
        assert not w.ctx.connected
        generate(qtbot, w, PROMPT, count=1)  # still possible while it is down: spooled too
        assert "kept" in w.message_bar.text

        pg.restart()  # the spooled images are stored when it is back
        qtbot.waitUntil(lambda: w.ctx.connected and w.db_banner.isHidden(), timeout=20_000)
        qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 4, timeout=10_000)
        assert "Stored 3 images" in w.message_bar.text
    finally:
        pg.stop()
