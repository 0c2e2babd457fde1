"""The one retry policy for ImageFX calls: what a failure means, and how long to wait before the next try.

The client's own quick retries (``ImageFXClient(retries=…)``), the prompt queue and the web import
all ask this module, so a 429 or a 503 is waited out the same way everywhere; only the numbers
differ (the client retries within a second or two, a queue run waits minutes if it must).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from core.imagefx.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    ImageFXError,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
)


class Failure(Enum):
    """What an ImageFX failure means for whoever retries."""

    SIGN_IN = "sign_in"  # the sign-in is gone: stop, ask the user
    RATE_LIMITED = "rate_limited"  # wait (Retry-After, else back off) and try the same call again
    TRANSIENT = "transient"  # server error, time-out, garbled answer: a few tries with back-off
    NETWORK = "network"  # ImageFX cannot be reached: wait until it answers again
    REFUSED = "refused"  # safety filter or a bad request: trying again will not help
    CANCELLED = "cancelled"
    OTHER = "other"


def classify(err: ImageFXError) -> Failure:
    if isinstance(err, Cancelled):
        return Failure.CANCELLED
    if isinstance(err, AuthError):
        return Failure.SIGN_IN
    if isinstance(err, RateLimited):
        return Failure.RATE_LIMITED
    if isinstance(err, (RequestTimeout, ServerError, ProtocolChanged)):
        return Failure.TRANSIENT  # RequestTimeout before NetworkError: it is a subclass
    if isinstance(err, NetworkError):
        return Failure.NETWORK
    if isinstance(err, (SafetyRefusal, BadRequest)):
        return Failure.REFUSED
    return Failure.OTHER


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between tries. ``backoff`` is the first wait, doubling up to ``max_backoff``;
    ``max_transient_failures`` tries of a transient failure end the call; network probes start
    ``probe_interval`` apart and stretch to ``max_probe_interval``; ``jitter`` spreads the waits
    of many clients (±20 %) so they do not come back at the same instant."""

    backoff: float = 1.0
    max_backoff: float = 60.0
    max_transient_failures: int = 3
    probe_interval: float = 5.0
    max_probe_interval: float = 60.0
    jitter: bool = False

    def backoff_wait(self, attempt: int) -> float:
        """The wait after the ``attempt``-th failure (0 = the first)."""
        wait = min(self.backoff * (2 ** attempt), self.max_backoff)
        return wait * (0.8 + 0.4 * random.random()) if self.jitter else wait

    def rate_limit_wait(self, err: RateLimited, attempt: int) -> float:
        """Retry-After when the server said, else back-off."""
        return err.retry_after if err.retry_after is not None else self.backoff_wait(attempt)

    def quick_retry_wait(self, err: ImageFXError, attempt: int) -> float | None:
        """For a call that retries on its own (the client): the wait, or None when the failure is
        not for it to wait out (not retryable, or a Retry-After longer than ``max_backoff``, which
        the caller schedules instead of blocking a thread for minutes)."""
        if not err.retryable:
            return None
        if isinstance(err, RateLimited) and err.retry_after is not None:
            return err.retry_after if err.retry_after <= self.max_backoff else None
        return self.backoff_wait(attempt)


CLIENT_POLICY = RetryPolicy(backoff=1.0, max_backoff=60.0, jitter=True)
RUN_POLICY = RetryPolicy(backoff=10.0, max_backoff=300.0)  # the queue and the web import
