"""A local stand-in for ImageFX: both hosts on one loopback port, with fault injection.

Google cannot be reached from the development machines (``docs/imagefx-protocol.md``),
so the tests, the CLI and the GUI run against this server by pointing ``IMAGEFX_LABS_URL``
and ``IMAGEFX_API_URL`` at :attr:`StandInServer.url`. It speaks the same wire format (paths
come from :mod:`core.imagefx.protocol`), validates what a client sends like the real
service, makes real pictures (:mod:`core.standin.images`), and can be told to answer
with every failure the real service is known for (:meth:`StandInServer.fail`), also
from another process through ``/_standin/...`` (see :data:`CONTROL_PATHS`).

This module decides what to answer (:meth:`StandInServer.respond`); sockets, bodies and the
faults below HTTP (a reset, a hang, a body cut short) are :mod:`core.standin.http`'s.

Only ``Cookie`` and ``Authorization`` decide whether a request is accepted, because the
published npm client sends neither ``Origin`` nor ``Referer`` and posts ``text/plain``.
Nothing secret is ever logged: the server is silent unless ``verbose``, and then it
prints method, path (without query) and status only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import re
import secrets
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from PIL import Image, UnidentifiedImageError

from core.imagefx.protocol import (
    ASPECT_RATIOS,
    CAPTION_PATH,
    FETCH_MEDIA_PATH,
    GENERATE_PATH,
    MAX_COUNT,
    MAX_SEED,
    MIN_COUNT,
    MODELS,
    REFRESH_NEEDED,
    SESSION_COOKIE_NAMES,
    SESSION_PATH,
    TOOL_NAME,
    USER_HISTORY_PATH,
)
from core.standin import images
from core.standin.http import CUT, DRIP, DROP, HANG, RESET, Exchange, HTTPServer, Reply, json_reply

# --- the demo account -------------------------------------------------------------------

DEMO_SESSION_TOKEN = "demo-session-token"
DEMO_EMAIL = "demo@imagefx.local"
DEMO_NAME = "Demo User"
DEMO_COOKIE = f"{SESSION_COOKIE_NAMES[0]}={DEMO_SESSION_TOKEN}; _ga=GA1.1.standin"

# --- endpoints and faults ------------------------------------------------------------------

ENDPOINTS: tuple[str, ...] = ("session", "generate", "fetch_media", "user_history", "caption")
_ROUTES: dict[str, tuple[str, str]] = {
    SESSION_PATH: ("GET", "session"),
    GENERATE_PATH: ("POST", "generate"),
    FETCH_MEDIA_PATH: ("GET", "fetch_media"),
    USER_HISTORY_PATH: ("GET", "user_history"),
    CAPTION_PATH: ("POST", "caption"),
}
_TRPC_ENDPOINTS = frozenset({"fetch_media", "user_history", "caption"})
CONTROL_PREFIX = "/_standin/"
CONTROL_PATHS: tuple[str, ...] = ("fail", "clear", "delay", "account", "revoke", "calls", "seed_library",
                                  "avatar/<name>.png")

FAULTS: frozenset[str] = frozenset({
    "empty_session", "refresh_needed", "unauthorized", "forbidden", "safety", "bad_request",
    "rate_limit", "server_error", "html", "truncated_json", "no_panels", "bad_base64", "not_image",
    "hang", "close_mid_body", "reset",
    # hostile answers (issue 12): JSON nested deeper than any parser's stack, an answer dripped a
    # byte at a time, image values beyond what an answer can hold, a library listing without end
    "deep_json", "drip", "odd_value", "endless_listing", "repeat_token",
})
# Faults that replace an image's bytes (or values) only make sense where an image is answered.
_IMAGE_FAULTS = frozenset({"bad_base64", "not_image", "odd_value"})
_IMAGE_ENDPOINTS = frozenset({"generate", "fetch_media"})
_LISTING_FAULTS = frozenset({"endless_listing", "repeat_token"})
# The values an odd_value fault may replace, as the answer names them.
ODD_FIELDS = frozenset({"mediaGenerationId", "seed", "modelNameType", "prompt", "aspectRatio", "workflowId",
                        "fingerprintLogRecordId"})
_FAULT_PARAMS: dict[str, frozenset[str]] = {
    "drip": frozenset({"interval", "part"}),
    "deep_json": frozenset({"depth"}),
    "odd_value": frozenset({"field", "value"}),
    "rate_limit": frozenset({"retry_after", "message"}),
    "server_error": frozenset({"status", "message"}),
    "hang": frozenset({"seconds"}),
    "safety": frozenset({"message"}),
    "bad_request": frozenset({"message"}),
    "unauthorized": frozenset({"message"}),
    "forbidden": frozenset({"message"}),
}

AUTH_MESSAGE = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.")
SAFETY_MESSAGE = ("The prompt could not be submitted. Your current safety filter threshold prohibited one or "
                  "more words in this prompt. If you think this is an error, send feedback.")
_FORBIDDEN_MESSAGE = "The caller does not have permission"
_BAD_REQUEST_MESSAGE = "Request contains an invalid argument."
_RATE_LIMIT_MESSAGE = "Resource has been exhausted (e.g. check quota)."
_SERVER_ERRORS: dict[int, tuple[str, str]] = {
    500: ("INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", "Operation is not implemented."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request timed out."),
}
_TRPC_CODES: dict[str, tuple[int, int]] = {  # name -> (JSON-RPC code, HTTP status)
    "BAD_REQUEST": (-32600, 400),
    "UNAUTHORIZED": (-32001, 401),
    "FORBIDDEN": (-32003, 403),
    "NOT_FOUND": (-32004, 404),
    "METHOD_NOT_SUPPORTED": (-32005, 405),
    "PAYLOAD_TOO_LARGE": (-32013, 413),
    "INTERNAL_SERVER_ERROR": (-32603, 500),
}
_HTML_PAGE = (b"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in - Google "
              b"Accounts</title></head><body><div id=\"initialView\"><h1>Sign in</h1><p>to continue to "
              b"labs.google</p><form method=\"post\"><input type=\"email\" name=\"identifier\"></form>"
              b"</div></body></html>\n")
_NOT_IMAGE = b"this is not an image"
_SESSION_ID_RE = re.compile(r"^;\d+$")
_DATA_URL_RE = re.compile(r"^data:([A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+)(?:;[^,;]*=[^,;]*)*;base64,(.*)$", re.S)
_BEARER_RE = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.I)
MAX_HISTORY_LIMIT = 100
_DEFAULT_HANG = 600.0
_LIBRARY_SUBJECTS = ("a lighthouse at dusk", "a red fox in snow", "a bowl of ramen", "a blue vintage car",
                     "a green forest path", "a cat wearing a yellow hat", "a city skyline at night",
                     "a purple nebula", "an orange hot-air balloon", "a pink flamingo")


def iso_z(dt: datetime) -> str:
    """``2026-11-24T22:00:00.000Z``, the form NextAuth and Google use."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def trpc_error(name: str, message: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a tRPC error as labs.google's trpc routes send them."""
    code, http_status = _TRPC_CODES[name]
    return http_status, {"error": {"json": {"message": message, "code": code,
                                            "data": {"code": name, "httpStatus": http_status}}}}


