"""Import the user's ImageFX web library into the gallery.

Pages through ``media.fetchUserHistory`` (newest first), fetches each image not stored
yet with ``media.fetchMedia`` and stores it with its prompt, seed and original date. The
cursor of the next page is saved after each page (``web_import_state``), so an
interrupted import resumes at the page it was on; media ids make re-storing harmless.
Once an import has reached the end, a later one stops at the first page it already has
entirely (older pages were imported then) unless ``full=True``.

Failures are handled like the queue's, by the same code (:func:`core.service.control.call_imagefx`
with the one policy of :mod:`core.imagefx.retry`): 429 waits (Retry-After), network loss pauses
until labs.google answers, sign-in failure stops with ``RunOutcome.SIGN_IN``; an image that
cannot be fetched (deleted meanwhile, server error after retries) is skipped and counted.

A listing that never ends (empty pages with ever-new page tokens, a token seen before, pages
of nothing new) stops with ``RunOutcome.STALLED`` and a sentence saying so, instead of paging
for ever: see :class:`_Listing`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import TypeVar

from core.cancel import CancelToken
from core.imagefx.errors import ImageFXError
from core.imagefx.retry import RUN_POLICY, Failure, classify
from core.imagefx.types import HistoryEntry, HistoryPage, SessionInfo
from core.service import prepare
from core.service.control import (
    ProbeInterval,
    RunControl,
    RunOutcome,
    SignInNeeded,
    Stopped,
    WaitReason,
    call_imagefx,
    probe_imagefx,
)
from core.service.service import Service, ValidationError
from core.store import ImageRecord, WebImportRecord, queue_repo, repo

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE_SIZE = 12  # what the web app asks for
# A listing that pages on without progress is not a library: the server is broken or hostile.
MAX_PAGES = 20_000  # 240,000 images at 12 a page: far beyond a real library, still an end
MAX_FRUITLESS_PAGES = 5  # pages in a row that bring no entry this run has not seen already


class ImportEventKind(Enum):
    """What an :class:`ImportEvent` reports."""

    IMPORT_STARTED = "import_started"
    IMAGE_IMPORTED = "image_imported"
    IMAGE_SKIPPED = "image_skipped"  # could not be fetched; message says why
    PAGE_DONE = "page_done"
    WAITING = "waiting"
    PAUSED = "paused"
    RESUMED = "resumed"
    IMPORT_FINISHED = "import_finished"


IMPORT_STARTED = ImportEventKind.IMPORT_STARTED
IMAGE_IMPORTED = ImportEventKind.IMAGE_IMPORTED
IMAGE_SKIPPED = ImportEventKind.IMAGE_SKIPPED
PAGE_DONE = ImportEventKind.PAGE_DONE
WAITING = ImportEventKind.WAITING
PAUSED = ImportEventKind.PAUSED
RESUMED = ImportEventKind.RESUMED
IMPORT_FINISHED = ImportEventKind.IMPORT_FINISHED

# ImportSummary.outcome: the runs' one set of outcomes (the queue ends the same ways).
FINISHED = RunOutcome.FINISHED  # reached the end of the library (or the part imported before)
LIMIT = RunOutcome.LIMIT  # imported as many as asked; the next run goes on from here
STOPPED = RunOutcome.STOPPED
SIGN_IN = RunOutcome.SIGN_IN
STALLED = RunOutcome.STALLED  # the listing went on without progress; stopped (see _Listing)


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
    kind: ImportEventKind
    progress: ImportProgress
    message: str = ""
    reason: WaitReason | None = None  # WAITING, PAUSED
    wait_seconds: float | None = None
    image: ImageRecord | None = field(default=None, repr=False)  # IMAGE_IMPORTED: for the gallery
    outcome: RunOutcome | None = None  # IMPORT_FINISHED


@dataclass(frozen=True)
class ImportSummary:
    outcome: RunOutcome
    imported: int
    seen: int
    already: int
    skipped: int
    pages: int
    resumed: bool
    elapsed: float
    message: str = ""


class _Stalled(Exception):
    """The listing went on without progress; the message says how."""


class _Listing:
    """Guards the paging: a real library ends. Stops (:class:`_Stalled`) on a page token seen
    before in this run (the listing loops), on :data:`MAX_FRUITLESS_PAGES` pages in a row that
    bring nothing this run has not seen (empty pages with ever-new tokens, the same entries
    again), before anything of such a page is stored; and after :data:`MAX_PAGES` pages
    (:meth:`at_cap`, once the last one is stored)."""

    def __init__(self, max_pages: int = MAX_PAGES, max_fruitless: int = MAX_FRUITLESS_PAGES) -> None:
        self.max_pages = max_pages
        self.max_fruitless = max_fruitless
        self.tokens: set[str] = set()
        self.seen: set[str] = set()
        self.pages = 0
        self.fruitless = 0

    def check(self, page: HistoryPage) -> None:
        self.pages += 1
        new = {e.media_id for e in page.entries} - self.seen
        self.seen |= new
        self.fruitless = 0 if new else self.fruitless + 1
        token = page.next_cursor
        if token is None:
            return
        if token in self.tokens:
            raise _Stalled(f"The ImageFX library listing went round in a circle (page {self.pages} sent a page "
                           "token it had sent before).")
        self.tokens.add(token)
        if self.fruitless >= self.max_fruitless:
            raise _Stalled(f"The ImageFX library listing did not end: {self.fruitless} pages in a row brought "
                           "nothing new, each with a new page token.")

    def at_cap(self) -> None:
        """After a page is imported: the page cap ends the run there (its images are kept)."""
        if self.pages >= self.max_pages:
            raise _Stalled(f"The ImageFX library listing did not end after {self.pages:,} pages.")


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

    def __init__(self, service: Service, *, page_size: int = PAGE_SIZE, backoff: float = RUN_POLICY.backoff,
                 max_backoff: float = RUN_POLICY.max_backoff, probe_interval: float = RUN_POLICY.probe_interval,
                 max_probe_interval: float = RUN_POLICY.max_probe_interval,
                 max_transient_failures: int = RUN_POLICY.max_transient_failures,
                 max_pages: int = MAX_PAGES) -> None:
        self.service = service
        self.page_size = page_size
        self.max_pages = max_pages
        self.policy = dataclasses.replace(
            RUN_POLICY, backoff=backoff, max_backoff=max_backoff, probe_interval=probe_interval,
            max_probe_interval=max_probe_interval, max_transient_failures=max(1, max_transient_failures))

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
        self.probes = ProbeInterval(w.policy.probe_interval, w.policy.max_probe_interval)  # kept across calls

    def progress(self) -> ImportProgress:
        return ImportProgress(pages=self.pages, seen=self.seen, imported=self.imported, already=self.already,
                              skipped=self.skipped, resumed=self.resumed)

    def emit(self, kind: ImportEventKind, **kw: object) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(ImportEvent(kind=kind, progress=self.progress(), **kw))  # type: ignore[arg-type]
        except Exception:
            log.exception("import event handler failed")

    # --- calls with the queue's failure rules ---------------------------------------------------

    def _check(self) -> None:
        """Stopped (or cancelled): Stopped. Paused: hold here (reported) until resumed."""
        if self.control.stopped or self.control.cancel_requested:
            raise Stopped()
        if self.control.paused:
            self.emit(PAUSED, reason=WaitReason.USER, message="Import paused.")
            if not self.control.wait_while_paused():
                raise Stopped()
            self.emit(RESUMED)

    def call(self, fn: Callable[[CancelToken], T]) -> T:
        """An ImageFX call with the runs' retry rules; a pause holds the import, a stop ends it."""
        self._check()

        def waited(reason: WaitReason, wait: float | None, exc: ImageFXError) -> None:
            kind = PAUSED if wait is None else WAITING
            self.emit(kind, reason=reason, wait_seconds=wait, message=str(exc))

        return call_imagefx(lambda: fn(self.token), policy=self.w.policy, control=self.control,
                            probe=lambda: probe_imagefx(self.svc.client), probe_interval=self.probes,
                            on_wait=waited, on_resumed=lambda: self.emit(RESUMED), interrupted=self._check)

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
        except SignInNeeded as exc:
            outcome, message = SIGN_IN, f"Import paused: sign in again: {exc.error}"
        except Stopped:
            outcome = STOPPED
        except _Stalled as exc:
            outcome = STALLED
            message = (f"{exc} Import stopped: {self.imported} new image(s) stored; run it again later, or "
                       "report it if it keeps happening.")
            if email:
                self._note_error(email, str(exc))
        except ImageFXError as exc:
            if email:
                self._note_error(email, str(exc))
            raise
        if not message:
            message = {FINISHED: "Import finished", LIMIT: "Import stopped at the limit",
                       STOPPED: "Import stopped"}.get(outcome, "Import ended")
            message += f": {self.imported} new image(s), {self.already} already in the gallery"
            message += f", {self.skipped} could not be fetched." if self.skipped else "."
        self.emit(IMPORT_FINISHED, outcome=outcome, message=message)
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

    def _pages(self, info: SessionInfo, cursor: str | None, early_stop: bool) -> RunOutcome:
        email = info.email
        listing = _Listing(max_pages=self.w.max_pages)
        if cursor is not None:
            listing.tokens.add(cursor)
        while True:
            page = self.call(partial(self._history_page, cursor))
            listing.check(page)  # before storing the page's cursor: a looping token is never saved
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
                except Stopped:
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
            listing.at_cap()
            cursor = page.next_cursor

    def _partial(self, email: str, imported_here: int) -> None:
        if imported_here:
            with self.svc.db.session() as s:
                queue_repo.add_imported(s, email, imported_here)

    def _import_one(self, info: SessionInfo, entry: HistoryEntry) -> bool:
        try:
            img = self.call(lambda t: self.svc.client().fetch_media(entry.media_id, t, retries=0))
            raw = prepare.raw_fetched(img, user_email=info.email, user_name=info.name,
                                      user_image_url=info.image_url, source="import",
                                      created_at=_created_at(entry))
            new = self.svc.deliver(raw, [img])  # kept in the spool first, like every delivered image
            result = self.svc._store(new)  # the spool keeps it if the database is down
        except ImageFXError as exc:  # refused, failing, or kept aside as unstorable (UnstorableAnswer)
            if classify(exc) not in (Failure.REFUSED, Failure.TRANSIENT):
                raise
            self.skipped += 1
            log.warning("web import: media %s skipped: %s", entry.media_id[:12], exc)
            self.emit(IMAGE_SKIPPED, message=str(exc))
            return False
        if result.record.images or result.spooled:
            self.imported += 1
            self.emit(IMAGE_IMPORTED, image=result.record.images[0] if result.record.images else None)
            return True
        self.already += 1  # stored by someone else a moment ago
        return False
