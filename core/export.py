"""Images leaving the app as files: one parameters text, one naming rule, one writer.

Every way out (Export, "Save image as…", saving several to a folder, drag-out, the clipboard's
file, the rescue of a generation nothing could store, ``generate -d`` and ``fetch -d``) goes
through :class:`FolderWriter` or :func:`save_file`, so every file carries the same metadata and
gets its name by the same rule.

**The text** is the layout AUTOMATIC1111's "PNG Info" writes (and ``sd-parsers`` and A1111's
``parse_generation_parameters`` read): the prompt, then one line of ``Key: value`` pairs::

    a purple cat wearing a yellow hat
    Steps: 0, Sampler: ImageFX, CFG scale: 0, Seed: 123456, Size: 1024x576, Model: IMAGEN_3_5,
    Aspect ratio: LANDSCAPE, Media id: CAMa…, Date: 2026-11-25T17:02:21Z

(one line in the file). ImageFX has no sampler, step count or guidance scale that it reports:
Google's service chooses them. A1111 readers need ``Sampler`` and at least three of
Steps/Sampler/CFG scale/Seed to accept a line at all, so the line says ``Sampler: ImageFX``
(the image was made by ImageFX, not by a sampler you could pick) and ``Steps: 0``,
``CFG scale: 0``, meaning "not applicable" (docs/file-formats.md). Seed, Size and Model are
the real values. The text goes into the file by :mod:`core.imagemeta`.

**Names** come from a template (``{date}_{prompt:40}_{seed}``) and are safe on Windows, macOS
and Linux whatever the prompt holds: letters of any script are kept (a Japanese prompt stays
Japanese), reserved device names (``CON``, ``nul.txt``…) get a ``_``, and a name never exceeds
:data:`MAX_STEM_BYTES` UTF-8 bytes (tests/core/test_export.py runs hypothesis over it).

**Writing** never overwrites a file and never follows a link planted in the folder: each file
is written to a hidden temporary name (``O_EXCL | O_NOFOLLOW``) and linked into place only when
it is complete, so a full disk or a signal leaves no half or empty image. ``metadata.jsonl``
is appended with ``O_NOFOLLOW`` and refused if it is a link. Writing the same image into the
same folder again is a no-op (by media id), and a folder the writer created is removed again if
nothing was written into it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import imagemeta
from core.imagefx import protocol
from core.private import fsync_dir
from core.store.records import ImageRecord, NewGeneration, NewImage

PARAMETERS_KEY = imagemeta.KEY
DEFAULT_TEMPLATE = "{date}_{prompt:40}_{seed}"
TEMPLATE_FIELDS: tuple[str, ...] = ("date", "prompt", "seed", "media_id", "model", "aspect", "id", "user")
MAX_STEM_BYTES = 150  # UTF-8 bytes; leaves room for "-12345", the extension and a temp prefix under 255
METADATA_FILE = "metadata.jsonl"
MAX_FILE_BYTES = 64 * 1024 * 1024  # an image file read back (re-export check, import)
SAMPLER = "ImageFX"  # see the module docstring: ImageFX reports no sampler, steps or CFG scale
NOT_APPLICABLE = "0"

# The pattern A1111 uses for the last line; three matches make it a parameters line.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_FIELD_RE = re.compile(r"\{([a-z_]+)(?::(\d+))?\}")
_MODEL_RE = re.compile(r"^[A-Z0-9_]{1,50}$")
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", "CLOCK$", "CONIN$", "CONOUT$",
                       *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
                       "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"})
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


class ExportError(Exception):
    """A file could not be written or read. The message is one sentence: what, where, what to do."""


@dataclass(frozen=True)
class ImageParameters:
    """What an image's text says about how it was made. Unknown values are None."""

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


@dataclass(frozen=True)
class ImageFacts:
    """One image's fields that travel with its file (the text inside, metadata.jsonl).

    Built from a stored row (:func:`facts_of`), from a generation not stored yet
    (:func:`facts_of_new`), or read back from a file (:func:`facts_from_metadata`)."""

    media_id: str
    prompt: str
    created_at: datetime
    seed: int | None = None
    model: str | None = None
    aspect_ratio: str | None = None
    width: int | None = None
    height: int | None = None
    mime_type: str | None = None
    returned_prompt: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    image_id: int | None = None
    is_favorite: bool = False
    source: str | None = None
    workflow_id: str | None = None
    fingerprint_log_record_id: str | None = None
    prompt_seed: int | None = None  # what was asked for (0: random); ``seed`` is what was used
    number_of_images: int | None = None
    byte_size: int | None = None


