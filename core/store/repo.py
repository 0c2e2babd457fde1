"""Queries. Each function takes a Session (one unit of work) and returns plain records.

Nothing that lists images reads ``generated_images.encoded_image``; pages are fetched
with keyset pagination on ``(created_at, id)`` so page 500 costs what page 1 costs.
All SQL is parameterised; search text never becomes SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.filters import Node, Not, terms
from core.store import filtering, team
from core.store.database import rowcount
from core.store.filtering import Compiled
from core.store.models import (
    GeneratedImage,
    GeneratedImageArchive,
    ImageCaption,
    ImageRating,
    ImageThumbnail,
    Prompt,
    SessionRow,
    User,
    UserDirectory,
)
from core.store.records import (
    CaptionRecord,
    GenerationRecord,
    HistoryRow,
    ImageRecord,
    NewGeneration,
    UserRecord,
)

Cursor = tuple[datetime, int]


# --- users and sessions ---------------------------------------------------------------------

def _user_record(u: User) -> UserRecord:
    return UserRecord(id=u.id, email=u.email, name=u.name, image_url=u.image_url,
                      has_cookie=bool(u.google_cookie))


def upsert_user(s: Session, email: str, name: str, image_url: str | None = None,
                encrypted_cookie: str | None = None, *, keep_cookie: bool = False) -> UserRecord:
    """Insert or update by e-mail. ``keep_cookie`` leaves a stored cookie untouched."""
    values: dict[str, Any] = {"email": email.lower(), "name": name or email, "image_url": image_url}
    if not keep_cookie:
        values["google_cookie"] = encrypted_cookie
    stmt = pg_insert(User).values(**values)
    update = {"name": stmt.excluded.name}
    if image_url:
        update["image_url"] = stmt.excluded.image_url
    if not keep_cookie:
        update["google_cookie"] = stmt.excluded.google_cookie
    upsert = stmt.on_conflict_do_update(index_elements=[User.email], set_=update).returning(User.id)
    user_id = s.execute(upsert).scalar_one()
    user = s.get(User, user_id, populate_existing=True)
    assert user is not None
    return _user_record(user)


def ensure_user(s: Session, email: str, name: str, image_url: str | None = None) -> int:
    """The user's id, creating a minimal row if needed (spooled work from another DB)."""
    existing = s.execute(sa.select(User.id).where(User.email == email.lower())).scalar()
    if existing is not None:
        return int(existing)
    return upsert_user(s, email, name, image_url, keep_cookie=True).id


def get_user(s: Session, email: str) -> UserRecord | None:
    u = s.execute(sa.select(User).where(User.email == email.lower())).scalar()
    return _user_record(u) if u else None


def list_users(s: Session) -> list[UserRecord]:
    return [_user_record(u) for u in s.execute(sa.select(User).order_by(User.email)).scalars()]


def encrypted_cookie(s: Session, email: str) -> str | None:
    return s.execute(sa.select(User.google_cookie).where(User.email == email.lower())).scalar()


def set_encrypted_cookie(s: Session, email: str, value: str | None) -> None:
    s.execute(sa.update(User).where(User.email == email.lower()).values(google_cookie=value))


def store_session(s: Session, user_id: int, token_hash: str, expires_at: datetime) -> None:
    stmt = pg_insert(SessionRow).values(user_id=user_id, access_token=token_hash, expires_at=expires_at)
    stmt = stmt.on_conflict_do_update(constraint="unique_active_session",
                                      set_={"expires_at": stmt.excluded.expires_at})
    s.execute(stmt)


def delete_user_sessions(s: Session, user_id: int) -> int:
    return rowcount(s.execute(sa.delete(SessionRow).where(SessionRow.user_id == user_id)))


def delete_expired_sessions(s: Session) -> int:
    return rowcount(s.execute(sa.delete(SessionRow).where(SessionRow.expires_at < sa.func.now())))


# --- storing generations ------------------------------------------------------------------------

def existing_media_ids(s: Session, media_ids: Iterable[str]) -> set[str]:
    ids = list(media_ids)
    if not ids:
        return set()
    rows = s.execute(sa.select(GeneratedImage.media_generation_id)
                     .where(GeneratedImage.media_generation_id.in_(ids))).scalars()
    return set(rows)


class _NothingNew(Exception):
    """Every image of a generation was already stored: roll back its prompt row."""


