"""Image files into the library: ``imagefx import-files PATH…`` and files dropped on the gallery.

PNG and JPEG files whose prompt is known come in: from a ``metadata.jsonl`` next to them (what
Export writes: every field), else from the ``parameters`` text inside (this app's, AUTOMATIC1111's
or any tool writing that layout). Folders are searched recursively for ``.png``/``.jpg`` files;
files named on the command line are tried whatever their name.

A file exported by this app comes back identical in every field its export carried: media id,
prompt, seed, model, aspect ratio, size, date, account, favourite (with ``metadata.jsonl``) and
the image bytes themselves (the parameters text Export put in is taken out again,
:func:`core.imagemeta.strip_text`). A file from elsewhere keeps its bytes and gets a media id
made of its content hash (``sha256:…``), so importing it twice finds it the second time.
Images already in the library are skipped, and every file that is not imported says why.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from core import export, imagemeta, images
from core.cancel import CancelToken
from core.changes import ChangeKind, Changes
from core.imagefx import protocol
from core.service.service import MAX_PROMPT_CHARS, Service, ValidationError
from core.store import portable

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe")
SOURCE = "file"  # generated_images.source of an image that came from a file made elsewhere
HASH_PREFIX = "sha256:"
NO_ACCOUNT = "No account to file it under: sign in first."
IN_TRASH = "It is in the Trash: restore it from there."


class Outcome(Enum):
    IMPORTED = "imported"
    ALREADY = "already"  # in the library before (same media id or same content)
    REJECTED = "rejected"


@dataclass(frozen=True)
class FileResult:
    path: Path
    outcome: Outcome
    reason: str = ""  # why it was rejected, one sentence
    image_id: int | None = None


@dataclass(frozen=True)
class FileImportProgress:
    done: int
    total: int
    result: FileResult


@dataclass(frozen=True)
class FileImportSummary:
    results: tuple[FileResult, ...]
    elapsed: float
    cancelled: bool = False
    origin: str = ""  # the service that stored them (core/changes.py)

    @property
    def changes(self) -> Changes:
        """The images this import added (what the gallery merges in)."""
        return Changes.of(ChangeKind.IMAGES_ADDED, self.imported_ids).with_origin(self.origin)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def imported_ids(self) -> list[int]:
        return [r.image_id for r in self.results if r.outcome is Outcome.IMPORTED and r.image_id is not None]

    @property
    def rejected(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome is Outcome.REJECTED]

    @property
    def message(self) -> str:
        trashed = sum(1 for r in self.results if r.outcome is Outcome.ALREADY and r.reason == IN_TRASH)
        parts = [f"{self.count(Outcome.IMPORTED)} imported", f"{self.count(Outcome.ALREADY)} already in the library"
                 + (f" ({trashed} of them in the Trash)" if trashed else "")]
        if self.rejected:
            parts.append(f"{len(self.rejected)} not imported")
        head = "Import stopped" if self.cancelled else "Import finished"
        return f"{head}: {', '.join(parts)}."


class Rejected(Exception):
    """One file cannot come in; the message says why."""


class InTrash(Exception):
    """The image is in the library already, in the Trash."""


def collect(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path | FileResult]:
    """The files to try, in a stable order: named files as they are, folders searched recursively
    for image suffixes (hidden files and folders skipped, links to folders not followed)."""
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                order = _exported_order(Path(root))
                for name in sorted(files, key=lambda n: (0, order[n], n) if n in order else (1, 0, n)):
                    if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                        yield Path(root) / name
        elif os.path.lexists(p):
            yield p
        else:
            yield FileResult(p, Outcome.REJECTED, "No such file or folder.")


def _exported_order(folder: Path) -> dict[str, int]:
    """File name -> its image id in the library it was exported from (metadata.jsonl): the images of
    one generation come back in the order they had there, not in the order of their names."""
    order: dict[str, int] = {}
    try:
        for record in export.read_metadata(folder):
            name, image_id = record.get("file"), record.get("image_id")
            if isinstance(name, str) and isinstance(image_id, int) and not isinstance(image_id, bool):
                order[name] = image_id
    except (export.ExportError, OSError):
        pass  # the import says what is wrong with the file, per image
    return order


def _check_text(value: str | None, what: str, limit: int | None = None) -> None:
    if value is None:
        return
    if "\x00" in value:
        raise Rejected(f"Its {what} holds a NUL character, which cannot be stored.")
    if limit is not None and len(value) > limit:
        raise Rejected(f"Its {what} is longer than {limit:,} characters.")


def check_facts(f: export.ImageFacts) -> export.ImageFacts:
    """What a file says must fit the library's columns (a file is input from anywhere)."""
    if not f.prompt.strip():
        raise Rejected("It carries no prompt.")
    _check_text(f.prompt, "prompt", MAX_PROMPT_CHARS)
    _check_text(f.returned_prompt, "returned prompt", MAX_PROMPT_CHARS)
    if not f.media_id or len(f.media_id) > 255 or any(c.isspace() for c in f.media_id) or "\x00" in f.media_id:
        raise Rejected("Its media id is not one ImageFX would give.")
    for value, what, limit in ((f.model, "model", 50), (f.aspect_ratio, "aspect ratio", 50),
                               (f.user_email, "account", 255), (f.user_name, "account name", 255),
                               (f.workflow_id, "workflow id", 255),
                               (f.fingerprint_log_record_id, "fingerprint id", 255), (f.source, "source", 20)):
        _check_text(value, what, limit)
    for number, what in ((f.seed, "seed"), (f.prompt_seed, "requested seed")):
        if number is not None and not 0 <= number <= protocol.MAX_SEED:
            raise Rejected(f"Its {what} {number} is out of range.")
    if f.number_of_images is not None and not 1 <= f.number_of_images <= 1000:
        return replace(f, number_of_images=None)
    return f


