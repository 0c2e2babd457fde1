"""The filter language (``core/filters.py``) compiled to SQLAlchemy: one condition on a listing.

Every value of the tree reaches the statement as a bound parameter; nothing a user typed is
ever part of the SQL text (tests/core/test_filters.py compiles fuzzed filters and checks that
the SQL holds no literal at all).

What a filter names is looked up first, in the same transaction (:class:`_Resolver`): the tags,
boards, accounts and notes it names (a few rows), and the prompts holding its words. The listing
then compares ids with bound arrays, so the planner knows how many there are; written as joins,
it guessed, and for a popular tag or a common word chose plans that scanned the matches once per
image (0.8 s for a first page at 100,000 images; benchmarks/README.md).

Words: a GIN index holds every suffix of every word of a prompt (schema.sql), so a word typed
is a prefix of one of them (``'ighthou':*`` finds *lighthouse*); ``LIKE`` on the lower-case copy
is the exact test. The lookup asks the index for at most :data:`ANY_LIMIT` + 1 prompts:

- up to :data:`ANY_LIMIT` (a rare word): the listing takes those prompts' images (an index
  lookup per prompt), however large the library;
- more (a common word): the listing tests ``LIKE`` on each image's own prompt row as it walks the
  newest images; a page needs a few hundred rows whatever the size of the library.

Before, an ``OR`` of ``LIKE`` and the full-text match let no index help, and every count scanned
every prompt (a count still reads every match: it grows with their number).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session, aliased

from core.filters import And, Node, Not, Or, Term, terms
from core.store import team
from core.store.models import (
    Board,
    BoardImage,
    GeneratedImage,
    ImageNote,
    ImageRating,
    ImageTag,
    Prompt,
    Tag,
    UserDirectory,
)

SORTS = ("newest", "oldest", "rating")
# A word's suffixes are indexed up to 32 characters (schema.sql, imagefx_word_suffixes); what is
# looked up is shorter, so that lower-casing (which may lengthen a few letters) keeps it a prefix.
_PIECE_CHARS = 20
# Up to this many ids, ``= ANY(array)``: the planner estimates each element, so it knows how many
# rows match and picks its plan by that. Beyond, that estimate costs more planning time than the
# query takes (~20 ms for 10,000 ids), and a word with that many prompts is common: its images are
# found by testing prompts as the newest images go by.
ANY_LIMIT = 2000
# Around a statement that must use the suffix index. JIT off too: with sequential scans disabled the
# plan's cost passes jit_above_cost, and compiling it took 0.8 s for a 20 ms count.
NO_SEQSCAN = "SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
SEQSCAN = "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL jit TO DEFAULT"


@dataclass(frozen=True)
class Compiled:
    """A filter as SQL: ``condition`` (None: none) on generated_images and its prompt row
    (``needs_prompts``: the query must join ``prompts``), and which images it looks at: ``"library"``
    (not in the Trash), ``"trash"`` (``in:trash``) or ``"any"`` (``in:any``)."""

    condition: sa.ColumnElement[bool] | None
    scope: str = "library"
    needs_prompts: bool = False
    no_seqscan: bool = False  # run it with enable_seqscan off (see _Resolver.text)


NO_FILTER = Compiled(None)


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (PostgreSQL's default escape is ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(value: str) -> sa.BindParameter[str]:
    return sa.bindparam(None, value, type_=sa.Text)


def _contains(column: Any, text: str) -> sa.ColumnElement[bool]:
    """``column`` (lower case already) contains ``text``, ignoring case: LIKE on a bound pattern."""
    return column.like(sa.func.lower(_text(f"%{like_escape(text)}%")))  # type: ignore[no-any-return]


def _name_is(column: Any, name: str, prefix: bool) -> sa.ColumnElement[bool]:
    """A ``name_folded`` column equals ``name`` (or starts with it), ignoring case."""
    if prefix:
        return column.like(sa.func.lower(_text(like_escape(name) + "%")))  # type: ignore[no-any-return]
    return column == sa.func.lower(_text(name))  # type: ignore[no-any-return]


def _any(column: Any, ids: list[int]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``ids`` (a bound array)."""
    if not ids:
        return sa.false()
    array = sa.bindparam(None, ids, type_=ARRAY(sa.Integer))
    if len(ids) <= ANY_LIMIT:
        # A custom operator: SQLAlchemy would turn NOT (a = ANY(b)) into a != ANY(b), which differs.
        return column.op("=")(sa.func.any(array))  # type: ignore[no-any-return]
    # coalesce(): not folded into a join (whose size the planner would guess as 200 rows), but a
    # hashed subplan, built once.
    return sa.func.coalesce(column.in_(sa.select(sa.func.unnest(array))), sa.false())


# --- free text --------------------------------------------------------------------------------

