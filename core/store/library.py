"""Queries for organising the library (issue 14): tags, boards, ratings, notes, saved searches.

Each function takes a Session (the caller's transaction) and returns plain values; mutations
return the image ids they touched, which the service turns into a change descriptor
(``core/changes.py``). The database's triggers announce every change to other processes
(``NOTIFY``, schema.sql), whoever makes it.

Tags, boards and saved searches belong to an owner (``user_id``: the account that made them, NULL
before anyone signs in) and are unique per owner by name, ignoring case. A name is looked up
over every owner the connection can see (all of them today; row-level security narrows that in
team mode, issue 15), the acting account's own first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.store.database import rowcount
from core.store.filtering import Compiled, like_escape
from core.store.models import (
    Board,
    BoardImage,
    GeneratedImage,
    ImageNote,
    ImageRating,
    ImageTag,
    Prompt,
    SavedSearch,
    Tag,
    UserDirectory,
)
from core.store.records import BoardRecord, HistoryRow, ImageLabels, SavedSearchRecord, TagCount


def _lower(value: str) -> sa.ColumnElement[str]:
    """Case folding happens in the database, the way name_folded was made."""
    return sa.func.lower(sa.bindparam(None, value, type_=sa.Text))


def _owned_first(model: Any, acting: int | None) -> list[Any]:
    """Order rows of one name: the acting account's first, then the oldest."""
    mine = sa.case((model.user_id.is_not_distinct_from(acting), 0), else_=1)
    return [mine, model.id]


def existing_ids(s: Session, image_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(image_ids))
    if not ids:
        return []
    return [int(i) for i in s.execute(sa.select(GeneratedImage.id).where(GeneratedImage.id.in_(ids))
                                      .order_by(GeneratedImage.id)).scalars()]


def resolve_images(s: Session, refs: Sequence[str]) -> tuple[list[int], list[str]]:
    """Image ids for references typed by a user (an id, or a media id), and the ones not found."""
    numbers = {int(r) for r in refs if r.isascii() and r.isdigit() and len(r) < 10}
    media = {r for r in refs if r}
    rows = s.execute(sa.select(GeneratedImage.id, GeneratedImage.media_generation_id).where(
        sa.or_(GeneratedImage.id.in_(sorted(numbers)) if numbers else sa.false(),
               GeneratedImage.media_generation_id.in_(sorted(media))))).all()
    by_id = {int(i): m for i, m in rows}
    by_media = {m: int(i) for i, m in rows}
    found: list[int] = []
    missing: list[str] = []
    for r in refs:
        if r in by_media:
            found.append(by_media[r])
        elif r.isascii() and r.isdigit() and len(r) < 10 and int(r) in by_id:
            found.append(int(r))
        else:
            missing.append(r)
    return list(dict.fromkeys(found)), missing


# --- tags -------------------------------------------------------------------------------------

def _tag_rows(s: Session, name: str) -> list[Tag]:
    return list(s.execute(sa.select(Tag).where(Tag.name_folded == _lower(name)).order_by(Tag.id)).scalars())


def _tag_for(s: Session, name: str, acting: int | None) -> int:
    """The id of the tag ``name`` to put on images: the acting account's, another owner's, or new."""
    found = s.execute(sa.select(Tag.id).where(Tag.name_folded == _lower(name))
                      .order_by(*_owned_first(Tag, acting)).limit(1)).scalar()
    if found is not None:
        return int(found)
    stmt = pg_insert(Tag).values(user_id=acting, name=name).on_conflict_do_nothing()
    new_id = s.execute(stmt.returning(Tag.id)).scalar()
    if new_id is None:  # made by another transaction a moment ago
        return _tag_for(s, name, acting)
    return int(new_id)


