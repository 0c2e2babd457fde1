"""Tools → database maintenance: the original schema document's tasks, from the GUI.

Delete expired sessions, archive images older than N days (copied to
``generated_images_archive`` and deleted in one transaction), and back up the database to
a file (``pg_dump`` of the server in use, embedded or not). Each runs on the worker through
:meth:`AppContext.call`; the outcome appears in the message bar. Restoring a backup is
command-line only (``imagefx maintenance restore FILE``), because it must go into an
empty database, not the one the window is showing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QInputDialog

from core.appinfo import command
from core.changes import Changes
from core.service import Service
from core.store.backup import BackupResult

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

ARCHIVE_DEFAULT_DAYS = 90


class Maintenance(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def _done(self, text: str) -> None:
        self.window.message_bar.show_message(text, "success", timeout_ms=10_000)
        self.window.statusBar().showMessage(text, 6000)

    def delete_expired_sessions(self) -> None:
        def done(n: int) -> None:
            self._done(f"Deleted {n} expired session{'s' if n != 1 else ''}.")

        self.window.ctx.call(lambda s: s.delete_expired_sessions(), on_success=done,
                             on_failure=self.window.show_error, owner=self, name="delete expired sessions")

    def archive_old_images(self, days: int | None = None) -> None:
        """Archive images older than ``days`` (asked for when None)."""
        if days is None:
            days, ok = QInputDialog.getInt(
                self.window, "Archive old images",
                "Move images older than this many days out of the gallery into the archive table\n"
                "(generated_images_archive; they stay in the database and in backups).\n"
                "Images in the Trash stay in the Trash:",
                ARCHIVE_DEFAULT_DAYS, 0, 36_500)
            if not ok:
                return

        def done(changes: Changes) -> None:
            n = changes.count
            self._done(f"Archived {n} image{'s' if n != 1 else ''} older than {days} days.")

        self.window.ctx.op(lambda s: s.archive_older_than(days), on_success=done,
                           on_failure=self.window.show_error, owner=self, name="archive old images")

    def backup_database(self, path: str | None = None) -> None:
        """Write a backup (``.sql.gz``) to ``path`` (asked for when None)."""
        if path is None:
            start = self.window.gui.get("export/last_dir") or str(Path.home())
            suggested = Path(start) / f"imagefx-backup-{datetime.now():%Y%m%d-%H%M%S}.sql.gz"
            path, _ = QFileDialog.getSaveFileName(self.window, "Back up the database", str(suggested),
                                                  "Compressed SQL (*.sql.gz);;SQL (*.sql)")
            if not path:
                return
        target = Path(path)
        self.window.message_bar.show_message(f"Backing up the database to {target.name}…", "info")

        def run(s: Service) -> BackupResult:
            return s.backup(target)

        def done(result: BackupResult) -> None:
            size = result.bytes / (1024 * 1024)
            self._done(f"Backup written to {result.path} ({size:.1f} MB in {result.seconds:.1f} s). "
                       f"Restore it with: {command()} maintenance restore FILE")

        self.window.ctx.call(run, on_success=done, on_failure=self.window.show_error, owner=self,
                             name="backup")
