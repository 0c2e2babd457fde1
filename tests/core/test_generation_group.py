"""Group by generation (issue 14): the images one request made, as the gallery's filter shows them."""

from __future__ import annotations

from core.imagefx import GenerationRequest
from core.service import Service


def test_generation_of_lists_one_requests_images_within_the_filter(signed_in: Service, standin: object) -> None:
    svc = signed_in
    boats = [i.id for i in svc.generate(GenerationRequest("paper boats on a pond", count=3)).record.images]
    (pot,) = [i.id for i in svc.generate(GenerationRequest("a copper teapot", count=1)).record.images]
    assert sorted(r.id for r in svc.generation_of(boats[1])) == sorted(boats)
    assert [r.id for r in svc.generation_of(pot)] == [pot]
    svc.trash_images([boats[0]])
    assert sorted(r.id for r in svc.generation_of(boats[1])) == sorted(boats[1:])  # the Trash left out
    assert [r.id for r in svc.generation_of(boats[1], trash=True)] == [boats[0]]
    assert svc.generation_of(boats[1], search="teapot") == []
    assert svc.generation_of(987_654) == []
