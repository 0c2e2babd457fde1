"""Group by generation: "Select generation" selects every image one request made, together.

A generation is one ``prompts`` row (schema.sql: ``generated_images.prompt_id``; one per request,
however many images it returned). The gallery draws a faint divider where one generation ends
(gui/widgets/gallery_delegate.py); this controller owns the command that selects one whole.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from core.store import ImageRecord
from gui import icons
from gui.actions import key_sequences
from gui.context import AppContext
from gui.widgets.gallery import GalleryPanel

SHORTCUT = "Ctrl+G"


class GenerationController(QObject):
    def __init__(self, ctx: AppContext, gallery: GalleryPanel, actions: dict[str, QAction], window: QWidget) -> None:
        super().__init__(window)
        self.ctx = ctx
        self.gallery = gallery
        a = QAction("Select &generation", window)
        icons.bind(a, "generation")
        a.setShortcuts(key_sequences([SHORTCUT]))
        tip = "Select every image made with this one (the same Generate)"
        a.setToolTip(f"{tip} ({SHORTCUT})")
        a.setStatusTip(tip)
        a.setEnabled(False)
        a.triggered.connect(lambda _c=False: self.select_generation())
        window.addAction(a)
        actions["select_generation"] = a
        self.action = a
        gallery.selection_changed.connect(self._selection_changed)

    def _selection_changed(self, records: list[ImageRecord]) -> None:
        self.action.setEnabled(len(records) == 1 and records[0].prompt_id is not None)

    def select_generation(self) -> None:
        """Select the current image's generation (those of its images the gallery shows now)."""
        r = self.gallery.current_record()
        if r is None:
            return
        model = self.gallery.model
        flt = model.listing_filter()
        image_id = r.id

        def done(records: list[ImageRecord]) -> None:
            ids = [x.id for x in records]
            current = image_id if image_id in ids else None
            self.gallery.select_ids(ids, current=current)  # those loaded now
            for x in records:  # a generation across a page boundary: find the rest, then select them too
                if model.row_of(x.id) is None:
                    model.locate(x.id, model.rank_of(x),
                                 lambda row: self.gallery.select_ids(ids, current=current, scroll=False)
                                 if row is not None else None)

        self.ctx.call(lambda s: s.generation_of(image_id, **flt), on_success=done, owner=self,
                      name="select generation")
