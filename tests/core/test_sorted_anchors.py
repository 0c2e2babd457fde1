"""The gallery's sparse index in each sort order (issue 14): every n-th key of the order the pages
come in, as ``cursor_for(sort)``, so the window reaches any depth of an oldest-first or rating-sorted
library with one keyset page."""

from __future__ import annotations

from core.service import Service
from tests.gui.helpers import fill_library


def test_anchors_are_every_nth_cursor_of_each_order(service: Service) -> None:
    fill_library(service, 40)
    ids = [r.id for r in service.gallery_page(limit=100, with_thumbnails=False)]
    service.library.set_rating(ids[5:9], 4)
    service.library.set_rating(ids[20:22], 2)
    service.library.add_tags(ids[0:30], ["sea"])
    for sort in ("newest", "oldest", "rating"):
        for flt in ("", "tag:sea"):
            listed = service.gallery_page(limit=100, with_thumbnails=False, sort=sort, filter=flt)
            got = service.gallery_anchors(7, sort=sort, filter=flt)
            assert got == [(p, *listed[p].cursor_for(sort)) for p in range(0, len(listed), 7)], (sort, flt)
    # the rating order's anchors name the stars: 4s first, then 2s, then the unrated
    assert [a[1] for a in service.gallery_anchors(4, sort="rating")][:3] == [4, 2, 0]
