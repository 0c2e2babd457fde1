"""The embedded server SIGKILLed under the open window (issue 11 §2): the window recovers by itself,
and while it does, the banner says the app is starting the database again (nothing to check)."""

from __future__ import annotations

import os
import signal

import pytest
import sqlalchemy as sa

from core.config import Settings
from core.imagefx import GenerationRequest
from core.service import Service
from tests.core.test_embedded import postmasters, wait_until_gone
from tests.gui.helpers import generate, settle
from tests.gui.test_context import embedded  # noqa: F401  (the fixture: an embedded library of its own)


@pytest.mark.fault_case("database: embedded server SIGKILLed under the open window, banner and recovery")
def test_the_window_says_the_database_is_restarted_and_recovers_by_itself(
        qtbot, make_window, embedded: Settings, demo_cookie: str) -> None:  # noqa: F811
    svc = Service(embedded)
    w = make_window(factory=lambda _demo: svc)
    svc.sign_in(demo_cookie)
    generate(qtbot, w, "kept through a kill", count=1)
    [first] = postmasters(embedded.embedded_db_dir)

    # Killed while idle, then the user presses F5: the window comes back by itself (the banner shows
    # only if a pooled connection found the server gone first).
    os.kill(first, signal.SIGKILL)
    wait_until_gone(embedded.embedded_db_dir)
    w.actions_["refresh"].trigger()
    qtbot.waitUntil(lambda: postmasters(embedded.embedded_db_dir) not in ([], [first]), timeout=20_000)
    qtbot.waitUntil(lambda: w.ctx.connected and w.db_banner.text == "" and not w.model.loading
                    and w.model.rowCount() == 1, timeout=20_000)
    [second] = postmasters(embedded.embedded_db_dir)

    # Killed in the middle of a call: the banner says what the app does about it, then it is back.
    banners: list[tuple[str, str, list[str]]] = []
    w.ctx.service_lost.connect(lambda _e: banners.append(
        (w.db_banner.text, w.db_banner.kind, [b.text() for b in w.db_banner.buttons])))

    def killed_midway(s: Service) -> None:
        with s.db.session() as ses:
            ses.execute(sa.text("SELECT 1"))
            os.kill(second, signal.SIGKILL)
            ses.execute(sa.text("SELECT pg_sleep(0.1)"))

    w.ctx.call(killed_midway, on_failure=lambda _e: None)
    qtbot.waitUntil(lambda: bool(banners), timeout=20_000)
    text, kind, buttons = banners[0]
    assert "The embedded database stopped; the app is starting it again." in text
    assert "check that it is running" not in text.lower() and kind == "warning" and buttons == ["Retry now"]
    qtbot.waitUntil(lambda: w.ctx.connected and w.db_banner.text == "", timeout=20_000)
    assert w.message_bar.text == "Connected to the embedded database again."
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 1, timeout=20_000)
    assert postmasters(embedded.embedded_db_dir) not in ([first], [second])  # started again by the app
    generate(qtbot, w, "after the kill", count=1)
    assert w.model.record(0).prompt == "after the kill"
    settle(qtbot, w)


@pytest.mark.fault_case("database: embedded server SIGKILLed under an idle window comes back unasked")
def test_an_idle_window_starts_the_killed_embedded_server_again_without_being_asked(
        qtbot, make_window, embedded: Settings, demo_cookie: str) -> None:  # noqa: F811
    """Nobody presses anything: the change listener notices the server is gone and has it started
    again (it used to wait, reconnecting to nothing, until the user next clicked), then hears a
    terminal's generation as before."""
    svc = Service(embedded)
    w = make_window(factory=lambda _demo: svc)
    svc.sign_in(demo_cookie)
    generate(qtbot, w, "before the kill", count=1)
    qtbot.waitUntil(lambda: w.changes.listening and w.changes.mode == "listen", timeout=20_000)
    settle(qtbot, w)
    qtbot.wait(1500)  # thumbnails and the first page's follow-ups are done: the window is idle
    settle(qtbot, w)
    [first] = postmasters(embedded.embedded_db_dir)
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: postmasters(embedded.embedded_db_dir) not in ([], [first]), timeout=30_000)
    qtbot.waitUntil(lambda: w.changes.mode == "listen", timeout=30_000)
    other = Service(embedded)  # a terminal on the same library
    try:
        other.sign_in(demo_cookie)
        other.generate(GenerationRequest(prompt="from a terminal after the kill", count=1))
    finally:
        other.close()
    qtbot.waitUntil(lambda: w.model.rowCount() == 2 and not w.model.loading, timeout=20_000)
    assert w.model.record(0).prompt == "from a terminal after the kill"
    settle(qtbot, w)
