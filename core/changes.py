"""What a mutation changed: the small descriptor every service mutation returns.

After each operation the GUI hands its :class:`Changes` to one hook
(``AppContext.changes_applied``) and every view decides for itself what to refresh: the
gallery re-reads the image ids it names, the details panel updates, the undo stack records
it. No caller patches another view's model by hand (Anki's ``OpChanges`` and
``operation_did_execute``). The same descriptor travels between processes as a short JSON
payload (:meth:`Changes.to_json`, under PostgreSQL's 8000-byte ``NOTIFY`` limit), so a
change made in a terminal or another window arrives the same way.

A descriptor names, per kind of change, the ids of what changed (image ids for the image
kinds, queue item ids for :attr:`ChangeKind.QUEUE` …), or ``None`` for "many or unknown:
refresh everything of that kind". Beyond :data:`MAX_IDS` ids a kind is sent as ``None``
(tests/core/test_changes.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PAYLOAD_VERSION = 1
MAX_IDS = 500  # ids per payload; 500 ten-digit ids are ~5.5 KB, NOTIFY takes < 8000 bytes
MAX_PAYLOAD_BYTES = 7900


class ChangeKind(StrEnum):
    """Kinds of change. The values are the wire names: keep them short and never rename one."""

    IMAGES_ADDED = "added"  # stored (generated, fetched, imported, drained from the spool)
    IMAGES_REMOVED = "removed"  # gone for good (deleted forever, emptied from the Trash, archived)
    IMAGES_TRASHED = "trashed"  # moved to the Trash
    IMAGES_RESTORED = "restored"  # back from the Trash
    FAVORITE = "favorite"  # favourite mark set or cleared
    # Issue 14 (library organisation) and the rest of the app; ids as noted.
    TAGS = "tags"  # image ids whose tags changed (None: the tag list itself, e.g. a rename)
    BOARDS = "boards"  # image ids added to / removed from boards (None: boards themselves)
    RATING = "rating"  # image ids
    NOTE = "note"  # image ids
    CAPTIONS = "captions"  # image_captions ids
    QUEUE = "queue"  # generation_queue ids
    ACCOUNTS = "accounts"  # user ids
    SEARCHES = "searches"  # saved searches (always None: the list)

    @property
    def about_images(self) -> bool:
        """Its ids are image ids (the gallery re-reads them)."""
        return self in _IMAGE_KINDS


_IMAGE_KINDS = frozenset({ChangeKind.IMAGES_ADDED, ChangeKind.IMAGES_REMOVED, ChangeKind.IMAGES_TRASHED,
                          ChangeKind.IMAGES_RESTORED, ChangeKind.FAVORITE, ChangeKind.TAGS,
                          ChangeKind.BOARDS, ChangeKind.RATING, ChangeKind.NOTE})

Ids = frozenset[int] | None


@dataclass(frozen=True)
class Changes:
    """What one operation changed. Empty (falsy) when it changed nothing.

    ``kinds`` maps each kind of change to the ids it touched, or ``None`` for many/unknown.
    ``count`` is how many things the operation changed (what a message says: "3 images moved
    to the Trash"); it may be smaller than the ids asked for (some were gone already).
    ``origin`` names the process and service that made the change, so a listener can tell its
    own changes (already applied) from those of others; empty when unknown.
    """

    kinds: Mapping[ChangeKind, Ids] = field(default_factory=dict)
    count: int = 0
    origin: str = ""

    def __post_init__(self) -> None:
        # Frozen, so hand out an immutable copy the caller cannot change behind our back.
        object.__setattr__(self, "kinds", _FrozenKinds(
            {ChangeKind(k): (None if v is None else frozenset(int(i) for i in v)) for k, v in self.kinds.items()}))

    # --- building ------------------------------------------------------------------------

    @classmethod
    def of(cls, kind: ChangeKind, ids: Iterable[int] | None, *, count: int | None = None,
           origin: str = "") -> Changes:
        """One kind of change to ``ids`` (``None``: many/unknown). Nothing changed → empty."""
        frozen = None if ids is None else frozenset(ids)
        n = count if count is not None else (len(frozen) if frozen is not None else 0)
        if frozen is not None and not frozen and not n:
            return cls(origin=origin)
        return cls({kind: frozen}, count=n, origin=origin)

    def merge(self, other: Changes) -> Changes:
        """Both changes as one (a batch of operations, several notifications at once)."""
        kinds: dict[ChangeKind, Ids] = dict(self.kinds)
        for kind, ids in other.kinds.items():
            if kind in kinds:
                mine = kinds[kind]
                kinds[kind] = None if mine is None or ids is None else mine | ids
            else:
                kinds[kind] = ids
        origin = self.origin if self.origin == other.origin else ""
        return Changes(kinds, count=self.count + other.count, origin=origin)

    def with_origin(self, origin: str) -> Changes:
        return Changes(self.kinds, count=self.count, origin=origin)

    # --- reading -------------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self.kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self.kinds

    def __iter__(self) -> Iterator[ChangeKind]:
        return iter(self.kinds)

    def ids(self, kind: ChangeKind) -> Ids:
        """The ids of ``kind`` (empty if that kind did not change; ``None``: many/unknown)."""
        return self.kinds.get(kind, frozenset())

    def image_ids(self) -> Ids:
        """Every image id any image kind touched; ``None`` if one of them is many/unknown."""
        out: set[int] = set()
        for kind, ids in self.kinds.items():
            if kind.about_images:
                if ids is None:
                    return None
                out |= ids
        return frozenset(out)

    @property
    def touches_images(self) -> bool:
        return any(k.about_images for k in self.kinds)

    # --- the wire ------------------------------------------------------------------------

    def to_json(self) -> str:
        """A compact payload under :data:`MAX_PAYLOAD_BYTES`: ``{"v":1,"c":{"trashed":[3,4]},"n":2,"o":"…"}``.

        A kind with more than :data:`MAX_IDS` ids is sent as ``null`` (the receiver refreshes
        everything of that kind), and so is every kind if the whole would still be too long.
        """
        kinds: dict[str, list[int] | None] = {}
        budget = MAX_IDS
        for kind, ids in self.kinds.items():
            if ids is None or len(ids) > budget:
                kinds[kind.value] = None
            else:
                kinds[kind.value] = sorted(ids)
                budget -= len(ids)
        payload: dict[str, Any] = {"v": PAYLOAD_VERSION, "c": kinds, "n": self.count}
        if self.origin:
            payload["o"] = self.origin[:200]
        text = json.dumps(payload, separators=(",", ":"))
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            payload["c"] = {k: None for k in kinds}
            text = json.dumps(payload, separators=(",", ":"))
        return text

    @classmethod
    def from_json(cls, text: str | bytes) -> Changes:
        """The descriptor from a payload; ValueError if it is not one. Kinds this version does not
        know (a newer app on the same database) are dropped, not an error."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a change payload: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("c"), dict):
            raise ValueError("not a change payload")
        kinds: dict[ChangeKind, Ids] = {}
        for name, ids in data["c"].items():
            try:
                kind = ChangeKind(name)
            except ValueError:
                continue
            if ids is None:
                kinds[kind] = None
            elif isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                kinds[kind] = frozenset(ids)
            else:
                raise ValueError(f"bad ids for {name!r} in a change payload")
        count = data.get("n", 0)
        origin = data.get("o", "")
        return cls(kinds, count=count if isinstance(count, int) else 0,
                   origin=origin if isinstance(origin, str) else "")

    def __repr__(self) -> str:
        parts = []
        for kind, ids in self.kinds.items():
            shown = "many" if ids is None else ",".join(map(str, sorted(ids)[:8])) + ("…" if len(ids) > 8 else "")
            parts.append(f"{kind.value}=[{shown}]")
        return f"Changes({' '.join(parts) or 'nothing'}, count={self.count})"


class _FrozenKinds(dict):  # type: ignore[type-arg]
    """A dict that refuses changes (``Changes`` is frozen); hashable by content."""

    def _refuse(self, *_a: object, **_k: object) -> None:
        raise TypeError("Changes are immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


NOTHING = Changes()
