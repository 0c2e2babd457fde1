"""Organising the library on a real server: the filter language finds what it says (on our own
server, and on the system server whose pg_trgm changes the plans), tags, boards, ratings, notes
and saved searches through ``service.library``, each returning its change descriptor, and the
sort orders paging through everything once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.changes import ChangeKind
from core.service import FilterInvalid, Service, ValidationError
from core.store import NewGeneration, NewImage, repo
from tests.support.dbcheck import execute, scalar

K = ChangeKind
LOCAL = datetime.now().astimezone().tzinfo or UTC


def _image(media_id: str, seed: int, model: str, aspect: str) -> NewImage:
    return NewImage(media_id=media_id, encoded_image="iVBORw0KGgo=", seed=seed, returned_prompt=None, model=model,
                    aspect_ratio=aspect, workflow_id=None, fingerprint_log_record_id=None, mime_type="image/png",
                    width=8, height=8, byte_size=8, thumbnail=None, thumb_width=None, thumb_height=None)


def store(svc: Service, prompt: str, media: list[str], *, email: str = "ada@example.com", seed: int = 1,
          model: str = "IMAGEN_3_5", aspect: str = "IMAGE_ASPECT_RATIO_SQUARE",
          when: datetime | None = None) -> list[int]:
    gen = NewGeneration(user_email=email, user_name=email.split("@")[0], prompt=prompt, seed=seed,
                        count=len(media), aspect_ratio=aspect, model=model, workflow_id=None,
                        images=[_image(m, seed + i, model, aspect) for i, m in enumerate(media)],
                        created_at=when or datetime.now(LOCAL))
    with svc.db.session() as s:
        return [i.id for i in repo.store_generation(s, gen).images]


@pytest.fixture
def library(service: Service, db_url: str) -> tuple[Service, dict[str, int]]:
    """A small library: three generations, one image whose prompt row is gone, and marks on them."""
    svc = service
    a1, a2 = store(svc, "A lighthouse at golden hour, rain-soaked pier", ["CAMaA1", "CAMaA2"], seed=10,
                   when=datetime(2026, 3, 5, 12, tzinfo=LOCAL))
    [b1] = store(svc, "a tortoise reading by the fire", ["CAMaB1"], email="grace@example.com", seed=500,
                 model="IMAGEN_4", aspect="IMAGE_ASPECT_RATIO_LANDSCAPE", when=datetime(2025, 12, 24, tzinfo=LOCAL))
    [c1] = store(svc, "Golden retriever, hour-long walk", ["CAMaC1"], when=datetime(2026, 6, 1, 9, tzinfo=LOCAL))
    [d1] = store(svc, "orphan", ["CAMaD1"], model="IMAGEN_3", when=datetime(2026, 2, 1, tzinfo=LOCAL))
    execute(db_url, "UPDATE generated_images SET prompt_id = NULL WHERE id = %s", (d1,))
    lib = svc.library
    lib.add_tags([a1, b1], ["cat"])
    lib.add_tags([a1], ["Golden Hour"])
    lib.add_to_board("Best", [a2, b1], create=True)
    lib.set_rating([a1], 5)
    lib.set_rating([b1], 3)
    svc.set_favorite([c1], True)
    lib.set_note(b1, "print this one")
    return svc, {"a1": a1, "a2": a2, "b1": b1, "c1": c1, "d1": d1}


FILTERS = {
    "": {"a1", "a2", "b1", "c1", "d1"},
    "ighthou": {"a1", "a2"},  # inside a word
    "LIGHTHOUSE": {"a1", "a2"},
    "golden hour": {"a1", "a2", "c1"},  # every word, anywhere
    '"golden hour"': {"a1", "a2"},  # as written
    "rain-soaked": {"a1", "a2"},
    "-golden": {"b1", "d1"},  # an image without a prompt has none of its words
    "golden OR tortoise": {"a1", "a2", "b1", "c1"},
    "golden AND NOT lighthouse": {"c1"},
    "tag:cat": {"a1", "b1"},
    "tag:CAT": {"a1", "b1"},
    'tag:"golden hour"': {"a1"},
    "tag:gold*": {"a1"},
    "-tag:cat": {"a2", "c1", "d1"},
    "has:tag": {"a1", "b1"},
    "board:best": {"a2", "b1"},
    "stars:>=4": {"a1"},
    "stars:3": {"b1"},
    "stars:<3": {"a2", "c1", "d1"},
    "stars:0": {"a2", "c1", "d1"},
    "is:rated": {"a1", "b1"},
    "fav": {"c1"},
    "is:favorite": {"c1"},
    "model:imagen_3": {"d1"},
    "model:imagen_4": {"a1", "a2", "b1", "c1"},  # IMAGEN_4 is the web's name for IMAGEN_3_5
    "-model:imagen_3": {"a1", "a2", "b1", "c1"},
    "aspect:16:9": {"b1"},
    "aspect:square": {"a1", "a2", "c1", "d1"},
    "seed:>=500": {"b1"},
    "seed:11": {"a2"},
    "account:grace": {"b1"},
    "before:2026-01-01": {"b1"},
    "after:2026-06-01": {"c1"},
    "on:2026-03": {"a1", "a2"},
    "on:2026-03-05": {"a1", "a2"},
    "note:PRINT": {"b1"},
    "has:note": {"b1"},
    "media:CAMaC1": {"c1"},
    "(tag:cat OR fav) -stars:5": {"b1", "c1"},
    "cat": set(),  # a tag is not a word of the prompt
    "tag:nosuch": set(),
    "-tag:nosuch": {"a1", "a2", "b1", "c1", "d1"},
}


@pytest.mark.parametrize("admin_url", ["own", "env"], indirect=True)
def test_each_filter_finds_what_it_says_in_pages_and_counts(library: tuple[Service, dict[str, int]]) -> None:
    svc, ids = library
    name = {v: k for k, v in ids.items()}
    found = {}
    for text in FILTERS:
        page = svc.gallery_page(filter=text, limit=50, with_thumbnails=False)
        found[text] = {name[r.id] for r in page}
        assert svc.count_images(filter=text) == len(page), text
        assert [(c, i) for _p, c, i in svc.gallery_anchors(1, filter=text)] == [r.cursor for r in page], text
        assert {name[r.id] for r in svc.images_matching(list(ids.values()), filter=text)} == found[text]
    assert found == FILTERS
    # What is in the Trash is left out of pages and counts, unless the filter asks for it.
    svc.trash_images([ids["a1"]])
    for text, expected in (("tag:cat", {"b1"}), ("-tag:cat", {"a2", "c1", "d1"}),
                           ("tag:cat OR board:best", {"a2", "b1"}), ("has:tag", {"b1"}), ("in:trash", {"a1"}),
                           ("tag:cat in:any", {"a1", "b1"})):
        assert {name[r.id] for r in svc.gallery_page(filter=text)} == expected, text
        assert svc.count_images(filter=text) == len(expected), text
    assert svc.count_images(filter="tag:cat", trash=True) == 1
    assert [(b.name, b.count) for b in svc.library.boards()] == [("Best", 2)]
    assert {(t.name, t.count) for t in svc.library.tags()} == {("cat", 1), ("Golden Hour", 0)}  # as tag: counts
    assert [(t.name, t.count) for t in svc.library.complete_tag("gol")] == [("Golden Hour", 0)]
    svc.restore_images([ids["a1"]])
    assert {(t.name, t.count) for t in svc.library.tags()} == {("cat", 2), ("Golden Hour", 1)}
    # Today's arguments keep working, alone and with a filter.
    assert {name[r.id] for r in svc.gallery_page(search="golden hour", with_thumbnails=False)} == FILTERS["golden hour"]
    assert svc.count_images(favorites_only=True, filter="golden") == 1
    # History groups the matching images by generation.
    [row] = svc.history(filter="tag:cat lighthouse")
    assert row.media_ids == ("CAMaA1",) and row.image_count == 1
    assert [r.prompt for r in svc.history(filter="has:tag", sort="rating")] == [
        "A lighthouse at golden hour, rain-soaked pier", "a tortoise reading by the fire"]


def test_a_malformed_filter_says_where_and_nothing_runs(service: Service) -> None:
    for text, position in (('tag:"open', 5), ("cat OR", 5), ("(cat", 1), ("stars:9", 7), ("color:red", 1)):
        with pytest.raises(FilterInvalid) as info:
            service.gallery_page(filter=text)
        assert info.value.position == position and f"(position {position})" in str(info.value), text
    with pytest.raises(ValidationError, match="sort"):
        service.gallery_page(sort="sideways")


def test_tags_add_rename_merge_delete_with_counts_and_autocomplete(library: tuple[Service, dict[str, int]],
                                                                   db_url: str) -> None:
    svc, ids = library
    lib = svc.library
    a1, a2, b1, c1 = ids["a1"], ids["a2"], ids["b1"], ids["c1"]
    changes = lib.add_tags([a1, a2, c1], ["cat, Landscape", " sunset  glow "])
    assert changes.ids(K.TAGS) == {a1, a2, c1} and changes.origin == svc.origin  # a1 had cat: still new tags
    assert {(t.name, t.count) for t in lib.tags()} == {("cat", 4), ("Landscape", 3), ("sunset glow", 3),
                                                         ("Golden Hour", 1)}
    assert [t.name for t in lib.complete_tag("LA")] == ["Landscape"]
    assert [t.name for t in lib.complete_tag("c")] == ["cat"]
    assert lib.add_tags([a1], ["cat"]).ids(K.TAGS) == frozenset()  # nothing new: an empty descriptor
    assert lib.remove_tags([a2], ["CAT"]).ids(K.TAGS) == {a2}
    assert lib.rename_tag("landscape", "Scenery").ids(K.TAGS) is None  # the tag list itself changed
    assert lib.rename_tag("Scenery", "cat").kinds  # into an existing tag: they merge
    assert {(t.name, t.count) for t in lib.tags()} == {("cat", 4), ("sunset glow", 3), ("Golden Hour", 1)}
    assert lib.merge_tags(["sunset glow", "golden hour"], "Evening").count == 3
    assert {(t.name, t.count) for t in lib.tags()} == {("cat", 4), ("Evening", 3)}
    assert lib.delete_tag("evening").count == 3 and [t.name for t in lib.tags()] == ["cat"]
    assert lib.labels([a1])[a1].tags == ("cat",)
    # The kept counts agree with a count of the rows.
    assert scalar(db_url, "SELECT image_count FROM tags WHERE name = 'cat'") == scalar(
        db_url, "SELECT count(*) FROM image_tags")
    for bad, what in (("a,", "No tag"), ("x\x07y", "control character"), ("x" * 101, "limit is 100")):
        with pytest.raises(ValidationError, match=what):
            lib.add_tags([b1], [bad] if what != "No tag" else [","])
    with pytest.raises(ValidationError, match="no tag called"):
        lib.rename_tag("nosuch", "other")
    with pytest.raises(ValidationError, match="No image with the id or media id 999999"):
        lib.resolve(["999999", "CAMaA1"])
    assert lib.resolve(["CAMaA1", str(b1)]) == [a1, b1]


def test_boards_ratings_notes_and_saved_searches(library: tuple[Service, dict[str, int]]) -> None:
    svc, ids = library
    lib = svc.library
    a1, a2, b1 = ids["a1"], ids["a2"], ids["b1"]
    assert lib.create_board("Print  queue").ids(K.BOARDS) is None
    with pytest.raises(ValidationError, match="exists already"):
        lib.create_board("print queue")
    assert lib.add_to_board("print queue", [a1, b1, a1]).ids(K.BOARDS) == {a1, b1}
    with pytest.raises(ValidationError, match="no board called"):
        lib.add_to_board("Nowhere", [a1])
    assert {(b.name, b.count) for b in lib.boards()} == {("Best", 2), ("Print queue", 2)}
    assert lib.labels([b1])[b1].boards == ("Best", "Print queue")
    lib.rename_board("print queue", "To print")
    assert lib.remove_from_board("to print", [a1]).ids(K.BOARDS) == {a1}
    assert lib.delete_board("Best").count == 2
    assert [(b.name, b.count) for b in lib.boards()] == [("To print", 1)]
    assert svc.count_images() == 5  # deleting a board deletes no image

    assert lib.set_rating([a1, a2], 4).ids(K.RATING) == {a1, a2}
    assert lib.set_rating([a1], 4).ids(K.RATING) == frozenset()  # unchanged
    assert lib.set_rating([a2], 0).ids(K.RATING) == {a2}
    assert {r.id: r.rating for r in svc.gallery_page(filter=f"id:{a1} OR id:{a2}")} == {a1: 4, a2: 0}
    for bad in (6, -1, True, "3"):
        with pytest.raises(ValidationError, match="0 to 5"):
            lib.set_rating([a1], bad)  # type: ignore[arg-type]
    assert svc.image(a1).is_favorite is False  # stars and the favourite mark are separate  # type: ignore[union-attr]

    assert lib.set_note(a1, "  first draft \n").ids(K.NOTE) == {a1}
    assert lib.note(a1) == "first draft"
    assert lib.set_note(a1, "first draft").ids(K.NOTE) == frozenset()
    assert lib.set_note(a1, "").ids(K.NOTE) == {a1} and lib.note(a1) == ""
    with pytest.raises(ValidationError, match="NUL"):
        lib.set_note(a1, "a\x00b")

    assert lib.save_search("Best cats", "tag:cat stars:>=4", "rating").ids(K.SEARCHES) is None
    saved = lib.saved_search("best CATS")
    assert (saved.filter, saved.sort) == ("tag:cat stars:>=4", "rating")
    assert [r.id for r in svc.gallery_page(filter=saved.filter, sort=saved.sort)] == [a1]
    with pytest.raises(FilterInvalid, match="position"):
        lib.save_search("Broken", "tag:(", "newest")
    lib.delete_search("best cats")
    assert lib.saved_searches() == []


def test_every_sort_pages_through_every_image_once(service: Service) -> None:
    start = datetime(2026, 1, 1, tzinfo=LOCAL)
    ids = [i for n in range(12) for i in store(service, f"picture {n}", [f"CAMaS{n}a", f"CAMaS{n}b"],
                                              when=start + timedelta(hours=n))]
    stars = {i: (k * 7) % 6 for k, i in enumerate(ids)}  # every rating, ties included
    for value in range(1, 6):
        service.library.set_rating([i for i, v in stars.items() if v == value], value)
    expected = {
        "newest": sorted(ids, key=lambda i: (ids.index(i) // 2, i), reverse=True),
        "oldest": sorted(ids, key=lambda i: (ids.index(i) // 2, i)),
        "rating": sorted(ids, key=lambda i: (stars[i], ids.index(i) // 2, i), reverse=True),
    }
    for sort, order in expected.items():
        seen, after = [], None
        while True:
            page = service.gallery_page(after=after, limit=5, sort=sort, with_thumbnails=False)
            seen += [r.id for r in page]
            if len(page) < 5:
                break
            after = page[-1].cursor_for(sort)
        assert seen == order, sort



def test_the_library_file_carries_the_marks_and_a_second_import_adds_nothing(
        library: tuple[Service, dict[str, int]], make_service: Callable[..., Service], admin_url: str,
        tmp_path: Path) -> None:
    from core.service import library_io
    from tests.support.pg import create_database, drop_database

    svc, _ids = library
    svc.library.save_search("Starred", "stars:>=4", "rating")
    path = library_io.export_library(svc, tmp_path / "lib.jsonl.gz").path
    name, url = create_database(admin_url)
    try:
        other = make_service(url=url)
        for _ in range(2):  # again: nothing is added twice
            result = library_io.import_library(other, path)
            assert result.complete, result.rejected
            lib = other.library
            assert {(t.name, t.count) for t in lib.tags()} == {("cat", 2), ("Golden Hour", 1)}
            assert [(b.name, b.count) for b in lib.boards()] == [("Best", 2)]
            assert {r.media_id: r.rating for r in other.gallery_page(filter="is:rated")} == {"CAMaA1": 5, "CAMaB1": 3}
            [noted] = other.gallery_page(filter="note:print")
            assert noted.media_id == "CAMaB1" and lib.note(noted.id) == "print this one"
            assert [(x.name, x.filter) for x in lib.saved_searches()] == [("Starred", "stars:>=4")]
    finally:
        other.close()
        drop_database(admin_url, name)
