"""The prompt queue: add prompts (editor, file, pasted list), then run them one at a time.

The queue lives in PostgreSQL (``generation_queue``), so it survives quitting, a crash or
a reboot, and the next run picks up where the last one stopped. What a run does with
each ImageFX failure:

- 429: wait (``Retry-After`` when the server gives one, else exponential back-off) and
  try the same item again.
- safety refusal or another bad request: the item fails with Google's message; next item.
- server errors, time-outs, garbled answers: a few retries with back-off, then the item fails.
- network loss: the run pauses, probes until ImageFX answers again, then carries on.
- sign-in failure: the run stops with outcome ``RunOutcome.SIGN_IN``; the item stays pending.

The waits are the one retry policy of :mod:`core.imagefx.retry`, applied by
:func:`core.service.control.call_imagefx` (the web import uses the same).

An item's images and its move to ``done`` commit in one transaction, so a crash leaves
either both or neither; an item that was running when its process died runs once more
(``queue_repo.recover_stale``). If the database is down when an item's images arrive, they
go to the spool with the item's id; draining the spool stores them and marks the item done
in one transaction, and a run drains the spool before it recovers or claims anything, so
such an item is never generated twice. Core only: the GUI drives this through
:class:`QueueService` on a worker thread, with a :class:`RunControl` and ``on_event``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from core import interrupts
from core.cancel import CancelToken
from core.imagefx.errors import ImageFXError
from core.imagefx.retry import RUN_POLICY, Failure, classify
from core.imagefx.types import GenerationRequest
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
    retry_while_down,
)
from core.service.service import Service, StorageFailed, UnstorableAnswer, ValidationError, validate_request
from core.store import (
    DatabaseError,
    DatabaseRejected,
    DatabaseUnavailable,
    GenerationRecord,
    ImageRecord,
    NewGeneration,
    NewQueueItem,
    QueueCounts,
    QueueItem,
    SpoolError,
    deadline,
    queue_repo,
    repo,
)
from core.store.queue_repo import ItemLocks
from core.userfiles import read_text

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 16 * 1024 * 1024  # a prompt file; 16 MB is ~100,000 long prompts

class QueueEventKind(Enum):
    """What a :class:`QueueEvent` reports."""

    RUN_STARTED = "run_started"
    ITEM_STARTED = "item_started"
    ITEM_DONE = "item_done"
    ITEM_FAILED = "item_failed"
    ITEM_CANCELLED = "item_cancelled"
    ITEM_RECOVERED = "item_recovered"  # found running with no live runner; pending again (or failed)
    WAITING = "waiting"  # rate limit or back-off; wait_seconds says how long
    PAUSED = "paused"  # reason: network, database, user
    RESUMED = "resumed"
    RUN_FINISHED = "run_finished"


RUN_STARTED = QueueEventKind.RUN_STARTED
ITEM_STARTED = QueueEventKind.ITEM_STARTED
ITEM_DONE = QueueEventKind.ITEM_DONE
ITEM_FAILED = QueueEventKind.ITEM_FAILED
ITEM_CANCELLED = QueueEventKind.ITEM_CANCELLED
ITEM_RECOVERED = QueueEventKind.ITEM_RECOVERED
WAITING = QueueEventKind.WAITING
PAUSED = QueueEventKind.PAUSED
RESUMED = QueueEventKind.RESUMED
RUN_FINISHED = QueueEventKind.RUN_FINISHED

# RunSummary.outcome: the runs' one set of outcomes (the web import ends the same ways).
FINISHED = RunOutcome.FINISHED  # nothing pending any more (failed items included)
SIGN_IN = RunOutcome.SIGN_IN  # paused for sign-in; pending items wait for the next run
STOPPED = RunOutcome.STOPPED  # RunControl.stop()

SIGN_IN_MESSAGE = "Queue paused: sign in again"


@dataclass(frozen=True)
class QueueOptions:
    """Per-item options; None takes the default from the settings."""

    count: int | None = None
    model: str | None = None
    aspect_ratio: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class QueueProgress:
    """This run's progress: ``finished`` of ``total`` ("n of N") and an estimate of the time left.

    ``done``, ``failed`` and ``cancelled`` count what this run finished, ``pending`` and
    ``running`` what is still to do, so items finished by an earlier run are not counted
    ("3 pending" is followed by "[1/3]", not "[5/8]")."""

    pending: int
    running: int
    done: int
    failed: int
    cancelled: int
    eta_seconds: float | None = None

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed + self.cancelled

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.cancelled

    @property
    def fraction(self) -> float:
        return self.finished / self.total if self.total else 1.0


@dataclass(frozen=True)
class QueueEvent:
    """One thing that happened in a run; plain data, safe to hand to another thread."""

    kind: QueueEventKind
    progress: QueueProgress
    item: QueueItem | None = None
    message: str = ""
    reason: WaitReason | None = None  # WAITING, PAUSED
    wait_seconds: float | None = None
    images: tuple[ImageRecord, ...] = field(default=(), repr=False)  # ITEM_DONE: for the gallery
    outcome: RunOutcome | None = None  # RUN_FINISHED


@dataclass(frozen=True)
class RunSummary:
    outcome: RunOutcome  # FINISHED, SIGN_IN or STOPPED
    done: int
    failed: int
    cancelled: int
    images: int
    elapsed: float
    progress: QueueProgress
    message: str = ""


EventCallback = Callable[[QueueEvent], None]


def parse_prompt_lines(text: str) -> list[str]:
    """One prompt per line; blank lines and lines starting with ``#`` are skipped."""
    prompts = []
    for line in text.lstrip("\ufeff").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        prompts.append(stripped)
    return prompts


