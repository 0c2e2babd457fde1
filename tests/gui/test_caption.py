"""The caption panel: drops, rejections with a reason, SVG, paste, history, Use as prompt."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from tests.gui.helpers import write_png


def drop_files(widget, paths: list[Path]) -> None:
    """What a file manager does: drag enter, then drop, with file URLs (docs/platform-notes.md)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def test_drop_two_images_and_a_text_file(qtbot, window, tmp_path):
    w = window
    w.tabs.setCurrentIndex(1)
    panel = w.captions
    panel.count.setValue(2)
    a = write_png(tmp_path / "sky.png", "#3366cc")
    b = tmp_path / "sunset.jpg"
    QImage(80, 60, QImage.Format.Format_RGB32).save(str(b), "JPEG")
    c = tmp_path / "notes.txt"
    c.write_text("these are my notes, not a picture")
    drop_files(panel.drop, [a, c, b])
    assert len(panel.cards) == 3
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    sky, notes, sunset = panel.cards
    assert len(sky.captions) == 2 and len(sunset.captions) == 2
    assert all(isinstance(t, str) and t for t in sky.captions + sunset.captions)
    assert notes.captions == [] and notes.rejected == "The file is not an image."
    assert notes.status.text() == "The file is not an image."
    assert "2 captioned, 1 rejected" in panel.batch_label.text()
    assert w.message_bar.text == ""  # a bad file is not an app error
    # The captions are stored and listed in the history.
    qtbot.waitUntil(lambda: panel.history.rowCount() == 4, timeout=5000)


def test_use_as_prompt_and_copy(qtbot, window, tmp_path):
    w = window
    panel = w.captions
    panel.count.setValue(1)
    panel.add_paths([write_png(tmp_path / "a.png")])
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    caption = panel.cards[0].captions[0]
    buttons = {b.accessibleName(): b for b in panel.cards[0].findChildren(type(panel.clear_button))}
    buttons["Copy caption 1"].click()
    assert QGuiApplication.clipboard().text() == caption
    buttons["Use caption 1 as prompt"].click()
    assert w.editor.text() == caption


def test_svg_is_rasterised_before_captioning(qtbot, window, tmp_path, standin):
    w = window
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
                   '<rect width="40" height="20" fill="#cc2222"/></svg>')
    w.captions.add_paths([svg])
    qtbot.waitUntil(lambda: not w.captions.busy, timeout=20_000)
    card = w.captions.cards[0]
    assert card.captions, card.status.text()
    sent = standin.last_request["caption"]["json"]["json"]["captionInput"]["mediaInput"]["rawBytes"]
    assert sent.startswith("data:image/png;base64,")  # a PNG went up, never the SVG text


def test_paste_an_image_from_the_clipboard(qtbot, window):
    w = window
    img = QImage(50, 50, QImage.Format.Format_RGB32)
    img.fill(QColor("#22aa55"))
    QGuiApplication.clipboard().setImage(img)
    w.actions_["paste_caption"].trigger()
    assert w.tabs.currentIndex() == 1
    qtbot.waitUntil(lambda: len(w.captions.cards) == 1 and not w.captions.busy, timeout=20_000)
    assert w.captions.cards[0].captions
    assert w.captions.cards[0].name.startswith("Pasted image")


def test_caption_history_is_searchable(qtbot, window, tmp_path):
    w = window
    panel = w.captions
    panel.count.setValue(3)
    panel.add_paths([write_png(tmp_path / "red.png", "#dd1111"), write_png(tmp_path / "blue.png", "#1133dd")])
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    qtbot.waitUntil(lambda: panel.history.rowCount() == 6, timeout=5000)
    assert "red" in panel.cards[0].captions[0] and "blue" in panel.cards[1].captions[0]
    qtbot.keyClicks(panel.history_search, "red")
    qtbot.waitUntil(lambda: panel.history.rowCount() == 3, timeout=5000)
    assert all("red" in panel.history.record(i).caption.lower() for i in range(3))
    panel.history_view.setCurrentIndex(panel.history.index(0))
    panel.history_use.click()
    assert w.editor.text() == panel.history.record(0).caption


def test_caption_errors_from_the_service_reach_the_message_bar(qtbot, window, tmp_path, standin):
    w = window
    standin.fail("caption", "unauthorized", times=3)
    w.captions.add_paths([write_png(tmp_path / "a.png")])
    qtbot.waitUntil(lambda: not w.captions.busy, timeout=20_000)
    assert w.captions.cards[0].rejected
    assert w.message_bar.button("Sign in again") is not None
