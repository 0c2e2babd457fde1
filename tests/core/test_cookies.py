"""Cookie input: the raw header, a cookie-editor JSON export and a Netscape cookies.txt.

Whatever a user pastes either becomes a ``Cookie`` header that can be sent over HTTP, or a
:class:`CookieFormatError` that says what is wrong, never another exception.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.imagefx import CookieFormatError, parse_cookie
from core.imagefx.cookies import cookie_dict, detect_format, merge_set_cookies
from core.imagefx.errors import AuthError

SESSION = "__Secure-next-auth.session-token"
SECRET = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..sessionvalue-1234567890"


def _export(*cookies: tuple[str, str, str]) -> str:
    return json.dumps([{"name": n, "value": v, "domain": d, "path": "/", "secure": True} for n, v, d in cookies])


def test_raw_header_is_kept_in_order() -> None:
    header = f"_ga=GA1.1.123; {SESSION}={SECRET}; __Secure-next-auth.callback-url=https%3A%2F%2Flabs.google"
    assert parse_cookie(header) == header


def test_raw_header_copied_with_its_name_and_whitespace() -> None:
    text = f"\ufeffCookie:   _ga=GA1.1.123 ;{SESSION}={SECRET};\n"
    assert parse_cookie(text) == f"_ga=GA1.1.123; {SESSION}={SECRET}"


def test_cookie_editor_json_keeps_only_labs_google_cookies() -> None:
    text = _export(("_ga", "GA1.1.9", ".labs.google"),
                   (SESSION, SECRET, "labs.google"),
                   ("SID", "google-account-cookie", ".google.com"),
                   ("NID", "accounts", "accounts.google.com"))
    assert parse_cookie(text) == f"_ga=GA1.1.9; {SESSION}={SECRET}"


def test_cookie_editor_json_wrapped_in_an_object() -> None:
    text = json.dumps({"cookies": [{"name": SESSION, "value": SECRET, "domain": "labs.google"}]})
    assert parse_cookie(text) == f"{SESSION}={SECRET}"


def test_netscape_cookies_txt() -> None:
    text = "\n".join([
        "# Netscape HTTP Cookie File",
        "# https://curl.se/docs/http-cookies.html",
        "",
        ".labs.google\tTRUE\t/\tFALSE\t1893456000\t_ga\tGA1.1.5",
        f"#HttpOnly_labs.google\tFALSE\t/\tTRUE\t1893456000\t{SESSION}\t{SECRET}",
        ".google.com\tTRUE\t/\tTRUE\t1893456000\tSID\tnot-for-labs",
    ]) + "\n"
    assert detect_format(text) == "netscape"
    assert parse_cookie(text) == f"_ga=GA1.1.5; {SESSION}={SECRET}"


@pytest.mark.parametrize("text", [
    "_ga=GA1.1.123; __Secure-next-auth.callback-url=https%3A%2F%2Flabs.google",
    _export(("_ga", "GA1.1.9", ".labs.google")),
    f".labs.google\tTRUE\t/\tFALSE\t0\t_ga\tGA1.1.5\n.labs.google\tTRUE\t/\tFALSE\t0\t{SESSION}\t",
], ids=["header", "json", "netscape-empty-value-last"])
@pytest.mark.fault_case("bad input: cookie missing the session token")
def test_missing_session_cookie_is_a_clear_error(text: str) -> None:
    with pytest.raises(CookieFormatError) as info:
        parse_cookie(text)
    assert info.value.kind == AuthError.MISSING_SESSION_COOKIE
    assert SESSION in str(info.value)


def test_cookies_of_other_sites_only_is_a_clear_error() -> None:
    with pytest.raises(CookieFormatError) as info:
        parse_cookie(_export((SESSION, SECRET, ".google.com")))  # right name, wrong site
    assert info.value.kind == AuthError.MISSING_SESSION_COOKIE
    assert "labs.google" in info.value.user_message


def test_netscape_line_with_an_empty_value_at_the_end_of_the_file() -> None:
    text = f".labs.google\tTRUE\t/\tTRUE\t0\t{SESSION}\t{SECRET}\n.labs.google\tTRUE\t/\tFALSE\t0\tempty\t"
    assert parse_cookie(text) == f"{SESSION}={SECRET}; empty="


@pytest.mark.parametrize("text, kind", [
    ("", AuthError.NOT_SIGNED_IN),
    ("   \n", AuthError.NOT_SIGNED_IN),
    ("just some words", AuthError.BAD_COOKIE_FORMAT),
    ("[not json", AuthError.BAD_COOKIE_FORMAT),
    ('{"name": 1}', AuthError.BAD_COOKIE_FORMAT),
    ("a\tb\tc", AuthError.BAD_COOKIE_FORMAT),
    (f"{SESSION}=abc\x01def", AuthError.BAD_COOKIE_FORMAT),
])
@pytest.mark.fault_case("bad input: cookie junk")
def test_text_that_is_not_a_cookie(text: str, kind: str) -> None:
    with pytest.raises(CookieFormatError) as info:
        parse_cookie(text)
    assert info.value.kind == kind


@pytest.mark.parametrize("value", ["caf\u00e9-token-123", "token\u20ac123456", "tok\u00a0en12345"])
@pytest.mark.fault_case("bad input: cookie that cannot be sent")
def test_a_cookie_that_cannot_be_sent_is_refused_when_pasted(value: str) -> None:
    """HTTP headers are Latin-1 at most, and browsers only ever send ASCII cookies: refuse now,
    with a sentence, rather than crash with UnicodeEncodeError on the first request."""
    with pytest.raises(CookieFormatError) as info:
        parse_cookie(f"{SESSION}={value}")
    assert value not in str(info.value)


@pytest.mark.fault_case("security: cookie errors never repeat the cookie")
def test_error_messages_never_repeat_the_cookie() -> None:
    for text in (f"{SESSION}={SECRET}\x7f", f"_x={SECRET}", f"[{{\"name\": \"{SESSION}\", \"value\": 5}}]"):
        with pytest.raises(CookieFormatError) as info:
            parse_cookie(text)
        assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)


def test_rotated_values_replace_and_expired_ones_are_removed() -> None:
    header = f"_ga=1; {SESSION}=old; other=x"
    assert merge_set_cookies(header, {SESSION: "new", "other": ""}) == f"_ga=1; {SESSION}=new"
    assert cookie_dict(merge_set_cookies(header, {"added": "y"}))["added"] == "y"


# --- properties -------------------------------------------------------------------------------

# Cookie names are HTTP tokens; values are RFC 6265 cookie-octets (printable ASCII without
# space, quote, comma, semicolon and backslash), as browsers send them.
_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OCTET = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\')
names = st.text(alphabet=_TOKEN, min_size=1, max_size=20).filter(
    lambda n: n not in (SESSION, "next-auth.session-token") and not n.startswith("#"))
values = st.text(alphabet=_OCTET, min_size=1, max_size=40)
jars = st.tuples(st.dictionaries(names, values, max_size=6), values, st.integers(min_value=0, max_value=6))


def _with_session(jar: tuple[dict[str, str], str, int]) -> list[tuple[str, str]]:
    others, session_value, at = jar
    pairs = list(others.items())
    pairs.insert(min(at, len(pairs)), (SESSION, session_value))
    return pairs


def _header(pairs: list[tuple[str, str]]) -> str:
    return "; ".join(f"{n}={v}" for n, v in pairs)


@given(jars)
@pytest.mark.fault_case("bad input: cookies in each accepted form (hypothesis)")
def test_valid_jars_round_trip_through_all_three_forms(jar: tuple[dict[str, str], str, int]) -> None:
    pairs = _with_session(jar)
    expected = _header(pairs)
    as_json = json.dumps([{"name": n, "value": v, "domain": ".labs.google"} for n, v in pairs])
    as_netscape = "# Netscape HTTP Cookie File\n" + "".join(
        f".labs.google\tTRUE\t/\tTRUE\t1893456000\t{n}\t{v}\n" for n, v in pairs)
    for text in (expected, as_json, as_netscape):
        assert parse_cookie(text) == expected
    assert parse_cookie(expected) == expected  # parsing is idempotent


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "value", "domain", "cookies", "x"]), inner, max_size=4),
    max_leaves=12,
)
_PIECES = st.sampled_from([SESSION, "=", ";", " ", "\t", "\n", "#", "#HttpOnly_", ".labs.google", "[", "{",
                           "Cookie:", "\x00", "\u00e9", "\u20ac", "\ufeff", "TRUE", "/"])
_any_pairs = st.lists(st.tuples(st.sampled_from([SESSION, "_ga"]) | st.text(max_size=8), st.text(max_size=10)),
                      min_size=1, max_size=4)
arbitrary_text = st.one_of(
    st.text(),
    _any_pairs.map(lambda ps: "; ".join(f"{n}={v}" for n, v in ps)),
    st.tuples(_any_pairs, st.sampled_from(["labs.google", ".labs.google", ".google.com", ""])).map(
        lambda pd: json.dumps([{"name": n, "value": v, "domain": pd[1]} for n, v in pd[0]])),
    _any_pairs.map(lambda ps: "".join(f".labs.google\tTRUE\t/\tTRUE\t0\t{n}\t{v}\n" for n, v in ps)),
    st.lists(_PIECES | st.text(max_size=6), max_size=25).map("".join),
    _JSONISH.map(json.dumps),
    st.lists(st.lists(_PIECES | st.text(max_size=5), min_size=1, max_size=8).map("\t".join),
             max_size=4).map("\n".join),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary_text)
@pytest.mark.fault_case("bad input: cookie junk fuzzed (hypothesis)")
def test_arbitrary_text_is_a_sendable_cookie_or_a_cookie_format_error(text: str) -> None:
    try:
        header = parse_cookie(text)
    except CookieFormatError as exc:
        assert exc.user_message and exc.action
        return
    header.encode("ascii")  # what http.client will have to send
    assert parse_cookie(header) == header
    assert cookie_dict(header).get(SESSION) or cookie_dict(header).get("next-auth.session-token")
