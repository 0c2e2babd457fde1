"""Typed values the client returns. Nothing here knows the wire format."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SessionInfo:
    name: str
    email: str
    image_url: str | None
    expires: datetime
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    count: int = 4
    model: str = "IMAGEN_3_5"
    aspect_ratio: str = "IMAGE_ASPECT_RATIO_LANDSCAPE"
    seed: int | None = None  # None or 0: the server chooses


@dataclass(frozen=True)
class GeneratedImage:
    media_id: str
    encoded_image: str = field(repr=False)  # base64, as received
    seed: int | None
    prompt: str | None  # as the service reports it (may be rewritten)
    model: str | None
    aspect_ratio: str | None = None
    workflow_id: str | None = None
    fingerprint_log_record_id: str | None = None
    is_mask_edited: bool = False

    def image_bytes(self) -> bytes:
        """Decoded bytes; raises ValueError on invalid base64 (callers turn it into an error)."""
        try:
            return base64.b64decode(self.encoded_image, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("image is not valid base64") from exc


@dataclass(frozen=True)
class Generation:
    prompt: str  # what was sent
    images: tuple[GeneratedImage, ...]
    workflow_id: str | None = None
    model: str | None = None  # asked for
    aspect_ratio: str | None = None  # asked for


@dataclass(frozen=True)
class Caption:
    text: str
    media_id: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    media_id: str
    create_time: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    entries: tuple[HistoryEntry, ...]
    next_cursor: str | None
