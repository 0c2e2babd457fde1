"""Images leaving the app by drag and clipboard: files for file managers, pixels for editors.

A drag to a file manager needs files (``text/uri-list``); a drag or paste into an editor wants
pixels (``image/png`` and Qt's image data). Both are offered. The files are written by the
core's one writer (:class:`core.export.FolderWriter`) into one private temporary folder that
lives as long as the app, so a dragged or copied file has the same name and the same metadata
inside as an exported one, and dragging the same image twice reuses its file.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QTemporaryDir, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from core.images import sniff
from core.store import ImageRecord

if TYPE_CHECKING:  # core.export loads Pillow: on first use, not at start-up
    from core.export import FolderWriter

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_format(data: bytes) -> str:
    """Qt's name for the format of ``data`` by its magic bytes ("" when unknown).

    Readers are told the format so Qt does not ask every image plugin in turn: the SVG plugin's
    probe builds a ``QTextStream``, which takes Qt's signal-slot lock while this thread holds the
    GIL, and a worker decoding thumbnails deadlocked that way against the UI thread (which held
    the lock in a ``disconnect`` and waited for the GIL)."""
    info = sniff(data)
    if info is None:
        return ""
    return "png" if info.kind == "apng" else info.kind


def decode_image(data: bytes) -> QImage:
    """``QImage.fromData`` with the format named (see :func:`image_format`); thread-safe."""
    fmt = image_format(data)
    return QImage.fromData(data, fmt) if fmt else QImage.fromData(data)
DEFAULT_TEMPLATE = "{date}_{prompt:40}_{seed}"  # core.export.DEFAULT_TEMPLATE (tests/gui/test_gallery.py)

__all__ = ["PNG_MAGIC", "drag_file", "image_to_png", "mime_for", "template", "to_clipboard", "to_png"]

_drag_dir: QTemporaryDir | None = None
_drag_writer: FolderWriter | None = None


def template(gui: object) -> str:
    """The file name template the user chose for Export (Settings → the export dialog): every way
    out names files by it."""
    from core.export import check_template

    chosen = getattr(gui, "get", lambda _k: "")("export/template")
    try:
        check_template(chosen or "")
        return str(chosen)
    except ValueError:
        return DEFAULT_TEMPLATE


def to_png(data: bytes) -> bytes:
    """The image as PNG bytes (stored images are PNG already; anything else is converted)."""
    if data.startswith(PNG_MAGIC):
        return data
    img = decode_image(data)
    if img.isNull():
        raise ValueError("The stored image cannot be decoded.")
    return image_to_png(img)


def image_to_png(img: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    return bytes(buf.data().data())


def drag_dir() -> Path:
    global _drag_dir
    if _drag_dir is None or not _drag_dir.isValid():
        _drag_dir = QTemporaryDir()
    return Path(_drag_dir.path())


def drag_file(record: ImageRecord, data: bytes, name_template: str = DEFAULT_TEMPLATE) -> Path:
    """The image as a file in the app's drag folder (written once, reused by later drags).
    ``core.export.ExportError`` if it cannot be written."""
    from core.export import FolderWriter

    global _drag_writer
    folder = drag_dir()
    if _drag_writer is None or _drag_writer.folder != folder or _drag_writer.template != name_template:
        _drag_writer = FolderWriter(folder, template=name_template).open()
    return _drag_writer.write(record, data).path


def mime_for(items: list[tuple[ImageRecord, bytes]], first_image: QImage | None = None,
             name_template: str = DEFAULT_TEMPLATE) -> QMimeData:
    """Files for file managers (named and described as Export does), PNG pixels for editors."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(drag_file(record, data, name_template))) for record, data in items])
    if items:
        png = to_png(items[0][1])
        mime.setData("image/png", QByteArray(png))
        mime.setImageData(first_image if first_image is not None and not first_image.isNull()
                          else decode_image(png))
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