def add_tags(s: Session, image_ids: Sequence[int], names: Sequence[str], acting: int | None) -> list[int]:
    """Put every tag on every image (one statement per tag); returns the images that got a new tag."""
    ids = existing_ids(s, image_ids)
    if not ids or not names:
        return []
    changed: set[int] = set()
    for name in names:
        tag_id = _tag_for(s, name, acting)
        rows = [{"tag_id": tag_id, "image_id": i} for i in ids]
        stmt = pg_insert(ImageTag).values(rows).on_conflict_do_nothing().returning(ImageTag.image_id)
        changed.update(int(i) for i in s.execute(stmt).scalars())
    return sorted(changed)


def remove_tags(s: Session, image_ids: Sequence[int], names: Sequence[str]) -> list[int]:
    ids = sorted(set(image_ids))
    if not ids or not names:
        return []
    tag_ids = sa.select(Tag.id).where(Tag.name_folded.in_([_lower(n) for n in names]))
    stmt = (sa.delete(ImageTag).where(ImageTag.image_id.in_(ids), ImageTag.tag_id.in_(tag_ids))
            .returning(ImageTag.image_id))
    return sorted({int(i) for i in s.execute(stmt).scalars()})


def tag_counts(s: Session, *, prefix: str = "", limit: int | None = None) -> list[TagCount]:
    """Tag names with their image counts in the library (not the Trash), most used first
    (autocomplete: ``prefix``, ``limit``), as ``tag:name`` counts them.

    The counts are kept by triggers (schema.sql), so this reads a few rows of ``tags``: a prefix
    through its index, the whole list at once for the tag list; less the tags of what is in the
    Trash (few rows, from the Trash's own index), as the board list does."""
    trashed = (sa.select(ImageTag.tag_id, sa.func.count().label("n"))
               .join(GeneratedImage, GeneratedImage.id == ImageTag.image_id)
               .where(GeneratedImage.trashed_at.is_not(None)).group_by(ImageTag.tag_id).subquery())
    count = sa.func.sum(Tag.image_count - sa.func.coalesce(trashed.c.n, 0))
    q = (sa.select(sa.func.min(Tag.name), count).outerjoin(trashed, trashed.c.tag_id == Tag.id)
         .group_by(Tag.name_folded)
         .order_by(count.desc(), Tag.name_folded))
    if prefix:
        q = q.where(Tag.name_folded.like(sa.func.lower(sa.bindparam(None, like_escape(prefix) + "%",
                                                                     type_=sa.Text))))
    if limit is not None:
        q = q.limit(limit)
    return [TagCount(name=str(n), count=int(c or 0)) for n, c in s.execute(q)]


def rename_tag(s: Session, old: str, new: str) -> int:
    """Rename ``old`` to ``new`` for every owner; where that owner has ``new`` already, the two
    merge. Returns how many tag rows were renamed or merged (0: no tag of that name)."""
    done = 0
    for tag in _tag_rows(s, old):
        target = s.execute(sa.select(Tag.id).where(Tag.name_folded == _lower(new), Tag.id != tag.id,
                                                   Tag.user_id.is_not_distinct_from(tag.user_id))).scalar()
        if target is None:
            s.execute(sa.update(Tag).where(Tag.id == tag.id).values(name=new))
        else:
            _move_tag(s, tag.id, int(target))
        done += 1
    return done


def merge_tags(s: Session, sources: Sequence[str], target: str, acting: int | None) -> list[int]:
    """Every image tagged with any of ``sources`` gets ``target`` instead; the sources go.
    Returns the images whose tags changed."""
    changed: set[int] = set()
    folded_target = s.execute(sa.select(sa.func.lower(sa.bindparam(None, target, type_=sa.Text)))).scalar()
    for name in sources:
        for tag in _tag_rows(s, name):
            if tag.name_folded == folded_target:
                continue
            images = [int(i) for i in s.execute(sa.select(ImageTag.image_id)
                                                .where(ImageTag.tag_id == tag.id)).scalars()]
            owner = tag.user_id
            target_id = s.execute(sa.select(Tag.id).where(Tag.name_folded == _lower(target),
                                                          Tag.user_id.is_not_distinct_from(owner))).scalar()
            if target_id is None:
                s.execute(sa.update(Tag).where(Tag.id == tag.id).values(name=target))
            else:
                _move_tag(s, tag.id, int(target_id))
            changed.update(images)
    return sorted(changed)