def store_generation(s: Session, gen: NewGeneration) -> GenerationRecord:
    """The prompt row, all image rows and their thumbnails, in the caller's transaction.

    Images whose media id is already stored are skipped (a retried spool entry, a second
    fetch); if nothing is new, no prompt row is written either.
    """
    user_id = ensure_user(s, gen.user_email, gen.user_name, gen.user_image_url)
    created = gen.created_at or datetime.now(UTC)
    already = existing_media_ids(s, (i.media_id for i in gen.images))
    fresh = [i for i in gen.images if i.media_id not in already]
    if not fresh:
        return GenerationRecord(prompt_id=None, prompt=gen.prompt, created_at=created, images=(),
                                duplicates=len(gen.images))
    nested = s.begin_nested()
    try:
        prompt_id = s.execute(sa.insert(Prompt).values(
            user_id=user_id, prompt_text=gen.prompt, seed=gen.seed or 0, number_of_images=gen.count,
            aspect_ratio=gen.aspect_ratio, generation_model=gen.model, workflow_id=gen.workflow_id,
            created_at=created,
        ).returning(Prompt.id)).scalar_one()
        stored: list[ImageRecord] = []
        for img in fresh:
            stmt = pg_insert(GeneratedImage).values(
                user_id=user_id, prompt_id=prompt_id, media_generation_id=img.media_id,
                encoded_image=img.encoded_image, seed=img.seed, model_name_type=img.model,
                aspect_ratio=img.aspect_ratio, fingerprint_log_record_id=img.fingerprint_log_record_id,
                workflow_id=img.workflow_id, created_at=created, returned_prompt=img.returned_prompt,
                mime_type=img.mime_type, width=img.width, height=img.height, byte_size=img.byte_size,
                source=gen.source,
            ).on_conflict_do_nothing(index_elements=[GeneratedImage.media_generation_id]
                                     ).returning(GeneratedImage.id)
            image_id = s.execute(stmt).scalar()
            if image_id is None:  # another process stored it a moment ago
                continue
            if img.thumbnail:
                s.execute(sa.insert(ImageThumbnail).values(
                    image_id=image_id, thumbnail=img.thumbnail, width=img.thumb_width or 0,
                    height=img.thumb_height or 0))
            stored.append(ImageRecord(
                id=image_id, media_id=img.media_id, user_id=user_id, user_email=gen.user_email.lower(),
                prompt_id=prompt_id, prompt=gen.prompt, returned_prompt=img.returned_prompt, seed=img.seed,
                model=img.model, aspect_ratio=img.aspect_ratio, width=img.width, height=img.height,
                mime_type=img.mime_type, created_at=created, is_favorite=False, source=gen.source,
                thumbnail=img.thumbnail))
        if not stored:
            raise _NothingNew()
        nested.commit()
    except _NothingNew:
        nested.rollback()
        return GenerationRecord(prompt_id=None, prompt=gen.prompt, created_at=created, images=(),
                                duplicates=len(gen.images))
    return GenerationRecord(prompt_id=prompt_id, prompt=gen.prompt, created_at=created,
                            images=tuple(stored), duplicates=len(gen.images) - len(stored))


# --- listing -----------------------------------------------------------------------------------

def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def prompt_matches(s: Session, search: str) -> sa.ColumnElement[bool]:
    """Every word of ``search`` in the prompt, as a word or inside one ("ighthou" finds
    *lighthouse*), through the word-suffix index (core/store/filtering.py). Before, an OR of LIKE
    and the full-text match let no index help, and every count scanned every prompt."""
    condition = filtering.prompt_condition(s, search)
    return condition if condition is not None else sa.true()


def images_from(compiled: Compiled) -> Any:
    """``generated_images``, joined with its prompt row when the filter tests the prompt."""
    if compiled.needs_prompts:
        return sa.outerjoin(GeneratedImage, Prompt, Prompt.id == GeneratedImage.prompt_id)
    return GeneratedImage


_IMAGE_COLUMNS = (
    GeneratedImage.id, GeneratedImage.media_generation_id, GeneratedImage.user_id, UserDirectory.c.email,
    GeneratedImage.prompt_id, Prompt.prompt_text, GeneratedImage.returned_prompt, GeneratedImage.seed,
    GeneratedImage.model_name_type, GeneratedImage.aspect_ratio, GeneratedImage.width,
    GeneratedImage.height, GeneratedImage.mime_type, GeneratedImage.created_at,
    GeneratedImage.is_favorite, GeneratedImage.source, GeneratedImage.trashed_at,
    sa.func.coalesce(ImageRating.rating, 0),
)


