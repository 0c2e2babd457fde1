"""The database: engine and pool, the embedded server, schema bootstrap, models and queries.

Nothing outside this package writes SQL. Public surface: :class:`Database`,
the error types, the record types, :mod:`repo`, :mod:`queue_repo` and :class:`Spool`.

The names load on first use (PEP 562), so ``core.store.embedded`` can start the embedded
server before SQLAlchemy (~0.3 s of imports) has loaded: at start-up the two overlap
(``benchmarks/README.md``). ``from core.store import Database`` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.store import deadline, filtering, library, queue_repo, repo
    from core.store.database import (
        Database,
        DatabaseError,
        DatabaseRejected,
        DatabaseTimeout,
        DatabaseUnavailable,
        EmbeddedRestarting,
    )
    from core.store.records import (
        BoardRecord,
        CaptionRecord,
        GenerationRecord,
        HistoryRow,
        ImageLabels,
        ImageRecord,
        NewGeneration,
        NewImage,
        NewQueueItem,
        QueueCounts,
        QueueItem,
        SavedSearchRecord,
        TagCount,
        UserRecord,
        WebImportRecord,
    )
    from core.store.spool import Spool, SpoolError

__all__ = [
    "CaptionRecord", "Database", "DatabaseError", "DatabaseRejected", "DatabaseTimeout", "DatabaseUnavailable",
    "EmbeddedRestarting", "GenerationRecord", "HistoryRow",
    "ImageRecord", "NewGeneration", "NewImage", "NewQueueItem", "QueueCounts", "QueueItem", "Spool", "SpoolError",
    "UserRecord", "WebImportRecord", "deadline", "queue_repo", "repo",
    "BoardRecord", "ImageLabels", "SavedSearchRecord", "TagCount", "library", "filtering",
]

_HOME = {
    "Database": "database", "DatabaseError": "database", "DatabaseUnavailable": "database",
    "EmbeddedRestarting": "database", "DatabaseRejected": "database", "DatabaseTimeout": "database",
    "Spool": "spool", "SpoolError": "spool",
    **{name: "records" for name in ("CaptionRecord", "GenerationRecord", "HistoryRow", "ImageRecord",
                                    "NewGeneration", "NewImage", "NewQueueItem", "QueueCounts", "QueueItem",
                                    "UserRecord", "WebImportRecord", "BoardRecord", "ImageLabels",
                                    "SavedSearchRecord", "TagCount")},
}
_SUBMODULES = ("backup", "database", "deadline", "embedded", "filtering", "library", "models", "notify",
               "queue_repo", "records", "repo", "spool")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"core.store.{name}")
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'core.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.store.{home}"), name)
    globals()[name] = value
    return value
