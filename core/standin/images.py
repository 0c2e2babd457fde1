"""Pictures for the stand-in server: made on demand, deterministic, never stored.

An image is a pure function of (prompt, seed, index, aspect ratio, scale, format), so the
server keeps only those few values per media id and ``fetchMedia`` re-renders the very
same bytes that ``runImageFx`` sent. The pictures are real PNG/JPEG files of the real
sizes with gradients, shapes, noise and the prompt drawn on them: they exercise decoders,
thumbnails and database size handling like the real thing, without compressing to a few
hundred bytes. Noise is drawn at half resolution and PNG uses ``compress_level=1``: that
keeps a 1024x1024 image near 1 MB (real ones are 1-2 MB of base64) and under ~70 ms.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import re
import textwrap

from PIL import Image, ImageDraw, ImageFont

# Pixel sizes of real ImageFX output per aspect ratio.
SIZES: dict[str, tuple[int, int]] = {
    "IMAGE_ASPECT_RATIO_SQUARE": (1024, 1024),
    "IMAGE_ASPECT_RATIO_PORTRAIT": (768, 1376),
    "IMAGE_ASPECT_RATIO_LANDSCAPE": (1376, 768),
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": (1184, 864),
    "IMAGE_ASPECT_RATIO_UNSPECIFIED": (1024, 1024),
}
FORMATS = ("PNG", "JPEG")

# Colour words a prompt may name; the picture leans towards the first one found, so
# "a purple cat" looks purple and its caption can say so.
_PROMPT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 40), "orange": (240, 140, 20), "yellow": (235, 210, 40), "green": (40, 160, 60),
    "cyan": (40, 200, 210), "blue": (40, 80, 210), "purple": (130, 50, 170), "violet": (140, 70, 200),
    "pink": (235, 120, 170), "brown": (120, 75, 40), "black": (20, 20, 20), "white": (240, 240, 240),
    "grey": (128, 128, 128), "gray": (128, 128, 128), "gold": (212, 175, 55),
}
_WORD_RE = re.compile(r"[a-z]+")


def image_size(aspect_ratio: str, scale: float = 1.0) -> tuple[int, int]:
    """Width and height for an aspect ratio, scaled (tests use 0.25 to stay fast)."""
    w, h = SIZES.get(aspect_ratio, SIZES["IMAGE_ASPECT_RATIO_SQUARE"])
    return max(1, round(w * scale)), max(1, round(h * scale))


def _rng(prompt: str, seed: int, index: int) -> random.Random:
    digest = hashlib.sha256(f"{prompt}\x00{seed}\x00{index}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _colour(rng: random.Random, tint: tuple[int, int, int] | None) -> tuple[int, int, int]:
    c = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    if tint is None:
        return c
    return tuple((a + 2 * b) // 3 for a, b in zip(c, tint, strict=True))  # type: ignore[return-value]


def _tint_for(prompt: str) -> tuple[int, int, int] | None:
    for word in _WORD_RE.findall(prompt.lower()):
        if word in _PROMPT_COLOURS:
            return _PROMPT_COLOURS[word]
    return None


def render_image(prompt: str, seed: int, index: int, aspect_ratio: str, *, scale: float = 1.0,
                 fmt: str = "PNG") -> bytes:
    """The encoded picture for one generated image; same arguments, same bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"image format must be one of {FORMATS}, not {fmt!r}")
    w, h = image_size(aspect_ratio, scale)
    rng = _rng(prompt, seed, index)
    tint = _tint_for(prompt)

    # Background: a 3x3 grid of colours stretched into a smooth multi-corner gradient.
    grid = Image.new("RGB", (3, 3))
    grid.putdata([_colour(rng, tint) for _ in range(9)])
    img = grid.resize((w, h), Image.Resampling.BILINEAR)

    draw = ImageDraw.Draw(img)
    short = min(w, h)
    for _ in range(rng.randrange(6, 11)):
        fill = _colour(rng, tint)
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(max(1, short // 12), max(2, short // 2))
        kind = rng.randrange(3)
        if kind == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        elif kind == 1:
            edge = max(1, short // 300)
            draw.rectangle((x, y, x + r, y + r // 2), fill=fill, outline=(0, 0, 0), width=edge)
        else:
            draw.polygon([(rng.randrange(w), rng.randrange(h)) for _ in range(3)], fill=fill)

    # Film-grain noise at half resolution: enough entropy for a realistic file size.
    nw, nh = max(1, w // 2), max(1, h // 2)
    noise = Image.frombytes("RGB", (nw, nh), rng.randbytes(nw * nh * 3))
    img = Image.blend(img, noise.resize((w, h), Image.Resampling.NEAREST), 0.12)

    _draw_caption(img, prompt, seed, index)
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, "PNG", compress_level=1)
    else:
        img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError, TypeError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _draw_caption(img: Image.Image, prompt: str, seed: int, index: int) -> None:
    """The prompt on the picture, and a label so nobody mistakes it for real output."""
    w, h = img.size
    size = max(8, min(w, h) // 22)
    font = _font(size)
    chars = max(8, int(w * 0.9 / (size * 0.55)))
    lines = textwrap.wrap(prompt, width=chars, max_lines=4, placeholder=" …") or [""]
    lines.append(f"seed {seed} · #{index + 1}")
    draw = ImageDraw.Draw(img)
    stroke = max(1, size // 16)
    draw.multiline_text((w // 20, h // 20), "\n".join(lines), font=font, fill=(255, 255, 255),
                        stroke_width=stroke, stroke_fill=(0, 0, 0))
    small = _font(max(8, size * 2 // 3))
    draw.text((w // 20, h - h // 20 - size), "ImageFX stand-in", font=small, fill=(255, 255, 255),
              stroke_width=stroke, stroke_fill=(0, 0, 0))


def render_avatar(name: str, size: int = 96) -> bytes:
    """A round-ish initial on a colour from the name: the session answer's ``user.image``."""
    rng = _rng(name, 0, 0)
    img = Image.new("RGB", (size, size), _colour(rng, None))
    draw = ImageDraw.Draw(img)
    initial = (name.strip()[:1] or "?").upper()
    draw.text((size // 2, size // 2), initial, font=_font(size // 2), fill=(255, 255, 255), anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# --- what the caption endpoint needs -------------------------------------------------------

# Detected type -> MIME types a browser or client may label it with.
MIME_TYPES: dict[str, tuple[str, ...]] = {
    "png": ("image/png", "image/apng"),
    "jpeg": ("image/jpeg", "image/jpg", "image/pjpeg"),
    "gif": ("image/gif",),
    "webp": ("image/webp",),
    "bmp": ("image/bmp", "image/x-ms-bmp", "image/x-bmp"),
    "tiff": ("image/tiff",),
    "svg": ("image/svg+xml",),
    "avif": ("image/avif",),
}
RASTER_TYPES = frozenset(MIME_TYPES) - {"svg"}


def detect_image_type(data: bytes) -> str | None:
    """The image type from magic bytes (never from a name or a claimed MIME type)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) > 14:
        return "bmp"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype svg", b"<!--")) and b"<svg" in head:
        return "svg"
    return None


def _colour_name(rgb: tuple[int, int, int]) -> str:
    r, g, b = (c / 255 for c in rgb)
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    if val < 0.18:
        return "black"
    if sat < 0.15:
        return "white" if val > 0.85 else "grey"
    deg = hue * 360
    if deg < 15 or deg >= 345:
        name = "red"
    elif deg < 45:
        name = "orange"
    elif deg < 70:
        name = "yellow"
    elif deg < 165:
        name = "green"
    elif deg < 195:
        name = "cyan"
    elif deg < 255:
        name = "blue"
    elif deg < 290:
        name = "purple"
    else:
        name = "pink"
    if name in ("red", "orange") and val < 0.6:
        return "brown"
    return name


def describe_raster(img: Image.Image) -> tuple[int, int, str]:
    """Width, height and the name of the dominant colour."""
    w, h = img.size
    thumb = img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
    colours = thumb.quantize(6).convert("RGB").getcolors(64) or [(1, (128, 128, 128))]
    _count, rgb = max(colours, key=lambda c: c[0])
    return w, h, _colour_name(rgb)  # type: ignore[arg-type]  # an RGB image's colours are (r, g, b)


_SVG_DIM = re.compile(rb'<svg[^>]*?\swidth="([\d.]+)(?:px)?"[^>]*?\sheight="([\d.]+)(?:px)?"', re.I | re.S)


def svg_size(data: bytes) -> tuple[int, int] | None:
    m = _SVG_DIM.search(data[:8192])
    if not m:
        return None
    try:
        return round(float(m.group(1))), round(float(m.group(2)))
    except ValueError:
        return None


_TEMPLATES = (
    "A {orientation} image of {w}x{h} pixels in which {colour} is the dominant colour.",
    "{Colour} tones dominate this {w}x{h} {orientation} picture.",
    "A {w} by {h} pixel {orientation} composition, mostly {colour}.",
    "An abstract {orientation} scene ({w}x{h}) washed in {colour}.",
    "A {colour}-dominated {orientation} frame, {w} pixels wide and {h} pixels tall.",
    "Shapes and soft gradients on a {orientation} {w}x{h} canvas, predominantly {colour}.",
    "A detailed {orientation} illustration measuring {w}x{h}, with {colour} as its main colour.",
    "A {w}x{h} {orientation} photograph-like image with a {colour} palette.",
)


def captions(w: int | None, h: int | None, colour: str | None, count: int) -> list[str]:
    """``count`` different sentences about the image (size, orientation, dominant colour)."""
    if w is None or h is None:
        base = "An SVG vector drawing"
        return [f"{base}{'' if i == 0 else f' (variant {i + 1})'} without a fixed pixel size."
                for i in range(count)]
    orientation = "square" if w == h else ("landscape" if w > h else "portrait")
    colour = colour or "grey"
    out = []
    for i in range(count):
        text = _TEMPLATES[i % len(_TEMPLATES)].format(orientation=orientation, w=w, h=h, colour=colour,
                                                      Colour=colour.capitalize())
        if i >= len(_TEMPLATES):
            text = f"{text[:-1]} (variant {i + 1})."
        out.append(text)
    return out
