"""Use cases shared by the GUI and the CLI: :class:`Service` and its result types.

Long-running use cases wrap a Service (each blocks; the GUI runs them on a worker thread and
drives them with a :class:`RunControl` from the UI thread): :class:`QueueService` (the prompt
queue), :class:`WebImporter` (the ImageFX web library) and :class:`Exporter` (export with
metadata). They load on first use, so commands that do not need them do not pay for them.
"""

from typing import Any

from core.service.service import (
    Account,
    CaptionResult,
    FilterInvalid,
    GenerationResult,
    Service,
    StorageFailed,
    UnstorableAnswer,
    ValidationError,
    describe,
    validate_request,
)

__all__ = ["Account", "CaptionResult", "FilterInvalid", "GenerationResult", "Service", "StorageFailed",
           "UnstorableAnswer",
           "ValidationError", "describe", "validate_request"]

# --- issue 7: queue, web import, export (lazy) -----------------------------------------------
_LAZY = {"QueueService": "core.service.queue", "QueueOptions": "core.service.queue",
         "WebImporter": "core.service.webimport", "Exporter": "core.service.exporter",
         "RunControl": "core.service.control", "Library": "core.service.library"}
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.service' has no attribute {name!r}")
