"""The stand-in's HTTP transport: sockets, keep-alive, bodies, and the ways a reply can go wrong.

Kept apart from :mod:`core.standin.server`, which decides what to answer (routes, accounts,
faults): the handler here reads a request, hands it to :meth:`StandInServer.respond`, and
carries out the :class:`Exchange` it gets back, including the faults that live below HTTP
(a reset, a request left hanging, a body cut in half). Nothing is logged but method, path
without its query, and status, and only when the server is verbose.
"""

from __future__ import annotations

import json
import select
import socket
import socketserver
import struct
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from core.standin.server import StandInServer

MAX_BODY = 64 * 1024 * 1024

# How an exchange ends, besides answering in full.
CUT = "cut"  # promise the whole body, send half, hang up
RESET = "reset"  # hang up without a byte of answer
HANG = "hang"  # keep the request open until the client gives up
DROP = "drop"  # close without answering (the server is stopping)
DRIP = "drip"  # send the answer a byte at a time (``Exchange.drip``: seconds per byte, which part)


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    media_ids: tuple[str, ...] = ()  # images this answer carries (generate, fetch_media)


def json_reply(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(obj, separators=(",", ":")).encode("utf-8"), headers=headers or [])


@dataclass
class Exchange:
    """What the server decided: a reply, or one of the endings above (``ending``);
    ``on_sent`` runs once a reply has gone out whole."""

    reply: Reply | None = None
    ending: str = ""
    hang_seconds: float = 0.0
    on_sent: Callable[[], None] | None = None
    drip: tuple[float, str] = (0.0, "")  # DRIP: (seconds per byte, "all" or "body")


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], standin: StandInServer) -> None:
        self.standin = standin
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can take
        # seconds on machines without network; a loopback server does not need the name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # the client went away: normal for timeouts and fault tests
        self.standin.errors.append(traceback.format_exc())
        if self.standin.verbose:
            print(f"stand-in: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service
    server_version = "ImageFXStandIn/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections give their thread back eventually
    server: HTTPServer

    @property
    def standin(self) -> StandInServer:
        return self.server.standin

    def setup(self) -> None:
        super().setup()
        with self.standin._lock:
            self.standin._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.standin._lock:
                self.standin._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent unless verbose; never the query string, headers or body."""
        if self.standin.verbose:
            path = getattr(self, "path", "").split("?", 1)[0]
            status = args[1] if len(args) > 1 else ""
            print(f"stand-in: {getattr(self, 'command', '-')} {path} {status}".rstrip(), file=sys.stderr)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log_message("%s %s", "", code)

    def log_error(self, format: str, *args: Any) -> None:
        pass  # malformed-request noise; it could echo a request line

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- one request ------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise _TooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _TooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self, method: str) -> None:
        try:
            self._dispatch_inner(method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug in the stand-in: answer 500 and let the tests see it
            self.standin.errors.append(traceback.format_exc())
            self.close_connection = True
            try:
                self._send(self.standin.error_reply(500, "INTERNAL", "stand-in server error"))
            except OSError:
                pass

    def _dispatch_inner(self, method: str) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body()
        except _TooLarge:
            self.close_connection = True
            self._send(self.standin.error_reply(413, "INVALID_ARGUMENT", "Request payload too large."))
            return
        except ValueError:
            self.close_connection = True
            self._send(self.standin.error_reply(400, "INVALID_ARGUMENT", "Malformed request body."))
            return

        ex = self.standin.respond(method, split.path, split.query,
                                  {k.lower(): v for k, v in self.headers.items()}, body)
        if ex.ending == RESET:
            self._reset()
        elif ex.ending == HANG:
            self._hang(ex.hang_seconds)
            self.close_connection = True
        elif ex.ending == DROP or ex.reply is None:
            self.close_connection = True
        elif ex.ending == DRIP:
            if self._drip(ex.reply, *ex.drip) and ex.on_sent is not None:
                ex.on_sent()
        else:
            self._send(ex.reply, cut=ex.ending == CUT)
            if ex.ending != CUT and ex.on_sent is not None:
                ex.on_sent()

    def _send(self, reply: Reply, *, cut: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if cut or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if cut:  # promise the whole body, send half, hang up
            self.wfile.write(reply.body[: max(1, len(reply.body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(reply.body)

    def _drip(self, reply: Reply, interval: float, part: str) -> bool:
        """The answer a byte at a time, ``interval`` seconds apart (the status line and headers too,
        unless ``part`` is "body"); True if it all went out. Ends when the client goes away or the
        server stops."""
        self.close_connection = True
        head = (f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}\r\n"
                f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in reply.headers) + "Connection: close\r\n\r\n").encode("latin-1")
        stopping = self.standin._stopping
        data = head + reply.body
        if part == "body":
            self.wfile.write(head)
            self.wfile.flush()
            data = reply.body
        for i in range(len(data)):
            if stopping.wait(interval):
                return False
            try:
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
            except OSError:
                return False  # the client gave up
        return True

    def _reset(self) -> None:
        """Hang up without a byte of answer (an RST where the platform allows it)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def _hang(self, limit: float) -> None:
        """Keep the request open until the client gives up, the limit passes, or the server stops."""
        deadline = time.monotonic() + limit
        conn = self.connection
        stopping = self.standin._stopping
        while not stopping.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([conn], [], [], 0.05)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    return  # the client closed its end
            except (OSError, ValueError):
                return
            if readable:
                stopping.wait(0.05)  # pipelined data: don't spin


class _TooLarge(Exception):
    pass
