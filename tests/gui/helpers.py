"""Small steps GUI tests repeat: generate through the editor, wait for the worker, write images."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from gui.widgets.main_window import MainWindow


def generate(qtbot, w: MainWindow, prompt: str = "a red fox in fresh snow", count: int = 4,
             timeout: int = 20_000) -> None:
    """Type a prompt, set the count, click Generate, wait until it is done."""
    w.editor.set_text(prompt)
    w.editor.count.setValue(count)
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.generating, timeout=timeout)


def settle(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.worker.active == 0, timeout=15_000)


def write_png(path: Path, color: str = "#3366cc", size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path, "PNG")
    return path
