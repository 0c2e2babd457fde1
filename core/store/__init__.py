"""The database: engine and pool, the embedded server, schema bootstrap, models and queries.

Nothing outside this package writes SQL. Public surface: :class:`Database`,
the error types, the record types, :mod:`repo` and :class:`Spool`.
"""

from core.store import repo
from core.store.database import Database, DatabaseError, DatabaseUnavailable
from core.store.records import (
    CaptionRecord,
    GenerationRecord,
    HistoryRow,
    ImageRecord,
    NewGeneration,
    NewImage,
    UserRecord,
)
from core.store.spool import Spool, SpoolError

__all__ = [
    "CaptionRecord", "Database", "DatabaseError", "DatabaseUnavailable", "GenerationRecord", "HistoryRow",
    "ImageRecord", "NewGeneration", "NewImage", "Spool", "SpoolError", "UserRecord", "repo",
]