def _move_tag(s: Session, source_id: int, target_id: int) -> None:
    s.execute(pg_insert(ImageTag).from_select(
        ["tag_id", "image_id"], sa.select(sa.literal(target_id), ImageTag.image_id).where(
            ImageTag.tag_id == source_id)).on_conflict_do_nothing())
    s.execute(sa.delete(Tag).where(Tag.id == source_id))


def delete_tag(s: Session, name: str) -> list[int]:
    """Take a tag off every image and forget it; returns the images it was on."""
    rows = _tag_rows(s, name)
    if not rows:
        return []
    ids = [r.id for r in rows]
    images = sorted({int(i) for i in s.execute(sa.select(ImageTag.image_id).where(ImageTag.tag_id.in_(ids)))
                     .scalars()})
    s.execute(sa.delete(Tag).where(Tag.id.in_(ids)))
    return images


def tag_exists(s: Session, name: str) -> bool:
    return bool(_tag_rows(s, name))


# --- boards -----------------------------------------------------------------------------------

def find_board(s: Session, name: str, acting: int | None) -> int | None:
    found = s.execute(sa.select(Board.id).where(Board.name_folded == _lower(name))
                      .order_by(*_owned_first(Board, acting)).limit(1)).scalar()
    return int(found) if found is not None else None


def create_board(s: Session, name: str, acting: int | None) -> int | None:
    """The new board's id, or None if this owner has a board of that name already."""
    stmt = pg_insert(Board).values(user_id=acting, name=name).on_conflict_do_nothing()
    new_id = s.execute(stmt.returning(Board.id)).scalar()
    return int(new_id) if new_id is not None else None


def rename_board(s: Session, board_id: int, new: str) -> bool:
    """False if the owner has another board called ``new``."""
    board = s.get(Board, board_id)
    if board is None:
        return False
    clash = s.execute(sa.select(Board.id).where(Board.name_folded == _lower(new), Board.id != board_id,
                                                Board.user_id.is_not_distinct_from(board.user_id))).scalar()
    if clash is not None:
        return False
    s.execute(sa.update(Board).where(Board.id == board_id).values(name=new))
    return True


def delete_board(s: Session, board_id: int) -> list[int]:
    """Delete a board (never its images); returns the images that were on it."""
    images = sorted(int(i) for i in s.execute(sa.select(BoardImage.image_id)
                                               .where(BoardImage.board_id == board_id)).scalars())
    s.execute(sa.delete(Board).where(Board.id == board_id))
    return images


def add_to_board(s: Session, board_id: int, image_ids: Sequence[int]) -> list[int]:
    ids = existing_ids(s, image_ids)
    if not ids:
        return []
    stmt = (pg_insert(BoardImage).values([{"board_id": board_id, "image_id": i} for i in ids])
            .on_conflict_do_nothing().returning(BoardImage.image_id))
    changed = sorted(int(i) for i in s.execute(stmt).scalars())
    if changed:
        s.execute(sa.update(Board).where(Board.id == board_id).values(updated_at=sa.func.now()))
    return changed


def remove_from_board(s: Session, board_id: int, image_ids: Sequence[int]) -> list[int]:
    ids = sorted(set(image_ids))
    if not ids:
        return []
    stmt = (sa.delete(BoardImage).where(BoardImage.board_id == board_id, BoardImage.image_id.in_(ids))
            .returning(BoardImage.image_id))
    return sorted(int(i) for i in s.execute(stmt).scalars())