class QueueService:
    """The queue's use cases on top of a :class:`Service`. Thread-safe like the service.

    Timing knobs are for tests (the defaults are what a user wants): ``backoff`` is the
    first wait after a 429 without Retry-After or after a server error, doubling up to
    ``max_backoff``; ``probe_interval`` is the first wait between network probes.
    """

    def __init__(self, service: Service, *, backoff: float = RUN_POLICY.backoff,
                 max_backoff: float = RUN_POLICY.max_backoff, probe_interval: float = RUN_POLICY.probe_interval,
                 max_probe_interval: float = RUN_POLICY.max_probe_interval,
                 max_transient_failures: int = RUN_POLICY.max_transient_failures) -> None:
        self.service = service
        self.policy = dataclasses.replace(
            RUN_POLICY, backoff=backoff, max_backoff=max_backoff, probe_interval=probe_interval,
            max_probe_interval=max_probe_interval, max_transient_failures=max(1, max_transient_failures))

    @property
    def probe_interval(self) -> float:
        return self.policy.probe_interval

    # --- adding ------------------------------------------------------------------------------

    def _new_item(self, prompt: str, options: QueueOptions, source: str | None) -> NewQueueItem:
        d = self.service.settings.generation
        req = validate_request(GenerationRequest(
            prompt=prompt, count=options.count or d.count, model=options.model or d.model,
            aspect_ratio=options.aspect_ratio or d.aspect_ratio, seed=options.seed))
        return NewQueueItem(prompt=req.prompt, count=req.count, model=req.model, aspect_ratio=req.aspect_ratio,
                            seed=req.seed, source=source[:255] if source else None)

    def add_prompts(self, prompts: Iterable[str], options: QueueOptions | None = None, *,
                    source: str | None = "editor", user_email: str | None = None) -> list[QueueItem]:
        """Append prompts (all or none: one invalid prompt raises ValidationError naming it).

        ``user_email`` reserves the items for one account; None lets whoever runs the queue run them.
        """
        options = options or QueueOptions()
        new = []
        for n, prompt in enumerate(prompts, 1):
            try:
                new.append(self._new_item(prompt, options, source))
            except ValidationError as exc:
                raise ValidationError(f"Prompt {n}: {exc}") from None
        if not new:
            return []
        with self.service.db.session() as s:
            return queue_repo.add_items(s, new, user_email)

    def add_text(self, text: str, options: QueueOptions | None = None, *, source: str | None = "paste",
                 user_email: str | None = None) -> list[QueueItem]:
        """A pasted list: one prompt per line, blank lines and ``#`` comments skipped."""
        lines = parse_prompt_lines(text)
        try:
            return self.add_prompts(lines, options, source=source, user_email=user_email)
        except ValidationError as exc:
            raise ValidationError(_with_line_number(str(exc), text)) from None

    def add_file(self, path: str | Path, options: QueueOptions | None = None, *,
                 user_email: str | None = None) -> list[QueueItem]:
        """A text file (UTF-8, with or without BOM): one prompt per line."""
        p = Path(path).expanduser()
        text = read_text(path, limit=MAX_FILE_BYTES, what="prompt file", error=ValidationError,
                         pipe_hint="To pipe prompts in, use --file - (standard input).")
        return self.add_text(text, options, source=p.name, user_email=user_email)

    # --- looking and editing ------------------------------------------------------------------

    def items(self, states: Sequence[str] | None = None, *, user_email: str | None = None) -> list[QueueItem]:
        with self.service.db.session() as s:
            return queue_repo.list_items(s, states=states, user_email=user_email)

    def version(self) -> str:
        """Changes whenever the queue does, whoever changed it (:func:`queue_repo.version`)."""
        with self.service.db.session() as s:
            return queue_repo.version(s)

    def read(self) -> tuple[list[QueueItem], str]:
        """The whole queue and its version, the version read first: a change in between makes
        the next :meth:`version` differ, so it is read again rather than missed."""
        with self.service.db.session() as s:
            v = queue_repo.version(s)
            return queue_repo.list_items(s), v

    def item(self, item_id: int) -> QueueItem | None:
        with self.service.db.session() as s:
            return queue_repo.get_item(s, item_id)

    def counts(self, *, user_email: str | None = None) -> QueueCounts:
        with self.service.db.session() as s:
            return queue_repo.counts(s, user_email)

    def move(self, item_id: int, to_index: int) -> bool:
        """Drag to reorder: put the item at ``to_index`` of :meth:`items`."""
        with self.service.db.session() as s:
            return queue_repo.move(s, item_id, to_index)

    def remove(self, item_ids: Sequence[int]) -> int:
        """Delete items (a running item stays; cancel it first)."""
        with self.service.db.session() as s:
            return queue_repo.remove(s, item_ids)

    def retry_failed(self, item_ids: Sequence[int] | None = None) -> int:
        """Failed items (or the named failed/cancelled ones) go back to pending."""
        with self.service.db.session() as s:
            return queue_repo.retry(s, item_ids)

    def cancel(self, item_ids: Sequence[int] | None = None, control: RunControl | None = None) -> int:
        """Cancel pending items (None: all); with the run's ``control``, a named running item too."""
        with self.service.db.session() as s:
            n = queue_repo.cancel_pending(s, item_ids)
        if control is not None and control.current_item is not None and (
                item_ids is None or control.current_item in item_ids):
            control.cancel_current(control.current_item)
            n += 1
        return n

    def clear(self, *, finished_only: bool = False) -> int:
        """Remove every item (or only done/failed/cancelled ones) except running ones."""
        with self.service.db.session() as s:
            return queue_repo.clear(s, finished_only=finished_only)

    # --- running ------------------------------------------------------------------------------

    def run(self, *, delay: float | None = None, on_event: EventCallback | None = None,
            control: RunControl | None = None) -> RunSummary:
        """Run pending items one at a time until none is left, a sign-in is needed, or ``stop()``.

        Blocks: call it on a worker thread in the GUI. ``on_event`` is called on that
        thread. ``delay`` is the pause between items (default: settings.queue_delay).
        Raises only for what the queue cannot carry on from: the database (DatabaseError)
        before anything runs, or StorageFailed (neither database nor spool could keep images).
        """
        d = self.service.settings.queue_delay if delay is None else delay
        return _Run(self, control or RunControl(), on_event, max(0.0, d)).execute()


