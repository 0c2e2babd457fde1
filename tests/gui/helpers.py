"""Small steps GUI tests repeat: generate through the editor, wait for the worker, write images."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt

from gui.widgets.main_window import MainWindow


def generate(qtbot, w: MainWindow, prompt: str = "a red fox in fresh snow", count: int = 4,
             timeout: int = 20_000) -> None:
    """Type a prompt, set the count, click Generate, wait until it is done."""
    w.editor.set_text(prompt)
    w.editor.count.setValue(count)
    qtbot.mouseClick(w.editor.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.generating, timeout=timeout)


def settle(qtbot, w: MainWindow) -> None:
    qtbot.waitUntil(lambda: w.worker.active == 0, timeout=15_000)


def write_png(path: Path, color: str = "#3366cc", size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path, "PNG")
    return path


def _tiny(fmt: str, color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, fmt)
    return buf.getvalue()


def fill_library(service: object, count: int, *, per_generation: int = 8,
                 start: datetime = datetime(2026, 1, 1, tzinfo=UTC), step: timedelta = timedelta(seconds=1)) -> None:
    """Store ``count`` tiny images with their thumbnails, generation ``g`` made at ``start + g·step``:
    bulk inserts through the store's models (``repo.store_generation`` per generation is correct but
    makes ~14,000 round trips for 6,000 images)."""
    import sqlalchemy as sa

    from core.store import repo
    from core.store.models import GeneratedImage, ImageThumbnail, Prompt

    png = base64.b64encode(_tiny("PNG", (40, 90, 200))).decode("ascii")
    thumb = _tiny("JPEG", (40, 90, 200))
    generations = count // per_generation
    with service.db.session() as s:  # type: ignore[attr-defined]
        user_id = repo.ensure_user(s, "many@example.com", "Many")
        prompt_ids = s.execute(sa.insert(Prompt).returning(Prompt.id, sort_by_parameter_order=True), [
            {"user_id": user_id, "prompt_text": f"prompt number {g}", "seed": 0, "number_of_images": per_generation,
             "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE", "generation_model": "IMAGEN_3_5",
             "created_at": start + g * step} for g in range(generations)]).scalars().all()
        image_ids = s.execute(sa.insert(GeneratedImage).returning(GeneratedImage.id, sort_by_parameter_order=True), [
            {"user_id": user_id, "prompt_id": pid, "media_generation_id": f"many-{g}-{i}", "encoded_image": png,
             "seed": g * 10 + i, "model_name_type": "IMAGEN_3_5", "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
             "created_at": start + g * step, "mime_type": "image/png", "width": 8, "height": 6,
             "byte_size": 70, "source": "generate"}
            for g, pid in enumerate(prompt_ids) for i in range(per_generation)]).scalars().all()
        s.execute(sa.insert(ImageThumbnail), [{"image_id": iid, "thumbnail": thumb, "width": 8, "height": 6}
                                             for iid in image_ids])