def word_pieces(text: str) -> list[str]:
    """The runs of letters and ASCII digits in ``text``, as the index looks them up.

    The index splits words at spaces and punctuation as the database's locale sees them; this
    splits at least as often (anything not a letter or an ASCII digit), so every piece lies inside
    one indexed word and is a prefix of one of its suffixes: the index never misses a match.
    """
    pieces, run = [], []
    for ch in text:
        if ch.isalpha() or "0" <= ch <= "9":
            run.append(ch)
        elif run:
            pieces.append("".join(run))
            run = []
    if run:
        pieces.append("".join(run))
    return [p[:_PIECE_CHARS] for p in pieces]


def _index_is_exact(value: str) -> bool:
    """The index alone answers a word of letters and digits: it is inside a prompt's word exactly
    when it is a prefix of one of that word's suffixes. Anything else (punctuation, spaces, long or
    oddly lower-casing words) needs LIKE as well."""
    return word_pieces(value) == [value] and len(value.lower()) == len(value)


def _is_text(node: Node) -> bool:
    """A subtree about the prompt only (free text, And/Or of it): one lookup on prompts."""
    if isinstance(node, Term):
        return node.field == "text"
    if isinstance(node, (And, Or)):
        return all(_is_text(i) for i in node.items)
    return False


def _like(node: Node, folded: Any) -> sa.ColumnElement[bool]:
    """The exact test of a text subtree: LIKE on the lower-case prompt ``folded``."""
    if isinstance(node, Term):
        return _contains(folded, str(node.value))
    assert isinstance(node, (And, Or))
    parts = [_like(i, folded) for i in node.items]
    return sa.and_(*parts) if isinstance(node, And) else sa.or_(*parts)


def _tsquery(node: Node) -> str | None:
    """A tsquery on the word suffixes that every prompt the subtree matches satisfies (None: the
    index cannot narrow it down)."""
    if isinstance(node, Term):
        pieces = [f"'{p}':*" for p in dict.fromkeys(word_pieces(str(node.value)))]  # letters, digits: no quoting
        return " & ".join(pieces) if pieces else None
    assert isinstance(node, (And, Or))
    parts = [_tsquery(i) for i in node.items]
    if isinstance(node, And):
        kept = [p for p in parts if p]
        return " & ".join(f"({p})" for p in kept) if kept else None
    if any(p is None for p in parts):
        return None
    return " | ".join(f"({p})" for p in parts)


def _all_exact(node: Node) -> bool:
    if isinstance(node, Term):
        return _index_is_exact(str(node.value))
    return all(_all_exact(i) for i in node.items)  # type: ignore[union-attr]


def words(text: str) -> Node | None:
    """Plain search text (not the filter language) as a tree: every word in the prompt."""
    found = text.split()[:32]
    if not found:
        return None
    return Term("text", value=found[0]) if len(found) == 1 else And(tuple(Term("text", value=w) for w in found))


# --- looking up what a filter names -----------------------------------------------------------------

class _Resolver:
    """Looks up, in the caller's transaction, the ids of what a filter names."""

    def __init__(self, s: Session, *, complete: bool = False) -> None:
        self.s = s
        self.complete = complete  # every match wanted (a count), not only the first page's
        self.joins_prompts = False  # some word is tested on the listing's own prompt row
        self.no_seqscan = False  # the statement holds a subquery on the suffix index

    def ids(self, q: sa.Select[Any]) -> list[int]:
        return sorted({int(i) for i in self.s.execute(q).scalars()})

    def _prompt_query(self, node: Node) -> sa.Select[tuple[int]] | None:
        query = _tsquery(node)
        if query is None:
            return None
        match = sa.cast(sa.func.lower(_text(query)), TSQUERY)
        folded: Any
        if team.member_under_rls(self.s):
            # A team member: row-level security would keep the suffix index from serving this
            # (core/store/team.sql, imagefx_search_prompts, which keeps what the member may see).
            found = sa.func.imagefx_search_prompts(match).table_valued(
                sa.column("id", sa.Integer), sa.column("prompt_folded", sa.Text))
            q = sa.select(found.c.id)
            folded = found.c.prompt_folded
        else:
            q = sa.select(Prompt.id).where(sa.func.imagefx_word_suffixes(Prompt.prompt_text).op("@@")(match))
            folded = Prompt.prompt_folded
        if not _all_exact(node):
            # ``|| ''``: no index may serve this LIKE. Where pg_trgm exists the planner would AND the
            # trigram index (lossy) with the suffix index, and each recheck would recompute the
            # prompt's suffixes (~0.1 ms).
            q = q.where(_like(node, sa.func.concat(folded, _text(""))))
        return q

    def prompts(self, node: Node) -> list[int] | None:
        """The prompts a text subtree matches, through the word-suffix index; None when there are
        more than :data:`ANY_LIMIT` or the index cannot help."""
        q = self._prompt_query(node)
        if q is None:
            return None
        # The index always: a sequential scan would compute the suffixes of every prompt.
        self.s.execute(sa.text(NO_SEQSCAN))
        try:
            found = self.ids(q.limit(ANY_LIMIT + 1))
        finally:
            self.s.execute(sa.text(SEQSCAN))
        return found if len(found) <= ANY_LIMIT else None

    def text(self, node: Node) -> sa.ColumnElement[bool]:
        if self.complete:
            # A count reads every match anyway: the matching prompts as a subquery in the same
            # statement (no trip of their ids through Python), which runs without sequential scans
            # (Compiled.no_seqscan): through the suffix index, and the live images' prompt_id index.
            q = self._prompt_query(node)
            if q is not None:
                self.no_seqscan = True
                return sa.func.coalesce(GeneratedImage.prompt_id.in_(q), sa.false())
        else:
            found = self.prompts(node)
            if found is not None:
                return _any(GeneratedImage.prompt_id, found)
        self.joins_prompts = True  # a common word: LIKE on the listing's prompt row
        return _like(node, Prompt.prompt_folded)


