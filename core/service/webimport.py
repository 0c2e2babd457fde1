"""Import the user's ImageFX web library into the gallery.

Pages through ``media.fetchUserHistory`` (newest first), fetches each image not stored
yet with ``media.fetchMedia`` and stores it with its prompt, seed and original date. The
cursor of the next page is saved after each page (``web_import_state``), so an
interrupted import resumes at the page it was on; media ids make re-storing harmless.
Once an import has reached the end, a later one stops at the first page it already has
entirely (older pages were imported then) unless ``full=True``.

Failures are handled like the queue's: 429 waits (Retry-After), network loss pauses until
labs.google answers, sign-in failure stops with outcome ``signin``; an image that cannot
be fetched (deleted meanwhile, server error after retries) is skipped and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from core.cancel import CancelToken
from core.imagefx.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    ImageFXError,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from core.imagefx.types import HistoryEntry, HistoryPage, SessionInfo
from core.service import prepare
from core.service.control import ProbeInterval, RunControl, retry_while_down
from core.service.service import Service, ValidationError
from core.store import ImageRecord, WebImportRecord, queue_repo, repo

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 12  # what the web app asks for

# Event kinds (ImportEvent.kind)
IMPORT_STARTED = "import_started"
IMAGE_IMPORTED = "image_imported"
IMAGE_SKIPPED = "image_skipped"  # could not be fetched; message says why
PAGE_DONE = "page_done"
WAITING = "waiting"
PAUSED = "paused"
RESUMED = "resumed"
IMPORT_FINISHED = "import_finished"

# ImportSummary.outcome
FINISHED = "finished"  # reached the end of the library (or the part imported before)
LIMIT = "limit"  # imported as many as asked; the next run goes on from here
STOPPED = "stopped"
SIGN_IN = "signin"


@dataclass(frozen=True)
class ImportProgress:
    pages: int  # pages finished in this run
    seen: int  # library entries looked at
    imported: int  # new images stored
    already: int  # entries that were stored before
    skipped: int  # entries that could not be fetched
    resumed: bool  # this run continued a stopped one


@dataclass(frozen=True)
class ImportEvent:
    kind: str
    progress: ImportProgress
    message: str = ""
    reason: str | None = None
    wait_seconds: float | None = None
    image: ImageRecord | None = field(default=None, repr=False)  # IMAGE_IMPORTED: for the gallery


@dataclass(frozen=True)
class ImportSummary:
    outcome: str
    imported: int
    seen: int
    already: int
    skipped: int
    pages: int
    resumed: bool
    elapsed: float
    message: str = ""


class _SignInNeeded(Exception):
    def __init__(self, err: ImageFXError) -> None:
        super().__init__(str(err))
        self.error = err


class _Stop(Exception):
    pass


def _created_at(entry: HistoryEntry) -> datetime | None:
    if not entry.create_time:
        return None
    text = entry.create_time.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class WebImporter:
    """``WebImporter(service).run(limit=…, on_event=…, control=…)`` on a worker thread."""

    def __init__(self, service: Service, *, page_size: int = PAGE_SIZE, backoff: float = 10.0,
                 max_backoff: float = 300.0, probe_interval: float = 5.0, max_probe_interval: float = 60.0,
                 max_transient_failures: int = 3) -> None:
        self.service = service
        self.page_size = page_size
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.probe_interval = probe_interval
        self.max_probe_interval = max_probe_interval
        self.max_transient_failures = max(1, max_transient_failures)

    def state(self, email: str) -> WebImportRecord | None:
        """Where the account's last import stopped (None: never imported)."""
        with self.service.db.session() as s:
            return queue_repo.import_state(s, email)

    def run(self, *, limit: int | None = None, full: bool = False,
            on_event: Callable[[ImportEvent], None] | None = None,
            control: RunControl | None = None) -> ImportSummary:
        """Import new images, at most ``limit`` in this run. Blocks; GUI: call on a worker thread.

        ``full`` rescans the whole library from the newest page (images deleted from the
        gallery come back). Raises DatabaseError, or an ImageFXError when a library page
        cannot be read after retries (the next run resumes at that page).
        """
        if limit is not None and limit < 1:
            raise ValidationError("The limit must be at least 1.")
        return _Import(self, control or RunControl(), on_event, limit, full).execute()