def _new_media_id() -> str:
    return "CAMa" + secrets.token_urlsafe(27)


# --- state ---------------------------------------------------------------------------------

@dataclass
class _Account:
    email: str
    name: str
    image_url: str | None


@dataclass
class _Token:
    email: str
    session_token: str
    expires: float  # time.time()


@dataclass(frozen=True)
class _Media:
    """Everything needed to re-render a picture; the bytes themselves are never kept."""

    media_id: str
    owner: str
    prompt: str
    seed: int
    aspect_ratio: str
    model: str
    index: int
    create_time: datetime
    workflow_id: str
    fingerprint: str
    fmt: str
    scale: float
    seq: int

    @property
    def sort_key(self) -> tuple[int, int]:
        return int(self.create_time.timestamp() * 1_000_000), self.seq


@dataclass
class _Queued:
    endpoint: str
    remaining: int
    fault: str = ""
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Request:
    name: str
    method: str
    headers: dict[str, str]
    query: str
    body: bytes
    json: Any = None
    json_ok: bool = False
    trpc_input: Any = None


class _BadInput(Exception):
    """A request the real service would refuse with 400; the message tells the client why."""


# --- the server ----------------------------------------------------------------------------

class StandInServer:
    """ImageFX on 127.0.0.1: accounts, tokens, a media library, and faults on demand.

    Thread-safe: the HTTP handlers run on daemon threads and tests poke the state from the
    main thread, so every piece of state is guarded by one lock.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, image_scale: float = 1.0,
                 token_lifetime: float = 3600.0) -> None:
        if image_scale <= 0:
            raise ValueError("image_scale must be positive")
        self.image_scale = image_scale
        self.token_lifetime = token_lifetime
        self._image_format = "PNG"
        self.blocked_words: set[str] = {"forbidden", "gore"}
        self.rotate_cookie = False
        # Raw Set-Cookie lines every session answer carries as well: a server rotating cookies badly
        # (a malformed name, a non-ASCII value, the session cookie deleted).
        self.extra_set_cookies: list[str] = []
        self.verbose = False
        # Lets a test simulate the service rewriting a prompt (the answer's prompt differs).
        self.prompt_rewriter: Callable[[str], str] | None = None
        self.calls: dict[str, int] = dict.fromkeys(ENDPOINTS, 0)
        self.last_request: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []  # tracebacks of the server's own bugs; tests assert it stays empty
        # Media ids of every image whose answer went out whole and decodable, in order: what a
        # client has received and must not lose (the fault suite's "data lost" count).
        self.delivered: list[str] = []

        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._accounts: dict[str, _Account] = {}
        self._sessions: dict[str, str] = {}  # session-token cookie value -> email
        self._session_root: dict[str, str] = {}  # rotated cookie value -> the value it descends from
        self._revoked: set[str] = set()
        self._tokens: dict[str, _Token] = {}
        self._media: dict[str, _Media] = {}
        self._library: dict[str, list[str]] = {}  # email -> media ids
        self._faults: list[_Queued] = []
        self._delays: list[_Queued] = []
        self._seq = 0
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._tl = threading.local()  # per request: the odd_value fault being answered

        self._httpd = HTTPServer((host, port), self)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.add_account(DEMO_SESSION_TOKEN, DEMO_EMAIL, DEMO_NAME)

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def image_format(self) -> str:
        """``PNG`` (usual) or ``JPEG`` (also seen from the real service) for new images."""
        return self._image_format

    @image_format.setter
    def image_format(self, value: str) -> None:
        fmt = value.upper()
        if fmt not in images.FORMATS:
            raise ValueError(f"image_format must be one of {images.FORMATS}")
        self._image_format = fmt

    def start(self) -> StandInServer:
        """Serve on a background daemon thread; the socket is already bound (``port`` is known)."""
        if self._thread is not None:
            raise RuntimeError("the stand-in server is already started")
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"standin-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections; hanging or delayed answers end at once."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # wakes handler threads blocked on keep-alive reads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- accounts and tokens --------------------------------------------------------------

    def add_account(self, session_token: str, email: str, name: str, image_url: str | None = None) -> None:
        """Register a user; ``session_token`` becomes a valid session-token cookie value."""
        if not session_token or not email:
            raise ValueError("session_token and email are required")
        with self._lock:
            avatar = f"{self.url}{CONTROL_PREFIX}avatar/{quote(email)}.png"
            self._accounts[email] = _Account(email, name, image_url or avatar)
            self._sessions[session_token] = email
            self._revoked.discard(session_token)
            self._library.setdefault(email, [])

    def revoke(self, session_token: str) -> None:
        """The cookie is dead from now on: 401 on the session call, and its tokens stop working.

        Cookies rotated from it (``rotate_cookie``) die with it, as a signed-out session would.
        """
        with self._lock:
            root = self._session_root.get(session_token, session_token)
            family = {session_token, root} | {v for v, r in self._session_root.items() if r == root}
            for value in family:
                self._sessions.pop(value, None)
                self._revoked.add(value)
            for tok in [t for t, info in self._tokens.items() if info.session_token in family]:
                del self._tokens[tok]

    def _mint_token(self, email: str, session_token: str) -> tuple[str, float]:
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        expires = time.time() + self.token_lifetime
        with self._lock:
            now = time.time()
            for tok in [t for t, info in self._tokens.items() if info.expires <= now]:
                del self._tokens[tok]  # keep the table small over long demo sessions
            self._tokens[token] = _Token(email, session_token, expires)
        return token, expires

    def _token_owner(self, headers: dict[str, str]) -> str | None:
        m = _BEARER_RE.match(headers.get("authorization", ""))
        if not m:
            return None
        with self._lock:
            info = self._tokens.get(m.group(1))
            if info is None or info.expires <= time.time():
                return None
            return info.email

    @staticmethod
    def _session_values(headers: dict[str, str]) -> list[str]:
        values = []
        for piece in headers.get("cookie", "").split(";"):
            if "=" in piece:
                name, value = piece.split("=", 1)
                if name.strip() in SESSION_COOKIE_NAMES and value.strip():
                    values.append(value.strip())
        return values

    def _cookie_owner(self, headers: dict[str, str]) -> str | None:
        with self._lock:
            for value in self._session_values(headers):
                if value in self._sessions:
                    return self._sessions[value]
        return None

    # --- faults -------------------------------------------------------------------------

    def fail(self, endpoint: str, fault: str, *, times: int = 1, **params: Any) -> None:
        """Answer the next ``times`` calls of ``endpoint`` (or ``"*"``: any) with ``fault``.

        Faults queue in order; each call takes the first one that applies to it.
        Params: ``retry_after`` (rate_limit), ``status`` (server_error, 500-599),
        ``seconds`` (hang: the longest it waits for the client to give up), ``message``.
        """
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {', '.join(ENDPOINTS)} or '*'")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of {', '.join(sorted(FAULTS))}")
        if fault in _IMAGE_FAULTS and endpoint not in _IMAGE_ENDPOINTS | {"*"}:
            raise ValueError(f"fault {fault!r} applies only to generate and fetch_media")
        if fault in _LISTING_FAULTS and endpoint != "user_history":
            raise ValueError(f"fault {fault!r} applies only to user_history")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError("times must be a positive integer")
        unknown = set(params) - _FAULT_PARAMS.get(fault, frozenset())
        if unknown:
            raise ValueError(f"fault {fault!r} takes no parameter(s) {', '.join(sorted(unknown))}")
        if fault == "server_error":
            status = params.setdefault("status", 500)
            if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
                raise ValueError("server_error status must be an integer 500-599")
        if fault == "rate_limit" and params.get("retry_after") is not None:
            params["retry_after"] = float(params["retry_after"])
        if fault == "hang":
            params["seconds"] = float(params.get("seconds", _DEFAULT_HANG))
        if fault == "drip":
            params["interval"] = float(params.get("interval", 1.0))
            if params.setdefault("part", "all") not in ("all", "body"):
                raise ValueError("drip part must be 'all' (status line and headers too) or 'body'")
        if fault == "deep_json":
            params["depth"] = int(params.get("depth", 200_000))
        if fault == "odd_value":
            if params.get("field") not in ODD_FIELDS:
                raise ValueError(f"odd_value field must be one of {', '.join(sorted(ODD_FIELDS))}")
            if "value" not in params:
                raise ValueError("odd_value needs a value")
        with self._lock:
            self._faults.append(_Queued(endpoint, times, fault=fault, params=params))

    def delay(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` answers of ``endpoint`` (or ``"*"``) for ``seconds``."""
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        if seconds < 0 or times < 1:
            raise ValueError("seconds must be >= 0 and times >= 1")
        with self._lock:
            self._delays.append(_Queued(endpoint, times, seconds=float(seconds)))

    def clear_faults(self) -> None:
        """Forget queued faults and delays."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def reset_calls(self) -> None:
        """Zero the counters in place (a test may hold a reference to ``calls``)."""
        with self._lock:
            self.calls.update(dict.fromkeys(ENDPOINTS, 0))
            self.last_request.clear()

    def pending_faults(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return [(q.endpoint, q.fault, q.remaining) for q in self._faults]

    @staticmethod
    def _take(queue: list[_Queued], name: str) -> _Queued | None:
        for q in queue:
            if q.endpoint not in (name, "*"):
                continue
            if q.fault in _IMAGE_FAULTS and name not in _IMAGE_ENDPOINTS:
                continue
            q.remaining -= 1
            if q.remaining <= 0:
                queue.remove(q)
            return q
        return None

    def _fault_reply(self, name: str, q: _Queued) -> Reply | None:
        """The answer of a fault that replaces the whole answer; None for the others."""
        fault, p = q.fault, q.params
        if fault == "empty_session":
            return json_reply(200, {})
        if fault == "refresh_needed":
            return json_reply(200, {"error": REFRESH_NEEDED})
        msg = p.get("message")
        if fault == "unauthorized":
            return json_reply(401, google_error(401, "UNAUTHENTICATED", msg or AUTH_MESSAGE))
        if fault == "forbidden":
            return json_reply(403, google_error(403, "PERMISSION_DENIED", msg or _FORBIDDEN_MESSAGE))
        if fault == "safety":
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", msg or SAFETY_MESSAGE))
        if fault == "bad_request":
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", msg or _BAD_REQUEST_MESSAGE))
        if fault == "rate_limit":
            headers = []
            if p.get("retry_after") is not None:
                headers.append(("Retry-After", format(p["retry_after"], "g")))
            body = google_error(429, "RESOURCE_EXHAUSTED", p.get("message") or _RATE_LIMIT_MESSAGE)
            return json_reply(429, body, headers)
        if fault == "server_error":
            status = p["status"]
            gstatus, message = _SERVER_ERRORS.get(status, ("INTERNAL", "Internal error encountered."))
            return json_reply(status, google_error(status, gstatus, p.get("message") or message))
        if fault == "html":
            return Reply(200, _HTML_PAGE, content_type="text/html; charset=utf-8")
        if fault == "deep_json":
            depth = p["depth"]
            return Reply(200, b"[" * depth + b"]" * depth)
        if fault == "no_panels":
            return json_reply(200, {"workflowId": "x"} if name == "generate" else {"result": {}})
        return None

    # --- request handling ---------------------------------------------------------------

    def _record(self, req: _Request) -> None:
        with self._lock:
            self.calls[req.name] = self.calls.get(req.name, 0) + 1
            self.last_request[req.name] = {"method": req.method, "headers": dict(req.headers),
                                           "json": req.json if req.json_ok else None,
                                           "input": req.trpc_input}

    def _take_delay(self, name: str) -> float:
        with self._lock:
            q = self._take(self._delays, name)
        return q.seconds if q else 0.0

    def _take_fault(self, name: str) -> _Queued | None:
        with self._lock:
            return self._take(self._faults, name)

    def error_reply(self, status: int, status_name: str, message: str) -> Reply:
        """An error in Google's JSON form (for what the transport refuses itself)."""
        return json_reply(status, google_error(status, status_name, message))

    def respond(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Exchange:
        """What to do with one request (called on the connection's thread; ``headers`` keyed in
        lower case): the control API, a route's answer, or the fault queued for it."""
        if path.startswith(CONTROL_PREFIX):
            return Exchange(self._control(method, path[len(CONTROL_PREFIX):], body))
        route = _ROUTES.get(path)
        if route is None:
            message = f"The requested URL {path} was not found on this server."
            return Exchange(self.error_reply(404, "NOT_FOUND", message))
        expected_method, name = route
        req = _Request(name=name, method=method, query=query, body=body, headers=headers)
        if body:
            try:
                req.json = json.loads(body)
                req.json_ok = True
            except ValueError:
                pass
        if name in _TRPC_ENDPOINTS and method == "GET":
            raw_input = parse_qs(query).get("input", [None])[0]
            try:
                req.trpc_input = json.loads(raw_input) if raw_input is not None else None
            except ValueError:
                req.trpc_input = None
        self._record(req)

        wait = self._take_delay(name)
        if wait > 0 and self._stopping.wait(wait):
            return Exchange(ending=DROP)
        queued = self._take_fault(name)
        fault = queued.fault if queued else None
        if fault == "reset":
            return Exchange(ending=RESET)
        if fault == "hang":
            return Exchange(ending=HANG, hang_seconds=queued.params["seconds"] if queued else _DEFAULT_HANG)
        if fault in _LISTING_FAULTS:
            return Exchange(self._endless_page(req, fault))

        if method != expected_method:
            if name in _TRPC_ENDPOINTS:
                status, err = trpc_error("METHOD_NOT_SUPPORTED", f"Use {expected_method} for this procedure.")
                reply = json_reply(status, err)
            else:
                reply = self.error_reply(405, "INVALID_ARGUMENT", f"Use {expected_method}.")
        else:
            self._tl.odd = queued.params if queued is not None and fault == "odd_value" else None
            reply = (self._fault_reply(name, queued) if queued else None) or self._answer(req, fault)

        if fault == "truncated_json":
            reply.body = reply.body[: len(reply.body) // 2]
        if fault == "close_mid_body":
            return Exchange(reply, ending=CUT)
        ending, drip = "", (0.0, "")
        if fault == "drip" and queued is not None:
            ending, drip = DRIP, (queued.params["interval"], queued.params["part"])
        delivers = fault not in {"bad_base64", "not_image", "truncated_json"}
        if reply.media_ids and reply.status == 200 and delivers:
            return Exchange(reply, ending=ending, drip=drip, on_sent=lambda: self._delivered(reply.media_ids))
        return Exchange(reply, ending=ending, drip=drip)

    def _endless_page(self, req: _Request, fault: str) -> Reply:
        """A listing page that leads nowhere: empty with a brand-new token (``endless_listing``), or
        this page again under the token just sent (``repeat_token``)."""
        args = req.trpc_input.get("json") if isinstance(req.trpc_input, dict) else None
        cursor = args.get("cursor") if isinstance(args, dict) else None
        if fault == "endless_listing":
            result: dict[str, Any] = {"userWorkflows": [], "nextPageToken": "endless-" + secrets.token_urlsafe(12)}
        else:
            result = {"userWorkflows": [], "nextPageToken": cursor or "the-same-token"}
        return json_reply(200, {"result": {"data": {"json": {"result": result}}}})

    def _delivered(self, media_ids: tuple[str, ...]) -> None:
        with self._lock:
            self.delivered.extend(media_ids)

    def _answer(self, req: _Request, fault: str | None) -> Reply:
        """The normal answer of an endpoint (``fault`` only for bad_base64 / not_image)."""
        try:
            if req.name == "session":
                return self._session(req)
            if req.name == "generate":
                return self._generate(req, fault)
            owner = self._token_owner(req.headers) or self._cookie_owner(req.headers)
            if owner is None:
                return json_reply(401, google_error(401, "UNAUTHENTICATED", AUTH_MESSAGE))
            if req.name == "fetch_media":
                return self._fetch_media(req, owner, fault)
            if req.name == "user_history":
                return self._user_history(req, owner)
            return self._caption(req)
        except _BadInput as exc:
            if req.name in _TRPC_ENDPOINTS:
                status, body = trpc_error("BAD_REQUEST", str(exc))
                return json_reply(status, body)
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", str(exc)))

    def _session(self, req: _Request) -> Reply:
        values = self._session_values(req.headers)
        with self._lock:
            if any(v in self._revoked for v in values) and not any(v in self._sessions for v in values):
                return json_reply(401, google_error(401, "UNAUTHENTICATED", AUTH_MESSAGE))
            session_token = next((v for v in values if v in self._sessions), None)
            if session_token is None:
                return json_reply(200, {})
            account = self._accounts[self._sessions[session_token]]
            headers: list[tuple[str, str]] = []
            if self.rotate_cookie:
                new_value = "standin-rotated-" + secrets.token_urlsafe(24)
                self._sessions[new_value] = account.email
                self._session_root[new_value] = self._session_root.get(session_token, session_token)
                headers.append(("Set-Cookie", f"{SESSION_COOKIE_NAMES[0]}={new_value}; "
                                              "Path=/; Secure; HttpOnly; SameSite=Lax"))
            headers += [("Set-Cookie", line) for line in self.extra_set_cookies]
        token, expires = self._mint_token(account.email, session_token)
        body = {"user": {"name": account.name, "email": account.email, "image": account.image_url},
                "expires": iso_z(datetime.fromtimestamp(expires, UTC)), "access_token": token}
        return json_reply(200, body, headers)

    def _validate_generate(self, req: _Request) -> tuple[list[str], int, int | None, str, str]:
        if not req.json_ok:
            raise _BadInput("Invalid JSON payload received. Unexpected token.")
        data = req.json
        if not isinstance(data, dict):
            raise _BadInput("Invalid JSON payload received. Expected an object at the top level.")
        user_input = data.get("userInput")
        if not isinstance(user_input, dict):
            raise _BadInput("Invalid value at 'user_input': expected an object.")
        prompts = user_input.get("prompts")
        if not isinstance(prompts, list) or not prompts or \
                not all(isinstance(p, str) and p.strip() for p in prompts):
            raise _BadInput("Invalid value at 'user_input.prompts': expected a non-empty list of non-empty "
                            "strings.")
        count = user_input.get("candidatesCount")
        if isinstance(count, bool) or not isinstance(count, int) or not MIN_COUNT <= count <= MAX_COUNT:
            raise _BadInput(f"Invalid value at 'user_input.candidates_count' ({count!r}): must be an integer "
                            f"from {MIN_COUNT} to {MAX_COUNT}.")
        seed = user_input.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise _BadInput(f"Invalid value at 'user_input.seed' ({seed!r}): must be an integer.")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise _BadInput(f"Invalid value at 'user_input.seed' ({seed}): must be from 0 to {MAX_SEED}.")
        model_input = data.get("modelInput")
        model = model_input.get("modelNameType") if isinstance(model_input, dict) else None
        if model not in MODELS:
            raise _BadInput(f"Invalid value at 'model_input.model_name_type' ({model!r}): use one of "
                            f"{', '.join(MODELS)}.")
        aspect = data.get("aspectRatio")
        if aspect not in ASPECT_RATIOS:
            raise _BadInput(f"Invalid value at 'aspect_ratio' ({aspect!r}): use one of "
                            f"{', '.join(ASPECT_RATIOS)}.")
        ctx = data.get("clientContext")
        if not isinstance(ctx, dict) or ctx.get("tool") != TOOL_NAME:
            tool = ctx.get("tool") if isinstance(ctx, dict) else None
            raise _BadInput(f"Invalid value at 'client_context.tool' ({tool!r}): must be {TOOL_NAME}.")
        sid = ctx.get("sessionId")
        if not isinstance(sid, str) or not _SESSION_ID_RE.match(sid):
            raise _BadInput(f"Invalid value at 'client_context.session_id' ({sid!r}): expected ';' followed "
                            "by milliseconds since the epoch.")
        return prompts, count, seed or None, model, aspect

    def _blocked(self, prompt: str) -> bool:
        words = [w for w in self.blocked_words if w]
        return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", prompt, re.I) for w in words)

    def _generate(self, req: _Request, fault: str | None) -> Reply:
        owner = self._token_owner(req.headers)
        if owner is None:
            return json_reply(401, google_error(401, "UNAUTHENTICATED", AUTH_MESSAGE))
        prompts, count, seed, model, aspect = self._validate_generate(req)
        if any(self._blocked(p) for p in prompts):
            return json_reply(400, google_error(400, "INVALID_ARGUMENT", SAFETY_MESSAGE))
        workflow_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        panels: list[dict[str, Any]] = []
        for sent_prompt in prompts:
            prompt = self.prompt_rewriter(sent_prompt) if self.prompt_rewriter else sent_prompt
            generated = []
            for i in range(count):
                img_seed = secrets.randbelow(MAX_SEED) + 1 if seed is None else (seed - 1 + i) % MAX_SEED + 1
                media = self._remember(owner, prompt, img_seed, aspect, model, i, now, workflow_id)
                generated.append(self._image_json(media, fault, self._queued_odd))
            panels.append({"prompt": prompt, "generatedImages": generated})
        reply = json_reply(200, {"imagePanels": panels, "workflowId": workflow_id})
        reply.media_ids = tuple(g["mediaGenerationId"] for p in panels for g in p["generatedImages"]
                                if isinstance(g["mediaGenerationId"], str))
        return reply

    def _remember(self, owner: str, prompt: str, seed: int, aspect: str, model: str, index: int,
                  create_time: datetime, workflow_id: str) -> _Media:
        with self._lock:
            self._seq += 1
            media = _Media(media_id=_new_media_id(), owner=owner, prompt=prompt, seed=seed,
                           aspect_ratio=aspect, model=model, index=index, create_time=create_time,
                           workflow_id=workflow_id, fingerprint=secrets.token_hex(12), fmt=self.image_format,
                           scale=self.image_scale, seq=self._seq)
            self._media[media.media_id] = media
            self._library.setdefault(owner, []).append(media.media_id)
        return media

    @property
    def _queued_odd(self) -> dict[str, Any] | None:
        return getattr(self._tl, "odd", None)

    def render(self, media_id: str) -> bytes:
        """The bytes of a remembered image (the same as when it was generated)."""
        with self._lock:
            m = self._media[media_id]
        return images.render_image(m.prompt, m.seed, m.index, m.aspect_ratio, scale=m.scale, fmt=m.fmt)

    def _image_json(self, m: _Media, fault: str | None, odd: dict[str, Any] | None = None) -> dict[str, Any]:
        image = self._plain_image_json(m, fault)
        if fault == "odd_value" and odd:
            key, value = odd["field"], odd["value"]
            if key == "mediaGenerationId":  # distinct per image; remembered, so the image can be re-rendered
                value = f"{value}{m.index}"
                with self._lock:
                    self._media[value] = m
            image[key] = value
        return image

    def _plain_image_json(self, m: _Media, fault: str | None) -> dict[str, Any]:
        if fault == "bad_base64":
            encoded = "!!!not base64!!!"
        elif fault == "not_image":
            encoded = base64.b64encode(_NOT_IMAGE).decode("ascii")
        else:
            data = images.render_image(m.prompt, m.seed, m.index, m.aspect_ratio, scale=m.scale, fmt=m.fmt)
            encoded = base64.b64encode(data).decode("ascii")
        return {"encodedImage": encoded, "seed": m.seed, "mediaGenerationId": m.media_id,
                "isMaskEditedImage": False, "prompt": m.prompt, "modelNameType": m.model,
                "aspectRatio": m.aspect_ratio, "workflowId": m.workflow_id,
                "fingerprintLogRecordId": m.fingerprint}

    @staticmethod
    def _trpc_json(req: _Request) -> dict[str, Any]:
        data = req.trpc_input
        if not isinstance(data, dict) or not isinstance(data.get("json"), dict):
            raise _BadInput('Invalid input: expected the query parameter input={"json": {...}}.')
        return data["json"]

    def _fetch_media(self, req: _Request, owner: str, fault: str | None) -> Reply:
        media_key = self._trpc_json(req).get("mediaKey")
        if not isinstance(media_key, str) or not media_key:
            raise _BadInput("Invalid input: mediaKey must be a non-empty string.")
        with self._lock:
            media = self._media.get(media_key)
        if media is None or media.owner != owner:  # someone else's private image is "not found" too
            status, body = trpc_error("NOT_FOUND", "Media not found")
            return json_reply(status, body)
        image = self._image_json(media, fault, self._queued_odd)
        image.update({"mediaVisibility": "PRIVATE", "previousMediaGenerationId": ""})
        reply = json_reply(200, {"result": {"data": {"json": {"result": {"image": image}}}}})
        reply.media_ids = (image["mediaGenerationId"],) if isinstance(image["mediaGenerationId"], str) else ()
        return reply

    @staticmethod
    def _encode_cursor(key: tuple[int, int]) -> str:
        return base64.urlsafe_b64encode(f"{key[0]}:{key[1]}".encode()).decode("ascii").rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str) -> tuple[int, int]:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            a, b = text.split(":")
            return int(a), int(b)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _BadInput("Invalid input: cursor is not a page token from a previous answer.") from None

    def _user_history(self, req: _Request, owner: str) -> Reply:
        args = self._trpc_json(req)
        cursor = args.get("cursor") or ""
        limit = args.get("limit", 12)
        if not isinstance(cursor, str):
            raise _BadInput("Invalid input: cursor must be a string.")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise _BadInput(f"Invalid input: limit must be an integer from 1 to {MAX_HISTORY_LIMIT}.")
        if args.get("type", TOOL_NAME) != TOOL_NAME:
            raise _BadInput(f"Invalid input: type must be {TOOL_NAME}.")
        before = self._decode_cursor(cursor) if cursor else None
        with self._lock:
            items = [self._media[mid] for mid in self._library.get(owner, [])]
        items.sort(key=lambda m: m.sort_key, reverse=True)  # newest first
        if before is not None:
            items = [m for m in items if m.sort_key < before]
        page = items[:limit]
        result: dict[str, Any] = {"userWorkflows": [{"name": m.media_id, "createTime": iso_z(m.create_time)}
                                                    for m in page]}
        if len(items) > limit:
            result["nextPageToken"] = self._encode_cursor(page[-1].sort_key)
        return json_reply(200, {"result": {"data": {"json": {"result": result}}}})

    def _caption(self, req: _Request) -> Reply:
        if not req.json_ok or not isinstance(req.json, dict) or not isinstance(req.json.get("json"), dict):
            raise _BadInput('Invalid input: expected a JSON body {"json": {...}}.')
        cap = req.json["json"].get("captionInput")
        if not isinstance(cap, dict):
            raise _BadInput("Invalid input: captionInput is required.")
        count = cap.get("candidatesCount")
        if isinstance(count, bool) or not isinstance(count, int) or not MIN_COUNT <= count <= MAX_COUNT:
            raise _BadInput(f"Invalid input: candidatesCount must be an integer from {MIN_COUNT} "
                            f"to {MAX_COUNT}.")
        media_input = cap.get("mediaInput")
        raw = media_input.get("rawBytes") if isinstance(media_input, dict) else None
        if not isinstance(raw, str):
            raise _BadInput("Invalid input: mediaInput.rawBytes must be a data: URL.")
        m = _DATA_URL_RE.match(raw)
        if not m:
            raise _BadInput("Invalid input: mediaInput.rawBytes is not a data:<mime>;base64,<data> URL.")
        mime = m.group(1).lower()
        try:
            data = base64.b64decode(m.group(2), validate=True)
        except (binascii.Error, ValueError):
            raise _BadInput("Invalid input: mediaInput.rawBytes is not valid base64.") from None
        if not data:
            raise _BadInput("Invalid input: the image is empty.")
        kind = images.detect_image_type(data)
        if kind is None:
            raise _BadInput(f"Unsupported image: the data sent as {mime} is not a known image type.")
        if mime not in images.MIME_TYPES[kind]:
            raise _BadInput(f"The MIME type {mime} does not match the image data, which is {kind}.")
        if kind == "svg":
            size = images.svg_size(data)
            colour: str | None = None
            w, h = size if size else (None, None)
        else:
            try:
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
                    w, h, colour = images.describe_raster(img)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                raise _BadInput(f"The {kind} image could not be decoded.") from None
        candidates = [{"output": text, "mediaGenerationId": _new_media_id()}
                      for text in images.captions(w, h, colour, count)]
        return json_reply(200, {"result": {"data": {"json": {"result": {"candidates": candidates}}}}})

    # --- library seeding --------------------------------------------------------------------

    def seed_library(self, email: str, n: int, prompts: list[str] | None = None) -> list[str]:
        """Pre-fill an account's web library with ``n`` images, oldest first; returns their ids.

        Create times lie in the past (one minute apart) so an import sees a plausible history;
        prompts cycle through ``prompts`` (numbered, so each is distinct) and seeds differ.
        """
        with self._lock:
            if email not in self._accounts:
                raise ValueError(f"no account {email!r}; add_account() first")
        base = datetime.now(UTC) - timedelta(minutes=n + 1)
        ids = []
        for i in range(n):
            if prompts:
                prompt = prompts[i % len(prompts)]
                if len(prompts) < n:
                    prompt = f"{prompt} #{i + 1}"
            else:
                prompt = f"{_LIBRARY_SUBJECTS[i % len(_LIBRARY_SUBJECTS)]}, study {i + 1}"
            aspect = ASPECT_RATIOS[i % len(ASPECT_RATIOS)]
            media = self._remember(email, prompt, 1000 + 7919 * i % MAX_SEED, aspect, MODELS[0], 0,
                                   base + timedelta(minutes=i), str(uuid.uuid4()))
            ids.append(media.media_id)
        return ids

    # --- the control API ------------------------------------------------------------------

    def _control(self, method: str, name: str, body: bytes) -> Reply:
        """``/_standin/<name>``: the same knobs as the methods, for tests in another process."""
        if name.startswith("avatar/") and method == "GET":
            who = unquote(name[len("avatar/"):]).removesuffix(".png")
            return Reply(200, images.render_avatar(who), content_type="image/png")
        if name == "calls" and method == "GET":
            with self._lock:
                return json_reply(200, {"calls": dict(self.calls),
                                         "pending_faults": [list(f) for f in self.pending_faults()]})
        if method != "POST":
            return json_reply(405, {"error": f"use POST {CONTROL_PREFIX}{name}"})
        try:
            args = json.loads(body or b"{}")
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            if name == "fail":
                params = {k: v for k, v in args.items() if k not in ("endpoint", "fault", "times")}
                self.fail(args["endpoint"], args["fault"], times=int(args.get("times", 1)), **params)
            elif name == "clear":
                self.clear_faults()
            elif name == "delay":
                self.delay(args["endpoint"], float(args["seconds"]), times=int(args.get("times", 1)))
            elif name == "account":
                self.add_account(args["session_token"], args["email"], args.get("name") or args["email"],
                                 args.get("image_url"))
            elif name == "revoke":
                self.revoke(args["session_token"])
            elif name == "seed_library":
                return json_reply(200, {"ok": True, "media_ids": self.seed_library(
                    args["email"], int(args["n"]), args.get("prompts"))})
            else:
                return json_reply(404, {"error": f"no control endpoint {name!r}"})
        except KeyError as exc:
            return json_reply(400, {"error": f"missing field {exc.args[0]!r}"})
        except (ValueError, TypeError) as exc:
            return json_reply(400, {"error": str(exc)})
        return json_reply(200, {"ok": True})


# --- foreground entry point ---------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m core.standin``: serve in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m core.standin",
                                     description="Local stand-in for the ImageFX web API (tests, demos).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--scale", type=float, default=1.0, help="image size factor (default 1.0)")
    parser.add_argument("--format", choices=images.FORMATS, default="PNG", help="image format (default PNG)")
    parser.add_argument("--token-lifetime", type=float, default=3600.0, help="access token lifetime (s)")
    parser.add_argument("--verbose", action="store_true", help="print one line per request (no secrets)")
    args = parser.parse_args(argv)

    server = StandInServer(args.host, args.port, image_scale=args.scale, token_lifetime=args.token_lifetime)
    server.image_format = args.format
    server.verbose = args.verbose
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_signal)
    server.start()
    print(f"ImageFX stand-in server listening on {server.url}")
    print(f"  IMAGEFX_LABS_URL={server.url}")
    print(f"  IMAGEFX_API_URL={server.url}")
    print(f"  demo cookie: {DEMO_COOKIE}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