def _image_from_row(row: Sequence[Any], thumbnail: bytes | None = None,
                    shared: dict[Any, Any] | None = None) -> ImageRecord:
    (iid, media, uid, email, pid, ptext, returned, seed, model, aspect, w, h, mime, created, fav,
     source, trashed, rating) = row[:18]
    if shared is not None:
        # The rows of one generation repeat its prompt and time, and every row its user, model and
        # ratio: keep one object of each per page, not one per row (the gallery holds every row).
        email, ptext, returned, model, aspect, mime, source, created = (
            shared.setdefault(v, v) if v is not None else None
            for v in (email, ptext, returned, model, aspect, mime, source, created))
    return ImageRecord(
        id=iid, media_id=media, user_id=uid, user_email=email, prompt_id=pid,
        prompt=ptext if ptext is not None else (returned or ""), returned_prompt=returned, seed=seed,
        model=model, aspect_ratio=aspect, width=w, height=h, mime_type=mime,
        created_at=created or datetime.fromtimestamp(0, UTC), is_favorite=bool(fav), source=source,
        thumbnail=thumbnail, trashed_at=trashed, rating=int(rating or 0))


def _images_query(*cols: Any) -> sa.Select[Any]:
    """Image rows with who made them and their prompt (the gallery's columns). Who: the directory
    view, which a team member reads for images shared with them (their owner's users row is not theirs)."""
    return (sa.select(*cols)
            .select_from(GeneratedImage)
            .outerjoin(UserDirectory, UserDirectory.c.id == GeneratedImage.user_id)
            .outerjoin(Prompt, Prompt.id == GeneratedImage.prompt_id)
            .outerjoin(ImageRating, ImageRating.image_id == GeneratedImage.id))


def _filtered(q: sa.Select[Any], *, favorites_only: bool = False, user_id: int | None = None,
              trash: bool = False, compiled: Compiled | None = None) -> sa.Select[Any]:
    """The gallery's filters, alike for its pages, its count and its check for new images: the
    favourites switch, and plain search words and a filter of the filter language, compiled
    together (:func:`core.store.filtering.compile_filter`). The library never shows what is in
    the Trash; ``trash=True`` (or the filter's ``in:trash``) shows only that, ``in:any`` both."""
    scope = "trash" if trash else compiled.scope if compiled is not None else "library"
    if scope != "any":
        q = q.where(GeneratedImage.trashed_at.is_not(None) if scope == "trash" else GeneratedImage.trashed_at.is_(None))
    if compiled is not None and compiled.condition is not None:
        q = q.where(compiled.condition)
    if user_id is not None:
        q = q.where(GeneratedImage.user_id == user_id)
    if favorites_only:
        q = q.where(GeneratedImage.is_favorite)
    return q


def gallery_page(s: Session, *, after: tuple[Any, ...] | None = None, limit: int = 120, search: str = "",
                 favorites_only: bool = False, user_id: int | None = None,
                 with_thumbnails: bool = True, trash: bool = False, node: Node | None = None,
                 sort: str = "newest") -> list[ImageRecord]:
    """One page of the gallery in ``sort`` order (newest, oldest, rating), starting after ``after``
    (keyset pagination: the last record's ``cursor_for(sort)``). ``search``: plain words; ``node``:
    a parsed filter (core/filters.py); ``trash``: the Trash instead of the library."""
    return sorted_page(s, filtering.compile_filter(s, node, search=search), after=after, limit=limit,
                       favorites_only=favorites_only, user_id=user_id, with_thumbnails=with_thumbnails, trash=trash,
                       sort=sort)


def sorted_page(s: Session, compiled: Compiled, *, after: tuple[Any, ...] | None = None, limit: int = 120,
                favorites_only: bool = False, user_id: int | None = None, with_thumbnails: bool = True,
                trash: bool = False, sort: str = "newest") -> list[ImageRecord]:
    """:func:`gallery_page` for a filter compiled already (one lookup of its names for many pages)."""
    cols: list[Any] = list(_IMAGE_COLUMNS)
    if with_thumbnails:
        cols.append(ImageThumbnail.thumbnail)

    def query() -> sa.Select[Any]:
        q = _images_query(*cols)
        if with_thumbnails:
            q = q.outerjoin(ImageThumbnail, ImageThumbnail.image_id == GeneratedImage.id)
        return _filtered(q, favorites_only=favorites_only, user_id=user_id, trash=trash, compiled=compiled)

    rows: list[Any] = []
    if sort == "rating":
        # Rated images first, by stars, then time (one index on image_ratings), then the unrated
        # ones newest first (the gallery's own index): two keyset walks, never a sort of everything.
        rated = after is None or after[0] > 0
        if rated:
            q = query().where(ImageRating.image_id.is_not(None))
            if after is not None:
                q = q.where(sa.tuple_(ImageRating.rating, ImageRating.image_created_at, ImageRating.image_id)
                            < sa.tuple_(*map(sa.literal, after)))
            rows = _run(s, compiled, q.order_by(ImageRating.rating.desc(), ImageRating.image_created_at.desc(),
                                                ImageRating.image_id.desc()).limit(limit), page=True)
        if len(rows) < limit:
            q = query().where(ImageRating.image_id.is_(None))
            if after is not None and not rated:
                q = q.where(sa.tuple_(GeneratedImage.created_at, GeneratedImage.id)
                            < sa.tuple_(*map(sa.literal, after[1:])))
            rows += _run(s, compiled, q.order_by(*filtering.order_by("newest")).limit(limit - len(rows)), page=True)
    else:
        q = query()
        if after is not None:
            keys = sa.tuple_(GeneratedImage.created_at, GeneratedImage.id)
            cursor = sa.tuple_(*map(sa.literal, after))
            q = q.where(keys > cursor if sort == "oldest" else keys < cursor)
        rows = _run(s, compiled, q.order_by(*filtering.order_by(sort)).limit(limit), page=True)
    shared: dict[Any, Any] = {}
    return [_image_from_row(r, r[18] if with_thumbnails else None, shared) for r in rows]


