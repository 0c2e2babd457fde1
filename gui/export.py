"""Images leaving the app: file names, PNG bytes, clipboard and drag data.

A drag to a file manager needs files (``text/uri-list``); a drag or paste into an
editor wants pixels (``image/png`` and Qt's image data). Both are offered. Drag files
are written to one private temporary folder that lives as long as the app.
"""

from __future__ import annotations

import atexit
import re
import unicodedata
from pathlib import Path

import shiboken6
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QTemporaryDir, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from core.store import ImageRecord

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_drag_dir: QTemporaryDir | None = None


def slug(text: str, limit: int = 40) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:limit].rstrip("-") or "image"


def file_name(record: ImageRecord) -> str:
    """``a-red-fox-in-snow_1234567_ab12cd34.png``: readable, and unique per image."""
    seed = f"_{record.seed}" if record.seed is not None else ""
    media = re.sub(r"[^A-Za-z0-9]", "", record.media_id)[-8:] or str(record.id)
    return f"{slug(record.prompt)}{seed}_{media}.png"


def to_png(data: bytes) -> bytes:
    """The image as PNG bytes (stored images are PNG already; anything else is converted)."""
    if data.startswith(PNG_MAGIC):
        return data
    img = QImage.fromData(data)
    if img.isNull():
        raise ValueError("The stored image cannot be decoded.")
    return image_to_png(img)


def image_to_png(img: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    return bytes(buf.data().data())


def unique_path(folder: Path, name: str) -> Path:
    path = folder / name
    stem, suffix = path.stem, path.suffix
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def drag_dir() -> Path:
    global _drag_dir
    if _drag_dir is None or not _drag_dir.isValid():
        _drag_dir = QTemporaryDir()
    return Path(_drag_dir.path())


def mime_for(items: list[tuple[ImageRecord, bytes]], first_image: QImage | None = None) -> QMimeData:
    """Files for file managers, PNG pixels for editors and chat apps."""
    mime = QMimeData()
    folder = drag_dir()
    urls = []
    for record, data in items:
        path = folder / file_name(record)
        if not path.exists():
            path.write_bytes(to_png(data))
        urls.append(QUrl.fromLocalFile(str(path)))
    mime.setUrls(urls)
    if items:
        png = to_png(items[0][1])
        mime.setData("image/png", QByteArray(png))
        mime.setImageData(first_image if first_image is not None and not first_image.isNull()
                          else QImage.fromData(png))
    return mime


# --- the clipboard ---------------------------------------------------------------------------------

_on_clipboard: QMimeData | None = None
_release_registered = False


def to_clipboard(mime: QMimeData) -> None:
    """Put ``mime`` on the clipboard, and take it back off before the process exits.

    PySide6 crashes the interpreter at exit (SIGSEGV, exit code 139) when a QMimeData made in
    Python is still on the clipboard while the application is torn down; the image then goes
    back on as plain Qt data, which is safe (tests/gui/test_gallery.py copies an image).
    """
    global _on_clipboard, _release_registered
    if not _release_registered:
        atexit.register(_release_clipboard)
        _release_registered = True
    _on_clipboard = mime
    QGuiApplication.clipboard().setMimeData(mime)


def _release_clipboard() -> None:
    mime = _on_clipboard
    if QGuiApplication.instance() is None or mime is None or not shiboken6.isValid(mime):
        return
    clipboard = QGuiApplication.clipboard()
    current = clipboard.mimeData()
    if current is None or shiboken6.getCppPointer(current) != shiboken6.getCppPointer(mime):
        return  # something else was copied since: not ours to touch
    image = clipboard.image()
    if image.isNull():
        clipboard.clear()
    else:
        clipboard.setImage(image)
