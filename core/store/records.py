"""Plain values the store hands out: no Session, no lazy loading, safe to pass to any thread."""

from __future__ import annotations

import base64
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class UserRecord:
    id: int
    email: str
    name: str
    image_url: str | None
    has_cookie: bool


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One stored image, as listed: everything but the full image bytes.

    Slots: the gallery holds one per image, 100,000 of them for a large history
    (``benchmarks/README.md``); without a ``__dict__`` each is ~200 bytes smaller."""

    id: int
    media_id: str
    user_id: int
    user_email: str | None
    prompt_id: int | None
    prompt: str  # what the user sent (or, for fetched images, what the service reports)
    returned_prompt: str | None
    seed: int | None
    model: str | None
    aspect_ratio: str | None
    width: int | None
    height: int | None
    mime_type: str | None
    created_at: datetime
    is_favorite: bool
    source: str
    thumbnail: bytes | None = field(default=None, repr=False)
    trashed_at: datetime | None = None  # in the Trash since (None: in the library)
    rating: int = 0  # stars, 0-5 (0: none)

    @property
    def owner_email(self) -> str | None:
        """Who made the image (its account's e-mail): on a team server, another member for an image on
        a board shared with you (issue 15)."""
        return self.user_email

    @property
    def cursor(self) -> tuple[datetime, int]:
        return (self.created_at, self.id)

    def cursor_for(self, sort: str) -> tuple[Any, ...]:
        """Where the next page starts in a listing sorted by ``sort`` (newest, oldest, rating)."""
        return (self.rating, self.created_at, self.id) if sort == "rating" else (self.created_at, self.id)


@dataclass(frozen=True)
class GenerationRecord:
    prompt_id: int | None
    prompt: str
    created_at: datetime
    images: tuple[ImageRecord, ...]
    spooled: bool = False  # stored in the local spool, not (yet) in the database
    duplicates: int = 0  # images that were already stored (same media id)


@dataclass(frozen=True)
class HistoryRow:
    """One generation (prompt row) for the CLI's history listing."""

    prompt_id: int
    prompt: str
    created_at: datetime
    user_email: str
    model: str | None
    aspect_ratio: str | None
    seed: int | None
    requested: int | None
    image_count: int
    media_ids: tuple[str, ...]
    seeds: tuple[int | None, ...] = ()  # the seed each image was made with, in media_ids' order

    def used_seeds(self) -> list[int]:
        """The seeds the images were made with, each once, in order (the asked-for one when the
        images carry none: a library made by another tool)."""
        used = list(dict.fromkeys(s for s in self.seeds if s is not None))
        return used or ([self.seed] if self.seed else [])

    def seeds_text(self) -> str:
        """``seed 42``, ``seeds 17, 99`` or ``seed random`` (nothing known: asked for none, none reported)."""
        used = self.used_seeds()
        if not used:
            return "seed random"
        return f"seed {used[0]}" if len(used) == 1 else "seeds " + ", ".join(map(str, used))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        d["media_ids"] = list(self.media_ids)
        # "seed": what was asked for (null: random, the server chose); "seeds": what each image used.
        d["seed"] = self.seed or None
        d["seeds"] = list(self.seeds) if self.seeds else [None] * len(self.media_ids)
        d["images"] = [{"media_id": m, "seed": s} for m, s in zip(d["media_ids"], d["seeds"], strict=False)]
        return d


@dataclass(frozen=True)
class CaptionRecord:
    id: int
    user_id: int
    image_path: str
    image_type: str
    caption: str
    media_id: str | None
    created_at: datetime


@dataclass
class NewImage:
    """An image ready to store: decoded facts and thumbnail made off the database transaction."""

    media_id: str
    encoded_image: str
    seed: int | None
    returned_prompt: str | None
    model: str | None
    aspect_ratio: str | None
    workflow_id: str | None
    fingerprint_log_record_id: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    byte_size: int
    thumbnail: bytes | None
    thumb_width: int | None
    thumb_height: int | None


@dataclass
class NewGeneration:
    """Everything one generation stores, in one transaction. Serialisable for the spool."""

    user_email: str
    user_name: str
    prompt: str
    seed: int | None
    count: int
    aspect_ratio: str | None
    model: str | None
    workflow_id: str | None
    images: list[NewImage]
    source: str = "generate"
    created_at: datetime | None = None
    spool_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    user_image_url: str | None = None
    # The queue item this generation finishes. It travels with a spool entry, so the entry's
    # drain marks the item done in its own transaction and the prompt never runs twice.
    queue_item_id: int | None = None
    # The spool file that keeps it until it is stored (Service.deliver); not part of the entry.
    spooled_at: Path | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("spooled_at", None)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        for img in d["images"]:
            thumb = img.get("thumbnail")
            img["thumbnail"] = base64.b64encode(thumb).decode("ascii") if thumb else None
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NewGeneration:
        images = []
        for img in data.get("images", []):
            img = dict(img)
            thumb = img.get("thumbnail")
            img["thumbnail"] = base64.b64decode(thumb) if thumb else None
            images.append(NewImage(**img))
        created = data.get("created_at")
        return cls(
            user_email=data["user_email"], user_name=data["user_name"], prompt=data["prompt"],
            seed=data.get("seed"), count=data.get("count", len(images)),
            aspect_ratio=data.get("aspect_ratio"), model=data.get("model"),
            workflow_id=data.get("workflow_id"), images=images, source=data.get("source", "generate"),
            created_at=datetime.fromisoformat(created) if created else None,
            spool_id=data.get("spool_id") or uuid.uuid4().hex,
            user_image_url=data.get("user_image_url"),
            queue_item_id=data.get("queue_item_id"),
        )


# --- the prompt queue and the web import (issue 7) ------------------------------------------

class ItemState(StrEnum):
    """A queue item's state; the value is what ``generation_queue.state`` holds."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


QUEUE_STATES: tuple[ItemState, ...] = tuple(ItemState)
FINISHED_STATES: tuple[ItemState, ...] = (ItemState.DONE, ItemState.FAILED, ItemState.CANCELLED)


@dataclass(frozen=True)
class NewQueueItem:
    """A prompt to add to the queue, with its own options (``seed`` None: the server chooses)."""

    prompt: str
    count: int
    model: str
    aspect_ratio: str
    seed: int | None = None
    source: str | None = None  # where it came from: "editor", "paste", a file name


@dataclass(frozen=True)
class QueueItem:
    id: int
    position: int
    prompt: str
    count: int
    model: str
    aspect_ratio: str
    seed: int | None
    state: ItemState
    error: str | None
    attempts: int
    prompt_id: int | None  # the stored generation, once done
    image_count: int
    source: str | None
    user_email: str | None
    claimed_by: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    media_ids: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("created_at", "started_at", "finished_at"):
            value = getattr(self, key)
            d[key] = value.isoformat() if value else None
        d.pop("media_ids")
        d["images"] = list(self.media_ids)  # media ids of the stored images
        return d


@dataclass(frozen=True)
class QueueCounts:
    pending: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.done + self.failed + self.cancelled

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.cancelled


@dataclass(frozen=True)
class WebImportRecord:
    """Where an account's last web-library import stopped (``next_cursor`` None: at the top)."""

    user_email: str
    next_cursor: str | None
    pages_done: int
    images_seen: int
    images_imported: int
    last_error: str | None
    started_at: datetime | None
    completed_at: datetime | None


# --- the library (issue 14) -------------------------------------------------------------------

@dataclass(frozen=True)
class TagCount:
    """A tag name and how many images carry it (over every owner's tag of that name)."""

    name: str
    count: int


@dataclass(frozen=True)
class BoardRecord:
    id: int
    name: str
    count: int  # images on the board (in the library, not in the Trash)
    user_id: int | None
    created_at: datetime | None


@dataclass(frozen=True)
class SavedSearchRecord:
    """A smart board: a name, a filter (core/filters.py) and a sort order."""

    id: int
    name: str
    filter: str
    sort: str
    user_id: int | None


@dataclass(frozen=True)
class ImageLabels:
    """What the user added to one image: tags, boards, stars (0 = none) and the note."""

    image_id: int
    tags: tuple[str, ...] = ()
    boards: tuple[str, ...] = ()
    rating: int = 0
    note: str = ""
