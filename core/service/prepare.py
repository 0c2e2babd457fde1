"""Turn what ImageFX returned into rows ready to store: decoded, typed, thumbnailed.

Two steps, so nothing slow stands between an answer and the spool: :func:`raw_generation`
only copies what came (the spool keeps that first), :func:`complete` does the CPU work (base64
decode, image decode, thumbnail encode) before the database transaction opens, on a small
thread pool (Pillow releases the GIL while it decodes), so the transaction itself only writes.
A spool entry written raw is completed when it is drained.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from core import images
from core.imagefx.errors import ProtocolChanged
from core.imagefx.types import GeneratedImage, Generation
from core.store.records import NewGeneration, NewImage

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="thumbs")


def _raw_image(img: GeneratedImage, fallback_aspect: str | None, fallback_model: str | None) -> NewImage:
    """The image as it came, nothing decoded: what the spool keeps first (``Service.deliver``)."""
    return NewImage(
        media_id=img.media_id, encoded_image=img.encoded_image, seed=img.seed, returned_prompt=img.prompt,
        model=img.model or fallback_model, aspect_ratio=img.aspect_ratio or fallback_aspect,
        workflow_id=img.workflow_id, fingerprint_log_record_id=img.fingerprint_log_record_id,
        mime_type=None, width=None, height=None, byte_size=0, thumbnail=None, thumb_width=None, thumb_height=None)


def complete_image(img: NewImage) -> NewImage:
    """Decoded facts and the thumbnail of a raw image (CPU only, before the transaction opens).

    ProtocolChanged if the bytes are not a usable image. An image that has them already is
    returned as it is."""
    if img.thumbnail is not None and img.mime_type:
        return img
    try:
        data = base64.b64decode(img.encoded_image, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolChanged("ImageFX sent an image that cannot be decoded.", detail="invalid base64") from None
    faced = image_facts(img, data)
    if faced is None:
        raise ProtocolChanged("ImageFX sent data that is not an image.", detail="not an image")
    try:
        thumb, tw, th = images.make_thumbnail(data)
    except images.ImageError:
        raise ProtocolChanged("ImageFX sent an image that cannot be opened.", detail="undecodable") from None
    return dataclasses.replace(faced, thumbnail=thumb, thumb_width=tw, thumb_height=th)


def image_facts(img: NewImage, data: bytes) -> NewImage | None:
    """``img`` with its type, size and byte count read from ``data``'s header (nothing decoded,
    no thumbnail: what a file written before the thumbnails needs); None if it is no image."""
    info = images.sniff(data)
    if info is None:
        return None
    size = images.dimensions(data)
    return dataclasses.replace(img, mime_type=info.mime, width=size[0] if size else None,
                               height=size[1] if size else None, byte_size=len(data))


def complete(gen: NewGeneration) -> NewGeneration:
    """``gen`` with every image's facts and thumbnail (on the small pool: Pillow releases the GIL)."""
    if all(i.thumbnail is not None and i.mime_type for i in gen.images):
        return gen
    return dataclasses.replace(gen, images=list(_pool.map(complete_image, gen.images)))


def new_image(img: GeneratedImage, fallback_aspect: str | None, fallback_model: str | None) -> NewImage:
    return complete_image(_raw_image(img, fallback_aspect, fallback_model))


def raw_generation(gen: Generation, *, user_email: str, user_name: str, user_image_url: str | None,
                   requested_seed: int | None, source: str = "generate",
                   queue_item_id: int | None = None) -> NewGeneration:
    """What ImageFX delivered, ready for the spool at once: no image decoded yet (:func:`complete`)."""
    raw = [_raw_image(i, gen.aspect_ratio, gen.model) for i in gen.images]
    reported_model = next((i.model for i in gen.images if i.model), None) or gen.model
    return NewGeneration(
        user_email=user_email,
        user_name=user_name,
        user_image_url=user_image_url,
        prompt=gen.prompt,
        seed=requested_seed or 0,
        count=len(raw),
        aspect_ratio=gen.aspect_ratio or raw[0].aspect_ratio,
        model=reported_model,
        workflow_id=gen.workflow_id,
        images=raw,
        source=source,
        created_at=datetime.now(UTC),
        queue_item_id=queue_item_id,
    )


def new_generation(gen: Generation, *, user_email: str, user_name: str, user_image_url: str | None,
                   requested_seed: int | None, source: str = "generate") -> NewGeneration:
    return complete(raw_generation(gen, user_email=user_email, user_name=user_name, user_image_url=user_image_url,
                                   requested_seed=requested_seed, source=source))


def raw_fetched(img: GeneratedImage, *, user_email: str, user_name: str, user_image_url: str | None,
                source: str = "fetch", created_at: datetime | None = None) -> NewGeneration:
    """A single fetched image, with a prompt row of its own so search finds it (not decoded yet)."""
    raw = _raw_image(img, None, None)
    return NewGeneration(
        user_email=user_email, user_name=user_name, user_image_url=user_image_url,
        prompt=img.prompt or "", seed=img.seed or 0, count=1, aspect_ratio=raw.aspect_ratio,
        model=raw.model, workflow_id=img.workflow_id, images=[raw], source=source,
        created_at=created_at or datetime.now(UTC),
    )


def fetched_generation(img: GeneratedImage, *, user_email: str, user_name: str,
                       user_image_url: str | None, source: str = "fetch",
                       created_at: datetime | None = None) -> NewGeneration:
    return complete(raw_fetched(img, user_email=user_email, user_name=user_name, user_image_url=user_image_url,
                                source=source, created_at=created_at))
