"""Queries for the prompt queue (``generation_queue``) and the web import (``web_import_state``).

How "running" stays honest across crashes: the runner that works on an item holds a
session-level advisory lock on the item id on its own connection (:class:`ItemLocks`)
from claim to finish. PostgreSQL drops that lock the moment the runner's connection goes
away, which a killed process's does at once. So an item that is ``running`` while its
lock can be taken has no live runner: :func:`recover_stale` puts it back to ``pending``
(once) or fails it (when it already crashed a run before). Claims use
``FOR UPDATE SKIP LOCKED`` so two runners, in one process or on two machines, never get
the same item. tests/core/test_queue.py and tests/e2e/test_queue_cli.py (SIGKILL) prove it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.store.database import describe_error, rowcount
from core.store.models import GeneratedImage, QueueItemRow, WebImportState
from core.store.records import FINISHED_STATES, ItemState, NewQueueItem, QueueCounts, QueueItem, WebImportRecord

# pg_advisory_lock(int4, int4) namespace for queue items; the bootstrap lock uses a bigint key.
QUEUE_LOCK_NAMESPACE = 0x1AF1
_REORDER_LOCK = 0x1AF1_0001  # serialises reorders (pg_advisory_xact_lock(bigint))

CRASH_NOTE = "Interrupted: the app stopped while this item was running; it runs again."
CRASHED_TWICE = ("The app stopped twice while this item was running, so it was not run a third time. "
                 "Retry it to run it again.")


class ItemLocks:
    """Session-level advisory locks on queue items, held on one dedicated connection.

    A lock outlives transactions and dies with the connection, which is what makes it a
    liveness signal. Not thread-safe: one runner, one ``ItemLocks``.
    """

    def __init__(self, engine: Engine, where: str = "the database") -> None:
        self._where = where
        try:
            self._conn: Connection | None = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            raise describe_error(exc, where) from None
        self.held: set[int] = set()

    def _scalar(self, sql: str, item_id: int) -> Any:
        if self._conn is None:
            raise RuntimeError("ItemLocks is closed")
        try:
            return self._conn.execute(sa.text(sql), {"ns": QUEUE_LOCK_NAMESPACE, "id": item_id}).scalar()
        except DBAPIError as exc:
            raise describe_error(exc, self._where) from None

    def try_lock(self, item_id: int) -> bool:
        """True if this connection now holds the item's lock (False: a live runner has it)."""
        if item_id in self.held:  # advisory locks are re-entrant per session; never stack them
            return True
        got = bool(self._scalar("SELECT pg_try_advisory_lock(:ns, :id)", item_id))
        if got:
            self.held.add(item_id)
        return got

    def unlock(self, item_id: int) -> None:
        if item_id not in self.held:
            return
        self.held.discard(item_id)
        self._scalar("SELECT pg_advisory_unlock(:ns, :id)", item_id)

    def alive(self) -> bool:
        """False once the connection is gone (database restarted): its locks are gone with it."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
            return True
        except DBAPIError:
            return False

    def close(self) -> None:
        """Closing the connection releases every lock it holds."""
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never hand a connection holding locks back to the pool
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
        self.held.clear()


# --- reading ----------------------------------------------------------------------------------

_MEDIA = (sa.select(sa.func.coalesce(sa.func.array_agg(aggregate_order_by(
    GeneratedImage.media_generation_id, GeneratedImage.id)), sa.literal([], sa.ARRAY(sa.String))))
    .where(GeneratedImage.prompt_id == QueueItemRow.prompt_id)
    .correlate(QueueItemRow).scalar_subquery())


def _item(row: QueueItemRow, media_ids: Sequence[str] | None = None) -> QueueItem:
    return QueueItem(
        id=row.id, position=row.position, prompt=row.prompt_text, count=row.number_of_images,
        model=row.generation_model, aspect_ratio=row.aspect_ratio, seed=row.seed, state=ItemState(row.state),
        error=row.error, attempts=row.attempts, prompt_id=row.prompt_id, image_count=row.image_count,
        source=row.source, user_email=row.user_email, claimed_by=row.claimed_by, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, media_ids=tuple(media_ids or ()))


def _scope(q: Any, user_email: str | None) -> Any:
    """Items for ``user_email`` plus the unassigned ones; None: every item."""
    if user_email is None:
        return q
    return q.where(sa.or_(QueueItemRow.user_email.is_(None), QueueItemRow.user_email == user_email.lower()))


def list_items(s: Session, *, states: Sequence[str] | None = None, user_email: str | None = None,
               with_media: bool = True) -> list[QueueItem]:
    """The queue in run order (position, then id)."""
    cols: list[Any] = [QueueItemRow]
    if with_media:
        cols.append(_MEDIA)
    q = _scope(sa.select(*cols), user_email)
    if states:
        q = q.where(QueueItemRow.state.in_(list(states)))
    q = q.order_by(QueueItemRow.position, QueueItemRow.id)
    if with_media:
        return [_item(row, media) for row, media in s.execute(q)]
    return [_item(row) for row in s.execute(q).scalars()]


def version(s: Session) -> str:
    """A digest of every item's id, state, place and result: it changes whenever anyone (another
    window, ``queue add`` or ``queue run`` in a terminal) changes the queue, so a window can
    tell when to read it again without reading it."""
    parts = sa.func.concat_ws(":", QueueItemRow.id, QueueItemRow.state, QueueItemRow.position,
                              QueueItemRow.image_count, QueueItemRow.attempts)
    digest = sa.func.md5(sa.func.coalesce(
        sa.func.string_agg(parts, aggregate_order_by(sa.literal(","), QueueItemRow.id)), ""))
    return str(s.execute(sa.select(digest)).scalar_one())


def get_item(s: Session, item_id: int) -> QueueItem | None:
    row = s.execute(sa.select(QueueItemRow, _MEDIA).where(QueueItemRow.id == item_id)).first()
    return _item(row[0], row[1]) if row else None


def counts(s: Session, user_email: str | None = None) -> QueueCounts:
    q = _scope(sa.select(QueueItemRow.state, sa.func.count()).group_by(QueueItemRow.state), user_email)
    found = {state: int(n) for state, n in s.execute(q)}
    return QueueCounts(**{k: v for k, v in found.items() if k in QueueCounts.__dataclass_fields__})


# --- adding and editing ---------------------------------------------------------------------

def add_items(s: Session, items: Sequence[NewQueueItem], user_email: str | None = None) -> list[QueueItem]:
    """Append items at the end of the queue, in order."""
    if not items:
        return []
    s.execute(sa.select(sa.func.pg_advisory_xact_lock(_REORDER_LOCK)))
    last = s.execute(sa.select(sa.func.coalesce(sa.func.max(QueueItemRow.position), 0))).scalar_one()
    rows = [{"user_email": user_email.lower() if user_email else None, "position": last + i + 1,
             "prompt_text": it.prompt, "number_of_images": it.count, "generation_model": it.model,
             "aspect_ratio": it.aspect_ratio, "seed": it.seed, "source": it.source}
            for i, it in enumerate(items)]
    inserted = s.execute(sa.insert(QueueItemRow).returning(QueueItemRow), rows).scalars().all()
    return [_item(r) for r in sorted(inserted, key=lambda r: r.position)]


def move(s: Session, item_id: int, to_index: int, user_email: str | None = None) -> bool:
    """Move an item to ``to_index`` of :func:`list_items` (same scope); False if it is gone."""
    s.execute(sa.select(sa.func.pg_advisory_xact_lock(_REORDER_LOCK)))
    q = _scope(sa.select(QueueItemRow.id, QueueItemRow.position), user_email)
    rows = s.execute(q.order_by(QueueItemRow.position, QueueItemRow.id)).all()
    ids = [r[0] for r in rows]
    if item_id not in ids:
        return False
    ids.remove(item_id)
    ids.insert(max(0, min(to_index, len(ids))), item_id)
    # Renumber the scope's items into the positions they already occupied, so items of
    # other accounts keep their places in the table-wide order.
    slots = sorted(r[1] for r in rows)
    for i in range(1, len(slots)):  # make the slots distinct (ties from concurrent adds)
        if slots[i] <= slots[i - 1]:
            slots[i] = slots[i - 1] + 1
    old = {r[0]: r[1] for r in rows}
    changes = [{"b_id": iid, "b_pos": pos} for iid, pos in zip(ids, slots, strict=True) if old[iid] != pos]
    if changes:
        table = cast(sa.Table, QueueItemRow.__table__)
        # Core, not ORM: an ORM update with a parameter list is a bulk update by primary key.
        s.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                  .values(position=sa.bindparam("b_pos")), changes)
    return True


def _ids_filter(q: Any, ids: Sequence[int] | None) -> Any:
    return q if ids is None else q.where(QueueItemRow.id.in_(list(ids)))


def cancel_pending(s: Session, ids: Sequence[int] | None = None, user_email: str | None = None) -> int:
    """Pending items become cancelled (a running item is its runner's to cancel)."""
    q = _scope(_ids_filter(sa.update(QueueItemRow).where(QueueItemRow.state == ItemState.PENDING), ids), user_email)
    return rowcount(s.execute(q.values(state=ItemState.CANCELLED, finished_at=sa.func.now(), error=None)
                              .execution_options(synchronize_session=False)))


def retry(s: Session, ids: Sequence[int] | None = None, user_email: str | None = None) -> int:
    """Failed items (and cancelled ones, when named) go back to pending with a fresh attempt count."""
    states = [ItemState.FAILED, ItemState.CANCELLED] if ids is not None else [ItemState.FAILED]
    q = _scope(_ids_filter(sa.update(QueueItemRow).where(QueueItemRow.state.in_(states)), ids), user_email)
    return rowcount(s.execute(q.values(state=ItemState.PENDING, error=None, attempts=0, started_at=None,
                                       finished_at=None, claimed_by=None)
                              .execution_options(synchronize_session=False)))


def remove(s: Session, ids: Sequence[int], user_email: str | None = None) -> int:
    """Delete items that are not running."""
    q = _scope(sa.delete(QueueItemRow).where(QueueItemRow.id.in_(list(ids)))
               .where(QueueItemRow.state != ItemState.RUNNING), user_email)
    return rowcount(s.execute(q.execution_options(synchronize_session=False)))


def clear(s: Session, *, finished_only: bool = False, user_email: str | None = None) -> int:
    """Empty the queue (running items stay: their runner owns them)."""
    states = list(FINISHED_STATES) if finished_only else [ItemState.PENDING, *FINISHED_STATES]
    q = _scope(sa.delete(QueueItemRow).where(QueueItemRow.state.in_(states)), user_email)
    return rowcount(s.execute(q.execution_options(synchronize_session=False)))


# --- running --------------------------------------------------------------------------------

def recover_stale(s: Session, locks: ItemLocks, user_email: str | None = None) -> list[QueueItem]:
    """Running items whose runner is gone: back to pending once, failed after a second crash."""
    q = _scope(sa.select(QueueItemRow).where(QueueItemRow.state == ItemState.RUNNING), user_email)
    rows = s.execute(q.with_for_update(skip_locked=True)).scalars().all()
    recovered = []
    for row in rows:
        if row.id in locks.held:  # our own current item
            continue
        if not locks.try_lock(row.id):  # a live runner holds it
            continue
        try:
            if row.attempts >= 2:
                row.state, row.error, row.finished_at = ItemState.FAILED, CRASHED_TWICE, datetime.now(UTC)
            else:
                row.state, row.error = ItemState.PENDING, CRASH_NOTE
            row.claimed_by = None
            s.flush()
            recovered.append(_item(row))
        finally:
            locks.unlock(row.id)
    return recovered


def claim_next(s: Session, locks: ItemLocks, claimed_by: str, user_email: str | None = None) -> QueueItem | None:
    """The first pending item, now ``running`` and locked by ``locks``; None when nothing is pending.

    Commit the session right after: the lock on the item stays with ``locks``.
    """
    skipped: list[int] = []
    for _ in range(8):
        # One row at a time: locking several would hide them all from other runners until we
        # commit, and a runner that finds nothing to claim ends its run (test_two_runners_…).
        q = _scope(sa.select(QueueItemRow).where(QueueItemRow.state == ItemState.PENDING), user_email)
        if skipped:
            q = q.where(QueueItemRow.id.not_in(skipped))
        q = q.order_by(QueueItemRow.position, QueueItemRow.id).with_for_update(skip_locked=True).limit(1)
        row = s.execute(q).scalar()
        if row is None:
            return None
        if not locks.try_lock(row.id):  # being recovered by another process this instant
            skipped.append(row.id)
            continue
        row.state, row.attempts = ItemState.RUNNING, row.attempts + 1
        row.claimed_by, row.started_at, row.finished_at = claimed_by[:255], datetime.now(UTC), None
        s.flush()
        return _item(row)
    return None


def _finish(s: Session, item_id: int, **values: Any) -> None:
    s.execute(sa.update(QueueItemRow).where(QueueItemRow.id == item_id)
              .values(finished_at=sa.func.now(), claimed_by=None, **values)
              .execution_options(synchronize_session=False))


def mark_done(s: Session, item_id: int, prompt_id: int | None, image_count: int) -> None:
    """In the same transaction as ``repo.store_generation``: stored and done, or neither."""
    _finish(s, item_id, state=ItemState.DONE, error=None, prompt_id=prompt_id, image_count=image_count)


def mark_spooled_done(s: Session, item_id: int, prompt_id: int | None, media_ids: Sequence[str]) -> bool:
    """A queue item's spooled generation is being stored: the item is done, in that transaction.

    ``prompt_id`` None (the images were stored before, by the item's runner or another drain)
    takes the prompt row those images belong to. An item already ``done`` keeps its own
    values; a removed item is no matter. True if the item changed.
    """
    if prompt_id is None and media_ids:
        prompt_id = s.execute(sa.select(GeneratedImage.prompt_id)
                              .where(GeneratedImage.media_generation_id.in_(list(media_ids)))
                              .where(GeneratedImage.prompt_id.is_not(None)).limit(1)).scalar()
    changed = rowcount(s.execute(sa.update(QueueItemRow).where(QueueItemRow.id == item_id)
                                 .where(QueueItemRow.state != ItemState.DONE)
                                 .values(state=ItemState.DONE, error=None, prompt_id=prompt_id,
                                         image_count=len(media_ids), finished_at=sa.func.now(), claimed_by=None)
                                 .execution_options(synchronize_session=False)))
    return bool(changed)


def mark_failed(s: Session, item_id: int, error: str) -> None:
    _finish(s, item_id, state=ItemState.FAILED, error=error)


def mark_cancelled(s: Session, item_id: int) -> None:
    _finish(s, item_id, state=ItemState.CANCELLED, error=None)


def release(s: Session, item_id: int, note: str | None = None) -> None:
    """Back to pending without counting the attempt (a pause, not a failure)."""
    s.execute(sa.update(QueueItemRow).where(QueueItemRow.id == item_id).where(QueueItemRow.state == ItemState.RUNNING)
              .values(state=ItemState.PENDING, error=note, claimed_by=None, started_at=None,
                      attempts=sa.func.greatest(QueueItemRow.attempts - 1, 0))
              .execution_options(synchronize_session=False))


# --- web import -----------------------------------------------------------------------------

def _import_record(row: WebImportState) -> WebImportRecord:
    return WebImportRecord(user_email=row.user_email, next_cursor=row.next_cursor, pages_done=row.pages_done,
                           images_seen=row.images_seen, images_imported=row.images_imported,
                           last_error=row.last_error, started_at=row.started_at, completed_at=row.completed_at)


def import_state(s: Session, user_email: str) -> WebImportRecord | None:
    row = s.get(WebImportState, user_email.lower())
    return _import_record(row) if row else None


def begin_import(s: Session, user_email: str, *, restart: bool = False) -> WebImportRecord:
    """The state to start from: a stopped import's cursor, or the top (new run or ``restart``)."""
    stmt = pg_insert(WebImportState).values(user_email=user_email.lower(), started_at=sa.func.now())
    s.execute(stmt.on_conflict_do_nothing(index_elements=[WebImportState.user_email]))
    row = s.execute(sa.select(WebImportState).where(WebImportState.user_email == user_email.lower())
                    .with_for_update()).scalar_one()
    if restart or row.next_cursor is None:
        row.next_cursor, row.pages_done, row.images_seen, row.images_imported = None, 0, 0, 0
        row.started_at = datetime.now(UTC)
    row.last_error, row.updated_at = None, datetime.now(UTC)
    s.flush()
    return _import_record(row)


def record_import_page(s: Session, user_email: str, *, next_cursor: str | None, seen: int, imported: int,
                       completed: bool) -> None:
    """A page is done: remember where the next one starts (None and ``completed``: at the end)."""
    values: dict[str, Any] = {
        "next_cursor": next_cursor, "pages_done": WebImportState.pages_done + 1,
        "images_seen": WebImportState.images_seen + seen,
        "images_imported": WebImportState.images_imported + imported, "updated_at": sa.func.now()}
    if completed:
        values["completed_at"] = sa.func.now()
    s.execute(sa.update(WebImportState).where(WebImportState.user_email == user_email.lower()).values(**values))


def add_imported(s: Session, user_email: str, imported: int) -> None:
    """Images stored from a page that was not finished (a stop or ``--limit`` mid-page)."""
    s.execute(sa.update(WebImportState).where(WebImportState.user_email == user_email.lower())
              .values(images_imported=WebImportState.images_imported + imported, updated_at=sa.func.now()))


def set_import_error(s: Session, user_email: str, error: str | None) -> None:
    s.execute(sa.update(WebImportState).where(WebImportState.user_email == user_email.lower())
              .values(last_error=error, updated_at=sa.func.now()))
