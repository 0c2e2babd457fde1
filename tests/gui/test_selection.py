"""Issue 11 §1: the image shown is the image acted on.

Select the 2nd thumbnail with the mouse, then let images arrive from everywhere they come from
(this window, the CLI, a queue run in a terminal, a web import), refresh, filter, and check
each time that the highlight, the details panel and the actions are all on that same image;
after a delete the selection moves to the neighbour.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from core.imagefx.protocol import SESSION_COOKIE_NAMES
from tests.gui.helpers import generate, settle


def click_row(qtbot, w, row: int) -> None:
    v = w.gallery.view
    idx = w.model.index(row)
    v.scrollTo(idx)
    qtbot.mouseClick(v.viewport(), Qt.MouseButton.LeftButton, pos=v.visualRect(idx).center())


def assert_on(w, image_id: int) -> None:
    """Highlight, selection, details panel and the window's current image all agree."""
    assert w.gallery.selected_ids() == [image_id]
    assert w.gallery.view.selected_ids() == [image_id]  # what is highlighted
    assert w.details.record is not None and w.details.record.id == image_id
    assert w.current() is not None and w.current().id == image_id
    assert w.model.id_at(w.gallery.view.currentIndex().row()) == image_id


def test_the_selected_image_stays_selected_and_acted_on_while_images_arrive(
        qtbot, make_window, make_service, standin, cli, tmp_path):
    token = f"tok-{uuid.uuid4().hex[:12]}"
    email = f"{token}@example.com"
    cookie = f"{SESSION_COOKIE_NAMES[0]}={token}"
    standin.add_account(token, email, "Selection Tester")
    standin.seed_library(email, 3, ["an old picture from the web"])
    svc = make_service()
    svc.sign_in(cookie)
    w = make_window(factory=lambda _demo, s=svc: s)
    generate(qtbot, w, "a red fox in snow", count=3)
    click_row(qtbot, w, 1)  # the 2nd thumbnail
    chosen = w.model.id_at(1)
    assert chosen is not None
    assert_on(w, chosen)

    # from this window
    generate(qtbot, w, "a lighthouse in fog", count=2)
    assert w.model.row_of(chosen) == 3
    assert_on(w, chosen)

    # from the CLI in a terminal
    done = cli("generate", "-p", "a bowl of ramen", "-n", "2", "-c", cookie, "-d", str(tmp_path))
    assert done.returncode == 0, done.stderr
    qtbot.waitUntil(lambda: w.model.rowCount() == 7, timeout=10_000)
    assert_on(w, chosen)

    # a queue run in a terminal
    assert cli("queue", "add", "-p", "a paper kite", "-n", "2").returncode == 0
    ran = cli("queue", "run", "--delay", "0", env={"GOOGLE_COOKIE": cookie})
    assert ran.returncode == 0, ran.stderr
    qtbot.waitUntil(lambda: w.model.rowCount() == 9, timeout=10_000)
    assert_on(w, chosen)

    # a web import (older images: they land below, among and after the selected one's neighbours)
    w.actions_["import_web"].trigger()
    dlg = w.import_dialog
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running, timeout=20_000)
    qtbot.waitUntil(lambda: w.model.rowCount() == 12)
    assert_on(w, chosen)

    # refresh (F5) and a filter that still holds it
    w.actions_["refresh"].trigger()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 12)
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen])
    assert_on(w, chosen)
    w.gallery.search.setText("fox")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 3, timeout=5000)
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen])
    assert_on(w, chosen)
    w.gallery.search.clear()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 12, timeout=5000)
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen])
    assert_on(w, chosen)

    # every action acts on it
    rec = w.model.record_by_id(chosen)
    w.actions_["copy_prompt"].trigger()
    assert QGuiApplication.clipboard().text() == rec.prompt == "a red fox in snow"
    w.actions_["favorite"].trigger()
    qtbot.waitUntil(lambda: w.model.record_by_id(chosen).is_favorite)
    assert svc.image(chosen).is_favorite and sum(r.is_favorite for r in w.model.records()) == 1
    w.actions_["remix"].trigger()
    assert w.editor.seed.value() == rec.seed
    qtbot.waitUntil(lambda: w.images.get(chosen) is not None)
    sel_indexes = w.gallery.view.selectionModel().selectedIndexes()
    mime = w.model.mimeData(sel_indexes)  # what a drag carries
    assert mime is not None and len(mime.urls()) == 1
    assert export_name_of(w, rec) in mime.urls()[0].toLocalFile()
    saved: list = []
    w.save_images(w.selected(), tmp_path / "saved", done=saved.extend)
    qtbot.waitUntil(lambda: len(saved) == 1)
    assert saved[0].name == Path(mime.urls()[0].toLocalFile()).name  # the same image, named alike

    # delete (to the Trash): the selection moves to the neighbour (the next older image)
    row = w.model.row_of(chosen)
    neighbour = w.model.id_at(row + 1)
    w.actions_["delete"].trigger()
    qtbot.waitUntil(lambda: w.model.row_of(chosen) is None)
    assert_on(w, neighbour)
    assert [r.id for r in svc.gallery_page(trash=True, with_thumbnails=False)] == [chosen]
    assert w.model.record_by_id(neighbour).prompt == "a red fox in snow"
    w.activateWindow()  # the import dialog had the focus last
    qtbot.waitUntil(w.isActiveWindow)
    qtbot.keyClick(w.gallery.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: it is back, selected
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen], timeout=5000)
    assert_on(w, chosen)
    assert w.model.row_of(chosen) == row

    # a filter that no longer holds the selected image: nothing is selected, the panel says so
    w.gallery.search.setText("ramen")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 2, timeout=5000)
    qtbot.waitUntil(lambda: w.gallery.selected_ids() == [])
    assert w.details.stack.currentIndex() == 0 and w.current() is None
    assert not w.actions_["delete"].isEnabled()
    settle(qtbot, w)


