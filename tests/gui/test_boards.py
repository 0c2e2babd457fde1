"""Issue 14, boards in the window: make a board, drop thumbnails on it (the gallery's own drag data),
see the board's view, take an image off it, delete the board and keep the images; saved searches
round-trip through the sidebar; a board made in a terminal shows in an open window within a second."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QMenu

from gui.models.gallery_model import IMAGE_IDS_MIME
from tests.gui.helpers import fill_library, settle


def _ids(svc) -> list[int]:
    return [r.id for r in svc.gallery_page(limit=100, with_thumbnails=False)]


def _shown(w) -> list[int]:
    return [w.model.id_at(r) for r in range(w.model.rowCount())]


def _ready(qtbot, w, n: int) -> None:
    qtbot.waitUntil(lambda: not w.model.loading and w.model.counted and w.model.total == n
                    and w.model.rowCount() == n and w.worker.active == 0, timeout=15_000)


def _item_pos(w, kind: str, name: str) -> QPoint:
    tree = w.boards_sidebar.tree
    item = w.boards_sidebar.item_for(kind, name)
    assert item is not None, (kind, name, w.boards_sidebar.names(kind))
    tree.scrollToItem(item)
    return tree.visualItemRect(item).center()


def _click_item(qtbot, w, kind: str, name: str) -> None:
    qtbot.mouseClick(w.boards_sidebar.tree.viewport(), Qt.MouseButton.LeftButton, pos=_item_pos(w, kind, name))


def _name_it(qtbot, w, name: str) -> None:
    dlg = w.boards.name_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.setTextValue(name)
    dlg.accept()


def _drop_on_board(w, board: str, rows: list[int]) -> bool:
    """Drop the gallery's own drag data for ``rows`` on a board of the sidebar, as Qt delivers a drop."""
    mime = w.model.mimeData([w.model.index(r) for r in rows])
    assert mime is not None and mime.hasFormat(IMAGE_IDS_MIME)
    tree = w.boards_sidebar.tree
    pos = QPointF(_item_pos(w, "board", board))
    move = QDragMoveEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    tree.dragMoveEvent(move)
    assert move.isAccepted()  # the board takes them (and nothing else in the list does)
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    tree.dropEvent(drop)
    return drop.isAccepted()


