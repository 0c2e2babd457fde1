"""Settings (database, defaults, theme), what persists between runs, and the offline demo."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from sqlalchemy.engine import make_url

from core.secrets import SecretStore
from gui import theme
from gui.dialogs.settings import password_key
from gui.widgets.main_window import DEMO_LABEL
from tests.gui.helpers import generate, settle


def test_window_size_splitters_and_options_persist(qtbot, make_window, make_service):
    w = make_window()
    width = min(w.screen().availableGeometry().width(), w.minimumSizeHint().width() + 60)  # fits the offscreen screen
    assert width <= w.screen().availableGeometry().width()
    w.resize(width, 640)
    w.main_splitter.setSizes([300, 490])
    total = sum(w.gallery_splitter.sizes())
    w.gallery_splitter.setSizes([total - 220, 220])  # the details and boards column at 220 px
    w.editor.set_text("a draft I have not generated yet")
    w.editor.count.setValue(6)
    w.editor.aspect.setCurrentIndex(w.editor.aspect.findData("IMAGE_ASPECT_RATIO_SQUARE"))
    sizes = w.main_splitter.sizes()
    gsizes = w.gallery_splitter.sizes()
    w.tabs.setCurrentIndex(1)
    w.close()

    w2 = make_window(factory=lambda _d: make_service(), size=None)
    assert (w2.width(), w2.height()) == (width, 640)
    assert w2.main_splitter.sizes() == sizes
    assert w2.tabs.currentIndex() == 1
    w2.tabs.setCurrentIndex(0)
    qtbot.wait(10)
    assert w2.gallery_splitter.sizes() == gsizes
    assert w2.editor.text() == "a draft I have not generated yet"
    assert w2.editor.count.value() == 6
    assert w2.editor.aspect.currentData() == "IMAGE_ASPECT_RATIO_SQUARE"
    assert (w2.settings.config_dir / "gui.ini").exists()  # in the test's data dir, not the home


def test_settings_test_connection_and_save_server(qtbot, window, admin_url, settings, memory_keyring):
    w = window
    w.open_settings("database")
    dlg = w.settings_dialog
    assert dlg is not None and dlg.isVisible() and not dlg.isModal()
    assert not dlg.test_button.isEnabled()  # embedded: nothing to test
    dlg.server.setChecked(True)
    url = make_url(admin_url)
    dlg.host.setText(url.host)
    dlg.port.setValue(url.port)
    dlg.name.setText(url.database)
    dlg.user.setText(url.username)
    dlg.password.setText("s3cret-pass")
    qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.test_result.text().startswith("✓"), timeout=10_000)
    assert "PostgreSQL" in dlg.test_result.text()

    dlg.port.setValue(1)  # nothing listens there
    qtbot.mouseClick(dlg.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cannot be reached" in dlg.test_result.text(), timeout=10_000)

    dlg.port.setValue(url.port)
    dlg.theme.setCurrentIndex(dlg.theme.findData("dark"))
    dlg.count.setValue(2)
    dlg.buttons.button(dlg.buttons.StandardButton.Save).click()
    qtbot.waitUntil(lambda: w.settings_dialog is None, timeout=5000)
    saved = json.loads(settings.settings_file.read_text())
    assert saved["database"]["mode"] == "server"
    assert saved["database"]["port"] == url.port
    assert "password" not in saved["database"]  # never in the file
    db = w.settings.database
    assert SecretStore(settings.data_dir).load_db_password(password_key(db)) == "s3cret-pass"
    assert saved["theme"] == "dark" and theme.mode() == "dark"
    assert QApplication.palette().color(QPalette.ColorRole.Window) == QColor(theme.DARK.window)
    assert w.editor.count.value() == 2  # the new default applies to the editor
    qtbot.waitUntil(lambda: w.ctx.connected, timeout=15_000)  # reconnected after the change


def test_theme_menu_switches_light_and_dark(qtbot, window):
    w = window
    w.theme_actions["dark"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Base) == QColor(theme.DARK.base)
    w.theme_actions["light"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Base) == QColor(theme.LIGHT.base)
    settle(qtbot, w)


def test_offline_demo_is_always_labelled(qtbot, make_window, make_service, settings):
    def factory(demo: bool) -> object:
        return make_service(settings=settings.with_overrides(demo=demo))

    w = make_window(factory=factory, demo=True)
    assert w.ctx.service.demo
    assert DEMO_LABEL in w.windowTitle()
    assert w.demo_label.isVisible() and w.demo_label.text() == DEMO_LABEL
    assert w.actions_["demo"].isChecked()
    qtbot.waitUntil(lambda: w.account.text() == "Demo User")
    assert w.account_bar.isHidden()
    generate(qtbot, w, "an orange hot-air balloon", count=2)
    assert w.model.rowCount() == 2

    w.actions_["demo"].trigger()  # leave the demo: the service restarts without the stand-in
    qtbot.waitUntil(lambda: w.ctx.connected and not w.ctx.service.demo, timeout=15_000)
    assert DEMO_LABEL not in w.windowTitle()
    assert not w.demo_label.isVisible()
    w.set_demo(True)  # and the menu entry brings it back
    qtbot.waitUntil(lambda: w.ctx.connected and w.ctx.service.demo, timeout=15_000)
    assert w.demo_label.isVisible()


def test_every_menu_action_has_a_shortcut_or_is_a_rare_one(window):
    w = window
    rare = {"sign_out", "retry_db", "about", "cleanup_sessions", "archive_old", "backup_db", "empty_trash",
            "rating"}  # rating: the Edit → Rating submenu (its entries have the keys 0–5)
    missing = [k for k, a in w.actions_.items() if k not in rare and a.shortcut().isEmpty()]
    assert missing == []
    in_menus = {a for m in w.menuBar().actions() if m.menu() for a in m.menu().actions()}
    assert [k for k, a in w.actions_.items() if a not in in_menus] == []
    keys = [a.shortcut().toString() for a in w.actions_.values() if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), "two actions share a shortcut"


def test_widgets_have_accessible_names(window):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit

    w = window
    unnamed = [type(x).__name__ + ":" + (x.text() if hasattr(x, "text") else "")
               for cls in (QLineEdit, QPlainTextEdit, QComboBox, QAbstractSpinBox, QAbstractButton)
               for x in w.findChildren(cls)
               if x.isVisibleTo(w) and not x.accessibleName() and not (hasattr(x, "text") and x.text())
               and x.parent() is not None and not isinstance(x.parent(), (QAbstractSpinBox, QComboBox))]
    assert unnamed == []


def test_tab_order_follows_the_layout(qtbot, window):
    from tests.gui.helpers import generate as gen

    w = window
    gen(qtbot, w, "a red fox in snow", count=1)
    w.gallery.view.setCurrentIndex(w.model.index(0))
    w.activateWindow()
    w.editor.prompt.setFocus()
    seen = []
    for _ in range(40):
        f = QApplication.focusWidget()
        seen.append(f.accessibleName() or f"{type(f).__name__}:{f.objectName()}")
        if len(seen) > 1 and f is w.editor.prompt:
            break
        qtbot.keyClick(f, Qt.Key.Key_Tab)
    assert seen[:10] == ["Prompt", "Model", "Aspect ratio", "Number of images", "Seed", "Lock seed",
                         "New random seed", "Generate", "Add to queue", "Search or filter images"]
    assert seen[10:13] == ["Sort order", "Show favourites only", "Show the Trash"]
    assert "Gallery" in seen[13:16]  # after the bar's thumbnail controls
    assert seen.index("Boards and saved searches") > seen.index("Delete")  # the boards list after the details
    assert "Remix" in seen and "Delete" in seen  # the details panel's buttons, after the grid
    assert seen[-3:] == ["Account", "Recent prompts", "Prompt"]  # and round again


def test_the_server_password_from_settings_reaches_the_service(settings, memory_keyring):
    from dataclasses import replace

    from gui.service_factory import with_saved_password

    server = settings.with_overrides(database=replace(settings.database, mode="server", host="db.example",
                                                      password=""))
    assert with_saved_password(server).database.password == ""
    SecretStore(settings.data_dir).save_db_password(password_key(server.database), "from-the-keyring")
    assert with_saved_password(server).database.password == "from-the-keyring"
    assert with_saved_password(settings).database == settings.database  # embedded: untouched
