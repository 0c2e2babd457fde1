"""Keep cookies, tokens and passwords out of logs, error messages and CLI output.

Two layers: every secret the process learns is registered here (``register_secret``), and
anything that *looks* like a Google cookie, bearer token or URL password is masked by
pattern as well, so a secret we never saw still does not reach a log line.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "[redacted]"

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    # Bearer tokens and Google OAuth access tokens.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"ya29\.[A-Za-z0-9._~+/=-]+"),
    # name=value pairs of the cookies that make up a Google session.
    re.compile(
        r"(?i)((?:__Secure-|__Host-)?(?:next-auth\.[a-z-]+|[0-9A-Z]*SID[A-Z]*|SAPISID|APISID|HSID|SSID|NID"
        r"|email|session-token|csrf-token)=)[^;\s\"']+"
    ),
    # "access_token": "…" / password=… in JSON, query strings and DSNs.
    re.compile(r"(?i)([\"']?(?:access_token|token|cookie|password|google_cookie)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\"'&\s,}]{4,}"),
    # user:password@host in URLs.
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret (and its parts) so any later text containing it is masked."""
    if not value:
        return
    parts = {value}
    # A cookie header: also remember each value, which may be logged on its own.
    for piece in value.split(";"):
        if "=" in piece:
            v = piece.split("=", 1)[1].strip()
            if len(v) >= 8:
                parts.add(v)
    with _lock:
        _secrets.update(p for p in parts if len(p) >= 8)


def redact(text: object) -> str:
    s = str(text)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in s:
            s = s.replace(secret, MASK)
    for pat in _PATTERNS:
        if pat.groups >= 2:
            s = pat.sub(lambda m: m.group(1) + MASK + m.group(2), s)
        elif pat.groups == 1:
            s = pat.sub(lambda m: m.group(1) + MASK, s)
        else:
            s = pat.sub(MASK, s)
    return s


def redact_url(url: str) -> str:
    """A database URL without its password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":" + MASK + "@")
        parts = parts._replace(netloc=netloc)
    query = re.sub(r"(?i)(password=)[^&]*", r"\1" + MASK, parts.query)
    return urlunsplit(parts._replace(query=query))


class RedactingFilter(logging.Filter):
    """Rewrites each record's final message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not drop the record
            message = str(record.msg)
        clean = redact(message)
        record.msg = clean
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so the handler never formats raw text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


_installed = False


def install_log_redaction() -> None:
    """Attach the filter to every handler of the root logger (and future ones via the root)."""
    global _installed
    root = logging.getLogger()
    flt = RedactingFilter()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    if not _installed:
        # Records from any logger pass through the root's handlers; filtering at the
        # logger level too covers handlers added later by libraries.
        old_factory = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = old_factory(*args, **kwargs)
            flt.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
