"""The sign-in dialog says where the cookie is actually kept (issue 11 point 10), and a theme
change in the window never writes DATABASE_URL's password to settings.json (issue 12)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt

from core.config import Settings, load_settings
from core.standin import DEMO_COOKIE, StandInServer
from gui.widgets.main_window import MainWindow


def _open_dialog(qtbot, w: MainWindow):
    w.open_sign_in()
    dlg = w.sign_in_dialog
    assert dlg is not None
    qtbot.waitUntil(lambda: "never shown again" in dlg.note.text() and dlg.note.text().startswith(("The", "No")),
                    timeout=10_000)
    return dlg


def _sign_in(qtbot, dlg) -> None:
    dlg.cookie.setPlainText(DEMO_COOKIE)
    qtbot.mouseClick(dlg.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.card.isVisible(), timeout=10_000)


def test_with_a_keyring_the_dialog_says_the_keyring(qtbot, make_window) -> None:
    w = make_window(signed_in=False)
    dlg = _open_dialog(qtbot, w)
    assert dlg.note.text() == "The cookie is kept in your system keyring and never shown again."
    _sign_in(qtbot, dlg)
    assert dlg.cookie.placeholderText() == "Cookie verified and stored in your system keyring."


def test_without_a_keyring_the_dialog_names_the_file_and_says_who_can_read_it(qtbot, make_window,
                                                                             settings: Settings) -> None:
    keyring.set_keyring(fail.Keyring())  # a headless box: the service falls back to the file vault
    w = make_window(signed_in=False)
    dlg = _open_dialog(qtbot, w)
    folder = settings.data_dir / "secrets"
    note = dlg.note.text()
    assert "No system keyring was found" in note and str(folder) in note and "only you can read" in note
    assert "keyring and never" not in note  # the old, untrue wording
    _sign_in(qtbot, dlg)
    assert dlg.cookie.placeholderText() == f"Cookie verified and stored encrypted in {folder}."
    # The two-line note and the account card fit: nothing drawn over the paste box.
    qtbot.waitUntil(lambda: dlg.note.geometry().bottom() < dlg.card.geometry().top())
    assert dlg.cookie.geometry().bottom() < dlg.note.geometry().top()
    assert dlg.note.height() >= dlg.note.heightForWidth(dlg.note.width())
    assert stat.S_IMODE((folder / "secret.key").stat().st_mode) == 0o600


def test_a_theme_change_with_database_url_set_writes_no_password(qtbot, make_service, monkeypatch: pytest.MonkeyPatch,
                                                                 data_dir: Path, standin: StandInServer,
                                                                 db_url: str) -> None:
    password = "Theme-Secret-2718"
    monkeypatch.setenv("DATABASE_URL", db_url.replace("postgres@", f"postgres:{password}@"))
    s = load_settings().with_overrides(labs_url=standin.url, api_url=standin.url)
    assert password in s.database.url
    svc = make_service(settings=s)
    w = MainWindow(lambda _demo: svc, settings=s)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.ctx.connected, timeout=15_000)
        w.set_theme("dark")
        path = s.settings_file
        qtbot.waitUntil(lambda: path.exists() and '"dark"' in path.read_text(), timeout=10_000)
        text = path.read_text()
        assert password not in text and "DATABASE_URL" not in text and db_url.split("@")[1] not in text
        assert json.loads(text)["theme"] == "dark"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        w.close()
        w.worker.wait()
