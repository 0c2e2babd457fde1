"""Export stored images to a folder: each file with its parameters inside, plus metadata.jsonl.

One image, a selection (ids) or a whole search result, written by the one writer
(:class:`core.export.FolderWriter`): files are never overwritten, links planted in the folder
are never followed, and exporting the same images into the same folder again writes nothing
and adds no ``metadata.jsonl`` line (``ExportResult.already`` counts them). A folder the export
created is removed again if the export wrote nothing into it (it failed, or nothing matched).
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core import export
from core.cancel import CancelToken
from core.service.service import Service, ValidationError
from core.store import portable, repo

log = logging.getLogger(__name__)
PAGE = 100  # images whose facts are read in one query


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    image_id: int
    media_id: str
    already: bool = False  # the folder had it from an earlier export: nothing written


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int  # known up front for ids; for a search, the number of matching images (capped by limit)
    file: ExportedFile | None


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    files: tuple[ExportedFile, ...]  # written now and already there, in order
    missing: tuple[int, ...]  # ids no longer in the library
    elapsed: float
    cancelled: bool = False
    captions: int = 0  # .txt caption files written beside the images (new or changed)

    @property
    def written(self) -> int:
        return sum(1 for f in self.files if not f.already)

    @property
    def already(self) -> int:
        return sum(1 for f in self.files if f.already)

    @property
    def message(self) -> str:
        """One sentence for the CLI and the window: what was written, what was there already."""
        n, there = self.written, self.already
        if n == 0 and there:
            text = (f"Nothing new to export to {self.directory}: {'its' if there > 1 else 'the'} {there:,} "
                    f"image{'s were' if there != 1 else ' was'} there already")
        else:
            text = f"Exported {n:,} image{'s' if n != 1 else ''} to {self.directory} in {self.elapsed:.1f} s"
            if there:
                text += f"; {there:,} {'were' if there != 1 else 'was'} there already"
        if self.captions:
            text += f", {self.captions:,} caption{'s' if self.captions != 1 else ''} as .txt beside them"
        if self.cancelled:
            text += " (stopped before the end)"
        if self.missing:
            text += f"; {len(self.missing):,} had been deleted meanwhile"
        return text + "."


def facts_from_row(row: portable.Row) -> export.ImageFacts:
    return export.ImageFacts(**row)


class Exporter:
    """``Exporter(service).export(folder, image_ids=[…])`` or ``.export(folder, search="cat")``."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def _pages(self, image_ids: Sequence[int] | None, search: str | None, limit: int | None,
               favorites_only: bool, filter_text: str = "") -> tuple[int, Iterator[list[int]]]:
        svc = self.service
        if image_ids is not None:
            ids = list(dict.fromkeys(image_ids))[: limit or None]
            return len(ids), (ids[i:i + PAGE] for i in range(0, len(ids), PAGE))
        text = search or ""
        total = svc.count_images(search=text, favorites_only=favorites_only, filter=filter_text)
        if limit is not None:
            total = min(total, limit)

        def by_search() -> Iterator[list[int]]:
            after = None
            left = total
            while left > 0:
                page = svc.gallery_page(after=after, limit=min(PAGE, left), search=text, filter=filter_text,
                                        favorites_only=favorites_only, with_thumbnails=False)
                if not page:
                    return
                yield [r.id for r in page]
                left -= len(page)
                after = page[-1].cursor

        return total, by_search()

    def export(self, directory: str | Path, *, image_ids: Sequence[int] | None = None, search: str | None = None,
               limit: int | None = None, template: str = export.DEFAULT_TEMPLATE,
               on_progress: Callable[[ExportProgress], None] | None = None,
               cancel: CancelToken | None = None, favorites_only: bool = False,
               captions: bool = True, filter: str = "") -> ExportResult:
        """Write the images (newest first for a search; all images when neither ids nor search).

        ``favorites_only`` narrows a search (or the whole gallery) to favourites, as the
        gallery's filter does, so "export what I see" exports exactly that; ``filter`` (the filter
        language, core/filters.py: what the gallery's search box says, a board's view) narrows it
        the same way (FilterInvalid for one that cannot be read). Raises
        ValidationError for a bad template or limit and ``core.export.ExportError`` (one
        sentence: a full disk, an unwritable folder, a planted link) when writing fails.

        ``captions``: an image captioned in the Captions tab gets its caption beside it as
        ``<name>.txt`` (docs/file-formats.md); images without one get none, so the default adds
        nothing to a folder of images never captioned."""
        try:
            export.check_template(template)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if limit is not None and limit < 1:
            raise ValidationError("The limit must be at least 1.")
        started = time.perf_counter()
        total, pages = self._pages(image_ids, search, limit, favorites_only, filter)
        files: list[ExportedFile] = []
        missing: list[int] = []
        cancelled = False
        sidecars = 0
        with export.FolderWriter(directory, template=template, metadata=True) as writer:
            for ids in pages:
                with self.service.db.session() as s:
                    rows = portable.image_fact_rows(s, ids)
                    texts = repo.library_captions(s, [str(r["media_id"]) for r in rows.values()]) if captions else {}
                for image_id in ids:
                    if cancel is not None and cancel.cancelled:
                        cancelled = True
                        break
                    row = rows.get(image_id)
                    with self.service.db.session() as s:
                        encoded = repo.image_data(s, image_id) if row is not None else None
                    if row is None or encoded is None:
                        missing.append(image_id)
                        continue
                    out = writer.write(facts_from_row(row), base64.b64decode(encoded))
                    caption = texts.get(out.media_id)
                    if caption and writer.write_sidecar(out.path.name, caption) is not None:
                        sidecars += 1
                    exported = ExportedFile(path=out.path, image_id=image_id, media_id=out.media_id,
                                            already=out.already)
                    files.append(exported)
                    if on_progress is not None:
                        on_progress(ExportProgress(done=len(files), total=total, file=exported))
                if cancelled:
                    break
        return ExportResult(directory=writer.folder, files=tuple(files), missing=tuple(missing),
                            elapsed=time.perf_counter() - started, cancelled=cancelled, captions=sidecars)
