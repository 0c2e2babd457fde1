"""Export stored images to a folder: each file with its parameters inside, plus metadata.jsonl.

One image, a selection (ids) or a whole search result. Files are never overwritten
(names are made unique, files opened with O_EXCL); ``metadata.jsonl`` gets one line
per exported image, appended, so exporting twice into one folder keeps both records.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core import export, images
from core.cancel import CancelToken
from core.service.service import Service, ValidationError
from core.store import ImageRecord, repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    image_id: int
    media_id: str


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int  # known up front for ids; for a search, the number of matching images (capped by limit)
    file: ExportedFile | None


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    files: tuple[ExportedFile, ...]
    missing: tuple[int, ...]  # ids no longer in the library
    elapsed: float
    cancelled: bool = False


class Exporter:
    """``Exporter(service).export(folder, image_ids=[…])`` or ``.export(folder, search="cat")``."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _records(self, image_ids: Sequence[int] | None, search: str | None, limit: int | None,
                 favorites_only: bool = False) -> tuple[int, Iterator[ImageRecord | int]]:
        svc = self.service
        if image_ids is not None:
            ids = list(dict.fromkeys(image_ids))[: limit or None]

            def by_id() -> Iterator[ImageRecord | int]:
                for image_id in ids:
                    record = svc.image(image_id)
                    yield record if record is not None else image_id

            return len(ids), by_id()
        text = search or ""
        total = svc.count_images(search=text, favorites_only=favorites_only)
        if limit is not None:
            total = min(total, limit)

        def by_search() -> Iterator[ImageRecord | int]:
            after = None
            left = total
            while left > 0:
                with svc.db.session() as s:
                    page = repo.gallery_page(s, after=after, limit=min(200, left), search=text,
                                             favorites_only=favorites_only, with_thumbnails=False)
                if not page:
                    return
                yield from page
                left -= len(page)
                after = page[-1].cursor

        return total, by_search()

    def export(self, directory: str | Path, *, image_ids: Sequence[int] | None = None, search: str | None = None,
               limit: int | None = None, template: str = export.DEFAULT_TEMPLATE,
               on_progress: Callable[[ExportProgress], None] | None = None,
               cancel: CancelToken | None = None, favorites_only: bool = False) -> ExportResult:
        """Write the images (newest first for a search; all images when neither ids nor search).

        ``favorites_only`` narrows a search (or the whole gallery) to favourites, as the
        gallery's filter does, so "export what I see" exports exactly that."""
        try:
            export.check_template(template)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if limit is not None and limit < 1:
            raise ValidationError("The limit must be at least 1.")
        folder = Path(directory).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(f"The folder {folder} cannot be created ({exc.strerror}).") from None
        started = time.perf_counter()
        total, records = self._records(image_ids, search, limit, favorites_only)
        names = export.NameAllocator(folder)
        files: list[ExportedFile] = []
        missing: list[int] = []
        cancelled = False
        with open(folder / export.METADATA_FILE, "a", encoding="utf-8") as meta:
            for item in records:
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                if isinstance(item, int):
                    missing.append(item)
                    continue
                written = self._write_one(folder, item, template, names, meta)
                if written is None:
                    missing.append(item.id)
                    continue
                files.append(written)
                if on_progress is not None:
                    on_progress(ExportProgress(done=len(files), total=total, file=written))
        return ExportResult(directory=folder, files=tuple(files), missing=tuple(missing),
                            elapsed=time.perf_counter() - started, cancelled=cancelled)

    def _write_one(self, folder: Path, record: ImageRecord, template: str, names: export.NameAllocator,
                   meta: object) -> ExportedFile | None:
        with self.service.db.session() as s:
            encoded = repo.image_data(s, record.id)
        if encoded is None:
            return None
        data = base64.b64decode(encoded)
        size = (record.width, record.height) if record.width and record.height else images.dimensions(data)
        text = export.parameters_text(export.parameters_for(record, size))
        try:
            out = export.embed_parameters(data, text)
        except ValueError:  # a damaged stored image: export it as it is
            log.warning("image %d: could not add parameters; exported as stored", record.id)
            out = data
        stem = export.render_stem(template, export.template_values(record))
        while True:
            name = names.allocate(stem, images.extension_for(data))
            try:
                fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:  # written by someone else since we listed the folder
                continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(out)
        meta.write(export.metadata_line(record, name, text, size) + "\n")  # type: ignore[attr-defined]
        return ExportedFile(path=folder / name, image_id=record.id, media_id=record.media_id)
