"""Organising the library: tags, boards, ratings, notes and saved searches (issue 14).

``service.library`` is one :class:`Library`; the GUI and the CLI call the same methods. Every
mutation runs in one transaction and returns the :class:`~core.changes.Changes` it made (image
ids per kind, or ``None`` for "the list itself": a renamed tag, a new board), stamped with the
service's origin; the database's triggers announce the same change to every other process
(schema.sql, core/store/notify.py). Names are checked here, with one sentence for the user when
they cannot be used; nothing is half-written.

Listing a board or a saved search is a gallery page with a filter: ``service.gallery_page(
filter=board_filter(name))`` or the saved search's own filter and sort.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from core.changes import ChangeKind, Changes
from core.filters import FilterError, quote
from core.filters import parse as parse_filter
from core.store import library as lib
from core.store import repo
from core.store.filtering import SORTS
from core.store.records import BoardRecord, ImageLabels, SavedSearchRecord, TagCount

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.service.service import Service

MAX_TAG = 100
MAX_NAME = 200
MAX_NOTE = 10_000
MAX_IMAGES = 100_000  # images per call (a whole 100k library at once still works)


def _validation_error(message: str) -> Exception:
    from core.service.service import ValidationError

    return ValidationError(message)


def _clean_name(text: object, what: str, limit: int, *, commas: bool) -> str:
    if not isinstance(text, str):
        raise _validation_error(f"A {what} name must be text.")
    name = " ".join(text.split())
    if not name:
        raise _validation_error(f"The {what} name is empty.")
    for ch in name:
        if ch == "\x00" or "\ud800" <= ch <= "\udfff" or unicodedata.category(ch) in ("Cc", "Cf"):
            raise _validation_error(f"The {what} name {name[:40]!r} contains a control character or bytes that "
                                    "are not text.")
    if not commas and "," in name:
        raise _validation_error(f"A tag name cannot contain a comma ({name[:40]!r}): commas separate tags.")
    if len(name) > limit:
        raise _validation_error(f"The {what} name is {len(name)} characters long; the limit is {limit}.")
    return name


def tag_names(values: Iterable[str]) -> list[str]:
    """Tag names from what a user typed: each value may hold several, separated by commas."""
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if part.strip():
                name = _clean_name(part, "tag", MAX_TAG, commas=False)
                out.setdefault(name.lower(), name)
    if not out:
        raise _validation_error("No tag name given.")
    return list(out.values())


def board_filter(name: str) -> str:
    """The filter that lists a board (``board:"Name with spaces"``)."""
    return f"board:{quote(name)}"


class Library:
    """Tags, boards, ratings, notes and saved searches of one service's database."""

    def __init__(self, service: Service) -> None:
        self.svc = service

    # --- helpers ----------------------------------------------------------------------------

    def _acting(self, s: Session) -> int | None:
        """The user row of the account in use (owner of what it makes), None before sign-in."""
        email = self.svc.current_email()
        if not email:
            return None
        user = repo.get_user(s, email)
        return user.id if user else None

    def _announce(self, s: Session, kind: ChangeKind, ids: Iterable[int] | None, count: int | None = None) -> Changes:
        return self.svc._announce(s, Changes.of(kind, ids, count=count))

    @staticmethod
    def _ids(image_ids: Iterable[int]) -> list[int]:
        ids = sorted({int(i) for i in image_ids})
        if len(ids) > MAX_IMAGES:
            raise _validation_error(f"{len(ids):,} images at once is more than the limit of {MAX_IMAGES:,}.")
        return ids

    def resolve(self, refs: Sequence[str]) -> list[int]:
        """Image ids for what a user typed (ids or media ids); ValidationError naming any not found."""
        refs = [r.strip() for r in refs if r.strip()]
        if not refs:
            raise _validation_error("No image given: name images by id or media id.")
        with self.svc.db.session() as s:
            found, missing = lib.resolve_images(s, refs)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise _validation_error(f"No image with the id or media id {shown} is in the library.")
        return found

    # --- tags -------------------------------------------------------------------------------

    def add_tags(self, image_ids: Iterable[int], names: Iterable[str]) -> Changes:
        """Put tags on images (a whole selection at once); names may be comma-separated."""
        tags, ids = tag_names(names), self._ids(image_ids)
        with self.svc.db.session() as s:
            return self._announce(s, ChangeKind.TAGS, lib.add_tags(s, ids, tags, self._acting(s)))

    def remove_tags(self, image_ids: Iterable[int], names: Iterable[str]) -> Changes:
        tags, ids = tag_names(names), self._ids(image_ids)
        with self.svc.db.session() as s:
            return self._announce(s, ChangeKind.TAGS, lib.remove_tags(s, ids, tags))

    def tags(self, *, prefix: str = "", limit: int | None = None) -> list[TagCount]:
        """The tags in use with their image counts, most used first."""
        with self.svc.db.session() as s:
            return lib.tag_counts(s, prefix=prefix.strip(), limit=limit)

    def complete_tag(self, prefix: str, limit: int = 10) -> list[TagCount]:
        """Autocomplete: tags starting with ``prefix`` (ignoring case), most used first."""
        if not prefix.strip():
            return self.tags(limit=limit)
        return self.tags(prefix=prefix, limit=limit)

    def rename_tag(self, old: str, new: str) -> Changes:
        """Rename a tag everywhere; if a tag called ``new`` exists, the two become one (merge)."""
        old_name = _clean_name(old, "tag", MAX_TAG, commas=False)
        new_name = _clean_name(new, "tag", MAX_TAG, commas=False)
        with self.svc.db.session() as s:
            n = lib.rename_tag(s, old_name, new_name)
            if not n:
                raise _validation_error(f"There is no tag called {old_name!r}.")
            return self._announce(s, ChangeKind.TAGS, None, count=n)

    def merge_tags(self, sources: Iterable[str], target: str) -> Changes:
        """Every image with any of ``sources`` gets ``target`` instead; the sources are gone."""
        names = tag_names(sources)
        target_name = _clean_name(target, "tag", MAX_TAG, commas=False)
        with self.svc.db.session() as s:
            missing = [n for n in names if not lib.tag_exists(s, n)]
            if missing:
                raise _validation_error(f"There is no tag called {missing[0]!r}.")
            images = lib.merge_tags(s, names, target_name, self._acting(s))
            return self.svc._announce(s, Changes.of(ChangeKind.TAGS, None, count=len(images)))

    def delete_tag(self, name: str) -> Changes:
        """Take a tag off every image and forget it."""
        tag = _clean_name(name, "tag", MAX_TAG, commas=False)
        with self.svc.db.session() as s:
            if not lib.tag_exists(s, tag):
                raise _validation_error(f"There is no tag called {tag!r}.")
            images = lib.delete_tag(s, tag)
            return self.svc._announce(s, Changes.of(ChangeKind.TAGS, None, count=len(images)))

    # --- boards ------------------------------------------------------------------------------

    def boards(self) -> list[BoardRecord]:
        """Every board, by name, with how many images it holds."""
        with self.svc.db.session() as s:
            return lib.list_boards(s)

    def _board(self, s: Session, name: str) -> tuple[int, str]:
        board = _clean_name(name, "board", MAX_NAME, commas=True)
        board_id = lib.find_board(s, board, self._acting(s))
        if board_id is None:
            raise _validation_error(f"There is no board called {board!r}.")
        return board_id, board

    def _may_change(self, s: Session, board_id: int, board: str, *, contents: bool) -> None:
        """On a team server a board shared with you stays its owner's: only they rename or delete it, and
        its images change only on a read-write share (issue 15; the database refuses the rest anyway)."""
        from core.store import team

        access = team.board_access(s, board_id)
        if access == "own" or (contents and access == "write"):
            return
        if contents:
            raise _validation_error(f"The board {board!r} is shared with you read-only; ask its owner to share "
                                    "it read-write to add or remove images.")
        raise _validation_error(f"The board {board!r} is shared with you; only its owner can rename or delete it.")

    def create_board(self, name: str) -> Changes:
        board = _clean_name(name, "board", MAX_NAME, commas=True)
        with self.svc.db.session() as s:
            if lib.create_board(s, board, self._acting(s)) is None:
                raise _validation_error(f"A board called {board!r} exists already.")
            return self._announce(s, ChangeKind.BOARDS, None, count=1)

    def rename_board(self, old: str, new: str) -> Changes:
        new_name = _clean_name(new, "board", MAX_NAME, commas=True)
        with self.svc.db.session() as s:
            board_id, board = self._board(s, old)
            self._may_change(s, board_id, board, contents=False)
            if not lib.rename_board(s, board_id, new_name):
                raise _validation_error(f"A board called {new_name!r} exists already.")
            return self._announce(s, ChangeKind.BOARDS, None, count=1)

    def delete_board(self, name: str) -> Changes:
        """Delete a board; its images stay in the library (and on their other boards)."""
        with self.svc.db.session() as s:
            board_id, board = self._board(s, name)
            self._may_change(s, board_id, board, contents=False)
            images = lib.delete_board(s, board_id)
            return self.svc._announce(s, Changes.of(ChangeKind.BOARDS, None, count=len(images)))

    def add_to_board(self, name: str, image_ids: Iterable[int], *, create: bool = False) -> Changes:
        """Put images on a board (``create``: make the board if there is none of that name)."""
        ids = self._ids(image_ids)
        board = _clean_name(name, "board", MAX_NAME, commas=True)
        with self.svc.db.session() as s:
            acting = self._acting(s)
            board_id = lib.find_board(s, board, acting)
            created = False
            if board_id is None:
                if not create:
                    raise _validation_error(f"There is no board called {board!r}; create it first.")
                board_id = lib.create_board(s, board, acting) or lib.find_board(s, board, acting)
                created = True
            assert board_id is not None
            self._may_change(s, board_id, board, contents=True)
            changes = Changes.of(ChangeKind.BOARDS, lib.add_to_board(s, board_id, ids))
            if created:
                changes = Changes.of(ChangeKind.BOARDS, None, count=changes.count)
            return self.svc._announce(s, changes)

    def remove_from_board(self, name: str, image_ids: Iterable[int]) -> Changes:
        ids = self._ids(image_ids)
        with self.svc.db.session() as s:
            board_id, board = self._board(s, name)
            self._may_change(s, board_id, board, contents=True)
            return self._announce(s, ChangeKind.BOARDS, lib.remove_from_board(s, board_id, ids))

    # --- ratings and notes ---------------------------------------------------------------------

    def set_rating(self, image_ids: Iterable[int], stars: int) -> Changes:
        """0-5 stars on images (0 takes them off). The favourite mark is separate and stays."""
        if isinstance(stars, bool) or not isinstance(stars, int) or not 0 <= stars <= 5:
            raise _validation_error(f"A rating is 0 to 5 stars, not {stars!r}.")
        ids = self._ids(image_ids)
        with self.svc.db.session() as s:
            return self._announce(s, ChangeKind.RATING, lib.set_rating(s, ids, stars, self._acting(s)))

    def set_note(self, image_id: int, text: str) -> Changes:
        """An image's free-text note (empty text removes it)."""
        if not isinstance(text, str):
            raise _validation_error("A note must be text.")
        if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
            raise _validation_error("The note contains a NUL character or bytes that are not text.")
        note = text.strip()
        if len(note) > MAX_NOTE:
            raise _validation_error(f"The note is {len(note):,} characters long; the limit is {MAX_NOTE:,}.")
        with self.svc.db.session() as s:
            if not lib.existing_ids(s, [image_id]):
                raise _validation_error("That image is no longer in the library.")
            changed = lib.set_note(s, image_id, note, self._acting(s))
            return self._announce(s, ChangeKind.NOTE, [image_id] if changed else [])

    def labels(self, image_ids: Iterable[int]) -> dict[int, ImageLabels]:
        """Tags, boards, stars and note of each image (the details panel, the CLI's listing)."""
        ids = self._ids(image_ids)
        with self.svc.db.session() as s:
            return lib.labels(s, ids)

    def note(self, image_id: int) -> str:
        return self.labels([image_id]).get(image_id, ImageLabels(image_id)).note

    # --- saved searches (smart boards) ------------------------------------------------------------

    def save_search(self, name: str, filter_text: str, sort: str = "newest") -> Changes:
        """Save a filter under a name (replacing one of that name); the filter must be readable."""
        search = _clean_name(name, "saved search", MAX_NAME, commas=True)
        if sort not in SORTS:
            raise _validation_error(f"Unknown sort order {sort!r}; use {', '.join(SORTS)}.")
        if not filter_text.strip():
            raise _validation_error("The filter to save is empty.")
        try:
            parse_filter(filter_text)
        except FilterError as exc:
            from core.service.service import FilterInvalid

            raise FilterInvalid(str(exc), exc.position) from None
        with self.svc.db.session() as s:
            lib.save_search(s, search, filter_text.strip(), sort, self._acting(s))
            return self._announce(s, ChangeKind.SEARCHES, None, count=1)

    def saved_searches(self) -> list[SavedSearchRecord]:
        with self.svc.db.session() as s:
            return lib.saved_searches(s)

    def saved_search(self, name: str) -> SavedSearchRecord:
        search = _clean_name(name, "saved search", MAX_NAME, commas=True)
        with self.svc.db.session() as s:
            found = lib.find_search(s, search, self._acting(s))
        if found is None:
            raise _validation_error(f"There is no saved search called {search!r}.")
        return found

    def delete_search(self, name: str) -> Changes:
        found = self.saved_search(name)
        with self.svc.db.session() as s:
            lib.delete_search(s, found.id)
            return self._announce(s, ChangeKind.SEARCHES, None, count=1)
