"""A local folder that holds generations the database could not take yet.

A generated image is never lost: if storing fails because the database is unreachable,
the whole generation (images, thumbnails, parameters) is written here first, and
:meth:`Spool.drain` stores it once the database is back. Media ids are unique, so a
spool entry that did reach the database before the failure is not stored twice. An entry
from the prompt queue carries its item's id (``NewGeneration.queue_item_id``), so whoever
drains it marks that item done in the same transaction (``Service.store_spooled``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from core.private import private_dir
from core.store.database import DatabaseError, DatabaseUnavailable
from core.store.records import GenerationRecord, NewGeneration

log = logging.getLogger(__name__)


class SpoolError(OSError):
    """The spool folder cannot be written (disk full, permissions)."""


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, gen: NewGeneration) -> Path:
        """Write atomically (temp file + fsync + rename), so a crash leaves a whole entry or none."""
        try:
            private_dir(self.directory)  # 0700 from its first byte, whatever the umask (issue 12)
            final = self.directory / f"{gen.spool_id}.json"
            tmp = self.directory / f".{gen.spool_id}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(gen.to_json(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot write the spool folder {self.directory}: {exc.strerror}"
                             ) from None
        return final

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob("*.json"):
            try:
                found.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                pass  # stored and removed by another process since the listing
        return [path for _, path in sorted(found)]

    def __len__(self) -> int:
        return len(self.pending())

    def discard(self, spool_id: str) -> None:
        """Forget an entry that was stored by other means (the queue's own transaction)."""
        (self.directory / f"{spool_id}.json").unlink(missing_ok=True)

    def load(self, path: Path) -> NewGeneration:
        return NewGeneration.from_json(json.loads(path.read_text(encoding="utf-8")))

    def drain(self, store: Callable[[NewGeneration], GenerationRecord]) -> list[GenerationRecord]:
        """Store every entry with ``store``; an entry is removed only after its commit.

        Stops at :class:`DatabaseUnavailable` (raised on); an entry the database refuses
        otherwise stays and the next one is tried.
        """
        done = []
        for path in self.pending():
            try:
                gen = self.load(path)
            except FileNotFoundError:
                continue  # another process on this data folder stored it a moment ago
            except (OSError, ValueError, KeyError, TypeError):
                log.error("spool entry %s is unreadable; moved aside", path.name)
                try:
                    path.rename(path.with_suffix(".broken"))
                except OSError:
                    pass  # gone meanwhile, or a read-only folder: it stays, and is tried again
                continue
            try:
                record = store(gen)
            except DatabaseUnavailable:
                raise  # still down: this entry and the rest stay
            except DatabaseError as exc:
                # Refused for a reason of its own (a constraint, a full disk): keep it for a
                # later try, but never let one entry block the others, or the app's start.
                log.warning("spool entry %s could not be stored yet (%s); it stays in the spool", path.name,
                            exc.user_message)
                continue
            path.unlink(missing_ok=True)
            done.append(record)
        return done
