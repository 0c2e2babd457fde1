"""Take the README screenshots from the running app, reproducibly.

    python tools/screenshots.py [--out docs/screenshots]

Runs the real app offscreen in offline-demo mode (the built-in stand-in server makes
the pictures; the window is labelled as a demo) on a fresh embedded database in a
temporary data directory, so it never touches your own library. It generates a few
prompts with fixed seeds, captions some files, signs in through the dialog, and saves:

- ``main-window.png``: the gallery full of images, one selected with its details;
- ``main-window-dark.png``: the same in the dark theme;
- ``caption-panel.png``: the caption panel with captions and one rejected file;
- ``sign-in.png``: the sign-in dialog after verifying (the cookie is not shown);
- ``message-bar.png``: a safety refusal in the message bar, the prompt kept;
- ``queue-panel.png``: the Queue tab mid-run: items done, one refused with Google's words,
  one waiting out a rate limit (with its countdown), the rest pending;
- ``trash.png``: the Trash view right after a delete (the message bar offers Undo);
- ``tag-editor.png``: the details panel's stars, tags (as chips) and note for one image;
- ``board-view.png``: a board's view (1280×800) with the boards and saved searches under the details;
- ``compare.png``, ``compare-slider.png``: two images of one generation compared side by side and
  with the slider, each with its parameters (what differs in bold).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    ("a lighthouse at dusk, warm orange light over a calm sea", "IMAGE_ASPECT_RATIO_LANDSCAPE", 4),
    ("a red fox curled up in fresh snow, soft morning light", "IMAGE_ASPECT_RATIO_SQUARE", 4),
    ("a purple nebula with bright young stars, wide-field astrophotography", "IMAGE_ASPECT_RATIO_LANDSCAPE", 4),
    ("a bowl of ramen on a wooden table, steam rising, top-down photo", "IMAGE_ASPECT_RATIO_SQUARE", 4),
    ("a green forest path after rain, moss and ferns", "IMAGE_ASPECT_RATIO_PORTRAIT", 4),
    ("a blue vintage car parked on a cobblestone street", "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", 4),
    ("an orange hot-air balloon over a patchwork of fields", "IMAGE_ASPECT_RATIO_LANDSCAPE", 4),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    data = Path(tempfile.mkdtemp(prefix="imagefx-shots-"))
    for var in ("GOOGLE_COOKIE", "DATABASE_URL", "DB_HOST", "IMAGEFX_DB", "IMAGEFX_LABS_URL", "IMAGEFX_API_URL",
                "IMAGEFX_CONFIG_DIR"):
        os.environ.pop(var, None)
    os.environ["IMAGEFX_DATA_DIR"] = str(data)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    try:
        return _shoot(out, data)
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)


def _shoot(out: Path, data: Path) -> int:
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from core.config import load_settings
    from core.imagefx.types import GenerationRequest
    from core.standin import DEMO_COOKIE
    from core.standin.images import render_image
    from gui import theme
    from gui.app import create_application
    from gui.widgets.main_window import MainWindow

    app = create_application()
    settings = load_settings()
    theme.apply(app, "light")
    w = MainWindow(demo=True, settings=settings)
    w.resize(1440, 900)
    w.main_splitter.setSizes([340, 1100])
    w.gallery_splitter.setSizes([760, 340])
    w.show()

    def pump(until: Callable[[], bool], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not get there in time")
            app.processEvents()
            time.sleep(0.01)
        for _ in range(30):
            app.processEvents()
            time.sleep(0.005)

    pump(lambda: w.ctx.connected and w.worker.active == 0)
    for i, (prompt, aspect, count) in enumerate(PROMPTS):
        w.editor.set_text(prompt)
        w.generate(GenerationRequest(prompt=prompt, count=count, model="IMAGEN_3_5", aspect_ratio=aspect,
                                     seed=1000 + 37 * i))
        pump(lambda: not w.generating)
        print(f"generated {count}: {prompt}", flush=True)
    w.message_bar.dismiss()

    # Main window: a gallery full of images, one selected, a prompt being written.
    w.editor.set_text("a red fox curled up in fresh snow, soft morning light, shallow depth of field")
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData("IMAGE_ASPECT_RATIO_SQUARE"))
    w.editor.count.setValue(4)
    w.editor.set_busy(False, "")
    row = 1  # in the top row: the newest generation
    w.gallery.view.setCurrentIndex(w.model.index(row))
    w.gallery.view.scrollToTop()
    rec = w.model.record(row)
    pump(lambda: w.images.get(rec.id) is not None and w.worker.active == 0)
    w.gallery.view.setFocus()
    w.grab().save(str(out / "main-window.png"))

    theme.apply(app, "dark")
    w.set_theme("dark", save=False)
    pump(lambda: True)
    w.grab().save(str(out / "main-window-dark.png"))
    theme.apply(app, "light")
    w.set_theme("light", save=False)

    _compare_view(w, pump, out)
    _queue_mid_run(w, pump, out)

    # A safety refusal: the message bar says what happened and keeps the prompt.
    svc = w.ctx.service
    assert svc is not None and svc._standin is not None
    svc._standin.fail("generate", "safety", times=2)
    w.editor.set_text("a forbidden scene")
    w.editor_generate()
    pump(lambda: not w.generating and w.message_bar.text != "")
    pump(lambda: True)
    w.grab().save(str(out / "message-bar.png"))
    w.message_bar.dismiss()
    w.editor.set_text("a red fox curled up in fresh snow, soft morning light, shallow depth of field")
    w.editor.set_busy(False, "")
    w.statusBar().clearMessage()

    # Caption panel: three pictures and a text file dropped at once.
    files = data / "to-caption"
    files.mkdir()
    paths = []
    for name, prompt, aspect in (("harbour.png", "a blue harbour at noon", "IMAGE_ASPECT_RATIO_LANDSCAPE"),
                                 ("sunflowers.png", "yellow sunflowers in a field", "IMAGE_ASPECT_RATIO_SQUARE"),
                                 ("notes.txt", "", ""),
                                 ("rose.png", "a red rose", "IMAGE_ASPECT_RATIO_PORTRAIT")):
        p = files / name
        if name.endswith(".txt"):
            p.write_text("shopping list: eggs, flour, milk")
        else:
            p.write_bytes(render_image(prompt, 7, 0, aspect, scale=0.5))
        paths.append(p)
    w.tabs.setCurrentIndex(1)
    w.captions.count.setValue(2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(w.captions.drop.width() // 2, w.captions.drop.height() // 2)
    QApplication.sendEvent(w.captions.drop, QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime,
                                                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(w.captions.drop, QDropEvent(pos, Qt.DropAction.CopyAction, mime,
                                                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    pump(lambda: not w.captions.busy and w.worker.active == 0)
    w.grab().save(str(out / "caption-panel.png"))
    w.tabs.setCurrentIndex(0)

    _trash_view(w, pump, out)
    _tag_editor(w, pump, out)
    _board_view(w, pump, out)

    # The viewer: full size, the image's parameters beside it (I), ←/→ to its neighbours.
    w.gallery.select_ids([w.model.id_at(1)])
    w.open_viewer()
    pump(lambda: w.viewer is not None and w.viewer.isVisible() and w.viewer.record is not None)
    viewer = w.viewer
    assert viewer is not None
    viewer.resize(1200, 720)
    viewer.show_info(True)
    pump(lambda: True)
    viewer.grab().save(str(out / "viewer.png"))
    viewer.close()

    # A small window (900×600): rows wrap, the details scroll, nothing is cut off.
    w.resize(900, 600)
    pump(lambda: True)
    w.grab().save(str(out / "small-window.png"))
    w.resize(1440, 900)
    pump(lambda: True)

    # The sign-in dialog after verifying: who is signed in, and no cookie on screen.
    w.open_sign_in()
    dlg = w.sign_in_dialog
    assert dlg is not None
    dlg.cookie.setPlainText(DEMO_COOKIE)
    dlg.verify()
    pump(lambda: dlg.card.isVisible() and w.worker.active == 0)
    dlg.adjustSize()
    pump(lambda: True)
    dlg.grab().save(str(out / "sign-in.png"))
    dlg.close()

    w.close()
    for name in ("main-window.png", "main-window-dark.png", "caption-panel.png", "sign-in.png", "message-bar.png",
                 "queue-panel.png", "trash.png", "viewer.png", "small-window.png", "tag-editor.png",
                 "board-view.png"):
        print(out / name)
    return 0


QUEUE_PROMPTS = [
    "a lighthouse on a rocky coast at dawn, watercolour",
    "a forbidden scene",  # the stand-in refuses it, as Google's safety filter would
    "a snowy owl on a birch branch, soft winter light",
    "a tiny cabin under the northern lights",
    "a bowl of fresh figs on a linen cloth, top-down photo",
    "a paper boat on a rain puddle, macro photo",
]


def _compare_view(w, pump, out: Path) -> None:  # noqa: ANN001 (MainWindow, the pump above)
    """Two lighthouses of one generation (different seeds) in the compare window, both modes."""
    rows = [r for r in range(w.model.rowCount()) if (rec := w.model.record(r)) is not None
            and rec.prompt.startswith("a lighthouse")][:2]
    pair = [w.model.record(r) for r in rows]
    cw = w.comparing.compare(pair)
    cw.resize(1200, 780)
    cw.splitter.setSizes([560, 220])
    pump(lambda: all(p.img.image is not None for p in cw.panes) and w.worker.active == 0)
    cw.grab().save(str(out / "compare.png"))
    cw.set_mode(1)
    cw.wipe.set_split(0.45)
    pump(lambda: True)
    cw.grab().save(str(out / "compare-slider.png"))
    cw.close()


def _queue_mid_run(w, pump, out: Path) -> None:  # noqa: ANN001 (MainWindow, the pump above)
    """The Queue tab mid-run: two done, one refused, one waiting out a rate limit, two pending."""
    from core.service.queue import ITEM_DONE, WAITING

    svc = w.ctx.service
    w.ctx.settings = w.ctx.settings.with_overrides(queue_delay=0.5)
    w.editor.count.setValue(2)
    w.queue.add_text("\n".join(QUEUE_PROMPTS), w._queue_options())
    pump(lambda: w.queue_panel.model.rowCount() == len(QUEUE_PROMPTS) and w.worker.active == 0)
    w.tabs.setCurrentIndex(2)
    waiting: list[object] = []

    def on_event(e) -> None:  # noqa: ANN001
        if e.kind == ITEM_DONE and e.item.prompt == QUEUE_PROMPTS[2]:
            svc._standin.fail("generate", "rate_limit", retry_after=40)  # the next item is told to wait
        elif e.kind == WAITING:
            waiting.append(e)

    w.queue.event.connect(on_event)
    w.queue.start()
    pump(lambda: bool(waiting))
    deadline = time.monotonic() + 2.2  # let the countdown tick
    pump(lambda: time.monotonic() > deadline)
    w.grab().save(str(out / "queue-panel.png"))
    w.queue.event.disconnect(on_event)
    w.queue.stop()  # the waiting item goes back to pending
    pump(lambda: not w.queue.active and w.worker.active == 0)
    w.message_bar.dismiss()
    w.statusBar().clearMessage()
    w.tabs.setCurrentIndex(0)


def _trash_view(w, pump, out: Path) -> None:  # noqa: ANN001 (MainWindow, the pump above)
    """Three images deleted (the message bar offers Undo), then the Trash view with them in it."""
    from PySide6.QtCore import QItemSelectionModel

    sm = w.gallery.view.selectionModel()
    sm.clearSelection()
    for row in (0, 1, 2):
        sm.select(w.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    w.delete_selected()
    pump(lambda: not w.history.busy and w.worker.active == 0)
    w.show_trash(True)
    pump(lambda: not w.model.loading and w.worker.active == 0 and w.model.rowCount() == 3)
    w.gallery.view.setCurrentIndex(w.model.index(0))
    rec = w.model.record(0)
    pump(lambda: w.images.get(rec.id) is not None and w.worker.active == 0)
    w.grab().save(str(out / "trash.png"))
    w.show_trash(False)
    w.history.stack.undo()  # back in the gallery for the shots that follow
    pump(lambda: not w.history.busy and w.worker.active == 0)
    w.message_bar.dismiss()
    w.statusBar().clearMessage()


TAGS = (((0, 1, 2, 3), "hot-air balloon, fields"), ((4, 5, 6, 7), "vintage car, street"),
        ((0, 1, 2, 3, 4, 5, 6, 7), "travel"), ((1, 2), "poster"))


def _tag_editor(w, pump, out: Path) -> None:  # noqa: ANN001 (MainWindow, the pump above)
    """Tags typed into the details panel for selections (as a user does), one image given 4 stars and a
    note; then that image's stars, tag chips and note, as the panel shows them."""
    editor = w.details.labels

    def select(rows: tuple[int, ...]) -> None:
        ids = [w.model.id_at(r) for r in rows]
        w.gallery.select_ids(ids)
        pump(lambda: editor.ids == ids and bool(editor.labels) and w.worker.active == 0)

    for rows, text in TAGS:
        select(rows)
        editor.entry.setText(text)
        editor.entry.returnPressed.emit()
        pump(lambda: not w.history.busy and w.worker.active == 0 and not editor.entry.text())
    select((1,))
    w.library.rate(4)
    editor.note.setPlainText("Print at A3 for the hallway; try a warmer crop.")
    editor.flush_note()
    pump(lambda: not w.history.busy and w.worker.active == 0 and editor.stars.value == 4)
    rec = w.model.record(1)
    pump(lambda: w.images.get(rec.id) is not None and w.worker.active == 0)
    w.details.body_scroll.ensureWidgetVisible(editor)
    pump(lambda: True)
    w.details.grab().save(str(out / "tag-editor.png"))
    w.statusBar().clearMessage()