def facts_of(record: ImageRecord | ImageFacts) -> ImageFacts:
    if isinstance(record, ImageFacts):
        return record
    return ImageFacts(media_id=record.media_id, prompt=record.prompt or record.returned_prompt or "",
                      created_at=record.created_at, seed=record.seed, model=record.model,
                      aspect_ratio=record.aspect_ratio, width=record.width, height=record.height,
                      mime_type=record.mime_type, returned_prompt=record.returned_prompt,
                      user_email=record.user_email, image_id=record.id, is_favorite=record.is_favorite,
                      source=record.source)


def facts_of_new(gen: NewGeneration, img: NewImage) -> ImageFacts:
    """A generation's image before (or instead of) the database: ``generate -d``, the rescue."""
    return ImageFacts(media_id=img.media_id, prompt=gen.prompt, created_at=gen.created_at or datetime.now(UTC),
                      seed=img.seed, model=img.model, aspect_ratio=img.aspect_ratio, width=img.width,
                      height=img.height, mime_type=img.mime_type, returned_prompt=img.returned_prompt,
                      user_email=gen.user_email, user_name=gen.user_name, source=gen.source,
                      workflow_id=img.workflow_id, fingerprint_log_record_id=img.fingerprint_log_record_id,
                      prompt_seed=gen.seed, number_of_images=gen.count, byte_size=img.byte_size)


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
    """ISO 8601 in UTC; microseconds only when there are some (so the date comes back exactly)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if when.microsecond else "") + "Z")


def parameters_for(record: ImageRecord | ImageFacts, size: tuple[int, int] | None = None) -> ImageParameters:
    """The parameters of an image (``size`` when the record lacks width/height)."""
    f = facts_of(record)
    width = f.width if f.width else (size[0] if size else None)
    height = f.height if f.height else (size[1] if size else None)
    return ImageParameters(prompt=f.prompt or f.returned_prompt or "", seed=f.seed, model=f.model,
                           aspect_ratio=f.aspect_ratio, width=width, height=height, media_id=f.media_id,
                           date=_utc_text(f.created_at))


def parameters_text(p: ImageParameters) -> str:
    """The ``parameters`` text: prompt first, then ``Steps: 0, Sampler: ImageFX, …, Seed: N, Size: WxH, …``."""
    prompt = p.prompt.replace("\r\n", "\n").replace("\r", "\n").strip()
    pairs: list[tuple[str, str]] = [("Steps", NOT_APPLICABLE), ("Sampler", SAMPLER), ("CFG scale", NOT_APPLICABLE)]
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


def aspect_ratio_from(value: str | None, width: int | None, height: int | None) -> str | None:
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
        written = values["Model"].strip()
        if values.get("Sampler") == SAMPLER and _MODEL_RE.match(written):
            model = written  # our own file: the model exactly as the service named it
        else:
            candidate = protocol.normalize_model(written)
            model = candidate if candidate in protocol.KNOWN_MODELS else None
    return ImageParameters(
        prompt="\n".join(prompt_lines).strip(), seed=seed, model=model,
        aspect_ratio=aspect_ratio_from(values.get("Aspect ratio"), width, height), width=width, height=height,
        media_id=values.get("Media id") or None, date=values.get("Date") or None,
        negative_prompt="\n".join(negative_lines).strip(), extra=values)


def parse_date(text: str | None) -> datetime | None:
    """A ``Date`` value (ISO 8601, ``Z`` or an offset) as an aware datetime; None if it is not one."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# --- into the file and back --------------------------------------------------------------------

def embed_parameters(data: bytes, text: str) -> bytes:
    """PNG and JPEG get the text (:mod:`core.imagemeta`); other formats are returned unchanged."""
    return imagemeta.embed_text(data, text)


def file_bytes(facts: ImageFacts | ImageRecord, data: bytes) -> bytes:
    """The bytes of the exported file: the image with its parameters inside (as stored if that
    fails: a damaged stored image is still worth having)."""
    from core import images

    f = facts_of(facts)
    size = (f.width, f.height) if f.width and f.height else images.dimensions(data)
    try:
        return embed_parameters(data, parameters_text(parameters_for(f, size)))
    except ValueError:
        return data