def test_make_a_board_drop_two_images_see_it_and_delete_it_keeping_the_images(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 16)
    ids = _ids(svc)
    w = make_window()
    _ready(qtbot, w, 16)
    sidebar = w.boards_sidebar

    qtbot.mouseClick(sidebar.new_board_button, Qt.MouseButton.LeftButton)
    _name_it(qtbot, w, "Sea picks")
    qtbot.waitUntil(lambda: sidebar.names("board") == ["Sea picks"], timeout=10_000)
    assert sidebar.count_of("Sea picks") == 0

    # A drop on the section header is refused; on the board it adds the two images.
    w.gallery.select_ids([ids[1], ids[3]])
    assert _drop_on_board(w, "Sea picks", [1, 3])
    qtbot.waitUntil(lambda: sidebar.count_of("Sea picks") == 2, timeout=10_000)
    assert sorted(r.id for r in svc.gallery_page(filter='board:"Sea picks"', with_thumbnails=False)) \
        == sorted([ids[1], ids[3]])
    assert "2 images added to “Sea picks”." in w.statusBar().currentMessage()

    # The board's view: the gallery shows its two images, the chip names it.
    _click_item(qtbot, w, "board", "Sea picks")
    _ready(qtbot, w, 2)
    assert sorted(_shown(w)) == sorted([ids[1], ids[3]])
    assert w.gallery.scope == ("board", "Sea picks")
    assert w.gallery.scope_bar.isVisible() and w.gallery.scope_bar.text() == "Board “Sea picks”"
    assert w.gallery.count_label.text() == "2 images"

    # The context menu adds the selection to a board ("Add to board ▸"), from all images too.
    w.gallery.select_ids([ids[3]])
    w.boards.remove_action.trigger()  # remove from the board shown: it leaves the view, not the library
    qtbot.waitUntil(lambda: _shown(w) == [ids[1]] and sidebar.count_of("Sea picks") == 1, timeout=10_000)
    assert w.history.stack.undoText() == "Take 1 image off “Sea picks”"
    w.actions_["undo"].trigger()  # Ctrl+Z puts it back on the board
    qtbot.waitUntil(lambda: sorted(_shown(w)) == sorted([ids[1], ids[3]]) and sidebar.count_of("Sea picks") == 2,
                    timeout=10_000)
    w.gallery.select_ids([ids[3]])
    w.boards.remove_action.trigger()
    qtbot.waitUntil(lambda: _shown(w) == [ids[1]] and sidebar.count_of("Sea picks") == 1, timeout=10_000)

    qtbot.mouseClick(w.gallery.scope_bar.close_button, Qt.MouseButton.LeftButton)  # back to all images
    _ready(qtbot, w, 16)
    assert not w.gallery.scope_bar.isVisible() and sidebar.current() == ("all", "")
    w.gallery.select_ids([ids[5], ids[6]])
    menu = QMenu(w)
    w.boards.extend_gallery_menu(menu)
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None and "board" in a.text())
    next(a for a in sub.actions() if a.text() == "Sea picks").trigger()
    qtbot.waitUntil(lambda: sidebar.count_of("Sea picks") == 3, timeout=10_000)

    # Delete the board (after asking): the images stay, in the gallery and in the database.
    _click_item(qtbot, w, "board", "Sea picks")
    _ready(qtbot, w, 3)
    w.boards.delete_board("Sea picks")
    box = w.boards.confirm_box
    assert box is not None and "stay in your library" in box.informativeText()
    delete = next(b for b in box.buttons() if b.text() == "Delete board")
    qtbot.mouseClick(delete, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sidebar.names("board") == [], timeout=10_000)
    assert w.gallery.scope == ("", "")
    _ready(qtbot, w, 16)
    assert svc.count_images() == 16
    settle(qtbot, w)


def test_a_saved_search_round_trips_through_the_sidebar(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 16)
    ids = _ids(svc)
    svc.library.add_tags(ids[2:5], ["sea"])
    svc.library.set_rating([ids[4]], 5)
    w = make_window()
    _ready(qtbot, w, 16)
    sidebar = w.boards_sidebar
    assert not sidebar.save_search_button.isEnabled()  # nothing to save yet

    w.gallery.set_search_text("tag:sea")
    w.gallery.set_sort_order("rating")
    _ready(qtbot, w, 3)
    assert sidebar.save_search_button.isEnabled()
    qtbot.mouseClick(sidebar.save_search_button, Qt.MouseButton.LeftButton)
    _name_it(qtbot, w, "Sea, best first")
    qtbot.waitUntil(lambda: sidebar.names("search") == ["Sea, best first"], timeout=10_000)
    saved = svc.library.saved_search("Sea, best first")
    assert (saved.filter, saved.sort) == ("tag:sea", "rating")

    w.gallery.set_search_text("")
    w.gallery.set_sort_order("newest")
    _ready(qtbot, w, 16)
    _click_item(qtbot, w, "search", "Sea, best first")
    _ready(qtbot, w, 3)
    assert w.gallery.search.text() == "tag:sea" and w.gallery.sort_order() == "rating"
    assert _shown(w)[0] == ids[4]  # the five stars first
    assert sidebar.current() == ("search", "Sea, best first")

    w.boards.delete_search("Sea, best first")
    qtbot.waitUntil(lambda: sidebar.names("search") == [], timeout=10_000)
    assert svc.library.saved_searches() == []
    settle(qtbot, w)