def _board_view(w, pump, out: Path) -> None:  # noqa: ANN001 (MainWindow, the pump above)
    """Three boards and two saved searches made through the window's controller; one board shown
    (the strip above the grid names it), one of its images selected, the sidebar under the details."""
    boards = w.boards
    svc = w.ctx.service
    ids = [r.id for r in svc.gallery_page(limit=200, with_thumbnails=False)]
    for name, picked in (("Hallway prints", ids[0:3] + ids[8:11]), ("Sea and sky", ids[20:24]),
                         ("Ideas for the cookbook cover", ids[12:14])):
        boards.add_to_board(name, picked, create=True)
        pump(lambda: w.worker.active == 0)
    boards.save_search("Lighthouses, best first", "lighthouse stars:>=3", "rating")
    boards.save_search("Square ones", "aspect:square", "newest")
    pump(lambda: w.worker.active == 0 and len(w.boards_sidebar.names("search")) == 2
         and len(w.boards_sidebar.names("board")) == 3)
    w.resize(1280, 800)
    boards.show_board("Hallway prints")
    pump(lambda: w.model.counted and not w.model.loading and w.worker.active == 0)
    w.gallery.select_ids([w.model.id_at(1)])
    rec = w.model.record(1)
    pump(lambda: w.images.get(rec.id) is not None and w.worker.active == 0)
    w.statusBar().clearMessage()
    w.grab().save(str(out / "board-view.png"))
    boards.show_all()
    w.resize(1440, 900)
    pump(lambda: w.worker.active == 0)


if __name__ == "__main__":
    sys.exit(main())
