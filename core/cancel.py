"""A cancel flag shared between the one who waits and the one who works."""

from __future__ import annotations

import threading


class CancelToken:
    """Set from any thread; checked by long work between steps, and wakes its waits."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if cancelled meanwhile."""
        return self._event.wait(max(0.0, seconds))

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            from core.imagefx.errors import Cancelled

            raise Cancelled()


NEVER = CancelToken()
