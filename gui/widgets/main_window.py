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

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.config import Settings, load_settings
from core.service import Account, Service
from core.store import DatabaseError, DatabaseUnavailable, EmbeddedRestarting
from gui import errors as gerrors
from gui import icons, theme
from gui.actions import TOOLBAR, add_actions, build_actions, build_menus, shortcuts_dialog
from gui.change_bridge import ChangeBridge
from gui.context import AppContext, ServiceFactory
from gui.controllers.boards import BoardsController
from gui.controllers.compare import CompareController
from gui.controllers.generations import GenerationController
from gui.controllers.library import LibraryController
from gui.dialogs.placement import default_geometry, fit_into, present
from gui.dialogs.settings import SettingsDialog
from gui.dialogs.sign_in import SignInDialog
from gui.export import decode_image
from gui.importing import GalleryDropImport
from gui.maintenance import Maintenance
from gui.models.gallery_model import GalleryModel
from gui.models.image_cache import ImageCache
from gui.queue_runner import QueueRunner
from gui.settings import GuiSettings
from gui.undo import UndoHistory
from gui.widgets.account_widget import AccountWidget
from gui.widgets.batch_actions import QUEUE_TAB, BatchActions
from gui.widgets.boards_sidebar import BoardsSidebar
from gui.widgets.caption_panel import CaptionPanel
from gui.widgets.details_panel import DetailsPanel
from gui.widgets.gallery import GalleryPanel
from gui.widgets.generation_flow import GenerationFlow
from gui.widgets.image_actions import ImageActions
from gui.widgets.message_bar import MessageBar
from gui.widgets.prompt_editor import PromptEditor
from gui.widgets.queue_panel import QueuePanel
from gui.worker import Worker

log = logging.getLogger(__name__)

APP_TITLE = "ImageFX Studio"
DEMO_LABEL = "OFFLINE DEMO — images are generated locally, not by Google"
DEMO_SHORT = "OFFLINE DEMO"  # the badges in a narrow window (their tooltip says the rest)
WIDE = 1200  # px from which the badges have room for the whole sentence


