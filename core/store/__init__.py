"""The database: engine and pool, the embedded server, schema bootstrap, models and queries.

Nothing outside this package writes SQL. Public surface: :class:`Database`,
the error types, the record types, :mod:`repo`, :mod:`queue_repo` and :class:`Spool`.
"""

from core.store import queue_repo, repo
from core.store.database import Database, DatabaseError, DatabaseUnavailable
from core.store.records import (
    CaptionRecord,
    GenerationRecord,
    HistoryRow,
    ImageRecord,
    NewGeneration,
    NewImage,
    NewQueueItem,
    QueueCounts,
    QueueItem,
    UserRecord,
    WebImportRecord,
)
from core.store.spool import Spool, SpoolError

__all__ = [
    "CaptionRecord", "Database", "DatabaseError", "DatabaseUnavailable", "GenerationRecord", "HistoryRow",
    "ImageRecord", "NewGeneration", "NewImage", "NewQueueItem", "QueueCounts", "QueueItem", "Spool", "SpoolError",
    "UserRecord", "WebImportRecord", "queue_repo", "repo",
]
