"""The change descriptor: what each mutation returns, and its payload for other processes."""

from __future__ import annotations

import json

import pytest

from core.changes import MAX_IDS, MAX_PAYLOAD_BYTES, ChangeKind, Changes

K = ChangeKind


def test_payload_round_trip_and_unknown_kinds() -> None:
    c = Changes.of(K.IMAGES_TRASHED, [3, 1, 2], origin="123-abc").merge(Changes.of(K.FAVORITE, [7]))
    back = Changes.from_json(c.to_json())
    assert back.ids(K.IMAGES_TRASHED) == {1, 2, 3} and back.ids(K.FAVORITE) == {7}
    assert back.count == 4 and back == c.with_origin("")
    # A newer app on the same database may send kinds this one does not know: ignored, not an error.
    newer = json.dumps({"v": 2, "c": {"trashed": [5], "sparkles": [1]}, "n": 1})
    assert set(Changes.from_json(newer)) == {K.IMAGES_TRASHED}
    for bad in ("", "[]", '{"c": {"trashed": ["x"]}}', b"\xff"):
        with pytest.raises(ValueError):
            Changes.from_json(bad)


def test_payload_stays_under_the_notify_limit_and_many_means_refresh() -> None:
    big = Changes.of(K.IMAGES_TRASHED, range(2_000_000_000, 2_000_000_000 + MAX_IDS + 1))
    text = big.to_json()
    assert len(text.encode()) < MAX_PAYLOAD_BYTES
    back = Changes.from_json(text)
    assert back.ids(K.IMAGES_TRASHED) is None and back.image_ids() is None and back.count == MAX_IDS + 1
    # Several kinds share the budget: the whole payload stays small.
    many = Changes()
    for kind in (K.IMAGES_ADDED, K.FAVORITE, K.TAGS, K.RATING):
        many = many.merge(Changes.of(kind, range(2_100_000_000, 2_100_000_000 + MAX_IDS - 10)))
    assert len(many.to_json().encode()) < MAX_PAYLOAD_BYTES
    assert Changes.from_json(many.to_json()).ids(K.IMAGES_ADDED) is not None  # the first fits


def test_empty_merge_and_immutability() -> None:
    assert not Changes.of(K.FAVORITE, []) and not Changes()
    assert Changes.of(K.IMAGES_TRASHED, None)  # "many" is a change
    c = Changes.of(K.IMAGES_ADDED, [1]).merge(Changes.of(K.IMAGES_ADDED, None))
    assert c.ids(K.IMAGES_ADDED) is None
    assert Changes.of(K.QUEUE, [9]).image_ids() == frozenset() and not Changes.of(K.QUEUE, [9]).touches_images
    with pytest.raises(TypeError):
        c.kinds[K.FAVORITE] = frozenset()  # type: ignore[index]
    assert hash(Changes.of(K.NOTE, [1])) == hash(Changes.of(K.NOTE, [1]))


def test_mutations_return_what_they_changed(signed_in, standin) -> None:
    from core.imagefx.types import GenerationRequest

    result = signed_in.generate(GenerationRequest(prompt="a lighthouse", count=2))
    ids = [i.id for i in result.record.images]
    assert result.changes.ids(K.IMAGES_ADDED) == set(ids) and result.changes.origin == signed_in.origin
    fav = signed_in.set_favorite([ids[0], 999_999], True)
    assert fav.ids(K.FAVORITE) == {ids[0]} and fav.count == 1 and fav.origin == signed_in.origin
    gone = signed_in.delete_images(ids)
    assert gone.ids(K.IMAGES_REMOVED) == set(ids) and gone.count == 2
    assert not signed_in.delete_images(ids)  # nothing left to delete: nothing changed
