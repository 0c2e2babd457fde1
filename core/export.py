"""Exported images carry their generation parameters, and can be read back (pure functions).

The text is the layout AUTOMATIC1111's "PNG Info" reads (its ``parse_generation_parameters``):
the prompt on the first line(s), then one line of ``Key: value`` pairs::

    a purple cat wearing a yellow hat
    Seed: 123456, Size: 1024x576, Model: IMAGEN_3_5, Aspect ratio: LANDSCAPE, Media id: CAMa…, Date: 2026-…Z

- PNG: a ``parameters`` text chunk, inserted before the image data without re-encoding
  the pixels. ``tEXt`` when the text is Latin-1; otherwise ``iTXt`` (UTF-8), which is what
  A1111 and Pillow's ``add_text`` write for such text too and what every PNG reader returns
  in the same place.
- JPEG: written as received, with the text in EXIF ``UserComment`` (``UNICODE`` + UTF-16 in
  the EXIF's big-endian byte order, which is also what piexif — A1111's reader — decodes).
- File names come from a template (``{date}_{prompt:40}_{seed}``) and are safe on Windows,
  macOS and Linux whatever the prompt holds: tests/core/test_export.py runs hypothesis over
  slashes, emoji, 1,000-character prompts and reserved Windows names.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, TiffTags, UnidentifiedImageError

from core.imagefx import protocol
from core.store.records import ImageRecord

PARAMETERS_KEY = "parameters"
DEFAULT_TEMPLATE = "{date}_{prompt:40}_{seed}"
TEMPLATE_FIELDS: tuple[str, ...] = ("date", "prompt", "seed", "media_id", "model", "aspect", "id", "user")
MAX_STEM_BYTES = 150  # UTF-8 bytes; leaves room for "-12345" and the extension under 255 everywhere
METADATA_FILE = "metadata.jsonl"

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
_MAX_APP1 = 65533  # a JPEG segment's payload limit

# Pillow knows no type for UserComment and would write these bytes as BYTE; the EXIF spec
# (and piexif, which A1111 reads with) wants UNDEFINED. Registering the spec's type fixes
# that for every writer in this process; setdefault keeps Pillow's own entry if it grows one.
TiffTags.TAGS_V2_GROUPS.setdefault(_EXIF_IFD, {}).setdefault(
    _USER_COMMENT, TiffTags.TagInfo(_USER_COMMENT, "UserComment", TiffTags.UNDEFINED, 0))

# The pattern A1111 uses for the last line; three matches make it a parameters line.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_FIELD_RE = re.compile(r"\{([a-z_]+)(?::(\d+))?\}")
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$",
                       *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})


@dataclass(frozen=True)
class ImageParameters:
    """What an image says about how it was made. Unknown values are None."""

    prompt: str
    seed: int | None = None
    model: str | None = None  # an ImageFX model name, when it is one
    aspect_ratio: str | None = None  # IMAGE_ASPECT_RATIO_…
    width: int | None = None
    height: int | None = None
    media_id: str | None = None
    date: str | None = None
    negative_prompt: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # every key/value as written


# --- the text --------------------------------------------------------------------------------

def _short_aspect(aspect: str | None) -> str | None:
    if not aspect:
        return None
    return aspect.removeprefix("IMAGE_ASPECT_RATIO_")


def _quote(value: str) -> str:
    """A1111 quotes values that would break the ``Key: value, …`` line."""
    if any(c in value for c in ',"\n\r') or value != value.strip():
        return json.dumps(value, ensure_ascii=False)
    return value


def _utc_text(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parameters_for(record: ImageRecord, size: tuple[int, int] | None = None) -> ImageParameters:
    """The parameters of a stored image (``size`` when the record lacks width/height)."""
    width = record.width if record.width else (size[0] if size else None)
    height = record.height if record.height else (size[1] if size else None)
    return ImageParameters(prompt=record.prompt or record.returned_prompt or "", seed=record.seed,
                           model=record.model, aspect_ratio=record.aspect_ratio, width=width, height=height,
                           media_id=record.media_id, date=_utc_text(record.created_at))


def parameters_text(p: ImageParameters) -> str:
    """The ``parameters`` text: prompt first, then ``Seed: N, Size: WxH, Model: …, …``."""
    prompt = p.prompt.replace("\r\n", "\n").replace("\r", "\n").strip()
    pairs: list[tuple[str, str]] = []
    if p.seed is not None:
        pairs.append(("Seed", str(p.seed)))
    if p.width and p.height:
        pairs.append(("Size", f"{p.width}x{p.height}"))
    if p.model:
        pairs.append(("Model", p.model))
    aspect = _short_aspect(p.aspect_ratio)
    if aspect:
        pairs.append(("Aspect ratio", aspect))
    if p.media_id:
        pairs.append(("Media id", p.media_id))
    if p.date:
        pairs.append(("Date", p.date))
    line = ", ".join(f"{k}: {_quote(v)}" for k, v in pairs)
    lines = [prompt] if prompt else []
    if p.negative_prompt:
        lines.append(f"Negative prompt: {p.negative_prompt}")
    lines.append(line)
    return "\n".join(lines)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value


def _aspect_from(value: str | None, width: int | None, height: int | None) -> str | None:
    if value:
        text = value.strip()
        for full, label in protocol.ASPECT_LABELS.items():  # "Landscape (16:9)"
            if text.lower() == label.lower():
                return full
        try:
            return protocol.normalize_aspect_ratio(text.replace(" ", "_"))
        except ValueError:
            pass
    if width and height:  # an image from elsewhere: the nearest ImageFX shape
        ratio = width / height
        shapes = {"IMAGE_ASPECT_RATIO_SQUARE": 1.0, "IMAGE_ASPECT_RATIO_PORTRAIT": 9 / 16,
                  "IMAGE_ASPECT_RATIO_LANDSCAPE": 16 / 9, "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": 4 / 3}
        return min(shapes, key=lambda k: abs(shapes[k] - ratio))
    return None


def parse_parameters(text: str) -> ImageParameters:
    """Read A1111-style parameters (ours or any other tool's) back into values."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    *head, last = lines
    if len(_PARAM_RE.findall(last)) < 3:
        head.append(last)
        last = ""
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    negative = False
    for raw in head:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative_lines if negative else prompt_lines).append(line)
    values = {k.strip(): _unquote(v) for k, v in _PARAM_RE.findall(last)}

    seed = None
    try:
        n = int(values.get("Seed", ""))
        seed = n if 0 <= n <= protocol.MAX_SEED else None
    except ValueError:
        pass
    width = height = None
    m = _SIZE_RE.match(values.get("Size", ""))
    if m:
        width, height = int(m.group(1)), int(m.group(2))
    model = None
    if values.get("Model"):
        candidate = protocol.normalize_model(values["Model"])
        model = candidate if candidate in protocol.KNOWN_MODELS else None
    return ImageParameters(
        prompt="\n".join(prompt_lines).strip(), seed=seed, model=model,
        aspect_ratio=_aspect_from(values.get("Aspect ratio"), width, height), width=width, height=height,
        media_id=values.get("Media id") or None, date=values.get("Date") or None,
        negative_prompt="\n".join(negative_lines).strip(), extra=values)


