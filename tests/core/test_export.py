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

from core import export, imagemeta
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
        "Steps: 0, Sampler: ImageFX, CFG scale: 0, "
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
    out = imagemeta.embed_png(original, text)
    img = Image.open(io.BytesIO(out))
    assert img.info["parameters"] == text  # before IDAT: visible without decoding the pixels
    assert b"tEXtparameters\x00" in out
    assert img.tobytes() == Image.open(io.BytesIO(original)).tobytes()
    again = imagemeta.embed_png(out, "replaced\nSeed: 1, Size: 1x1, Model: IMAGEN_3_5")
    assert again.count(b"parameters\x00") == 1
    assert export.read_parameters(again).prompt == "replaced"


def test_png_with_emoji_uses_itxt() -> None:
    text = "a cat 🐱 in Ōsaka\nSeed: 1, Size: 48x27, Model: IMAGEN_3_5"
    out = imagemeta.embed_png(png_bytes(), text)
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
    out = imagemeta.embed_jpeg(original, text)
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
    # exporting again into the same folder writes nothing: no "-2" copies, no second metadata line
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = Exporter(signed_in).export(out)
    assert again.written == 0 and again.already == 3
    assert again.message == f"Nothing new to export to {out}: its 3 images were there already."
    assert {f.path for f in again.files} == {f.path for f in result.files}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # a file the user deleted comes back under its name, still with one metadata line
    result.files[0].path.unlink()
    third = Exporter(signed_in).export(out)
    assert third.written == 1 and result.files[0].path.is_file()
    assert len((out / "metadata.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


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
    assert text == "p\nSteps: 0, Sampler: ImageFX, CFG scale: 0, Size: 10x20, Media id: m1, Date: 2026-01-02T03:04:05Z"


# --- other tools read what we write -----------------------------------------------------------------

def test_sd_parsers_reads_prompt_seed_model_and_size_from_exported_png_and_jpeg(signed_in, standin,
                                                                                tmp_path: Path) -> None:
    """An independent A1111 reader (sd-parsers, from PyPI) on real exports, PNG and JPEG (EXIF)."""
    from sd_parsers import ParserManager

    png = signed_in.generate(GenerationRequest(prompt="夕暮れの灯台, a lighthouse at dusk", count=1, seed=4242,
                                               aspect_ratio="IMAGE_ASPECT_RATIO_LANDSCAPE")).record.images[0]
    standin.image_format = "JPEG"
    jpg = signed_in.generate(GenerationRequest(prompt="a snowy owl", count=1, seed=77)).record.images[0]
    result = Exporter(signed_in).export(tmp_path, image_ids=[png.id, jpg.id])
    assert [f.path.suffix for f in result.files] == [".png", ".jpg"]
    parser = ParserManager()
    for f, rec in zip(result.files, (png, jpg), strict=True):
        info = parser.parse(f.path)
        assert info is not None, f.path
        (sampler,) = info.samplers
        assert sampler.prompts[0].value == rec.prompt
        assert sampler.parameters["seed"] == str(rec.seed)
        assert sampler.model is not None and sampler.model.name == rec.model
        assert info.metadata["Size"] == f"{rec.width}x{rec.height}"
        assert sampler.name == "ImageFX"
    assert "夕暮れの灯台" in result.files[0].path.name  # the name keeps the Japanese prompt


def test_exiftool_reads_the_text_of_exported_files(signed_in, standin, tmp_path: Path) -> None:
    """A second independent reader (Debian's exiftool), where it is installed."""
    import shutil
    import subprocess

    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (Debian: libimage-exiftool-perl)")
    png = signed_in.generate(GenerationRequest(prompt="a cat 🐱 in Ōsaka", count=1, seed=5)).record.images[0]
    standin.image_format = "JPEG"
    jpg = signed_in.generate(GenerationRequest(prompt="a fox, in snow", count=1, seed=6)).record.images[0]
    files = Exporter(signed_in).export(tmp_path, image_ids=[png.id, jpg.id]).files
    done = subprocess.run(["exiftool", "-j", "-Parameters", "-UserComment", *(str(f.path) for f in files)],
                          capture_output=True, text=True, check=True)
    got = json.loads(done.stdout)
    png_text, jpg_text = got[0]["Parameters"], got[1]["UserComment"]
    for text, rec in ((png_text, png), (jpg_text, jpg)):
        assert text.startswith(rec.prompt)
        assert f"Seed: {rec.seed}," in text and f"Size: {rec.width}x{rec.height}" in text
        assert f"Model: {rec.model}" in text and f"Media id: {rec.media_id}" in text


# --- the one writer ---------------------------------------------------------------------------------

def test_stripping_the_text_gives_back_the_stored_bytes() -> None:
    for original in (png_bytes(), jpeg_bytes()):
        with_text = export.embed_parameters(original, export.parameters_text(PARAMS))
        assert with_text != original
        assert imagemeta.strip_text(with_text) == original
    e = Image.Exif()
    e[0x010F] = "Some Camera"
    camera = jpeg_bytes(e.tobytes())
    back = imagemeta.strip_text(export.embed_parameters(camera, "p\nSteps: 0, Sampler: ImageFX, Seed: 1"))
    assert Image.open(io.BytesIO(back)).getexif()[0x010F] == "Some Camera"
    assert export.read_parameters(back) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_slug_is_never_empty_never_reserved_and_within_the_byte_limit(text: str) -> None:
    stem = export.safe_stem(text)
    assert stem and len(stem.encode("utf-8")) <= export.MAX_STEM_BYTES
    assert stem.split(".")[0].upper().rstrip() not in RESERVED
    assert_safe(stem + ".png")


def test_japanese_prompts_keep_their_words_in_file_names() -> None:
    rec = ImageRecord(id=1, media_id="m1", user_id=1, user_email="a@b", prompt_id=1, prompt="富士山と桜、夕焼け",
                      returned_prompt=None, seed=9, model="IMAGEN_3_5", aspect_ratio=None, width=8, height=8,
                      mime_type="image/png", created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                      is_favorite=False, source="generate")
    assert "富士山と桜-夕焼け_9" in export.file_name(rec)
    long = export.safe_stem("桜" * 200)  # 3 bytes each: cut at a character, within the limit
    assert len(long.encode("utf-8")) <= export.MAX_STEM_BYTES and set(long) == {"桜"}


def test_a_writer_that_writes_nothing_leaves_no_folder(signed_in, tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper"
    with export.FolderWriter(target):
        assert target.is_dir()
    assert not (tmp_path / "new").exists()
    result = Exporter(signed_in).export(target, search="nothing matches this")
    assert result.files == () and not (tmp_path / "new").exists()
    with pytest.raises(ValidationError):
        Exporter(signed_in).export(target, template="{nope}")
    assert not (tmp_path / "new").exists()


def test_save_file_writes_the_chosen_name_with_metadata_and_replaces_only_on_success(tmp_path: Path) -> None:
    rec = ImageRecord(id=1, media_id="m-save", user_id=1, user_email="a@b", prompt_id=1, prompt="saved as",
                      returned_prompt=None, seed=3, model="IMAGEN_3_5", aspect_ratio="IMAGE_ASPECT_RATIO_SQUARE",
                      width=48, height=27, mime_type="image/png",
                      created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), is_favorite=False, source="generate")
    target = tmp_path / "my name.png"
    target.write_bytes(b"old")
    export.save_file(target, rec, png_bytes())
    p = export.read_parameters(target)
    assert (p.prompt, p.seed, p.media_id) == ("saved as", 3, "m-save")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["my name.png"]


def test_a_metadata_line_cut_short_by_a_kill_stays_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "metadata.jsonl").write_bytes(b'{"file": "x.png", "media_id": "cut sh')
    facts = export.ImageFacts(media_id="m-1", prompt="after the cut", created_at=datetime(2026, 1, 2, tzinfo=UTC))
    with export.FolderWriter(tmp_path, metadata=True) as w:
        w.write(facts, png_bytes())
    lines = (tmp_path / "metadata.jsonl").read_bytes().split(b"\n")
    assert lines[0] == b'{"file": "x.png", "media_id": "cut sh' and lines[-1] == b""
    assert [r["media_id"] for r in export.read_metadata(tmp_path)] == ["m-1"]
