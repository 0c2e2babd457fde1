"""The library's filter language: one parser for the gallery's search box and ``history --filter``.

``golden hour tag:cat -tag:draft (stars:>=4 OR fav) model:imagen_4 after:2026-01-01``

- Free text: every word must occur in the prompt, as a word or inside one (``ighthou`` finds
  *lighthouse*), case-insensitively; ``"golden hour"`` in quotes must occur as it is written.
- Terms: ``tag:`` ``board:`` (a name; quote names with spaces; a trailing ``*`` matches names
  that start with it), ``stars:`` / ``rating:`` (``stars:4``, ``stars:>=4``, also ``=`` ``<``
  ``<=`` ``>``), ``fav``, ``model:``, ``aspect:`` (``square``, ``portrait``, ``landscape``,
  ``16:9`` …), ``seed:`` and ``id:`` (a number, with the same comparisons), ``media:`` (a media
  id), ``account:`` / ``user:`` (part of the e-mail), ``before:`` / ``after:`` / ``on:``
  (``2026-03-01``, ``2026-03``, ``2026``, ``today``, ``yesterday``, ``7d``, ``2w``, ``3m``,
  ``1y``), ``note:`` (text in the note), ``prompt:``, ``has:tag|board|note|rating``,
  ``is:fav|rated|unrated``, ``in:trash`` / ``in:any``.
- ``AND`` (or nothing between terms), ``OR``, ``NOT`` or a leading ``-``, and parentheses.
  The operators are upper case: a lower-case *or* is a word of the prompt.

:func:`parse` turns text into a small tree (:class:`Term`, :class:`And`, :class:`Or`,
:class:`Not`) or raises :class:`FilterError`, one sentence naming the position. The tree holds
plain values only: ``core.store.filtering`` compiles it to SQL with bound parameters, so no
text a user types ever becomes SQL. tests/core/test_filters.py fuzzes both with hypothesis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Union

MAX_LENGTH = 2000  # characters; a filter is typed or pasted, not generated
MAX_TERMS = 64
MAX_DEPTH = 24  # nesting of parentheses and NOTs

COMPARISONS = ("<=", ">=", "<", ">", "=")
_OP_RE = re.compile(r"(<=|>=|<|>|=)?")
_NUMBER_RE = re.compile(r"[0-9]{1,18}")
_KEY_RE = re.compile(r"([A-Za-z]+)(:|<=|>=|<|>|=)")
_RELATIVE_RE = re.compile(r"([0-9]{1,5})([dwmy])", re.IGNORECASE)
_DATE_RE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")

# key typed -> field of the tree
KEYS: dict[str, str] = {
    "tag": "tag", "tags": "tag", "board": "board", "stars": "stars", "rating": "stars", "model": "model",
    "aspect": "aspect", "seed": "seed", "account": "account", "user": "account", "before": "before",
    "after": "after", "on": "on", "date": "on", "note": "note", "prompt": "text", "has": "has", "is": "is",
    "in": "in", "id": "id", "media": "media",
}
HAS_VALUES = {"tag": "tag", "tags": "tag", "board": "board", "boards": "board", "note": "note", "notes": "note",
              "rating": "rating", "stars": "rating"}
IS_VALUES = {"fav": "fav", "favorite": "fav", "favourite": "fav", "favorites": "fav", "favourites": "fav",
             "rated": "rated", "unrated": "unrated"}
IN_VALUES = {"trash": "trash", "trashed": "trash", "any": "any", "all": "any"}
ASPECTS = {"1:1": "IMAGE_ASPECT_RATIO_SQUARE", "9:16": "IMAGE_ASPECT_RATIO_PORTRAIT",
           "16:9": "IMAGE_ASPECT_RATIO_LANDSCAPE", "4:3": "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE"}
_ORDERED = {"stars", "seed", "id"}  # fields that take <, <=, >, >=
_SHOW_KEYS = "tag:, board:, stars:, fav, model:, aspect:, seed:, account:, before:, after:, note:, has:, is:"


class FilterError(ValueError):
    """A filter that cannot be read: ``str()`` is one sentence for the user, naming the place."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position  # 1-based character position in the filter text


@dataclass(frozen=True, slots=True)
class Term:
    """One condition. ``field`` is one of the values of :data:`KEYS` (``text`` = the prompt, also
    ``fav``); ``value`` a str, an int, a datetime or None; ``prefix``: a name ending in ``*``."""

    field: str
    op: str = "="
    value: str | int | datetime | None = None
    prefix: bool = False
    phrase: bool = False  # quoted free text: occurs as written
    position: int = 0


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


Node = Union[Term, And, Or, Not]  # noqa: UP007 (a runtime alias used in isinstance-free annotations)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(", ")", "OR", "AND", "NOT", "-", "WORD", "QUOTED"
    text: str
    position: int
    key: str | None = None  # WORD with a key: the key as typed; QUOTED: a key before the quote
    sep: str = ""