# --- writing into the image bytes -----------------------------------------------------------

def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_PNG_MAGIC):
        raise ValueError("not a PNG")
    pos, chunks = len(_PNG_MAGIC), []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        chunks.append((ctype, data[pos + 8:pos + 8 + length]))
        pos = end
        if ctype == b"IEND":
            break
    return chunks


def _png_chunk(ctype: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))


def _is_parameters_chunk(ctype: bytes, payload: bytes) -> bool:
    return ctype in (b"tEXt", b"iTXt", b"zTXt") and payload.split(b"\x00", 1)[0] == PARAMETERS_KEY.encode()


def _text_chunk(text: str) -> bytes:
    key = PARAMETERS_KEY.encode("latin-1")
    try:
        if "\x00" in text:
            raise UnicodeEncodeError("latin-1", text, 0, 1, "NUL")
        return _png_chunk(b"tEXt", key + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword, no compression (flag, method), empty language tag and translated keyword
        return _png_chunk(b"iTXt", key + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8"))


def embed_png(data: bytes, text: str) -> bytes:
    """The PNG with one ``parameters`` chunk (replacing any), placed before the image data."""
    chunks = _png_chunks(data)
    out = [_PNG_MAGIC]
    inserted = False
    for ctype, payload in chunks:
        if _is_parameters_chunk(ctype, payload):
            continue
        if ctype in (b"IDAT", b"IEND") and not inserted:
            out.append(_text_chunk(text))
            inserted = True
        out.append(_png_chunk(ctype, payload))
    return b"".join(out)


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, payload) of each header segment up to SOS, and the rest (scan data onwards)."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    pos, segments = 2, []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("bad JPEG segment")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: everything after is image data
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segments.append((marker, data[pos + 4:pos + 2 + length]))
        pos += 2 + length
    return segments, data[pos:]


def _user_comment(text: str) -> bytes:
    return _UNICODE_PREFIX + text.encode("utf-16-be")


def embed_jpeg(data: bytes, text: str) -> bytes:
    """The JPEG as received, with ``text`` in EXIF UserComment (existing EXIF kept)."""
    segments, rest = _jpeg_segments(data)
    exif = Image.Exif()
    exif_at = None
    for i, (marker, payload) in enumerate(segments):
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            exif.load(payload[6:])
            exif_at = i
            break
    comment = text
    while True:
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _user_comment(comment)
        blob = exif.tobytes()
        if not blob.startswith(b"Exif\x00\x00"):
            blob = b"Exif\x00\x00" + blob
        if len(blob) <= _MAX_APP1:
            break
        comment = comment[: len(comment) * 3 // 4]  # only a prompt near the 20,000-char limit gets here
    if exif_at is not None:
        segments[exif_at] = (0xE1, blob)
    else:
        at = 1 if segments and segments[0][0] == 0xE0 else 0  # after JFIF's APP0, as the spec wants
        segments.insert(at, (0xE1, blob))
    out = [b"\xff\xd8"]
    for marker, payload in segments:
        out.append(bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload)
    out.append(rest)
    return b"".join(out)


def embed_parameters(data: bytes, text: str) -> bytes:
    """PNG and JPEG get the text; any other format is returned unchanged (metadata.jsonl has it)."""
    if data.startswith(_PNG_MAGIC):
        return embed_png(data, text)
    if data.startswith(b"\xff\xd8\xff"):
        return embed_jpeg(data, text)
    return data


# --- reading it back ---------------------------------------------------------------------------

def _decode_user_comment(raw: bytes | str) -> str | None:
    if isinstance(raw, str):
        return raw.strip("\x00") or None
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE_PREFIX:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", errors="replace")
        # No BOM: the EXIF byte order should decide, but writers differ (piexif always writes
        # big-endian). ASCII-heavy text shows which half of each pair is the zero byte.
        zeros_even = body[0::2].count(0)
        zeros_odd = body[1::2].count(0)
        return body.decode("utf-16-le" if zeros_odd > zeros_even else "utf-16-be", errors="replace")
    if prefix in (_ASCII_PREFIX, b"\x00" * 8):
        return body.decode("utf-8", errors="replace").rstrip("\x00") or None
    return raw.decode("utf-8", errors="replace").rstrip("\x00") or None


def read_parameters_text(source: str | os.PathLike[str] | bytes) -> str | None:
    """The raw ``parameters`` text of an image file or bytes; None if it has none.

    Raises ``core.images.ImageError`` if the data is not an image.
    """
    from core.images import ImageError

    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise ImageError(f"{Path(str(source)).name} cannot be read ({exc.strerror}).") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            text = getattr(img, "text", None) if img.format == "PNG" else None  # all PNG text chunks
            if text and isinstance(text.get(PARAMETERS_KEY), str):
                return str(text[PARAMETERS_KEY])
            value = img.info.get(PARAMETERS_KEY)
            if isinstance(value, str):
                return value
            raw = img.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
            if raw:
                decoded = _decode_user_comment(raw)
                if decoded:
                    return decoded
            comment = img.info.get("comment")
            if isinstance(comment, bytes):
                comment = comment.decode("utf-8", errors="replace")
            return comment if isinstance(comment, str) and comment.strip() else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError("The file is not an image this app can read.") from exc


def read_parameters(source: str | os.PathLike[str] | bytes) -> ImageParameters | None:
    """Prompt, seed, model and aspect ratio from a PNG's ``parameters`` (or a JPEG's EXIF
    UserComment): what dropping an image on the prompt editor fills in. None if it has none."""
    text = read_parameters_text(source)
    return parse_parameters(text) if text else None


# --- file names ---------------------------------------------------------------------------

def _component(text: str) -> str:
    """Letters, digits, ``-``, ``_`` and ``.`` of any script; everything else becomes ``-``."""
    text = unicodedata.normalize("NFKC", text)
    out = "".join(c if (c.isalnum() or c in "-_.") else "-" for c in text)
    out = re.sub(r"-{2,}", "-", out)
    out = re.sub(r"\.{2,}", ".", out)
    return out.strip("-")


def _truncate_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def safe_stem(stem: str) -> str:
    """A file name stem valid on Windows, macOS and Linux (no extension)."""
    s = _component(stem)
    s = _truncate_bytes(s, MAX_STEM_BYTES)
    s = s.strip(".-_ ")  # no hidden files, no trailing dot (Windows), no dangling separators
    if not s:
        return "image"
    if s.split(".", 1)[0].upper() in _RESERVED:
        s = "_" + s
    return s


def check_template(template: str) -> None:
    """ValueError naming the problem, for a template a user typed."""
    if not template.strip():
        raise ValueError("The file name template is empty.")
    for m in _FIELD_RE.finditer(template):
        if m.group(1) not in TEMPLATE_FIELDS:
            raise ValueError(f"Unknown field {{{m.group(1)}}} in the file name template; use "
                             f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}.")
    leftover = _FIELD_RE.sub("", template)
    if "{" in leftover or "}" in leftover:
        raise ValueError("The file name template has a stray brace; fields look like {prompt} or {prompt:40}.")


def template_values(record: ImageRecord) -> dict[str, Any]:
    created = record.created_at
    local = created.astimezone() if created.tzinfo else created
    return {"date": local.strftime("%Y%m%d-%H%M%S"), "prompt": record.prompt or record.returned_prompt or "",
            "seed": record.seed if record.seed is not None else 0, "media_id": record.media_id,
            "model": record.model or "", "aspect": _short_aspect(record.aspect_ratio) or "",
            "id": record.id, "user": (record.user_email or "").split("@", 1)[0]}


def render_stem(template: str, values: Mapping[str, Any]) -> str:
    """The template filled in and made safe: ``{prompt:40}`` keeps 40 characters of the prompt."""
    check_template(template)
    parts: list[str] = []
    pos = 0
    for m in _FIELD_RE.finditer(template):
        parts.append(template[pos:m.start()])
        # No dots inside values: "photo.exe" must not make "…photo.exe_5.png".
        value = _component(str(values.get(m.group(1), "")).replace(".", "-"))
        if m.group(2):
            value = value[: int(m.group(2))].strip("-")
        parts.append(value)
        pos = m.end()
    parts.append(template[pos:])
    stem = "".join(parts)
    stem = re.sub(r"([-_])[-_]+", r"\1", stem)  # empty fields leave no "__"
    return safe_stem(stem)


class NameAllocator:
    """Unique names in one folder, also where the file system ignores case or normalisation
    (Windows, macOS): ``x.png``, ``x-2.png``, … Names of files already there count as taken."""

    def __init__(self, directory: Path | None = None) -> None:
        self._taken: set[str] = set()
        if directory is not None and directory.is_dir():
            for name in os.listdir(directory):
                self._taken.add(self._key(name))

    @staticmethod
    def _key(name: str) -> str:
        return unicodedata.normalize("NFC", name).casefold()

    def allocate(self, stem: str, extension: str) -> str:
        name = f"{stem}{extension}"
        n = 2
        while self._key(name) in self._taken:
            name = f"{stem}-{n}{extension}"
            n += 1
        self._taken.add(self._key(name))
        return name


def metadata_line(record: ImageRecord, file_name: str, parameters: str,
                  size: tuple[int, int] | None = None) -> str:
    """One ``metadata.jsonl`` line (JSON, no trailing newline)."""
    p = parameters_for(record, size)
    return json.dumps({
        "file": file_name, "image_id": record.id, "media_id": record.media_id, "prompt": p.prompt,
        "returned_prompt": record.returned_prompt, "seed": record.seed, "model": record.model,
        "aspect_ratio": record.aspect_ratio, "width": p.width, "height": p.height,
        "mime_type": record.mime_type, "created_at": record.created_at.isoformat(),
        "user": record.user_email, "favorite": record.is_favorite, "source": record.source,
        "parameters": parameters,
    }, ensure_ascii=False)
