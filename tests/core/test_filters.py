"""The filter language: what the parser makes of text, and, fuzzed with hypothesis, that no text
crashes it or becomes SQL: every filter is a clean FilterError naming a position in the text,
or a query with bound parameters only that runs on a real server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.filters import And, FilterError, Not, Or, Term, parse, quote
from core.service import FilterInvalid, Service

# --- the parser -------------------------------------------------------------------------------


def test_terms_operators_quotes_and_precedence() -> None:
    tag, fav = Term("tag", value="cat", position=1), Term("fav", position=9)
    assert parse("tag:cat fav") == And((tag, fav))
    assert parse("tag:cat AND fav") == And((tag, Term("fav", position=13)))
    # AND binds tighter than OR; NOT and "-" bind tightest; parentheses group.
    node = parse('a OR b -c (d OR "e f")')
    assert isinstance(node, Or) and node.items[0] == Term("text", value="a", position=1)
    second = node.items[1]
    assert isinstance(second, And) and isinstance(second.items[1], Not) and isinstance(second.items[2], Or)
    assert second.items[2].items[1] == Term("text", value="e f", phrase=True, position=17)
    assert parse("stars:>=4") == Term("stars", op=">=", value=4, position=1)
    assert parse("rating<2") == Term("stars", op="<", value=2, position=1)
    assert parse('board:"My best"') == Term("board", value="My best", position=1)
    assert parse("tag:gold*") == Term("tag", value="gold", prefix=True, position=1)
    assert parse("or and not") == And(tuple(Term("text", value=w, position=p) for w, p in
                                            (("or", 1), ("and", 4), ("not", 8))))  # lower case: words
    assert parse("12:30 http://x.org") is not None  # not keys: text
    when = parse("on:2026-03")
    assert isinstance(when, And) and [t.field for t in when.items] == ["after", "before"]  # type: ignore[union-attr]
    start, end = (t.value for t in when.items)  # type: ignore[union-attr]
    assert isinstance(start, datetime) and (start.month, end.month) == (3, 4)  # type: ignore[union-attr]
    assert parse("") is None and parse("   ") is None
    tricky = 'a "b'
    assert quote("golden hour") == '"golden hour"' and parse("tag:" + quote(tricky)) == Term(
        "tag", value=tricky, position=1)


@pytest.mark.parametrize(("text", "position", "words"), [
    ('tag:"open', 5, "never closed"), ("cat OR", 5, "OR needs a term after"), ("OR cat", 1, "before it"),
    ("(cat", 1, "never closed"), ("cat)", 4, "no \"(\""), ("()", 2, "Nothing between"), ("stars:9", 7, "0 to 5"),
    ("stars:x", 7, "whole number"), ("tag:", 5, "needs a value"), ("color:red", 1, "Unknown filter color:"),
    ("tag>=3", 1, "does not compare"), ("before:someday", 8, "needs a date"), ("aspect:round", 8, "square"),
    ("has:wings", 5, "takes"), ("a\x00b", 2, "NUL"), ("a\udcffb", 2, "not valid UTF-8"),
    ("(" * 30 + "a" + ")" * 30, 25, "nests"), (" ".join(["a"] * 70), 129, "more than 64 terms"),
])
def test_a_malformed_filter_is_one_sentence_naming_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(text)
    message = str(info.value)
    assert info.value.position == position and words in message, message
    assert message.endswith(f"(position {position}).") and message.count(". ") == 0


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=120))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse(text)
    except FilterError as exc:
        assert 1 <= exc.position <= len(text) + 1 and str(exc).endswith(f"(position {exc.position}).")


# --- fuzzed against a real server ---------------------------------------------------------------

PIECES = ["tag:", "board:", "stars:>=", "stars:", "rating<", "(", ")", " OR ", " AND ", " NOT ", " -", '"', "fav",
          "model:", "aspect:", "seed:<", "id:", "after:", "before:", "on:", "note:", "has:", "is:", "in:", "media:",
          "account:", "prompt:", "*", " ", "cat", "2026-03", "7d", "16:9", "square", "rated", "'", ";", "--", "%",
          "_", "\\", "DROP TABLE users", "$$", "😀", "ß", "İstanbul", "lighthouse", "x" * 40, "0", "5", "99999999999"]
FILTERS = st.one_of(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=12).map("".join),
    st.text(max_size=40),
)
_PLACEHOLDER = re.compile(r"%\(\w+\)s")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.fixture(scope="module")
def fuzz_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service on one database for all examples (read-only: the examples only query)."""
    from core.config import load_settings
    from core.store import Database
    from tests.core.test_library import store
    from tests.support.pg import TcpPostgres, create_database, drop_database

    server = TcpPostgres().start()
    name, url = create_database(server.url())
    settings = load_settings().with_overrides(data_dir=tmp_path_factory.mktemp("fuzz"))
    svc = Service(settings, database=Database(settings, url=url)).open()
    ids = store(svc, "A lighthouse at golden hour", ["CAMaF1", "CAMaF2"])
    svc.library.add_tags(ids, ["cat"])
    svc.library.add_to_board("Best", ids[:1], create=True)
    svc.library.set_rating(ids[:1], 4)
    svc.library.set_note(ids[1], "a note")
    yield svc
    svc.close()
    drop_database(server.url(), name)
    server.stop()


class _Statements:
    """Every statement the service sends while a filter runs, with its parameters."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        self.seen.append((statement, params))


def _vocabulary(svc: Service) -> set[str]:
    """The words our own SQL is made of, from filters that use every kind of term."""
    single = ["lighthouse", '"golden hour"', "light-house", "tag:cat", "tag:c*", "board:best", "board:b*",
              "stars:>=3", "stars:0", "stars:5", "fav", "model:m*", "model:m", "aspect:square",
              "seed:<3", "id:1", "media:x", "account:example", "before:2026", "after:7d", "note:note", "has:tag",
              "has:board", "has:note", "has:rating", "is:rated", "is:unrated", "in:trash", "in:any"]
    corpus = single + ["-" + t for t in single] + [
        'a "b c" -d (e OR f)', "-golden (golden OR light) tag:cat", "lighthouse OR tag:cat", "-(lighthouse fav)",
        "tag:cat OR board:best", "-(tag:cat OR has:board) fav", "-has:tag", "-board:best"]
    words: set[str] = set()
    with _Statements(svc.db.engine) as seen:
        for text in corpus:
            svc.gallery_page(filter=text, sort="rating")
            svc.count_images(filter=text)
            svc.history(filter=text)
    for statement, _ in seen.seen:
        words |= set(_WORD.findall(_PLACEHOLDER.sub(" ", statement)))
    return words


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=FILTERS)
def test_no_filter_crashes_or_becomes_sql(fuzz_service: Service, text: str) -> None:
    svc = fuzz_service
    vocabulary = getattr(svc, "_fuzz_vocabulary", None) or _vocabulary(svc)
    svc._fuzz_vocabulary = vocabulary  # type: ignore[attr-defined]
    with _Statements(svc.db.engine) as seen:
        try:
            page = svc.gallery_page(filter=text, limit=10)
            assert svc.count_images(filter=text) >= len(page)
            svc.history(filter=text, sort="rating", limit=5)
        except FilterInvalid as exc:  # the only failure a filter may cause
            assert str(exc).endswith(f"(position {exc.position}).")
            return
    for statement, _params in seen.seen:
        sql = _PLACEHOLDER.sub(" ", statement)
        assert "'" not in sql and '"' not in sql and "$$" not in sql, statement  # no literal at all
        assert set(_WORD.findall(sql)) <= vocabulary, (text, statement)
