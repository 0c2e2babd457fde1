"""The whole library as one JSON Lines file: ``imagefx library export FILE`` and ``library import FILE``.

One JSON object per line (docs/file-formats.md): a header, then every row a user owns, table by
table (accounts without their cookies, prompts, images with their bytes, thumbnails, captions,
archived images, the queue), then an end line. ``FILE.jsonl.gz`` is gzip-compressed. Which
tables travel, and how a row is recognised when it comes back, is :data:`core.store.portable.TABLES`.

Both directions stream: the export reads rows with a server-side cursor inside one
repeatable-read snapshot and writes each line as it goes; the import reads a line at a time and
commits every :data:`BATCH_LINES` lines (or :data:`BATCH_BYTES` of them). Neither holds the
library in memory (benchmarks/README.md: peak memory at 1k and 10k images). Importing a file
twice adds nothing the second time; an import cut short (Ctrl-C, a truncated file) keeps what it
committed, and running it again completes it.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import DBAPIError

from core import export
from core.appinfo import command, version
from core.cancel import CancelToken
from core.changes import ChangeKind, Changes
from core.service.service import Service, ValidationError
from core.store import portable

log = logging.getLogger(__name__)

FORMAT = "imagefx-studio-library"
VERSION = 1  # a reader refuses a higher version; new kinds and fields keep the version
HEADER, END = "header", "end"
BATCH_LINES = 200
BATCH_BYTES = 32 * 1024 * 1024
MAX_LINE_BYTES = 256 * 1024 * 1024  # one image line is a few MB; anything near this is not ours
MAX_REASONS = 200  # rejected lines listed one by one; the rest are counted
# What a row added here means to the views (core/changes.py); other kinds need no refresh.
CHANGE_OF_KIND = {"image": ChangeKind.IMAGES_ADDED, "caption": ChangeKind.CAPTIONS, "queue_item": ChangeKind.QUEUE,
                  "user": ChangeKind.ACCOUNTS}


@dataclass(frozen=True)
class LibraryProgress:
    done: int  # lines (export) or bytes read (import)
    total: int
    kind: str


@dataclass(frozen=True)
class LibraryExportResult:
    path: Path
    counts: dict[str, int]
    bytes: int
    elapsed: float

    @property
    def message(self) -> str:
        images = self.counts.get("image", 0)
        parts = ", ".join(f"{n:,} {k.replace('_', ' ')}{'s' if n != 1 else ''}" for k, n in self.counts.items() if n)
        return (f"Exported the library ({parts or 'nothing'}) to {self.path} in {self.elapsed:.1f} s"
                f" ({self.bytes / 1e6:,.1f} MB{'' if images else ', no images'}).")


@dataclass
class LibraryImportResult:
    path: Path
    added: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    rejected_count: int = 0
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    complete: bool = False  # the end line was read
    cancelled: bool = False
    elapsed: float = 0.0
    changes: Changes = field(default_factory=Changes)  # everything added, for the views

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REASONS:
            self.rejected.append((line, reason))

    @property
    def message(self) -> str:
        new = ", ".join(f"{n:,} {k.replace('_', ' ')}{'s' if n != 1 else ''}" for k, n in self.added.items() if n)
        already = sum(self.existing.values())
        text = f"Imported {new or 'nothing new'} from {self.path.name}"
        if already:
            text += f"; {already:,} row{'s were' if already != 1 else ' was'} already in the library"
        if self.rejected_count:
            text += f"; {self.rejected_count:,} line{'s' if self.rejected_count != 1 else ''} not imported"
        if self.unknown_kinds:
            text += (f"; skipped what this version does not know ({', '.join(sorted(self.unknown_kinds))}: "
                     "update the app to bring those in)")
        text += "."
        if self.cancelled:
            text += " Stopped before the end: run it again to import the rest."
        elif not self.complete:
            text += (" The file ends early (no end line): it was cut short. What it held is imported; import "
                     "the whole file again to bring in the rest.")
        return text


def _schema_version(svc: Service) -> int | None:
    from core.store.models import SchemaVersion

    with svc.db.session() as s:
        row = s.get(SchemaVersion, 1)
        return row.version if row else None


def export_library(svc: Service, path: str | os.PathLike[str], *,
                   on_progress: Callable[[LibraryProgress], None] | None = None,
                   cancel: CancelToken | None = None) -> LibraryExportResult:
    """Write every row to ``path`` (``.gz``: compressed). The file appears only when complete."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValidationError(f"{target} is a folder; name the file to write (library.jsonl.gz).")
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.")
    started = time.perf_counter()
    compressed = target.name.lower().endswith(".gz")
    counts: dict[str, int] = {}
    try:
        with export.AtomicFile(target) as raw, svc.db.session() as s:
            portable.begin_snapshot(s)
            totals = {spec.kind: portable.count_rows(s, spec) for spec in portable.TABLES}
            out: Any = _Compressor(raw) if compressed else raw
            try:
                _write_rows(s, out, svc, totals, counts, on_progress, cancel)
            except BaseException:
                if isinstance(out, _Compressor):
                    out.abort()
                raise
            if isinstance(out, _Compressor):
                out.close()
    except OSError as exc:
        raise export.describe_os_error(exc, target.parent, target.name) from None
    size = target.stat().st_size
    return LibraryExportResult(path=target, counts=counts, bytes=size, elapsed=time.perf_counter() - started)