def _run(s: Session, compiled: Compiled, q: sa.Select[Any], *, page: bool = False) -> list[Any]:
    """Run a listing (``page``: a page of it) or a count. A page runs without parallel workers: it
    reads a few hundred rows, and starting workers cost 20-30 ms on a busy 2-core machine, more
    than the page itself (benchmarks/README.md)."""
    settings = ([filtering.NO_SEQSCAN] if compiled.no_seqscan else []) + (
        ["SET LOCAL max_parallel_workers_per_gather = 0"] if page else [])
    if not settings:
        return list(s.execute(q))
    s.execute(sa.text("; ".join(settings)))
    try:
        return list(s.execute(q))
    finally:
        s.execute(sa.text("; ".join(([filtering.SEQSCAN] if compiled.no_seqscan else [])
                                    + (["SET LOCAL max_parallel_workers_per_gather TO DEFAULT"] if page else []))))


def gallery_anchors(s: Session, every: int, *, search: str = "", favorites_only: bool = False,
                    user_id: int | None = None, trash: bool = False,
                    node: Node | None = None, sort: str = "newest") -> list[tuple[Any, ...]]:
    """The gallery's sparse index: ``(position, *cursor)`` of every ``every``-th image in ``sort``
    order (positions 0, every, 2·every, …), the cursor being the record's ``cursor_for(sort)``:
    ``(created_at, id)``, or ``(rating, created_at, id)`` for the rating order (0: unrated). One scan;
    with it the GUI reads the page at any depth with a keyset query (no OFFSET) and dates every
    position of its scrollbar."""
    compiled = filtering.compile_filter(s, node, search=search, complete=True)
    created, image_id = GeneratedImage.created_at, GeneratedImage.id
    cols: list[Any] = [created.label("created_at"), image_id.label("id")]
    if sort == "rating":
        # A correlated look-up, not a join: the filter may join image_ratings itself (stars:).
        stars = sa.func.coalesce(sa.select(ImageRating.rating).where(ImageRating.image_id == GeneratedImage.id)
                                 .correlate(GeneratedImage).scalar_subquery(), 0)
        cols.insert(0, stars.label("stars"))
        order: list[Any] = [stars.desc(), *filtering.order_by("newest")]
    else:
        order = list(filtering.order_by(sort))
    rn = sa.func.row_number().over(order_by=order) - 1
    inner = _filtered(sa.select(*cols, rn.label("pos")).select_from(images_from(compiled)),
                      favorites_only=favorites_only, user_id=user_id, trash=trash, compiled=compiled).subquery()
    keys = [inner.c.stars] if sort == "rating" else []
    q = sa.select(inner.c.pos, *keys, inner.c.created_at, inner.c.id).where(inner.c.pos % max(1, every) == 0) \
        .order_by(inner.c.pos)
    if sort == "rating":
        return [(int(p), int(stars), c, int(i)) for p, stars, c, i in s.execute(q)]
    return [(int(p), c, int(i)) for p, c, i in s.execute(q)]


