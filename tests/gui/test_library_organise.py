"""Issue 14, organising in the GUI: tags on a selection (chips, autocomplete, the tag list with counts,
rename and merge), stars from the keys 0–5, a note, and a terminal's tag showing in an open window.
Everything is read back from the database through a second service, as another program would."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from tests.gui.helpers import fill_library, settle
from tests.gui.test_selection import click_row


def shortcut_text(w) -> str:
    from PySide6.QtWidgets import QWidget

    w.actions_["shortcuts"].trigger()
    return w.shortcuts_window.findChild(QWidget, "shortcutList").toPlainText()


def _ready(qtbot, make_window, make_service, n: int = 8):
    svc = make_service()
    fill_library(svc, n)
    w = make_window()
    qtbot.waitUntil(lambda: w.model.counted and w.model.rowCount() == n, timeout=15_000)
    return w, svc


def _select_rows(qtbot, w, rows: list[int]) -> list[int]:
    """Click the first row, Ctrl+click the others (as a user selects)."""
    v = w.gallery.view
    for k, row in enumerate(rows):
        idx = w.model.index(row)
        v.scrollTo(idx)
        mods = Qt.KeyboardModifier.ControlModifier if k else Qt.KeyboardModifier.NoModifier
        qtbot.mouseClick(v.viewport(), Qt.MouseButton.LeftButton, mods, v.visualRect(idx).center())
    ids = [w.model.id_at(r) for r in rows]
    qtbot.waitUntil(lambda: sorted(w.gallery.selected_ids()) == sorted(ids))
    return ids


def _answer(answers: list[Callable[[object], bool]]) -> None:
    """Answer the modal dialogs that open next, in order (an input dialog, then a confirmation)."""

    def look() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is not None and answers and answers[0](dlg):
            answers.pop(0)
        if answers:
            QTimer.singleShot(20, look)

    QTimer.singleShot(0, look)


def _text(value: str) -> Callable[[object], bool]:
    def act(dlg: object) -> bool:
        if not isinstance(dlg, QInputDialog):
            return False
        dlg.setTextValue(value)
        dlg.accept()
        return True
    return act


def _yes(dlg: object) -> bool:
    if not isinstance(dlg, QMessageBox):
        return False
    dlg.button(QMessageBox.StandardButton.Yes).click()
    return True


def test_tag_a_selection_of_two_then_the_tag_list_counts_them(qtbot, make_window, make_service):
    w, svc = _ready(qtbot, make_window, make_service)
    a, b = _select_rows(qtbot, w, [1, 3])
    editor = w.details.labels
    assert editor.isVisible() and editor.entry.placeholderText() == "Tag all 2…"
    editor.entry.setFocus()
    QTest.keyClicks(editor.entry, "sea, evening")
    QTest.keyClick(editor.entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sorted(editor.chip_names()) == ["evening", "sea"], timeout=5000)
    assert editor.entry.text() == ""
    labels = svc.library.labels([a, b])
    assert sorted(labels[a].tags) == sorted(labels[b].tags) == ["evening", "sea"]
    # Ctrl+Z takes them off again, Ctrl+Shift+Z puts them back.
    w.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: editor.chip_names() == [] and svc.library.labels([a])[a].tags == (), timeout=5000)
    w.actions_["redo"].trigger()
    qtbot.waitUntil(lambda: sorted(editor.chip_names()) == ["evening", "sea"], timeout=5000)

    # A tag that cannot be is refused where it was typed, and the text stays to be corrected.
    QTest.keyClicks(editor.entry, "x" * 300)
    QTest.keyClick(editor.entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: editor.error.isVisible(), timeout=5000)
    assert editor.entry.text() == "x" * 300 and "long" in editor.error.text()
    assert sorted(svc.library.labels([a])[a].tags) == ["evening", "sea"]
    editor.entry.clear()

    # Autocomplete from the tags in use, on the worker: typing "ev" offers "evening".
    _select_rows(qtbot, w, [5])
    qtbot.waitUntil(lambda: editor.ids == [w.model.id_at(5)] and editor.no_tags.isVisible())
    editor.entry.setFocus()
    QTest.keyClicks(editor.entry, "ev")
    offered = editor.completer.completionModel()
    qtbot.waitUntil(lambda: editor.completer.popup().isVisible() and editor.completions.stringList() == ["evening"]
                    and [offered.index(r, 0).data() for r in range(offered.rowCount())] == ["evening"], timeout=5000)
    editor.entry.clear()

    w.library.actions["tag_list"].trigger()
    d = w.library.tag_dialog
    qtbot.waitUntil(lambda: d.isVisible() and d.count_of("sea") == 2 and d.count_of("evening") == 2)
    assert d.summary.text() == "2 tags in use"

    # A tag taken off one image of the two: its chip goes, the list counts 1, and Ctrl+Z puts it back.
    _select_rows(qtbot, w, [1])
    qtbot.waitUntil(lambda: sorted(editor.chip_names()) == ["evening", "sea"])
    qtbot.mouseClick(editor.chip("sea").close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.chip_names() == ["evening"])
    qtbot.waitUntil(lambda: d.count_of("sea") == 1)
    assert "sea" in w.actions_["undo"].text()
    w.actions_["undo"].trigger()
    qtbot.waitUntil(lambda: sorted(editor.chip_names()) == ["evening", "sea"])
    qtbot.waitUntil(lambda: d.count_of("sea") == 2)
    assert svc.library.labels([a])[a].tags.count("sea") == 1
    settle(qtbot, w)


def test_rename_and_merge_through_the_tag_list(qtbot, make_window, make_service):
    w, svc = _ready(qtbot, make_window, make_service)
    ids = [w.model.id_at(r) for r in range(4)]
    svc.library.add_tags(ids[:1], ["sea"])
    svc.library.add_tags(ids[1:3], ["ocean"])
    svc.library.add_tags(ids[3:], ["sky"])
    w.library.open_tag_list()
    d = w.library.tag_dialog
    qtbot.waitUntil(lambda: d.count_of("ocean") == 2 and d.count_of("sea") == 1)

    assert d.select_name("sea")
    _answer([_text("seaside")])
    qtbot.mouseClick(d.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.count_of("seaside") == 1 and d.count_of("sea") is None, timeout=5000)
    qtbot.waitUntil(lambda: d.selected_names() == ["seaside"])  # the renamed tag stays selected
    assert d.message.text() == "'sea' is now 'seaside' on 1 image."

    # Renamed into a name in use: the dialog says it merges, and after Yes the two are one.
    assert d.select_name("seaside")
    _answer([_text("Ocean"), _yes])
    qtbot.mouseClick(d.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.count_of("ocean") == 3 and d.count_of("seaside") is None, timeout=5000)
    assert {t.name.casefold(): t.count for t in svc.library.tags()} == {"ocean": 3, "sky": 1}

    # Merge two selected tags into one of them.
    d.select_name("ocean")
    d.view.selectionModel().select(d.proxy.match(d.proxy.index(0, 0), Qt.ItemDataRole.DisplayRole, "sky")[0],
                                   d.view.selectionModel().SelectionFlag.Select
                                   | d.view.selectionModel().SelectionFlag.Rows)
    assert sorted(d.selected_names()) == ["ocean", "sky"]
    assert d.merge_button.isEnabled()
    _answer([_text("sky")])
    qtbot.mouseClick(d.merge_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.count_of("sky") == 4 and d.count_of("ocean") is None, timeout=5000)

    # A name that cannot be: the core's sentence in a warning, and nothing changes.
    warned: list[str] = []

    def ok(dlg: object) -> bool:
        if not isinstance(dlg, QMessageBox):
            return False
        warned.append(dlg.text())
        dlg.button(QMessageBox.StandardButton.Ok).click()
        return True

    d.select_name("sky")
    _answer([_text("sky, sea"), ok])
    qtbot.mouseClick(d.rename_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(warned), timeout=5000)
    assert "comma" in warned[0]
    assert {t.name for t in svc.library.tags()} == {"sky"}

    # Double-click a tag: the gallery's search box gets its filter.
    d.select_name("sky")
    d._show()
    assert w.gallery.search.text() == 'tag:sky'
    qtbot.waitUntil(lambda: w.model.counted and w.model.total == 4 and w.model.rowCount() == 4, timeout=5000)
    settle(qtbot, w)


def test_keys_3_then_0_set_and_clear_the_stars(qtbot, make_window, make_service):
    w, svc = _ready(qtbot, make_window, make_service)
    svc.library.set_rating([w.model.id_at(2)], 1)
    ids = _select_rows(qtbot, w, [0, 2])
    stars = w.details.labels.stars
    qtbot.waitUntil(lambda: w.details.labels.rating_head.text() == "Rating (mixed)" and stars.value is None)
    w.gallery.view.setFocus()
    QTest.keyClick(w.gallery.view, Qt.Key.Key_3)
    qtbot.waitUntil(lambda: all(w.model.record_by_id(i).rating == 3 for i in ids), timeout=5000)
    qtbot.waitUntil(lambda: stars.value == 3)
    assert w.statusBar().currentMessage() == "2 images now have 3 stars."
    assert w.actions_["undo"].text() == "&Undo Rate 2 images 3 stars"
    assert [r for r in svc.library.labels(ids).values() if r.rating == 3].__len__() == 2
    assert w.model.record_by_id(w.model.id_at(1)).rating == 0  # not selected: not rated
    QTest.keyClick(w.gallery.view, Qt.Key.Key_0)
    qtbot.waitUntil(lambda: all(w.model.record_by_id(i).rating == 0 for i in ids), timeout=5000)
    qtbot.waitUntil(lambda: stars.value == 0)
    w.actions_["undo"].trigger()  # the stars come back
    qtbot.waitUntil(lambda: all(w.model.record_by_id(i).rating == 3 for i in ids), timeout=5000)

    # A star clicked in the details panel rates the selection too; the lit star again clears.
    qtbot.mouseClick(stars.buttons[4], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: {lab.rating for lab in svc.library.labels(ids).values()} == {5}, timeout=5000)
    qtbot.waitUntil(lambda: stars.value == 5)
    qtbot.mouseClick(stars.buttons[4], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: {lab.rating for lab in svc.library.labels(ids).values()} == {0}, timeout=5000)

    # Typing a digit in the prompt types it; it rates nothing.
    w.editor.prompt.setFocus()
    QTest.keyClick(w.editor.prompt, Qt.Key.Key_4)
    settle(qtbot, w)
    assert "4" in w.editor.text()
    assert "1 – 5 / 0" in shortcut_text(w)  # F1 lists the keys
    assert {lab.rating for lab in svc.library.labels(ids).values()} == {0}


def test_a_note_is_saved_when_the_field_is_left(qtbot, make_window, make_service, monkeypatch):
    w, svc = _ready(qtbot, make_window, make_service)
    (a,) = _select_rows(qtbot, w, [2])
    note = w.details.labels.note
    qtbot.waitUntil(note.isEnabled)
    note.setFocus()
    QTest.keyClicks(note, "keep for the poster")
    click_row(qtbot, w, 4)  # leaving the field (and the image) saves it
    qtbot.waitUntil(lambda: svc.library.note(a) == "keep for the poster", timeout=5000)
    click_row(qtbot, w, 2)
    qtbot.waitUntil(lambda: note.isEnabled() and note.toPlainText() == "keep for the poster", timeout=5000)

    # More images selected than the panel lists tags for (5,000; 2 here): it says so, and typing tags them all.
    from gui.controllers import library

    monkeypatch.setattr(library, "LABELS_MAX", 2)
    ids = _select_rows(qtbot, w, [0, 1, 3])
    editor = w.details.labels
    qtbot.waitUntil(lambda: editor.no_tags.isVisible() and "3 images are not listed" in editor.no_tags.text())
    editor.entry.setFocus()
    QTest.keyClicks(editor.entry, "batch")
    QTest.keyClick(editor.entry, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: all(lab.tags == ("batch",) for lab in svc.library.labels(ids).values()), timeout=5000)
    settle(qtbot, w)


def test_a_terminal_tag_shows_in_the_open_details_panel_within_a_second(qtbot, make_window, make_service, cli):
    w, _svc = _ready(qtbot, make_window, make_service)
    qtbot.waitUntil(lambda: w.changes.listening and w.changes.mode == "listen", timeout=15_000)
    (a,) = _select_rows(qtbot, w, [1])
    editor = w.details.labels
    qtbot.waitUntil(lambda: editor.no_tags.isVisible())
    w.library.open_tag_list()
    d = w.library.tag_dialog
    qtbot.waitUntil(lambda: d.summary.text().startswith("No tags yet"))
    r = cli("tag", "add", "golden hour", str(a))
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: editor.chip_names() == ["golden hour"], timeout=1000)
    qtbot.waitUntil(lambda: d.count_of("golden hour") == 1, timeout=1000)  # the open tag list too
    r = cli("rate", str(a), "2")
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: editor.stars.value == 2, timeout=1000)
    settle(qtbot, w)