def _fail(message: str, position: int) -> FilterError:
    return FilterError(f"{message} (position {position}).", position)


def _check_text(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise _fail(f"The filter is {len(text):,} characters long; the limit is {MAX_LENGTH:,}", MAX_LENGTH + 1)
    for i, ch in enumerate(text):
        if ch == "\x00":
            raise _fail("The filter contains a NUL character, which cannot be searched for", i + 1)
        if "\ud800" <= ch <= "\udfff":
            raise _fail("The filter contains bytes that are not valid UTF-8 text", i + 1)


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            out.append(_Token(ch, ch, i + 1))
            i += 1
            continue
        if ch == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] != ")":
            out.append(_Token("-", ch, i + 1))
            i += 1
            continue
        if ch == '"':
            value, i = _quoted(text, i)
            out.append(_Token("QUOTED", value, i - len(value) - 1))
            continue
        start = i
        m = _KEY_RE.match(text, i)
        if m and m.end() < n and text[m.end()] == '"':  # key:"quoted value"
            value, i = _quoted(text, m.end())
            out.append(_Token("QUOTED", value, start + 1, key=m.group(1), sep=m.group(2)))
            continue
        while i < n and not text[i].isspace() and text[i] not in '()"':
            i += 1
        word = text[start:i]
        if word in ("OR", "AND", "NOT") or word == "|":
            out.append(_Token("OR" if word == "|" else word, word, start + 1))
        else:
            out.append(_Token("WORD", word, start + 1))
    return out


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The text between the quote at ``i`` and its closing quote (``\\"`` is a quote inside)."""
    j, chars = i + 1, []
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
            chars.append(text[j + 1])
            j += 2
            continue
        if ch == '"':
            return "".join(chars), j + 1
        chars.append(ch)
        j += 1
    raise _fail('The quote is never closed; add a " at the end', i + 1)


class _Parser:
    def __init__(self, tokens: list[_Token], length: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end = length + 1
        self.terms = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:  # only a stray ")" stops an expression early
            raise _fail('This ")" has no "(" before it', tok.position)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            if self.peek() is None or self.peek().kind in (")", "OR", "AND"):  # type: ignore[union-attr]
                raise _fail("OR needs a term after it", tok.position)
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise _fail("The filter ends where a term is expected", self.end)
        if tok.kind in ("OR", "AND"):
            raise _fail(f"{tok.text} needs a term before it", tok.position)
        if tok.kind == ")":
            raise _fail('Nothing between "(" and ")"' if self.depth else 'This ")" has no "(" before it',
                        tok.position)
        items = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.take()
                nxt = self.peek()
                if nxt is None or nxt.kind in (")", "OR", "AND"):
                    raise _fail("AND needs a term after it", tok.position)
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        tok = self.take()
        if tok.kind in ("NOT", "-"):
            nxt = self.peek()
            if nxt is None or nxt.kind in (")", "OR", "AND"):
                raise _fail(f"{'NOT' if tok.kind == 'NOT' else '-'} needs a term after it", tok.position)
            return Not(self.nested(tok, self.unary))
        if tok.kind == "(":
            node = self.nested(tok, self.or_expr)
            close = self.peek()
            if close is None or close.kind != ")":
                raise _fail('This "(" is never closed; add a ")"', tok.position)
            self.take()
            return node
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _fail(f"The filter has more than {MAX_TERMS} terms", tok.position)
        return _term(tok)

    def nested(self, tok: _Token, parse: object) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(f"The filter nests more than {MAX_DEPTH} levels deep", tok.position)
        try:
            return parse()  # type: ignore[operator, no-any-return]
        finally:
            self.depth -= 1


def _term(tok: _Token) -> Node:
    pos = tok.position
    if tok.kind == "QUOTED":
        if tok.key is None:
            return Term("text", value=tok.text, phrase=True, position=pos)
        return _keyed(tok.key, tok.sep, tok.text, pos, quoted=True)
    word = tok.text
    if word.lower() == "fav":
        return Term("fav", position=pos)
    m = _KEY_RE.match(word)
    if m and m.group(1).lower() in KEYS:
        return _keyed(m.group(1), m.group(2), word[m.end():], pos, quoted=False)
    if m and m.group(2) == ":" and not any(c in word for c in "/\\@."):  # looks like a key, is not one
        raise _fail(f"Unknown filter {m.group(1)}:; use one of {_SHOW_KEYS} (or put the text in quotes)", pos)
    return Term("text", value=word, position=pos)


def _keyed(key: str, sep: str, value: str, pos: int, *, quoted: bool) -> Node:
    field = KEYS.get(key.lower())
    if field is None:
        raise _fail(f"Unknown filter {key}:; use one of {_SHOW_KEYS}", pos)
    op = "="
    if sep != ":":
        op = sep
    elif not quoted:
        m = _OP_RE.match(value)
        if m and m.group(1):
            op, value = m.group(1), value[m.end():]
    if op != "=" and field not in _ORDERED:
        raise _fail(f"{key}: does not compare with {op}; only stars:, seed: and id: do", pos)
    value_pos = pos + len(key) + 1
    if not value:
        raise _fail(f"{key}: needs a value after it", value_pos)
    if field in ("tag", "board"):
        prefix = not quoted and value.endswith("*") and len(value) > 1
        name = value[:-1] if prefix else value
        if not name.strip():
            raise _fail(f"{key}: needs a name", value_pos)
        return Term(field, value=name.strip(), prefix=prefix, position=pos)
    if field in ("stars", "seed", "id"):
        if not _NUMBER_RE.fullmatch(value):
            raise _fail(f"{key}: needs a whole number, not {value!r}", value_pos)
        n = int(value)
        if field == "stars" and n > 5:
            raise _fail(f"{key}: goes from 0 to 5, not {n}", value_pos)
        return Term(field, op=op, value=n, position=pos)
    if field in ("before", "after", "on"):
        start, end = _when(value, key, value_pos)
        if field == "on":  # one day, month or year: from its start to its end
            return And((Term("after", value=start, position=pos), Term("before", value=end, position=pos)))
        return Term(field, value=start, position=pos)
    if field == "aspect":
        return Term(field, value=_aspect(value, key, value_pos), position=pos)
    if field == "model":
        prefix = not quoted and value.endswith("*") and len(value) > 1
        return Term(field, value=(value[:-1] if prefix else value).strip().upper(), prefix=prefix, position=pos)
    if field in ("has", "is", "in"):
        table = {"has": HAS_VALUES, "is": IS_VALUES, "in": IN_VALUES}[field]
        found = table.get(value.lower())
        if found is None:
            raise _fail(f"{key}: takes {', '.join(sorted(set(table)))}, not {value!r}", value_pos)
        if field == "is" and found == "fav":
            return Term("fav", position=pos)
        return Term(field, value=found, position=pos)
    # text, note, account, media: plain text
    return Term(field, value=value, phrase=quoted, position=pos)


def _aspect(value: str, key: str, pos: int) -> str:
    from core.imagefx.protocol import normalize_aspect_ratio  # the app's one list of aspect names

    if value in ASPECTS:
        return ASPECTS[value]
    try:
        return normalize_aspect_ratio(value)
    except ValueError:
        raise _fail(f"{key}: takes square, portrait, landscape, landscape_four_three, 1:1, 9:16, 16:9 or 4:3, "
                    f"not {value!r}", pos) from None


def _when(value: str, key: str, pos: int, *, today: date | None = None) -> tuple[datetime, datetime]:
    """The local times a date term's day, month or year starts and ends at (``before:X`` is earlier
    than the start, ``after:X`` from the start on, ``on:X`` from the start to the end)."""
    today = today or date.today()
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        day = today if text == "today" else today - timedelta(days=1)
        return _local(day), _local(day + timedelta(days=1))
    m = _RELATIVE_RE.fullmatch(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        days = n * {"d": 1, "w": 7, "m": 30, "y": 365}[unit]
        if days > 100 * 365:
            raise _fail(f"{key}: reaches back more than a hundred years", pos)
        day = today - timedelta(days=days)
        return _local(day), _local(day + timedelta(days=1))
    m = _DATE_RE.fullmatch(text)
    if m:
        try:
            year = int(m.group(1))
            if m.group(3):
                start = date(year, int(m.group(2)), int(m.group(3)))
                return _local(start), _local(start + timedelta(days=1))
            if m.group(2):
                month = int(m.group(2))
                start = date(year, month, 1)
                end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
                return _local(start), _local(end)
            return _local(date(year, 1, 1)), _local(date(year + 1, 1, 1))
        except (ValueError, OverflowError):
            pass
    raise _fail(f"{key}: needs a date such as 2026-03-01, 2026-03, 2026, today, yesterday or 7d, not {value!r}",
                pos)


def _local(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def parse(text: str) -> Node | None:
    """The tree for a filter, or None for an empty one. Raises :class:`FilterError`."""
    _check_text(text)
    return _Parser(_tokens(text), len(text)).parse()


def terms(node: Node | None) -> list[Term]:
    """Every term of a tree, in order."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms(node.item)
    out: list[Term] = []
    for item in node.items:
        out.extend(terms(item))
    return out


def quote(value: str) -> str:
    """A name as the filter language reads it back (``tag:"golden hour"``)."""
    if value and not any(c.isspace() or c in '()"*' for c in value) and not value.startswith("-"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
