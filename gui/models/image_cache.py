"""Full-size images of the current selection, loaded on the worker and kept for a while.

The details preview, the viewer, "Copy image", "Save as…" and dragging out all need the
full image, which only ``Service.image_bytes`` reads (megabytes of base64 per image).
Selecting an image starts its load here, so that by the time the user drags or copies
it the bytes are already in memory: a drag must be answered synchronously and the UI
thread must not wait on the database. Decoding to ``QImage`` happens on the worker too
(10–25 ms per 1024-px PNG, docs/platform-notes.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.service import Service
from gui.context import AppContext
from gui.export import decode_image

MAX_BYTES = 160 * 1024 * 1024


@dataclass(frozen=True)
class FullImage:
    image_id: int
    data: bytes  # as stored (PNG from ImageFX)
    image: QImage

    @property
    def cost(self) -> int:
        return len(self.data) + self.image.sizeInBytes()


class ImageCache(QObject):
    loaded = Signal(int)  # image id
    failed = Signal(int, object)  # image id, exception

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._items: OrderedDict[int, FullImage] = OrderedDict()
        self._size = 0
        self._waiting: dict[int, list[Callable[[FullImage], None]]] = {}

    def get(self, image_id: int) -> FullImage | None:
        item = self._items.get(image_id)
        if item is not None:
            self._items.move_to_end(image_id)
        return item

    def load(self, image_id: int, callback: Callable[[FullImage], None] | None = None) -> None:
        """Call ``callback`` with the image when it is in memory (at once if it already is)."""
        item = self.get(image_id)
        if item is not None:
            if callback is not None:
                callback(item)
            return
        waiting = self._waiting.get(image_id)
        if waiting is not None:
            if callback is not None:
                waiting.append(callback)
            return
        self._waiting[image_id] = [callback] if callback is not None else []

        def read(s: Service) -> FullImage:
            data = s.image_bytes(image_id)
            img = decode_image(data)
            return FullImage(image_id, data, img)

        def done(item: FullImage) -> None:
            self._put(item)
            for cb in self._waiting.pop(image_id, []):
                cb(item)
            self.loaded.emit(image_id)

        def fail(exc: BaseException) -> None:
            self._waiting.pop(image_id, None)
            self.failed.emit(image_id, exc)

        self.ctx.call(read, on_success=done, on_failure=fail, owner=self, name="load image")

    def _put(self, item: FullImage) -> None:
        old = self._items.pop(item.image_id, None)
        if old is not None:
            self._size -= old.cost
        self._items[item.image_id] = item
        self._size += item.cost
        while self._size > MAX_BYTES and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._size -= dropped.cost

    def forget(self, ids: list[int]) -> None:
        for image_id in ids:
            item = self._items.pop(image_id, None)
            if item is not None:
                self._size -= item.cost

    def clear(self) -> None:
        self._items.clear()
        self._size = 0