class _Import:
    def __init__(self, w: WebImporter, control: RunControl, on_event: Callable[[ImportEvent], None] | None,
                 limit: int | None, full: bool) -> None:
        self.w = w
        self.svc = w.service
        self.control = control
        self.on_event = on_event
        self.limit = limit
        self.full = full
        self.pages = self.seen = self.imported = self.already = self.skipped = 0
        self.resumed = False
        self.token = CancelToken()

    def progress(self) -> ImportProgress:
        return ImportProgress(pages=self.pages, seen=self.seen, imported=self.imported, already=self.already,
                              skipped=self.skipped, resumed=self.resumed)

    def emit(self, kind: str, **kw: object) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(ImportEvent(kind=kind, progress=self.progress(), **kw))  # type: ignore[arg-type]
        except Exception:
            log.exception("import event handler failed")

    # --- calls with the queue's failure rules ---------------------------------------------------

    def _check(self) -> None:
        if self.control.stopped or self.control.cancel_requested:
            raise _Stop()
        if self.control.paused:
            self.emit(PAUSED, reason="user", message="Import paused.")
            if not self.control.wait_while_paused():
                raise _Stop()
            self.emit(RESUMED)

    def call(self, fn: Callable[[CancelToken], T]) -> T:
        transient = rate_waits = 0
        probe = ProbeInterval(self.w.probe_interval, self.w.max_probe_interval)  # kept across outages
        while True:
            self._check()
            try:
                return fn(self.token)
            except Cancelled:
                raise _Stop() from None
            except AuthError as exc:
                raise _SignInNeeded(exc) from None
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else \
                    min(self.w.backoff * 2 ** rate_waits, self.w.max_backoff)
                rate_waits += 1
                self.emit(WAITING, reason="rate_limit", wait_seconds=wait, message=str(exc))
                self.control.wait(wait)
            except (RequestTimeout, ServerError, ProtocolChanged) as exc:
                transient += 1
                if transient >= self.w.max_transient_failures:
                    raise
                wait = min(self.w.backoff * 2 ** (transient - 1), self.w.max_backoff)
                self.emit(WAITING, reason="retry", wait_seconds=wait, message=str(exc))
                self.control.wait(wait)
            except NetworkError as exc:
                self.emit(PAUSED, reason="network", message=str(exc))
                retry_while_down(self._probe_network, ImageFXError, sleep=self._probe_wait, interval=probe,
                                 failed=exc)
                self.emit(RESUMED)

    def _probe_wait(self, seconds: float) -> bool:
        """The wait between network probes: a stop or cancel ends the import (_Stop), a pause
        holds it (reported) and the probe follows the resume."""
        if self.control.wait(seconds):
            self._check()
        return False

    def _probe_network(self) -> None:
        """labs.google answers (ImageFXError if not); _SignInNeeded if its answer is that the
        sign-in is gone."""
        try:
            self.svc.client().fetch_session()
        except AuthError as exc:
            raise _SignInNeeded(exc) from None

    # --- the import -------------------------------------------------------------------------------

    def execute(self) -> ImportSummary:
        started = time.monotonic()
        outcome, message = FINISHED, ""
        email = None
        try:
            info = self.call(lambda t: self.svc.client().session(t))
            self.svc._record_session(info)
            email = info.email
            with self.svc.db.session() as s:
                previous = queue_repo.import_state(s, email)
                state = queue_repo.begin_import(s, email, restart=self.full)
            self.resumed = state.next_cursor is not None
            early_stop = not self.full and not self.resumed and previous is not None and \
                previous.completed_at is not None
            self.emit(IMPORT_STARTED, message="Resuming the last import." if self.resumed else "")
            outcome = self._pages(info, state.next_cursor, early_stop)
        except _SignInNeeded as exc:
            outcome, message = SIGN_IN, f"Import paused: sign in again: {exc.error}"
        except _Stop:
            outcome = STOPPED
        except ImageFXError as exc:
            if email:
                self._note_error(email, str(exc))
            raise
        if not message:
            message = {FINISHED: "Import finished", LIMIT: "Import stopped at the limit",
                       STOPPED: "Import stopped"}.get(outcome, "Import ended")
            message += f": {self.imported} new image(s), {self.already} already in the gallery"
            message += f", {self.skipped} could not be fetched." if self.skipped else "."
        self.emit(IMPORT_FINISHED, reason=outcome, message=message)
        return ImportSummary(outcome=outcome, imported=self.imported, seen=self.seen, already=self.already,
                             skipped=self.skipped, pages=self.pages, resumed=self.resumed,
                             elapsed=time.monotonic() - started, message=message)

    def _note_error(self, email: str, error: str) -> None:
        try:
            with self.svc.db.session() as s:
                queue_repo.set_import_error(s, email, error[:1000])
        except Exception:
            log.warning("could not record the import error")

    def _history_page(self, cursor: str | None, cancel: CancelToken) -> HistoryPage:
        return self.svc.client().user_history(cursor, self.w.page_size, cancel, retries=0)

    def _pages(self, info: SessionInfo, cursor: str | None, early_stop: bool) -> str:
        email = info.email
        while True:
            page = self.call(partial(self._history_page, cursor))
            ids = [e.media_id for e in page.entries]
            with self.svc.db.session() as s:
                known = repo.existing_media_ids(s, ids)
            fresh = [e for e in page.entries if e.media_id not in known]
            if early_stop and page.entries and not fresh:
                # An earlier import reached the end; everything older than this page is in.
                self.seen += len(page.entries)
                self.already += len(page.entries)
                self.pages += 1
                with self.svc.db.session() as s:
                    queue_repo.record_import_page(s, email, next_cursor=None, seen=len(page.entries), imported=0,
                                                  completed=True)
                self.emit(PAGE_DONE)
                return FINISHED
            imported_here = 0
            for entry in fresh:
                if self.limit is not None and self.imported >= self.limit:
                    self._partial(email, imported_here)
                    return LIMIT
                try:
                    self._check()
                except _Stop:
                    self._partial(email, imported_here)
                    raise
                if self._import_one(info, entry):
                    imported_here += 1
            self.seen += len(page.entries)
            self.already += len(known)
            self.pages += 1
            done = page.next_cursor is None
            with self.svc.db.session() as s:
                queue_repo.record_import_page(s, email, next_cursor=page.next_cursor, seen=len(page.entries),
                                              imported=imported_here, completed=done)
            self.emit(PAGE_DONE)
            if done:
                return FINISHED
            if self.limit is not None and self.imported >= self.limit:
                return LIMIT
            cursor = page.next_cursor

    def _partial(self, email: str, imported_here: int) -> None:
        if imported_here:
            with self.svc.db.session() as s:
                queue_repo.add_imported(s, email, imported_here)

    def _import_one(self, info: SessionInfo, entry: HistoryEntry) -> bool:
        try:
            img = self.call(lambda t: self.svc.client().fetch_media(entry.media_id, t, retries=0))
            new = prepare.fetched_generation(img, user_email=info.email, user_name=info.name,
                                             user_image_url=info.image_url, source="import",
                                             created_at=_created_at(entry))
        except (BadRequest, ServerError, RequestTimeout, ProtocolChanged) as exc:
            self.skipped += 1
            log.warning("web import: media %s skipped: %s", entry.media_id[:12], exc)
            self.emit(IMAGE_SKIPPED, message=str(exc))
            return False
        result = self.svc._store(new)  # the spool keeps it if the database is down
        if result.record.images or result.spooled:
            self.imported += 1
            self.emit(IMAGE_IMPORTED, image=result.record.images[0] if result.record.images else None)
            return True
        self.already += 1  # stored by someone else a moment ago
        return False
