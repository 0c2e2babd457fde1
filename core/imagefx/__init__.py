"""A pure client of the ImageFX web API: no database, no files, no Qt.

Public surface: :class:`ImageFXClient`, :func:`parse_cookie`, the typed values and the
error tree. Wire-format knowledge lives only in :mod:`core.imagefx.protocol`.
"""

from typing import TYPE_CHECKING, Any

from core.imagefx.cookies import parse_cookie
from core.imagefx.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    CookieFormatError,
    ImageFXError,
    ModelRejected,
    NetworkError,
    NotFound,
    ProtocolChanged,
    RateLimited,
    RequestTimeout,
    SafetyRefusal,
    ServerError,
)
from core.imagefx.types import (
    Caption,
    GeneratedImage,
    Generation,
    GenerationRequest,
    HistoryEntry,
    HistoryPage,
    SessionInfo,
)

__all__ = [
    "AuthError", "BadRequest", "Cancelled", "Caption", "CookieFormatError", "GeneratedImage", "Generation",
    "GenerationRequest", "HistoryEntry", "HistoryPage", "ImageFXClient", "ImageFXError", "ModelRejected",
    "NetworkError", "NotFound", "ProtocolChanged", "RateLimited", "RequestTimeout", "SafetyRefusal", "ServerError",
    "SessionInfo",
    "parse_cookie",
]

if TYPE_CHECKING:
    from core.imagefx.client import ImageFXClient


def __getattr__(name: str) -> Any:
    """:class:`ImageFXClient` loads on first use: it brings ``requests`` (~0.1 s), which the app's
    start-up and read-only commands such as ``history`` do not need (benchmarks/README.md)."""
    if name == "ImageFXClient":
        from core.imagefx.client import ImageFXClient

        return ImageFXClient
    raise AttributeError(f"module 'core.imagefx' has no attribute {name!r}")
