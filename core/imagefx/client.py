"""HTTP client for ImageFX: four calls, a cached access token, and retries where they help.

Wire details live in ``protocol.py``; this module moves bytes, times them out, retries
429/5xx/connection failures (waits from the one policy of ``retry.py``), and turns ``requests``
exceptions into the error tree of ``errors.py``. The retry loop is hand-written rather than a
urllib3 ``Retry`` adapter because a wait must be cancellable from the GUI and a long
``Retry-After`` must be handed to the caller (the queue schedules it) instead of blocking a
thread for minutes.

Every call has a wall-clock deadline (``deadline``, by default the timeout) besides requests'
timeouts, which count per read: a server dripping a byte a second never trips those. The body
is streamed with a size cap, and a watchdog shuts the call's socket when the deadline passes
(:class:`_Deadline`), which ends even a read that waits for the status line.
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core import interrupts
from core.cancel import CancelToken
from core.imagefx import protocol
from core.imagefx.cookies import merge_set_cookies, parse_cookie, set_cookie_updates
from core.imagefx.errors import (
    AuthError,
    BadRequest,
    ImageFXError,
    NetworkError,
    NotFound,
    ProtocolChanged,
    RequestTimeout,
)
from core.imagefx.retry import CLIENT_POLICY
from core.imagefx.types import (
    Caption,
    GeneratedImage,
    Generation,
    GenerationRequest,
    HistoryPage,
    SessionInfo,
)
from core.redact import register_secret

log = logging.getLogger(__name__)

# Refresh the token this long before it expires, so a call never races the expiry.
TOKEN_MARGIN = timedelta(minutes=5)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keep requests' own jar empty: the Cookie header is ours alone (see ``_absorb_cookies``)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _Deadline:
    """One call's wall-clock limit: at ``at`` the watchdog shuts the call's socket, which ends the
    read in progress (the call then raises RequestTimeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.answering = False  # the status line and headers are in: the body is on its way
        self.connection: HTTPConnection | None = None
        self.socket: socket.socket | None = None  # kept: http.client drops conn.sock once a reply will close
        self._lock = threading.Lock()
        self._closed = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _calls.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _calls.deadline = None
        with self._lock:
            self._closed = True
            self.connection = None  # back in the pool: a late watchdog must not touch it
            self.socket = None

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            conn, sock = self.connection, self.socket
        if sock is None and conn is not None:
            sock = getattr(conn, "sock", None)
        if sock is not None:
            try:  # the plain socket's shutdown, also under TLS: the SSL object stays intact
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def attach(self, conn: HTTPConnection, sock: socket.socket | None = None) -> None:
        with self._lock:
            self.connection = conn
            if sock is not None:
                self.socket = sock
            expired = self.expired
        if expired:
            self._expire()

    def shorten(self, seconds: float) -> None:
        """End the call within ``seconds`` from now (a second Ctrl-C while an answer arrives)."""
        with self._lock:
            if self._closed:
                return  # the call is over
            if time.monotonic() + seconds >= self.at:
                return
            self._timer.cancel()
            self.at = time.monotonic() + seconds
            self._timer = threading.Timer(seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def check(self) -> None:
        if self.expired or time.monotonic() >= self.at:
            self.expired = True
            raise _cut_off(self.seconds, self.answering)


_calls = threading.local()  # the deadline of the call this thread is making

# A second Ctrl-C while an answer with images arrives: how long the rest may take before the
# command gives up on it (a whole answer in the socket's buffer needs milliseconds).
GIVE_UP_GRACE = 2.0


def _cut_off(seconds: float, answering: bool) -> RequestTimeout:
    if not answering:
        return RequestTimeout(f"ImageFX did not answer in time (within {seconds:g} s).")
    return RequestTimeout(f"ImageFX did not finish answering within {seconds:g} s; the call was cut off.",
                          action="Try again; if it keeps happening, the connection or the service is very slow.")


class _Watched:
    """Tells the calling thread's deadline which connection carries its request (new or reused)."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_calls, "deadline", None)
        if deadline is not None:
            deadline.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]
        if deadline is not None:  # connected now (a new connection connects in request())
            deadline.attach(self, getattr(self, "sock", None))  # type: ignore[arg-type]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class ImageFXClient:
    """One signed-in user's connection to ImageFX. Thread-safe for concurrent calls."""

    def __init__(
        self,
        cookie: str,
        *,
        labs_url: str = "https://labs.google",
        api_url: str = "https://aisandbox-pa.googleapis.com",
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = CLIENT_POLICY.backoff,
        max_retry_wait: float = CLIENT_POLICY.max_backoff,
        on_cookie_rotated: Callable[[str], None] | None = None,
        deadline: float | None = None,
        max_answer_bytes: int = protocol.MAX_ANSWER_BYTES,
    ) -> None:
        """``timeout`` bounds each read, ``deadline`` (default: ``timeout``) a whole call, start to end."""
        self._cookie = parse_cookie(cookie)
        register_secret(self._cookie)
        self.labs_url = labs_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        self.deadline = timeout if deadline is None else deadline
        self.max_answer_bytes = max_answer_bytes
        self.retries = max(0, retries)
        self.policy = dataclasses.replace(CLIENT_POLICY, backoff=backoff, max_backoff=max_retry_wait)
        self.on_cookie_rotated = on_cookie_rotated
        self._session_id = protocol.session_id(int(time.time() * 1000))
        self._http = requests.Session()
        self._http.cookies.set_policy(_NoCookies())
        self._http.trust_env = False  # no proxies from the environment for loopback tests
        for prefix in ("http://", "https://"):
            self._http.mount(prefix, _Adapter())
        self._token_lock = threading.Lock()
        self._session: SessionInfo | None = None
        self.session_fetches = 0  # how many times the session endpoint was called

    # --- public surface ---------------------------------------------------------------

    @property
    def cookie(self) -> str:
        return self._cookie

    @property
    def backoff(self) -> float:
        return self.policy.backoff

    @backoff.setter
    def backoff(self, seconds: float) -> None:
        self.policy = dataclasses.replace(self.policy, backoff=seconds)

    @property
    def max_retry_wait(self) -> float:
        return self.policy.max_backoff

    @max_retry_wait.setter
    def max_retry_wait(self, seconds: float) -> None:
        self.policy = dataclasses.replace(self.policy, max_backoff=seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ImageFXClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch_session(self) -> SessionInfo:
        """Ask labs.google for a fresh session (user and access token), bypassing the cache."""
        with self._token_lock:
            return self._refresh_locked()

    def session(self, cancel: CancelToken | None = None) -> SessionInfo:
        """The cached session, refreshed under a lock when it is missing or about to expire."""
        with self._token_lock:
            s = self._session
            if s is not None and s.expires - TOKEN_MARGIN > datetime.now(UTC):
                return s
            return self._refresh_locked(cancel)

    def generate(self, req: GenerationRequest, cancel: CancelToken | None = None, *,
                 retries: int | None = None) -> Generation:
        """``retries`` overrides the client's retry count for this call (the CLI's ``--retry``)."""
        body = protocol.generate_body(req, self._session_id)
        try:
            data = self._authed("POST", self.api_url + protocol.GENERATE_PATH, body, cancel, retries, keep=True)
        except BadRequest as err:
            if type(err) is BadRequest and protocol.rejects_model(err.detail or ""):
                raise protocol.model_rejected(protocol.normalize_model(req.model), err) from None
            raise
        gen = protocol.parse_generate(data, req)
        for img in gen.images:
            _check_decodes(img)
        return gen

    def fetch_media(self, media_id: str, cancel: CancelToken | None = None, *,
                    retries: int | None = None) -> GeneratedImage:
        """``retries`` overrides the retry count (the web import does its own waiting: 0)."""
        try:
            data = self._authed("GET", protocol.fetch_media_url(self.labs_url, media_id), None, cancel, retries,
                                keep=True)
        except NotFound as err:
            shown = media_id if len(media_id) <= 24 else media_id[:20] + "…"
            raise NotFound(f"ImageFX has no image with the media id {shown} (deleted, mistyped, or another "
                           "account's).", status=err.status, detail=err.detail) from None
        return _check_decodes(protocol.parse_fetch_media(data))

    def user_history(self, cursor: str | None = None, limit: int = 12,
                     cancel: CancelToken | None = None, *, retries: int | None = None) -> HistoryPage:
        data = self._authed("GET", protocol.user_history_url(self.labs_url, cursor, limit), None, cancel,
                            retries)
        return protocol.parse_user_history(data)

    def caption(self, image: bytes, mime_type: str, count: int = 3,
                cancel: CancelToken | None = None) -> list[Caption]:
        body = protocol.caption_body(image, mime_type, count, self._session_id)
        data = self._authed("POST", self.labs_url + protocol.CAPTION_PATH, body, cancel)
        return protocol.parse_caption(data)

    # --- internals ----------------------------------------------------------------------

    def _refresh_locked(self, cancel: CancelToken | None = None) -> SessionInfo:
        self.session_fetches += 1
        before = self._cookie
        data = self._send("GET", self.labs_url + protocol.SESSION_PATH, None, token=None,
                          cancel=cancel, on_session=True)
        info = protocol.parse_session(data)
        register_secret(info.access_token)
        self._session = info
        if self._cookie != before:
            # Told only now, so the listener knows whose cookie it is (the session says).
            self._notify_rotated()
        return info

    def _authed(self, method: str, url: str, body: dict[str, Any] | None,
                cancel: CancelToken | None, retries: int | None = None, *, keep: bool = False) -> Any:
        """A call with the bearer token; one 401 triggers one token refresh and one retry.
        ``keep``: the answer carries images (see :meth:`_send_once`)."""
        info = self.session(cancel)
        try:
            return self._send(method, url, body, token=info.access_token, cancel=cancel, retries=retries,
                              keep=keep)
        except AuthError:
            with self._token_lock:
                if self._session is info:  # nobody refreshed meanwhile
                    self._session = None
            fresh = self.session(cancel)
            if fresh.access_token == info.access_token:
                raise
            return self._send(method, url, body, token=fresh.access_token, cancel=cancel, retries=retries,
                              keep=keep)

    def _send(self, method: str, url: str, body: dict[str, Any] | None, *, token: str | None,
              cancel: CancelToken | None, on_session: bool = False,
              retries: int | None = None, keep: bool = False) -> Any:
        cancel = cancel or CancelToken()
        max_retries = self.retries if retries is None else max(0, retries)
        attempt = 0
        while True:
            cancel.raise_if_cancelled()
            try:
                return self._send_once(method, url, body, token=token, on_session=on_session, keep=keep)
            except ImageFXError as err:
                if attempt >= max_retries:
                    raise
                wait = self.policy.quick_retry_wait(err, attempt)
                if wait is None:
                    raise
                log.info("ImageFX %s %s failed (%s); retry %d of %d in %.1fs", method, _path(url),
                         type(err).__name__, attempt + 1, max_retries, wait)
                if cancel.wait(wait):
                    cancel.raise_if_cancelled()
                attempt += 1

    def _send_once(self, method: str, url: str, body: dict[str, Any] | None, *, token: str | None,
                   on_session: bool, keep: bool = False) -> Any:
        """One request. ``keep``: an answer with images, once its status says it is one, is not
        given up to a second Ctrl-C while the rest arrives (within :data:`GIVE_UP_GRACE`), is
        parsed and goes to the spool (core/interrupts.py: answer_in)."""
        started = time.perf_counter()
        held: interrupts.Guard | None = None
        try:
            with _Deadline(self.deadline) as deadline:
                try:
                    resp = self._http.request(
                        method, url,
                        data=json.dumps(body).encode("utf-8") if body is not None else None,
                        headers=protocol.headers(self._cookie, token),
                        timeout=self.timeout,
                        allow_redirects=False,
                        stream=True,
                    )
                    if deadline.expired:  # cut off in the headers: http.client takes EOF there for their end
                        resp.close()
                        raise _cut_off(deadline.seconds, False)
                    deadline.answering = True
                    if keep and resp.status_code < 300:
                        held = interrupts.answer_in(lambda: deadline.shorten(GIVE_UP_GRACE))
                    try:
                        content = self._read_body(resp, deadline)
                    finally:
                        resp.close()
                    if deadline.expired:  # cut off in a body without a length: EOF looks like its end
                        raise _cut_off(deadline.seconds, True)
                except ImageFXError:
                    raise
                except requests.exceptions.RequestException as exc:
                    if deadline.expired:
                        raise _cut_off(deadline.seconds, deadline.answering) from None
                    raise _request_error(exc) from None
                except OSError:  # the watchdog shut the socket under a read
                    if deadline.expired:
                        raise _cut_off(deadline.seconds, deadline.answering) from None
                    raise NetworkError("The connection to ImageFX broke off in the middle of the answer.") from None
            return self._answer(resp, content, method, url, started, on_session)
        except BaseException:
            interrupts.answer_dropped(held)  # no answer to keep: a second signal meanwhile stops now
            raise

    def _answer(self, resp: requests.Response, content: bytes, method: str, url: str, started: float,
                on_session: bool) -> Any:
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("ImageFX %s %s -> %d in %.0f ms (%d bytes)", method, _path(url), resp.status_code,
                  elapsed, len(content))
        if url.startswith(self.labs_url):
            self._absorb_cookies(resp, notify=not on_session)
        text = content.decode("utf-8", errors="replace")
        if resp.status_code >= 300:
            raise protocol.error_for(resp.status_code, text, resp.headers.get("Retry-After"),
                                     on_session=on_session)
        return protocol.loads(text)

    def _read_body(self, resp: requests.Response, deadline: _Deadline) -> bytes:
        """The whole body, or ProtocolChanged beyond ``max_answer_bytes`` (checked against
        Content-Length first); the deadline ends a body that never finishes."""
        cap = self.max_answer_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ProtocolChanged(f"ImageFX sent an answer of {int(declared) // (1024 * 1024)} MB, more than the "
                                  f"{cap // (1024 * 1024)} MB an answer can be.", detail="answer too large")
        chunks = []
        size = 0
        for chunk in resp.iter_content(256 * 1024):
            size += len(chunk)
            if size > cap:
                raise ProtocolChanged(f"ImageFX sent more than the {cap // (1024 * 1024)} MB an answer can be.",
                                      detail="answer too large")
            chunks.append(chunk)
            deadline.check()
        return b"".join(chunks)

    def _absorb_cookies(self, resp: requests.Response, *, notify: bool = True) -> None:
        """Keep a session cookie the server rotated with ``Set-Cookie``.

        ``notify=False`` for the session call: :meth:`_refresh_locked` tells the listener
        once the answer says whose session it is.
        """
        raw = resp.raw.headers.getlist("Set-Cookie") if resp.raw is not None and hasattr(
            resp.raw.headers, "getlist") else []
        updates = set_cookie_updates(raw)
        if not updates:
            return
        new_cookie = merge_set_cookies(self._cookie, updates)
        if new_cookie != self._cookie and new_cookie:
            register_secret(new_cookie)
            self._cookie = new_cookie
            log.info("labs.google rotated the session cookie; keeping the new one")
            if notify:
                self._notify_rotated()

    def _notify_rotated(self) -> None:
        if self.on_cookie_rotated is not None:
            try:
                self.on_cookie_rotated(self._cookie)
            except Exception:  # storing the cookie must not fail the call that returned it
                log.exception("could not store the rotated cookie")


def _check_decodes(img: GeneratedImage) -> GeneratedImage:
    """A shape problem surfaces now, as ProtocolChanged, not later when the image is stored."""
    try:
        img.image_bytes()
    except ValueError:
        raise ProtocolChanged("ImageFX sent an image that cannot be decoded.", detail="invalid base64") from None
    return img


def _path(url: str) -> str:
    """The URL's path only: query strings can hold media ids, never worth logging in full."""
    return url.split("?", 1)[0].split("//", 1)[-1].split("/", 1)[-1][:80]


def _request_error(exc: requests.exceptions.RequestException) -> NetworkError:
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return RequestTimeout()
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NetworkError("Could not connect to ImageFX (the connection timed out).")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return NetworkError("The connection to ImageFX broke off in the middle of the answer.")
    if isinstance(exc, requests.exceptions.ConnectionError):
        # A read timeout while the body streams in arrives as a ConnectionError.
        if "ReadTimeoutError" in repr(exc.args) or "Read timed out" in str(exc):
            return RequestTimeout()
        return _connection_error(exc)
    return NetworkError(detail=type(exc).__name__)


def _connection_error(exc: requests.exceptions.ConnectionError) -> NetworkError:
    text = str(exc)
    if "NameResolution" in text or "Name or service not known" in text or "nodename nor servname" in text \
            or "getaddrinfo failed" in text or "Temporary failure in name resolution" in text:
        return NetworkError("Could not find the ImageFX server (DNS lookup failed).",
                            action="Check your internet connection and try again.")
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return NetworkError("The ImageFX server refused the connection.")
    if "RemoteDisconnected" in text or "Connection aborted" in text or "reset by peer" in text:
        return NetworkError("The connection to ImageFX was closed before it answered.")
    return NetworkError()
