"""Ctrl-C, SIGTERM and SIGHUP (a closed terminal) for the command line: they stop the work, but
never throw away images ImageFX has made.

The CLI installs one handler for all three (:func:`install`). Outside a :func:`guard` a signal
stops the command at once (:class:`Interrupted`, a ``KeyboardInterrupt``: exit code 128 + the
signal's number, 130 for Ctrl-C). Inside one, where images are on their way or being kept:

- the first signal is *held*: the process says what it is finishing ("storing the images that
  arrived") and goes on; when the command has kept them it exits with that signal's code;
- a second signal stops it at once, except once the answer is all in (:func:`answer_in`: its
  parsing) and inside :meth:`Guard.firm` (the spool write, a few milliseconds): those always finish
  first, so whatever arrived is on disk before anything gives up.

SIGKILL cannot be caught; the spool (written first, atomically) is what keeps the images then.
Signals reach the main thread only, so guards on other threads (the GUI's workers) do nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HANDLED: tuple[int, ...] = tuple(
    s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal; ``exit_code`` is what a shell expects (128 + the signal's number)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Guard:
    """A stretch of work whose first signal is held (see the module docstring)."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.holding = False
        self.noted = False  # a signal was held
        self._firm = 0
        self._settled = False  # the answer is coming in: firm until the spool write ends (answer_in)
        self._give_up: Callable[[], None] | None = None  # a second signal meanwhile: end the wait soon
        self._during_firm: list[int] = []

    def hold(self, message: str | None = None) -> None:
        """From now on the first signal is held (images are on their way)."""
        self.holding = True
        if message:
            self.message = message

    def say(self, message: str) -> None:
        """What a held signal is told from now on."""
        self.message = message

    @contextmanager
    def firm(self) -> Iterator[None]:
        """Nothing stops this block; a signal that arrives meanwhile counts once it ends."""
        self._firm += 1
        try:
            yield
        finally:
            self._firm -= 1
            self.unsettle()

    def settle(self, give_up: Callable[[], None] | None = None) -> None:
        """The answer is coming in: from now until :meth:`firm` ends (the spool write) nothing stops.
        ``give_up`` is called at a second signal meanwhile (the client then waits only a moment more
        for the rest of the answer)."""
        if not self._settled:
            self._settled = True
            self._give_up = give_up
            self._firm += 1

    def unsettle(self, *, dispatch: bool = True) -> None:
        """End what :meth:`settle` began (the answer was kept, or was no answer after all); signals
        that arrived meanwhile count now unless ``dispatch`` is False (an error is on its way out)."""
        if self._settled:
            self._settled = False
            self._give_up = None
            self._firm -= 1
        if not self._firm and self._during_firm:
            arrived, self._during_firm = self._during_firm, []
            if dispatch:
                for signum in arrived:
                    _dispatch(signum, self)

    def _receive(self, signum: int) -> None:
        if self._firm and (self.noted or not self.holding):
            self._during_firm.append(signum)  # counts once the block ends
            if self._give_up is not None:
                give_up, self._give_up = self._give_up, None
                give_up()
            return
        _dispatch(signum, self)


class _State:
    def __init__(self) -> None:
        self.kept = 0  # images in the spool and not stored yet (what an interruption leaves there)
        self.guards: list[Guard] = []
        self.deferred: list[int] = []  # held signals, for the command's exit code
        self.on_first: Callable[[int], None] | None = None
        self.first_done = False
        self.installed: dict[int, Any] = {}


_state = _State()


def _tell(message: str) -> None:
    """One line on stderr from a signal handler: never an exception (a hung-up terminal says EIO)."""
    try:
        os.write(2, (message.rstrip() + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _dispatch(signum: int, guard: Guard | None) -> None:
    if guard is not None and guard.holding and not guard.noted:
        guard.noted = True
        _state.deferred.append(signum)
        if _state.on_first is not None and not _state.first_done:
            _state.first_done = True  # the run's own "stop after this" says what happens
            _state.on_first(signum)
        else:
            _tell(guard.message)
        return
    if _state.on_first is not None and not _state.first_done:
        _state.first_done = True
        _state.deferred.append(signum)
        _state.on_first(signum)
        return
    raise Interrupted(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    guard = _state.guards[-1] if _state.guards else None
    if guard is not None:
        guard._receive(signum)
        return
    _dispatch(signum, None)


def install(on_first: Callable[[int], None] | None = None) -> None:
    """Handle SIGINT, SIGTERM and SIGHUP in this (main) thread. ``on_first`` makes the first signal
    outside a guard a request (``queue run``: stop after the current item) instead of a stop."""
    if threading.current_thread() is not threading.main_thread():
        return
    _state.on_first = on_first
    _state.first_done = False
    for signum in HANDLED:
        try:
            previous = signal.signal(signum, _handler)
        except (OSError, ValueError):
            continue
        _state.installed.setdefault(signum, previous)


def uninstall() -> None:
    for signum, previous in _state.installed.items():
        try:
            signal.signal(signum, previous)
        except (OSError, ValueError, TypeError):
            pass
    _state.installed.clear()
    _state.on_first = None


def kept(n: int) -> None:
    """``n`` images went into the spool (negative: they are stored now); for the interruption's message."""
    _state.kept = max(0, _state.kept + n)


def waiting_in_spool() -> int:
    return _state.kept


def deferred() -> int | None:
    """The first signal that was held (the command should end with its exit code), or None."""
    return _state.deferred[0] if _state.deferred else None


def clear() -> None:
    _state.deferred.clear()
    _state.first_done = False


@contextmanager
def guard(message: str) -> Iterator[Guard]:
    """A stretch where images may arrive; call :meth:`Guard.hold` once they are on their way."""
    g = Guard(message)
    if threading.current_thread() is not threading.main_thread() or not _state.installed:
        yield g  # nobody sends signals here: the guard holds nothing
        return
    _state.guards.append(g)
    try:
        yield g
    except BaseException:
        g.unsettle(dispatch=False)  # what failed says why the command ends
        raise
    else:
        g.unsettle()
    finally:
        _state.guards.remove(g)


def answer_in(give_up: Callable[[], None] | None = None) -> Guard | None:
    """An answer that may carry images is coming in (its status says so): reading the rest,
    parsing it and writing it to the spool now finish whatever signal comes, except that a
    second signal calls ``give_up`` (the innermost guard's :meth:`Guard.settle`). Pass the result
    to :func:`answer_dropped` if the answer is not kept after all (cut off, does not parse)."""
    if not _state.guards or threading.current_thread() is not threading.main_thread():
        return None
    g = _state.guards[-1]
    g.settle(give_up)
    return g


def answer_dropped(g: Guard | None) -> None:
    """No answer to keep after all: a signal that arrived meanwhile stops the command now."""
    if g is not None:
        g.unsettle()
