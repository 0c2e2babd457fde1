"""Every way out of the window writes what Export writes; files dropped on the gallery come in.

Save image as…, saving several to a folder, drag-out and the clipboard's file are read back with
an independent reader (sd-parsers); the names follow the one rule (a Japanese prompt stays
Japanese). Exported files dropped on the gallery are imported; the caption panel uses the core's
caption path (an SVG pointing at another file is refused, as the CLI refuses it).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog
from sd_parsers import ParserManager

from core.service.exporter import Exporter
from tests.gui.helpers import generate, settle, write_png

PROMPT = "夕暮れの灯台と猫"


def a1111(path: Path) -> tuple[str, str, str]:
    """(prompt, seed, model) as sd-parsers reads the file."""
    info = ParserManager().parse(path)
    assert info is not None, path
    (sampler,) = info.samplers
    return sampler.prompts[0].value, sampler.parameters["seed"], sampler.model.name


def select(w, rows: list[int]) -> None:
    from PySide6.QtCore import QItemSelectionModel

    w.gallery.view.clearSelection()
    for row in rows:
        w.gallery.view.selectionModel().select(w.model.index(row), QItemSelectionModel.SelectionFlag.Select)


def test_save_as_save_to_folder_drag_and_clipboard_carry_the_export_metadata(qtbot, window, tmp_path, monkeypatch):
    w = window
    generate(qtbot, w, PROMPT, count=2)
    select(w, [0])
    rec = w.model.record(0)
    offered: list[str] = []

    def save_dialog(_parent, _title, start, _filter):
        offered.append(Path(start).name)
        return str(tmp_path / "chosen"), _filter  # no extension typed: the image's own is added

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    w.actions_["save"].trigger()
    qtbot.waitUntil(lambda: (tmp_path / "chosen.png").is_file(), timeout=10_000)
    assert PROMPT in offered[0] and offered[0].endswith(f"_{rec.seed}.png")  # the one naming rule
    assert a1111(tmp_path / "chosen.png") == (PROMPT, str(rec.seed), rec.model)

    # several to a folder, twice: the second time writes nothing new (no "-2" copies)
    folder = tmp_path / "several"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(folder))
    select(w, [0, 1])
    for _ in range(2):
        w.actions_["save"].trigger()
        qtbot.waitUntil(lambda: len(list(folder.glob("*.png"))) == 2 and w.worker.active == 0, timeout=10_000)
    files = sorted(folder.iterdir())
    assert len(files) == 2 and all(PROMPT in f.name for f in files)
    assert {a1111(f)[1] for f in files} == {str(w.model.record(i).seed) for i in (0, 1)}

    # drag-out: the files a file manager gets
    ids = [w.model.record(i).id for i in (0, 1)]
    qtbot.waitUntil(lambda: all(w.images.get(i) is not None for i in ids))
    mime = w.model.mimeData([w.model.index(0), w.model.index(1)])
    dragged = [Path(u.toLocalFile()) for u in mime.urls()]
    assert {p.name for p in dragged} == {p.name for p in files}  # the names Save gave them
    assert all(a1111(p)[0] == PROMPT for p in dragged)
    again = w.model.mimeData([w.model.index(0)])
    assert Path(again.urls()[0].toLocalFile()) in dragged  # the same file, not a copy

    # the clipboard: pixels and the file
    select(w, [0])
    clip = QGuiApplication.clipboard()
    clip.clear()
    w.actions_["copy_image"].trigger()
    qtbot.waitUntil(lambda: clip.mimeData() is not None and clip.mimeData().hasUrls(), timeout=5000)
    assert clip.mimeData().hasImage()
    assert a1111(Path(clip.mimeData().urls()[0].toLocalFile())) == (PROMPT, str(rec.seed), rec.model)
    settle(qtbot, w)


def drop(target, paths: list[Path]) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(target.width() // 2, target.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    QApplication.sendEvent(target, QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))
    return enter.isAccepted()


def test_exported_files_dropped_on_the_gallery_come_back(qtbot, window, tmp_path):
    w = window
    generate(qtbot, w, "a red fox in snow", count=2)
    svc = w.ctx.service
    exported = Exporter(svc).export(tmp_path / "out")
    ids = [f.image_id for f in exported.files]
    w.gallery.view.selectAll()
    svc.delete_images(ids)
    w.model.reload()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 0, timeout=10_000)
    plain = write_png(tmp_path / "plain.png")
    assert drop(w.gallery.view.viewport(), [tmp_path / "out", plain])
    qtbot.waitUntil(lambda: w.model.rowCount() == 2, timeout=15_000)
    assert {w.model.record(i).media_id for i in range(2)} == {f.media_id for f in exported.files}
    assert w.message_bar.text == ("Import finished: 2 imported, 0 already in the library, 1 not imported. "
                                  "plain.png: It carries no prompt: no AUTOMATIC1111-style parameters inside, and "
                                  "no metadata.jsonl line next to it.")
    # again: nothing new, and the gallery's own drags are not imports
    assert drop(w.gallery.view.viewport(), [tmp_path / "out"])
    qtbot.waitUntil(lambda: w.message_bar.text.startswith("Import finished: 0 imported, 2 already"), timeout=15_000)
    assert w.model.rowCount() == 2
    settle(qtbot, w)


def test_the_caption_panel_uses_the_core_path_for_svgs(qtbot, window, tmp_path):
    w = window
    panel = w.captions
    panel.count.setValue(1)
    secret = tmp_path / "secret.png"
    write_png(secret)
    pointing = tmp_path / "points.svg"
    pointing.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                        f'width="64" height="64"><image xlink:href="{secret}" width="64" height="64"/></svg>')
    drawing = tmp_path / "drawing.svg"
    drawing.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 20"><rect width="40" height="20" '
                       'fill="teal"/></svg>')
    panel.add_paths([pointing, drawing])
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    refused, drawn = panel.cards
    assert refused.rejected.startswith("The SVG refers to other files or web addresses")
    assert len(drawn.captions) == 1
    pixmap = drawn.preview.pixmap()
    assert pixmap is not None and pixmap.width() > pixmap.height()  # the PNG the core drew and sent