def images_added_since(s: Session, after_id: int | None, *, limit: int = 200, search: str = "",
                       favorites_only: bool = False, trash: bool = False,
                       node: Node | None = None) -> tuple[list[ImageRecord], int]:
    """Images stored after image ``after_id`` (by anyone: another window, the CLI, a queue run)
    that the filter matches, oldest id first, and the id to ask after next time.

    ``after_id=None`` only reads that id (the highest stored now). The highest id is read before
    the matching rows, so a row stored meanwhile is left for the next call, not skipped; when
    ``limit`` rows come back, the next call starts after the last of them.
    """
    top = s.execute(sa.select(sa.func.max(GeneratedImage.id))).scalar_one() or 0
    if after_id is None or top <= after_id:
        return [], top if after_id is None else after_id
    q = _filtered(_images_query(*_IMAGE_COLUMNS).where(GeneratedImage.id > after_id, GeneratedImage.id <= top),
                  favorites_only=favorites_only, trash=trash, compiled=filtering.compile_filter(s, node, search=search))
    rows = s.execute(q.order_by(GeneratedImage.id).limit(limit)).all()
    shared: dict[Any, Any] = {}
    records = [_image_from_row(r, None, shared) for r in rows]
    return records, records[-1].id if len(records) == limit else top


def count_images(s: Session, *, search: str = "", favorites_only: bool = False,
                 user_id: int | None = None, trash: bool = False, node: Node | None = None) -> int:
    if (isinstance(node, Not) and not search.strip() and not favorites_only and user_id is None
            and not any(t.field == "in" for t in terms(node))):
        # "Everything but X": the count of everything less the count of X, two index-only counts,
        # instead of testing every image (an anti-join over 100,000 images took ~100 ms).
        return count_images(s, trash=trash) - count_images(s, trash=trash, node=node.item)
    marks = filtering.mark_rows(s, node) if not (search.strip() or favorites_only or user_id is not None) else None
    if marks is not None:
        # One mark (tag:x, has:tag …): its distinct images, from the marks' own index, less those in
        # the Trash (few, from the Trash's index), instead of a join with every image.
        rows = marks.subquery()
        kept = (GeneratedImage.trashed_at.is_not(None) if trash else GeneratedImage.trashed_at.is_(None))
        distinct = sa.select(sa.func.count(sa.distinct(rows.c.image_id)))
        if trash:
            return int(s.execute(distinct.join(GeneratedImage, GeneratedImage.id == rows.c.image_id)
                                 .where(kept)).scalar_one())
        trashed = (sa.select(sa.func.count(sa.distinct(rows.c.image_id)))
                   .join(GeneratedImage, GeneratedImage.id == rows.c.image_id)
                   .where(GeneratedImage.trashed_at.is_not(None)))
        return int(s.execute(distinct).scalar_one()) - int(s.execute(trashed).scalar_one())
    compiled = filtering.compile_filter(s, node, search=search, complete=True)
    q = _filtered(sa.select(sa.func.count()).select_from(images_from(compiled)), favorites_only=favorites_only,
                  user_id=user_id, trash=trash, compiled=compiled)
    if team.member_under_rls(s):
        # A team member: their own images and those shared with them, counted apart (core/store/team.py).
        return sum(int(_run(s, compiled, q.where(arm))[0][0]) for arm in team.member_count_arms())
    return int(_run(s, compiled, q)[0][0])


def get_image(s: Session, image_id: int) -> ImageRecord | None:
    q = _images_query(*_IMAGE_COLUMNS).where(GeneratedImage.id == image_id)
    row = s.execute(q).first()
    return _image_from_row(row) if row else None


def images_matching(s: Session, image_ids: Sequence[int], *, search: str = "",
                    favorites_only: bool = False, trash: bool = False, node: Node | None = None) -> list[ImageRecord]:
    """Those of ``image_ids`` the gallery's filter shows now, as it lists them: a view told that
    these images changed re-reads them (present: update, gone: remove, new: insert)."""
    ids = list(image_ids)
    if not ids:
        return []
    q = _filtered(_images_query(*_IMAGE_COLUMNS).where(GeneratedImage.id.in_(ids)), favorites_only=favorites_only,
                  trash=trash, compiled=filtering.compile_filter(s, node, search=search))
    shared: dict[Any, Any] = {}
    return [_image_from_row(r, None, shared) for r in s.execute(q)]


def generation_ids(s: Session, image_id: int) -> list[int]:
    """The images made by the same request as ``image_id`` (its ``prompts`` row: one per generation),
    newest first; just the image itself when it has none (an imported file). Empty: no such image."""
    found = s.execute(sa.select(GeneratedImage.id, GeneratedImage.prompt_id)
                      .where(GeneratedImage.id == image_id)).first()
    if found is None:
        return []
    if found.prompt_id is None:
        return [int(found.id)]
    rows = s.execute(sa.select(GeneratedImage.id).where(GeneratedImage.prompt_id == found.prompt_id)
                     .order_by(*filtering.order_by("newest")))
    return [int(i) for i in rows.scalars()]


