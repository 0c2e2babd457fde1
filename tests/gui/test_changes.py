"""Views refresh from change descriptors (AppContext.changes_applied), whoever made the change."""

from __future__ import annotations

from core.changes import ChangeKind, Changes
from tests.gui.helpers import generate, settle


def test_changes_made_elsewhere_reach_the_gallery_through_the_hook(qtbot, window, make_service):
    """Another process's mutation, delivered as its JSON payload (as NOTIFY will), updates the
    gallery: a favourite shows its star, a deleted image leaves, a filter that no longer matches
    drops the row, and the descriptor of the window's own mutations reaches every listener."""
    w = window
    generate(qtbot, w, "a green heron", count=3)
    ids = [w.model.record(i).id for i in range(3)]
    heard: list[Changes] = []
    w.ctx.changes_applied.connect(heard.append)

    other = make_service()  # the CLI, or another window, on the same database
    fav = other.set_favorite([ids[1]], True)
    w.ctx.announce(Changes.from_json(fav.to_json()))
    qtbot.waitUntil(lambda: w.model.record(w.model.row_of(ids[1])).is_favorite)
    w.ctx.announce(Changes.from_json(other.delete_images([ids[2]]).to_json()))
    qtbot.waitUntil(lambda: w.model.row_of(ids[2]) is None)
    assert w.model.rowCount() == 2

    w.gallery.favorites.click()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 1)
    w.ctx.announce(other.set_favorite([ids[1]], False))  # no longer matches the filter
    qtbot.waitUntil(lambda: w.model.rowCount() == 0)

    w.gallery.favorites.click()
    qtbot.waitUntil(lambda: not w.model.loading and w.model.rowCount() == 2)
    w.gallery.view.setCurrentIndex(w.model.index(w.model.row_of(ids[0])))
    w.actions_["favorite"].trigger()  # this window's own mutation goes through the same hook
    qtbot.waitUntil(lambda: any(ChangeKind.FAVORITE in c and c.origin == w.ctx.service.origin for c in heard))
    qtbot.waitUntil(lambda: w.actions_["favorite"].text().replace("&", "") == "Remove from favourites")
    settle(qtbot, w)
    other.close()
