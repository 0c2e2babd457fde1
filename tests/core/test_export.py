"""Export with metadata, and back: parameters text, PNG/JPEG embedding, safe names, the exporter."""

from __future__ import annotations

import io
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from core import export
from core.imagefx.types import GenerationRequest
from core.images import ImageError
from core.service import ValidationError
from core.service.exporter import Exporter
from core.store import ImageRecord


def png_bytes(size: tuple[int, int] = (48, 27), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    kw = {"exif": exif} if exif else {}
    Image.new("RGB", (40, 30), "orange").save(out, "JPEG", quality=90, **kw)
    return out.getvalue()


PARAMS = export.ImageParameters(prompt="a purple cat, wearing a hat", seed=123456, model="IMAGEN_3_5",
                                aspect_ratio="IMAGE_ASPECT_RATIO_LANDSCAPE", width=1024, height=576,
                                media_id="CAMaAbc-_9", date="2026-11-25T17:02:21Z")


# --- the text -------------------------------------------------------------------------------------

def test_parameters_text_is_the_a1111_layout() -> None:
    assert export.parameters_text(PARAMS) == (
        "a purple cat, wearing a hat\n"
        "Seed: 123456, Size: 1024x576, Model: IMAGEN_3_5, Aspect ratio: LANDSCAPE, Media id: CAMaAbc-_9, "
        "Date: 2026-11-25T17:02:21Z")
    back = export.parse_parameters(export.parameters_text(PARAMS))
    assert (back.prompt, back.seed, back.model, back.aspect_ratio, back.width, back.height, back.media_id,
            back.date) == (PARAMS.prompt, 123456, "IMAGEN_3_5", "IMAGE_ASPECT_RATIO_LANDSCAPE", 1024, 576,
                           "CAMaAbc-_9", "2026-11-25T17:02:21Z")


def test_multiline_prompt_round_trips() -> None:
    p = export.ImageParameters(prompt="line one\nline two: not a param, really", seed=7, model="IMAGEN_3_5",
                               aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE", width=8, height=8, media_id="m")
    back = export.parse_parameters(export.parameters_text(p))
    assert back.prompt == p.prompt and back.seed == 7 and back.aspect_ratio == "IMAGE_ASPECT_RATIO_SQUARE"


def test_parameters_from_another_tool() -> None:
    text = ("masterpiece, a castle on a hill\nNegative prompt: blurry, lowres\n"
            "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 2079987202, Size: 512x768, "
            'Model hash: 93b79e09ed, Model: anything-v4.5, Lora hashes: "a: 1, b: 2"')
    p = export.parse_parameters(text)
    assert p.prompt == "masterpiece, a castle on a hill"
    assert p.negative_prompt == "blurry, lowres"
    assert p.seed == 2079987202 and p.model is None  # not an ImageFX model
    assert p.aspect_ratio == "IMAGE_ASPECT_RATIO_PORTRAIT"  # nearest shape to 512x768
    assert p.extra["Lora hashes"] == "a: 1, b: 2"
    assert export.parse_parameters("just a prompt").prompt == "just a prompt"
    assert export.parse_parameters("p\nSeed: 9999999999, Size: 8x8, Model: IMAGEN_4").seed is None
    assert export.parse_parameters("p\nSeed: 5, Size: 8x8, Model: IMAGEN_4").model == "IMAGEN_3_5"


# --- in the file ----------------------------------------------------------------------------------

def test_png_gets_a_text_chunk_pillow_reads_pixels_untouched() -> None:
    original = png_bytes()
    text = export.parameters_text(PARAMS)
    out = export.embed_png(original, text)
    img = Image.open(io.BytesIO(out))
    assert img.info["parameters"] == text  # before IDAT: visible without decoding the pixels
    assert b"tEXtparameters\x00" in out
    assert img.tobytes() == Image.open(io.BytesIO(original)).tobytes()
    again = export.embed_png(out, "replaced\nSeed: 1, Size: 1x1, Model: IMAGEN_3_5")
    assert again.count(b"parameters\x00") == 1
    assert export.read_parameters(again).prompt == "replaced"


def test_png_with_emoji_uses_itxt() -> None:
    text = "a cat 🐱 in Ōsaka\nSeed: 1, Size: 48x27, Model: IMAGEN_3_5"
    out = export.embed_png(png_bytes(), text)
    assert b"iTXtparameters\x00" in out
    assert Image.open(io.BytesIO(out)).info["parameters"] == text
    assert export.read_parameters(out).prompt == "a cat 🐱 in Ōsaka"


@pytest.mark.parametrize("with_exif", [False, True])
def test_jpeg_is_kept_as_received_with_a_user_comment(with_exif: bool) -> None:
    existing = None
    if with_exif:
        e = Image.Exif()
        e[0x010F] = "Some Camera"
        existing = e.tobytes()
    original = jpeg_bytes(existing)
    text = export.parameters_text(PARAMS).replace("cat", "cat 🐱")
    out = export.embed_jpeg(original, text)
    assert out.endswith(original[original.index(b"\xff\xda"):])  # the scan data, byte for byte
    exif = Image.open(io.BytesIO(out)).getexif()
    comment = exif.get_ifd(0x8769)[0x9286]
    assert comment == b"UNICODE\x00" + text.encode("utf-16-be")
    if with_exif:
        assert exif[0x010F] == "Some Camera"
    assert export.read_parameters(out).prompt == "a purple cat 🐱, wearing a hat"
    assert export.read_parameters(out).seed == 123456


def test_read_parameters_of_plain_and_non_images(tmp_path: Path) -> None:
    assert export.read_parameters(png_bytes()) is None
    f = tmp_path / "notes.png"
    f.write_text("not an image")
    with pytest.raises(ImageError):
        export.read_parameters(f)
    with pytest.raises(ImageError):
        export.read_parameters(tmp_path / "missing.png")


# --- file names -----------------------------------------------------------------------------------

FORBIDDEN = set('<>:"/\\|?*')
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def assert_safe(name: str) -> None:
    assert name not in ("", ".", "..")
    assert len(name.encode("utf-8")) <= 255 and len(name.encode("utf-16-le")) // 2 <= 255
    assert not FORBIDDEN & set(name), name
    assert all(unicodedata.category(c)[0] not in "CZ" for c in name), name  # no controls, no spaces
    assert not name.startswith((".", "-")) and not name.endswith((".", " ")), name
    assert name.split(".")[0].upper() not in RESERVED, name
    assert unicodedata.is_normalized("NFC", name)


nasty = st.one_of(
    st.text(max_size=60),
    st.text(min_size=1000, max_size=1000),
    st.sampled_from(["CON", "con.txt", "Nul", "LPT¹", "COM9 ", "aux.", "../../etc/passwd", "a/b\\c:d*e?f",
                     "🐱🐶🦊", "..", ".hidden", "   ", "\u202eexe.png", "ｃｏｎ", "e\u0301t\u00e9"]),
    st.builds(lambda a, b: a + b, st.sampled_from(["CON", "nul", "🐱", "/"]), st.text(max_size=20)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(nasty, min_size=1, max_size=12))
def test_file_names_are_safe_and_unique(prompts: list[str]) -> None:
    names = export.NameAllocator()
    made = []
    for i, prompt in enumerate(prompts):
        stem = export.render_stem(export.DEFAULT_TEMPLATE, {"date": "20261125-170221", "prompt": prompt,
                                                            "seed": i % 2})
        assert stem.startswith("20261125-170221")
        name = names.allocate(stem, ".png")
        assert_safe(name)
        made.append(name)
    keys = [unicodedata.normalize("NFC", n).casefold() for n in made]
    assert len(set(keys)) == len(keys)  # unique on case-insensitive file systems too


@settings(max_examples=200, deadline=None)
@given(nasty, st.sampled_from(["{prompt}", "{prompt:40}", "{prompt:3}.{seed}", "x{media_id}", "{aspect}_{model}"]))
def test_any_template_field_gives_a_safe_stem(prompt: str, template: str) -> None:
    stem = export.render_stem(template, {"prompt": prompt, "seed": 5, "media_id": prompt, "aspect": prompt,
                                         "model": prompt})
    assert_safe(stem + ".png")
    assert_safe(stem)


def test_prompt_field_width_and_reserved_names() -> None:
    assert export.render_stem("{prompt:10}", {"prompt": "a purple cat wearing a hat"}) == "a-purple-c"
    assert export.render_stem("{prompt}", {"prompt": "con"}) == "_con"
    assert export.render_stem("{prompt}.{seed}", {"prompt": "nul", "seed": 3}) == "_nul.3"
    assert export.render_stem("{prompt}_{seed}", {"prompt": "photo.exe", "seed": 3}) == "photo-exe_3"
    assert export.render_stem("{prompt}", {"prompt": "🐱"}) == "image"
    with pytest.raises(ValueError, match="Unknown field"):
        export.check_template("{prompt}_{colour}")
    with pytest.raises(ValueError, match="stray brace"):
        export.check_template("{prompt")


def test_existing_files_are_never_reused(tmp_path: Path) -> None:
    (tmp_path / "Cat.png").write_bytes(b"x")
    names = export.NameAllocator(tmp_path)
    assert names.allocate("cat", ".png") == "cat-2.png"
    assert names.allocate("cat", ".png") == "cat-3.png"


# --- the exporter over real PostgreSQL and the stand-in ---------------------------------------------

def test_exported_pngs_give_back_the_stored_prompt_and_seed(signed_in, tmp_path: Path) -> None:
    a = signed_in.generate(GenerationRequest(prompt="a red fox in snow", count=2, seed=1234,
                                             aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE"))
    b = signed_in.generate(GenerationRequest(prompt="CON/../a bowl of ramen 🍜?", count=1))
    stored = list(a.record.images) + list(b.record.images)
    out = tmp_path / "export"
    progress = []
    result = Exporter(signed_in).export(out, on_progress=progress.append)
    assert len(result.files) == 3 and not result.missing
    assert [p.done for p in progress] == [1, 2, 3] and progress[-1].total == 3
    by_media = {r.media_id: r for r in stored}
    for f in result.files:
        assert f.path.parent == out
        assert_safe(f.path.name)
        with Image.open(f.path) as img:
            text = img.info["parameters"]
        rec = by_media[f.media_id]
        p = export.parse_parameters(text)
        assert (p.prompt, p.seed, p.media_id, p.model) == (rec.prompt, rec.seed, rec.media_id, rec.model)
        assert (p.width, p.height) == (rec.width, rec.height)
        assert export.read_parameters(f.path).aspect_ratio == rec.aspect_ratio
    assert {p.media_id for p in map(lambda f: export.read_parameters(f.path), result.files)} == set(by_media)
    lines = [json.loads(line) for line in (out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(d["media_id"] for d in lines) == sorted(by_media)
    assert all((out / d["file"]).is_file() and d["parameters"].startswith(d["prompt"]) for d in lines)
    # exporting again into the same folder never overwrites, and metadata.jsonl grows
    again = Exporter(signed_in).export(out, image_ids=[stored[0].id])
    assert again.files[0].path.name not in {f.path.name for f in result.files}
    assert len((out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()) == 4


def test_export_a_search_result_with_a_limit_and_a_jpeg(signed_in, standin, tmp_path: Path) -> None:
    standin.image_format = "JPEG"
    signed_in.generate(GenerationRequest(prompt="a lighthouse at dusk", count=3, seed=77))
    signed_in.generate(GenerationRequest(prompt="a green forest path", count=1))
    result = Exporter(signed_in).export(tmp_path, search="lighthouse", limit=2, template="{prompt:12}_{seed}")
    assert len(result.files) == 2
    for f in result.files:
        assert f.path.suffix == ".jpg" and f.path.name.startswith("a-lighthouse_")
        p = export.read_parameters(f.path)
        assert p.prompt == "a lighthouse at dusk" and p.seed in (77, 78, 79)


def test_export_favourites_of_a_search_as_the_gallery_filter_shows_them(signed_in, tmp_path: Path) -> None:
    foxes = signed_in.generate(GenerationRequest(prompt="a fox in the snow", count=3)).record.images
    signed_in.generate(GenerationRequest(prompt="a cat on a sofa", count=1))
    signed_in.set_favorite([foxes[0].id, foxes[2].id], True)
    result = Exporter(signed_in).export(tmp_path, search="fox", favorites_only=True)
    assert sorted(f.image_id for f in result.files) == sorted([foxes[0].id, foxes[2].id])
    everything = Exporter(signed_in).export(tmp_path / "all", favorites_only=True)
    assert len(everything.files) == 2


def test_export_by_ids_reports_missing_ones(signed_in, tmp_path: Path) -> None:
    r = signed_in.generate(GenerationRequest(prompt="one image", count=1))
    result = Exporter(signed_in).export(tmp_path, image_ids=[r.record.images[0].id, 999_999])
    assert len(result.files) == 1 and result.missing == (999_999,)
    with pytest.raises(ValidationError, match="Unknown field"):
        Exporter(signed_in).export(tmp_path, template="{nope}")


def test_parameters_for_a_record_without_size() -> None:
    rec = ImageRecord(id=1, media_id="m1", user_id=1, user_email="a@b", prompt_id=1, prompt="p", returned_prompt=None,
                      seed=None, model=None, aspect_ratio=None, width=None, height=None, mime_type=None,
                      created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), is_favorite=False, source="fetch")
    text = export.parameters_text(export.parameters_for(rec, (10, 20)))
    assert text == "p\nSize: 10x20, Media id: m1, Date: 2026-01-02T03:04:05Z"
