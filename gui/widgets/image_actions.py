"""What the window does with the images selected in the gallery: details, copy, favourite, remix,
delete, save, drag out, open full size.

A mixin of :class:`gui.widgets.main_window.MainWindow`, like :mod:`gui.widgets.batch_actions`,
so the window file stays about the window. Full images are read and decoded on the worker
(:class:`gui.models.image_cache.ImageCache`); selecting images starts reading them, so that a
drag or a copy, which must be answered at once, finds the bytes already in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QMimeData
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from core.changes import Changes
from core.service import Service
from core.store import ImageRecord
from gui import export, icons
from gui.actions import GALLERY_MENU, add_actions
from gui.models.image_cache import FullImage
from gui.widgets.image_viewer import ImageViewer

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

PREFETCH_MAX = 24  # full images read ahead when many are selected


class ImageActions:
    """Mixed into MainWindow; ``self`` is the window."""

    viewer: ImageViewer | None = None

    def _connect_images(self: MainWindow) -> None:
        self.gallery.set_drag_source(self._drag_data)
        self.gallery.selection_changed.connect(self._selection_changed)
        self.gallery.view.activated_record.connect(lambda _r: self.open_viewer())
        self.gallery.context_menu_requested.connect(self._gallery_menu)
        self.model.failed.connect(self.show_error)
        self.model.rows_refreshed.connect(self._images_refreshed)
        self.model.arrived.connect(lambda n: self.statusBar().showMessage(
            f"{n} new image{'s' if n != 1 else ''} in your library.", 5000))
        self.images.loaded.connect(self._full_image_loaded)

    def selected(self: MainWindow) -> list[ImageRecord]:
        return self.gallery.view.selected_records()

    def current(self: MainWindow) -> ImageRecord | None:
        sel = self.selected()
        return sel[0] if len(sel) == 1 else None

    def _selection_changed(self: MainWindow, records: list[ImageRecord]) -> None:
        one, some = len(records) == 1, bool(records)
        for k in ("remix", "copy_prompt", "copy_seed", "viewer", "copy_image"):
            self.actions_[k].setEnabled(one)
        for k in ("save", "delete", "favorite"):
            self.actions_[k].setEnabled(some)
        if one and records[0].seed is None:
            self.actions_["copy_seed"].setEnabled(False)
        fav = some and all(r.is_favorite for r in records)
        fa = self.actions_["favorite"]
        fa.setText("Remove from &favourites" if fav else "Add to &favourites")
        icons.bind(fa, "star-filled" if fav else "star")
        self.actions_["save"].setText("&Save images…" if len(records) > 1 else "&Save image as…")
        thumb = None
        if records:
            row = self.model.row_of(records[0].id)
            thumb = self.model.thumbnail(records[0]) if row is not None else None
        self.details.show_records(records, thumb)
        for r in records[:PREFETCH_MAX]:
            self.images.load(r.id)
        if one:
            full = self.images.get(records[0].id)
            if full is not None:
                self.details.show_full(full.image_id, full.image)

    def _full_image_loaded(self: MainWindow, image_id: int) -> None:
        full = self.images.get(image_id)
        if full is not None:
            self.details.show_full(image_id, full.image)

    def _gallery_menu(self: MainWindow, pos: object) -> None:
        if not self.selected():
            return
        m = QMenu(self)
        add_actions(m, self.actions_, GALLERY_MENU)
        m.popup(pos)  # type: ignore[arg-type]

    def focus_search(self: MainWindow) -> None:
        self.tabs.setCurrentIndex(0)
        self.gallery.search.setFocus()
        self.gallery.search.selectAll()

    def remix(self: MainWindow) -> None:
        r = self.current()
        if r is not None:
            self.editor.remix(r)

    def copy_prompt(self: MainWindow) -> None:
        r = self.current()
        if r is not None:
            QGuiApplication.clipboard().setText(r.prompt)
            self.statusBar().showMessage("Prompt copied.", 3000)

    def copy_seed(self: MainWindow) -> None:
        r = self.current()
        if r is not None and r.seed is not None:
            QGuiApplication.clipboard().setText(str(r.seed))
            self.statusBar().showMessage(f"Seed {r.seed} copied.", 3000)

    def copy_image(self: MainWindow) -> None:
        r = self.current()
        if r is None:
            return

        def put(full: FullImage) -> None:
            # Pixels for editors and the file (named and described as Export does) for file managers.
            from core.export import ExportError

            try:
                mime = export.mime_for([(r, full.data)], full.image, export.template(self.gui))
            except ExportError:  # no file to offer: the pixels alone
                mime = QMimeData()
                mime.setImageData(full.image)
                mime.setData("image/png", QByteArray(export.to_png(full.data)))
            export.to_clipboard(mime)
            self.statusBar().showMessage("Image copied.", 3000)

        self.images.load(r.id, put)

    def toggle_favorite(self: MainWindow) -> None:
        records = self.selected()
        if not records:
            return
        favorite = not all(r.is_favorite for r in records)
        ids = [r.id for r in records]
        # The gallery and the details re-read the images from the change descriptor (apply_changes).
        self.ctx.op(lambda s: s.set_favorite(ids, favorite), owner=self, name="favourite")

    def _images_refreshed(self: MainWindow, ids: frozenset[int]) -> None:
        """Images re-read after a change: the details and the actions' texts follow the selection."""
        records = self.selected()
        if any(r.id in ids for r in records):
            self._selection_changed(records)

    def delete_selected(self: MainWindow) -> None:
        records = self.selected()
        if not records:
            return
        n = len(records)
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete images",
                          f"Delete {'this image' if n == 1 else f'these {n} images'} from your library?",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("This cannot be undone. Images you saved as files are not affected.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmDelete")
        ids = [r.id for r in records]

        def answered(_r: int) -> None:
            if box.clickedButton() is delete:
                self._delete(ids)
            box.deleteLater()

        box.finished.connect(answered)
        box.open()  # window-modal confirmation; everything else stays non-modal

    def _delete(self: MainWindow, ids: list[int]) -> None:
        def done(changes: Changes) -> None:
            self.images.forget(ids)
            n = changes.count
            self.statusBar().showMessage(f"Deleted {n} image{'s' if n != 1 else ''}.", 4000)

        self.ctx.op(lambda s: s.delete_images(ids), on_success=done, owner=self, name="delete")

    def save_selected(self: MainWindow) -> None:
        records = self.selected()
        if not records:
            return
        start = self.gui.get("export/last_dir") or str(Path.home())
        if len(records) == 1:
            from core.export import file_name

            name = file_name(records[0], template=export.template(self.gui))
            jpeg = name.endswith(".jpg")
            path, _ = QFileDialog.getSaveFileName(self, "Save image", str(Path(start) / name),
                                                  "JPEG image (*.jpg *.jpeg)" if jpeg else "PNG image (*.png)")
            if path:
                if not path.lower().endswith((".jpg", ".jpeg") if jpeg else (".png",)):
                    path += ".jpg" if jpeg else ".png"
                self.save_images(records, Path(path).parent, names={records[0].id: Path(path).name})
        else:
            folder = QFileDialog.getExistingDirectory(self, f"Save {len(records)} images to folder", start)
            if folder:
                self.save_images(records, Path(folder))

    def save_images(self: MainWindow, records: list[ImageRecord], folder: Path, names: dict[int, str] | None = None,
                    done: Callable[[list[Path]], None] | None = None) -> None:
        """Read each image and write it by the core's one writer (its parameters inside, named as
        Export names it; ``names``: a name the user chose), on the worker (DB read + file I/O)."""
        from core import export as core_export

        self.gui.set("export/last_dir", str(folder))
        name_template = export.template(self.gui)

        def run(s: Service) -> list[Path]:
            out = []
            with core_export.FolderWriter(folder, template=name_template) as writer:
                for r in records:
                    data = s.image_bytes(r.id)
                    if names and r.id in names:
                        out.append(core_export.save_file(folder / names[r.id], r, data))
                    else:
                        out.append(writer.write(r, data).path)
            return out

        def saved(paths: list[Path]) -> None:
            msg = f"Saved {paths[0].name}." if len(paths) == 1 else f"Saved {len(paths)} images to {folder}."
            self.statusBar().showMessage(msg, 5000)
            if done is not None:
                done(paths)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, core_export.ExportError):
                self.message_bar.show_message(str(exc), "error")
            elif isinstance(exc, OSError):
                self.message_bar.show_message(f"The images could not be saved: {exc.strerror or exc}.", "error")
            else:
                self.show_error(exc)

        self.ctx.call(run, on_success=saved, on_failure=failed, owner=self, name="save images")

    def _drag_data(self: MainWindow, records: list[ImageRecord]) -> QMimeData | None:
        """Files and pixels for a drag; only images already read are offered (the UI never waits)."""
        loaded = [(r, self.images.get(r.id)) for r in records]
        ready = [(r, f) for r, f in loaded if f is not None]
        for r, f in loaded:
            if f is None:
                self.images.load(r.id)
        if not ready:
            self.statusBar().showMessage("Still reading the image — drag again in a moment.", 3000)
            return None
        if len(ready) < len(records):
            self.statusBar().showMessage(f"Dragging {len(ready)} of {len(records)} images (the rest are still "
                                         "being read).", 4000)
        from core.export import ExportError

        try:
            return export.mime_for([(r, f.data) for r, f in ready], ready[0][1].image, export.template(self.gui))
        except ExportError as exc:  # the temporary folder is full or gone
            self.message_bar.show_message(str(exc), "error")
            return None

    def open_viewer(self: MainWindow) -> None:
        r = self.current()
        if r is None:
            return

        def show(full: FullImage) -> None:
            if self.viewer is None:
                self.viewer = ImageViewer()
                self.viewer.setWindowIcon(self.windowIcon())
            title = " ".join(r.prompt.split())
            self.viewer.show_image(full.image, title[:60] + ("…" if len(title) > 60 else ""))

        self.images.load(r.id, show)
