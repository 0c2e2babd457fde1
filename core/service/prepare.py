"""Turn what ImageFX returned into rows ready to store: decoded, typed, thumbnailed.

This CPU work (base64 decode, PNG decode, thumbnail encode) runs before the database
transaction opens, on a small thread pool (Pillow releases the GIL while it decodes),
so the transaction itself only writes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from core import images
from core.imagefx.errors import ProtocolChanged
from core.imagefx.types import GeneratedImage, Generation
from core.store.records import NewGeneration, NewImage

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="thumbs")


def new_image(img: GeneratedImage, fallback_aspect: str | None, fallback_model: str | None) -> NewImage:
    try:
        data = img.image_bytes()
    except ValueError:
        raise ProtocolChanged("ImageFX sent an image that cannot be decoded.", detail="invalid base64") from None
    info = images.sniff(data)
    if info is None:
        raise ProtocolChanged("ImageFX sent data that is not an image.", detail="not an image")
    try:
        thumb, tw, th = images.make_thumbnail(data)
    except images.ImageError:
        raise ProtocolChanged("ImageFX sent an image that cannot be opened.", detail="undecodable") from None
    size = images.dimensions(data)
    return NewImage(
        media_id=img.media_id,
        encoded_image=img.encoded_image,
        seed=img.seed,
        returned_prompt=img.prompt,
        model=img.model or fallback_model,
        aspect_ratio=img.aspect_ratio or fallback_aspect,
        workflow_id=img.workflow_id,
        fingerprint_log_record_id=img.fingerprint_log_record_id,
        mime_type=info.mime,
        width=size[0] if size else None,
        height=size[1] if size else None,
        byte_size=len(data),
        thumbnail=thumb,
        thumb_width=tw,
        thumb_height=th,
    )


def new_generation(gen: Generation, *, user_email: str, user_name: str, user_image_url: str | None,
                   requested_seed: int | None, source: str = "generate") -> NewGeneration:
    prepared = list(_pool.map(lambda i: new_image(i, gen.aspect_ratio, gen.model), gen.images))
    reported_model = next((i.model for i in gen.images if i.model), None) or gen.model
    return NewGeneration(
        user_email=user_email,
        user_name=user_name,
        user_image_url=user_image_url,
        prompt=gen.prompt,
        seed=requested_seed or 0,
        count=len(prepared),
        aspect_ratio=gen.aspect_ratio or prepared[0].aspect_ratio,
        model=reported_model,
        workflow_id=gen.workflow_id,
        images=prepared,
        source=source,
        created_at=datetime.now(UTC),
    )


def fetched_generation(img: GeneratedImage, *, user_email: str, user_name: str,
                       user_image_url: str | None, source: str = "fetch",
                       created_at: datetime | None = None) -> NewGeneration:
    """A single fetched image, with a prompt row of its own so search finds it."""
    prepared = new_image(img, None, None)
    return NewGeneration(
        user_email=user_email, user_name=user_name, user_image_url=user_image_url,
        prompt=img.prompt or "", seed=img.seed or 0, count=1, aspect_ratio=prepared.aspect_ratio,
        model=prepared.model, workflow_id=img.workflow_id, images=[prepared], source=source,
        created_at=created_at or datetime.now(UTC),
    )
