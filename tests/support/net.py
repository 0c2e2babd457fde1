"""Network helpers for tests: an address where nothing listens."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port that was free a moment ago and has no listener (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


class TcpProxy:
    """A loopback TCP forwarder to ``target`` (host, port), on ``port`` (default: any free one).

    ``silence()`` turns it into a server that has gone quiet: connections stay open, what the
    client sends is read and dropped, nothing comes back (a stopped server, a dead network path).
    ``silent=True`` starts it that way: a socket that accepts and never answers."""

    def __init__(self, target: tuple[str, int] | None = None, *, port: int = 0, silent: bool = False) -> None:
        import threading

        self.target = target
        self.silent = silent or target is None
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def silence(self) -> None:
        self.silent = True

    def _accept(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._socks.append(client)
            upstream = None
            if not self.silent and self.target is not None:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                    self._socks.append(upstream)
                except OSError:
                    client.close()
                    continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None) -> None:
        while not self._closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                if dst is not None:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return
            if self.silent or dst is None:
                continue  # swallowed: a server that has gone quiet
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        """Stop listening (the port is free again at once) and drop every connection."""
        self._closed.set()
        for s in [self._listener, *self._socks]:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()/recv(): close alone leaves them
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
