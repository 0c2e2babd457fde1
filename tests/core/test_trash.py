"""The Trash: what Delete does (issue 11, "nothing is final by accident"), through the service.

Trashed images leave every listing of the library (gallery pages, counts, search, the check
for new images, history) and appear only in the Trash; restoring puts them back where they
were; emptying (all, after N days, or chosen ones) deletes them for good with their prompt
rows. The archive leaves them alone; a backup carries them with their state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.changes import ChangeKind
from core.imagefx import GenerationRequest
from core.service import Service, ValidationError
from core.store import Database
from tests.support.dbcheck import execute, rows, scalar
from tests.support.pg import TcpPostgres, create_database, drop_database


@pytest.fixture
def two(signed_in: Service, standin: object) -> tuple[list[int], list[int]]:
    """Two generations: four lighthouses (older), one teapot."""
    a = signed_in.generate(GenerationRequest("a lighthouse at dusk", count=4)).record.images
    b = signed_in.generate(GenerationRequest("a copper teapot", count=1)).record.images
    return [i.id for i in a], [i.id for i in b]


def test_trashed_images_leave_every_listing_and_come_back_where_they_were(
        signed_in: Service, two: tuple[list[int], list[int]]) -> None:
    towers, (pot,) = two
    svc = signed_in
    before = [r.id for r in svc.gallery_page()]
    since = svc.images_added_since(None)[1]
    svc.set_favorite([towers[1]], True)

    moved = svc.trash_images([towers[1], pot, 987_654])
    assert moved.ids(ChangeKind.IMAGES_TRASHED) == {towers[1], pot} and moved.count == 2
    assert not svc.trash_images([pot])  # already there: nothing changes
    assert [r.id for r in svc.gallery_page()] == [i for i in before if i not in (towers[1], pot)]
    assert svc.count_images() == 3 and svc.count_images(search="teapot") == 0
    assert svc.gallery_page(favorites_only=True) == [] and svc.count_images(favorites_only=True) == 0
    assert svc.gallery_page(search="lighthouse", limit=10)[0].trashed_at is None
    assert [(h.prompt, h.image_count) for h in svc.history()] == [("a lighthouse at dusk", 3)]
    assert svc.images_matching([towers[1], towers[0]]) == [svc.image(towers[0])]

    in_trash = svc.trash()
    assert [r.id for r in in_trash] == [pot, towers[1]] and all(r.trashed_at for r in in_trash)
    assert svc.count_images(trash=True) == 2 and svc.count_images(trash=True, search="teapot") == 1
    assert svc.image(pot).trashed_at is not None  # still readable by id (the Trash view's details)

    back = svc.restore_images([towers[1], pot])
    assert back.ids(ChangeKind.IMAGES_RESTORED) == {towers[1], pot}
    assert [r.id for r in svc.gallery_page()] == before  # at their places by date, favourite kept
    assert svc.image(towers[1]).is_favorite and svc.count_images(trash=True) == 0
    assert svc.images_added_since(since) == ([], since)  # a restore is not a new image


def test_emptying_the_trash_all_after_n_days_or_chosen_ones(
        signed_in: Service, two: tuple[list[int], list[int]], db_url: str) -> None:
    towers, (pot,) = two
    svc = signed_in
    svc.trash_images([pot, towers[0], towers[1]])
    execute(db_url, "UPDATE generated_images SET trashed_at = now() - interval '31 days' WHERE id = %s", (pot,))
    with pytest.raises(ValidationError):
        svc.empty_trash(older_than_days=-1)

    old = svc.empty_trash(older_than_days=30)  # what the app does at start-up (Settings: 30 days)
    assert old.ids(ChangeKind.IMAGES_REMOVED) == {pot}
    assert rows(db_url, "SELECT prompt_text FROM prompts") == [("a lighthouse at dusk",)]  # its prompt went too
    assert not svc.empty_trash(older_than_days=30)
    chosen = svc.empty_trash(image_ids=[towers[0], towers[2]])  # "Delete forever" on a Trash selection
    assert chosen.ids(ChangeKind.IMAGES_REMOVED) == {towers[0]}  # towers[2] is in the library: untouched
    assert svc.empty_trash().ids(ChangeKind.IMAGES_REMOVED) == {towers[1]}
    assert svc.count_images() == 2 and svc.count_images(trash=True) == 0
    assert scalar(db_url, "SELECT count(*) FROM image_thumbnails") == 2


def test_archive_leaves_trashed_images_and_a_backup_keeps_their_state(
        signed_in: Service, two: tuple[list[int], list[int]], db_url: str, pg_tcp: TcpPostgres,
        tmp_path: Path, settings: object) -> None:
    towers, (pot,) = two
    svc = signed_in
    svc.trash_images([towers[0], pot])
    execute(db_url, "UPDATE generated_images SET created_at = now() - interval '400 days'")
    archived = svc.archive_older_than(365)
    assert archived.ids(ChangeKind.IMAGES_REMOVED) == set(towers[1:])  # the library's, not the Trash's
    assert {r.id for r in svc.trash()} == {towers[0], pot}
    assert scalar(db_url, "SELECT count(*) FROM generated_images_archive") == 3

    out = svc.backup(tmp_path / "with-trash.sql.gz").path
    name, empty = create_database(pg_tcp.url(), prefix="imagefx_trash_restore")
    try:
        target = Service(settings, database=Database(settings, url=empty))  # type: ignore[arg-type]
        try:
            target.restore(out)
            target.open()
            assert {r.id for r in target.trash()} == {towers[0], pot} and target.count_images() == 0
            assert rows(empty, "SELECT id, trashed_at FROM generated_images ORDER BY id") == rows(
                db_url, "SELECT id, trashed_at FROM generated_images ORDER BY id")
            assert target.restore_images([pot]).count == 1 and target.count_images() == 1
        finally:
            target.close()
    finally:
        drop_database(pg_tcp.url(), name)