def list_boards(s: Session) -> list[BoardRecord]:
    """Every board with the number of its images in the library (not those in the Trash).

    Counted from board_images alone (an index-only scan), less what is in the Trash (few rows,
    from the Trash's own index): joining every board image to generated_images cost ~50 ms at
    100,000 images."""
    trashed = sa.select(GeneratedImage.id).where(GeneratedImage.trashed_at.is_not(None)).subquery()
    counted = (sa.select(BoardImage.board_id, (sa.func.count() - sa.func.count(trashed.c.id)).label("n"))
               .outerjoin(trashed, trashed.c.id == BoardImage.image_id).group_by(BoardImage.board_id).subquery())
    q = (sa.select(Board.id, Board.name, sa.func.coalesce(counted.c.n, 0), Board.user_id, Board.created_at)
         .outerjoin(counted, counted.c.board_id == Board.id).order_by(Board.name_folded, Board.id))
    return [BoardRecord(id=int(i), name=n, count=int(c), user_id=u, created_at=t) for i, n, c, u, t in s.execute(q)]


# --- ratings and notes ----------------------------------------------------------------------------

def set_rating(s: Session, image_ids: Sequence[int], stars: int, acting: int | None) -> list[int]:
    """Give images ``stars`` (0 clears); returns the images whose stars changed."""
    ids = sorted(set(image_ids))
    if not ids:
        return []
    if stars == 0:
        return sorted(int(i) for i in s.execute(sa.delete(ImageRating).where(ImageRating.image_id.in_(ids))
                                                .returning(ImageRating.image_id)).scalars())
    source = sa.select(GeneratedImage.id, sa.literal(stars, sa.SmallInteger), GeneratedImage.created_at,
                       sa.literal(acting, sa.Integer)).where(GeneratedImage.id.in_(ids))
    stmt = pg_insert(ImageRating).from_select(["image_id", "rating", "image_created_at", "user_id"], source)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ImageRating.image_id],
        set_={"rating": stmt.excluded.rating, "user_id": stmt.excluded.user_id, "rated_at": sa.func.now()},
        where=ImageRating.rating != stmt.excluded.rating)
    return sorted(int(i) for i in s.execute(stmt.returning(ImageRating.image_id)).scalars())


def set_note(s: Session, image_id: int, text: str, acting: int | None) -> bool:
    """Write (or, with empty text, clear) an image's note; False if nothing changed."""
    if not text:
        return bool(rowcount(s.execute(sa.delete(ImageNote).where(ImageNote.image_id == image_id))))
    stmt = pg_insert(ImageNote).values(image_id=image_id, note=text, user_id=acting)
    stmt = stmt.on_conflict_do_update(index_elements=[ImageNote.image_id],
                                      set_={"note": stmt.excluded.note, "user_id": stmt.excluded.user_id,
                                            "updated_at": sa.func.now()},
                                      where=ImageNote.note != stmt.excluded.note)
    return s.execute(stmt.returning(ImageNote.image_id)).scalar() is not None


def labels(s: Session, image_ids: Sequence[int]) -> dict[int, ImageLabels]:
    """Tags, boards, stars and note of each image (three small indexed queries)."""
    ids = existing_ids(s, image_ids)
    tags: dict[int, list[str]] = {i: [] for i in ids}
    boards: dict[int, list[str]] = {i: [] for i in ids}
    if not ids:
        return {}
    for image_id, name in s.execute(sa.select(ImageTag.image_id, Tag.name).join(Tag, Tag.id == ImageTag.tag_id)
                                    .where(ImageTag.image_id.in_(ids)).order_by(Tag.name_folded)):
        if name not in tags[image_id]:
            tags[image_id].append(name)
    for image_id, name in s.execute(sa.select(BoardImage.image_id, Board.name)
                                    .join(Board, Board.id == BoardImage.board_id)
                                    .where(BoardImage.image_id.in_(ids)).order_by(Board.name_folded)):
        boards[image_id].append(name)
    ratings = dict(s.execute(sa.select(ImageRating.image_id, ImageRating.rating)
                             .where(ImageRating.image_id.in_(ids))).tuples().all())
    notes = dict(s.execute(sa.select(ImageNote.image_id, ImageNote.note)
                           .where(ImageNote.image_id.in_(ids))).tuples().all())
    return {i: ImageLabels(image_id=i, tags=tuple(tags[i]), boards=tuple(boards[i]), rating=int(ratings.get(i, 0)),
                           note=notes.get(i, "")) for i in ids}


