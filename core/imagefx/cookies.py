"""Turn whatever the user pasted into the ``Cookie`` header labs.google expects.

Three forms are in use (see the protocol doc): the raw header string, a cookie-editor
JSON export (a list of ``{"name", "value", "domain"}`` objects), and a Netscape
``cookies.txt``. All become one ``name=value; …`` string, or a :class:`CookieFormatError`
that tells the user what is wrong, never a stack trace and never the cookie itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from core.imagefx.errors import AuthError, CookieFormatError
from core.imagefx.protocol import SESSION_COOKIE_NAMES

log = logging.getLogger(__name__)

LABS_HOST = "labs.google"
# RFC 6265 cookie-name is an HTTP token.
_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x1f\x7f;]")
# Browsers send cookies as ASCII; anything else cannot go into an HTTP header as is.
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _domain_matches(domain: str | None) -> bool:
    if not domain:
        return True
    d = domain.strip().lstrip(".").lower()
    if d.startswith("#httponly_"):
        d = d[len("#httponly_"):].lstrip(".")
    return LABS_HOST == d or LABS_HOST.endswith("." + d) and d != "google"


def _join(pairs: Iterable[tuple[str, str]]) -> str:
    seen: dict[str, str] = {}
    for name, value in pairs:
        seen[name] = value  # the last one wins, as in a browser's jar
    return "; ".join(f"{n}={v}" for n, v in seen.items())


def _check_pair(name: str, value: str) -> tuple[str, str]:
    if not _NAME_RE.match(name):
        raise CookieFormatError("The cookie contains a malformed name.", kind=AuthError.BAD_COOKIE_FORMAT)
    if _BAD_VALUE_CHARS.search(value):
        raise CookieFormatError("The cookie contains control characters.", kind=AuthError.BAD_COOKIE_FORMAT)
    if _NON_ASCII.search(value):
        raise CookieFormatError("The cookie contains characters a browser never sends (non-ASCII); it was "
                                "probably changed while copying.", kind=AuthError.BAD_COOKIE_FORMAT)
    return name, value


def _from_json(data: object) -> list[tuple[str, str]]:
    if isinstance(data, dict) and isinstance(data.get("cookies"), list):
        data = data["cookies"]
    if isinstance(data, dict) and "name" in data and "value" in data:
        data = [data]
    if not isinstance(data, list):
        raise CookieFormatError("The JSON is not a cookie export (expected a list of cookies).",
                                kind=AuthError.BAD_COOKIE_FORMAT)
    pairs = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("value"), str):
            raise CookieFormatError("The JSON cookie export has an entry without a name and value.",
                                    kind=AuthError.BAD_COOKIE_FORMAT)
        domain = item.get("domain")
        if _domain_matches(domain if isinstance(domain, str) else None):
            pairs.append(_check_pair(item["name"].strip(), item["value"].strip()))
    return pairs


def _from_netscape(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#") and not line.startswith("#HttpOnly_"):
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) != 7:
            raise CookieFormatError("The cookies.txt file has a line that is not 7 tab-separated fields.",
                                    kind=AuthError.BAD_COOKIE_FORMAT)
        domain, _flag, _path, _secure, _expiry, name, value = fields
        if _domain_matches(domain):
            pairs.append(_check_pair(name.strip(), value.strip()))
    return pairs


def _from_header(text: str) -> list[tuple[str, str]]:
    text = text.strip()
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:"):]
    pairs = []
    for piece in text.split(";"):
        piece = piece.strip()
        if not piece:
            continue
        if "=" not in piece:
            raise CookieFormatError("The cookie text is not a list of name=value pairs.",
                                    kind=AuthError.BAD_COOKIE_FORMAT)
        name, value = piece.split("=", 1)
        pairs.append(_check_pair(name.strip(), value.strip()))
    return pairs


def detect_format(text: str) -> str:
    """``json``, ``netscape`` or ``header``."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith(("[", "{")):
        return "json"
    if "\t" in stripped or stripped.startswith("# Netscape") or stripped.startswith("# HTTP Cookie File"):
        return "netscape"
    return "header"


def parse_cookie(text: str) -> str:
    """The ``Cookie`` header for labs.google, from any accepted form.

    Raises :class:`CookieFormatError` when the text is not a cookie, or when it lacks the
    labs.google session cookie (the most common mistake: a partial copy).
    """
    if not isinstance(text, str) or not text.strip():
        raise CookieFormatError("No cookie was given.", kind=AuthError.NOT_SIGNED_IN)
    stripped = text.lstrip("\ufeff").strip()
    fmt = detect_format(stripped)
    if fmt == "json":
        try:
            data = json.loads(stripped)
        except ValueError:
            raise CookieFormatError("The cookie looks like JSON but cannot be read as JSON.",
                                    kind=AuthError.BAD_COOKIE_FORMAT) from None
        pairs = _from_json(data)
    elif fmt == "netscape":
        # Not ``stripped``: the last line's empty value is a trailing tab that must stay.
        pairs = _from_netscape(text.lstrip("\ufeff"))
    else:
        pairs = _from_header(stripped)
    if not pairs:
        raise CookieFormatError("The cookie holds no cookies for labs.google.",
                                kind=AuthError.MISSING_SESSION_COOKIE)
    header = _join(pairs)
    if not has_session_cookie(header):
        raise CookieFormatError(
            "The cookie is missing the labs.google session cookie (__Secure-next-auth.session-token).",
            kind=AuthError.MISSING_SESSION_COOKIE,
            action="Copy the cookie again from a labs.google page while signed in, including "
                   "__Secure-next-auth.session-token.")
    return header


def cookie_dict(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for piece in header.split(";"):
        if "=" in piece:
            name, value = piece.split("=", 1)
            out[name.strip()] = value.strip()
    return out


def has_session_cookie(header: str) -> bool:
    names = cookie_dict(header)
    return any(names.get(n) for n in SESSION_COOKIE_NAMES)


def set_cookie_updates(lines: Iterable[str], now: datetime | None = None) -> dict[str, str]:
    """Name → new value from ``Set-Cookie`` header lines, ``""`` for a deletion (``Max-Age=0`` or
    an ``Expires`` in the past). Nothing is checked here: :func:`merge_set_cookies` does that."""
    now = now or datetime.now(UTC)
    updates: dict[str, str] = {}
    for line in lines:
        first, _, attributes = line.partition(";")
        if "=" not in first:
            continue
        name, value = first.split("=", 1)
        deleted = False
        for attr in attributes.split(";"):
            key, _, arg = attr.strip().partition("=")
            key = key.strip().lower()
            if key == "max-age":
                try:
                    deleted = deleted or int(arg.strip()) <= 0
                except ValueError:
                    pass
            elif key == "expires":
                try:
                    when = parsedate_to_datetime(arg.strip())
                except (TypeError, ValueError, IndexError):
                    continue
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                deleted = deleted or when <= now
        updates[name.strip()] = "" if deleted else value.strip()
    return updates


def merge_set_cookies(header: str, updates: dict[str, str]) -> str:
    """The header with rotated values from ``Set-Cookie`` applied (an empty value deletes).

    What the server sends is checked like a pasted cookie: a name that is not a token, a value
    with control characters or non-ASCII, cannot go into the next request's header, so it is
    left out. The session cookie is never deleted this way, and a result without a session
    cookie is refused: the last cookie that worked is kept (if the server really ended the
    session, the next call says so with a 401, which asks the user to sign in again; an
    unusable cookie would instead fail every call from then on).
    """
    jar = cookie_dict(header)
    for name, value in updates.items():
        if value == "":
            if name in SESSION_COOKIE_NAMES:
                log.warning("labs.google asked to delete the session cookie; keeping the one that works")
                continue
            jar.pop(name, None)
            continue
        try:
            _check_pair(name, value)
        except CookieFormatError as exc:
            log.warning("labs.google sent a cookie that cannot be used (%s); it is ignored",
                        exc.user_message.rstrip("."))
            continue
        jar[name] = value
    merged = _join(jar.items())
    if not has_session_cookie(merged):
        log.warning("labs.google's new cookies hold no session; keeping the ones that work")
        return header
    return merged
