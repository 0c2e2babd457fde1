"""Bounds on a store: it ends, one way or the other, within a known time.

A generation's images are in the spool before they are stored (``Service.deliver``), so a store
that cannot finish costs nothing but time; it must not cost *all* the time. Three bounds:

- server side, per statement: ``statement_timeout`` and ``lock_timeout`` for the store's
  transaction only (:func:`limit_statements`, ``SET LOCAL``), so a lock someone holds on
  ``prompts`` ends in "did not answer in time" instead of a wait without end. Only the store: a
  backup, an archive or a schema upgrade of a large library may rightly take longer.
- the connection: TCP keepalives (``core.store.database.KEEPALIVE_ARGS``) notice a vanished server.
- client side, the whole store (:func:`within`): a server that accepts and then says nothing
  (stopped, or a socket that never answers) enforces no timeout of its own, and keepalives are
  answered by its kernel. The store runs on a helper thread; the caller stops waiting at the
  deadline with :class:`DatabaseTimeout`, and the helper ends whenever the connection does.

``IMAGEFX_STORE_TIMEOUT`` (seconds, default 30) sets the statement bound; the lock bound is a
third of it, the whole store's deadline half as much again plus a second (46 s by default).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.store.database import DatabaseTimeout

T = TypeVar("T")
DEFAULT_STORE_TIMEOUT = 30.0


def store_timeout() -> float:
    """The statement bound of a store, in seconds (``IMAGEFX_STORE_TIMEOUT``; 1 s at least)."""
    try:
        value = float(os.environ.get("IMAGEFX_STORE_TIMEOUT", "") or DEFAULT_STORE_TIMEOUT)
    except ValueError:
        return DEFAULT_STORE_TIMEOUT
    return max(1.0, value) if math.isfinite(value) else DEFAULT_STORE_TIMEOUT


def limit_statements(s: Session, seconds: float | None = None) -> None:
    """``SET LOCAL`` statement and lock timeouts for the rest of this transaction."""
    seconds = store_timeout() if seconds is None else seconds
    ms = max(1, int(seconds * 1000))
    s.execute(sa.text(f"SET LOCAL statement_timeout = {ms}"))
    s.execute(sa.text(f"SET LOCAL lock_timeout = {max(1, ms // 3)}"))


def within(fn: Callable[[], T], where: str, seconds: float | None = None) -> T:
    """``fn()`` on a helper thread, waited for at most ``seconds`` (default: the store's deadline).

    DatabaseTimeout when the deadline passes (the helper is left to end by itself: whatever it
    stores later is stored once, media ids being unique). Exceptions of ``fn`` come through as
    they are. The wait is interruptible: a signal handler that raises ends it at once."""
    deadline = (store_timeout() * 1.5 + 1.0) if seconds is None else seconds
    done = threading.Event()
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="store", daemon=True).start()
    if not done.wait(deadline):
        raise DatabaseTimeout(f"The database at {where} did not answer within {deadline:.0f} s.",
                              "It may be stopped or overloaded; the app tries again later.")
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]
