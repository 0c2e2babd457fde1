"""The one way to read a file a user named: regular files only, and never more than a limit.

A path from the command line, a file dialog or a drop can be anything: a FIFO (an
``open()`` that waits forever for a writer), ``/dev/zero`` or ``/dev/urandom`` (``st_size``
is 0, a plain ``read()`` runs until MemoryError), a folder, a socket, a file that grows
while it is read. Hand-written rather than a library because the order matters: open with
``O_NONBLOCK`` (so a FIFO cannot block the open), check the *opened* file with ``fstat``
(so a path swapped after a check cannot slip through), then read at most ``limit + 1``
bytes (so the size check does not trust ``st_size``).

Every failure is a :class:`UserFileError` with one sentence that names the file; callers
that have their own error type (``ImageError``, ``ValidationError``) pass it as ``error``.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
from pathlib import Path

_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
          | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))


class UserFileError(ValueError):
    """A file the user named cannot be used. The message is one sentence and names the file."""


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.0f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def _a(what: str) -> str:
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike[str], *, what: str = "file", error: type[Exception] = UserFileError,
                 pipe_hint: str = "") -> tuple[int, os.stat_result]:
    """An open, blocking file descriptor of a regular file, and its ``fstat``; for a reader that
    streams (a library file too large to hold). The caller closes it. :func:`read_bytes` for the rest."""
    shown = str(path)
    try:
        fd = os.open(Path(path).expanduser(), _FLAGS)
    except FileNotFoundError:
        raise error(f"{shown}: no such file.") from None
    except IsADirectoryError:
        raise error(f"{shown} is a folder, not {_a(what)}.") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a Unix socket (or a FIFO opened for writing)
            raise error(f"{shown} is a socket, not {_a(what)}; only regular files can be read.") from None
        raise error(f"{shown} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:
            hint = f" {pipe_hint}" if pipe_hint and stat.S_ISFIFO(st.st_mode) else ""
            raise error(f"{shown} is {kind}, not {_a(what)}; only regular files can be read.{hint}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: O_NONBLOCK only guarded the open
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_bytes(path: str | os.PathLike[str], *, limit: int, what: str = "file",
               error: type[Exception] = UserFileError, pipe_hint: str = "") -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes.

    ``what`` names the file in messages ("image", "cookie file", "prompt file"); ``pipe_hint``
    is added when the file is a pipe (``<(command)`` in a shell): how to pass one instead.
    """
    shown = str(path)
    fd, st = open_regular(path, what=what, error=error, pipe_hint=pipe_hint)
    try:
        if st.st_size > limit:
            raise error(f"{shown} is too large for {_a(what)} ({_size(st.st_size)}; the limit is {_size(limit)}).")
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise error(f"{shown} cannot be read ({exc.strerror or type(exc).__name__}).") from None
    finally:
        os.close(fd)
    if got > limit:  # it grew while we read, or st_size lied (/proc and the like)
        raise error(f"{shown} is too large for {_a(what)} (over {_size(limit)}).")
    return b"".join(chunks)


def decode_text(data: bytes, shown: str, *, what: str = "file",
                error: type[Exception] = UserFileError) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM, as editors save text; a clear error otherwise."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise error(f"{shown} is damaged UTF-16 text; save it again as UTF-8.") from None
    if b"\x00" in data:
        raise error(f"{shown} is a binary file, not {_a(what)} (text was expected).")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        raise error(f"{shown} is not UTF-8 text (byte 0x{byte:02X} at position {exc.start}); save it as "
                    "UTF-8 and try again.") from None


def read_text(path: str | os.PathLike[str], *, limit: int, what: str = "file",
              error: type[Exception] = UserFileError, pipe_hint: str = "") -> str:
    """:func:`read_bytes` decoded by :func:`decode_text`."""
    data = read_bytes(path, limit=limit, what=what, error=error, pipe_hint=pipe_hint)
    return decode_text(data, str(path), what=what, error=error)
