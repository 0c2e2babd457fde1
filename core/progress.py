"""Progress of long command-line work: a bar with the count and the time left on a terminal,
plain lines when the output goes to a pipe or a file.

Every long command (``export``, ``import-web``, ``queue run``, ``import-files``, ``library
export/import``) uses this one helper, so they all look and behave alike::

    with Progress("Exporting", total=120, unit="image") as p:
        for record in records:
            path = write(record)
            p.advance(line=str(path))   # the path above the bar, or a plain line when piped

The bar is drawn on standard error and only when it is a terminal, so standard output stays
data a script can read (file paths, summaries). It is rich's (a well-kept library, rather than
hand-written terminal codes), imported only when a bar is drawn: piped runs and the tests that
read the lines never load it.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any, TextIO

from core.redact import redact


def is_terminal(stream: object) -> bool:
    """A stream a person is looking at (a TTY, and not ``TERM=dumb``)."""
    try:
        tty = bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # a closed or odd stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


class Progress:
    """One piece of long work. ``total`` may be None (not known yet: the bar pulses) and set later.

    - :meth:`advance` counts finished units; ``line`` is printed with it (above the bar, or as a
      plain line to ``out`` when there is no bar).
    - :meth:`line` prints a message on its own (waits, pauses, warnings).
    - :meth:`status` says what is being worked on now (shown beside the bar; nothing when piped).

    Lines are redacted like log output: a message quoting a server's answer cannot print a secret.
    """

    def __init__(self, description: str, total: int | None = None, *, unit: str = "item",
                 out: TextIO | None = None, bar: TextIO | None = None, milestones: bool = False) -> None:
        """``milestones``: without a bar, a plain ``description: n/N`` line on standard error at every
        tenth of the way (for work that prints no line per unit)."""
        self.description = description
        self.total = total
        self.unit = unit
        self.completed = 0
        self.milestones = milestones
        self._tenth = -1
        self._out = out
        self._bar_stream = bar
        self._progress: Any = None
        self._task: Any = None

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def bar_stream(self) -> TextIO:
        return self._bar_stream or sys.stderr

    @property
    def drawing(self) -> bool:
        """True while a bar is on screen."""
        return self._progress is not None

    def __enter__(self) -> Progress:
        if is_terminal(self.bar_stream):
            self._start_bar()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _start_bar(self) -> None:
        from rich import progress as rp
        from rich.console import Console

        console = Console(file=self.bar_stream, highlight=False)
        self._progress = rp.Progress(
            rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
            rp.TextColumn("{task.fields[unit]}s ·"), rp.TimeElapsedColumn(), rp.TextColumn("elapsed ·"),
            rp.TimeRemainingColumn(), rp.TextColumn("left  {task.fields[status]}"),
            console=console,
            # print() to stdout lands above the bar only when stdout is that same terminal;
            # a piped stdout stays a clean stream of data.
            redirect_stdout=is_terminal(self.out), redirect_stderr=False,
        )
        self._task = self._progress.add_task(self.description, total=self.total, completed=self.completed,
                                             unit=self.unit, status="")
        self._progress.start()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # --- reporting ----------------------------------------------------------------------------------

    def set_total(self, total: int | None) -> None:
        self.total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: int = 1, *, line: str | None = None) -> None:
        self.completed += n
        if line is not None:
            self.line(line)
        self._show()

    def update(self, completed: int, total: int | None = None) -> None:
        """Set the count outright (the work counts itself), and the total if it is given."""
        self.completed = completed
        if total is not None and total != self.total:
            self.set_total(total)
        self._show()

    def _show(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.completed)
        elif self.milestones and self.total:
            tenth = min(10, self.completed * 10 // self.total)
            if tenth != self._tenth:
                self._tenth = tenth
                self.line(f"{self.description}: {self.completed:,}/{self.total:,}", err=True)

    def status(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=one_line(redact(text), 50))

    def line(self, text: str, *, err: bool = False) -> None:
        """A line for the person (or the script) reading: to ``out``, or standard error with ``err``."""
        text = redact(text)
        if self._progress is not None and (err or is_terminal(self.out)):
            self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        stream = sys.stderr if err else self.out
        try:
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):  # the reader went away (a closed pipe, a hung-up terminal)
            pass

    @property
    def prefix(self) -> str:
        """``[3/8]`` for plain lines: the count a piped reader cannot see on a bar."""
        total = "?" if self.total is None else str(self.total)
        return f"[{self.completed}/{total}]"


def one_line(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
