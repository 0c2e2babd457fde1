"""Issue 11 §7: waits are visible and results are easy to find.

A rate-limit wait of any length counts down with Cancel beside it; tiles stand in the gallery
while images are on their way; generating from the Captions tab brings the results into view."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from gui.models.gallery_model import IMAGE, PENDING
from tests.gui.helpers import fill_library, settle


@pytest.mark.fault_case("network: GUI rate limit waited out, counting down")
def test_a_short_rate_limit_counts_down_then_generates(qtbot, window, standin, data_loss, db_url):
    w = window
    standin.fail("generate", "rate_limit", retry_after=2)
    w.editor.set_text("a lighthouse at dusk")
    w.editor.count.setValue(2)
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "slow down" in w.editor.status.text(), timeout=5000)
    text = w.editor.status.text()
    assert re.search("trying again in [12]\u00a0s", text), text
    assert w.editor.cancel_button.isVisible() and w.generating
    assert w.model.pending_count == 2  # the tiles wait too
    qtbot.waitUntil(lambda: not w.generating, timeout=10_000)
    assert w.model.pending_count == 0 and w.model.rowCount() == 2
    assert w.editor.status.text().startswith("2 new images")
    assert data_loss.check(db_urls=[db_url]) == []


def test_a_long_rate_limit_shows_minutes_and_cancel_stops_it(qtbot, window, standin):
    w = window
    standin.fail("generate", "rate_limit", retry_after=3 * 3600)
    w.editor.set_text("a lighthouse at dusk")
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "slow down" in w.editor.status.text(), timeout=5000)
    shown = w.editor.status.text()
    assert re.search("trying again in (2\u00a0h 59|3\u00a0h 00)\u00a0min", shown), shown
    first = w.editor.status.text()
    qtbot.waitUntil(lambda: w.editor.status.text() != first, timeout=3000)  # it counts down, second by second
    assert "trying again in" in w.editor.status.text() and w.editor.cancel_button.isVisible()
    calls = standin.calls["generate"]
    qtbot.mouseClick(w.editor.cancel_button, Qt.MouseButton.LeftButton)
    assert not w.generating and "Cancelled" in w.editor.status.text()
    assert w.model.pending_count == 0 and w.model.rowCount() == 0
    qtbot.wait(300)
    assert standin.calls["generate"] == calls  # nothing was sent after Cancel
    settle(qtbot, w)
    assert w.ctx.service.count_images() == 0


def test_tiles_stand_in_while_images_are_on_their_way(qtbot, window, standin):
    w = window
    standin.delay("generate", 1.0)
    w.editor.set_text("a bowl of ramen")
    w.editor.count.setValue(3)
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    assert w.model.pending_count == 3 and w.model.rowCount() == 3
    assert [w.model.cell(r)[2] for r in range(3)] == [PENDING] * 3
    assert w.gallery.view.visible_rows().start == 0  # they are in view
    w.grab()  # they paint ("Generating…")
    qtbot.waitUntil(lambda: not w.generating, timeout=10_000)
    assert w.model.pending_count == 0 and w.model.rowCount() == 3
    assert [w.model.cell(r)[2] for r in range(3)] == [IMAGE] * 3


def test_generating_from_the_captions_tab_brings_the_results_into_view(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 400, start=datetime(2025, 1, 1, tzinfo=UTC), step=timedelta(hours=1))
    from core.standin import DEMO_COOKIE

    svc.sign_in(DEMO_COOKIE)
    w = make_window(factory=lambda _d: svc)
    qtbot.waitUntil(lambda: w.model.counted and not w.model.loading)
    v = w.gallery.view
    v.scrollToBottom()  # the user was looking at old images
    qtbot.waitUntil(lambda: v.visible_rows().start > 300)
    w.tabs.setCurrentIndex(1)  # Captions
    w.use_as_prompt("a caption that became a prompt")
    w.editor.count.setValue(2)
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.tabs.currentIndex() == 0  # the Gallery, where the tiles are
    qtbot.waitUntil(lambda: not w.generating, timeout=10_000)
    new = [w.model.record(r) for r in range(2)]
    assert all(r.prompt == "a caption that became a prompt" for r in new)
    assert v.visible_rows().start == 0  # scrolled to them
    settle(qtbot, w)