def get_image_by_media_id(s: Session, media_id: str) -> ImageRecord | None:
    image_id = s.execute(sa.select(GeneratedImage.id)
                         .where(GeneratedImage.media_generation_id == media_id)).scalar()
    return get_image(s, int(image_id)) if image_id is not None else None


def image_data(s: Session, image_id: int) -> str | None:
    """The full image as stored (base64). Only the viewer, export and save read this."""
    return s.execute(sa.select(GeneratedImage.encoded_image).where(GeneratedImage.id == image_id)).scalar()


def thumbnails(s: Session, image_ids: Sequence[int]) -> dict[int, bytes]:
    if not image_ids:
        return {}
    rows = s.execute(sa.select(ImageThumbnail.image_id, ImageThumbnail.thumbnail)
                     .where(ImageThumbnail.image_id.in_(list(image_ids))))
    return {int(i): bytes(t) for i, t in rows}


def images_without_thumbnails(s: Session, limit: int = 50) -> list[int]:
    q = (sa.select(GeneratedImage.id).outerjoin(ImageThumbnail, ImageThumbnail.image_id == GeneratedImage.id)
         .where(ImageThumbnail.image_id.is_(None)).order_by(GeneratedImage.id.desc()).limit(limit))
    return [int(i) for i in s.execute(q).scalars()]


def save_thumbnail(s: Session, image_id: int, data: bytes, width: int, height: int) -> None:
    stmt = pg_insert(ImageThumbnail).values(image_id=image_id, thumbnail=data, width=width, height=height)
    s.execute(stmt.on_conflict_do_nothing(index_elements=[ImageThumbnail.image_id]))


def set_image_facts(s: Session, image_id: int, mime_type: str | None, width: int | None,
                    height: int | None, byte_size: int | None) -> None:
    s.execute(sa.update(GeneratedImage).where(GeneratedImage.id == image_id).values(
        mime_type=mime_type, width=width, height=height, byte_size=byte_size))


def set_favorite(s: Session, image_ids: Sequence[int], favorite: bool) -> list[int]:
    """The ids that exist (and now carry ``favorite``)."""
    ids = list(image_ids)
    if not ids:
        return []
    return [int(i) for i in s.execute(sa.update(GeneratedImage).where(GeneratedImage.id.in_(ids))
                                      .values(is_favorite=favorite).returning(GeneratedImage.id)).scalars()]


def delete_images(s: Session, image_ids: Sequence[int]) -> list[int]:
    """Delete images for good (thumbnails cascade); a prompt left with no images goes too.
    Returns the ids deleted."""
    ids = list(image_ids)
    if not ids:
        return []
    return _delete_where(s, GeneratedImage.id.in_(ids))


def _delete_where(s: Session, condition: sa.ColumnElement[bool]) -> list[int]:
    rows = s.execute(sa.delete(GeneratedImage).where(condition)
                     .returning(GeneratedImage.id, GeneratedImage.prompt_id)).all()
    prompt_ids = {p for _i, p in rows if p is not None}
    if prompt_ids:
        still_used = sa.select(GeneratedImage.id).where(GeneratedImage.prompt_id == Prompt.id).exists()
        s.execute(sa.delete(Prompt).where(Prompt.id.in_(prompt_ids)).where(~still_used))
    return sorted(int(i) for i, _p in rows)


# --- the Trash ---------------------------------------------------------------------------------
# Deleting in the app moves images to the Trash (trashed_at = now); restoring clears it. Their
# prompt rows stay while any image of theirs exists, trashed or not, so a restore is complete.

def trash_images(s: Session, image_ids: Sequence[int]) -> list[int]:
    """Move images to the Trash; returns the ids moved (not those already there or gone)."""
    ids = list(image_ids)
    if not ids:
        return []
    return sorted(int(i) for i in s.execute(
        sa.update(GeneratedImage).where(GeneratedImage.id.in_(ids), GeneratedImage.trashed_at.is_(None))
        .values(trashed_at=sa.func.now()).returning(GeneratedImage.id)).scalars())


def restore_images(s: Session, image_ids: Sequence[int]) -> list[int]:
    """Put images from the Trash back in the library; returns the ids restored."""
    ids = list(image_ids)
    if not ids:
        return []
    return sorted(int(i) for i in s.execute(
        sa.update(GeneratedImage).where(GeneratedImage.id.in_(ids), GeneratedImage.trashed_at.is_not(None))
        .values(trashed_at=None).returning(GeneratedImage.id)).scalars())