class FileImporter:
    """``FileImporter(service).run(["~/Pictures/exported", "one.png"])``."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._folder: Path | None = None
        self._folder_meta: dict[str, export.ImageFacts] = {}

    def run(self, paths: Sequence[str | os.PathLike[str]], *, user_email: str | None = None,
            on_progress: Callable[[FileImportProgress], None] | None = None,
            cancel: CancelToken | None = None) -> FileImportSummary:
        """Import the files; ``user_email`` is the account for files that do not name theirs
        (default: the current one)."""
        if not paths:
            raise ValidationError("Name the image files or folders to import.")
        started = time.perf_counter()
        account = (user_email or self._signed_in_account() or "").strip().lower() or None
        todo = list(collect(paths))
        results: list[FileResult] = []
        cancelled = False
        for item in todo:
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            result = item if isinstance(item, FileResult) else self._one(item, account)
            results.append(result)
            if on_progress is not None:
                on_progress(FileImportProgress(done=len(results), total=len(todo), result=result))
        return FileImportSummary(results=tuple(results), elapsed=time.perf_counter() - started,
                                 cancelled=cancelled, origin=self.service.origin)

    def _signed_in_account(self) -> str | None:
        """The account the app works as: the keyring's current one, else the one a cookie given
        for this run (--cookie, GOOGLE_COOKIE, the demo) signs in as."""
        email = self.service.current_email()
        if email or not self.service.has_cookie():
            return email
        try:
            return self.service.whoami().email
        except Exception:  # offline, cookie expired: files that name no account say so
            log.info("no account for imported files", exc_info=True)
            return None

    def _one(self, path: Path, account: str | None) -> FileResult:
        try:
            image_id = self._import(path, account)
        except Rejected as exc:
            return FileResult(path, Outcome.REJECTED, str(exc))
        except images.ImageError as exc:
            return FileResult(path, Outcome.REJECTED, str(exc))
        except InTrash as exc:
            return FileResult(path, Outcome.ALREADY, str(exc))
        if image_id is None:
            return FileResult(path, Outcome.ALREADY)
        return FileResult(path, Outcome.IMPORTED, image_id=image_id)

    def _metadata(self, folder: Path) -> dict[str, export.ImageFacts]:
        """The folder's metadata.jsonl by file name (read once per folder; the last line wins)."""
        if folder != self._folder:
            self._folder, self._folder_meta = folder, {}
            try:
                for record in export.read_metadata(folder):
                    facts = export.facts_from_metadata(record)
                    name = record.get("file")
                    if facts is not None and isinstance(name, str):
                        self._folder_meta[name] = facts
            except (export.ExportError, OSError) as exc:
                log.info("metadata.jsonl in %s not read: %s", folder, exc)
        return self._folder_meta

    def _import(self, path: Path, account: str | None) -> int | None:
        data = export.read_file(path)
        info = images.sniff(data)
        if info is None:
            raise Rejected("It is not an image.")
        if info.kind not in ("png", "apng", "jpeg"):
            raise Rejected(f"It is a {info.kind.upper()} image; only PNG and JPEG files carry parameters.")
        try:
            text = imagemeta.read_text(data)
        except imagemeta.NotAnImage:
            raise Rejected("The image is damaged.") from None
        params = export.parse_parameters(text) if text else None
        listed = self._metadata(path.parent).get(path.name)
        if listed is not None and params is not None and params.media_id not in (None, listed.media_id):
            listed = None  # the file was replaced since: what it says itself counts
        ours = params is not None and params.media_id is not None
        stored = imagemeta.strip_text(data) if ours or listed is not None else data
        if listed is not None:
            facts = listed
        elif params is not None and params.prompt:
            facts = self._facts_from_text(path, params, stored)
        elif params is not None:
            raise Rejected("Its parameters text has no prompt.")
        else:
            raise Rejected("It carries no prompt: no AUTOMATIC1111-style parameters inside, and no "
                           "metadata.jsonl line next to it.")
        facts = check_facts(facts)
        email = facts.user_email or account
        if not email:
            raise Rejected(NO_ACCOUNT)
        with self.service.db.session() as s:
            stored_already = portable.existing_media_ids(s, [facts.media_id])
        if stored_already.get(facts.media_id):
            raise InTrash(IN_TRASH)
        if stored_already:
            return None
        try:
            thumb, tw, th = images.make_thumbnail(stored)
        except images.ImageError as exc:
            raise Rejected(str(exc)) from None
        size = images.dimensions(stored)
        record = portable.FileImage(
            user_email=email, user_name=facts.user_name or email, prompt=facts.prompt, created_at=facts.created_at,
            media_id=facts.media_id, encoded_image=base64.b64encode(stored).decode("ascii"), seed=facts.seed,
            model=facts.model, aspect_ratio=facts.aspect_ratio,
            mime_type=facts.mime_type or info.mime, width=facts.width or (size[0] if size else None),
            height=facts.height or (size[1] if size else None), byte_size=len(stored), thumbnail=thumb,
            thumb_width=tw, thumb_height=th, returned_prompt=facts.returned_prompt, workflow_id=facts.workflow_id,
            fingerprint_log_record_id=facts.fingerprint_log_record_id, is_favorite=facts.is_favorite,
            source=facts.source or SOURCE, prompt_seed=facts.prompt_seed, number_of_images=facts.number_of_images)
        with self.service.db.session() as s:
            image_id = portable.store_file_image(s, record)
            if image_id is not None:  # told inside the writing transaction, like every mutation
                self.service._announce(s, Changes.of(ChangeKind.IMAGES_ADDED, [image_id]))
            return image_id

    @staticmethod
    def _facts_from_text(path: Path, p: export.ImageParameters, stored: bytes) -> export.ImageFacts:
        size = images.dimensions(stored)
        when = export.parse_date(p.date)
        if when is None:
            try:
                when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except OSError:
                when = datetime.now(UTC)
        aspect = p.aspect_ratio or (export.aspect_ratio_from(None, size[0], size[1]) if size else None)
        media_id = p.media_id or HASH_PREFIX + hashlib.sha256(stored).hexdigest()
        info = images.sniff(stored)
        return export.ImageFacts(
            media_id=media_id, prompt=p.prompt, created_at=when, seed=p.seed, model=p.model, aspect_ratio=aspect,
            width=size[0] if size else p.width, height=size[1] if size else p.height,
            mime_type=info.mime if info else None, source=None if p.media_id else SOURCE)
