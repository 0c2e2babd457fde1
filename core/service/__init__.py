"""Use cases shared by the GUI and the CLI: :class:`Service` and its result types."""

from core.service.service import (
    Account,
    CaptionResult,
    GenerationResult,
    Service,
    StorageFailed,
    ValidationError,
    describe,
    validate_request,
)

__all__ = ["Account", "CaptionResult", "GenerationResult", "Service", "StorageFailed", "ValidationError",
           "describe", "validate_request"]