def _with_line_number(message: str, text: str) -> str:
    """"Prompt 3: …" → "Line 7: …" (the line in the file the user will open)."""
    if not message.startswith("Prompt "):
        return message
    head, _, rest = message.partition(": ")
    try:
        n = int(head.split()[1])
    except (IndexError, ValueError):
        return message
    seen = 0
    for line_no, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            seen += 1
            if seen == n:
                return f"Line {line_no}: {rest}"
    return message


class _Run:
    """One call of QueueService.run: its locks, counters and timing."""

    def __init__(self, q: QueueService, control: RunControl, on_event: EventCallback | None, delay: float) -> None:
        self.q = q
        self.svc = q.service
        self.control = control
        self.on_event = on_event
        self.delay = delay
        self.email: str | None = None
        self.locks: ItemLocks | None = None
        self.claimed_by = f"{socket.gethostname()}:{os.getpid()}"
        self.done = self.failed = self.cancelled = self.images = 0
        self.durations: deque[float] = deque(maxlen=10)
        self.counts = QueueCounts()

    # --- events -------------------------------------------------------------------------------

    def _progress(self, refresh: bool = True) -> QueueProgress:
        if refresh:
            try:
                with self.svc.db.session() as s:
                    self.counts = queue_repo.counts(s, self.email)
            except DatabaseError:
                pass  # keep the last counts; the database pause reports the problem
        c = self.counts
        eta = None
        if self.durations:
            per_item = sum(self.durations) / len(self.durations) + self.delay
            eta = (c.pending + c.running) * per_item
        return QueueProgress(pending=c.pending, running=c.running, done=self.done, failed=self.failed,
                             cancelled=self.cancelled, eta_seconds=eta)

    def emit(self, kind: QueueEventKind, item: QueueItem | None = None, *, refresh: bool = True,
             **kw: object) -> None:
        if self.on_event is None:
            return
        event = QueueEvent(kind=kind, progress=self._progress(refresh), item=item, **kw)  # type: ignore[arg-type]
        try:
            self.on_event(event)
        except Exception:  # a display bug must not leave an item half-run
            log.exception("queue event handler failed")

    # --- the loop -----------------------------------------------------------------------------

    def execute(self) -> RunSummary:
        started = time.monotonic()
        outcome, message = FINISHED, ""
        try:
            self.email = self._account()
            self.locks = ItemLocks(self.svc.db.engine, self.svc.db.where)  # the database must be there to start
            self._drain_spool()
            self._recover()
            self.emit(RUN_STARTED)
            first = True
            while True:
                if self.control.stopped:
                    outcome = STOPPED
                    break
                if self.control.paused:
                    self.emit(PAUSED, reason=WaitReason.USER, message="Queue paused.")
                    if not self.control.wait_while_paused():
                        outcome = STOPPED
                        break
                    self.emit(RESUMED)
                if not first and self.delay > 0 and self._progress().pending > 0:
                    if self.control.wait(self.delay):
                        continue  # paused or stopped during the pause between items
                self._drain_spool()
                item = self._claim()
                if item is None:
                    if self._recover():
                        continue
                    break
                first = False
                self._run_item(item)
        except SignInNeeded as exc:
            outcome = SIGN_IN
            message = f"{SIGN_IN_MESSAGE}: {exc.error}"
        except Stopped:
            outcome = STOPPED
        finally:
            if self.locks is not None:
                self.locks.close()
        elapsed = time.monotonic() - started
        if outcome == FINISHED:
            message = f"Queue finished: {self.done} done, {self.failed} failed."
        elif outcome == STOPPED:
            message = "Queue stopped."
        progress = self._progress()
        self.emit(RUN_FINISHED, message=message, outcome=outcome, refresh=False)
        return RunSummary(outcome=outcome, done=self.done, failed=self.failed, cancelled=self.cancelled,
                          images=self.images, elapsed=elapsed, progress=progress, message=message)

    def _account(self) -> str:
        """The signed-in account's e-mail; waits out network loss (a pause only lengthens the wait);
        SignInNeeded if signed out, Stopped if stopped meanwhile."""

        def signed_in() -> str:
            info = self.svc.client().session(self.control.begin_item(None))
            self.svc._record_session(info)
            return info.email

        def held() -> None:  # no item is held back, so a pause just lengthens the wait
            if self.control.stopped or (self.control.paused and not self.control.wait_while_paused()):
                raise Stopped()

        return call_imagefx(signed_in, policy=self.q.policy, control=self.control, probe=self._probe,
                            on_wait=lambda reason, wait, exc: self._report_wait(None, reason, wait, exc),
                            on_resumed=lambda: self.emit(RESUMED, refresh=False), interrupted=held)

    def _probe(self) -> None:
        probe_imagefx(self.svc.client)

    def _report_wait(self, item: QueueItem | None, reason: WaitReason, wait: float | None,
                     exc: ImageFXError) -> None:
        """A wait of :func:`call_imagefx`: WAITING with its length, or PAUSED until ImageFX is back."""
        if wait is None:
            self.emit(PAUSED, item, reason=reason, message=str(exc), refresh=False)
        else:
            self.emit(WAITING, item, reason=reason, wait_seconds=wait, message=str(exc), refresh=False)

    def _probe_interval(self) -> ProbeInterval:
        return ProbeInterval(self.q.policy.probe_interval, self.q.policy.max_probe_interval)

    def _database_down(self, exc: DatabaseError) -> None:
        self.emit(PAUSED, reason=WaitReason.DATABASE, message=str(exc), refresh=False)

    def _sleep(self, seconds: float) -> bool:
        """A wait that holds nothing back (no item to release): a pause just lengthens it.
        True if the run was stopped."""
        self.control.wait(seconds, pause=False, cancel=False)
        if self.control.paused and not self.control.stopped:
            return not self.control.wait_while_paused()
        return self.control.stopped

    def _db(self, fn: Callable[..., object], *args: object) -> object:
        """A queue bookkeeping transaction; waits for the database when it is down (the
        DatabaseError is raised if the run is stopped meanwhile)."""

        def transaction() -> object:
            with self.svc.db.session() as s:
                return fn(s, *args)

        return retry_while_down(transaction, DatabaseError, sleep=self._sleep, interval=self._probe_interval(),
                                on_down=self._database_down, on_up=lambda: self.emit(RESUMED),
                                after_sleep=self._ensure_locks)

    def _ensure_locks(self) -> ItemLocks | None:
        """The lock connection, reopened if the database dropped it (a restart ends its
        locks too, so the current item's lock is taken again on the new one)."""
        if self.locks is not None and self.locks.alive():
            return self.locks
        if self.locks is not None:
            self.locks.close()
            self.locks = None
        try:
            self.locks = ItemLocks(self.svc.db.engine, self.svc.db.where)
        except DatabaseError:
            return None
        current = self.control.current_item
        if current is not None:
            try:
                if not self.locks.try_lock(current):
                    log.warning("queue item %d was taken over while the database was away", current)
            except DatabaseError:
                pass
        return self.locks

    def _live_locks(self) -> ItemLocks:
        """For a transaction about to run: DatabaseUnavailable (so ``_db`` waits) without one."""
        locks = self._ensure_locks()
        if locks is None:
            raise DatabaseUnavailable("The database cannot be reached.")
        return locks

    def _drain_spool(self) -> None:
        """Spooled generations are stored before anything is recovered or claimed.

        An entry made while an item's images waited for the database carries the item's id,
        and storing it marks the item done in the same transaction (``Service.store_spooled``).
        Recovering first would put that item, still ``running``, back to pending and generate
        its prompt a second time. Waits while the database is down, like ``_db``.
        """
        if not self.svc.spool.pending():
            return
        drained: list[tuple[int, GenerationRecord]] = []

        def store(gen: NewGeneration) -> GenerationRecord:
            record = self.svc.store_spooled(gen)
            if gen.queue_item_id is not None:
                drained.append((gen.queue_item_id, record))
            return record

        try:
            retry_while_down(lambda: self.svc.spool.drain(store), DatabaseUnavailable, sleep=self._sleep,
                             interval=self._probe_interval(), on_down=self._database_down,
                             on_up=lambda: self.emit(RESUMED))
        except DatabaseUnavailable:  # stopped while the database was away
            raise Stopped() from None
        for item_id, record in drained:
            item = self._db(lambda s, i=item_id: queue_repo.get_item(s, i))
            log.info("queue item %d: its spooled images are stored; it is done", item_id)
            if item is None or not record.images:
                continue  # removed meanwhile, or stored before by its own runner (which reported it)
            self.done += 1
            self.images += len(record.images)
            self.emit(ITEM_DONE, item, images=record.images,  # type: ignore[arg-type]
                      message=f"{len(record.images)} image(s), stored from the spool")

    def _recover(self) -> bool:
        if self._ensure_locks() is None:
            return False
        recovered = self._db(lambda s: queue_repo.recover_stale(s, self._live_locks(), self.email))
        for item in recovered:  # type: ignore[attr-defined]
            log.warning("queue item %d was running when its process stopped; %s", item.id,
                        "failed" if item.state == "failed" else "running it again")
            self.emit(ITEM_RECOVERED, item, message=item.error or "")
        return bool(recovered)

    def _claim(self) -> QueueItem | None:
        """The next item; None only when nothing is pending. Pending rows that another runner
        has locked for an instant (its own claim) are waited for briefly, not taken for none."""
        for _ in range(40):
            item = self._db(lambda s: queue_repo.claim_next(s, self._live_locks(), self.claimed_by, self.email))
            if item is not None:
                return item  # type: ignore[return-value]
            if self._progress().pending == 0:
                return None
            if self._sleep(0.05):
                raise Stopped()
        return None

    def _unlock(self, item: QueueItem) -> None:
        if self.locks is not None:
            try:
                self.locks.unlock(item.id)
            except DatabaseError:  # the connection is gone, and its locks with it
                self.locks.close()
                self.locks = None

    # --- one item -----------------------------------------------------------------------------

    def _run_item(self, item: QueueItem) -> None:
        started = time.monotonic()
        token = self.control.begin_item(item.id)
        try:
            self.emit(ITEM_STARTED, item)
            try:
                req = validate_request(GenerationRequest(prompt=item.prompt, count=item.count, model=item.model,
                                                         aspect_ratio=item.aspect_ratio, seed=item.seed))
            except ValidationError as exc:
                self._fail(item, str(exc))
                return
            new = self._generate(item, req, token)
            if new is None:
                return
            if self.control.cancel_requested:  # the user gave up on this item: its images go too
                self.svc._unspool(new)
                self._finish(item, queue_repo.mark_cancelled, ITEM_CANCELLED, "Cancelled.")
                return
            record = self._store(item, new)
            if record is None:
                return
            self.done += 1
            self.images += len(record.images)
            self.durations.append(time.monotonic() - started)
            done = self._item_now(item)
            self.emit(ITEM_DONE, done, images=record.images,
                      message=f"{len(new.images)} image(s)")
        finally:
            self.control.end_item()
            self._unlock(item)

    def _item_now(self, item: QueueItem) -> QueueItem:
        try:
            with self.svc.db.session() as s:
                return queue_repo.get_item(s, item.id) or item
        except DatabaseError:
            return item

    def _finish(self, item: QueueItem, mark: Callable[..., None], kind: QueueEventKind, message: str,
                *args: object) -> None:
        self._db(lambda s: mark(s, item.id, *args))
        if kind == ITEM_FAILED:
            self.failed += 1
        elif kind == ITEM_CANCELLED:
            self.cancelled += 1
        self.emit(kind, self._item_now(item), message=message)

    def _fail(self, item: QueueItem, message: str) -> None:
        log.info("queue item %d failed: %s", item.id, message)
        self._finish(item, queue_repo.mark_failed, ITEM_FAILED, message, message)

    def _interrupted(self, item: QueueItem) -> None:
        """A wait was cut short: cancel the item, or put it back for later (pause/stop)."""
        if self.control.cancel_requested:
            self._finish(item, queue_repo.mark_cancelled, ITEM_CANCELLED, "Cancelled.")
        else:
            self._db(lambda s: queue_repo.release(s, item.id))

    def _generate(self, item: QueueItem, req: GenerationRequest, token: CancelToken) -> NewGeneration | None:
        """The generation, prepared for storing; None when the item ended otherwise."""

        def attempt() -> NewGeneration:
            client = self.svc.client()
            info = client.session(token)
            self.svc._record_session(info)
            with interrupts.guard("") as guard:
                guard.hold("Finishing the current item: its images are kept before the queue stops.")
                gen = client.generate(req, token, retries=0)  # every wait is ours: cancellable, reported
                raw = prepare.raw_generation(gen, user_email=info.email, user_name=info.name,
                                             user_image_url=info.image_url, requested_seed=req.seed,
                                             source="queue", queue_item_id=item.id)
                try:  # kept in the spool first, with this item's id: a drain finishes the item
                    return self.svc.deliver(raw, gen.images, gen.workflow_id, guard)
                except UnstorableAnswer as exc:
                    raise _Unstorable(exc) from None  # not for retrying: the images were made and kept

        try:
            return call_imagefx(attempt, policy=self.q.policy, control=self.control, probe=self._probe,
                                on_wait=lambda reason, wait, exc: self._report_wait(item, reason, wait, exc),
                                on_resumed=lambda: self.emit(RESUMED, item, refresh=False))
        except Stopped:  # cancelled, paused or stopped during a wait
            self._interrupted(item)
        except SignInNeeded:
            self._db(lambda s: queue_repo.release(s, item.id, f"{SIGN_IN_MESSAGE}."))
            raise
        except _Unstorable as exc:
            self._fail(item, str(exc.error))
        except ImageFXError as exc:
            if classify(exc) not in (Failure.REFUSED, Failure.TRANSIENT):
                raise
            self._fail(item, exc.user_message)  # refused, or still failing after the policy's tries
        return None

    def _store(self, item: QueueItem, new: NewGeneration) -> GenerationRecord | None:
        """Images and ``done`` in one transaction (within the store's deadline). The images are in
        the spool already (``Service.deliver``); while the database is down the transaction is
        retried when it is back, and the entry goes once it has committed."""
        new.queue_item_id = item.id  # a spool entry finishes this item when it is drained

        def once() -> GenerationRecord:
            with self.svc.db.session() as s:
                deadline.limit_statements(s)
                record = repo.store_generation(s, new)
                prompt_id = record.prompt_id
                if prompt_id is None and new.images:  # stored meanwhile from the spool
                    existing = repo.get_image_by_media_id(s, new.images[0].media_id)
                    prompt_id = existing.prompt_id if existing else None
                queue_repo.mark_done(s, item.id, prompt_id, len(new.images))
            return record

        def transaction() -> GenerationRecord:
            try:
                return self.svc._bounded(once)
            except DatabaseRejected as exc:
                raise _Unstorable(self.svc._unstorable(new, f"The database refused these images: "
                                                            f"{exc.user_message}")) from None

        def spool(exc: DatabaseError) -> None:
            if new.spooled_at is None:  # the spool could not be written when they arrived
                try:
                    new.spooled_at = self.svc.spool.put(new)
                except SpoolError as spool_exc:
                    raise StorageFailed(f"The images could not be stored: {exc.user_message} The spool "
                                        f"folder failed too ({spool_exc.strerror}).", new) from None
            self.emit(PAUSED, item, reason=WaitReason.DATABASE, refresh=False,
                      message=f"{exc} The images are kept in the spool meanwhile.")

        try:
            record = retry_while_down(transaction, DatabaseError, sleep=self._sleep,
                                      interval=self._probe_interval(), on_down=spool,
                                      on_up=lambda: self.emit(RESUMED, item))
        except _Unstorable as exc:
            self._fail(item, str(exc.error))
            return None
        except DatabaseError:
            # Stopped while the database was away. The spool keeps the images, with this item's id:
            # the next drain (at the next start, or the next run) stores them and marks the item done.
            if new.spooled_at is not None:
                self.svc.spool.release(new.spooled_at)
            return None
        self.svc._unspool(new)
        return record


class _Unstorable(Exception):
    """Images that were made and kept aside (UnstorableAnswer): the item fails, it is not retried."""

    def __init__(self, error: UnstorableAnswer) -> None:
        super().__init__(str(error))
        self.error = error
