"""The last line of defence: a generation neither the database nor the spool could keep.

That happens when the database is unreachable and the disk under the data folder is full or
read-only (``core.service.StorageFailed``). The images then exist only in memory, so the
message bar offers to save them as files somewhere else, and says so plainly
(tests/gui/test_faults_gui.py).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from core.images import extension_for
from core.service import StorageFailed
from core.store import NewGeneration
from gui.export import slug, unique_path

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow


def write_generation(gen: NewGeneration, folder: Path) -> list[Path]:
    """Each image of ``gen`` as a file in ``folder`` (never overwriting one)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, img in enumerate(gen.images, 1):
        data = base64.b64decode(img.encoded_image)
        seed = img.seed if img.seed is not None else 0
        path = unique_path(folder, f"{slug(gen.prompt)}_{seed}_{i}{extension_for(data)}")
        with open(path, "xb") as fh:
            fh.write(data)
        out.append(path)
    return out


def offer_to_save(window: MainWindow, exc: StorageFailed) -> None:
    """Show what happened, with a button that saves the images as files (asks where)."""
    gen = exc.generation
    n = len(gen.images)

    def save() -> None:
        start = window.gui.get("export/last_dir") or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(window, f"Save the {n} generated images", start)
        if not chosen:
            return
        where = Path(chosen)

        def saved(paths: list[Path]) -> None:
            window.message_bar.show_message(f"Saved {len(paths)} image{'s' if len(paths) != 1 else ''} to {where}.",
                                            "success", timeout_ms=10_000)

        def failed(err: BaseException) -> None:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
            window.message_bar.show_message(f"The images could not be saved to {where} ({reason}). Choose another "
                                            "folder.", "error", [("Save images…", save)])

        window.worker.run(lambda: write_generation(gen, where), on_success=saved, on_failure=failed,
                          owner=window, name="save unstored images")

    window.message_bar.show_message(
        f"{exc.user_message} The {n} image{'s' if n != 1 else ''} exist only in this window now: save them as "
        "files before you close it.", "error", [("Save images…", save)])