def export_name_of(w, rec) -> str:
    from core.export import file_name
    from gui import export

    return file_name(rec, template=export.template(w.gui)).rsplit(".", 1)[0]


def test_end_reaches_the_oldest_image_and_the_scrollbar_spans_the_library(qtbot, make_window, make_service):
    """Issue 11 §8: 2,000 images over two years; the scrollbar's end is the oldest image, reached
    with a few page reads, and the date scrubber says the month while dragging."""
    from datetime import UTC, datetime, timedelta

    from tests.gui.helpers import fill_library

    svc = make_service()
    start = datetime(2024, 1, 10, tzinfo=UTC)
    fill_library(svc, 2000, per_generation=8, start=start, step=timedelta(days=730 / 250))
    w = make_window(factory=lambda _d: svc)
    m, v = w.model, w.gallery.view
    qtbot.waitUntil(lambda: m.counted and m.has_anchors and not m.loading, timeout=10_000)
    assert m.rowCount() == 2000 and w.gallery.count_label.text() == "2,000 images"
    reads = m.pages_read

    sb = v.verticalScrollBar()
    sb.setSliderDown(True)  # a drag of the handle, to the very bottom
    sb.setValue(sb.maximum())
    assert v.scrubber.isVisible()
    assert v.scrubber.text() == f"{start.astimezone():%B %Y}"  # the oldest month, before any page is read
    sb.setSliderDown(False)
    last = m.rowCount() - 1
    qtbot.waitUntil(lambda: m.is_loaded(last), timeout=5000)
    oldest = m.record(last)
    assert oldest.created_at == start and oldest.id == min(r.id for r in m.records())
    assert m.pages_read - reads <= 2  # a jump, not a walk through every page
    assert not m.is_loaded(1000)  # the middle was never read

    # End from the top: the oldest image is selected and shown
    sb.setValue(0)
    v.setFocus()
    click_row(qtbot, w, 0)
    qtbot.keyClick(v, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: w.current() is not None and w.current().id == oldest.id, timeout=5000)
    assert w.details.record.id == oldest.id

    # a jump into the middle reads that page only, and its rows are in date order
    middle = 1234
    v.scrollTo(m.index(middle))
    qtbot.waitUntil(lambda: m.is_loaded(middle), timeout=5000)
    dates = [m.record(r).created_at for r in range(middle - 5, middle + 5) if m.is_loaded(r)]
    assert dates == sorted(dates, reverse=True) and len(dates) == 10
    settle(qtbot, w)
