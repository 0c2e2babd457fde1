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

from core.service import StorageFailed
from core.store import NewGeneration
from gui.export import template

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow


def write_generation(gen: NewGeneration, folder: Path, name_template: str | None = None) -> list[Path]:
    """Each image of ``gen`` as a file in ``folder``, by the core's one writer: the parameters
    inside, named as Export names them, never overwriting a file, fsynced (the only copy)."""
    from core.export import DEFAULT_TEMPLATE, FolderWriter, facts_of_new

    with FolderWriter(folder, template=name_template or DEFAULT_TEMPLATE, durable=True) as writer:
        return [writer.write(facts_of_new(gen, img), base64.b64decode(img.encoded_image)).path
                for img in gen.images]


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
            from core.export import ExportError

            if isinstance(err, ExportError):  # one sentence: a full disk, an unwritable folder
                text = f"{err} The images are still in this window."
            else:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
                text = f"The images could not be saved to {where} ({reason}). Choose another folder."
            window.message_bar.show_message(text, "error", [("Save images…", save)])

        chosen = template(window.gui)
        window.worker.run(lambda: write_generation(gen, where, chosen), on_success=saved, on_failure=failed,
                          owner=window, name="save unstored images")

    window.message_bar.show_message(
        f"{exc.user_message} The {n} image{'s' if n != 1 else ''} exist only in this window now: save them as "
        "files before you close it.", "error", [("Save images…", save)])
