"""A wait the user can see: a label that counts down, second by second, to when something resumes.

Rate limits and back-offs can last seconds or many minutes; a sentence with a number that
moves says the app is waiting on purpose, not stuck. The generation flow, the web import and
the queue all show their waits with it, so they read alike.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

NBSP = "\u00a0"


def clock(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: short enough for a status line, exact enough to watch.
    A number and its unit are joined by a no-break space, so a wrapped status never reads "13" / "s."."""
    s = max(0, int(seconds + 0.999))
    if s < 60:
        return f"{s}{NBSP}s"
    if s < 3600:
        return f"{s // 60}{NBSP}min {s % 60:02d}{NBSP}s"
    return f"{s // 3600}{NBSP}h {s % 3600 // 60:02d}{NBSP}min"


class Countdown(QObject):
    """Shows ``template.format(when="in 12 s")`` in ``label`` until the time is up ("now")."""

    finished = Signal()  # the time is up (not emitted when stopped)

    def __init__(self, label: QLabel, parent: QObject | None = None) -> None:
        super().__init__(parent or label)
        self.label = label
        self.template = ""
        self._until = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(250)  # a quarter second: the number never lags a visible second
        self._timer.timeout.connect(self._tick)

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def remaining(self) -> float:
        return max(0.0, self._until - time.monotonic()) if self.active else 0.0

    def start(self, seconds: float, template: str) -> None:
        self.template = template
        self._until = time.monotonic() + max(0.0, seconds)
        self._timer.start()
        self._tick()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        left = self._until - time.monotonic()
        if left <= 0:
            self._timer.stop()
            self.label.setText(self.template.format(when="now"))
            self.finished.emit()
            return
        self.label.setText(self.template.format(when=f"in {clock(left)}"))
