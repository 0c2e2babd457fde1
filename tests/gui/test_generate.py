"""Generating from the prompt editor: new images on top, Cancel, a UI that never blocks."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer

from tests.gui.helpers import generate, settle


def test_generate_four_images_adds_four_gallery_items(qtbot, window):
    w = window
    assert w.model.rowCount() == 0
    generate(qtbot, w, "a lighthouse at dusk", count=4)
    assert w.model.rowCount() == 4
    assert all(w.model.record(i).prompt == "a lighthouse at dusk" for i in range(4))
    qtbot.waitUntil(lambda: w.gallery.count_label.text() == "4 images")
    assert "4 new images" in w.editor.status.text()
    assert w.message_bar.text == ""
    # The prompt stays in the editor after generating, ready for a variation.
    assert w.editor.text() == "a lighthouse at dusk"

    generate(qtbot, w, "a bowl of ramen", count=2)
    assert w.model.rowCount() == 6
    # Newest first: the second generation is on top.
    assert [w.model.record(i).prompt for i in range(2)] == ["a bowl of ramen"] * 2
    assert w.model.record(2).prompt == "a lighthouse at dusk"


def test_ctrl_enter_generates(qtbot, window):
    w = window
    w.editor.set_text("a purple nebula")
    w.editor.count.setValue(1)
    w.editor.prompt.setFocus()
    qtbot.keyClick(w.editor.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.model.rowCount() == 1, timeout=15_000)
    assert w.editor.text() == "a purple nebula"  # no newline typed into the prompt


def test_a_typed_seed_is_used_and_kept_and_the_seeds_used_are_shown(qtbot, window, standin):
    """Issue 11 §4: a typed seed is used (it was replaced by a random one unless locked), the field
    keeps what the user typed, and the seeds actually used are shown with the result."""
    w = window
    assert w.editor.seed.value() == 0 and w.editor.seed.text() == "Random" and not w.editor.seed_lock.isChecked()
    w.editor.seed.selectAll()
    qtbot.keyClicks(w.editor.seed, "4242")  # typed, the lock never touched
    assert w.editor.seed_lock.isChecked()  # a number is a kept seed: the lock says so
    generate(qtbot, w, "a blue vintage car", count=2)
    assert standin.last_request["generate"]["json"]["userInput"]["seed"] == 4242
    assert sorted(w.model.record(i).seed for i in range(2)) == [4242, 4243]  # the stand-in counts up per image
    assert w.editor.seed.value() == 4242  # kept, for the next generation too
    assert "seeds 4242–4243" in w.editor.status.text()
    generate(qtbot, w, "a blue vintage car", count=1)
    assert standin.last_request["generate"]["json"]["userInput"]["seed"] == 4242

    w.editor.seed_lock.setChecked(False)  # Ctrl+L: back to random seeds
    assert w.editor.seed.value() == 0 and w.editor.seed.text() == "Random"
    generate(qtbot, w, "a blue vintage car", count=1)
    assert standin.last_request["generate"]["json"]["userInput"]["seed"] == 0  # ImageFX picks
    used = w.model.record(0).seed
    assert w.editor.seed.value() == 0  # still Random: the one used is shown, not put in the field
    assert f"seed {used}" in w.editor.status.text()
    w.editor.seed_lock.setChecked(True)  # the lock brings the number back
    assert w.editor.seed.value() == 4242


def test_recent_prompts_menu_lists_past_prompts(qtbot, window):
    w = window
    generate(qtbot, w, "a cat wearing a yellow hat", count=1)
    generate(qtbot, w, "an orange hot-air balloon", count=1)
    w.editor.recent_menu.aboutToShow.emit()
    qtbot.waitUntil(lambda: len(w.editor.recent_menu.actions()) >= 2)
    texts = [a.toolTip() for a in w.editor.recent_menu.actions()]
    assert texts[:2] == ["an orange hot-air balloon", "a cat wearing a yellow hat"]
    w.editor.recent_menu.actions()[1].trigger()
    assert w.editor.text() == "a cat wearing a yellow hat"


def test_cancel_stops_waiting_and_stores_nothing(qtbot, window, standin):
    w = window
    standin.delay("generate", 1.5)
    w.editor.set_text("a green forest path")
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    assert w.generating and w.editor.cancel_button.isVisible()
    qtbot.wait(200)
    qtbot.mouseClick(w.editor.cancel_button, Qt.MouseButton.LeftButton)
    assert not w.generating
    assert w.editor.generate_button.isVisible() and w.editor.generate_button.isEnabled()
    assert "Cancelled" in w.editor.status.text()
    settle(qtbot, w)  # the request returns in the background and is dropped
    assert w.model.rowCount() == 0
    assert w.ctx.service.count_images() == 0
    assert w.editor.text() == "a green forest path"


def test_slow_server_never_blocks_the_ui_thread(qtbot, window, standin):
    """standin.delay holds the answer for 2 s; a 20 ms timer must keep firing meanwhile."""
    w = window
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    standin.delay("generate", 2.0)
    timer.start()
    started = time.perf_counter()
    generate(qtbot, w, "a city skyline at night", count=4, timeout=20_000)
    timer.stop()
    assert time.perf_counter() - started >= 2.0  # the delay really happened
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 50
    assert max(gaps) < 0.2, f"event loop stalled for {max(gaps) * 1000:.0f} ms"
    assert w.model.rowCount() == 4
