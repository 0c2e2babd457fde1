"""Pause, resume, stop and cancel a long run (the queue, the web import) from another thread.

The GUI keeps a :class:`RunControl`, hands it to ``QueueService.run`` or
``WebImporter.run`` on a worker thread, and calls its methods from the UI thread. Every
wait inside a run goes through :meth:`RunControl.wait`, so a pause, stop or cancel
takes effect at once, not after a two-minute Retry-After.

:func:`retry_while_down` is the one way a run waits for ImageFX or the database to come
back, so the queue and the web import report outages and space their probes alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from core.cancel import CancelToken

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


class RunControl:
    """Thread-safe switches for a run.

    - ``pause()``: no new item starts; an item waiting (rate limit, back-off, network) is
      put back to pending. The item whose request is in flight finishes and is stored.
    - ``resume()``: carry on.
    - ``stop()``: end the run as soon as possible; the in-flight request still finishes
      and is stored (its images are paid for), nothing new starts.
    - ``cancel_current(item_id)``: give up on the running item (it becomes ``cancelled``;
      a result arriving after that is not stored).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._stopped = False
        self._cancel_item: int | None = None
        self._cancel_any = False
        self._current: int | None = None
        self._token = CancelToken()

    # --- switches (any thread) -----------------------------------------------------------------

    def pause(self) -> None:
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def cancel_current(self, item_id: int | None = None) -> None:
        """Cancel the running item (only if it is ``item_id``, when given, so a late click can't
        cancel the next one)."""
        with self._cond:
            if item_id is not None and item_id != self._current:
                return
            self._cancel_any = True
            self._cancel_item = self._current
            self._token.cancel()  # wakes the client's own waits (token refresh retries)
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def current_item(self) -> int | None:
        return self._current

    # --- for the runner -------------------------------------------------------------------

    def begin_item(self, item_id: int | None) -> CancelToken:
        """A fresh cancel token for the next item's requests."""
        with self._cond:
            self._current = item_id
            self._cancel_any = False
            self._cancel_item = None
            self._token = CancelToken()
            return self._token

    def end_item(self) -> None:
        with self._cond:
            self._current = None
            self._cancel_any = False

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_any

    @property
    def interrupted(self) -> bool:
        """Something asks the current step to stop waiting."""
        return self._stopped or self._paused or self._cancel_any

    def wait(self, seconds: float, *, pause: bool = True, cancel: bool = True) -> bool:
        """Sleep up to ``seconds``; True (at once) if stopped, or paused / cancelled when those
        count (``pause``, ``cancel``), meanwhile."""

        def woken() -> bool:
            return self._stopped or (pause and self._paused) or (cancel and self._cancel_any)

        with self._cond:
            return self._cond.wait_for(woken, timeout=max(0.0, seconds)) or woken()

    def wait_while_paused(self) -> bool:
        """Block while paused; False if the run was stopped instead of resumed."""
        with self._cond:
            self._cond.wait_for(lambda: not self._paused or self._stopped)
            return not self._stopped


@dataclass
class ProbeInterval:
    """The wait between tries while something is down: it doubles after each failed try, up to
    ``longest``, so a long outage is not probed every few seconds. A caller that keeps one across
    outages makes the next outage start where the last one ended."""

    wait: float
    longest: float

    def lengthen(self) -> None:
        self.wait = min(self.wait * 2, self.longest)


def retry_while_down(attempt: Callable[[], T], down: type[E] | tuple[type[E], ...], *,
                     sleep: Callable[[float], bool], interval: ProbeInterval,
                     on_down: Callable[[E], object] | None = None, on_up: Callable[[], object] | None = None,
                     after_sleep: Callable[[], object] | None = None, failed: E | None = None) -> T:
    """``attempt()`` until it no longer raises ``down`` (ImageFX or the database unavailable).

    ``on_down`` hears of the first failure only (the run shows one "paused"), ``on_up`` once an
    attempt succeeds after failures ("resumed"). ``sleep(seconds)`` is the run's wait between
    tries and returns True when the run should give up: then the last failure is raised again,
    for the caller to turn into what stopping means there. ``failed`` is a failure the caller
    already met and reported itself: the first attempt then comes after a wait, as a probe.
    ``after_sleep`` runs after each wait, before the next attempt (reconnecting what the outage
    broke).
    """
    outage = failed
    while True:
        if outage is not None:
            if sleep(interval.wait):
                raise outage
            if after_sleep is not None:
                after_sleep()
        try:
            result = attempt()
        except down as exc:
            if outage is None:
                if on_down is not None:
                    on_down(exc)
            else:
                interval.lengthen()
            outage = exc
            continue
        if outage is not None and on_up is not None:
            on_up()
        return result
