"""Pause, resume, stop and cancel a long run (the queue, the web import) from another thread.

The GUI keeps a :class:`RunControl`, hands it to ``QueueService.run`` or
``WebImporter.run`` on a worker thread, and calls its methods from the UI thread. Every
wait inside a run goes through :meth:`RunControl.wait`, so a pause, stop or cancel
takes effect at once, not after a two-minute Retry-After.

:func:`retry_while_down` is the one way a run waits for ImageFX or the database to come
back, and :func:`call_imagefx` the one way a run retries an ImageFX call (with the one
policy of :mod:`core.imagefx.retry`), so the queue and the web import report outages,
rate limits and back-offs alike, and end alike (:class:`RunOutcome`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, TypeVar

from core.cancel import CancelToken
from core.imagefx.errors import AuthError, ImageFXError, RateLimited
from core.imagefx.retry import Failure, RetryPolicy, classify

if TYPE_CHECKING:
    from core.imagefx.client import ImageFXClient

T = TypeVar("T")
E = TypeVar("E", bound=Exception)


class RunOutcome(Enum):
    """How a run (the queue, the web import) ended: one set for both, so the GUI and the CLI
    compare a summary's outcome with the same names whichever run it came from."""

    FINISHED = "finished"  # nothing left to do (failed items included)
    LIMIT = "limit"  # the import stopped at the number of images asked for; the next run goes on
    STOPPED = "stopped"  # RunControl.stop(), or interrupted
    SIGN_IN = "sign_in"  # ImageFX wants a new sign-in; what is left waits for the next run
    STALLED = "stalled"  # the server kept answering without progress (an endless listing)


class WaitReason(StrEnum):
    """Why a run waits or pauses (an event's ``reason``)."""

    RATE_LIMIT = "rate_limit"
    RETRY = "retry"  # back-off after a server error, a time-out or a garbled answer
    NETWORK = "network"  # ImageFX cannot be reached; probing until it answers
    DATABASE = "database"
    USER = "user"  # paused by the user


class SignInNeeded(Exception):
    """A run met an AuthError: it stops with :attr:`RunOutcome.SIGN_IN`."""

    def __init__(self, err: ImageFXError) -> None:
        super().__init__(str(err))
        self.error = err


class Stopped(Exception):
    """A run's wait was cut short by stop (or, where the caller says so, pause or cancel)."""


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


def probe_imagefx(client: Callable[[], ImageFXClient]) -> None:
    """One probe while ImageFX is away: labs.google answers (ImageFXError if not);
    :class:`SignInNeeded` if its answer is that the sign-in is gone."""
    try:
        client().fetch_session()
    except AuthError as exc:
        raise SignInNeeded(exc) from None


def _stop() -> None:
    raise Stopped()


def call_imagefx(call: Callable[[], T], *, policy: RetryPolicy, control: RunControl,
                 probe: Callable[[], None], probe_interval: ProbeInterval | None = None,
                 on_wait: Callable[[WaitReason, float | None, ImageFXError], object] | None = None,
                 on_resumed: Callable[[], object] | None = None,
                 interrupted: Callable[[], None] = _stop) -> T:
    """``call()`` with the run's retry rules (:mod:`core.imagefx.retry`):

    - rate limited: wait (Retry-After, else back-off), try again;
    - transient (server error, time-out, garbled answer): back off, try again, up to the
      policy's number of failures, then the error is raised;
    - network: pause and probe (``probe``) until ImageFX answers, then try again;
    - sign-in gone: :class:`SignInNeeded`; cancelled: :class:`Stopped`; anything else is raised.

    ``on_wait(reason, seconds, error)`` reports each wait (``seconds`` None: until ImageFX is
    back), ``on_resumed()`` the end of a network pause. When the run's control cuts a wait
    short, ``interrupted()`` decides: raise (the default, :class:`Stopped`) or return to try
    again (the import holds through a pause). ``probe_interval`` kept by the caller spaces the
    probes of a later outage where the last one ended.
    """
    transient = rate_waits = 0
    probes = probe_interval or ProbeInterval(policy.probe_interval, policy.max_probe_interval)

    def sleep(seconds: float) -> bool:
        if control.wait(seconds):
            interrupted()
        return False

    while True:
        try:
            return call()
        except ImageFXError as err:
            kind = classify(err)
            if kind is Failure.CANCELLED:
                raise Stopped() from None
            if kind is Failure.SIGN_IN:
                raise SignInNeeded(err) from None
            if kind is Failure.RATE_LIMITED:
                assert isinstance(err, RateLimited)
                wait = policy.rate_limit_wait(err, rate_waits)
                rate_waits += 1
                if on_wait is not None:
                    on_wait(WaitReason.RATE_LIMIT, wait, err)
                sleep(wait)
            elif kind is Failure.TRANSIENT:
                transient += 1
                if transient >= policy.max_transient_failures:
                    raise
                wait = policy.backoff_wait(transient - 1)
                if on_wait is not None:
                    on_wait(WaitReason.RETRY, wait, err)
                sleep(wait)
            elif kind is Failure.NETWORK:
                if on_wait is not None:
                    on_wait(WaitReason.NETWORK, None, err)
                retry_while_down(probe, ImageFXError, sleep=sleep, interval=probes, failed=err)
                probes.lengthen()  # it failed again right after it came back: probe less often
                if on_resumed is not None:
                    on_resumed()
            else:
                raise
