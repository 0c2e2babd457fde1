"""Issue 14, finding: the gallery's search box speaks the filter language (a malformed filter says
what is wrong and where, and the gallery keeps what it showed), and the sort chooser orders the
rows by date or rating, the selection following the image (issue 11)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.helpers import fill_library, settle


def _ids(svc) -> list[int]:
    """The library's image ids, newest first."""
    return [r.id for r in svc.gallery_page(limit=100, with_thumbnails=False)]


def _shown(w) -> list[int]:
    return [w.model.id_at(r) for r in range(w.model.rowCount())]


def test_a_filter_typed_in_the_box_narrows_the_gallery_and_a_bad_one_keeps_it(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 16)
    ids = _ids(svc)
    svc.library.add_tags(ids[2:5], ["sea"])
    svc.library.set_rating([ids[3]], 5)
    w = make_window()
    qtbot.waitUntil(lambda: w.model.counted and w.model.rowCount() == 16, timeout=15_000)
    box = w.gallery.search

    qtbot.keyClicks(box, "tag:sea")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.total == 3, timeout=10_000)
    assert sorted(_shown(w)) == sorted(ids[2:5])
    assert w.gallery.count_label.text() == "3 images found"
    assert not w.gallery.filter_error.isVisible()

    qtbot.keyClicks(box, " stars:>=4")  # AND
    qtbot.waitUntil(lambda: not w.model.loading and w.model.total == 1, timeout=10_000)
    assert _shown(w) == [ids[3]]

    # A filter that cannot be read: the sentence under the box, the gallery as it was.
    box.setText("tag:sea stars:>=9")
    assert w.gallery.filter_error.isVisible()
    assert "stars: goes from 0 to 5, not 9" in w.gallery.filter_error.text()
    assert box.property("invalid") is True
    box.setCursorPosition(0)
    qtbot.keyClick(box, Qt.Key.Key_Return)  # Enter: the cursor goes to the problem
    assert box.cursorPosition() == len("tag:sea stars:") + 1 - 1
    qtbot.wait(400)  # past the typing pause: nothing was asked of the database
    settle(qtbot, w)
    assert _shown(w) == [ids[3]]
    assert w.model.filter_text == "tag:sea stars:>=4"
    assert w.message_bar.text == ""  # no error shown as a failure

    box.setText("tag:sea (oops")
    assert 'never closed' in w.gallery.filter_error.text()
    box.setText("prompt number")  # plain words are free text of the language
    assert not w.gallery.filter_error.isVisible()
    assert box.property("invalid") is False
    qtbot.waitUntil(lambda: not w.model.loading and w.model.total == 16, timeout=10_000)

    w.gallery.set_search_text("tag:sea")  # what a click on a tag does
    qtbot.waitUntil(lambda: not w.model.loading and w.model.total == 3, timeout=10_000)
    assert box.text() == "tag:sea"
    settle(qtbot, w)


def test_sort_by_rating_and_oldest_orders_the_rows_and_the_selection_follows(qtbot, make_window, make_service):
    svc = make_service()
    fill_library(svc, 16)
    ids = _ids(svc)  # newest first
    svc.library.set_rating([ids[10]], 5)
    svc.library.set_rating([ids[4], ids[12]], 3)
    w = make_window()
    qtbot.waitUntil(lambda: w.model.counted and w.model.rowCount() == 16, timeout=15_000)
    chosen = ids[7]
    w.gallery.select_ids([chosen])

    w.gallery.set_sort_order("rating")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.counted and w.model.exhausted, timeout=10_000)
    unrated = [i for i in ids if i not in (ids[10], ids[4], ids[12])]
    assert _shown(w) == [ids[10], ids[4], ids[12], *unrated]
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen])
    assert w.details.record is not None and w.details.record.id == chosen

    # Stars given while sorted by rating: the image moves up, still selected.
    w.ctx.op(lambda s: s.library.set_rating([chosen], 4))
    qtbot.waitUntil(lambda: w.model.row_of(chosen) == 1, timeout=10_000)
    assert _shown(w)[:4] == [ids[10], chosen, ids[4], ids[12]]
    assert w.gallery.selected_ids() == [chosen]
    assert w.gallery.view.selected_ids() == [chosen]

    w.gallery.set_sort_order("oldest")
    qtbot.waitUntil(lambda: not w.model.loading and w.model.counted and w.model.exhausted, timeout=10_000)
    assert _shown(w) == list(reversed(ids))
    qtbot.waitUntil(lambda: w.gallery.view.selected_ids() == [chosen])

    w.gallery.set_sort_order("newest")
    qtbot.waitUntil(lambda: not w.model.loading and _shown(w) == ids, timeout=10_000)
    settle(qtbot, w)


def test_the_end_of_a_deep_library_is_one_page_away_in_every_order(qtbot, make_window, make_service):
    """The sparse index (Service.gallery_anchors) in the order shown: End in an oldest-first or
    rating-sorted library of 1,200 reads the last page, not the eight before it."""
    svc = make_service()
    fill_library(svc, 1200)
    ids = [r.id for r in svc.gallery_page(limit=1200, with_thumbnails=False)]  # newest first
    svc.library.set_rating(ids[600:603], 5)
    w = make_window()
    qtbot.waitUntil(lambda: w.model.counted and w.model.has_anchors, timeout=15_000)
    for sort, last, first in (("oldest", ids[0], ids[-1]), ("rating", ids[-1], ids[600])):
        w.gallery.set_sort_order(sort)
        qtbot.waitUntil(lambda: w.model.counted and w.model.has_anchors and not w.model.loading
                        and w.worker.active == 0, timeout=15_000)
        assert w.model.id_at(0) == first, sort
        before = w.model.pages_read
        end = w.model.rowCount() - 1
        w.model.load_rows(end, end)
        qtbot.waitUntil(lambda end=end: w.model.is_loaded(end), timeout=10_000)
        assert w.model.id_at(end) == last, sort
        assert w.model.pages_read - before <= 2, (sort, w.model.pages_read - before)
        mid = 700
        w.model.load_rows(mid, mid)
        qtbot.waitUntil(lambda mid=mid: w.model.is_loaded(mid), timeout=10_000)
        expected = svc.gallery_page(limit=mid + 1, with_thumbnails=False, sort=sort)[mid].id
        assert w.model.id_at(mid) == expected, sort
    settle(qtbot, w)
