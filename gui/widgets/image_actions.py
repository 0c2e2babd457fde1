"""What the window does with the images selected in the gallery: details, copy, favourite, remix,
delete, save, drag out, open full size.

A mixin of :class:`gui.widgets.main_window.MainWindow`, like :mod:`gui.widgets.batch_actions`,
so the window file stays about the window. Full images are read and decoded on the worker
(:class:`gui.models.image_cache.ImageCache`); selecting images starts reading them, so that a
drag or a copy, which must be answered at once, finds the bytes already in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QMimeData, Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from core.changes import ChangeKind, Changes
from core.service import Service
from core.store import ImageRecord
from gui import export, icons
from gui.actions import GALLERY_MENU, add_actions
from gui.models.image_cache import FullImage
from gui.widgets.image_viewer import ImageViewer

if TYPE_CHECKING:
    from gui.widgets.main_window import MainWindow

log = logging.getLogger(__name__)

PREFETCH_MAX = 24  # full images read ahead when many are selected


TRASH_MENU = ("viewer", None, "restore", "delete", None, "copy_image", "copy_prompt", "copy_seed", None, "save")


def _images(n: int) -> str:
    return f"{n:,} image{'s' if n != 1 else ''}"


class ImageActions:
    """Mixed into MainWindow; ``self`` is the window."""

    viewer: ImageViewer | None = None

    def _connect_images(self: MainWindow) -> None:
        self._select_when_back: set[int] = set()
        self._auto_empty_pending = False
        self._auto_emptied_for: Service | None = None
        self.history.failed.connect(self.show_error)
        self.ctx.changes_applied.connect(self._changes_heard)
        self.ctx.service_ready.connect(self._trash_service_ready)
        self.model.reset_done.connect(self._auto_empty)
        self.gallery.trash.toggled.connect(self._trash_view_changed)
        self.gallery.trash_bar.restore_all.clicked.connect(self.restore_all)
        self.gallery.trash_bar.empty.clicked.connect(self.empty_trash)
        self.editor.replaced.connect(self._editor_replaced)
        self.history.stack.indexChanged.connect(self._stack_moved)
        self._update_trash_bar()
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
        """The selected images, by id: the ones the details panel shows (never "whatever is in that row")."""
        return self.gallery.selected_records()

    def current(self: MainWindow) -> ImageRecord | None:
        sel = self.selected()
        return sel[0] if len(sel) == 1 else None

    def _selection_changed(self: MainWindow, records: list[ImageRecord]) -> None:
        one, some = len(records) == 1, bool(records)
        for k in ("remix", "copy_prompt", "copy_seed", "viewer", "copy_image"):
            self.actions_[k].setEnabled(one)
        for k in ("save", "delete", "favorite", "delete_forever", "caption_selected"):
            self.actions_[k].setEnabled(some)
        self.actions_["restore"].setEnabled(some and self.model.trash)
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
            v = self.viewer
            if v is not None and v.isVisible() and (v.record is None or v.record.id != records[0].id):
                self._show_in_viewer(records[0])  # the viewer shows what is selected, always

    def _full_image_loaded(self: MainWindow, image_id: int) -> None:
        full = self.images.get(image_id)
        if full is not None:
            self.details.show_full(image_id, full.image)

    def _gallery_menu(self: MainWindow, pos: object) -> None:
        if not self.selected():
            return
        m = QMenu(self)
        add_actions(m, self.actions_, TRASH_MENU if self.model.trash else GALLERY_MENU)
        self.boards.extend_gallery_menu(m)  # Add to board ▸, Remove from this board
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
        was = {r.id for r in records if r.is_favorite}

        def undo(_c: Changes) -> Callable[[Service], Changes]:
            return lambda s: s.set_favorite(sorted(was), True).merge(
                s.set_favorite([i for i in ids if i not in was], False))

        # The gallery and the details re-read the images from the change descriptor (apply_changes).
        self.history.perform(lambda c: f"{'Add' if favorite else 'Remove'} {_images(c.count)} "
                                       f"{'to' if favorite else 'from'} favourites",
                             lambda s: s.set_favorite(ids, favorite), undo, name="favourite")

    def _images_refreshed(self: MainWindow, ids: frozenset[int]) -> None:
        """Images re-read after a change: the details and the actions' texts follow the selection;
        images an undo brought back are selected again."""
        records = self.selected()
        if any(r.id in ids for r in records):
            self._selection_changed(records)
        back = self._select_when_back & ids
        if back:
            self._select_when_back -= back
            self._select_ids(back)

    def _select_ids(self: MainWindow, ids: set[int] | frozenset[int]) -> None:
        self.gallery.select_ids(sorted(ids, key=lambda i: self.model.row_of(i) or 0))  # by id, scrolled to

    # --- the Trash (issue 11: nothing is final by accident) -----------------------------------

    def _changes_heard(self: MainWindow, changes: Changes) -> None:
        restored = changes.ids(ChangeKind.IMAGES_RESTORED)
        svc = self.ctx.service
        if restored and not self.model.trash and svc is not None and changes.origin == svc.origin:
            self._select_when_back |= restored  # selected again as they reappear (_images_refreshed)

    def delete_selected(self: MainWindow) -> None:
        """Delete: to the Trash, undoable (no question asked); in the Trash view, for good (asked)."""
        if self.model.trash:
            self.delete_forever_selected()
            return
        records = self.selected()
        if not records:
            return
        ids = [r.id for r in records]

        def done(changes: Changes) -> None:
            self.images.forget(ids)
            n = changes.count
            self.message_bar.show_message(
                f"{_images(n)} moved to the Trash.", "info",
                [("Undo", lambda: self._undo_from_bar(f"Delete {_images(n)}")),
                 ("Show Trash", lambda: self.show_trash(True))],
                timeout_ms=12_000)

        self.history.perform(lambda c: f"Delete {_images(c.count)}", lambda s: s.trash_images(ids),
                             lambda c: lambda s, t=sorted(c.ids(ChangeKind.IMAGES_TRASHED) or ()): s.restore_images(t),
                             on_done=done, name="move to the Trash")

    def _stack_moved(self: MainWindow, _index: int) -> None:
        """Undone or redone (Ctrl+Z, Edit menu): a "moved to the Trash — Undo" bar is out of date."""
        if self.message_bar.text.endswith(" moved to the Trash.") and self.message_bar.button("Undo") is not None:
            self.message_bar.dismiss()

    def _undo_from_bar(self: MainWindow, text: str) -> None:
        """The message bar's Undo: only while that is still the last thing done."""
        self.message_bar.dismiss()
        if self.history.stack.canUndo() and self.history.stack.undoText() == text:
            self.history.stack.undo()
        else:
            self.statusBar().showMessage("That was not the last change any more; use Edit → Undo.", 5000)

    def restore_selected(self: MainWindow) -> None:
        records = self.selected() if self.model.trash else []
        if records:
            self._restore([r.id for r in records])

    def restore_all(self: MainWindow) -> None:
        self._restore(None)

    def _restore(self: MainWindow, ids: list[int] | None) -> None:
        def do(s: Service) -> Changes:
            return s.restore_images(ids if ids is not None else [r.id for r in s.trash(limit=10_000_000)])

        def done(changes: Changes) -> None:
            self.statusBar().showMessage(f"Restored {_images(changes.count)} to the library.", 5000)

        self.history.perform(lambda c: f"Restore {_images(c.count)}", do,
                             lambda c: lambda s, t=sorted(c.ids(ChangeKind.IMAGES_RESTORED) or ()): s.trash_images(t),
                             on_done=done, name="restore from the Trash")

    def delete_forever_selected(self: MainWindow) -> None:
        """Shift+Delete, or Delete in the Trash view: for good, after a question that shows what."""
        records = self.selected()
        if not records:
            return
        n = len(records)
        ids = [r.id for r in records]
        first = " ".join(records[0].prompt.split())
        what = f"“{first[:60]}{'…' if len(first) > 60 else ''}”" + (f" and {n - 1} more" if n > 1 else "")
        self._confirm_final(f"Delete {'this image' if n == 1 else f'these {n} images'} for good?",
                            f"{what}. This cannot be undone. Images you saved as files are not affected.",
                            "Delete forever", lambda: self._delete_for_good(ids),
                            picture=self.model.thumbnail(records[0]))

    def _delete_for_good(self: MainWindow, ids: list[int]) -> None:
        in_trash = self.model.trash

        def do(s: Service) -> Changes:
            if in_trash:
                return s.empty_trash(image_ids=ids)
            return s.delete_images(ids)

        def done(changes: Changes) -> None:
            self.images.forget(ids)
            self.statusBar().showMessage(f"Deleted {_images(changes.count)} for good.", 5000)

        self.history.run(do, on_success=done, name="delete for good")

    def empty_trash(self: MainWindow) -> None:
        self._confirm_final("Empty the Trash?", "Every image in the Trash is deleted for good. This cannot be "
                            "undone.", "Empty Trash", self._empty_now)

    def _empty_now(self: MainWindow) -> None:
        self.history.run(lambda s: s.empty_trash(), name="empty the Trash", on_success=lambda c: (
            self.statusBar().showMessage(f"Deleted {_images(c.count)} from the Trash for good.", 5000)))

    def _confirm_final(self: MainWindow, question: str, detail: str, button: str,
                       then: Callable[[], None], picture: QPixmap | None = None) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, button, question, QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(detail)
        if picture is not None:  # shows what is about to go, not only its prompt
            box.setIconPixmap(picture.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
        yes = box.addButton(button, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmDelete")

        def answered(_r: int) -> None:
            if box.clickedButton() is yes:
                then()
            box.deleteLater()

        box.finished.connect(answered)
        box.open()  # window-modal; everything else stays non-modal

    def show_trash(self: MainWindow, on: bool = True) -> None:
        self.tabs.setCurrentIndex(0)
        if self.gallery.trash.isChecked() != on:
            self.gallery.trash.setChecked(on)

    def _trash_view_changed(self: MainWindow, on: bool) -> None:
        """The gallery shows the Trash (or the library again): the commands say what they do there."""
        d = self.actions_["delete"]
        d.setText("&Delete forever…" if on else "&Delete")
        tip = "Delete the selected images for good" if on else "Move the selected images to the Trash (Ctrl+Z undoes)"
        d.setToolTip(f"{tip} (Del)")
        d.setStatusTip(tip)
        self.actions_["show_trash"].setChecked(on)
        self.actions_["export"].setEnabled(not on)  # export is of the library; restore first
        self._update_trash_bar()
        self._selection_changed(self.selected())

    def _update_trash_bar(self: MainWindow) -> None:
        days = max(0, self.settings.trash_days)
        rule = (f"Images in the Trash are deleted for good {days} day{'s' if days != 1 else ''} after they were "
                "moved there" if days else "Images stay in the Trash until you empty it")
        self.gallery.trash_bar.set_rule(rule + " (Settings → Library).")

    def _trash_service_ready(self: MainWindow, svc: Service) -> None:
        if svc is not self._auto_emptied_for:
            self._auto_empty_pending = True

    def _auto_empty(self: MainWindow) -> None:
        """Once per service, after the first page: what has been in the Trash longer than the
        setting is deleted for good, on the worker."""
        svc = self.ctx.service
        if not self._auto_empty_pending or svc is None:
            return
        self._auto_empty_pending = False
        self._auto_emptied_for = svc
        days = self.settings.trash_days
        if days <= 0:
            return

        def done(changes: Changes) -> None:
            if changes:
                self.statusBar().showMessage(f"Deleted {_images(changes.count)} that had been in the Trash for "
                                             f"more than {days} days.", 8000)

        self.ctx.op(lambda s: s.empty_trash(older_than_days=days), on_success=done,
                    on_failure=lambda e: log.warning("emptying the Trash at start-up failed: %s", e),
                    owner=self, name="empty old Trash")

    # --- undo of the prompt editor ----------------------------------------------------------------

    def _editor_replaced(self: MainWindow, before: object, what: str) -> None:
        self.history.record_editor(what, self.editor, before)

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
            self.statusBar().showMessage("Still reading the image — to drop it into another app, drag again "
                                         "in a moment (a board takes it now).", 3000)
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
        if r is not None:
            self._show_in_viewer(r, activate=True)

    def _show_in_viewer(self: MainWindow, r: ImageRecord, *, activate: bool = False) -> None:
        """The viewer shows the selected image (read on the worker); a later selection wins."""
        if self.viewer is None:
            self.viewer = ImageViewer(self)
            self.viewer.setWindowIcon(self.windowIcon())
            self.viewer.step_requested.connect(self._viewer_step)
        viewer = self.viewer
        viewer.wanted_id = r.id

        def show(full: FullImage) -> None:
            if viewer.wanted_id != r.id:
                return  # the selection moved on meanwhile
            row = self.model.row_of(r.id)
            total = self.model.total
            position = f"{row - self.model.pending_count + 1:,} of {total:,}" if row is not None and total > 0 else ""
            viewer.show_image(full.image, r, position=position, activate=activate)

        self.images.load(r.id, show)

    def _viewer_step(self: MainWindow, step: int) -> None:
        """← / → in the viewer: the gallery's selection moves, and the viewer follows it."""
        if self.gallery.select_neighbour(step) is None and self.viewer is not None:
            self.viewer.flash("No newer image." if step < 0 else "No older image (or still loading).")
