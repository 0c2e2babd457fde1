"""Window state and last-used options: one QSettings wrapper, defaults in one place.

The file lives next to ``settings.json`` in the config directory from :mod:`core.config`
(``IMAGEFX_DATA_DIR`` moves it), in INI format, so tests never touch the real home and
a user can read it. What the core needs (database, default generation options, theme)
stays in ``settings.json``; this file only holds what the GUI remembers between runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from core.config import Settings
from core.private import private_dir, private_file

DEFAULTS: dict[str, Any] = {
    "window/geometry": QByteArray(),
    "window/main_splitter": QByteArray(),
    "window/gallery_splitter": QByteArray(),
    "window/side_splitter": QByteArray(),
    "window/caption_splitter": QByteArray(),
    "window/tab": 0,
    "editor/prompt": "",
    "editor/model": "",
    "editor/aspect_ratio": "",
    "editor/count": 0,  # 0: use the default from settings.json
    "editor/seed": 0,
    "editor/seed_locked": False,
    "gallery/favorites_only": False,
    "gallery/thumbnail_size": 168,  # px (gui/models/gallery_model.py CELL); the slider's value
    "gallery/thumbnail_fit": False,  # thumbnails whole (aspect ratio visible) instead of square crops
    "caption/count": 3,
    "caption/last_dir": "",
    "export/last_dir": "",
    "export/template": "",
    "queue/running": False,  # the queue ran when the window closed: resume it at the next start
    "queue/last_dir": "",
}


class GuiSettings:
    """Typed get/set over one INI file; unknown keys are a bug, so they raise."""

    def __init__(self, path: Path) -> None:
        # The draft prompt and the folders last used are the user's own: 0600 in a 0700 folder
        # (issue 12). QSettings rewrites the file keeping its mode, so the mode is set here once.
        private_dir(path.parent)
        private_file(path)
        self.path = path
        self._q = QSettings(str(path), QSettings.Format.IniFormat)

    @classmethod
    def for_settings(cls, settings: Settings) -> GuiSettings:
        return cls(settings.config_dir / "gui.ini")

    def get(self, key: str) -> Any:
        default = DEFAULTS[key]
        value = self._q.value(key, default)
        if value is None:
            return default
        try:
            if isinstance(default, bool):
                return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
            if isinstance(default, int):
                return int(value)
            if isinstance(default, QByteArray):
                return value if isinstance(value, QByteArray) else default
            if isinstance(default, str):
                return str(value)
        except (TypeError, ValueError):
            return default
        return value

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()
