"""Rows leaving the database and coming back: the library file's tables, and images from files.

The library file (``imagefx library export``, ``core/service/library_io.py``, format in
docs/file-formats.md) carries every row a user owns, one JSON object per row. Which tables,
and how each comes back, is data: :data:`TABLES`, one :class:`TableSpec` each, in an order
where a row's references come before it. A table a later schema adds (tags, boards, ratings,
notes, trash) travels by appending a spec; a column added to a table travels with no change
at all, because rows are read and written column by column from the ORM models
(``core/store/models.py``).

References: every row is exported with its own id as ``ref`` and its foreign keys as the ids
of the exporting database; the importer maps them to the ids the rows get (or already have)
here. Importing twice adds nothing: each table names the columns that identify a row
(:attr:`TableSpec.key`: an e-mail, a media id, a prompt's text and time), and a row whose key
is already there is mapped, not inserted again.

Streaming: :func:`iter_rows` reads with a server-side cursor (``yield_per``), so exporting
100,000 images holds one batch of rows, not the library (benchmarks/README.md has the figures).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.store.database import rowcount
from core.store.models import (
    Board,
    BoardImage,
    GeneratedImage,
    GeneratedImageArchive,
    ImageCaption,
    ImageNote,
    ImageRating,
    ImageTag,
    ImageThumbnail,
    Prompt,
    QueueItemRow,
    SavedSearch,
    Tag,
    User,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class TableSpec:
    """How one table travels in the library file."""

    kind: str  # the ``kind`` of its lines
    table: sa.Table
    key: tuple[str, ...]  # columns that identify a row (after references are mapped)
    refs: Mapping[str, str] = field(default_factory=dict)  # column -> kind of the row it points at
    exclude: frozenset[str] = frozenset()  # never leaves the database (secrets)
    batch: int = 500  # rows per server-side fetch; small for tables holding whole images
    new_id: str | None = None  # a sequence that gives imported rows their id (the id is not SERIAL)
    fixup: Callable[[Row], Row] | None = None  # adjust an imported row (a queue item no one runs)
    # key columns that name a row whatever their case: the table's unique index is on the computed
    # ``<column>_folded`` (lower()), so "Cat" in the file is the "cat" here, renamed since or not
    folded: frozenset[str] = frozenset()

    @property
    def pk(self) -> str | None:
        """The single-column id exported as ``ref`` (None for tables keyed otherwise)."""
        cols = list(self.table.primary_key.columns)
        return cols[0].name if len(cols) == 1 and cols[0].name == "id" else None

    def columns(self) -> list[sa.Column[Any]]:
        """What a line carries: every column but the id, secrets and computed columns."""
        return [c for c in self.table.columns
                if c.name != self.pk and c.name not in self.exclude and c.computed is None]


def _queue_fixup(row: Row) -> Row:
    # The runner that had it is in another database's world: here it waits to run again.
    if row.get("state") == "running":
        row["state"] = "pending"
    row["claimed_by"] = None
    return row


def _table(model: type[Any]) -> sa.Table:
    """A model's table (typed as a FromClause by SQLAlchemy; a declarative model's is a Table)."""
    return cast(sa.Table, model.__table__)


_NAME = frozenset({"name"})

TABLES: list[TableSpec] = [
    TableSpec("user", _table(User), key=("email",), exclude=frozenset({"google_cookie"})),
    TableSpec("prompt", _table(Prompt), key=("user_id", "prompt_text", "created_at"), refs={"user_id": "user"}),
    TableSpec("image", _table(GeneratedImage), key=("media_generation_id",),
              refs={"user_id": "user", "prompt_id": "prompt"}, batch=16),
    TableSpec("thumbnail", _table(ImageThumbnail), key=("image_id",), refs={"image_id": "image"}, batch=200),
    TableSpec("caption", _table(ImageCaption), key=("user_id", "image_path", "caption_text", "created_at"),
              refs={"user_id": "user"}),
    TableSpec("archived_image", _table(GeneratedImageArchive), key=("media_generation_id",),
              refs={"user_id": "user", "prompt_id": "prompt"}, batch=16, new_id="generated_images_id_seq"),
    TableSpec("queue_item", _table(QueueItemRow), key=("user_email", "prompt_text", "created_at"),
              refs={"prompt_id": "prompt"}, fixup=_queue_fixup),
    # The library's own marks (issue 14). A tag's image_count is the triggers' to keep (schema.sql).
    TableSpec("tag", _table(Tag), key=("user_id", "name"), refs={"user_id": "user"},
              exclude=frozenset({"image_count"}), folded=_NAME),
    TableSpec("image_tag", _table(ImageTag), key=("tag_id", "image_id"), refs={"tag_id": "tag", "image_id": "image"}),
    TableSpec("board", _table(Board), key=("user_id", "name"), refs={"user_id": "user"}, folded=_NAME),
    TableSpec("board_image", _table(BoardImage), key=("board_id", "image_id"),
              refs={"board_id": "board", "image_id": "image"}),
    TableSpec("rating", _table(ImageRating), key=("image_id",), refs={"image_id": "image", "user_id": "user"}),
    TableSpec("note", _table(ImageNote), key=("image_id",), refs={"image_id": "image", "user_id": "user"}),
    TableSpec("saved_search", _table(SavedSearch), key=("user_id", "name"), refs={"user_id": "user"},
              folded=_NAME),
]


def spec_for(kind: str) -> TableSpec | None:
    return next((t for t in TABLES if t.kind == kind), None)


# --- values <-> JSON ----------------------------------------------------------------------------

def to_json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


class BadValue(ValueError):
    """A value in a line does not fit its column (the message names the column)."""


def from_json(column: sa.Column[Any], value: Any) -> Any:
    """A JSON value back into what ``column`` holds; BadValue if it cannot be."""
    if value is None:
        return None
    kind = column.type
    try:
        if isinstance(kind, sa.DateTime):
            when = datetime.fromisoformat(str(value))
            return when
        if isinstance(kind, sa.LargeBinary):
            return base64.b64decode(str(value), validate=True)
        if isinstance(kind, sa.Boolean):
            if not isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(kind, sa.Integer):
            if isinstance(value, bool) or not isinstance(value, int) or not -2**31 <= value < 2**31:
                raise ValueError
            return value
        if isinstance(kind, sa.String):  # Text and VARCHAR
            if not isinstance(value, str) or "\x00" in value:
                raise ValueError
            length = getattr(kind, "length", None)
            if length and len(value) > length:
                raise ValueError
            return value
    except (ValueError, TypeError):
        raise BadValue(f"{column.name} cannot hold {str(value)[:40]!r}") from None
    return value


# --- export -----------------------------------------------------------------------------------

def begin_snapshot(s: Session) -> None:
    """One consistent view for a whole export, however long it streams (first statement only)."""
    s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def count_rows(s: Session, spec: TableSpec) -> int:
    return int(s.execute(sa.select(sa.func.count()).select_from(spec.table)).scalar_one())


def iter_rows(s: Session, spec: TableSpec) -> Iterator[Row]:
    """Every row of the table as a JSON-ready dict (``ref``, then the columns), in id order,
    fetched ``spec.batch`` at a time from a server-side cursor."""
    cols = spec.columns()
    pk = spec.pk
    selected = ([spec.table.c[pk]] if pk else []) + cols
    order = spec.table.c[pk] if pk else list(spec.table.primary_key.columns)[0]
    result = s.execute(sa.select(*selected).order_by(order).execution_options(yield_per=spec.batch))
    for row in result:
        values = row._tuple()
        out: Row = {"ref": values[0]} if pk else {}
        offset = 1 if pk else 0
        for i, c in enumerate(cols):
            out[c.name] = to_json(values[offset + i])
        yield out


# --- import -----------------------------------------------------------------------------------

@dataclass
class ImportMaps:
    """Ids of the exporting database -> ids here, per kind (ints only: a 100k library is a few MB)."""

    ids: dict[str, dict[int, int]] = field(default_factory=dict)

    def get(self, kind: str, old: int) -> int | None:
        return self.ids.get(kind, {}).get(old)

    def put(self, kind: str, old: int | None, new: int) -> None:
        if old is not None:
            self.ids.setdefault(kind, {})[old] = new


class MissingReference(ValueError):
    """A row points at a row the file does not have (the message says which)."""


def decode_row(spec: TableSpec, line: Mapping[str, Any], maps: ImportMaps) -> tuple[Row, list[str]]:
    """The columns of a line, converted and with references mapped; and the fields this
    version does not know (a newer app's columns)."""
    cols = {c.name: c for c in spec.columns()}
    values: Row = {}
    unknown = [k for k in line if k not in cols and k not in ("kind", "ref")]
    for name, column in cols.items():
        if name not in line:
            continue
        value = from_json(column, line[name])
        target = spec.refs.get(name)
        if target is not None and value is not None:
            mapped = maps.get(target, value)
            if mapped is None:
                if not column.nullable:
                    raise MissingReference(f"{name} points at a {target} the file does not have")
                value = None
            else:
                value = mapped
        values[name] = value
    for name, column in cols.items():
        if name not in values and not column.nullable and column.server_default is None:
            raise BadValue(f"{name} is missing")
    if spec.fixup is not None:
        values = spec.fixup(values)
    return values, unknown


def _key_clause(spec: TableSpec, values: Row) -> sa.ColumnElement[bool]:
    # "=" where there is a value, not IS NOT DISTINCT FROM: only "=" can use an index.
    def one(k: str) -> sa.ColumnElement[bool]:
        value = values.get(k)
        if value is None:
            return spec.table.c[k].is_(None)
        if k in spec.folded:  # folded by the database, as the computed column was
            return spec.table.c[f"{k}_folded"] == sa.func.lower(sa.bindparam(None, value, type_=sa.Text))
        return spec.table.c[k] == value
    return sa.and_(*(one(k) for k in spec.key))


def key_of(spec: TableSpec, values: Row) -> tuple[Any, ...]:
    return tuple(values.get(k) for k in spec.key)


def find_existing(s: Session, spec: TableSpec, rows: Sequence[Row]) -> dict[tuple[Any, ...], int | None]:
    """Which of ``rows`` are here already, by key, in one query per 500 rows: key -> id (None for
    tables without an id). Keys holding a NULL are looked up one by one (IN never matches NULL).
    A name in another case is not found here; :func:`insert_row` finds it when the insert meets it."""
    found: dict[tuple[Any, ...], int | None] = {}
    pk = spec.pk
    cols = [spec.table.c[k] for k in spec.key]
    keys = list(dict.fromkeys(key_of(spec, r) for r in rows))
    plain = [k for k in keys if None not in k]
    for i in range(0, len(plain), 500):
        chunk = plain[i:i + 500]
        target = cols[0].in_([k[0] for k in chunk]) if len(cols) == 1 else sa.tuple_(*cols).in_(chunk)
        q = sa.select(*cols, *([spec.table.c[pk]] if pk else [])).where(target)
        for row in s.execute(q):
            found[tuple(row[:len(cols)])] = int(row[len(cols)]) if pk else None
    for k in keys:
        if None in k:
            values = dict(zip(spec.key, k, strict=True))
            probe = spec.table.c[pk] if pk else sa.literal(1)
            hit = s.execute(sa.select(probe).where(_key_clause(spec, values)).limit(1)).first()
            if hit is not None:
                found[k] = int(hit[0]) if pk else None
    return found


def insert_row(s: Session, spec: TableSpec, values: Row) -> tuple[int | None, bool]:
    """Insert a row known not to be here: (its id, inserted?); a unique column that matches after
    all (another process, meanwhile) finds the row that is there."""
    insert_values = dict(values)
    if spec.new_id:
        insert_values["id"] = sa.func.nextval(spec.new_id)
    stmt = pg_insert(spec.table).values(**insert_values).on_conflict_do_nothing()
    pk = spec.pk
    if pk:
        new = s.execute(stmt.returning(spec.table.c[pk])).scalar()
        if new is None:
            again = s.execute(sa.select(spec.table.c[pk]).where(_key_clause(spec, values)).limit(1)).scalar()
            return (int(again) if again is not None else None), False
        return int(new), True
    return None, bool(rowcount(s.execute(stmt)))


def find_or_insert(s: Session, spec: TableSpec, values: Row) -> tuple[int | None, bool]:
    """The row with the same key, or a new one: (its id or None for tables without one, inserted?)."""
    pk = spec.pk
    probe = spec.table.c[pk] if pk else sa.literal(1)
    found = s.execute(sa.select(probe).where(_key_clause(spec, values)).limit(1)).first()
    if found is not None:
        return (int(found[0]) if pk else None), False
    return insert_row(s, spec, values)


# --- images from files (import-files) ----------------------------------------------------------------

@dataclass(frozen=True)
class FileImage:
    """An image file's facts, ready to store: what ``import-files`` found in or next to it."""

    user_email: str
    user_name: str
    prompt: str
    created_at: datetime
    media_id: str
    encoded_image: str
    seed: int | None
    model: str | None
    aspect_ratio: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    byte_size: int
    thumbnail: bytes | None
    thumb_width: int | None
    thumb_height: int | None
    returned_prompt: str | None = None
    workflow_id: str | None = None
    fingerprint_log_record_id: str | None = None
    is_favorite: bool = False
    source: str = "import"
    prompt_seed: int | None = None
    number_of_images: int | None = None


def existing_media_ids(s: Session, media_ids: Iterable[str]) -> dict[str, bool]:
    """The media ids stored already -> whether that image is in the Trash."""
    ids = list(media_ids)
    if not ids:
        return {}
    rows = s.execute(sa.select(GeneratedImage.media_generation_id, GeneratedImage.trashed_at.is_not(None))
                     .where(GeneratedImage.media_generation_id.in_(ids)))
    return {str(m): bool(t) for m, t in rows}


def store_file_image(s: Session, img: FileImage) -> int | None:
    """Store one image from a file; its generation's prompt row is found (same account, text and
    time: the other files of that generation) or made. None if the media id is stored already."""
    from core.store import repo

    user_id = repo.ensure_user(s, img.user_email, img.user_name)
    prompt_spec = TABLES[1]
    prompt_values = {"user_id": user_id, "prompt_text": img.prompt, "created_at": img.created_at,
                     "seed": img.prompt_seed if img.prompt_seed is not None else 0,
                     "number_of_images": img.number_of_images or 1, "aspect_ratio": img.aspect_ratio,
                     "generation_model": img.model, "workflow_id": img.workflow_id}
    prompt_id, made = find_or_insert(s, prompt_spec, prompt_values)
    image_id = s.execute(pg_insert(GeneratedImage).values(
        user_id=user_id, prompt_id=prompt_id, media_generation_id=img.media_id, encoded_image=img.encoded_image,
        seed=img.seed, model_name_type=img.model, aspect_ratio=img.aspect_ratio,
        fingerprint_log_record_id=img.fingerprint_log_record_id, workflow_id=img.workflow_id,
        created_at=img.created_at, returned_prompt=img.returned_prompt, mime_type=img.mime_type, width=img.width,
        height=img.height, byte_size=img.byte_size, is_favorite=img.is_favorite, source=img.source,
    ).on_conflict_do_nothing(index_elements=[GeneratedImage.media_generation_id])
        .returning(GeneratedImage.id)).scalar()
    if image_id is None:
        return None
    if img.thumbnail:
        s.execute(pg_insert(ImageThumbnail).values(image_id=image_id, thumbnail=img.thumbnail,
                                                   width=img.thumb_width or 0, height=img.thumb_height or 0)
                  .on_conflict_do_nothing(index_elements=[ImageThumbnail.image_id]))
    if not made and img.number_of_images is None:
        # A file of a generation whose size nobody wrote down: the prompt row counts its images.
        s.execute(sa.update(Prompt).where(Prompt.id == prompt_id).values(
            number_of_images=sa.select(sa.func.count()).where(GeneratedImage.prompt_id == prompt_id)
            .scalar_subquery()))
    return int(image_id)


# --- image rows for the file exporter -------------------------------------------------------------

_FACT_COLUMNS = (
    GeneratedImage.id, GeneratedImage.media_generation_id, Prompt.prompt_text, GeneratedImage.created_at,
    GeneratedImage.seed, GeneratedImage.model_name_type, GeneratedImage.aspect_ratio, GeneratedImage.width,
    GeneratedImage.height, GeneratedImage.mime_type, GeneratedImage.returned_prompt, User.email, User.name,
    GeneratedImage.is_favorite, GeneratedImage.source, GeneratedImage.workflow_id,
    GeneratedImage.fingerprint_log_record_id, Prompt.seed, Prompt.number_of_images, GeneratedImage.byte_size,
)
FACT_NAMES = ("image_id", "media_id", "prompt", "created_at", "seed", "model", "aspect_ratio", "width", "height",
              "mime_type", "returned_prompt", "user_email", "user_name", "is_favorite", "source", "workflow_id",
              "fingerprint_log_record_id", "prompt_seed", "number_of_images", "byte_size")


def image_fact_rows(s: Session, image_ids: Sequence[int]) -> dict[int, Row]:
    """Everything an exported file and its metadata.jsonl line say, by image id (one query, no image bytes)."""
    if not image_ids:
        return {}
    q = (sa.select(*_FACT_COLUMNS).select_from(GeneratedImage)
         .join(User, User.id == GeneratedImage.user_id)
         .outerjoin(Prompt, Prompt.id == GeneratedImage.prompt_id)
         .where(GeneratedImage.id.in_(list(image_ids))))
    out: dict[int, Row] = {}
    for row in s.execute(q):
        d = dict(zip(FACT_NAMES, row, strict=True))
        d["prompt"] = d["prompt"] if d["prompt"] is not None else (d["returned_prompt"] or "")
        out[int(d["image_id"])] = d
    return out