def empty_trash(s: Session, *, older_than: timedelta | None = None,
                image_ids: Sequence[int] | None = None) -> list[int]:
    """Delete for good what is in the Trash: all of it, what was trashed more than ``older_than``
    ago, or those of ``image_ids`` that are in it. Returns the ids deleted."""
    condition: sa.ColumnElement[bool] = GeneratedImage.trashed_at.is_not(None)
    if older_than is not None:
        condition = sa.and_(condition, GeneratedImage.trashed_at < sa.func.now() - older_than)
    if image_ids is not None:
        ids = list(image_ids)
        if not ids:
            return []
        condition = sa.and_(condition, GeneratedImage.id.in_(ids))
    return _delete_where(s, condition)


def find_images(s: Session, refs: Sequence[str | int]) -> dict[str | int, int]:
    """Image ids for references a user typed: an id, or a media id. A reference that is both
    (a media id made of digits) means the image with that id. Unknown references are absent."""
    numbers = {int(r) for r in refs if isinstance(r, int) or (isinstance(r, str) and r.isdigit())}
    numbers = {n for n in numbers if 0 < n < 2**31}
    by_id = set(s.execute(sa.select(GeneratedImage.id).where(GeneratedImage.id.in_(numbers))).scalars()) \
        if numbers else set()
    texts = [str(r) for r in refs]
    by_media = dict(s.execute(sa.select(GeneratedImage.media_generation_id, GeneratedImage.id)
                              .where(GeneratedImage.media_generation_id.in_(texts))).tuples().all()) \
        if texts else {}
    out: dict[str | int, int] = {}
    for r in refs:
        if (isinstance(r, int) or str(r).isdigit()) and int(r) in by_id:
            out[r] = int(r)
        elif str(r) in by_media:
            out[r] = int(by_media[str(r)])
    return out


def history(s: Session, *, limit: int = 20, search: str = "", user_email: str | None = None,
            before: Cursor | None = None, node: Node | None = None,
            sort: str = "newest") -> list[HistoryRow]:
    """Past generations newest first, each with its image count and media ids. With a filter or
    another order, the generations with images it matches, each with those images only."""
    if node is not None or sort != "newest":
        from core.store import library

        user_id = None
        if user_email:
            found = get_user(s, user_email)
            if found is None:
                return []
            user_id = found.id
        return library.history_filtered(s, limit=limit, compiled=filtering.compile_filter(s, node, search=search),
                                        sort=sort, user_id=user_id)
    media = (sa.select(sa.func.count(GeneratedImage.id).label("n"),
                       sa.func.coalesce(sa.func.array_agg(aggregate_order_by(
                           GeneratedImage.media_generation_id, GeneratedImage.id)).filter(
                           GeneratedImage.id.is_not(None)), sa.literal([], sa.ARRAY(sa.String)))
                       .label("ids"),
                       # the seed each image was made with, in the same order (history shows what was used)
                       sa.func.array_agg(aggregate_order_by(GeneratedImage.seed, GeneratedImage.id)).label("seeds"))
             .where(GeneratedImage.prompt_id == Prompt.id, GeneratedImage.trashed_at.is_(None))
             .correlate(Prompt).lateral("m"))
    # A generation whose images are all in the Trash is not shown (one with no images at all is).
    any_image = sa.select(GeneratedImage.id).where(GeneratedImage.prompt_id == Prompt.id).exists()
    q = (sa.select(Prompt.id, Prompt.prompt_text, Prompt.created_at, UserDirectory.c.email, Prompt.generation_model,
                   Prompt.aspect_ratio, Prompt.seed, Prompt.number_of_images, media.c.n, media.c.ids,
                   media.c.seeds)
         .outerjoin(UserDirectory, UserDirectory.c.id == Prompt.user_id)
         .join(media, sa.true())
         .where(sa.or_(media.c.n > 0, ~any_image)))
    if user_email:
        q = q.where(UserDirectory.c.email == user_email.lower())
    if search.strip():
        q = q.where(prompt_matches(s, search.strip()))
    if before is not None:
        q = q.where(sa.tuple_(Prompt.created_at, Prompt.id) < sa.tuple_(*map(sa.literal, before)))
    q = q.order_by(Prompt.created_at.desc(), Prompt.id.desc()).limit(limit)
    return [HistoryRow(prompt_id=r[0], prompt=r[1], created_at=r[2], user_email=r[3], model=r[4],
                       aspect_ratio=r[5], seed=r[6], requested=r[7], image_count=int(r[8] or 0),
                       media_ids=tuple(r[9] or ()), seeds=tuple(r[10] or ()) if r[9] else ())
            for r in s.execute(q)]