def read_file(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most ``limit``: never a FIFO or a device (the app's one bounded
    reader, :func:`core.userfiles.read_bytes`). ``core.images.ImageError`` with a reason otherwise."""
    from core.images import ImageError
    from core.userfiles import read_bytes

    return read_bytes(path, limit=limit, what="image", error=ImageError)


def read_parameters_text(source: str | os.PathLike[str] | bytes) -> str | None:
    """The raw ``parameters`` text of an image file or bytes; None if it has none.

    Raises ``core.images.ImageError`` if the data is not an image.
    """
    from core.images import ImageError

    data = source if isinstance(source, bytes) else read_file(source)
    try:
        return imagemeta.read_text(data)
    except imagemeta.NotAnImage:
        raise ImageError("The file is not an image this app can read.") from None


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
    """A file name stem valid on Windows, macOS and Linux (no extension); never empty."""
    s = unicodedata.normalize("NFC", _component(stem))
    s = _truncate_bytes(s, MAX_STEM_BYTES)
    s = s.strip(".-_ ")  # no hidden files, no trailing dot (Windows), no dangling separators
    if not s:
        return "image"
    if s.split(".", 1)[0].upper() in _RESERVED:
        s = _truncate_bytes("_" + s, MAX_STEM_BYTES)
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


def template_values(record: ImageRecord | ImageFacts) -> dict[str, Any]:
    f = facts_of(record)
    created = f.created_at
    local = created.astimezone() if created.tzinfo else created
    return {"date": local.strftime("%Y%m%d-%H%M%S"), "prompt": f.prompt or f.returned_prompt or "",
            "seed": f.seed if f.seed is not None else 0, "media_id": f.media_id,
            "model": f.model or "", "aspect": _short_aspect(f.aspect_ratio) or "",
            "id": f.image_id if f.image_id is not None else "", "user": (f.user_email or "").split("@", 1)[0]}


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


def file_name(record: ImageRecord | ImageFacts, data: bytes | None = None,
              template: str = DEFAULT_TEMPLATE) -> str:
    """The name the naming rule gives an image (the extension from its bytes, or its MIME type)."""
    from core import images

    f = facts_of(record)
    if data is not None:
        ext = images.extension_for(data)
    else:
        ext = ".jpg" if (f.mime_type or "").endswith(("jpeg", "jpg")) else ".png"
    return render_stem(template, template_values(f)) + ext


class NameAllocator:
    """Unique names in one folder, also where the file system ignores case or normalisation
    (Windows, macOS): ``x.png``, ``x-2.png``, … Names of files already there count as taken."""

    def __init__(self, directory: Path | None = None) -> None:
        self._taken: dict[str, str] = {}  # key -> the name as it is on disk
        if directory is not None and directory.is_dir():
            for name in os.listdir(directory):
                self._taken[self._key(name)] = name

    @staticmethod
    def _key(name: str) -> str:
        return unicodedata.normalize("NFC", name).casefold()

    def candidates(self, stem: str, extension: str) -> Iterator[str]:
        yield f"{stem}{extension}"
        n = 2
        while True:
            yield f"{stem}-{n}{extension}"
            n += 1

    def existing(self, name: str) -> str | None:
        """The name on disk that ``name`` would collide with, if any."""
        return self._taken.get(self._key(name))

    def take(self, name: str) -> None:
        self._taken.setdefault(self._key(name), name)

    def allocate(self, stem: str, extension: str) -> str:
        for name in self.candidates(stem, extension):
            if self.existing(name) is None:
                self.take(name)
                return name
        raise AssertionError("unreachable")


# --- metadata.jsonl ------------------------------------------------------------------------------

def metadata_record(facts: ImageFacts | ImageRecord, file_name: str, parameters: str) -> dict[str, Any]:
    """One ``metadata.jsonl`` record: every field an image file can carry, for import and other tools."""
    f = facts_of(facts)
    return {
        "file": file_name, "image_id": f.image_id, "media_id": f.media_id, "prompt": f.prompt,
        "returned_prompt": f.returned_prompt, "seed": f.seed, "model": f.model, "aspect_ratio": f.aspect_ratio,
        "width": f.width, "height": f.height, "mime_type": f.mime_type, "created_at": f.created_at.isoformat(),
        "user": f.user_email, "user_name": f.user_name, "favorite": f.is_favorite, "source": f.source,
        "workflow_id": f.workflow_id, "fingerprint_log_record_id": f.fingerprint_log_record_id,
        "prompt_seed": f.prompt_seed, "number_of_images": f.number_of_images, "byte_size": f.byte_size,
        "parameters": parameters,
    }


def metadata_line(facts: ImageFacts | ImageRecord, file_name: str, parameters: str,
                  size: tuple[int, int] | None = None) -> str:
    """One ``metadata.jsonl`` line (JSON, no trailing newline)."""
    f = facts_of(facts)
    if size and not (f.width and f.height):
        from dataclasses import replace

        f = replace(f, width=size[0], height=size[1])
    return json.dumps(metadata_record(f, file_name, parameters), ensure_ascii=False)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def facts_from_metadata(record: Mapping[str, Any]) -> ImageFacts | None:
    """The facts of a ``metadata.jsonl`` record; None if it lacks a media id, prompt or date."""
    media_id, prompt = _opt_str(record.get("media_id")), record.get("prompt")
    created = record.get("created_at")
    when = parse_date(created) if isinstance(created, str) else None
    if media_id is None or not isinstance(prompt, str) or when is None:
        return None
    return ImageFacts(
        media_id=media_id, prompt=prompt, created_at=when, seed=_opt_int(record.get("seed")),
        model=_opt_str(record.get("model")), aspect_ratio=_opt_str(record.get("aspect_ratio")),
        width=_opt_int(record.get("width")), height=_opt_int(record.get("height")),
        mime_type=_opt_str(record.get("mime_type")), returned_prompt=_opt_str(record.get("returned_prompt")),
        user_email=_opt_str(record.get("user")), user_name=_opt_str(record.get("user_name")),
        image_id=_opt_int(record.get("image_id")), is_favorite=record.get("favorite") is True,
        source=_opt_str(record.get("source")), workflow_id=_opt_str(record.get("workflow_id")),
        fingerprint_log_record_id=_opt_str(record.get("fingerprint_log_record_id")),
        prompt_seed=_opt_int(record.get("prompt_seed")), number_of_images=_opt_int(record.get("number_of_images")),
        byte_size=_opt_int(record.get("byte_size")))


def _open_no_link(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a symbolic link, a hard-linked file and anything not a regular file."""
    try:
        fd = os.open(path, flags | _O_NOFOLLOW | _O_CLOEXEC | _O_NONBLOCK | _O_BINARY, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (os.path.islink(path)):
            raise ExportError(f"{path} is a symbolic link; files are never written through links. Remove it "
                              "or choose another folder.") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        what = "has other hard links" if stat.S_ISREG(st.st_mode) else "is not a regular file"
        raise ExportError(f"{path} {what}; it is left alone. Remove it or choose another folder.")
    if _O_NONBLOCK:
        os.set_blocking(fd, True)
    return fd


def read_metadata(folder: Path) -> Iterator[dict[str, Any]]:
    """The records of a folder's ``metadata.jsonl``, one at a time (lines that are not JSON
    objects are skipped). Nothing if there is none; ExportError if it is a link or not a file."""
    path = folder / METADATA_FILE
    try:
        os.lstat(path)
    except FileNotFoundError:
        return
    fd = _open_no_link(path, os.O_RDONLY)
    with open(fd, "rb") as fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


# --- the writer ------------------------------------------------------------------------------------

def describe_os_error(exc: OSError, folder: Path, name: str | None = None) -> ExportError:
    """One sentence for a failed write: a full disk says so, and where."""
    what = f"{name} could not be saved" if name else "Nothing could be saved"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return ExportError(f"The disk holding {folder} is full: {what}. Free some space or choose another folder.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportError(f"The folder {folder} is not writable ({exc.strerror}): {what}. Choose another folder.")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and name is None:
        return ExportError(f"{folder} is not a folder. Choose another one.")
    return ExportError(f"{what} in {folder} ({exc.strerror or type(exc).__name__}).")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new hidden file next to ``name``, created exclusively (no link followed): (fd, path)."""
    short = _truncate_bytes(name, 60)
    for _ in range(100):
        tmp = folder / f".{short}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, 0o644)
            return fd, tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def _write_temp(folder: Path, name: str, data: bytes, durable: bool) -> Path:
    """The bytes in a new hidden temp file next to ``name``; removed again if writing fails."""
    fd, tmp = _create_temp(folder, name)
    try:
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _place(tmp: Path, final: Path) -> None:
    """Move a complete temp file to ``final`` without ever replacing what is there (EEXIST)."""
    try:
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV,
                                 errno.EMLINK, errno.EACCES):
                raise
            # No hard links here (FAT, some network shares): rename, after checking the name is
            # free. On Windows rename itself refuses an existing name.
            if os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, "exists", str(final)) from None
            os.rename(tmp, final)
    finally:
        _unlink_quietly(tmp)


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    media_id: str
    already: bool = False  # the folder held this image already: nothing was written


class FolderWriter:
    """Images into one folder: ``with FolderWriter(folder, metadata=True) as w: w.write(facts, data)``.

    ``metadata`` also keeps ``metadata.jsonl`` (Export does; a drag or ``-d`` does not).
    ``durable`` fsyncs each file (``generate -d``, the rescue: files that may be the only copy).
    The folder (and missing parents) is created on :meth:`open` and removed again on
    :meth:`close` if nothing was written into it.
    """

    def __init__(self, folder: str | os.PathLike[str], *, template: str = DEFAULT_TEMPLATE,
                 metadata: bool = False, durable: bool = False) -> None:
        try:
            check_template(template)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
        self.folder = Path(folder).expanduser()
        self.template = template
        self.metadata = metadata
        self.durable = durable
        self.written = 0  # files written by this writer
        self._created: list[Path] = []
        self._names = NameAllocator()
        self._known: dict[str, str] = {}  # media id -> file name: metadata.jsonl and this run
        self._listed: dict[str, str] = {}  # media id -> file name, as metadata.jsonl says (last line wins)
        self._meta_fd: int | None = None
        self._opened = False

    # --- life ---------------------------------------------------------------------------------

    def open(self) -> FolderWriter:
        if self._opened:
            return self
        missing: list[Path] = []
        p = self.folder
        while not os.path.lexists(p) and p != p.parent:
            missing.append(p)
            p = p.parent
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe_os_error(exc, self.folder) from None
        self._created = missing  # deepest first
        self._opened = True
        try:
            if not os.access(self.folder, os.W_OK):
                raise ExportError(f"The folder {self.folder} is not writable. Choose another folder.")
            self._names = NameAllocator(self.folder)
            if self.metadata:
                for record in read_metadata(self.folder):
                    media, name = record.get("media_id"), record.get("file")
                    if isinstance(media, str) and isinstance(name, str):
                        self._known[media] = name
                        self._listed[media] = name
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._meta_fd is not None:
            os.close(self._meta_fd)
            self._meta_fd = None
        if self.written == 0:
            for d in self._created:  # only folders this writer made, deepest first, only if empty
                try:
                    os.rmdir(d)
                except OSError:
                    break
        self._created = []

    def __enter__(self) -> FolderWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------------

    def write(self, facts: ImageFacts | ImageRecord, data: bytes) -> WrittenFile:
        """``data`` (the image as stored) as a file with its parameters inside, named by the rule.

        Already in the folder (same media id) → nothing written, ``already=True``."""
        self.open()
        f = facts_of(facts)
        from core import images

        size = (f.width, f.height) if f.width and f.height else images.dimensions(data)
        text = parameters_text(parameters_for(f, size))
        known = self._known.get(f.media_id)
        if known is not None and self._is_regular(known):
            self._note(f, known, text, size)
            return WrittenFile(self.folder / known, f.media_id, already=True)
        try:
            out = embed_parameters(data, text)
        except ValueError:  # a damaged stored image: written as it is
            out = data
        stem = render_stem(self.template, template_values(f))
        for candidate in self._names.candidates(stem, images.extension_for(data)):
            on_disk = self._names.existing(candidate)
            if on_disk is not None:
                if self._holds(on_disk, f.media_id):
                    self._note(f, on_disk, text, size)
                    return WrittenFile(self.folder / on_disk, f.media_id, already=True)
                continue
            try:
                self._put(candidate, out)
            except FileExistsError:  # written by someone else since we listed the folder
                self._names.take(candidate)
                continue
            self._names.take(candidate)
            self.written += 1
            self._note(f, candidate, text, size)
            return WrittenFile(self.folder / candidate, f.media_id)
        raise AssertionError("unreachable")

    def write_sidecar(self, image_name: str, text: str) -> Path | None:
        """``text`` as ``<image stem>.txt`` beside an image this writer placed (a caption, as taggui and
        training tools read them: UTF-8, one caption, a final newline). The same text there already:
        nothing written (None). Another text there (the caption was edited since): replaced at once,
        through a temp file renamed over it, never following a link planted under that name."""
        self.open()
        name = Path(image_name).with_suffix(".txt").name
        final = self.folder / name
        data = (text.strip() + "\n").encode("utf-8")
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise describe_os_error(exc, self.folder, name) from None
        if st is not None and not stat.S_ISLNK(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                raise ExportError(f"{final} is not a regular file; the caption beside that image was not written.")
            try:
                if read_file(final, limit=len(data) + 1) == data:
                    return None
            except (OSError, ValueError):
                pass
        try:
            tmp = _write_temp(self.folder, name, data, self.durable)
            try:
                os.replace(tmp, final)  # replaces the name itself: a link there is replaced, not followed
            finally:
                _unlink_quietly(tmp)
        except OSError as exc:
            raise describe_os_error(exc, self.folder, name) from None
        self.written += 1
        return final

    def _put(self, name: str, out: bytes) -> None:
        final = self.folder / name
        try:
            tmp = _write_temp(self.folder, name, out, self.durable)
            _place(tmp, final)
            if self.durable:
                fsync_dir(self.folder)
        except FileExistsError:
            raise
        except OSError as exc:
            raise describe_os_error(exc, self.folder, name) from None

    def _is_regular(self, name: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.folder / name).st_mode)
        except OSError:
            return False

    def _holds(self, name: str, media_id: str) -> bool:
        """Is the file ``name`` this image (its text names the media id)? A re-export says yes."""
        if not self._is_regular(name):
            return False
        try:
            text = imagemeta.read_text(read_file(self.folder / name))
        except (ValueError, OSError):
            return False
        return text is not None and text != "" and parse_parameters(text).media_id == media_id

    def _note(self, f: ImageFacts, name: str, text: str, size: tuple[int, int] | None) -> None:
        self._known[f.media_id] = name
        if not self.metadata or self._listed.get(f.media_id) == name:
            return
        line = (metadata_line(f, name, text, size) + "\n").encode("utf-8")
        try:
            if self._meta_fd is None:
                # O_RDWR, not O_WRONLY: the last byte is read back (a line a kill cut short)
                self._meta_fd = _open_no_link(self.folder / METADATA_FILE, os.O_RDWR | os.O_APPEND | os.O_CREAT)
                end = os.fstat(self._meta_fd).st_size
                if end and os.pread(self._meta_fd, 1, end - 1) != b"\n":
                    line = b"\n" + line  # a line cut short by an earlier failure stays its own line
            _write_all(self._meta_fd, line)
        except OSError as exc:
            raise describe_os_error(exc, self.folder, METADATA_FILE) from None
        self._listed[f.media_id] = name


def save_file(path: str | os.PathLike[str], facts: ImageFacts | ImageRecord, data: bytes) -> Path:
    """An image under the exact name a user chose in a save dialog (which asked before replacing):
    written whole to a temp file first, then renamed over, so a failure leaves the old file."""
    target = Path(path).expanduser()
    folder = target.parent
    try:
        tmp = _write_temp(folder, target.name, file_bytes(facts, data), durable=False)
        try:
            os.replace(tmp, target)  # replaces a link itself, never writes through it
        except BaseException:
            _unlink_quietly(tmp)
            raise
    except OSError as exc:
        raise describe_os_error(exc, folder, target.name) from None
    return target


class AtomicFile:
    """A file that appears at ``path`` only when complete: ``with AtomicFile(p) as fh: fh.write(…)``.

    Written to a hidden temp file next to it, renamed over ``path`` on success (replacing a file
    or a link there, never writing through it), removed on any failure. The library export
    writes this way, so a full disk or Ctrl-C never leaves half a file under the real name."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._tmp: Path | None = None
        self._fh: Any = None

    def __enter__(self) -> Any:
        fd, self._tmp = _create_temp(self.path.parent, self.path.name)
        self._fh = os.fdopen(fd, "wb")
        return self._fh

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        assert self._tmp is not None
        try:
            self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
        finally:
            if exc_type is not None or os.path.lexists(self._tmp):
                _unlink_quietly(self._tmp)
