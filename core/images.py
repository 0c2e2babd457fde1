"""Image bytes: what type they are, thumbnails, and uploads small enough to send.

Types are decided from the bytes, never from a file name (a ``.png`` can be text).
Thumbnails are made once, when an image is stored, because decoding a 1024-px PNG costs
10–25 ms (docs/platform-notes.md): a gallery that decodes full images while scrolling stutters.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

THUMB_SIZE = 320  # longest side, px; sharp at the gallery's 160-px cells on HiDPI screens
THUMB_QUALITY = 82
MAX_UPLOAD_SIDE = 2048  # captioning needs no more; large images are downscaled first
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 120_000_000  # refuse decompression bombs beyond this before decoding
MAX_FILE_BYTES = 64 * 1024 * 1024

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


# File names captioned when a whole folder is (the Captions tab's "Caption a folder…", ``imagefx caption -i DIR``).
CAPTION_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg",
                              ".avif"})


def images_in_folder(folder: Path) -> tuple[list[Path], int]:
    """A folder's image files by name (not its subfolders, not hidden files), and how many other files
    it holds. OSError when the folder cannot be listed."""
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name.casefold())
    files = [p for p in entries if p.suffix.lower() in CAPTION_SUFFIXES and not p.is_dir()]
    others = sum(1 for p in entries if p.is_file() and p.suffix.lower() not in CAPTION_SUFFIXES)
    return files, others


class ImageError(ValueError):
    """A file is not an image we can use. The message is one line for the user."""


@dataclass(frozen=True)
class ImageInfo:
    kind: str  # png, jpeg, gif, webp, bmp, tiff, svg, avif, apng
    mime: str
    extension: str  # with the dot


_MIME = {
    "png": "image/png", "apng": "image/apng", "jpeg": "image/jpeg", "gif": "image/gif",
    "webp": "image/webp", "bmp": "image/bmp", "tiff": "image/tiff", "svg": "image/svg+xml",
    "avif": "image/avif",
}
_EXT = {"png": ".png", "apng": ".png", "jpeg": ".jpg", "gif": ".gif", "webp": ".webp", "bmp": ".bmp",
        "tiff": ".tiff", "svg": ".svg", "avif": ".avif"}
_SVG_RE = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE[^>]*>\s*)?<svg[\s>]", re.S | re.I)


def sniff(data: bytes) -> ImageInfo | None:
    """The image type of ``data`` from its magic bytes, or None."""
    head = data[:64]
    kind: str | None = None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = "apng" if b"acTL" in data[:4096] else "png"
    elif head.startswith(b"\xff\xd8\xff"):
        kind = "jpeg"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        kind = "gif"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "webp"
    elif head[:2] == b"BM" and len(data) > 26:
        kind = "bmp"
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        kind = "tiff"
    elif head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        kind = "avif"
    elif _SVG_RE.match(data[:2048].lstrip(b"\xef\xbb\xbf")):
        kind = "svg"
    if kind is None:
        return None
    return ImageInfo(kind=kind, mime=_MIME[kind], extension=_EXT[kind])


def extension_for(data: bytes) -> str:
    info = sniff(data)
    return info.extension if info else ".bin"


def _open(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"The image is too large ({w}×{h} pixels).")
            img.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError("The image is too large to open safely (decompression bomb).") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise ImageError("The file is damaged or not a supported image.") from None
    return img


def dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header only (no full decode)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return None


def make_thumbnail(data: bytes, size: int = THUMB_SIZE) -> tuple[bytes, int, int]:
    """A JPEG thumbnail (bytes, width, height). JPEG because Qt decodes it fastest."""
    img = _open(data)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGB", img.size, (32, 32, 36))
        bg.paste(img, mask=img.getchannel("A"))
        img = bg
    elif img.mode != "RGB":
        img = img.convert("RGB")
    # draft() lets the JPEG decoder skip work; reduce() is a cheap box pre-shrink.
    factor = max(1, min(img.width, img.height) // (size * 2))
    if factor > 1:
        img = img.reduce(factor)
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=THUMB_QUALITY, optimize=False, progressive=False)
    return out.getvalue(), img.width, img.height


@dataclass(frozen=True)
class Upload:
    data: bytes
    mime: str
    kind: str
    downscaled: bool


def prepare_upload(data: bytes, declared_type: str | None = None) -> Upload:
    """Check a file for captioning and shrink it if it is large; ImageError with a reason if unusable."""
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"The file is too large ({len(data) // (1024 * 1024)} MB; the limit is "
                         f"{MAX_FILE_BYTES // (1024 * 1024)} MB).")
    info = sniff(data)
    if info is None:
        raise ImageError("The file is not an image.")
    if declared_type:
        declared = declared_type.strip().lower().lstrip(".")
        declared = {"jpg": "jpeg", "jpe": "jpeg", "tif": "tiff"}.get(declared, declared)
        actual = "png" if info.kind == "apng" else info.kind
        if declared not in (info.kind, actual):
            raise ImageError(f"The file is {info.kind.upper()}, not {declared.upper()}.")
    if info.kind == "svg":
        return _rasterize_svg(data)
    img = _open(data)
    if info.kind in ("png", "jpeg", "webp") and max(img.size) <= MAX_UPLOAD_SIDE \
            and len(data) <= MAX_UPLOAD_BYTES:
        return Upload(data=data, mime=info.mime, kind=info.kind, downscaled=False)
    # Everything else (GIF, BMP, TIFF, AVIF, big images) goes up as a PNG/JPEG the service reads.
    img = ImageOps.exif_transpose(img)
    downscaled = max(img.size) > MAX_UPLOAD_SIDE
    if downscaled:
        img.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img.convert("RGBA").save(out, "PNG")
        mime, kind = "image/png", "png"
    else:
        img.convert("RGB").save(out, "JPEG", quality=90)
        mime, kind = "image/jpeg", "jpeg"
    return Upload(data=out.getvalue(), mime=mime, kind=kind, downscaled=downscaled)


_SVG_EXTERNAL_RE = re.compile(rb"""(?:href|src)\s*=\s*["'](?!\s*(?:#|data:))""", re.I)
_SVG_SIZE_RE = re.compile(rb"""viewBox\s*=\s*["']\s*[-\d.eE]+[\s,]+[-\d.eE]+[\s,]+([\d.eE]+)[\s,]+([\d.eE]+)""", re.I)


