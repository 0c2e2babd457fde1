"""The library from a terminal, as a user types it: ``tag``, ``board``, ``rate``, ``note``,
``search`` and ``history --filter``, in real processes on a real database, with a listener in
this process hearing each change within a second (another window would see it at once).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from core.changes import ChangeKind
from core.service import Service
from tests.core.test_library import store
from tests.core.test_notify import Heard

K = ChangeKind
Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, f"{done.args[2:]} exited {done.returncode}: {done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout.splitlines()


def ids_of(lines: list[str]) -> list[int]:
    return [int(line.split()[0]) for line in lines]


def test_tag_board_rate_note_search_and_filter_from_the_command_line(cli: Run,
                                                                     make_service: Callable[..., Service]) -> None:
    svc = make_service()
    a1, a2 = store(svc, "a lighthouse at golden hour", ["CAMaL1", "CAMaL2"], seed=5)
    [b1] = store(svc, "a tortoise reading a map", ["CAMaT1"])
    heard = Heard()
    listener = svc.listen_for_changes(heard)
    assert listener.wait_ready(10)

    def hears(kind: ChangeKind, image_id: int | None) -> None:
        found = heard.wait(lambda c: kind in c and (image_id is None or image_id in (c.ids(kind) or {image_id})), 1.0)
        assert found is not None, f"{kind} of {image_id} not heard within a second"

    try:
        assert ok(cli("tag", "add", "sea, Evening", str(a1), str(a2), "CAMaT1")) == [
            "Tagged 3 images with sea, Evening (0 had them already)."]
        hears(K.TAGS, b1)
        assert json.loads("\n".join(ok(cli("tag", "list", "--prefix", "EV", "--json")))) == [
            {"name": "Evening", "count": 3}]
        ok(cli("tag", "rename", "evening", "Dusk"))
        hears(K.TAGS, None)

        refused = cli("board", "add", "Keepers", str(a1))
        assert refused.returncode == 2 and "There is no board called 'Keepers'; create it first." in refused.stderr
        assert ok(cli("board", "add", "Keepers", str(a1), str(b1), "--create")) == [
            "Added 2 images to 'Keepers' (0 were on it already)."]
        hears(K.BOARDS, None)
        ok(cli("rate", str(a1), "CAMaT1", "5"))
        hears(K.RATING, b1)
        assert ok(cli("note", str(b1), "print it on canvas")) == ["Note saved."]
        hears(K.NOTE, b1)
        assert ok(cli("note", "CAMaT1")) == ["print it on canvas"]

        shown = ok(cli("board", "show", "keepers"))
        assert ids_of(shown) == [b1, a1] and "*****" in shown[0] and "[Dusk, sea]" in shown[0]
        assert ids_of(ok(cli("history", "--images", "--sort", "rating", "--filter",
                             "(tag:sea OR note:canvas) -tag:nosuch"))) == [b1, a1, a2]
        assert ids_of(ok(cli("history", "--images", "--filter", '"golden hour" seed:5 stars:5'))) == [a1]
        [generation] = ok(cli("history", "--filter", "tag:dusk ighthou"))
        assert "2 img" in generation and "golden hour" in generation

        ok(cli("search", "save", "Starred", "stars:>=4", "--sort", "rating"))
        hears(K.SEARCHES, None)
        assert ids_of(ok(cli("board", "show", "Starred"))) == [b1, a1]  # a saved search shows like a board
    finally:
        listener.stop()

    bad = cli("history", "--filter", "tag:sea OR (stars:>=4")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == '--filter: This "(" is never closed; add a ")" (position 12).'
    missing = cli("rate", "999999", "CAMaL1", "3")
    assert missing.returncode == 2 and "No image with the id or media id 999999 is in the library." in missing.stderr
    assert svc.library.labels([a1])[a1].rating == 5  # the refused command changed nothing
