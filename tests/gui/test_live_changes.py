"""Every change, everywhere, at once (issue 14): what a terminal or another window does shows in an
open window within a second, through PostgreSQL's LISTEN/NOTIFY (gui/change_bridge.py), without
the gallery's old three-second check."""

from __future__ import annotations

import time

from tests.gui.helpers import fill_library, settle

SECOND = 1.0


def _listening(qtbot, w) -> None:
    qtbot.waitUntil(lambda: w.changes.listening and w.changes.mode == "listen", timeout=15_000)
    assert not w.model._watch.isActive()  # no polling while the database tells us
    assert not w.queue._watch.isActive()


def _within_a_second(qtbot, cond) -> float:
    """Seconds until ``cond`` held, counted from now (the terminal's command has returned, so its
    transaction is committed); fails beyond a second."""
    start = time.monotonic()
    qtbot.waitUntil(cond, timeout=int(SECOND * 1000))
    return time.monotonic() - start


def test_terminal_changes_show_in_an_open_window_within_a_second(qtbot, make_window, make_service, cli):
    fill_library(make_service(), 16)
    w = make_window()
    _listening(qtbot, w)
    qtbot.waitUntil(lambda: w.model.counted and w.model.rowCount() == 16, timeout=15_000)
    first, second = w.model.id_at(0), w.model.id_at(1)

    r = cli("rate", str(second), "4")
    assert r.returncode == 0, r.stderr
    _within_a_second(qtbot, lambda: w.model.record_by_id(second).rating == 4)

    r = cli("tag", "add", "sea, evening", str(first), str(second))
    assert r.returncode == 0, r.stderr
    heard: list = []
    w.changes.heard.connect(heard.append)
    _within_a_second(qtbot, lambda: any("tags" in {k.value for k in c} for c in heard))

    r = cli("trash", "add", str(first))
    assert r.returncode == 0, r.stderr
    _within_a_second(qtbot, lambda: w.model.row_of(first) is None)
    qtbot.waitUntil(lambda: w.model.total == 15)

    r = cli("queue", "add", "--prompt", "a lighthouse at dusk")
    assert r.returncode == 0, r.stderr
    _within_a_second(qtbot, lambda: w.queue_panel.model.rowCount() == 1)
    settle(qtbot, w)


def test_a_delete_in_one_window_leaves_the_other(qtbot, make_window, make_service):
    fill_library(make_service(), 8)
    a, b = make_window(), make_window()
    for w in (a, b):
        _listening(qtbot, w)
        qtbot.waitUntil(lambda w=w: w.model.counted and w.model.rowCount() == 8, timeout=15_000)
    victim = a.model.id_at(2)
    a.gallery.select_ids([victim])
    a.actions_["delete"].trigger()
    qtbot.waitUntil(lambda: a.model.row_of(victim) is None)
    _within_a_second(qtbot, lambda: b.model.row_of(victim) is None)
    assert b.model.total == 7
    a.actions_["undo"].trigger()  # restored in one window: back in the other too
    _within_a_second(qtbot, lambda: b.model.row_of(victim) is not None)
    settle(qtbot, a)
    settle(qtbot, b)
