"""Import of the ImageFX web library: paging, resume after an interruption, nothing twice."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa

from core.imagefx.protocol import SESSION_COOKIE_NAMES
from core.service.control import RunControl
from core.service.webimport import (
    FINISHED,
    IMAGE_IMPORTED,
    LIMIT,
    PAGE_DONE,
    PAUSED,
    RESUMED,
    SIGN_IN,
    STOPPED,
    WAITING,
    ImportEvent,
    WebImporter,
)

FAST = {"backoff": 0.05, "probe_interval": 0.05, "max_probe_interval": 0.2}


def library_account(standin, service, n: int) -> tuple[str, str, list[str]]:
    """A fresh signed-in account whose web library holds ``n`` images with distinct prompts."""
    token = f"lib-{uuid.uuid4().hex[:12]}"
    email = f"{token}@example.com"
    standin.add_account(token, email, "Library Owner")
    ids = standin.seed_library(email, n, prompts=[f"library picture {i}" for i in range(n)])
    service.sign_in(f"{SESSION_COOKIE_NAMES[0]}={token}")
    return token, email, ids


def stored(service) -> dict[str, tuple[str, int | None, datetime, str]]:
    """media id -> (prompt, seed, created_at, source), and each media id appears once (unique column)."""
    with service.db.session() as s:
        rows = s.execute(sa.text(
            "SELECT g.media_generation_id, p.prompt_text, g.seed, g.created_at, g.source FROM generated_images g "
            "JOIN prompts p ON p.id = g.prompt_id")).all()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def calls(standin, before: dict[str, int]) -> dict[str, int]:
    return {k: standin.calls[k] - before.get(k, 0) for k in ("user_history", "fetch_media")}


def test_three_pages_interrupted_after_the_first_resume_and_store_each_image_once(service, standin) -> None:
    _, email, ids = library_account(standin, service, 12)
    importer = WebImporter(service, page_size=4, **FAST)
    control = RunControl()
    events: list[ImportEvent] = []

    def stop_after_first_page(e: ImportEvent) -> None:
        events.append(e)
        if e.kind == PAGE_DONE:
            control.stop()

    first = importer.run(on_event=stop_after_first_page, control=control)
    assert (first.outcome, first.imported, first.pages) == (STOPPED, 4, 1)
    assert [e.progress.imported for e in events if e.kind == IMAGE_IMPORTED] == [1, 2, 3, 4]
    assert all(e.image is not None and e.image.thumbnail for e in events if e.kind == IMAGE_IMPORTED)
    state = importer.state(email)
    assert state.next_cursor and state.pages_done == 1 and state.images_imported == 4 and not state.completed_at
    assert set(stored(service)) == set(ids[-4:])  # newest first

    before = dict(standin.calls)
    second = importer.run()
    assert (second.outcome, second.imported, second.resumed, second.pages) == (FINISHED, 8, True, 2)
    assert calls(standin, before) == {"user_history": 2, "fetch_media": 8}  # from page 2 on
    library = stored(service)
    assert set(library) == set(ids)
    for n, media_id in enumerate(ids):
        prompt, seed, created, source = library[media_id]
        assert prompt == f"library picture {n}" and seed is not None and source == "import"
    dates = [library[m][2] for m in ids]
    assert dates == sorted(dates) and dates[-1] < datetime.now(dates[-1].tzinfo)  # the web's own times
    state = importer.state(email)
    assert state.completed_at and state.next_cursor is None and state.images_imported == 12

    before = dict(standin.calls)
    third = importer.run()
    assert (third.outcome, third.imported, third.already) == (FINISHED, 0, 4)
    assert calls(standin, before) == {"user_history": 1, "fetch_media": 0}  # one page shows nothing is new
    full = importer.run(full=True)
    assert (full.imported, full.already, full.pages) == (0, 12, 3)
    assert len(stored(service)) == 12


def test_new_images_on_top_are_picked_up_later(service, standin) -> None:
    _, email, ids = library_account(standin, service, 5)
    importer = WebImporter(service, page_size=4, **FAST)
    assert importer.run().imported == 5
    newer = standin.seed_library(email, 2, prompts=["newer one", "newer two"])  # dated after the first five
    before = dict(standin.calls)
    result = importer.run()  # not a full rescan: the new ones are on top, then a page it has entirely
    assert (result.imported, result.pages) == (2, 2)
    assert calls(standin, before) == {"user_history": 2, "fetch_media": 2}
    assert set(stored(service)) == set(ids) | set(newer)


def test_limit_stops_and_the_next_run_goes_on(service, standin) -> None:
    _, email, ids = library_account(standin, service, 10)
    importer = WebImporter(service, page_size=4, **FAST)
    a = importer.run(limit=3)
    assert (a.outcome, a.imported) == (LIMIT, 3)
    b = importer.run(limit=5)  # the first page again (one left on it), then the next page
    assert (b.outcome, b.imported) == (LIMIT, 5)
    c = importer.run()
    assert (c.outcome, c.imported) == (FINISHED, 2)
    assert set(stored(service)) == set(ids)


def test_rate_limits_and_network_loss_are_waited_out(service, standin) -> None:
    _, _, ids = library_account(standin, service, 6)
    standin.fail("fetch_media", "rate_limit", retry_after=0.2)
    standin.fail("user_history", "reset")
    events: list[ImportEvent] = []
    result = WebImporter(service, page_size=4, **FAST).run(on_event=events.append)
    assert (result.outcome, result.imported) == (FINISHED, 6)
    kinds = [e.kind for e in events]
    assert WAITING in kinds and PAUSED in kinds and RESUMED in kinds
    assert next(e for e in events if e.kind == WAITING).wait_seconds == pytest.approx(0.2)
    assert set(stored(service)) == set(ids)


def test_an_image_that_cannot_be_fetched_is_skipped(service, standin) -> None:
    _, _, ids = library_account(standin, service, 3)
    standin.fail("fetch_media", "bad_request")
    result = WebImporter(service, page_size=4, **FAST).run()
    assert (result.outcome, result.imported, result.skipped) == (FINISHED, 2, 1)
    # the import reached the end; the one it skipped comes with a full rescan
    assert WebImporter(service, page_size=4, **FAST).run(full=True).imported == 1


def test_sign_in_failure_stops_and_keeps_the_place(service, standin) -> None:
    token, email, ids = library_account(standin, service, 8)
    importer = WebImporter(service, page_size=4, **FAST)
    result = importer.run(on_event=lambda e: standin.revoke(token) if e.kind == PAGE_DONE else None)
    assert result.outcome == SIGN_IN and "sign in again" in result.message
    assert result.imported == 4
    standin.add_account(token, email, "Library Owner")
    again = importer.run()
    assert (again.outcome, again.imported, again.resumed) == (FINISHED, 4, True)
    assert set(stored(service)) == set(ids)


def test_not_signed_in(service) -> None:
    assert WebImporter(service).run().outcome == SIGN_IN
