"""Export from the gallery, drop an exported PNG on the prompt editor, import the web library."""

from __future__ import annotations

import uuid
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QItemSelectionModel, QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from core.imagefx.protocol import SESSION_COOKIE_NAMES
from core.imagefx.types import GenerationRequest
from core.service.exporter import Exporter
from tests.gui.helpers import generate, settle, write_png


def drop_on(target, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPoint(target.width() // 2, target.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    QApplication.sendEvent(target, QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                              Qt.KeyboardModifier.NoModifier))
    return enter.isAccepted()


def test_export_a_selection_writes_pngs_with_prompt_and_seed_inside(qtbot, window, tmp_path):
    w = window
    w.editor.seed.setValue(777)
    w.editor.seed_lock.setChecked(True)
    generate(qtbot, w, "a cat wearing a yellow hat", count=3)
    view = w.gallery.view
    for row in (0, 2):
        view.selectionModel().select(w.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    picked = {w.model.record(0).id, w.model.record(2).id}
    assert w.actions_["export"] in w.menuBar().actions()[0].menu().actions()  # File → Export…
    w.actions_["export"].trigger()
    dlg = w.export_dialog
    assert dlg is not None and dlg.selected_radio.isChecked() and dlg.selected_radio.text() == "The 2 selected images"
    assert "3 images in the gallery" in dlg.all_radio.text()
    dlg.folder.setText(str(tmp_path / "out"))
    dlg.template.setText("{prompt:12}_{seed}")
    first = w.model.record(0)
    assert dlg.preview.text() == f"First file: a-cat-wearin_{first.seed}.png"
    dlg.template.setText("{nope}")
    assert "Unknown field" in dlg.preview.text() and not dlg.export_button.isEnabled()
    dlg.template.setText("{prompt:12}_{seed}")
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=15_000)
    assert w.message_bar.text.startswith("Exported 2 images to") and w.message_bar.button("Open folder")
    files = sorted((tmp_path / "out").glob("*.png"))
    assert len(files) == 2 and (tmp_path / "out" / "metadata.jsonl").is_file()
    seeds = set()
    for f in files:
        with Image.open(f) as img:
            text = img.text["parameters"]
        assert text.startswith("a cat wearing a yellow hat\n")
        seeds.add(int(text.split("Seed: ")[1].split(",")[0]))
    assert seeds == {r.seed for r in w.model.records() if r.id in picked}
    assert w.gui.get("export/template") == "{prompt:12}_{seed}"  # remembered for the next export


def test_an_exported_png_dropped_on_the_prompt_editor_fills_it(qtbot, window, tmp_path):
    w = window
    svc = w.ctx.service
    r = svc.generate(GenerationRequest(prompt="a purple nebula, wide field", count=1, seed=31337,
                                       aspect_ratio="IMAGE_ASPECT_RATIO_PORTRAIT"))
    (exported,) = Exporter(svc).export(tmp_path, image_ids=[r.record.images[0].id]).files
    w.editor.set_text("something else")
    assert not w.editor.seed_lock.isChecked()
    assert drop_on(w.editor.prompt.viewport(), exported.path)
    qtbot.waitUntil(lambda: w.editor.text() == "a purple nebula, wide field", timeout=10_000)
    assert w.editor.seed.value() == r.record.images[0].seed and w.editor.seed_lock.isChecked()
    assert w.editor.aspect.currentData() == "IMAGE_ASPECT_RATIO_PORTRAIT"
    assert w.editor.model.currentData() == "IMAGEN_3_5"
    assert "seed" in w.editor.status.text() and exported.path.name in w.editor.status.text()

    plain = write_png(tmp_path / "plain.png")
    assert drop_on(w.editor, plain)  # anywhere on the editor, not only the text box
    qtbot.waitUntil(lambda: "carries no prompt" in w.editor.status.text(), timeout=10_000)
    assert w.editor.text() == "a purple nebula, wide field"  # untouched
    settle(qtbot, w)


def test_web_import_brings_the_seeded_library_into_the_gallery(qtbot, make_window, make_service, standin):
    token = f"tok-{uuid.uuid4().hex[:12]}"
    email = f"{token}@example.com"
    standin.add_account(token, email, "Library Owner")
    standin.seed_library(email, 5, ["a watercolour harbour", "a snowy owl"])
    svc = make_service()
    svc.sign_in(f"{SESSION_COOKIE_NAMES[0]}={token}")
    w = make_window(factory=lambda _demo, s=svc: s)
    arrived: list[int] = []
    w.actions_["import_web"].trigger()
    dlg = w.import_dialog
    dlg.image_imported.connect(lambda rec: arrived.append(w.model.rowCount()))
    settle(qtbot, w)
    assert not dlg.running and dlg.start_button.isVisible()  # it asks first (issue 11)
    assert dlg.new_only.isChecked() and dlg.limit.value() == 200
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.running and not dlg.options.isVisible()
    qtbot.waitUntil(lambda: not dlg.running, timeout=20_000)
    settle(qtbot, w)
    assert arrived == [1, 2, 3, 4, 5]  # each image was in the gallery as it arrived
    assert w.model.rowCount() == 5
    assert {w.model.record(i).prompt.rsplit(" #", 1)[0] for i in range(5)} == {"a watercolour harbour",
                                                                               "a snowy owl"}
    assert w.message_bar.text.startswith("Import finished: 5 new image(s)")
    # after the import the gallery is in date order (newest first), as the library was
    dates = [w.model.record(i).created_at for i in range(5)]
    assert dates == sorted(dates, reverse=True)