# --- saved searches -------------------------------------------------------------------------------

def _search_record(r: SavedSearch) -> SavedSearchRecord:
    return SavedSearchRecord(id=r.id, name=r.name, filter=r.filter_text, sort=r.sort, user_id=r.user_id)


def save_search(s: Session, name: str, filter_text: str, sort: str, acting: int | None) -> bool:
    """Save (or replace) a search under ``name``; True if it is new."""
    existing = s.execute(sa.select(SavedSearch).where(SavedSearch.name_folded == _lower(name))
                         .order_by(*_owned_first(SavedSearch, acting)).limit(1)).scalar()
    if existing is not None:
        s.execute(sa.update(SavedSearch).where(SavedSearch.id == existing.id)
                  .values(name=name, filter_text=filter_text, sort=sort))
        return False
    s.execute(sa.insert(SavedSearch).values(user_id=acting, name=name, filter_text=filter_text, sort=sort))
    return True


def saved_searches(s: Session) -> list[SavedSearchRecord]:
    rows = s.execute(sa.select(SavedSearch).order_by(SavedSearch.name_folded, SavedSearch.id)).scalars()
    return [_search_record(r) for r in rows]


def find_search(s: Session, name: str, acting: int | None) -> SavedSearchRecord | None:
    row = s.execute(sa.select(SavedSearch).where(SavedSearch.name_folded == _lower(name))
                    .order_by(*_owned_first(SavedSearch, acting)).limit(1)).scalar()
    return _search_record(row) if row is not None else None


def delete_search(s: Session, search_id: int) -> bool:
    return bool(rowcount(s.execute(sa.delete(SavedSearch).where(SavedSearch.id == search_id))))


# --- history with a filter ------------------------------------------------------------------------

def history_filtered(s: Session, *, limit: int, compiled: Compiled, sort: str,
                     user_id: int | None = None) -> list[HistoryRow]:
    """Generations with at least one image the filter matches, in ``sort`` order (by their first
    matching image), each with its matching images only. Walks the matching images in order until
    ``limit`` generations are found, so it costs about what a gallery page costs."""
    from core.store.repo import _filtered, images_from, sorted_page  # one listing query for every sort order

    order: list[int] = []
    seen: set[int] = set()
    after: tuple[Any, ...] | None = None
    while len(order) < limit:
        page = sorted_page(s, compiled, after=after, limit=max(200, limit * 4), with_thumbnails=False, sort=sort,
                           user_id=user_id)
        for r in page:
            if r.prompt_id is not None and r.prompt_id not in seen:
                seen.add(r.prompt_id)
                order.append(r.prompt_id)
        if len(page) < max(200, limit * 4):
            break
        after = page[-1].cursor_for(sort)
    order = order[:limit]
    if not order:
        return []
    images: dict[int, list[str]] = {p: [] for p in order}
    q = _filtered(sa.select(GeneratedImage.prompt_id, GeneratedImage.media_generation_id)
                  .select_from(images_from(compiled)).where(GeneratedImage.prompt_id.in_(order)),
                  user_id=user_id, compiled=compiled)
    for prompt_id, media in s.execute(q.order_by(GeneratedImage.id)):
        images[int(prompt_id)].append(media)
    prompts = {int(row[0]): row for row in s.execute(
        sa.select(Prompt.id, Prompt.prompt_text, Prompt.created_at, UserDirectory.c.email, Prompt.generation_model,
                  Prompt.aspect_ratio, Prompt.seed, Prompt.number_of_images)
        .outerjoin(UserDirectory, UserDirectory.c.id == Prompt.user_id).where(Prompt.id.in_(order)))}
    out = []
    for p in order:
        found = prompts.get(p)
        if found is None:
            continue
        out.append(HistoryRow(prompt_id=p, prompt=found[1], created_at=found[2], user_email=found[3],
                              model=found[4], aspect_ratio=found[5], seed=found[6], requested=found[7],
                              image_count=len(images[p]), media_ids=tuple(images[p])))
    return out
