"""Thousands of gallery items must not crash the process (PySide6 6.12's None-refcount abort).

docs/platform-notes.md: with PySide6 6.12.0 a process that added ~1,000 items through
QStandardItemModel aborted at exit (code 134), ~5,200 mid-run. The gallery uses a custom
QAbstractListModel; this test stores ~6,000 images in a fresh database and runs the real
window over them in a subprocess, which must exit with 0.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from core.store import repo
from core.store.models import GeneratedImage, ImageThumbnail, Prompt

ROOT = Path(__file__).resolve().parents[2]
COUNT = 6000
PER_GENERATION = 8


def _tiny(fmt: str, color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buf, fmt)
    return buf.getvalue()


def fill(service: object, count: int) -> None:
    """Store ``count`` tiny images with their thumbnails: bulk inserts through the store's models
    (``repo.store_generation`` per generation is correct but makes ~14,000 round trips)."""
    png = base64.b64encode(_tiny("PNG", (40, 90, 200))).decode("ascii")
    thumb = _tiny("JPEG", (40, 90, 200))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    generations = count // PER_GENERATION
    with service.db.session() as s:  # type: ignore[attr-defined]
        user_id = repo.ensure_user(s, "many@example.com", "Many")
        prompt_ids = s.execute(sa.insert(Prompt).returning(Prompt.id, sort_by_parameter_order=True), [
            {"user_id": user_id, "prompt_text": f"prompt number {g}", "seed": 0, "number_of_images": PER_GENERATION,
             "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE", "generation_model": "IMAGEN_3_5",
             "created_at": start + timedelta(seconds=g)} for g in range(generations)]).scalars().all()
        image_ids = s.execute(sa.insert(GeneratedImage).returning(GeneratedImage.id, sort_by_parameter_order=True), [
            {"user_id": user_id, "prompt_id": pid, "media_generation_id": f"many-{g}-{i}", "encoded_image": png,
             "seed": g * 10 + i, "model_name_type": "IMAGEN_3_5", "aspect_ratio": "IMAGE_ASPECT_RATIO_LANDSCAPE",
             "created_at": start + timedelta(seconds=g), "mime_type": "image/png", "width": 8, "height": 6,
             "byte_size": 70, "source": "generate"}
            for g, pid in enumerate(prompt_ids) for i in range(PER_GENERATION)]).scalars().all()
        s.execute(sa.insert(ImageThumbnail), [{"image_id": iid, "thumbnail": thumb, "width": 8, "height": 6}
                                             for iid in image_ids])


def test_thousands_of_gallery_items_exit_cleanly(service, db_url, data_dir):
    fill(service, COUNT)
    assert service.count_images() == COUNT
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen", IMAGEFX_DATA_DIR=str(data_dir))
    proc = subprocess.run([sys.executable, "-m", "tests.gui.many_items_child", db_url, str(COUNT)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-2000:]}"
    assert f"rows={COUNT}" in proc.stdout
