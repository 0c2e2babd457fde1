"""A pure client of the ImageFX web API: no database, no files, no Qt.

Public surface: :class:`ImageFXClient`, :func:`parse_cookie`, the typed values and the
error tree. Wire-format knowledge lives only in :mod:`core.imagefx.protocol`.
"""

from core.imagefx.client import ImageFXClient
from core.imagefx.cookies import parse_cookie
from core.imagefx.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    CookieFormatError,
    ImageFXError,
    NetworkError,
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
    "GenerationRequest", "HistoryEntry", "HistoryPage", "ImageFXClient", "ImageFXError", "NetworkError",
    "ProtocolChanged", "RateLimited", "RequestTimeout", "SafetyRefusal", "ServerError", "SessionInfo",
    "parse_cookie",
]