class MainWindow(GenerationFlow, ImageActions, BatchActions, QMainWindow):
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
        self.history = UndoHistory(self.ctx, self)  # before the actions: Undo and Redo are its actions
        self.images = ImageCache(self.ctx, self)
        self.model = GalleryModel(self.ctx, parent=self)
        self.queue = QueueRunner(self.ctx, parent=self)
        # Other processes' changes (LISTEN/NOTIFY) reach the views through the same hook as ours.
        self.changes = ChangeBridge(self.ctx, self)
        self.changes.listening_changed.connect(lambda on: (self.model.set_polling(not on),
                                                           self.queue.set_polling(not on)))
        self.maintenance = Maintenance(self)
        self.sign_in_dialog: SignInDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.shortcuts_window: QDialog | None = None
        self._closing = False
        self._side_loads_pending = False
        self._db_lost = False  # the banner says the database is lost (not: a restart is under way)
        self.is_demo = demo

        self.setWindowIcon(icons.app_icon())
        self.setAccessibleName(APP_TITLE)
        # No fixed minimum size: the layouts' own (≤ 900×600, tests/gui/test_layout_xvfb.py) is what keeps
        # every widget whole; a fixed one below it let Qt squeeze widgets on top of each other.

        self.actions_ = build_actions(self)
        self._make_widgets()
        self.comparing = CompareController(self.images, self.gallery, self.actions_, self)  # adds "compare"
        self.generations = GenerationController(self.ctx, self.gallery, self.actions_, self)  # "select_generation"
        self.boards = BoardsController(self.ctx, self.gallery, self.boards_sidebar, self.actions_, self,
                                       show_gallery=lambda: self.tabs.setCurrentIndex(0),
                                       history=self.history)  # boards, saved searches
        self.boards.status.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.theme_actions, self.switch_menu = build_menus(self)
        self.library = LibraryController(self)  # stars, tags, notes, the tag list (gui/controllers/library.py)
        self._make_toolbar()
        self._make_status_bar()
        # The usual size, shrunk to the screen it opens on (1380 px is wider than a 1280×1024 screen).
        self.setGeometry(default_geometry(self.screen(), QSize(1380, 860), self.minimumSizeHint()))
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
        self.details = DetailsPanel(self.actions_)
        self.captions = CaptionPanel(self.ctx)
        self.queue_panel = QueuePanel(self.queue, self.actions_)

        self.gallery_splitter = QSplitter(Qt.Orientation.Horizontal)
        # The right column: the selection's details over the boards and saved searches (there, not on
        # the left, so a 900 px window keeps the gallery's bar whole; thumbnails are dragged right).
        self.boards_sidebar = BoardsSidebar()
        self.side_splitter = QSplitter(Qt.Orientation.Vertical)
        self.side_splitter.setObjectName("sideSplitter")
        self.side_splitter.addWidget(self.details)
        self.side_splitter.addWidget(self.boards_sidebar)
        self.side_splitter.setStretchFactor(0, 3)
        self.side_splitter.setStretchFactor(1, 2)
        self.side_splitter.setCollapsible(0, False)
        self.side_splitter.setSizes([480, 300])
        self.gallery_splitter.addWidget(self.gallery)
        self.gallery_splitter.addWidget(self.side_splitter)
        self.gallery_splitter.setStretchFactor(0, 3)  # a narrower window narrows the details too, less
        self.gallery_splitter.setStretchFactor(1, 1)
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
                 self.tabs.tabBar(), self.gallery.search, self.gallery.sort,
                 self.gallery.favorites, self.gallery.trash, self.gallery.fit, self.gallery.size_slider,
                 self.gallery.view, *self.details.buttons, self.details.labels.entry, self.details.labels.note,
                 self.boards_sidebar.new_board_button, self.boards_sidebar.save_search_button, self.boards_sidebar.tree,
                 self.account]
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
        for badge in (self.demo_label, self.toolbar_demo):
            badge.setToolTip(DEMO_LABEL)
            # the short text's width is enough: resizeEvent swaps the text before anything is cut
            badge.setMinimumWidth(badge.fontMetrics().horizontalAdvance(DEMO_SHORT) + 32)
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
        self._connect_generation()
        self._connect_batch()
        self._connect_images()
        self.drop_import = GalleryDropImport(self)  # image files dropped on the gallery come in (gui/importing.py)
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
            screen = self.screen()
            if screen is not None:  # saved on a larger screen (or another one): back inside this one
                self.setGeometry(fit_into(self.geometry(), screen.availableGeometry()))
        for key, splitter in (("window/main_splitter", self.main_splitter),
                              ("window/gallery_splitter", self.gallery_splitter),
                              ("window/side_splitter", self.side_splitter),
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
        self.gallery.fit.setChecked(self.gui.get("gallery/thumbnail_fit"))
        self.gallery.set_thumbnail_size(self.gui.get("gallery/thumbnail_size"))
        self.gallery.fit.toggled.connect(lambda on: self.gui.set("gallery/thumbnail_fit", on))
        self.gallery.view.base_cell_changed.connect(lambda px: self.gui.set("gallery/thumbnail_size", px))

    def _save_state(self) -> None:
        self.gui.set("window/geometry", self.saveGeometry())
        self.gui.set("window/main_splitter", self.main_splitter.saveState())
        self.gui.set("window/gallery_splitter", self.gallery_splitter.saveState())
        self.gui.set("window/side_splitter", self.side_splitter.saveState())
        self.gui.set("window/caption_splitter", self.captions.splitter.saveState())
        self.gui.set("gallery/favorites_only", self.model.favorites_only)
        self.gui.set("editor/prompt", self.editor.text())
        self.gui.sync()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """The demo badges say it all in a wide window, "OFFLINE DEMO" in a narrow one, so they never
        push the account button off the toolbar nor widen the status bar beyond the window."""
        super().resizeEvent(event)
        text = DEMO_LABEL if self.width() >= WIDE else DEMO_SHORT
        for badge in (self.demo_label, self.toolbar_demo):
            if badge.text() != text:
                badge.setText(text)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        self._close_batch()  # before saving: it remembers whether the queue was running
        self._save_state()
        for w in (self.viewer, self.comparing.view, self.sign_in_dialog, self.settings_dialog,
                  self.shortcuts_window):
            if w is not None:
                w.close()
        self.changes.close()
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
        if self._db_lost:  # it was lost, and is back: say so
            self.message_bar.show_message(f"Connected to {svc.db.where} again.", "success", timeout_ms=6000)
        self._db_lost = False
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
        self._db_lost = True
        self.db_label.setToolTip(exc.user_message)
        if isinstance(exc, EmbeddedRestarting):
            # The app starts its own server again by itself: nothing for the user to do or check.
            self.db_label.setText("◌ Restarting the database…")
            self.db_banner.show_message(f"{exc.user_message} {exc.action} New images are kept meanwhile.",
                                        "warning", [("Retry now", self.ctx.reconnect)])
            self.gallery._update_empty()
            return
        self.db_label.setText("○ Database unreachable")
        self.db_banner.show_message(
            f"{exc.user_message} {exc.action} Your gallery will come back by itself when it is reachable; "
            "new images are kept meanwhile.", "error",
            [("Retry", self.ctx.reconnect), ("Database settings", lambda: self.open_settings("database"))])
        self.gallery._update_empty()

    def _service_closed(self) -> None:
        self._db_lost = False
        self.images.clear()
        self.model.clear()
        self.details.show_records([])
        self.db_label.setText("Connecting…")

    def refresh_accounts(self) -> None:
        def load(s: Service) -> tuple[list[Account], bool, bool]:
            accounts, has_cookie = s.accounts(), s.has_cookie()
            if has_cookie and not s.demo and not any(a.current for a in accounts):
                # A cookie given for this run (GOOGLE_COOKIE) and none stored: Generate works as the
                # account it signs in as, so the button names that account, not "Sign in".
                try:
                    who = s.whoami()
                except Exception:  # offline, or the cookie is refused: the button says "Sign in"
                    log.info("the cookie given for this run did not say whose it is", exc_info=True)
                else:
                    return [Account(email=who.email, name=who.name or who.email, image_url=who.image_url,
                                    current=True), *accounts], has_cookie, True
            return accounts, has_cookie, False

        self.ctx.call(load, on_success=self._accounts_loaded, owner=self, name="accounts")

    def _accounts_loaded(self, result: tuple[list[Account], bool, bool]) -> None:
        accounts, has_cookie, from_environment = result
        if self.is_demo and not any(a.current for a in accounts):
            # Demo: the service signs in with the stand-in's cookie; show that account.
            from core.standin import DEMO_EMAIL, DEMO_NAME

            accounts = [Account(email=DEMO_EMAIL, name=DEMO_NAME, image_url=None, current=True)]
        self.account.from_environment = from_environment
        self.account.set_accounts(accounts)
        self.actions_["sign_out"].setEnabled(any(a.current for a in accounts) and not self.is_demo
                                             and not from_environment)  # nothing stored to sign out of
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
            img = decode_image(data)
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
            self.cookie_rejected()
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

    # --- gallery ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.ctx.connected:
            self.model.reload()
            self.captions.history.reload()
            self.refresh_accounts()
        else:
            self.ctx.reconnect()

    # --- accounts --------------------------------------------------------------------------------

    def open_sign_in(self) -> None:
        if self.sign_in_dialog is None:
            self.sign_in_dialog = SignInDialog(self.ctx, self)
            self.sign_in_dialog.signed_in.connect(self._signed_in)
        else:
            self.sign_in_dialog.reset()
        present(self.sign_in_dialog)  # whole, centred over the window, inside the screen
        self.sign_in_dialog.cookie.setFocus()

    def cookie_rejected(self) -> None:
        """ImageFX refused the current account's sign-in: the account button says so."""
        cur = self.account.current
        if cur is not None:
            self.account.set_rejected(cur.email)

    def _signed_in(self, account: Account) -> None:
        self.account.set_rejected(None)
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
        present(self.settings_dialog)

    def _settings_saved(self, new: Settings, db_changed: bool) -> None:
        old = self.settings
        self.settings = new
        self.ctx.settings = new
        self.settings_dialog = None
        if new.theme != old.theme:
            self.set_theme(new.theme, save=False)
        if new.generation != old.generation:
            self.editor.apply_defaults(new.generation)
        self._update_trash_bar()
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
        present(self.shortcuts_window)

    def show_about(self) -> None:
        from html import escape

        from core.appinfo import command, version

        box = QMessageBox(QMessageBox.Icon.NoIcon, "About ImageFX Studio",
                          f"<h3>ImageFX Studio {escape(version())}</h3><p>Write prompts, generate with Google's "
                          "ImageFX, caption images and keep everything you make in PostgreSQL.</p>"
                          "<p>Offline demo: Tools → Offline demo, or "
                          f"<code style='white-space: nowrap'>{escape(command())} --demo</code>.</p>",
                          QMessageBox.StandardButton.Close, self)
        box.setObjectName("about")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
