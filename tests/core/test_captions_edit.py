"""Captions (issue 14): edited in place, kept per library image, written as .txt beside exported images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.changes import ChangeKind
from core.imagefx import GenerationRequest
from core.service import Service, ValidationError
from core.service.exporter import Exporter


def test_a_caption_edit_is_stored_and_is_what_export_writes_beside_the_image(
        signed_in: Service, standin: object, tmp_path: Path) -> None:
    svc = signed_in
    fox, owl = svc.generate(GenerationRequest("a red fox and a grey owl", count=2)).record.images
    result = svc.caption_image(fox.id, count=2)
    assert len(result.records) == 2
    first, second = result.records
    changes = svc.update_caption(second.id, "  A red fox, sitting in fresh snow.  ")
    assert changes.ids(ChangeKind.CAPTIONS) == {second.id}
    assert svc.caption_history()[0].caption == "A red fox, sitting in fresh snow."
    with pytest.raises(ValidationError, match="cannot be empty"):
        svc.update_caption(first.id, "   ")
    with pytest.raises(ValidationError, match="no longer stored"):
        svc.update_caption(987_654, "x")

    out = tmp_path / "export"
    res = Exporter(svc).export(out, image_ids=[fox.id, owl.id])
    assert res.written == 2 and res.captions == 1 and "1 caption as .txt" in res.message
    fox_file = next(f.path for f in res.files if f.image_id == fox.id)
    owl_file = next(f.path for f in res.files if f.image_id == owl.id)
    sidecar = fox_file.with_suffix(".txt")
    assert sidecar.read_text(encoding="utf-8") == "A red fox, sitting in fresh snow.\n"  # the edited one
    assert not owl_file.with_suffix(".txt").exists()  # never captioned: no file

    # edited again, exported again: the image is there already, its caption file follows the edit
    svc.update_caption(first.id, "A fox.")
    again = Exporter(svc).export(out, image_ids=[fox.id])
    assert again.written == 0 and again.captions == 1
    assert sidecar.read_text(encoding="utf-8") == "A fox.\n"
    assert Exporter(svc).export(out, image_ids=[fox.id]).captions == 0  # unchanged: nothing rewritten

    # a link planted under the caption's name is replaced, never written through
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me", encoding="utf-8")
    sidecar.unlink()
    os.symlink(target, sidecar)
    svc.update_caption(first.id, "A fox at dawn.")
    Exporter(svc).export(out, image_ids=[fox.id])
    assert target.read_text(encoding="utf-8") == "keep me"
    assert not sidecar.is_symlink() and sidecar.read_text(encoding="utf-8") == "A fox at dawn.\n"

    # --no-captions (the option off): no caption file
    plain = Exporter(svc).export(tmp_path / "plain", image_ids=[fox.id], captions=False)
    assert plain.captions == 0 and not plain.files[0].path.with_suffix(".txt").exists()


def test_cli_captions_a_folder_and_names_each_reject_with_its_reason(cli, tmp_path: Path) -> None:
    from PIL import Image

    from core.standin import DEMO_COOKIE

    folder = tmp_path / "shots"
    folder.mkdir()
    Image.new("RGB", (64, 48), (20, 90, 200)).save(folder / "a-sea.png")
    (folder / "b-broken.jpg").write_bytes(b"not a picture")
    (folder / "readme.md").write_text("left out")
    done = cli("caption", "-i", str(folder), "-n", "1", "-c", DEMO_COOKIE)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("a-sea.png\t") and len(lines[0]) > len("a-sea.png\t")
    assert "b-broken.jpg: The file is not an image." in done.stderr
    assert "Captioned 1 of 2 images; 1 rejected; 1 other file left out." in done.stderr
