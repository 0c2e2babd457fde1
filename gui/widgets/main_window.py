"""The main window: prompt editor on the left, gallery (with details), captions or the queue on the right.

It wires widgets to service calls and owns what they share: the :class:`AppContext`
(service lifecycle, worker), the actions (made in :mod:`gui.actions`, each with a menu
entry and a shortcut), and the message bars. The window shows before the service
connects; until then, and whenever the database is unreachable, a banner says why and
offers Retry / Settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QImage
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.cancel import CancelToken
from core.config import Settings, load_settings
from core.imagefx.types import GenerationRequest
from core.service import Account, GenerationResult, Service, StorageFailed
from core.store import DatabaseError, DatabaseUnavailable, ImageRecord
from gui import errors as gerrors
from gui import export, icons, rescue, theme
from gui.actions import GALLERY_MENU, TOOLBAR, add_actions, build_actions, build_menus, shortcuts_dialog
from gui.context import AppContext, ServiceFactory
from gui.dialogs.settings import SettingsDialog
from gui.dialogs.sign_in import SignInDialog
from gui.maintenance import Maintenance
from gui.models.gallery_model import GalleryModel
from gui.models.image_cache import FullImage, ImageCache
from gui.queue_runner import QueueRunner
from gui.settings import GuiSettings
from gui.widgets.account_widget import AccountWidget
from gui.widgets.batch_actions import QUEUE_TAB, BatchActions
from gui.widgets.caption_panel import CaptionPanel
from gui.widgets.details_panel import DetailsPanel
from gui.widgets.gallery import GalleryPanel
from gui.widgets.image_viewer import ImageViewer
from gui.widgets.message_bar import MessageBar
from gui.widgets.prompt_editor import PromptEditor
from gui.widgets.queue_panel import QueuePanel
from gui.worker import Task, Worker

log = logging.getLogger(__name__)

APP_TITLE = "ImageFX Studio"
DEMO_LABEL = "OFFLINE DEMO — images are generated locally, not by Google"
PREFETCH_MAX = 24


class MainWindow(BatchActions, QMainWindow):
    def __init__(self, service_factory: ServiceFactory | None = None, *, demo: bool = False,
                 settings: Settings | None = None, retry_interval_ms: int | None = None) -> None:
        super().__init__()
        if service_factory is None:
            from gui.service_factory import default_factory

            service_factory = default_factory
        self.settings = settings or load_settings()
        self.gui = GuiSettings.for_settings(self.settings)
        self.worker = Worker(parent=self)
        kw = {"retry_interval_ms": retry_interval_ms} if retry_interval_ms else {}
        self.ctx = AppContext(service_factory, self.worker, self.gui, self.settings, demo=demo, parent=self, **kw)
        self.images = ImageCache(self.ctx, self)
        self.model = GalleryModel(self.ctx, parent=self)
        self.queue = QueueRunner(self.ctx, parent=self)
        self.maintenance = Maintenance(self)
        self.viewer: ImageViewer | None = None
        self.sign_in_dialog: SignInDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.shortcuts_window: QDialog | None = None
        self._generation: Task | None = None
        self._closing = False
        self._side_loads_pending = False
        self.is_demo = demo

        self.setWindowIcon(icons.app_icon())
        self.setAccessibleName(APP_TITLE)
        self.resize(1380, 860)
        self.setMinimumSize(QSize(760, 520))

        self.actions_ = build_actions(self)
        self._make_widgets()
        self.theme_actions, self.switch_menu = build_menus(self)
        self._make_toolbar()
        self._make_status_bar()
        self._make_tab_order()
        self._connect()
        self._restore_state()
        self._update_title()
        self._selection_changed([])
        QTimer.singleShot(0, self.ctx.start)  # show first, then connect

    # --- construction --------------------------------------------------------------------------

    def _make_widgets(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.db_banner = MessageBar("Database status", closable=False)
        self.account_bar = MessageBar("Sign-in prompt")
        self.message_bar = MessageBar("Messages")
        for bar in (self.db_banner, self.account_bar, self.message_bar):
            layout.addWidget(bar)

        self.editor = PromptEditor(self.gui, self.settings.generation)
        self.editor.setMinimumWidth(280)
        self.gallery = GalleryPanel(self.model)
        self.gallery.set_drag_source(self._drag_data)
        self.details = DetailsPanel(self.actions_)
        self.captions = CaptionPanel(self.ctx)
        self.queue_panel = QueuePanel(self.queue, self.actions_)

        self.gallery_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.gallery_splitter.addWidget(self.gallery)
        self.gallery_splitter.addWidget(self.details)
        self.gallery_splitter.setStretchFactor(0, 1)
        self.gallery_splitter.setCollapsible(0, False)
        self.gallery_splitter.setSizes([760, 330])

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Views")
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its tab bar takes the focus, once, in order
        self.tabs.addTab(self.gallery_splitter, icons.icon("gallery"), "Gallery")
        self.tabs.addTab(self.captions, icons.icon("caption"), "Captions")
        self.tabs.addTab(self.queue_panel, icons.icon("queue"), "Queue")

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        self.main_splitter.addWidget(self.editor)
        self.main_splitter.addWidget(self.tabs)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setCollapsible(1, False)
        self.main_splitter.setSizes([330, 1050])
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)


    def _make_tab_order(self) -> None:
        # Reading order: the editor, then the view tabs, the gallery's bar, the grid, its details.
        chain = [self.editor.recent_button, self.editor.prompt, self.editor.model, self.editor.aspect,
                 self.editor.count, self.editor.seed, self.editor.seed_lock, self.editor.new_seed,
                 self.editor.generate_button, self.editor.cancel_button, self.editor.queue_button,
                 self.tabs.tabBar(), self.gallery.search,
                 self.gallery.favorites, self.gallery.view, *self.details.buttons, self.account]
        for a, b in zip(chain, chain[1:], strict=False):
            self.setTabOrder(a, b)

    def _make_toolbar(self) -> None:
        tb = QToolBar("Main toolbar")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        add_actions(tb, self.actions_, TOOLBAR)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred)
        tb.addWidget(spacer)
        self.toolbar_demo = QLabel(DEMO_LABEL)
        self.toolbar_demo.setObjectName("demoBadge")
        self.toolbar_demo.setAccessibleName("Offline demo")
        self.toolbar_demo_action = tb.addWidget(self.toolbar_demo)
        self.account = AccountWidget()
        tb.addWidget(self.account)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _make_status_bar(self) -> None:
        sb = self.statusBar()
        self.demo_label = QLabel(DEMO_LABEL)
        self.demo_label.setObjectName("demoBadge")
        self.demo_label.setAccessibleName("Offline demo mode")
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedSize(90, 6)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setAccessibleName("Working")
        self.busy_bar.hide()
        self.db_label = QLabel("Connecting…")
        self.db_label.setObjectName("dbStatus")
        self.db_label.setAccessibleName("Database status")
        sb.addPermanentWidget(self.busy_bar)
        sb.addPermanentWidget(self.db_label)
        sb.addPermanentWidget(self.demo_label)
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(400)  # only show the bar for work that takes a while
        self._busy_timer.timeout.connect(lambda: self.busy_bar.setVisible(self.worker.active > 0))

    def _connect(self) -> None:
        c = self.ctx
        c.service_ready.connect(self._service_ready)
        self.model.reset_done.connect(self._first_page_arrived)
        c.service_lost.connect(self._service_lost)
        c.service_closed.connect(self._service_closed)
        c.spool_flushed.connect(lambda n: self.message_bar.show_message(
            f"Stored {n} image{'s' if n != 1 else ''} that waited while the database was unreachable.",
            "success", timeout_ms=8000))
        c.error.connect(self.show_error)
        self.worker.busy_changed.connect(self._busy_changed)
        self.editor.generate_requested.connect(self.generate)
        self.editor.cancel_requested.connect(self.cancel_generation)
        self.editor.recent_requested.connect(self._load_recent)
        self._connect_batch()
        self.gallery.selection_changed.connect(self._selection_changed)
        self.gallery.view.activated_record.connect(lambda _r: self.open_viewer())
        self.gallery.context_menu_requested.connect(self._gallery_menu)
        self.model.failed.connect(self.show_error)
        self.images.loaded.connect(self._full_image_loaded)
        self.captions.use_as_prompt.connect(self.use_as_prompt)
        self.captions.status_message.connect(lambda t: self.statusBar().showMessage(t, 4000))
        self.captions.error.connect(self.show_error)
        self.account.sign_in_requested.connect(self.open_sign_in)
        self.account.sign_out_requested.connect(self.sign_out)
        self.account.switch_requested.connect(self.switch_account)
        self.tabs.currentChanged.connect(lambda i: self.gui.set("window/tab", i))
        hints = QGuiApplication.styleHints()
        hints.colorSchemeChanged.connect(lambda _s: self._system_scheme_changed())

    # --- state ---------------------------------------------------------------------------------

    def _restore_state(self) -> None:
        geo = self.gui.get("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        for key, splitter in (("window/main_splitter", self.main_splitter),
                              ("window/gallery_splitter", self.gallery_splitter),
                              ("window/caption_splitter", self.captions.splitter)):
            state = self.gui.get(key)
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        self.tabs.setCurrentIndex(self.gui.get("window/tab") if self.gui.get("window/tab") in (0, 1, QUEUE_TAB) else 0)
        fav = self.gui.get("gallery/favorites_only")
        self.model.favorites_only = fav
        self.gallery.favorites.blockSignals(True)
        self.gallery.favorites.setChecked(fav)
        self.gallery.favorites.blockSignals(False)
        icons.bind(self.gallery.favorites, "star-filled" if fav else "star")

    def _save_state(self) -> None:
        self.gui.set("window/geometry", self.saveGeometry())
        self.gui.set("window/main_splitter", self.main_splitter.saveState())
        self.gui.set("window/gallery_splitter", self.gallery_splitter.saveState())
        self.gui.set("window/caption_splitter", self.captions.splitter.saveState())
        self.gui.set("gallery/favorites_only", self.model.favorites_only)
        self.gui.set("editor/prompt", self.editor.text())
        self.gui.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        self._close_batch()  # before saving: it remembers whether the queue was running
        self._save_state()
        for w in (self.viewer, self.sign_in_dialog, self.settings_dialog, self.shortcuts_window):
            if w is not None:
                w.close()
        self.ctx.shutdown()
        event.accept()

    def _update_title(self) -> None:
        demo = self.is_demo
        self.setWindowTitle(f"{APP_TITLE} — {DEMO_LABEL}" if demo else APP_TITLE)
        self.demo_label.setVisible(demo)
        self.toolbar_demo_action.setVisible(demo)
        self.actions_["demo"].setChecked(demo)

    # --- service lifecycle -----------------------------------------------------------------------

    def _service_ready(self, svc: Service) -> None:
        self.is_demo = svc.demo
        self._update_title()
        self.db_banner.dismiss()
        where = svc.db.where.removeprefix("the ")
        self.db_label.setText(f"● {where[:1].upper()}{where[1:]}")
        self.db_label.setToolTip(f"Connected to {svc.db.where}")
        self.model.reload()
        # The gallery's first page has the worker (and the GIL) to itself; the rest loads once it
        # is there: at start-up, accounts (keyring), captions and recent prompts would slow it.
        self._side_loads_pending = True

    def _first_page_arrived(self) -> None:
        if self._side_loads_pending:
            self._side_loads_pending = False
            QTimer.singleShot(0, self, self._load_side_panels)

    def _load_side_panels(self) -> None:
        if self.ctx.service is None:
            return
        self.captions.history.reload()
        self.refresh_accounts()
        self._load_recent()

    def _service_lost(self, exc: DatabaseError) -> None:
        self.db_label.setText("○ Database unreachable")
        self.db_label.setToolTip(exc.user_message)
        self.db_banner.show_message(
            f"{exc.user_message} {exc.action} Your gallery will come back by itself when it is reachable; "
            "new images are kept meanwhile.", "error",
            [("Retry", self.ctx.reconnect), ("Database settings", lambda: self.open_settings("database"))])
        self.gallery._update_empty()

    def _service_closed(self) -> None:
        self.images.clear()
        self.model.clear()
        self.details.show_records([])
        self.db_label.setText("Connecting…")

    def refresh_accounts(self) -> None:
        def load(s: Service) -> tuple[list[Account], bool]:
            return s.accounts(), s.has_cookie()

        self.ctx.call(load, on_success=self._accounts_loaded, owner=self, name="accounts")

    def _accounts_loaded(self, result: tuple[list[Account], bool]) -> None:
        accounts, has_cookie = result
        if self.is_demo and not any(a.current for a in accounts):
            # Demo: the service signs in with the stand-in's cookie; show that account.
            from core.standin import DEMO_EMAIL, DEMO_NAME

            accounts = [Account(email=DEMO_EMAIL, name=DEMO_NAME, image_url=None, current=True)]
        self.account.set_accounts(accounts)
        self.actions_["sign_out"].setEnabled(any(a.current for a in accounts) and not self.is_demo)
        self.switch_menu.clear()
        for acc in accounts:
            act = self.switch_menu.addAction(f"{acc.name} <{acc.email}>")
            act.setCheckable(True)
            act.setChecked(acc.current)
            act.triggered.connect(lambda _c=False, e=acc.email: self.switch_account(e))
        self.switch_menu.setEnabled(len(accounts) > 1)
        if has_cookie or self.is_demo:
            self.account_bar.dismiss()
        else:
            self.account_bar.show_message(
                "Welcome! Sign in with your labs.google cookie to generate and caption images. "
                "Your gallery works without it.", "info",
                [("Sign in…", self.open_sign_in), ("Try the offline demo", lambda: self.set_demo(True))])
        for acc in accounts:
            if acc.image_url and acc.email not in self.account.avatars:
                url, email = acc.image_url, acc.email
                self.ctx.call(lambda s, u=url: s.avatar(u),
                              on_success=lambda data, e=email: self._avatar_loaded(e, data),
                              on_failure=lambda _e: None, owner=self, name="avatar")

    def _avatar_loaded(self, email: str, data: bytes | None) -> None:
        if data:
            img = QImage.fromData(data)
            if not img.isNull():
                self.account.set_avatar(email, img)

    # --- errors ----------------------------------------------------------------------------------

    def show_error(self, exc: object, retry: Callable[[], None] | None = None) -> None:
        """The message bar with the sentence from the core and the button that helps."""
        if not isinstance(exc, BaseException):
            return
        if isinstance(exc, DatabaseUnavailable):
            return  # the database banner says it, with Retry
        view = gerrors.view_for(exc)
        actions: list[tuple[str, Callable[[], None]]] = []
        if view.action == gerrors.SIGN_IN:
            actions.append((view.action_label or "Sign in again", self.open_sign_in))
        elif view.action == gerrors.RETRY and retry is not None:
            actions.append(("Retry", retry))
        elif view.action == gerrors.EDIT_PROMPT:
            actions.append(("Edit prompt", self.focus_prompt))
        elif view.action == gerrors.DATABASE_SETTINGS:
            actions.append(("Database settings", lambda: self.open_settings("database")))
        self.message_bar.show_message(view.text, view.kind, actions)
        self.statusBar().showMessage(view.text.split(". ")[0] + ".", 6000)

    def _busy_changed(self, n: int) -> None:
        if n == 0:
            self.busy_bar.hide()
            self._busy_timer.stop()
        elif not self._busy_timer.isActive() and not self.busy_bar.isVisible():
            self._busy_timer.start()

    # --- generation ------------------------------------------------------------------------------

    def editor_generate(self) -> None:
        self.editor.request_generate()

    def generate(self, req: GenerationRequest) -> None:
        if self._generation is not None:
            return
        if self.ctx.service is None and not self.ctx.has_service:
            self.editor.show_status("Not generated: the app is still connecting to its database.")
            self.message_bar.show_message(
                "The database is not connected yet, so nothing can be generated. " +
                (self.ctx.last_error.user_message if self.ctx.last_error else "Wait a moment."), "warning",
                [("Database settings", lambda: self.open_settings("database"))])
            return
        n = req.count
        self.editor.set_busy(True, f"Generating {n} image{'s' if n != 1 else ''}…")
        self.actions_["generate"].setEnabled(False)
        self.actions_["cancel"].setEnabled(True)
        self.gallery.set_generating(True)
        if self.message_bar.kind in ("error", "warning"):
            self.message_bar.dismiss()
        token = CancelToken()  # the service checks it: a cancelled generation is not stored
        self._generation = self.ctx.call(
            lambda s: s.generate(req, cancel=token), on_success=self._generated,
            on_failure=lambda e: self._generation_failed(e, req), owner=self, cancel=token, name="generate",
            offline=True)  # with the database down the images go to the spool, never lost

    def _generation_done(self) -> None:
        self._generation = None
        self.gallery.set_generating(False)
        self.actions_["generate"].setEnabled(True)
        self.actions_["cancel"].setEnabled(False)

    def _generated(self, result: GenerationResult) -> None:
        self._generation_done()
        records = list(result.record.images)
        seeds = [r.seed for r in records if r.seed is not None] or \
            [i.seed for i in result.generation.images if i.seed is not None]
        self.editor.generated(seeds)
        if result.spooled:
            n = len(result.generation.images)
            self.ctx.mark_lost(DatabaseUnavailable(result.storage_error or "The database cannot be reached.",
                                                   "The app reconnects when it is back."))
            self.editor.set_busy(False, f"{n} images generated; waiting for the database.")
            self.message_bar.show_message(
                f"{n} images were generated, but the database cannot be reached ({result.storage_error}). "
                "They are kept on this computer and appear in the gallery when it is back.", "warning",
                [("Retry now", self.ctx.reconnect)])
            return
        self._load_recent()
        added = self.model.prepend(records)
        n = len(records)
        dup = f" ({result.record.duplicates} already stored)" if result.record.duplicates else ""
        self.editor.set_busy(False, f"{n} new image{'s' if n != 1 else ''}{dup}.")
        if added:
            self.gallery.view.scrollToTop()
        elif n:
            self.statusBar().showMessage(f"{n} new images — hidden by the current search or filter.", 6000)

    def _generation_failed(self, exc: BaseException, req: GenerationRequest) -> None:
        self._generation_done()
        if isinstance(exc, StorageFailed):  # generated, but neither the database nor the spool took it
            self.editor.set_busy(False, "Generated, not stored — see the message above.")
            rescue.offer_to_save(self, exc)
            return
        self.editor.set_busy(False, "Not generated — see the message above.")
        self.show_error(exc, retry=lambda: self.generate(req))

    def cancel_generation(self) -> None:
        task = self._generation
        if task is None:
            return
        task.cancel()
        self._generation_done()
        self.editor.set_busy(False, "Cancelled. Nothing was stored.")
        self.statusBar().showMessage("Generation cancelled.", 4000)

    @property
    def generating(self) -> bool:
        return self._generation is not None

    def _load_recent(self) -> None:
        self.ctx.call(lambda s: s.recent_prompts(25), on_success=self.editor.set_recent,
                      on_failure=lambda _e: self.editor.set_recent([]), owner=self, name="recent prompts")

    def _show_recent(self) -> None:
        self.editor.recent_button.showMenu()

    def focus_prompt(self) -> None:
        self.editor.prompt.setFocus()

    def use_as_prompt(self, text: str) -> None:
        self.editor.set_text(text)
        self.editor.prompt.setFocus()
        self.statusBar().showMessage("Caption put into the prompt editor.", 4000)

    # --- gallery ---------------------------------------------------------------------------------

    def selected(self) -> list[ImageRecord]:
        return self.gallery.view.selected_records()

    def current(self) -> ImageRecord | None:
        sel = self.selected()
        return sel[0] if len(sel) == 1 else None

    def _selection_changed(self, records: list[ImageRecord]) -> None:
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

    def _full_image_loaded(self, image_id: int) -> None:
        full = self.images.get(image_id)
        if full is not None:
            self.details.show_full(image_id, full.image)

    def _gallery_menu(self, pos: object) -> None:
        if not self.selected():
            return
        m = QMenu(self)
        add_actions(m, self.actions_, GALLERY_MENU)
        m.popup(pos)  # type: ignore[arg-type]

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.gallery.search.setFocus()
        self.gallery.search.selectAll()

    def refresh(self) -> None:
        if self.ctx.connected:
            self.model.reload()
            self.captions.history.reload()
            self.refresh_accounts()
        else:
            self.ctx.reconnect()

    def remix(self) -> None:
        r = self.current()
        if r is not None:
            self.editor.remix(r)

    def copy_prompt(self) -> None:
        r = self.current()
        if r is not None:
            QGuiApplication.clipboard().setText(r.prompt)
            self.statusBar().showMessage("Prompt copied.", 3000)

    def copy_seed(self) -> None:
        r = self.current()
        if r is not None and r.seed is not None:
            QGuiApplication.clipboard().setText(str(r.seed))
            self.statusBar().showMessage(f"Seed {r.seed} copied.", 3000)

    def copy_image(self) -> None:
        r = self.current()
        if r is None:
            return

        def put(full: FullImage) -> None:
            mime = QMimeData()
            mime.setImageData(full.image)
            mime.setData("image/png", QByteArray(export.to_png(full.data)))
            export.to_clipboard(mime)
            self.statusBar().showMessage("Image copied.", 3000)

        self.images.load(r.id, put)

    def toggle_favorite(self) -> None:
        records = self.selected()
        if not records:
            return
        favorite = not all(r.is_favorite for r in records)
        ids = [r.id for r in records]

        def done(_n: int) -> None:
            self.model.set_favorite_local(ids, favorite)
            self._selection_changed(self.selected())

        self.ctx.call(lambda s: s.set_favorite(ids, favorite), on_success=done, owner=self, name="favourite")

    def delete_selected(self) -> None:
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

    def _delete(self, ids: list[int]) -> None:
        def done(n: int) -> None:
            self.model.remove_ids(ids)
            self.images.forget(ids)
            self.statusBar().showMessage(f"Deleted {n} image{'s' if n != 1 else ''}.", 4000)

        self.ctx.call(lambda s: s.delete_images(ids), on_success=done, owner=self, name="delete")

    def save_selected(self) -> None:
        records = self.selected()
        if not records:
            return
        start = self.gui.get("export/last_dir") or str(Path.home())
        if len(records) == 1:
            path, _ = QFileDialog.getSaveFileName(self, "Save image", str(Path(start) / export.file_name(records[0])),
                                                  "PNG image (*.png)")
            if path:
                if not path.lower().endswith(".png"):
                    path += ".png"
                self.save_images(records, Path(path).parent, names={records[0].id: Path(path).name})
        else:
            folder = QFileDialog.getExistingDirectory(self, f"Save {len(records)} images to folder", start)
            if folder:
                self.save_images(records, Path(folder))

    def save_images(self, records: list[ImageRecord], folder: Path, names: dict[int, str] | None = None,
                    done: Callable[[list[Path]], None] | None = None) -> None:
        """Read each image and write it as PNG, on the worker (DB read + file I/O)."""
        self.gui.set("export/last_dir", str(folder))

        def run(s: Service) -> list[Path]:
            out = []
            folder.mkdir(parents=True, exist_ok=True)
            for r in records:
                data = export.to_png(s.image_bytes(r.id))
                path = folder / names[r.id] if names and r.id in names else \
                    export.unique_path(folder, export.file_name(r))
                path.write_bytes(data)
                out.append(path)
            return out

        def saved(paths: list[Path]) -> None:
            msg = f"Saved {paths[0].name}." if len(paths) == 1 else f"Saved {len(paths)} images to {folder}."
            self.statusBar().showMessage(msg, 5000)
            if done is not None:
                done(paths)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, OSError):
                self.message_bar.show_message(f"The images could not be saved: {exc.strerror or exc}.", "error")
            else:
                self.show_error(exc)

        self.ctx.call(run, on_success=saved, on_failure=failed, owner=self, name="save images")

    def _drag_data(self, records: list[ImageRecord]) -> QMimeData | None:
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
        return export.mime_for([(r, f.data) for r, f in ready], ready[0][1].image)

    def open_viewer(self) -> None:
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

    # --- accounts --------------------------------------------------------------------------------

    def open_sign_in(self) -> None:
        if self.sign_in_dialog is None:
            self.sign_in_dialog = SignInDialog(self.ctx, self)
            self.sign_in_dialog.signed_in.connect(self._signed_in)
        else:
            self.sign_in_dialog.reset()
        self.sign_in_dialog.show()
        self.sign_in_dialog.raise_()
        self.sign_in_dialog.activateWindow()
        self.sign_in_dialog.cookie.setFocus()

    def _signed_in(self, account: Account) -> None:
        self.account_bar.dismiss()
        if self.message_bar.kind == "error":
            self.message_bar.dismiss()
        self.queue.signed_in()  # a queue paused for this carries on
        self.message_bar.show_message(f"Signed in as {account.name} ({account.email}).", "success", timeout_ms=6000)
        self.refresh_accounts()

    def sign_out_current(self) -> None:
        cur = self.account.current
        if cur is not None:
            self.sign_out(cur.email)

    def sign_out(self, email: str) -> None:
        def done(_r: object) -> None:
            self.account.avatars.pop(email, None)
            self.statusBar().showMessage(f"Signed out {email}; its cookie is forgotten.", 5000)
            self.refresh_accounts()

        self.ctx.call(lambda s: s.sign_out(email), on_success=done, owner=self, name="sign out")

    def switch_account(self, email: str) -> None:
        self.ctx.call(lambda s: s.switch_account(email),
                      on_success=lambda a: (self.statusBar().showMessage(f"Now using {a.email}.", 4000),
                                            self.refresh_accounts()),
                      owner=self, name="switch account")

    # --- settings, theme, demo -------------------------------------------------------------------

    def open_settings(self, page: str = "") -> None:
        if self.settings_dialog is None:
            self.settings_dialog = SettingsDialog(self.ctx, self)
            self.settings_dialog.saved.connect(self._settings_saved)
        if page == "database":
            self.settings_dialog.tabs.setCurrentIndex(0)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def _settings_saved(self, new: Settings, db_changed: bool) -> None:
        old = self.settings
        self.settings = new
        self.ctx.settings = new
        self.settings_dialog = None
        if new.theme != old.theme:
            self.set_theme(new.theme, save=False)
        if new.generation != old.generation:
            self.editor.apply_defaults(new.generation)
        if db_changed:
            self.message_bar.show_message(f"Connecting to the {new.database.describe()}…", "info", timeout_ms=5000)
            self.ctx.restart(settings=new)
        else:
            self.statusBar().showMessage("Settings saved.", 3000)

    def set_theme(self, mode: str, *, save: bool = True) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, mode)
        if mode in self.theme_actions:
            self.theme_actions[mode].setChecked(True)
        self.tabs.setTabIcon(0, icons.icon("gallery"))
        self.tabs.setTabIcon(1, icons.icon("caption"))
        self.tabs.setTabIcon(QUEUE_TAB, icons.icon("queue"))
        self.account.set_accounts(self.account.accounts)
        self.gallery.view.viewport().update()
        if save and mode != self.settings.theme:
            from core.config import save_settings

            self.settings = self.settings.with_overrides(theme=mode)
            self.ctx.settings = self.settings
            new = self.settings
            self.worker.run(lambda: save_settings(new), on_failure=lambda _e: None, name="save theme")

    def _system_scheme_changed(self) -> None:
        if theme.mode() == "system":
            self.set_theme("system", save=False)

    def _toggle_demo(self) -> None:
        self.set_demo(self.actions_["demo"].isChecked())

    def set_demo(self, on: bool) -> None:
        """Restart the service with (or without) the built-in stand-in server."""
        self.is_demo = on
        self._update_title()
        self.account_bar.dismiss()
        self.account.set_accounts([])
        self.message_bar.show_message("Starting the offline demo…" if on else "Leaving the offline demo…",
                                      "info", timeout_ms=4000)
        self.ctx.restart(demo=on)

    # --- captions ----------------------------------------------------------------------------------

    def _caption_browse(self) -> None:
        self.tabs.setCurrentIndex(1)
        self.captions.browse()

    def _caption_paste(self) -> None:
        self.tabs.setCurrentIndex(1)
        self.captions.paste()

    # --- help ----------------------------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        if self.shortcuts_window is None:
            self.shortcuts_window = shortcuts_dialog(self.menuBar(), self)
        self.shortcuts_window.show()
        self.shortcuts_window.raise_()

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About ImageFX Studio",
                          "<h3>ImageFX Studio</h3><p>Write prompts, generate with Google's ImageFX, caption "
                          "images and keep everything you make in PostgreSQL.</p>"
                          "<p>Offline demo: Tools → Offline demo, or <code>python main.py --demo</code>.</p>",
                          QMessageBox.StandardButton.Close, self)
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