def _rasterize_svg(data: bytes) -> Upload:
    """SVGs are never sent as is (they can carry scripts): they are drawn to a PNG first.

    resvg runs no scripts. An SVG that points at other files or URLs is refused, so a
    dropped SVG can never pull a local file into what gets uploaded.
    """
    if _SVG_EXTERNAL_RE.search(data):
        raise ImageError("The SVG refers to other files or web addresses; only self-contained SVGs are "
                         "accepted.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImageError("The SVG is not valid UTF-8 text.") from None
    width = 1024
    m = _SVG_SIZE_RE.search(data)
    if m:
        try:
            vw, vh = float(m.group(1)), float(m.group(2))
            if vw > 0 and vh > 0 and vh / vw > 1:
                width = max(16, int(1024 * vw / vh))  # keep the long side at 1024 px
        except ValueError:
            pass
    try:
        import resvg_py

        png = bytes(resvg_py.svg_to_bytes(svg_string=text, width=width, background="#ffffff",
                                          skip_system_fonts=False))
    except Exception:  # resvg raises ValueError on bad SVG; anything else is just as unusable
        raise ImageError("The SVG cannot be drawn (it is damaged or unsupported).") from None
    img = _open(png)
    if max(img.size) > MAX_UPLOAD_SIDE:
        img.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, "PNG")
        png = out.getvalue()
    return Upload(data=png, mime="image/png", kind="png", downscaled=False)