def test_a_board_made_in_a_terminal_appears_in_the_sidebar_within_a_second(qtbot, make_window, make_service, cli):
    fill_library(make_service(), 8)
    w = make_window()
    qtbot.waitUntil(lambda: w.changes.listening and w.changes.mode == "listen", timeout=15_000)
    _ready(qtbot, w, 8)
    first = w.model.id_at(0)
    r = cli("board", "create", "From the terminal")
    assert r.returncode == 0, r.stderr
    start = time.monotonic()
    qtbot.waitUntil(lambda: "From the terminal" in w.boards_sidebar.names("board"), timeout=1000)
    assert time.monotonic() - start < 1.0
    r = cli("board", "add", "From the terminal", str(first))
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: w.boards_sidebar.count_of("From the terminal") == 1, timeout=1000)

    # With the board's view open, an image the terminal puts on it comes in, one it takes off goes.
    _click_item(qtbot, w, "board", "From the terminal")
    _ready(qtbot, w, 1)
    other = w.model.id_at(0)
    assert other == first
    second = make_service().gallery_page(limit=3, with_thumbnails=False)[2].id
    r = cli("board", "add", "From the terminal", str(second))
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: w.model.row_of(second) is not None and w.model.total == 2, timeout=1000)
    r = cli("board", "remove", "From the terminal", str(first))
    assert r.returncode == 0, r.stderr
    qtbot.waitUntil(lambda: w.model.row_of(first) is None and w.model.total == 1, timeout=1000)
    settle(qtbot, w)


def test_export_all_from_a_board_view_writes_the_board_only(qtbot, make_window, make_service, tmp_path):
    svc = make_service()
    fill_library(svc, 16)
    ids = _ids(svc)
    svc.library.add_to_board("Print these", ids[2:5], create=True)
    w = make_window()
    _ready(qtbot, w, 16)
    qtbot.waitUntil(lambda: w.boards_sidebar.names("board") == ["Print these"], timeout=10_000)
    _click_item(qtbot, w, "board", "Print these")
    _ready(qtbot, w, 3)
    w.gallery.view.clearSelection()
    w.actions_["export"].trigger()
    dlg = w.export_dialog
    assert dlg is not None and dlg.all_radio.isChecked()
    assert dlg.all_radio.text() == 'All 3 images matching “board:"Print these"”'
    dlg.folder.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=15_000)
    assert w.message_bar.text.startswith("Exported 3 images to"), w.message_bar.text
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    settle(qtbot, w)


def test_rename_a_board_from_its_menu_while_it_is_shown_and_delete_it_with_the_key(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 8)
    ids = _ids(svc)
    svc.library.add_to_board("Drafts", ids[:2], create=True)
    w = make_window()
    _ready(qtbot, w, 8)
    qtbot.waitUntil(lambda: w.boards_sidebar.names("board") == ["Drafts"], timeout=10_000)
    _click_item(qtbot, w, "board", "Drafts")
    _ready(qtbot, w, 2)
    w.boards.ask_rename_board("Drafts")
    _name_it(qtbot, w, "Keepers")
    qtbot.waitUntil(lambda: w.boards_sidebar.names("board") == ["Keepers"], timeout=10_000)
    assert w.gallery.scope == ("board", "Keepers") and w.gallery.scope_bar.text() == "Board “Keepers”"
    _ready(qtbot, w, 2)  # the view follows the new name
    assert w.boards_sidebar.current() == ("board", "Keepers")

    # A name the library refuses (far too long) says why and changes nothing.
    w.boards.rename_board("Keepers", "x" * 5000)
    qtbot.waitUntil(lambda: w.message_bar.text != "", timeout=10_000)
    assert "characters long; the limit is" in w.message_bar.text, w.message_bar.text
    assert [b.name for b in svc.library.boards()] == ["Keepers"]

    tree = w.boards_sidebar.tree
    tree.setFocus()
    tree.setCurrentItem(w.boards_sidebar.item_for("board", "Keepers"))
    qtbot.keyClick(tree, Qt.Key.Key_Delete)  # asks first
    box = w.boards.confirm_box
    assert box is not None and box.isVisible() and "Keepers" in box.text()
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == "Delete board"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.boards_sidebar.names("board") == [], timeout=10_000)
    _ready(qtbot, w, 8)  # back to all images, every one still there
    assert svc.count_images() == 8
    settle(qtbot, w)