def recent_prompts(s: Session, limit: int = 20, user_id: int | None = None) -> list[str]:
    """Distinct recent prompt texts, newest first (the prompt editor's drop-down)."""
    latest = sa.select(Prompt.prompt_text, sa.func.max(Prompt.created_at).label("t")).group_by(
        Prompt.prompt_text)
    if user_id is not None:
        latest = latest.where(Prompt.user_id == user_id)
    sub = latest.subquery()
    q = sa.select(sub.c.prompt_text).order_by(sub.c.t.desc()).limit(limit)
    return list(s.execute(q).scalars())


# --- captions ------------------------------------------------------------------------------------

def _caption_record(c: ImageCaption) -> CaptionRecord:
    return CaptionRecord(id=c.id, user_id=c.user_id, image_path=c.image_path, image_type=c.image_type,
                         caption=c.caption_text, media_id=c.media_generation_id,
                         created_at=c.created_at or datetime.now(UTC))


def store_captions(s: Session, user_id: int, image_path: str, image_type: str,
                   captions: Sequence[tuple[str, str | None]]) -> list[CaptionRecord]:
    rows = [ImageCaption(user_id=user_id, image_path=image_path, image_type=image_type, caption_text=text,
                         media_generation_id=media) for text, media in captions]
    s.add_all(rows)
    s.flush()
    return [_caption_record(r) for r in rows]


def update_caption(s: Session, caption_id: int, text: str) -> CaptionRecord | None:
    """Replace a caption's text; it becomes the newest caption of its image (the one exported beside
    it, :func:`library_captions`). None: no such caption."""
    row = s.get(ImageCaption, caption_id)
    if row is None:
        return None
    row.caption_text = text
    row.created_at = datetime.now(UTC)
    s.flush()
    return _caption_record(row)


LIBRARY_CAPTION_PREFIX = "imagefx:"  # image_path of a caption made for a library image: "imagefx:<media id>"


def library_captions(s: Session, media_ids: Sequence[str]) -> dict[str, str]:
    """Each library image's caption (by media id): the newest caption made or edited for it, the first
    of a captioning's candidates when none was edited since. Images never captioned are left out."""
    if not media_ids:
        return {}
    paths = {LIBRARY_CAPTION_PREFIX + m: m for m in media_ids}
    q = (sa.select(ImageCaption.image_path, ImageCaption.caption_text)
         .where(ImageCaption.image_path.in_(list(paths)))
         .distinct(ImageCaption.image_path)
         .order_by(ImageCaption.image_path, ImageCaption.created_at.desc(), ImageCaption.id.asc()))
    return {paths[p]: text for p, text in s.execute(q)}


def list_captions(s: Session, *, search: str = "", limit: int = 200,
                  user_id: int | None = None) -> list[CaptionRecord]:
    q = sa.select(ImageCaption)
    if user_id is not None:
        q = q.where(ImageCaption.user_id == user_id)
    if search.strip():
        pattern = _like_pattern(search.strip())
        q = q.where(sa.or_(ImageCaption.caption_text.ilike(pattern, escape="\\"),
                           ImageCaption.image_path.ilike(pattern, escape="\\")))
    q = q.order_by(ImageCaption.created_at.desc(), ImageCaption.id.desc()).limit(limit)
    return [_caption_record(c) for c in s.execute(q).scalars()]


# --- maintenance ------------------------------------------------------------------------------

_ARCHIVE_COLUMNS = [c.name for c in GeneratedImageArchive.__table__.columns if c.name != "archived_at"]


def archive_older_than(s: Session, days: int) -> list[int]:
    """Move images older than ``days`` into generated_images_archive, in the caller's transaction.

    Images in the Trash are left where they are: the archive keeps what the user keeps, and a
    trashed image stays restorable (or is emptied in its time) instead of coming back as kept."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    cols = ", ".join(_ARCHIVE_COLUMNS)
    # One statement, one snapshot: only rows that were copied are deleted. Two statements (the
    # original document's INSERT then DELETE) let a row that commits between them, such as an old
    # spool entry, be deleted without its copy (tests/faults/test_maintenance.py).
    moved = s.execute(sa.text(
        f"WITH copied AS (INSERT INTO generated_images_archive ({cols}) SELECT {cols} FROM generated_images "
        "WHERE created_at < :cutoff AND trashed_at IS NULL ON CONFLICT (id) DO NOTHING RETURNING id) "
        "DELETE FROM generated_images WHERE id IN (SELECT id FROM copied) RETURNING id"), {"cutoff": cutoff})
    return sorted(int(i) for i in moved.scalars())


def table_counts(s: Session) -> dict[str, int]:
    out = {}
    for table in ("users", "sessions", "prompts", "generated_images", "image_thumbnails", "image_captions",
                  "generated_images_archive"):
        out[table] = int(s.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    return out
