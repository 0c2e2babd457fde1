"""Text inside image files: put a ``parameters`` text into PNG/JPEG bytes, take it out, read it.

Byte surgery only, no decoding of pixels, so an exported file has exactly the pixels (and,
for a PNG, exactly the other chunks) the service sent, and :func:`strip_text` gives the
stored bytes back byte for byte (tests/core/test_export.py):

- PNG: a ``parameters`` text chunk, inserted before the image data. ``tEXt`` when the text
  is Latin-1; otherwise ``iTXt`` (UTF-8), which is what A1111 and Pillow write for such
  text and what every PNG reader returns in the same place.
- JPEG: the text in EXIF ``UserComment`` (``UNICODE`` + UTF-16 big-endian, as piexif, A1111's
  reader, and sd-parsers decode it), existing EXIF kept.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, TiffTags, UnidentifiedImageError

KEY = "parameters"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_UNICODE_PREFIX = b"UNICODE\x00"
_ASCII_PREFIX = b"ASCII\x00\x00\x00"
_EXIF_HEADER = b"Exif\x00\x00"
_MAX_APP1 = 65533  # a JPEG segment's payload limit

# Pillow knows no type for UserComment and would write these bytes as BYTE; the EXIF spec
# (and piexif, which A1111 reads with) wants UNDEFINED. Registering the spec's type fixes
# that for every writer in this process; setdefault keeps Pillow's own entry if it grows one.
TiffTags.TAGS_V2_GROUPS.setdefault(_EXIF_IFD, {}).setdefault(
    _USER_COMMENT, TiffTags.TagInfo(_USER_COMMENT, "UserComment", TiffTags.UNDEFINED, 0))


class NotAnImage(ValueError):
    """The bytes are not an image Pillow can open (the caller words the message)."""


# --- PNG ------------------------------------------------------------------------------------

def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_MAGIC):
        raise ValueError("not a PNG")
    pos, chunks = len(PNG_MAGIC), []
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


def _is_text_chunk(ctype: bytes, payload: bytes) -> bool:
    return ctype in (b"tEXt", b"iTXt", b"zTXt") and payload.split(b"\x00", 1)[0] == KEY.encode()


def _text_chunk(text: str) -> bytes:
    key = KEY.encode("latin-1")
    try:
        if "\x00" in text:
            raise UnicodeEncodeError("latin-1", text, 0, 1, "NUL")
        return _png_chunk(b"tEXt", key + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword, no compression (flag, method), empty language tag and translated keyword
        return _png_chunk(b"iTXt", key + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8"))


def embed_png(data: bytes, text: str) -> bytes:
    """The PNG with one ``parameters`` chunk (replacing any), placed before the image data."""
    out = [PNG_MAGIC]
    inserted = False
    for ctype, payload in _png_chunks(data):
        if _is_text_chunk(ctype, payload):
            continue
        if ctype in (b"IDAT", b"IEND") and not inserted:
            out.append(_text_chunk(text))
            inserted = True
        out.append(_png_chunk(ctype, payload))
    return b"".join(out)


def _strip_png(data: bytes) -> bytes:
    return PNG_MAGIC + b"".join(_png_chunk(t, p) for t, p in _png_chunks(data) if not _is_text_chunk(t, p))


# --- JPEG -----------------------------------------------------------------------------------

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


def _jpeg_join(segments: list[tuple[int, bytes]], rest: bytes) -> bytes:
    out = [b"\xff\xd8"]
    for marker, payload in segments:
        out.append(bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload)
    out.append(rest)
    return b"".join(out)


def _exif_at(segments: list[tuple[int, bytes]]) -> int | None:
    for i, (marker, payload) in enumerate(segments):
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER):
            return i
    return None


def embed_jpeg(data: bytes, text: str) -> bytes:
    """The JPEG as received, with ``text`` in EXIF UserComment (existing EXIF kept)."""
    segments, rest = _jpeg_segments(data)
    exif = Image.Exif()
    at = _exif_at(segments)
    if at is not None:
        exif.load(segments[at][1][len(_EXIF_HEADER):])
    comment = text
    while True:
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _UNICODE_PREFIX + comment.encode("utf-16-be")
        blob = exif.tobytes()
        if not blob.startswith(_EXIF_HEADER):
            blob = _EXIF_HEADER + blob
        if len(blob) <= _MAX_APP1:
            break
        comment = comment[: len(comment) * 3 // 4]  # only a prompt near the 20,000-char limit gets here
    if at is not None:
        segments[at] = (0xE1, blob)
    else:
        at = 1 if segments and segments[0][0] == 0xE0 else 0  # after JFIF's APP0, as the spec wants
        segments.insert(at, (0xE1, blob))
    return _jpeg_join(segments, rest)


def _strip_jpeg(data: bytes) -> bytes:
    segments, rest = _jpeg_segments(data)
    at = _exif_at(segments)
    if at is None:
        return data
    exif = Image.Exif()
    exif.load(segments[at][1][len(_EXIF_HEADER):])
    ifd = exif.get_ifd(_EXIF_IFD)
    if _USER_COMMENT not in ifd:
        return data
    del ifd[_USER_COMMENT]
    if not ifd and set(exif.keys()) <= {_EXIF_IFD}:
        del segments[at]  # the segment held only our comment: as the file was before it
    else:
        blob = exif.tobytes()
        segments[at] = (0xE1, blob if blob.startswith(_EXIF_HEADER) else _EXIF_HEADER + blob)
    return _jpeg_join(segments, rest)


# --- both -----------------------------------------------------------------------------------

def embed_text(data: bytes, text: str) -> bytes:
    """PNG and JPEG get the text; any other format is returned unchanged (metadata.jsonl has it).

    ValueError for a PNG or JPEG whose structure is damaged."""
    if data.startswith(PNG_MAGIC):
        return embed_png(data, text)
    if data.startswith(b"\xff\xd8\xff"):
        return embed_jpeg(data, text)
    return data


def strip_text(data: bytes) -> bytes:
    """The bytes without the ``parameters`` text :func:`embed_text` put in: the image as stored.

    A PNG comes back byte for byte; so does a JPEG whose EXIF held only that comment. Bytes
    that cannot be parsed are returned as they are."""
    try:
        if data.startswith(PNG_MAGIC):
            return _strip_png(data)
        if data.startswith(b"\xff\xd8\xff"):
            return _strip_jpeg(data)
    except (ValueError, struct.error, OSError, SyntaxError):
        pass
    return data


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


def read_text(data: bytes) -> str | None:
    """The ``parameters`` text of image bytes (PNG text chunk, EXIF UserComment, JPEG comment);
    None if there is none. :class:`NotAnImage` if Pillow cannot open the bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            text = getattr(img, "text", None) if img.format == "PNG" else None  # all PNG text chunks
            if text and isinstance(text.get(KEY), str):
                return str(text[KEY])
            value = img.info.get(KEY)
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise NotAnImage(str(exc)) from exc