# --- terms ----------------------------------------------------------------------------------------

_MARKS: dict[str, Any] = {"tag": ImageTag, "board": BoardImage, "note": ImageNote, "rating": ImageRating}
# Terms that are never NULL (EXISTS, NOT NULL columns): NOT needs no coalesce() around them, and
# NOT EXISTS stays an anti-join the planner can run either way round.
_NEVER_NULL = frozenset({"tag", "board", "stars", "fav", "id", "media", "account", "note", "has", "is", "in"})


def _marked(table: Any, where: Callable[[Any], sa.ColumnElement[bool]] | None = None) -> sa.ColumnElement[bool]:
    """The image has a row in ``table`` (image_tags, board_images, …) meeting ``where(row)``. An
    alias of its own: the listing joins image_ratings too, for the stars it shows."""
    row = aliased(table)
    return sa.exists().where(row.image_id == GeneratedImage.id, *(() if where is None else (where(row),)))
_OPS = {"=": "__eq__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def _compare(column: Any, op: str, value: int) -> sa.ColumnElement[bool]:
    return getattr(column, _OPS[op])(sa.bindparam(None, value, type_=sa.BigInteger))  # type: ignore[no-any-return]


def _python_compare(a: int, op: str, b: int) -> bool:
    return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _stars(op: str, value: int) -> sa.ColumnElement[bool]:
    wanted = {r for r in range(6) if _python_compare(r, op, value)}
    if not wanted:
        return sa.false()
    if len(wanted) == 6:
        return sa.true()
    if 0 in wanted:  # unrated images have no row: "not rated otherwise"
        return sa.not_(_marked(ImageRating, lambda row: sa.not_(_compare(row.rating, op, value))))
    return _marked(ImageRating, lambda row: _compare(row.rating, op, value))


def _models(value: str) -> list[str]:
    from core.imagefx.protocol import MODEL_ALIASES, normalize_model

    target = normalize_model(value)
    return sorted({value, target} | {alias for alias, t in MODEL_ALIASES.items() if t == target})


def _term(t: Term, r: _Resolver) -> sa.ColumnElement[bool]:
    gi = GeneratedImage
    f, v = t.field, t.value
    if f == "text":
        return r.text(t)
    if f == "tag":
        tags = r.ids(sa.select(Tag.id).where(_name_is(Tag.name_folded, str(v), t.prefix)))
        return _marked(ImageTag, lambda row: _any(row.tag_id, tags)) if tags else sa.false()
    if f == "board":
        boards = r.ids(sa.select(Board.id).where(_name_is(Board.name_folded, str(v), t.prefix)))
        return _marked(BoardImage, lambda row: _any(row.board_id, boards)) if boards else sa.false()
    if f == "stars":
        assert isinstance(v, int)
        return _stars(t.op, v)
    if f == "fav":
        return gi.is_favorite.expression  # as the partial favourites index says it (not "IS TRUE")
    if f == "model":
        if t.prefix:
            return sa.func.upper(gi.model_name_type).like(_text(like_escape(str(v)) + "%"))
        # The names as stored (upper case, core/imagefx/protocol.py): the column itself, so that the
        # live images' model index counts them without reading the table.
        return gi.model_name_type.in_([_text(m) for m in _models(str(v))])
    if f == "aspect":
        return gi.aspect_ratio == _text(str(v))
    if f == "seed":
        assert isinstance(v, int)
        return _compare(gi.seed, t.op, v)
    if f == "id":
        assert isinstance(v, int)
        return _compare(gi.id, t.op, v)
    if f == "media":
        return gi.media_generation_id == _text(str(v))
    if f == "account":
        # The directory: a team member's account: filter names other members too (issue 15).
        directory = UserDirectory.c
        return _any(gi.user_id, r.ids(sa.select(directory.id).where(_contains(sa.func.lower(directory.email), str(v)))))
    if f == "before":
        return gi.created_at < sa.bindparam(None, v, type_=sa.DateTime(timezone=True))
    if f == "after":
        return gi.created_at >= sa.bindparam(None, v, type_=sa.DateTime(timezone=True))
    if f == "note":
        notes = sa.select(ImageNote.image_id).where(_contains(sa.func.lower(ImageNote.note), str(v)))
        return _any(gi.id, r.ids(notes))
    if f == "has":
        return _marked(_MARKS[str(v)])
    if f == "is":  # rated / unrated ("is:fav" is parsed as fav)
        rated = _marked(ImageRating)
        return rated if v == "rated" else sa.not_(rated)
    if f == "in":  # a scope, not a condition (see compile_filter)
        return sa.true()
    raise AssertionError(f"unknown filter field {f!r}")  # the parser makes only the fields above


def _mark_rows(node: Node, r: _Resolver) -> sa.Select[Any] | None:
    """``SELECT image_id FROM <marks> WHERE …`` for a term that is a mark of the image (a tag, a
    board, has:…), None for any other node."""
    if not isinstance(node, Term):
        return None
    if node.field in ("tag", "board"):
        model, marks, column = ((Tag, ImageTag, ImageTag.tag_id) if node.field == "tag"
                                else (Board, BoardImage, BoardImage.board_id))
        ids = r.ids(sa.select(model.id).where(_name_is(model.name_folded, str(node.value), node.prefix)))
        return sa.select(marks.image_id).where(_any(column, ids))
    if node.field == "has":
        return sa.select(_MARKS[str(node.value)].image_id)
    return None


def mark_rows(s: Session, node: Node | None) -> sa.Select[Any] | None:
    """For counting: the mark rows of a filter that is one mark term (``tag:x``, ``has:board``…)."""
    return None if node is None else _mark_rows(node, _Resolver(s))


def _node(node: Node, r: _Resolver) -> sa.ColumnElement[bool]:
    if _is_text(node):  # the words of a subtree together: one lookup
        return r.text(node)
    if isinstance(node, Term):
        return _term(node, r)
    if isinstance(node, Not):
        inner = _node(node.item, r)
        if all(t.field in _NEVER_NULL for t in terms(node.item)):
            return sa.not_(inner)
        # A NULL (an image without a prompt row, model or seed) does not match: NOT must find it.
        # (Only where NULL can happen: coalesce() keeps the planner from using an index or an anti-join.)
        return sa.not_(sa.func.coalesce(inner, sa.false()))
    group = And if isinstance(node, And) else Or
    text = [i for i in node.items if _is_text(i)]
    parts = [_node(i, r) for i in node.items if not _is_text(i)]
    if text:
        parts.insert(0, _node(text[0] if len(text) == 1 else group(tuple(text)), r))
    return sa.and_(*parts) if group is And else sa.or_(*parts)


def compile_filter(s: Session, node: Node | None, *, search: str = "", complete: bool = False) -> Compiled:
    """The condition and scope of a parsed filter (``core.filters.parse``) together with plain search
    words (``search``), what they name looked up in ``s``. ``complete``: for a count, which reads
    every match anyway (all of a word's prompts, not the first ones)."""
    plain = words(search) if search else None
    if plain is not None:
        node = plain if node is None else And((plain, node))
    if node is None:
        return NO_FILTER
    scopes = {t.value for t in terms(node) if t.field == "in"}
    scope = "trash" if "trash" in scopes else "any" if "any" in scopes else "library"
    resolver = _Resolver(s, complete=complete)
    condition = _node(node, resolver)
    return Compiled(condition, scope, needs_prompts=resolver.joins_prompts, no_seqscan=resolver.no_seqscan)


def prompt_condition(s: Session, search: str) -> sa.ColumnElement[bool] | None:
    """Plain search words as a condition on ``prompts`` rows (``history --search``)."""
    node = words(search)
    if node is None:
        return None
    found = _Resolver(s).prompts(node)
    if found is None:
        return _like(node, Prompt.prompt_folded)
    return _any(Prompt.id, found)


def order_by(sort: str) -> list[sa.UnaryExpression[Any]]:
    """The keyset order of a listing (``rating``'s is in :func:`core.store.repo.sorted_page`)."""
    if sort == "oldest":
        return [GeneratedImage.created_at.asc(), GeneratedImage.id.asc()]
    return [GeneratedImage.created_at.desc(), GeneratedImage.id.desc()]