def _write_rows(s: Any, out: Any, svc: Service, totals: dict[str, int], counts: dict[str, int],
                on_progress: Callable[[LibraryProgress], None] | None, cancel: CancelToken | None) -> None:
    """The header, every table's rows, the end line."""
    total = sum(totals.values())
    header = {"kind": HEADER, "format": FORMAT, "version": VERSION, "app_version": version(),
              "schema_version": _schema_version(svc), "exported_at": datetime.now(UTC).isoformat(),
              "counts": totals}
    out.write(_line(header))
    done = 0
    for spec in portable.TABLES:
        n = 0
        for row in portable.iter_rows(s, spec):
            if cancel is not None and cancel.cancelled:
                from core.imagefx.errors import Cancelled

                raise Cancelled()
            out.write(_line({"kind": spec.kind, **row}))
            n += 1
            done += 1
            if on_progress is not None and (done % 50 == 0 or done == total):
                on_progress(LibraryProgress(done=done, total=total, kind=spec.kind))
        counts[spec.kind] = n
    out.write(_line({"kind": END, "counts": counts}))


class _Compressor:
    """gzip on a thread of its own, a few lines behind: zlib releases the GIL, so compressing
    overlaps reading rows and making JSON (on a 2-core machine gzip alone is ~16 MB/s, slower
    than the rest together; benchmarks/README.md). Level 1: base64 compresses to ~77 % at any
    level (the images inside are compressed already), level 1 is the fastest."""

    def __init__(self, raw: IO[bytes]) -> None:
        import queue
        import threading

        self._gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)  # bounded: a few lines in memory
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="library-gzip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is None:
                try:
                    self._gz.write(chunk)
                except BaseException as exc:  # noqa: B036 — handed to the writing thread
                    self._error = exc

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self._queue.put(data)
        return len(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._gz.close()

    def abort(self) -> None:
        """Stop the thread without finishing the stream (the file is thrown away)."""
        self._error = self._error or RuntimeError("aborted")
        self._queue.put(None)
        self._thread.join()


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


# --- import ---------------------------------------------------------------------------------

def _open_for_reading(path: Path) -> tuple[IO[bytes], IO[bytes], int]:
    """(the line stream, the raw file for progress, its size). Regular files only: a FIFO or a
    device would hang or never end."""
    from core.userfiles import open_regular

    fd, st = open_regular(path, what="library file", error=ValidationError,
                          pipe_hint=f"Give the file '{command()} library export' wrote.")
    raw = os.fdopen(fd, "rb")
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw  # type: ignore[assignment]
    return stream, raw, st.st_size


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise ValidationError(f"Line {number} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB: this is not "
                                  "a library file.")
        yield number, raw


def _decode(raw: bytes) -> dict[str, Any] | str:
    """The line's object, or why it is not one."""
    try:
        obj = json.loads(raw)
    except RecursionError:
        return "it is nested too deeply"
    except (ValueError, UnicodeDecodeError):
        return "it is not JSON"
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
        return "it is not a row (no kind)"
    return obj


def _check_header(obj: dict[str, Any] | str, path: Path) -> None:
    if isinstance(obj, str) or obj.get("kind") != HEADER or obj.get("format") != FORMAT:
        raise ValidationError(f"{path.name} is not a library file written by '{command()} library export'.")
    version = obj.get("version")
    if not isinstance(version, int) or version < 1:
        raise ValidationError(f"{path.name} has no format version this app understands.")
    if version > VERSION:
        raise ValidationError(f"{path.name} was written by a newer ImageFX Studio (library format {version}; this "
                              f"version reads {VERSION}). Update the app to import it.")


def import_library(svc: Service, path: str | os.PathLike[str], *,
                   on_progress: Callable[[LibraryProgress], None] | None = None,
                   cancel: CancelToken | None = None) -> LibraryImportResult:
    """Bring a library file's rows in; rows already here (by their key) are mapped, not added."""
    source = Path(path).expanduser()
    started = time.perf_counter()
    stream, raw, size = _open_for_reading(source)
    result = LibraryImportResult(path=source)
    maps = portable.ImportMaps()
    try:
        lines = _lines(stream)
        try:
            first = next(lines, None)
        except (OSError, EOFError, gzip.BadGzipFile):
            first = None
        _check_header(_decode(first[1]) if first else "empty", source)
        batch: list[tuple[int, dict[str, Any]]] = []
        batch_bytes = 0
        try:
            for number, line in lines:
                if cancel is not None and cancel.cancelled:
                    result.cancelled = True
                    break
                obj = _decode(line)
                if isinstance(obj, str):
                    result.reject(number, f"line {number}: {obj}")
                    continue
                if obj["kind"] == END:
                    result.complete = True
                    break
                batch.append((number, obj))
                batch_bytes += len(line)
                if len(batch) >= BATCH_LINES or batch_bytes >= BATCH_BYTES:
                    _import_batch(svc, batch, maps, result)
                    batch, batch_bytes = [], 0
                    if on_progress is not None:
                        on_progress(LibraryProgress(done=raw.tell(), total=size, kind="rows"))
        except (OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            log.info("library file read stopped: %s", exc)  # a truncated .gz: what was read is imported
        if batch:  # not after Ctrl-C: an interrupted import keeps what it committed, nothing more
            _import_batch(svc, batch, maps, result)
    finally:
        stream.close()
        raw.close()
    if on_progress is not None:
        on_progress(LibraryProgress(done=size, total=size, kind="rows"))
    result.elapsed = time.perf_counter() - started
    return result


@dataclass
class _Row:
    number: int
    kind: str
    ref: int | None
    values: dict[str, Any]


def _import_batch(svc: Service, batch: list[tuple[int, dict[str, Any]]], maps: portable.ImportMaps,
                  result: LibraryImportResult) -> None:
    """One transaction for the batch, in runs of lines of one kind: a run's rows that are here
    already are found in one query, the others inserted. A run the database refuses is done again
    row by row (a savepoint each), so one bad row is rejected alone."""
    added: dict[ChangeKind, list[int]] = {}
    with svc.db.session() as s:
        run: list[_Row] = []
        for number, obj in batch:
            kind = obj["kind"]
            if run and run[0].kind != kind:
                _import_run(s, run, maps, result, added)
                run = []
            spec = portable.spec_for(kind)
            if spec is None:
                result.unknown_kinds[kind] += 1
                continue
            try:
                values, unknown = portable.decode_row(spec, obj, maps)
            except (portable.BadValue, portable.MissingReference) as exc:
                result.reject(number, f"line {number} ({kind}): {exc}")
                continue
            for name in unknown:
                result.unknown_fields[f"{kind}.{name}"] += 1
            ref = obj.get("ref")
            run.append(_Row(number, kind, ref if isinstance(ref, int) and not isinstance(ref, bool) else None,
                            values))
        if run:
            _import_run(s, run, maps, result, added)
        changes = Changes()
        for change, ids in added.items():
            changes = changes.merge(Changes.of(change, ids))
        if changes:
            result.changes = _capped(result.changes.merge(svc._announce(s, changes)))


def _import_run(s: Any, run: list[_Row], maps: portable.ImportMaps, result: LibraryImportResult,
                added: dict[ChangeKind, list[int]]) -> None:
    spec = portable.spec_for(run[0].kind)
    assert spec is not None
    outcomes: list[tuple[_Row, int | None, bool]] = []
    nested = s.begin_nested()
    try:
        known = portable.find_existing(s, spec, [r.values for r in run])
        for r in run:
            key = portable.key_of(spec, r.values)
            if key in known:
                outcomes.append((r, known[key], False))
                continue
            new_id, inserted = portable.insert_row(s, spec, r.values)
            known[key] = new_id  # the same key again later in the run is this row
            outcomes.append((r, new_id, inserted))
        nested.commit()
    except DBAPIError:
        nested.rollback()
        outcomes = []
        for r in run:  # again, one savepoint per row: only the rows the database refuses are left out
            one = s.begin_nested()
            try:
                new_id, inserted = portable.find_or_insert(s, spec, r.values)
                one.commit()
            except DBAPIError as exc:
                one.rollback()
                reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
                result.reject(r.number, f"line {r.number} ({r.kind}): the database refused it ({reason})")
                continue
            outcomes.append((r, new_id, inserted))
    change = CHANGE_OF_KIND.get(spec.kind)
    for r, new_id, inserted in outcomes:
        if new_id is not None:
            maps.put(spec.kind, r.ref, new_id)
        (result.added if inserted else result.existing)[spec.kind] += 1
        if inserted and change is not None and new_id is not None:
            added.setdefault(change, []).append(new_id)


def _capped(changes: Changes) -> Changes:
    """Beyond MAX_IDS ids a kind means "many: refresh it all", so a 100k import holds no 100k ids."""
    from core.changes import MAX_IDS

    kinds = {k: (None if ids is not None and len(ids) > MAX_IDS else ids) for k, ids in changes.kinds.items()}
    return Changes(kinds, count=changes.count, origin=changes.origin)


def describe_unknown(result: LibraryImportResult) -> list[str]:
    """Lines for a verbose report: fields of a newer version that were left out."""
    return [f"{name}: {n:,} value(s) left out (this version has no such field)"
            for name, n in sorted(result.unknown_fields.items())]


__all__ = ["FORMAT", "VERSION", "LibraryExportResult", "LibraryImportResult", "LibraryProgress", "export_library",
           "import_library"]
